import { mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusSnapshot } from '../../src/status/snapshot.js';
import type { AgentUnderTest } from './support/agent.js';
import { AppHost } from './support/app-hosts.js';
import { CLI, runCli } from './support/cli.js';
import { appScript, APP_IMAGE, removeTestContainers, sh, waitFor } from './support/lab.js';
import { Load } from './support/load.js';
import { type LbNode, NetnsLab } from './support/netns-lab.js';
import { makeEngineCerts } from './support/tls.js';

// App containers on other hosts. Two app hosts, each a namespace with its own
// dockerd (app1 carries the engine label role=apps, app2 none), and a
// load-balancer namespace whose vipkeeper reads both engines over tcp, plus a
// third endpoint where no engine ever answers. Then Docker Swarm on app2's
// engine: a labelled service with replicas in host-mode publishing.

const lab = new NetnsLab(1, 'vkeng');
const lb = lab.nodes[0] as LbNode;
const app1 = new AppHost('vkapp1', 21, ['role=apps']);
const app2 = new AppHost('vkapp2', 22);
const NOWHERE = 'tcp://198.19.0.29:2375';
const S1 = `${app1.address}_vkt-web1`;
const S2 = `${app2.address}_vkt-web2`;

async function status(): Promise<StatusSnapshot> {
  const r = await lab.exec(lb, process.execPath, [CLI, 'status', '--json']);
  return JSON.parse(r.stdout) as StatusSnapshot;
}

describe('backends from the engines of two app hosts', () => {
  let agent: AgentUnderTest;

  beforeAll(async () => {
    await removeTestContainers();
    await lab.up();
    await Promise.all([app1.up(), app2.up()]);
    // Restart policy: like a host reboot, the engine brings its containers back when it returns.
    const extra = ['--restart', 'unless-stopped'];
    await app1.runApp({ name: 'vkt-web1', labels: { role: 'apps' }, publish: ['80'], graceMs: 500, extra });
    await app2.runApp({ name: 'vkt-web2', labels: { role: 'apps' }, publish: ['80'], graceMs: 500, extra });
    agent = lab.startAgent(lb, {
      VIPKEEPER_DOCKER_HOSTS: `${app1.endpoint} ${app2.endpoint},${NOWHERE}`,
      VIPKEEPER_ENGINE_GRACE: '1s',
      VIPKEEPER_NODE_ROLE: '',
      VIPKEEPER_VIRTUAL_ROUTER_ID: '61',
    });
  }, 180_000);

  afterAll(async () => {
    await lab.down();
    await Promise.all([app1.down(), app2.down()]);
  });

  it('serves the containers of both hosts, server names qualified by engine, although one engine never answers', async () => {
    await agent.waitServers([S1, S2]);
    await waitFor('both hosts answering through the load balancer', async () => {
      const load = new Load(lb.address, 1, 2000).start();
      await new Promise((r) => setTimeout(r, 500));
      const { bodies } = await load.stop();
      return bodies.has('vkt-web1') && bodies.has('vkt-web2');
    });
  });

  it('status lists every engine with its state, backends and last event', async () => {
    const s = await waitFor('the unreachable engine to be reported', async () => {
      const st = await status();
      return st.docker.engines.length === 3 && st.docker.engines[2]!.reason !== null ? st : undefined;
    });
    expect(s.docker.engines.map((e) => [e.name, e.endpoint, e.state, e.backends])).toEqual([
      [app1.address, app1.endpoint, 'up', 1],
      [app2.address, app2.endpoint, 'up', 1],
      ['198.19.0.29', NOWHERE, 'connecting', 0],
    ]);
    const text = (await lab.exec(lb, process.execPath, [CLI, 'status'])).stdout;
    expect(text).toContain(`engine    ${app1.address} (${app1.endpoint}) up since`);
    expect(text).toMatch(/engine {4}198\.19\.0\.29 \(tcp:\/\/198\.19\.0\.29:2375\) CONNECTING since .*: Docker engine at tcp:\/\/198\.19\.0\.29:2375/);
  });

  it("one host's engine stops: its backends leave, the other's stay; it returns: they return; all under load", async () => {
    const load = new Load(lb.address).start();
    // Watch app2's server for the whole episode: it must never leave.
    const seenWithout: string[][] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const ready = await agent.readyServers().catch(() => null);
        if (ready && !ready.includes(S2)) seenWithout.push(ready);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      await waitFor('load to flow', async () => load.ok > 20);
      await app1.stopDockerd();
      await agent.waitServers([S2]);
      // Past the grace period the lost engine contributes nothing.
      await waitFor('app1 reported down with no backends', async () => {
        const e = (await status()).docker.engines[0]!;
        return e.state === 'down' && e.backends === 0;
      });
      await app1.startDockerd();
      await agent.waitServers([S1, S2], 'be_apps', 60_000);
      await waitFor('app1 answering again', async () => load.ok > 0 && (await status()).docker.engines[0]!.state === 'up');
    } finally {
      watching = false;
      await watcher;
    }
    const result = await load.stop();
    console.info(`engines: app1's engine stopped and returned under load: ${result.ok} requests served, ${result.failures.length} failed`);
    expect(seenWithout).toEqual([]);
    // The only failures allowed are requests in flight on the lost host when it went away.
    expect(result.failures.length, JSON.stringify(result.failures)).toBeLessThanOrEqual(2);
    expect(result.ok).toBeGreaterThan(100);
    expect(result.bodies.get('vkt-web2')).toBeGreaterThan(0);
  });

  it("a host that vanishes (its cable cut): its backends leave after the grace period, and return with it", async () => {
    const t0 = Date.now();
    await sh('ip', ['link', 'set', app2.hostLink, 'down']);
    try {
      await agent.waitServers([S1]);
      const leftAfterMs = Date.now() - t0;
      await waitFor('app2 reported down', async () => (await status()).docker.engines[1]!.state === 'down');
      console.info(`engines: a cut app host's backends left after ${leftAfterMs} ms (heartbeat 2 s, ping timeout 3 s, grace 1 s)`);
    } finally {
      await sh('ip', ['link', 'set', app2.hostLink, 'up']);
    }
    await agent.waitServers([S1, S2]);
  });

  it('VIPKEEPER_APP_NODE_ROLE serves only engines that carry the role', async () => {
    const out = mkdtempSync(join(tmpdir(), 'vipkeeper-render-'));
    const r = await runCli(['render', '--out', out, '--json'], {
      VIPKEEPER_VIRTUAL_IPS: '198.19.0.100/24',
      VIPKEEPER_INTERFACE: 'vkbr0',
      VIPKEEPER_NODE_ROLE: '',
      VIPKEEPER_DOCKER_HOSTS: `${app1.endpoint} ${app2.endpoint}`,
      VIPKEEPER_APP_NODE_ROLE: 'apps',
      VIPKEEPER_LOG_LEVEL: 'warn',
    });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { selected: { server: string; address: string }[] };
    expect(report.selected.map((s) => s.server)).toEqual([S1]);
    expect(r.stderr).toContain(`engine ${app2.address} is gated`);
  });
});

describe('backends from Docker Swarm', () => {
  let agent: AgentUnderTest;
  const swarmHost = new AppHost('vkapp3', 23);
  const SERVICE = 'vkt-svc';

  const tasks = async () => (await agent.readyServers()).filter((s) => s.startsWith(`${SERVICE}.`));

  beforeAll(async () => {
    await lab.up();
    await swarmHost.up();
    await swarmHost.docker('swarm', 'init', '--advertise-addr', swarmHost.address);
    await swarmHost.docker('node', 'update', '--label-add', 'role=apps', (await swarmHost.docker('info', '--format', '{{.Swarm.NodeID}}')));
    // Tasks finish requests in flight on SIGTERM (half a second), as a well-made app does.
    await swarmHost.docker(
      'service', 'create', '-d', '--name', SERVICE, '--label', 'role=apps', '--replicas', '2',
      '--publish', 'mode=host,target=80', '--stop-grace-period', '5s', '--update-delay', '1s',
      APP_IMAGE, 'sh', '-c', appScript(SERVICE, 500),
    );
    agent = lab.startAgent(lb, {
      VIPKEEPER_SWARM: 'true',
      VIPKEEPER_DOCKER_HOSTS: swarmHost.endpoint,
      VIPKEEPER_APP_NODE_ROLE: 'apps',
      VIPKEEPER_NODE_ROLE: '',
      VIPKEEPER_VIRTUAL_ROUTER_ID: '62',
    });
  }, 180_000);

  afterAll(async () => {
    await lab.down();
    await swarmHost.down();
  });

  it('serves the running tasks of a labelled service through their host-mode ports', async () => {
    await waitFor('two tasks served', async () => (await tasks()).length === 2 ? true : undefined, 60_000);
    const rows = await agent.servers();
    expect(rows.filter((r) => r.server.startsWith(SERVICE)).map((r) => r.address)).toEqual([swarmHost.address, swarmHost.address]);
    expect((await status()).docker.engines).toEqual([expect.objectContaining({ name: 'swarm', mode: 'swarm', state: 'up', backends: 2 })]);
  });

  it("a load balancer's own swarm node labels pass the node role gate", async () => {
    // Pretend the load balancer runs on the swarm node (its own engine is that node's):
    // the engine has no labels, the node has role=apps.
    const render = (nodeRole: string) =>
      runCli(['render', '--out', mkdtempSync(join(tmpdir(), 'vipkeeper-render-')), '--json'], {
        VIPKEEPER_VIRTUAL_IPS: '198.19.0.100/24',
        VIPKEEPER_INTERFACE: 'vkbr0',
        VIPKEEPER_SWARM: 'true',
        VIPKEEPER_DOCKER_HOST: swarmHost.endpoint,
        VIPKEEPER_NODE_ROLE: nodeRole,
        VIPKEEPER_LOG_LEVEL: 'warn',
      });
    const present = async (nodeRole: string) => {
      const r = await render(nodeRole);
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { nodeRole: { present: boolean } }).nodeRole.present;
    };
    expect(await present('apps')).toBe(true);
    expect(await present('load-balancer')).toBe(false);
  });

  it('follows scaling and a rolling update under load without failed requests', async () => {
    const load = new Load(lb.address).start();
    try {
      await swarmHost.docker('service', 'scale', '-d', `${SERVICE}=3`);
      await waitFor('three tasks served', async () => (await tasks()).length === 3 ? true : undefined, 60_000);
      const before = (await agent.servers()).map((r) => `${r.server}@${r.address}:${r.port}`).sort();
      await swarmHost.docker('service', 'update', '-d', '--env-add', 'VERSION=2', SERVICE);
      await waitFor('the rolling update to complete', async () =>
        (await swarmHost.docker('service', 'inspect', '--format', '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}', SERVICE)) === 'completed', 120_000, 500);
      // Every task was replaced: same slots, new containers on new ports.
      await waitFor('three new tasks served', async () => {
        const after = (await agent.servers()).filter((r) => r.opState === 2 && r.adminState === 0).map((r) => `${r.server}@${r.address}:${r.port}`).sort();
        return after.length === 3 && after.every((a) => !before.includes(a));
      }, 60_000);
      await swarmHost.docker('service', 'scale', '-d', `${SERVICE}=1`);
      await waitFor('one task served', async () => (await tasks()).length === 1 ? true : undefined, 60_000);
    } finally {
      const result = await load.stop();
      console.info(`swarm: scale 2 -> 3, rolling update, scale -> 1 under load: ${result.ok} requests served, ${result.failures.length} failed`);
      expect(result.failures, JSON.stringify(result.failures.slice(0, 5))).toEqual([]);
      expect(result.ok).toBeGreaterThan(100);
    }
  });
});

describe('an engine that demands TLS', () => {
  const certs = mkdtempSync(join(tmpdir(), 'vipkeeper-tls-'));
  let tlsHost: AppHost;
  let clientCerts: string;

  beforeAll(async () => {
    const { server, client } = await makeEngineCerts(certs, '198.19.0.24');
    tlsHost = new AppHost('vkapp4', 24, [], server);
    // DOCKER_CERT_PATH may hold one directory per engine, named after its host.
    clientCerts = join(certs, 'for-vipkeeper');
    mkdirSync(clientCerts);
    renameSync(client, join(clientCerts, tlsHost.address));
    await lab.up();
    await tlsHost.up();
    await tlsHost.runApp({ name: 'vkt-tls', labels: { role: 'apps' }, publish: ['80'] });
  }, 180_000);

  afterAll(async () => {
    await lab.down();
    await tlsHost.down();
    rmSync(certs, { recursive: true, force: true });
  });

  const render = (env: Record<string, string>) =>
    runCli(['render', '--out', mkdtempSync(join(tmpdir(), 'vipkeeper-render-')), '--json'], {
      VIPKEEPER_VIRTUAL_IPS: '198.19.0.100/24',
      VIPKEEPER_INTERFACE: 'vkbr0',
      VIPKEEPER_NODE_ROLE: '',
      VIPKEEPER_DOCKER_HOSTS: tlsHost.endpoint,
      VIPKEEPER_LOG_LEVEL: 'warn',
      ...env,
    });

  it('is read with DOCKER_TLS_VERIFY and the per-host directory of DOCKER_CERT_PATH', async () => {
    const r = await render({ DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: clientCerts });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { selected: { server: string; address: string }[] };
    expect(report.selected.map((s) => s.address.split(':')[0])).toEqual([tlsHost.address]);
  });

  it('without TLS it is an engine that does not answer (exit 4), not a crash', async () => {
    const r = await render({});
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain(tlsHost.endpoint);
  });
});
