import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusSnapshot } from '../../src/status/snapshot.js';
import { REPO } from './support/cli.js';
import { DEMO_APP_IMAGE, VIPKEEPER_IMAGE, ensureVipkeeperImage } from './support/image.js';
import { ensureAppImage } from './support/lab-setup.js';
import { docker, httpBody, sh, waitFor } from './support/lab.js';

// compose/docker-compose.yml as an operator runs it, on the real engine with the
// image built here: vipkeeper in the host's network keeps a VIP on an interface of
// its own and serves the example app. Everything is named apart from the other lab
// tests (project, interface, ports, role), so their agents never see these apps.
// Then the same project with compose/docker-compose.socket-proxy.yml on top: the agent
// reaches the engine only through the read-only HAProxy proxy.

const PROJECT = 'vkcomposetest';
const IFACE = 'vkc0';
const VIP = '198.18.8.100';
const PORT = 18280;
const STATUS_ADDR = '127.0.0.1:9421';
const ROLE = 'vkcompose-apps';

const projectDir = mkdtempSync(join(tmpdir(), 'vipkeeper-compose-'));
const composeFile = join(REPO, 'compose/docker-compose.yml');
const proxyFile = join(REPO, 'compose/docker-compose.socket-proxy.yml');
const compose = (...args: string[]) =>
  sh('docker-compose', ['--project-directory', projectDir, '-f', composeFile, '-p', PROJECT, ...args]);
/** Both files: the agent behind the Docker socket proxy. Also what cleans up (it names every service). */
const composeProxied = (...args: string[]) =>
  sh('docker-compose', ['--project-directory', projectDir, '-f', composeFile, '-f', proxyFile, '-p', PROJECT, ...args]);
/** Where the override points the agent. */
const PROXY_ENDPOINT = 'unix:///run/docker-proxy/docker.sock';

const get = (host: string) => httpBody({ host, port: PORT, timeoutMs: 3000 });

const agentContainer = async () => (await compose('ps', '-q', 'vipkeeper')).stdout.trim();
const vipHeld = async () => (await sh('ip', ['-4', 'addr', 'show', 'dev', IFACE])).stdout.includes(`${VIP}/24`);
const agentStatus = async () => JSON.parse(await httpBody({ host: STATUS_ADDR.split(':')[0]!, port: Number(STATUS_ADDR.split(':')[1]), path: '/status' })) as StatusSnapshot;
/** `docker-compose config` as data, read with the YAML reader docker-compose itself uses. */
async function configOf(run: typeof compose): Promise<{ services: Record<string, Record<string, unknown>> }> {
  const file = join(projectDir, 'config.yml');
  writeFileSync(file, (await run('config')).stdout);
  const parsed = await sh('python3', ['-c', 'import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', file]);
  return JSON.parse(parsed.stdout) as { services: Record<string, Record<string, unknown>> };
}
/** A request the agent's container sends to the proxy's socket; the HTTP status. */
const fromAgent = (id: string, method: string, path: string) =>
  docker(
    'exec', id, 'node', '-e',
    `require('http').request({socketPath:'/run/docker-proxy/docker.sock',method:${JSON.stringify(method)},path:${JSON.stringify(path)},headers:{'content-type':'application/json'}},(r)=>{console.log(r.statusCode);r.resume()}).on('error',(e)=>console.log(e.code)).end(${JSON.stringify(method === 'GET' ? '' : '{"Image":"alpine"}')})`,
  );

describe('compose/docker-compose.yml on the real engine', () => {
  beforeAll(async () => {
    await ensureVipkeeperImage();
    await ensureAppImage(DEMO_APP_IMAGE);
    await composeProxied('down', '-v').catch(() => undefined);
    // An interface of our own for the VIP (a veth pair: this kernel has no dummy driver).
    await sh('ip', ['link', 'del', IFACE], { allowFail: true });
    await sh('ip', ['link', 'add', IFACE, 'type', 'veth', 'peer', 'name', `${IFACE}p`]);
    await sh('ip', ['link', 'set', `${IFACE}p`, 'up']);
    await sh('ip', ['addr', 'add', '198.18.8.2/24', 'dev', IFACE]);
    await sh('ip', ['link', 'set', IFACE, 'up']);
    writeFileSync(
      join(projectDir, '.env'),
      [
        `IMAGE=${VIPKEEPER_IMAGE}`,
        `APP_IMAGE=${DEMO_APP_IMAGE}`,
        `APP_ROLE_LABEL=role=${ROLE}`,
        `VIPKEEPER_BACKEND_ROLE=${ROLE}`,
        `VIPKEEPER_VIRTUAL_IPS=${VIP}/24`,
        `VIPKEEPER_INTERFACE=${IFACE}`,
        'VIPKEEPER_VIRTUAL_ROUTER_ID=211',
        'VIPKEEPER_VRRP_VERSION=3',
        'VIPKEEPER_ADVERT_INT=0.2',
        `VIPKEEPER_FRONTEND_PORT=${PORT}`,
        `VIPKEEPER_STATUS_ADDR=${STATUS_ADDR}`,
        // This engine carries no role label (and is not restarted to get one).
        'VIPKEEPER_NODE_ROLE=',
        '',
      ].join('\n'),
    );
  }, 900_000);

  afterAll(async () => {
    mkdirSync(join(REPO, '.lab', 'logs'), { recursive: true });
    for (const service of ['vipkeeper', 'docker-proxy']) {
      const logs = await composeProxied('logs', '--no-color', service).catch((e: Error) => ({ stdout: e.message }));
      writeFileSync(join(REPO, '.lab', 'logs', `compose-${service}.log`), logs.stdout);
    }
    // The apps need no grace; the agent (if a test left it running) gets time to give the VIP up.
    await compose('kill', 'app').catch(() => undefined);
    // Both files, so the proxy and its volume go too.
    await composeProxied('down', '-v', '-t', '30').catch(() => undefined);
    await sh('ip', ['link', 'del', IFACE], { allowFail: true });
    rmSync(projectDir, { recursive: true, force: true });
  }, 120_000);

  it("is valid as written, with host networking, the capabilities and the engine's socket", async () => {
    const { stdout } = await compose('config');
    expect(stdout).toContain('network_mode: host');
    for (const cap of ['NET_ADMIN', 'NET_BROADCAST', 'NET_RAW']) expect(stdout).toContain(`- ${cap}`);
    // Mounted as it is: `:ro` would limit no API call, and the file no longer pretends it does.
    expect(stdout).toContain('/var/run/docker.sock:/var/run/docker.sock');
    expect(stdout).toContain('vipkeeper-config:/etc/vipkeeper');
    expect(stdout).toContain('restart: unless-stopped');
  });

  it('with docker-compose.socket-proxy.yml the agent has no engine socket, only the proxy, which has no network', async () => {
    const { services } = await configOf(composeProxied);
    const agent = services.vipkeeper!;
    const proxy = services['docker-proxy']!;
    const agentVolumes = agent.volumes as string[];
    expect(agentVolumes).toContain('/dev/null:/var/run/docker.sock:ro');
    expect(agentVolumes.filter((v) => v.startsWith('/var/run/docker.sock:'))).toEqual([]);
    expect(agentVolumes.some((v) => /^docker-proxy:\/run\/docker-proxy(:rw)?$/.test(v))).toBe(true);
    expect((agent.environment as Record<string, string>).VIPKEEPER_DOCKER_HOST).toBe(PROXY_ENDPOINT);
    expect(agent.depends_on).toEqual({ 'docker-proxy': { condition: 'service_healthy' } });
    expect(agent.network_mode).toBe('host');

    expect(proxy.image).toBe(VIPKEEPER_IMAGE);
    expect([...(proxy.entrypoint as string[]), ...(proxy.command as string[])]).toEqual([
      '/usr/bin/tini', '--', 'haproxy', '-db', '-f', '/opt/vipkeeper/docker-socket-proxy/haproxy.cfg',
    ]);
    expect((proxy.volumes as string[]).some((v) => v.startsWith('/var/run/docker.sock:/var/run/docker.sock'))).toBe(true);
    expect(proxy.network_mode).toBe('none');
    expect(proxy.read_only).toBe(true);
    expect(proxy.cap_drop).toEqual(['ALL']);
    expect(JSON.stringify(proxy.healthcheck)).toContain('/_ping');
  });

  it('the Rancher stack is valid: a global service on load-balancer hosts and apps on role=apps hosts', async () => {
    const dir = join(REPO, 'compose/rancher');
    const { stdout } = await sh('docker-compose', ['-f', join(dir, 'docker-compose.yml'), 'config'], {
      env: { ...process.env, IMAGE: VIPKEEPER_IMAGE, APP_IMAGE: DEMO_APP_IMAGE, VIPKEEPER_VIRTUAL_IPS: `${VIP}/24` },
    });
    expect(stdout).toContain('io.rancher.scheduler.global: "true"');
    expect(stdout).toContain('io.rancher.scheduler.affinity:host_label: role=load-balancer');
    expect(stdout).toContain('io.rancher.scheduler.affinity:host_label: role=apps');
    // Active-active: the same agent with two instances on the role=load-balancer-a and -b hosts.
    expect(stdout).toContain('io.rancher.scheduler.affinity:host_label: role=load-balancer-a');
    expect(stdout).toContain('io.rancher.scheduler.affinity:host_label: role=load-balancer-b');
    expect(stdout).toContain('VIPKEEPER_INSTANCES: vipa,vipb');
    expect(stdout).toContain('network_mode: host');
    // rancher-compose.yml is no docker-compose file: parse it with the YAML reader docker-compose itself uses.
    const parsed = await sh('python3', ['-c', 'import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', join(dir, 'rancher-compose.yml')]);
    const rancher = JSON.parse(parsed.stdout) as { services: Record<string, { scale?: number }>; '.catalog': { questions: { variable: string }[] } };
    expect(Object.keys(rancher.services).sort()).toEqual(['app', 'vipkeeper', 'vipkeeper-a', 'vipkeeper-b']);
    expect(rancher.services.app?.scale).toBe(2);
    for (const q of rancher['.catalog'].questions) expect(stdout + 'IMAGE APP_IMAGE').toContain(q.variable);
  });

  it('comes up and serves the example app on its frontend, through the VIP too', async () => {
    await compose('up', '-d', '--no-build');
    const seen = new Set<string>();
    await waitFor('both example app containers to answer on the frontend', async () => {
      seen.add(await get('127.0.0.1'));
      return seen.size === 2;
    }, 90_000, 100);
    for (const body of seen) expect(body).toMatch(/^hello from [0-9a-f]{12}$/);
    await waitFor(`the VIP on ${IFACE}`, vipHeld, 30_000, 100);
    expect(await get(VIP)).toMatch(/^hello from /);
  });

  it('runs tini as PID 1 and reports healthy through its HEALTHCHECK', async () => {
    const id = await agentContainer();
    expect(await docker('exec', id, 'cat', '/proc/1/comm')).toBe('tini');
    // The first probe runs one interval (10 s) after the start.
    await waitFor('the container to be healthy', async () => (await docker('inspect', '-f', '{{.State.Health.Status}}', id)) === 'healthy', 60_000, 500);
  });

  it('stops cleanly on docker-compose stop: exit code 0, the VIP given up, the frontend closed', async () => {
    const id = await agentContainer();
    await compose('stop', '-t', '30', 'vipkeeper');
    expect(await docker('inspect', '-f', '{{.State.ExitCode}}', id)).toBe('0');
    expect(await vipHeld()).toBe(false);
    expect((await sh('ss', ['-Hltn', `sport = :${PORT}`])).stdout.trim()).toBe('');
  });

  it('runs through the Docker socket proxy: serves the apps, follows events, and cannot write to the engine', async () => {
    // Recreates the agent with the override (the engine's socket masked, the proxy's volume
    // in) and starts the proxy first, once it is healthy.
    await composeProxied('up', '-d', '--no-build');
    const proxyId = (await composeProxied('ps', '-q', 'docker-proxy')).stdout.trim();
    expect(await docker('inspect', '-f', '{{.State.Health.Status}}', proxyId)).toBe('healthy');
    const seen = new Set<string>();
    await waitFor('both example app containers to answer on the frontend, through the proxy', async () => {
      seen.add(await get('127.0.0.1'));
      return seen.size === 2;
    }, 90_000, 100);
    await waitFor(`the VIP on ${IFACE}`, vipHeld, 30_000, 100);
    const status = await agentStatus();
    expect(status.docker.endpoint).toBe(PROXY_ENDPOINT);
    expect(status.docker.engines.map((e) => [e.endpoint, e.state])).toEqual([[PROXY_ENDPOINT, 'up']]);

    // The agent's own container: no engine socket, and through the proxy only reading works.
    const id = await agentContainer();
    expect(await docker('exec', id, 'sh', '-c', 'test -S /var/run/docker.sock && echo socket || echo no-socket')).toBe('no-socket');
    expect(await fromAgent(id, 'GET', '/_ping')).toBe('200');
    expect(await fromAgent(id, 'GET', '/containers/json')).toBe('200');
    expect(await fromAgent(id, 'POST', '/containers/create?name=vkcompose-evil')).toBe('403');
    expect(await fromAgent(id, 'POST', `/containers/${proxyId}/stop`)).toBe('403');
    expect(await fromAgent(id, 'DELETE', `/containers/${proxyId}?force=true`)).toBe('403');
    expect(await fromAgent(id, 'GET', '/secrets')).toBe('403');
    expect((await docker('ps', '-aq', '--filter', 'name=vkcompose-evil')).trim()).toBe('');
    expect(await docker('inspect', '-f', '{{.State.Running}}', proxyId)).toBe('true');

    // Events pass the proxy: a stopped app leaves the backend within seconds, far sooner
    // than the periodic resync (60 s) would notice, and comes back the same way.
    const servers = async () => (await agentStatus()).services.flatMap((s) => s.servers.map((x) => x.container));
    const apps = (await compose('ps', '-q', 'app')).stdout.trim().split('\n');
    expect(apps).toHaveLength(2);
    await waitFor('both apps as servers', async () => (await servers()).length === 2, 10_000, 100);
    await docker('stop', '-t', '1', apps[0]!);
    await waitFor('the stopped app gone from the backend (an event through the proxy)', async () => {
      const now = await servers();
      return now.length === 1 && !apps[0]!.startsWith(now[0]!);
    }, 10_000, 100);
    await docker('start', apps[0]!);
    await waitFor('the app back in the backend', async () => (await servers()).length === 2, 10_000, 100);

    // What the proxy refused is in its log; the agent's own reading is not.
    const proxyLog = (await composeProxied('logs', '--no-color', 'docker-proxy')).stdout;
    expect(proxyLog).toMatch(/ 403 .*"POST \/containers\/create\?name=vkcompose-evil HTTP\/1\.1"/);
    const agentLog = (await compose('logs', '--no-color', 'vipkeeper')).stdout;
    expect(agentLog).not.toContain('Docker event stream lost');
  });
});
