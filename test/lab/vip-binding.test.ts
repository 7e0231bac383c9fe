import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusSnapshot } from '../../src/status/snapshot.js';
import { CLI, runCli } from './support/cli.js';
import { httpGet, removeTestContainers, runApp, waitFor } from './support/lab.js';
import { type LbNode, NetnsLab } from './support/netns-lab.js';

// vipkeeper.vip on two load-balancer hosts (network namespaces) with two VRRP
// instances and mirrored priorities: va prefers lb1, vb prefers lb2. A service
// bound to va answers on va's VIP and not on vb's; two services on one port and
// different VIPs are two frontends; every node listens on every bound VIP
// (transparent bind) whether it holds it or not. An instance whose bound service
// has no healthy server on a node drops its priority there, so va alone moves.

const NET = '198.19.9';
const lab = new NetnsLab(2, 'vkvb', { net: NET, bridge: 'vkvbbr0' });
const [lb1, lb2] = lab.nodes as [LbNode, LbNode];
const VA = `${NET}.100`;
const VB = `${NET}.101`;
const SHARED_PORT = 18081;
const ONLY_A_PORT = 18082;

const env = (vaPriority: number, vbPriority: number) => ({
  VIPKEEPER_INSTANCES: 'va,vb',
  VIPKEEPER_VRRP_VERSION: '3',
  VIPKEEPER_ADVERT_INT: '0.2',
  VIPKEEPER_NOPREEMPT: 'false',
  VIPKEEPER_NODE_ROLE: '',
  VIPKEEPER_INSTANCE_VA_VIRTUAL_IPS: `${VA}/24`,
  VIPKEEPER_INSTANCE_VA_VIRTUAL_ROUTER_ID: '91',
  VIPKEEPER_INSTANCE_VA_PRIORITY: String(vaPriority),
  VIPKEEPER_INSTANCE_VB_VIRTUAL_IPS: `${VB}/24`,
  VIPKEEPER_INSTANCE_VB_VIRTUAL_ROUTER_ID: '92',
  VIPKEEPER_INSTANCE_VB_PRIORITY: String(vbPriority),
});
const start = (n: LbNode) => lab.startAgent(n, n === lb1 ? env(150, 100) : env(100, 150));

/** The body, or the error's message (ECONNREFUSED when nothing listens there). */
const answer = (host: string, port: number) => httpGet({ host, port, path: '/', timeoutMs: 2000 }).then((r) => r.body, (e: Error) => e.message);
const vkt = (n: LbNode, ...args: string[]) => runCli([...args, '--control', n.agent!.controlSocket], {});

describe('vipkeeper.vip: services bound to one instance, two hosts, mirrored priorities', () => {
  const moves: Record<string, number> = {};
  beforeAll(async () => {
    await removeTestContainers();
    await lab.up();
    await runApp({ name: 'vkt-vb-a', labels: { role: 'apps', 'vipkeeper.service': 'onlya', 'vipkeeper.vip': 'va', 'vipkeeper.frontend.port': String(SHARED_PORT) }, publish: ['80'] });
    await runApp({ name: 'vkt-vb-b', labels: { role: 'apps', 'vipkeeper.service': 'onlyb', 'vipkeeper.vip': VB, 'vipkeeper.frontend.port': String(SHARED_PORT) }, publish: ['80'] });
    await runApp({ name: 'vkt-vb-c', labels: { role: 'apps', 'vipkeeper.service': 'aonly', 'vipkeeper.vip': 'va', 'vipkeeper.frontend.port': String(ONLY_A_PORT) }, publish: ['80'] });
    await runApp({ name: 'vkt-vb-bad', labels: { role: 'apps', 'vipkeeper.service': 'bad', 'vipkeeper.vip': 'nosuch', 'vipkeeper.frontend.port': '18083' }, publish: ['80'] });
    await runApp({ name: 'vkt-vb-far', labels: { role: 'apps', 'vipkeeper.service': 'far', 'vipkeeper.vip': '198.19.9.77', 'vipkeeper.frontend.port': '18084' }, publish: ['80'] });
    start(lb1);
    start(lb2);
    await lab.waitHeld(VA, lb1.name, 30_000);
    await lab.waitHeld(VB, lb2.name, 30_000);
  }, 120_000);

  afterAll(async () => {
    await lab.down();
    await removeTestContainers();
    console.log(`vip-binding move times (ms): ${JSON.stringify(moves)}`);
  });

  it('a service bound to va is served on va and not on vb; two services on one port are two frontends', async () => {
    await waitFor('va:18081 answers onlya', async () => (await answer(VA, SHARED_PORT)) === 'vkt-vb-a');
    await waitFor('vb:18081 answers onlyb', async () => (await answer(VB, SHARED_PORT)) === 'vkt-vb-b');
    await waitFor('va:18082 answers aonly', async () => (await answer(VA, ONLY_A_PORT)) === 'vkt-vb-c');
    // Nothing listens on vb's address for the port only va has: refused, not another service.
    expect(await answer(VB, ONLY_A_PORT)).toMatch(/ECONNREFUSED/);
    for (let i = 0; i < 10; i++) expect(await answer(VB, SHARED_PORT)).toBe('vkt-vb-b');
  });

  it('each node listens on both VIPs, held or not (transparent bind), and nowhere else for a bound port', async () => {
    for (const n of lab.nodes) {
      const ss = (await lab.exec(n, 'ss', ['-Hltn'])).stdout;
      expect(ss, n.name).toContain(`${VA}:${SHARED_PORT}`);
      expect(ss, n.name).toContain(`${VB}:${SHARED_PORT}`);
      expect(ss, n.name).toContain(`${VA}:${ONLY_A_PORT}`);
      expect(ss, n.name).not.toMatch(new RegExp(`(0\\.0\\.0\\.0|\\*|\\[::\\]):${ONLY_A_PORT}\\b`));
    }
    const cfg = readFileSync(join(lb1.agent!.configDir, 'haproxy.cfg'), 'utf8');
    expect(cfg).toContain(`frontend fe_${SHARED_PORT}_va\n    bind ${VA}:${SHARED_PORT} transparent\n`);
    expect(cfg).toContain(`frontend fe_${SHARED_PORT}_vb\n    bind ${VB}:${SHARED_PORT} transparent\n`);
  });

  it('a label naming no instance, or an address that is no VIP, is a warning naming container and label; nothing of it is applied', async () => {
    for (const n of lab.nodes) {
      await waitFor(`${n.name} warns about vkt-vb-bad`, async () =>
        n.agent!.logs.some((l) => l.level === 40 && (l as { container?: string }).container === 'vkt-vb-bad' && (l as { label?: string }).label === 'vipkeeper.vip'),
      );
      await waitFor(`${n.name} warns about vkt-vb-far`, async () =>
        n.agent!.logs.some((l) => l.level === 40 && (l as { container?: string }).container === 'vkt-vb-far' && /not bound/.test(String((l as { rule?: string }).rule))),
      );
      const cfg = readFileSync(join(n.agent!.configDir, 'haproxy.cfg'), 'utf8');
      expect(cfg).not.toMatch(/be_bad|be_far|18083|18084/);
    }
  });

  it("va's service with no healthy server on lb1 drops va's priority there: va alone moves to lb2, and back", async () => {
    const from = Date.now();
    const r = await vkt(lb1, 'disable', 'vkt-vb-a', '--reason', 'vip-binding lab');
    expect(r.code, r.stderr).toBe(0);
    await lab.waitHeld(VA, lb2.name);
    moves.vaToLb2OnUnhealthy = Date.now() - from;
    await lb1.agent!.waitLog('va drops', (l) => /instance va drops its priority/.test(l.msg));
    expect(await lab.holders(VB)).toEqual([lb2.name]);
    await waitFor('va answers from lb2', async () => (await answer(VA, SHARED_PORT)) === 'vkt-vb-a');
    expect(lb1.agent!.logs.some((l) => /instance vb drops/.test(l.msg))).toBe(false);
    const status = JSON.parse((await lab.exec(lb1, process.execPath, [CLI, 'status', '--json'])).stdout) as StatusSnapshot;
    expect(status.instances?.map((i) => [i.name, i.health?.healthy])).toEqual([['va', false], ['vb', true]]);
    expect(status.instances?.[0]?.health?.problems).toEqual(['service onlya has no healthy server on this node (backend DOWN)']);
    const back = Date.now();
    const e = await vkt(lb1, 'enable', 'vkt-vb-a');
    expect(e.code, e.stderr).toBe(0);
    await lab.waitHeld(VA, lb1.name);
    moves.vaBackToLb1 = Date.now() - back;
    expect(await lab.holders(VB)).toEqual([lb2.name]);
  });
});
