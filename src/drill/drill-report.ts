import type { Advert } from './advert-watch.js';
import type { ProbeRecord } from './probe.js';

// A drill's observations -> its report. Pure, so the arithmetic has table tests.

export interface DrillObservations {
  readonly mode: string;
  readonly node: string;
  /** The VRRP instance drilled (drill --instance); absent: the node's only (or first) one. */
  readonly instance?: string;
  readonly ownAddresses: readonly string[];
  readonly vrid: number;
  readonly startedAt: number;
  /** First sample with the VIPs gone from this node, or null if they never left. */
  readonly vipLeftAt: number | null;
  readonly restoredAt: number | null;
  readonly probes: readonly ProbeRecord[];
  readonly adverts: readonly Advert[];
  readonly advertsAvailable: boolean;
  /** After the restore: did the VIPs come back to this node while we watched? */
  readonly vipReturned: boolean;
  readonly nopreempt: boolean;
  readonly ownPriority: number;
}

export interface DrillReport {
  readonly mode: string;
  readonly node: string;
  /** The VRRP instance whose VIPs were measured (drill --instance); absent: the node's only or first one. */
  readonly instance?: string;
  /** When this node started giving the VIP up; every figure in ms counts from here. */
  readonly startedAt: string;
  readonly vipLeftMs: number | null;
  readonly answeredAgainMs: number | null;
  readonly failedProbes: number;
  readonly probes: number;
  readonly newMaster: { address: string; priority: number } | null;
  readonly newMasterKnown: boolean;
  readonly restoredAfterMs: number | null;
  readonly preemption: { expected: 'stay' | 'return'; observed: 'stayed' | 'returned'; asConfigured: boolean } | null;
}

export function buildReport(o: DrillObservations): DrillReport {
  const vipLeftMs = o.vipLeftAt === null ? null : o.vipLeftAt - o.startedAt;
  // Answered again: the first good probe that started after the VIP left this node,
  // so it was served by another one.
  const firstGoodAfter = o.vipLeftAt === null ? undefined : o.probes.filter((p) => p.ok && p.start >= o.vipLeftAt!).sort((a, b) => a.end - b.end)[0];
  const answeredAgainMs = firstGoodAfter ? firstGoodAfter.end - o.startedAt : null;
  const until = firstGoodAfter?.end ?? o.restoredAt ?? Infinity;
  const during = o.probes.filter((p) => p.start >= o.startedAt && p.start <= until);
  const failedProbes = during.filter((p) => !p.ok).length;

  const own = new Set(o.ownAddresses);
  const masterAdverts = o.adverts.filter(
    (a) => a.vrid === o.vrid && a.priority > 0 && !own.has(a.source) && a.at >= o.startedAt && (o.restoredAt === null || a.at <= o.restoredAt),
  );
  const last = masterAdverts[masterAdverts.length - 1];
  const newMaster = last ? { address: last.source, priority: last.priority } : null;

  let preemption: DrillReport['preemption'] = null;
  if (o.restoredAt !== null && newMaster) {
    const expected = !o.nopreempt && o.ownPriority > newMaster.priority ? 'return' : 'stay';
    const observed = o.vipReturned ? 'returned' : 'stayed';
    preemption = { expected, observed, asConfigured: (expected === 'return') === o.vipReturned };
  }
  return {
    mode: o.mode,
    node: o.node,
    ...(o.instance ? { instance: o.instance } : {}),
    startedAt: new Date(o.startedAt).toISOString(),
    vipLeftMs,
    answeredAgainMs,
    failedProbes,
    probes: during.length,
    newMaster,
    newMasterKnown: o.advertsAvailable,
    restoredAfterMs: o.restoredAt === null ? null : o.restoredAt - o.startedAt,
    preemption,
  };
}

const secs = (ms: number | null) => (ms === null ? 'never' : `${(ms / 1000).toFixed(3)} s`);

export function formatReport(r: DrillReport): string {
  const pre = r.preemption;
  return [
    `drill ${r.mode} on ${r.node}${r.instance ? `, instance ${r.instance}` : ''}`,
    `  VIP left this node after          ${secs(r.vipLeftMs)}`,
    `  service answered again after      ${secs(r.answeredAgainMs)} (through the VIP, from another node)`,
    `  failed probes                     ${r.failedProbes} of ${r.probes} (one every 20 ms)`,
    `  new master                        ${r.newMaster ? `${r.newMaster.address} (priority ${r.newMaster.priority})` : r.newMasterKnown ? 'none seen' : 'unknown (tcpdump is not installed)'}`,
    `  this node restored after          ${secs(r.restoredAfterMs)}`,
    `  preemption                        ${pre ? `VIP ${pre.observed} (expected to ${pre.expected}): ${pre.asConfigured ? 'as configured' : 'NOT as configured'}` : 'not checked'}`,
  ].join('\n');
}
