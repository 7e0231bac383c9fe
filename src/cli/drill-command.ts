import { AdvertWatch } from '../drill/advert-watch.js';
import { buildReport, formatReport } from '../drill/drill-report.js';
import { Prober } from '../drill/probe.js';
import { addressesOn, vipsPresent } from '../host/vip-addresses.js';
import { checkControlSocket, postDrill } from '../control/control-client.js';
import type { DrillMode } from '../control/control-types.js';
import { fetchStatus } from './status-client.js';

// `vipkeeper drill`: run on the MASTER. Probes the service through the VIP
// while this node gives the VIP up, waits until another node answers, holds,
// restores this node (always, even on Ctrl-C) and reports what it measured.
// It reads the agent's state on the status address and asks for the drill on
// the agent's control socket, which only root (or its owner) on this host reaches.

export interface DrillOptions {
  readonly mode: DrillMode;
  readonly probe?: string;
  readonly holdMs: number;
  readonly force: boolean;
  readonly addr: string;
  /** The agent's control socket: <run dir>/control.sock. */
  readonly control: string;
  readonly json: boolean;
  readonly timeoutMs: number;
  /** One VRRP instance's name (--instance): its VIPs, settings and state are the drill's. */
  readonly instance?: string;
}

export const DRILL_EXIT = { ok: 0, refused: 5, failed: 6 } as const;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function drillCommand(opts: DrillOptions, print: (s: string) => void, warn: (s: string) => void): Promise<number> {
  // Before anything starts: a drill that cannot be asked for (not root, no agent here) says so at once.
  await checkControlSocket(opts.control);
  const status = await fetchStatus(opts.addr);
  const instances = status.instances ?? [];
  const wanted = opts.instance?.toLowerCase();
  const chosen = wanted === undefined ? null : (instances.find((i) => i.name === wanted) ?? null);
  if (opts.instance !== undefined && !chosen) {
    warn(`no VRRP instance ${JSON.stringify(opts.instance)} on this node (it has: ${instances.map((i) => i.name).join(', ') || 'none listed: an older agent'})`);
    return DRILL_EXIT.refused;
  }
  const vrrp = chosen ? chosen.vrrp : status.vrrp;
  if (!vrrp) {
    warn('this node does not take part in VRRP (node role gate): nothing to drill');
    return DRILL_EXIT.refused;
  }
  const what = chosen ? `instance ${chosen.name}` : 'this node';
  if (vrrp.state !== 'MASTER' && !opts.force) {
    warn(`${what} is ${vrrp.state}, not MASTER: run the drill on its master, or pass --force`);
    return DRILL_EXIT.refused;
  }
  if (chosen && opts.mode !== 'fault' && instances.length > 1) {
    warn(`a ${opts.mode} drill stops a process every instance of this node depends on: all of them move; only instance ${chosen.name} is measured`);
  }
  const iface = chosen?.interface ?? status.node.interface;
  const vips = (chosen?.vips ?? status.node.vips).map((v) => ({ address: v.slice(0, v.lastIndexOf('/')), prefix: Number(v.slice(v.lastIndexOf('/') + 1)) }));
  const first = vips.find((v) => !v.address.includes(':')) ?? vips[0]!;
  const host = first.address.includes(':') ? `[${first.address}]` : first.address;
  const probeUrl = new URL(opts.probe ?? `http://${host}:${status.node.frontendPort}/`);
  const vipSet = new Set(vips.map((v) => v.address));
  const ownAddresses = (await addressesOn(iface)).map((a) => a.split('/')[0]!).filter((a) => !vipSet.has(a));
  const settings = chosen
    ? { virtualRouterId: chosen.virtualRouterId, nopreempt: chosen.nopreempt, priority: chosen.priority, advertInt: chosen.advertInt }
    : status.node.vrrpSettings;

  const adverts = new AdvertWatch(iface);
  adverts.start();
  const prober = new Prober(probeUrl);
  prober.start();
  await sleep(200);

  let started = false;
  let restoredAt: number | null = null;
  const restore = async () => {
    if (!started || restoredAt !== null) return;
    restoredAt = Date.now();
    await postDrill(opts.control, { action: 'restore' });
  };
  const onInterrupt = () => {
    warn('interrupted: restoring this node');
    void restore().finally(() => process.exit(130));
  };
  process.once('SIGINT', onInterrupt);
  process.once('SIGTERM', onInterrupt);

  const startedAt = Date.now();
  let vipLeftAt: number | null = null;
  let vipReturned = false;
  // Watch the interface from the start, apart from the drill request: the agent may take
  // a while to answer (it waits for keepalived to exit) while the VIP is already gone.
  let watching = true;
  const watcher = (async () => {
    while (watching && vipLeftAt === null) {
      if ((await vipsPresent(iface, vips)).length === 0) vipLeftAt = Date.now();
      else await sleep(10);
    }
  })();
  try {
    const answer = await postDrill(opts.control, { action: 'start', mode: opts.mode, ...(chosen ? { instance: chosen.name } : {}) });
    if (!answer.ok) {
      warn(`the agent refused the drill: ${answer.message}`);
      return DRILL_EXIT.refused;
    }
    started = true;
    const deadline = startedAt + opts.timeoutMs;
    // Until the VIP has left and a probe started after that has been answered.
    for (;;) {
      const answered = vipLeftAt !== null && prober.records.some((p) => p.ok && p.start >= vipLeftAt!);
      if (answered || Date.now() > deadline) break;
      await sleep(10);
    }
    await sleep(opts.holdMs);
    await restore();
    // Watch long enough for a preempting node to take the VIP back (about 3 adverts, then some).
    const watchUntil = Date.now() + Math.max(3000, settings.advertInt * 3000 + 1500);
    while (Date.now() < watchUntil) {
      if ((await vipsPresent(iface, vips)).length > 0) {
        vipReturned = true;
        break;
      }
      await sleep(50);
    }
  } finally {
    watching = false;
    await watcher;
    await restore();
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onInterrupt);
    await prober.stop();
    adverts.stop();
  }

  const report = buildReport({
    mode: opts.mode,
    node: status.node.routerId,
    ...(chosen ? { instance: chosen.name } : {}),
    ownAddresses,
    vrid: settings.virtualRouterId,
    startedAt,
    vipLeftAt,
    restoredAt,
    probes: prober.records,
    adverts: adverts.adverts,
    advertsAvailable: adverts.available,
    vipReturned,
    nopreempt: settings.nopreempt,
    ownPriority: settings.priority,
  });
  print(opts.json ? JSON.stringify(report, null, 2) : formatReport(report));
  const good = report.vipLeftMs !== null && report.answeredAgainMs !== null && (report.preemption?.asConfigured ?? true);
  return good ? DRILL_EXIT.ok : DRILL_EXIT.failed;
}
