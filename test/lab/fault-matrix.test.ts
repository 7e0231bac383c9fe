import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_TEMPLATES_DIR } from '../../src/render/load-templates.js';
import type { AgentUnderTest } from './support/agent.js';
import { AppHost } from './support/app-hosts.js';
import { Load } from './support/load.js';
import { removeTestContainers, runApp, sh, startDockerd, stopDockerd, waitFor } from './support/lab.js';
import { HolderSampler, type LbNode, NetnsLab } from './support/netns-lab.js';
import { makeEngineCerts } from './support/tls.js';

// The fault matrix: two load-balancer hosts in namespaces (lb1 the master),
// apps on the root engine and on an app host whose engine demands TLS, a
// steady load through the VIP, and one fault at a time on lb1. For each the
// report states requests failed, time to recover, the most VIP holders seen at
// once (never two), and whether anything was lost (every server back on both
// nodes, the live config the one that last loaded). Real dockerd, haproxy,
// keepalived; nothing faked.

const lab = new NetnsLab(2);
const [lb1, lb2] = lab.nodes as [LbNode, LbNode];
const sampler = new HolderSampler(lab, 50);
const certs = mkdtempSync(join(tmpdir(), 'vipkeeper-fm-tls-'));
const clientCerts = join(certs, 'for-vipkeeper');
let tlsHost: AppHost;
/** lb1's config dir lives on a small tmpfs, so the disk can fill up and turn read-only. */
const configMount = mkdtempSync(join(tmpdir(), 'vipkeeper-fm-etc-'));
const lb1ConfigDir = join(configMount, 'etc');
const templates = mkdtempSync(join(tmpdir(), 'vipkeeper-fm-templates-'));
const load = new Load(lab.vip, 4, 600_000);

interface Row {
  readonly fault: string;
  readonly failed: number;
  readonly served: number;
  readonly recoverMs: number;
  readonly maxHolders: number;
  readonly lost: string;
}
const rows: Row[] = [];

const APPS = ['vkt-fm-a', 'vkt-fm-b'];
let expected: string[] = [];

function env(n: LbNode): Record<string, string> {
  return {
    VIPKEEPER_PRIORITY: n === lb1 ? '150' : '100',
    VIPKEEPER_NODE_ROLE: '',
    VIPKEEPER_DOCKER_HOSTS: `unix:///var/run/docker.sock=${lab.hostAddress},${tlsHost.endpoint}`,
    DOCKER_TLS_VERIFY: '1',
    DOCKER_CERT_PATH: clientCerts,
    VIPKEEPER_ENGINE_GRACE: '30s',
    ...(n === lb1 ? { VIPKEEPER_CONFIG_DIR: lb1ConfigDir, VIPKEEPER_TEMPLATES_DIR: templates } : {}),
  };
}

async function serversOn(n: LbNode): Promise<string[]> {
  return n.agent!.readyServers();
}

/** Every server back on both nodes, and lb1's live file the one that last loaded. */
async function lostAnything(): Promise<string> {
  const problems: string[] = [];
  for (const n of [lb1, lb2]) {
    const seen = await serversOn(n).catch(() => [] as string[]);
    const missing = expected.filter((s) => !seen.includes(s));
    if (missing.length > 0) problems.push(`${n.name} lacks ${missing.join(',')}`);
  }
  const dir = lb1ConfigDir;
  const live = readFileSync(join(dir, 'haproxy.cfg'), 'utf8');
  if (live !== readFileSync(join(dir, 'haproxy.cfg.last-good'), 'utf8')) problems.push('lb1 live haproxy.cfg is not its last good one');
  if (existsSync(dir) && (await sh('sh', ['-c', `ls -a ${dir} | grep '\\.tmp$'`], { allowFail: true })).stdout.trim()) problems.push('temporary files left');
  return problems.join('; ') || 'nothing';
}

async function converged(): Promise<boolean> {
  for (const n of [lb1, lb2]) {
    const seen = await serversOn(n).catch(() => [] as string[]);
    if (seen.join(',') !== [...expected].sort().join(',')) return false;
  }
  return (await lab.holders()).length === 1;
}

/**
 * One fault: `inject` it, optionally `repair` it once `whileBroken` holds, then
 * wait until both nodes serve every expected server again with one VIP holder.
 * Recovery time runs from the injection (or the repair, when there is one).
 */
async function fault(name: string, o: { inject: () => Promise<void>; whileBroken?: () => Promise<void>; repair?: () => Promise<void>; timeoutMs?: number }): Promise<Row> {
  await waitFor(`a converged lab before "${name}"`, converged, 60_000, 100);
  const before = { ok: load.ok, failed: load.failures.length, samples: sampler.samples.length };
  const t0 = Date.now();
  await o.inject();
  await o.whileBroken?.();
  let from = t0;
  if (o.repair) {
    from = Date.now();
    await o.repair();
  }
  await waitFor(`recovery from "${name}"`, converged, o.timeoutMs ?? 60_000, 50);
  const recoverMs = Date.now() - from;
  // Keep watching a moment: a flap right after recovery counts too.
  await new Promise((r) => setTimeout(r, 1000));
  const window = sampler.samples.slice(before.samples);
  const row: Row = {
    fault: name,
    failed: load.failures.length - before.failed,
    served: load.ok - before.ok,
    recoverMs,
    maxHolders: Math.max(0, ...window.map((s) => s.holders.length)),
    lost: await lostAnything(),
  };
  rows.push(row);
  return row;
}

const agentAlive = (a: AgentUnderTest) => a.pid !== undefined && existsSync(`/proc/${a.pid}`);
const pidIn = (file: string) => Number(readFileSync(file, 'utf8').trim());

describe('fault matrix: one fault at a time on the master, under steady load', () => {
  beforeAll(async () => {
    await removeTestContainers();
    const { server, client } = await makeEngineCerts(certs, '198.19.0.24');
    mkdirSync(clientCerts);
    tlsHost = new AppHost('vkapp4', 24, [], server);
    renameSync(client, join(clientCerts, tlsHost.address));
    await sh('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', configMount]);
    cpSync(join(BUILTIN_TEMPLATES_DIR, 'haproxy.cfg.ejs'), join(templates, 'haproxy.cfg.ejs'));
    await lab.up();
    // The TLS host's engine starts while the apps of the root engine do.
    await Promise.all([
      tlsHost.up().then(() => tlsHost.runApp({ name: 'vkt-fm-tls', labels: { role: 'apps' }, publish: ['80'] })),
      ...APPS.map((name) => runApp({ name, labels: { role: 'apps' }, publish: ['80'], extra: ['--restart', 'always'] })),
    ]);
    lab.startAgent(lb1, env(lb1));
    await lab.waitHolder(lb1.name, 30_000);
    lab.startAgent(lb2, env(lb2));
    await lb2.agent!.waitLog('lb2 BACKUP', (l) => l.msg === 'VRRP vipkeeper_51 is now BACKUP');
    expected = (await serversOn(lb1)).sort();
    expect(expected).toHaveLength(3);
    sampler.start();
    load.start();
  }, 240_000);

  afterAll(async () => {
    sampler.stop();
    const result = await load.stop().catch(() => null);
    console.info(
      [
        '',
        'fault matrix (lb1 master, lb2 backup; 4 workers of GETs through the VIP)',
        '| fault on lb1 | requests failed | served meanwhile | recovered after | most VIP holders | lost |',
        '| --- | ---: | ---: | ---: | ---: | --- |',
        ...rows.map((r) => `| ${r.fault} | ${r.failed} | ${r.served} | ${(r.recoverMs / 1000).toFixed(2)} s | ${r.maxHolders} | ${r.lost} |`),
        `total: ${result?.ok ?? '?'} requests served, ${result?.failures.length ?? '?'} failed`,
      ].join('\n'),
    );
    await lab.down();
    await tlsHost?.down();
    await sh('umount', ['-l', configMount], { allowFail: true });
    rmSync(certs, { recursive: true, force: true });
    await removeTestContainers();
  });

  it('a broken template at runtime: the agent lives on, serving never stops, the fixed template applies what waited', async () => {
    const file = join(templates, 'haproxy.cfg.ejs');
    const good = readFileSync(file, 'utf8');
    const row = await fault('broken template at runtime', {
      inject: async () => writeFileSync(file, `${good}\n<%- missing.value %>\n`),
      whileBroken: async () => {
        await lb1.agent!.waitLog('the template error', (l) => l.msg === 'pass' && typeof l.error === 'string' && l.error.includes('missing is not defined'));
        expect(agentAlive(lb1.agent!)).toBe(true);
      },
      repair: async () => writeFileSync(file, good),
    });
    expect(row).toMatchObject({ failed: 0, maxHolders: 1, lost: 'nothing' });
  });

  it('a full config disk: the pass fails and is retried, serving never stops, a freed disk converges', async () => {
    const filler = join(configMount, 'filler');
    const row = await fault('full config disk', {
      inject: async () => {
        await sh('sh', ['-c', `dd if=/dev/zero of=${filler} bs=64k 2>/dev/null; true`]);
        await runApp({ name: 'vkt-fm-c', labels: { role: 'apps' }, publish: ['80'], extra: ['--restart', 'always'] });
        expected = [...expected, 'local_vkt-fm-c'].sort(); // several engines: names carry the engine
      },
      whileBroken: async () => {
        await lb1.agent!.waitLog('the write failure', (l) => l.msg === 'pass' && l.code === 'E_CONFIG_WRITE');
      },
      repair: async () => rmSync(filler),
    });
    expect(row).toMatchObject({ failed: 0, maxHolders: 1, lost: 'nothing' });
  });

  it('a read-only config dir: the same, and a writable one converges', async () => {
    const row = await fault('read-only config dir', {
      inject: async () => {
        await sh('mount', ['-o', 'remount,ro', configMount]);
        await docker('rm', '-f', 'vkt-fm-c');
        expected = expected.filter((s) => s !== 'local_vkt-fm-c');
      },
      whileBroken: async () => {
        await lb1.agent!.waitLog('the read-only failure', (l) => l.msg === 'pass' && l.code === 'E_CONFIG_WRITE' && String(l.error).includes('read-only'));
      },
      repair: async () => void (await sh('mount', ['-o', 'remount,rw', configMount])),
    });
    expect(row).toMatchObject({ failed: 0, maxHolders: 1, lost: 'nothing' });
  });

  it('an engine reconnect for renewed TLS certificates keeps its backends', async () => {
    const dir = join(clientCerts, tlsHost.address);
    const row = await fault('TLS engine reconnect (certificates renewed)', {
      inject: async () => {
        const since = lb1.agent!.logs.length;
        for (const f of ['cert.pem', 'key.pem', 'ca.pem']) writeFileSync(join(dir, f), readFileSync(join(dir, f)));
        await waitFor('the reconnect', async () => lb1.agent!.logs.slice(since).some((l) => String(l.msg).includes('reconnecting to the engines')), 10_000);
      },
    });
    expect(row).toMatchObject({ failed: 0, maxHolders: 1, lost: 'nothing' });
  });

  it('SIGKILL of the agent and a new start: the children are kept, the VIP never moves', async () => {
    const row = await fault('agent SIGKILL, started again', {
      inject: async () => {
        const old = lb1.agent!;
        await old.stop('SIGKILL');
        const again = lab.startAgent(lb1, env(lb1), old);
        await again.waitLog('started', (l) => l.msg === 'vipkeeper started');
      },
    });
    expect(row).toMatchObject({ failed: 0, maxHolders: 1, lost: 'nothing' });
    expect((await lab.holders())).toEqual([lb1.name]);
  });

  it('SIGTERM of the agent and a new start: the VIP moves to the backup and back, never two holders', async () => {
    const row = await fault('agent SIGTERM, started again', {
      inject: async () => {
        const old = lb1.agent!;
        await old.stop('SIGTERM');
        await lab.waitHolder(lb2.name, 20_000);
        const again = lab.startAgent(lb1, env(lb1), old);
        await again.waitLog('started', (l) => l.msg === 'vipkeeper started');
      },
    });
    expect(row.maxHolders).toBe(1);
    expect(row.lost).toBe('nothing');
  });

  it('kill -9 of haproxy: restarted at once, its servers back', async () => {
    const row = await fault('kill -9 haproxy', {
      inject: async () => {
        process.kill(pidIn(join(lb1.agent!.runDir, 'haproxy.pid')), 'SIGKILL');
      },
    });
    expect(row.maxHolders).toBe(1);
    expect(row.lost).toBe('nothing');
  });

  it('kill -9 of keepalived: the VIP it left is removed, so the backup never shares it', async () => {
    const row = await fault('kill -9 keepalived', {
      inject: async () => {
        process.kill(pidIn(join(lb1.agent!.runDir, 'keepalived.pid')), 'SIGKILL');
      },
    });
    expect(row.maxHolders).toBe(1);
    expect(row.lost).toBe('nothing');
  });

  it('a dockerd restart: backends follow their containers back', async () => {
    const row = await fault('dockerd restart', {
      inject: async () => {
        await stopDockerd();
        await startDockerd();
      },
      timeoutMs: 90_000,
    });
    expect(row.maxHolders).toBe(1);
    expect(row.lost).toBe('nothing');
  });
});

const docker = (...args: string[]) => sh('docker', args);
