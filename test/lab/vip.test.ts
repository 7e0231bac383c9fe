import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DrillReport } from '../../src/drill/drill-report.js';
import { get } from './support/agent.js';
import { CLI } from './support/cli.js';
import { removeTestContainers, runApp, sh, waitFor } from './support/lab.js';
import { HolderSampler, LAB_VIP, type LbNode, NetnsLab } from './support/netns-lab.js';

// Three load-balancer hosts in network namespaces with real keepalived VRRP
// between them: lb1 (priority 150), lb2 (100), and lb3 whose engine lacks the
// load-balancer role (priority 200, yet it must never take the VIP).
// A sampler watches who holds the VIP every 100 ms for the whole file.

const lab = new NetnsLab(3);
const [lb1, lb2, lb3] = lab.nodes as [LbNode, LbNode, LbNode];
const sampler = new HolderSampler(lab);
const viaVip = () => get('/', LAB_VIP).catch((e: Error) => ({ status: 0, body: e.message }));

async function haproxyPids(n: LbNode): Promise<number[]> {
  const r = await sh('pgrep', ['-f', `${n.agent!.configDir}/haproxy.cfg`], { allowFail: true });
  return r.stdout.split('\n').filter(Boolean).map(Number);
}

async function drill(n: LbNode, mode: string): Promise<{ report: DrillReport; code: number }> {
  // A unix socket is no network namespace's own: each node's agent has its control socket in its run dir.
  const r = await lab.exec(n, process.execPath, [CLI, 'drill', '--mode', mode, '--hold', '1s', '--json', '--control', n.agent!.controlSocket], true);
  expect(r.code, r.stderr).toBe(0);
  return { report: JSON.parse(r.stdout) as DrillReport, code: r.code };
}

/** The first sample after `from` where `node` no longer held the VIP. */
function observedLeave(node: string, from: number): number | null {
  return sampler.samples.find((s) => s.at >= from && !s.holders.includes(node))?.at ?? null;
}

describe('the VIP across three load-balancer hosts', () => {
  beforeAll(async () => {
    await removeTestContainers();
    await lab.up();
    await runApp({ name: 'vkt-vip-app', labels: { role: 'apps' }, publish: ['80'] });
    // Start lb1 alone so it is the first master; nopreempt keeps masters where they are.
    lab.startAgent(lb1, { VIPKEEPER_PRIORITY: '150', VIPKEEPER_NODE_ROLE: '' });
    await lab.waitHolder(lb1.name, 30_000);
    lab.startAgent(lb2, { VIPKEEPER_PRIORITY: '100', VIPKEEPER_NODE_ROLE: '' });
    lab.startAgent(lb3, { VIPKEEPER_PRIORITY: '200', VIPKEEPER_NODE_ROLE: 'load-balancer' });
    await lb2.agent!.waitLog('lb2 BACKUP', (l) => l.msg === 'VRRP vipkeeper_51 is now BACKUP');
    sampler.start();
  }, 120_000);

  afterAll(async () => {
    sampler.stop();
    await lab.down();
    await removeTestContainers();
  });

  it('serves through the VIP from the master', async () => {
    await waitFor('an answer through the VIP', async () => (await viaVip()).body === 'vkt-vip-app');
  });

  it('keeps a node whose engine lacks the load-balancer role out of VRRP', async () => {
    await lb3.agent!.waitLog('the role gate', (l) => l.level === 50 && String(l.msg).includes('lacks role=load-balancer'));
    expect(lb3.agent!.logs.some((l) => l.msg === 'keepalived started')).toBe(false);
    const status = JSON.parse((await lab.exec(lb3, process.execPath, [CLI, 'status', '--json'])).stdout) as { vrrp: unknown; node: { nodeRole: unknown } };
    expect(status.vrrp).toBeNull();
    expect(status.node.nodeRole).toEqual({ required: 'load-balancer', present: false });
  });

  it('moves the VIP when the master stops gracefully, and nopreempt keeps it there when the old master returns', async () => {
    await lb1.agent!.stop();
    await lab.waitHolder(lb2.name);
    await waitFor('an answer through the VIP from lb2', async () => (await viaVip()).body === 'vkt-vip-app');
    const back = lab.startAgent(lb1, { VIPKEEPER_PRIORITY: '150', VIPKEEPER_NODE_ROLE: '' });
    await back.waitLog('lb1 BACKUP again', (l) => l.msg === 'VRRP vipkeeper_51 is now BACKUP');
    // Higher priority, but nopreempt: for 4 s (4 adverts) the VIP stays on lb2.
    const until = Date.now() + 4000;
    while (Date.now() < until) {
      expect(await lab.holders()).toEqual([lb2.name]);
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  it('moves the VIP when haproxy keeps dying on the master', async () => {
    // Kill every haproxy of lb2 as soon as it shows up: the supervisor's restarts back off
    // and keepalived's track_process sees no haproxy of ours.
    let killing = true;
    const killer = (async () => {
      while (killing) {
        for (const pid of await haproxyPids(lb2)) await sh('kill', ['-9', String(pid)], { allowFail: true });
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    try {
      await lab.waitHolder(lb1.name, 20_000);
    } finally {
      killing = false;
      await killer;
    }
    await waitFor('an answer through the VIP from lb1', async () => (await viaVip()).body === 'vkt-vip-app');
    await waitFor('lb2 haproxy back', async () => (await haproxyPids(lb2)).length > 0, 40_000);
  });

  it("moves the VIP when the master's link is cut, and ends with one holder when it is back", async () => {
    sampler.isolated.add(lb1.name);
    await lab.link(lb1, 'down');
    try {
      await waitFor('lb2 to take the VIP', async () => (await lab.holders()).includes(lb2.name), 20_000, 50);
      await waitFor('an answer through the VIP from lb2', async () => (await viaVip()).body === 'vkt-vip-app');
    } finally {
      await lab.link(lb1, 'up');
    }
    await waitFor('exactly one holder again', async () => (await lab.holders()).length === 1, 20_000, 100);
    sampler.isolated.delete(lb1.name);
  });

  it('restarting the agent on the master keeps haproxy and keepalived: the VIP does not move', async () => {
    const [master] = await lab.holders();
    const node = lab.nodes.find((n) => n.name === master)!;
    const before = node.agent!;
    const from = Date.now();
    await before.stop('SIGKILL');
    const again = lab.startAgent(node, { VIPKEEPER_PRIORITY: node === lb1 ? '150' : '100', VIPKEEPER_NODE_ROLE: '' }, before);
    await again.waitLog('keepalived kept', (l) => l.child === 'keepalived' && String(l.msg).includes('kept running'));
    await again.waitLog('the initial pass', (l) => l.msg === 'pass');
    const until = Date.now() + 3000;
    while (Date.now() < until) {
      expect(await lab.holders()).toEqual([master]);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(sampler.samples.filter((s) => s.at >= from).every((s) => s.holders.length === 1 && s.holders[0] === master)).toBe(true);
    expect(again.logs.some((l) => l.msg === 'keepalived started')).toBe(false);
    expect(again.logs.some((l) => String(l.msg).includes('VRRP state inferred'))).toBe(true);
    await waitFor('an answer through the VIP', async () => (await viaVip()).body === 'vkt-vip-app');
  });

  it('refuses a drill on a BACKUP node unless forced', async () => {
    const [master] = await lab.holders();
    const backup = master === lb1.name ? lb2 : lb1;
    const r = await lab.exec(backup, process.execPath, [CLI, 'drill', '--mode', 'graceful', '--control', backup.agent!.controlSocket], true);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain('not MASTER');
    expect(await lab.holders()).toEqual([master]);
  });

  it.each(['graceful', 'haproxy', 'fault'])('drills in %s mode with figures that match what was observed', async (mode) => {
    const [master] = await lab.holders();
    const node = lab.nodes.find((n) => n.name === master)!;
    const other = node === lb1 ? lb2 : lb1;
    const { report } = await drill(node, mode);
    const startedAt = Date.parse(report.startedAt);
    expect(report.mode).toBe(mode);
    expect(report.vipLeftMs).not.toBeNull();
    expect(report.answeredAgainMs).not.toBeNull();
    expect(report.answeredAgainMs!).toBeGreaterThanOrEqual(report.vipLeftMs!);
    expect(report.newMaster?.address).toBe(other.address);
    expect(report.preemption?.asConfigured).toBe(true);
    // The sampler (every 100 ms, from outside) saw the VIP leave when the report says, give or take
    // a sampling period and the time one `ip addr` takes.
    const seen = observedLeave(node.name, startedAt);
    expect(seen).not.toBeNull();
    const reportedLeave = startedAt + report.vipLeftMs!;
    const around = sampler.samples.filter((x) => x.at >= startedAt - 500 && x.at <= reportedLeave + 4000).map((x) => `${x.at - startedAt}:${x.holders.join('+')}`);
    expect(Math.abs(seen! - reportedLeave), `report ${JSON.stringify(report)} samples ${around.join(' ')}`).toBeLessThan(500);
    expect(await lab.holders()).toEqual([other.name]);
  });

  it('never had two holders, never lost the VIP for longer than a failover, never on lb3', () => {
    expect(sampler.samples.length).toBeGreaterThan(50);
    expect(sampler.splitBrain()).toEqual([]);
    expect(sampler.longestGapMs()).toBeLessThan(10_000);
    expect(sampler.samples.some((s) => s.holders.includes(lb3.name))).toBe(false);
  });
});
