import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DrillReport } from '../../src/drill/drill-report.js';
import type { StatusSnapshot } from '../../src/status/snapshot.js';
import { get } from './support/agent.js';
import { CLI } from './support/cli.js';
import { removeTestContainers, runApp, sh, waitFor } from './support/lab.js';
import { type LbNode, NetnsLab } from './support/netns-lab.js';

// Active-active: two load-balancer hosts in network namespaces, two VRRP
// instances with mirrored priorities. web (.100 and fd19:7::100) prefers lb1 and
// keeps nopreempt; api (.101) prefers lb2 and is configured to preempt.

const NET = '198.19.7';
const lab = new NetnsLab(2, 'vkin', { net: NET, bridge: 'vkinbr0' });
const [lb1, lb2] = lab.nodes as [LbNode, LbNode];
const WEB = `${NET}.100`;
// Not fd00::/64: the lab machines' own eth0 is in it, and a packet must never leave the bridge.
const WEB6 = 'fd19:7::100';
const API = `${NET}.101`;

const env = (webPriority: number, apiPriority: number) => ({
  VIPKEEPER_INSTANCES: 'web,api',
  VIPKEEPER_VRRP_VERSION: '3',
  VIPKEEPER_ADVERT_INT: '0.2',
  VIPKEEPER_NODE_ROLE: '',
  VIPKEEPER_INSTANCE_WEB_VIRTUAL_IPS: `${WEB}/24 ${WEB6}/64`,
  VIPKEEPER_INSTANCE_WEB_VIRTUAL_ROUTER_ID: '71',
  VIPKEEPER_INSTANCE_WEB_PRIORITY: String(webPriority),
  VIPKEEPER_INSTANCE_API_VIRTUAL_IPS: `${API}/24`,
  VIPKEEPER_INSTANCE_API_VIRTUAL_ROUTER_ID: '72',
  VIPKEEPER_INSTANCE_API_PRIORITY: String(apiPriority),
  VIPKEEPER_INSTANCE_API_NOPREEMPT: 'false',
});
const start = (n: LbNode) => lab.startAgent(n, n === lb1 ? env(150, 100) : env(100, 150));

const moveMs = async (address: string, to: LbNode, from: number) => (await lab.waitHeld(address, to.name), Date.now() - from);
const answer = (vip: string) => get('/', vip).then((r) => r.body, (e: Error) => e.message);
/** `curl -6` from the host (the bridge has fd19:7::1/64) to the IPv6 VIP. */
const answer6 = async () => (await sh('curl', ['-6', '-sS', '-m', '2', '-g', `http://[${WEB6}]:18080/`], { allowFail: true })).stdout.trim();

async function statusOf(n: LbNode): Promise<StatusSnapshot> {
  return JSON.parse((await lab.exec(n, process.execPath, [CLI, 'status', '--json'])).stdout) as StatusSnapshot;
}

describe('two VRRP instances on two hosts, mirrored priorities', () => {
  const moves: Record<string, number> = {};
  beforeAll(async () => {
    await removeTestContainers();
    await lab.up();
    // The host's side of the IPv6 VIP's subnet (the bridge goes with lab.down()).
    await sh('ip', ['addr', 'add', 'fd19:7::1/64', 'dev', 'vkinbr0', 'nodad']);
    await runApp({ name: 'vkt-inst-app', labels: { role: 'apps' }, publish: ['80'] });
    // lb1 first holds both; when lb2 comes, api (preempt) goes to it and web (nopreempt) stays.
    start(lb1);
    await lab.waitHeld(WEB, lb1.name, 30_000);
    await lab.waitHeld(API, lb1.name, 30_000);
    start(lb2);
    await lab.waitHeld(API, lb2.name, 30_000);
  }, 120_000);

  afterAll(async () => {
    await lab.down();
    await removeTestContainers();
    // Reported, not judged: timing on these machines is noisy.
    console.log(`instance move times (ms): ${JSON.stringify(moves)}`);
  });

  it('each node holds one instance: web (IPv4 and IPv6) on lb1, api on lb2; both answer', async () => {
    expect(await lab.holders(WEB)).toEqual([lb1.name]);
    expect(await lab.holders(WEB6)).toEqual([lb1.name]);
    expect(await lab.holders(API)).toEqual([lb2.name]);
    await waitFor('web answers', async () => (await answer(WEB)) === 'vkt-inst-app');
    await waitFor('api answers', async () => (await answer(API)) === 'vkt-inst-app');
    await waitFor('web answers curl -6 on its IPv6 VIP', async () => (await answer6()) === 'vkt-inst-app');
  });

  it('status shows each instance with its own state', async () => {
    await waitFor('lb1 status: web MASTER, api BACKUP', async () => {
      const s = await statusOf(lb1);
      return JSON.stringify(s.instances?.map((i) => [i.name, i.vrrp?.state])) === JSON.stringify([['web', 'MASTER'], ['api', 'BACKUP']]);
    });
    const s2 = await statusOf(lb2);
    expect(s2.instances?.map((i) => [i.name, i.vrrp?.state])).toEqual([['web', 'BACKUP'], ['api', 'MASTER']]);
  });

  it("stopping lb2 moves api to lb1; lb2 back takes api back (preempt configured), web stays", async () => {
    const from = Date.now();
    await lb2.agent!.stop();
    moves.apiToLb1 = await moveMs(API, lb1, from);
    await waitFor('api answers from lb1', async () => (await answer(API)) === 'vkt-inst-app');
    const back = Date.now();
    start(lb2);
    moves.apiBackToLb2 = await moveMs(API, lb2, back);
    expect(await lab.holders(WEB)).toEqual([lb1.name]);
  });

  it('stopping lb1 moves web, both families, to lb2; with nopreempt it stays when lb1 returns', async () => {
    const from = Date.now();
    await lb1.agent!.stop();
    moves.webToLb2 = await moveMs(WEB, lb2, from);
    await lab.waitHeld(WEB6, lb2.name);
    moves.web6ToLb2 = Date.now() - from;
    await waitFor('web answers from lb2', async () => (await answer(WEB)) === 'vkt-inst-app');
    await waitFor('web answers curl -6 from lb2', async () => (await answer6()) === 'vkt-inst-app');
    moves.web6AnswersOnLb2 = Date.now() - from;
    const again = start(lb1);
    await again.waitLog('lb1 web BACKUP', (l) => l.msg === 'VRRP vipkeeper_web is now BACKUP');
    const until = Date.now() + 3000;
    while (Date.now() < until) {
      expect(await lab.holders(WEB)).toEqual([lb2.name]);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(await lab.holders(WEB6)).toEqual([lb2.name]);
  });

  it('drill --instance api --mode fault moves only api, and the report names the instance', async () => {
    // lb2 holds both now; the fault drill of api hands api alone to lb1.
    const r = await lab.exec(lb2, process.execPath, [CLI, 'drill', '--mode', 'fault', '--instance', 'api', '--hold', '1s', '--json', '--control', lb2.agent!.controlSocket], true);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as DrillReport;
    console.log(`drill report: ${r.stdout}`);
    expect(report.instance).toBe('api');
    expect(report.vipLeftMs).not.toBeNull();
    expect(report.answeredAgainMs).not.toBeNull();
    expect(await lab.holders(WEB)).toEqual([lb2.name]);
    // api preempts: back on lb2 after the restore.
    await lab.waitHeld(API, lb2.name);
  });

  it('maintenance on lb2 (MASTER of both) hands web and api to lb1 and names each; off: api comes back (preempt), web stays', async () => {
    expect(await lab.holders(WEB)).toEqual([lb2.name]);
    const from = Date.now();
    const on = await lab.exec(lb2, process.execPath, [CLI, 'maintenance', 'on', '--wait', '--json', '--reason', 'lab', '--control', lb2.agent!.controlSocket], true);
    expect(on.code, on.stderr).toBe(0);
    console.log(`maintenance on answer: ${on.stdout}`);
    type Waited = { name: string; url: string; vipLeftMs: number | null; answeredAgainMs: number | null; failed: number; probes: number };
    const a = JSON.parse(on.stdout) as {
      ok: boolean; message: string; instances: { name: string; wasState: string; peer: { address: string } | null; handoverMs: number }[];
      wait: { answeredAgainMs: number | null; instances: Waited[] };
    };
    expect(a.instances.map((i) => [i.name, i.wasState, i.peer?.address])).toEqual([
      ['web', 'MASTER', lb1.address],
      ['api', 'MASTER', lb1.address],
    ]);
    expect(a.message).toContain('every instance handed over');
    // --wait probed each instance's VIP from lb2 until lb1 answered it, not only web's.
    expect(a.wait.instances.map((w) => [w.name, new URL(w.url).hostname, w.answeredAgainMs !== null])).toEqual([['web', WEB, true], ['api', API, true]]);
    console.log(`maintenance on --wait per instance: ${JSON.stringify(a.wait.instances)}`);
    moves.maintenanceWebToLb1 = await moveMs(WEB, lb1, from);
    moves.maintenanceApiToLb1 = await moveMs(API, lb1, from);
    await lab.waitHeld(WEB6, lb1.name);
    await waitFor('web and api answer from lb1', async () => (await answer(WEB)) === 'vkt-inst-app' && (await answer(API)) === 'vkt-inst-app');
    const s = await statusOf(lb2);
    expect(s.instances?.map((i) => [i.name, i.vrrp?.state])).toEqual([['web', 'FAULT'], ['api', 'FAULT']]);

    const off = await lab.exec(lb2, process.execPath, [CLI, 'maintenance', 'off', '--control', lb2.agent!.controlSocket], true);
    expect(off.code, off.stderr).toBe(0);
    const back = Date.now();
    moves.apiBackToLb2AfterMaintenance = await moveMs(API, lb2, back);
    expect(await lab.holders(WEB)).toEqual([lb1.name]);
  });
});
