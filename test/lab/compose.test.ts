import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from './support/cli.js';
import { DEMO_APP_IMAGE, VIPKEEPER_IMAGE, ensureVipkeeperImage } from './support/image.js';
import { ensureAppImage } from './support/lab-setup.js';
import { docker, httpBody, sh, waitFor } from './support/lab.js';

// compose/docker-compose.yml as an operator runs it, on the real engine with the
// image built here: vipkeeper in the host's network keeps a VIP on an interface of
// its own and serves the example app. Everything is named apart from the other lab
// tests (project, interface, ports, role), so their agents never see these apps.

const PROJECT = 'vkcomposetest';
const IFACE = 'vkc0';
const VIP = '198.18.8.100';
const PORT = 18280;
const STATUS_ADDR = '127.0.0.1:9421';
const ROLE = 'vkcompose-apps';

const projectDir = mkdtempSync(join(tmpdir(), 'vipkeeper-compose-'));
const composeFile = join(REPO, 'compose/docker-compose.yml');
const compose = (...args: string[]) =>
  sh('docker-compose', ['--project-directory', projectDir, '-f', composeFile, '-p', PROJECT, ...args]);

const get = (host: string) => httpBody({ host, port: PORT, timeoutMs: 3000 });

const agentContainer = async () => (await compose('ps', '-q', 'vipkeeper')).stdout.trim();
const vipHeld = async () => (await sh('ip', ['-4', 'addr', 'show', 'dev', IFACE])).stdout.includes(`${VIP}/24`);

describe('compose/docker-compose.yml on the real engine', () => {
  beforeAll(async () => {
    await ensureVipkeeperImage();
    await ensureAppImage(DEMO_APP_IMAGE);
    await compose('down', '-v').catch(() => undefined);
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
    const logs = await compose('logs', '--no-color', 'vipkeeper').catch((e: Error) => ({ stdout: e.message }));
    writeFileSync(join(REPO, '.lab', 'logs', 'compose-vipkeeper.log'), logs.stdout);
    // The apps need no grace; the agent (if a test left it running) gets time to give the VIP up.
    await compose('kill', 'app').catch(() => undefined);
    await compose('down', '-v', '-t', '30').catch(() => undefined);
    await sh('ip', ['link', 'del', IFACE], { allowFail: true });
    rmSync(projectDir, { recursive: true, force: true });
  }, 120_000);

  it('is valid as written, with host networking, the capabilities and the socket read-only', async () => {
    const { stdout } = await compose('config');
    expect(stdout).toContain('network_mode: host');
    for (const cap of ['NET_ADMIN', 'NET_BROADCAST', 'NET_RAW']) expect(stdout).toContain(`- ${cap}`);
    expect(stdout).toContain('/var/run/docker.sock:/var/run/docker.sock:ro');
    expect(stdout).toContain('vipkeeper-config:/etc/vipkeeper');
    expect(stdout).toContain('restart: unless-stopped');
  });

  it('the Rancher stack is valid: a global service on load-balancer hosts and apps on role=apps hosts', async () => {
    const dir = join(REPO, 'compose/rancher');
    const { stdout } = await sh('docker-compose', ['-f', join(dir, 'docker-compose.yml'), 'config'], {
      env: { ...process.env, IMAGE: VIPKEEPER_IMAGE, APP_IMAGE: DEMO_APP_IMAGE, VIPKEEPER_VIRTUAL_IPS: `${VIP}/24` },
    });
    expect(stdout).toContain('io.rancher.scheduler.global: "true"');
    expect(stdout).toContain('io.rancher.scheduler.affinity:host_label: role=load-balancer');
    expect(stdout).toContain('io.rancher.scheduler.affinity:host_label: role=apps');
    expect(stdout).toContain('network_mode: host');
    // rancher-compose.yml is no docker-compose file: parse it with the YAML reader docker-compose itself uses.
    const parsed = await sh('python3', ['-c', 'import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', join(dir, 'rancher-compose.yml')]);
    const rancher = JSON.parse(parsed.stdout) as { services: Record<string, { scale?: number }>; '.catalog': { questions: { variable: string }[] } };
    expect(Object.keys(rancher.services).sort()).toEqual(['app', 'vipkeeper']);
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
});
