import type { Advert } from '../drill/advert-watch.js';

// `vipkeeper maintenance on`, this node's half: step back from VRRP and make
// sure another node holds the VIP.
//
// How the node steps back: a keepalived track file of its own (like the drill's
// fault mode, but a separate file, so ending a drill never ends maintenance),
// which puts the VRRP instance in FAULT. Not a lower priority: FAULT sends a
// priority 0 advert, so every backup takes over after its skew time whatever its
// own priority and even with nopreempt (the default), needs no keepalived
// reload (a SIGHUP can flip MASTER to BACKUP by itself), and keeps this node
// out even when no other node is left, until `maintenance off`. A lower
// priority would do none of that with nopreempt peers.
//
// How a peer is seen: in VRRP only the master sends adverts and backups are
// silent, so a MASTER cannot see its backups before it steps back. The node
// steps back, then watches the adverts it receives (tcpdump, like the drill):
// one from another address on our virtual router, with a priority above 0, is
// a live peer. None within the window (an advert interval and some) means no
// peer took over: without --force the node takes part again at once (the VIP
// had no holder for that window and comes back after keepalived's own ~3
// adverts) and the request is refused. A BACKUP node hears its master within
// an advert interval, so nothing moves.
//
// With several VRRP instances (VIPKEEPER_INSTANCES) every vrrp_instance block
// tracks the same file, so all go FAULT at once; the node is handed over only
// when each instance is FAULT and, for each, a live peer advertised that
// instance's virtual router. One without a peer undoes the whole step (the
// file is the node's, not an instance's) unless --force.

export interface AdvertSource {
  readonly adverts: readonly Advert[];
  readonly available: boolean;
  ready(): Promise<void>;
  stop(): void;
}

/** One VRRP instance of this node, as maintenance sees it. Every instance tracks the one maintenance file. */
export interface StepBackInstance {
  /** The operator's name (`web`; `default` without VIPKEEPER_INSTANCES). */
  readonly name: string;
  readonly virtualRouterId: number;
  readonly vrrpState: () => string;
  readonly advertIntMs: number;
}

export interface StepBackParts {
  /** '1' puts every VRRP instance in FAULT (the maintenance track file), '0' lets them take part. */
  readonly writeTrack: (value: '0' | '1') => Promise<void>;
  /** At least one. */
  readonly instances: readonly StepBackInstance[];
  /** Starts watching VRRP adverts on the instances' interfaces. */
  readonly watchAdverts: () => AdvertSource;
  /** This node's own addresses on the VRRP interfaces (its adverts are not a peer's). */
  readonly ownAddresses: () => Promise<readonly string[]>;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface Peer {
  readonly address: string;
  readonly priority: number;
}

/** What became of one instance. */
export interface InstanceHandover {
  readonly name: string;
  /** The peer seen holding the instance's VIPs (its first advert after this node stepped back, or its last one as master). */
  readonly peer: Peer | null;
  /** From stepping back until the peer's first advert (0 when this node was BACKUP). */
  readonly handoverMs: number | null;
  /** VRRP state when asked. */
  readonly wasState: string;
}

export interface StepBackResult {
  readonly ok: boolean;
  /** The first instance's peer (the only one without VIPKEEPER_INSTANCES). */
  readonly peer: Peer | null;
  /** The first instance's handover. */
  readonly handoverMs: number | null;
  /** The first instance's VRRP state when asked. */
  readonly wasState: string;
  /** Every instance, in configuration order. */
  readonly instances: readonly InstanceHandover[];
  readonly message: string;
}

/** How long to wait for a peer's advert after stepping back: a backup takes over within one advert interval. Pure. */
export function peerWindowMs(advertIntMs: number): number {
  return Math.max(1500, 2 * advertIntMs + 1000);
}

/** The first advert from a live peer of our virtual router at or after `since`. Pure. */
export function peerAdvert(adverts: readonly Advert[], o: { vrid: number; own: ReadonlySet<string>; since: number }): Advert | null {
  return adverts.find((a) => a.vrid === o.vrid && a.priority > 0 && !o.own.has(a.source) && a.at >= o.since) ?? null;
}

function result(ok: boolean, instances: readonly InstanceHandover[], message: string): StepBackResult {
  const first = instances[0]!;
  return { ok, peer: first.peer, handoverMs: first.handoverMs, wasState: first.wasState, instances, message };
}

/** `web and api`, `web, api and db`. Pure. */
function names(list: readonly string[]): string {
  return list.length <= 1 ? (list[0] ?? '') : `${list.slice(0, -1).join(', ')} and ${list.at(-1)}`;
}

/** How one instance was handed over, for the message. Pure. */
function handedOver(h: InstanceHandover): string {
  return h.wasState === 'MASTER'
    ? `${h.peer!.address} holds the VIP: it advertised as master ${h.handoverMs} ms after this node stepped back`
    : `${h.peer!.address} holds the VIP (this node was ${h.wasState})`;
}

export async function stepBack(p: StepBackParts, force: boolean): Promise<StepBackResult> {
  if (p.instances.length === 0) throw new Error('stepBack needs at least one VRRP instance');
  const now = p.now ?? Date.now;
  const sleep = p.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const several = p.instances.length > 1;
  const wasStates = p.instances.map((i) => i.vrrpState());
  const own = new Set(await p.ownAddresses());
  const watch = p.watchAdverts();
  try {
    await watch.ready();
    const watchedFrom = now();
    if (!watch.available) {
      // Without tcpdump only BACKUP proves a peer: it hears a master, or it would be master.
      await p.writeTrack('1');
      const each = p.instances.map((inst, k): InstanceHandover => ({ name: inst.name, peer: null, handoverMs: wasStates[k] === 'BACKUP' ? 0 : null, wasState: wasStates[k]! }));
      const notBackup = each.filter((h) => h.wasState !== 'BACKUP');
      if (!several) {
        const wasState = wasStates[0]!;
        if (notBackup.length === 0) return result(true, each, 'this node was BACKUP: the master keeps the VIP');
        if (force) return result(true, each, `this node was ${wasState}; VRRP adverts cannot be watched here (no tcpdump), so no peer was seen: given up anyway (--force)`);
        await p.writeTrack('0');
        return result(false, each, `this node is ${wasState} and VRRP adverts cannot be watched here (no tcpdump): no peer can be seen; --force gives the VIP up anyway`);
      }
      const states = notBackup.map((h) => `${h.name} ${h.wasState}`).join(', ');
      if (notBackup.length === 0) return result(true, each, `this node was BACKUP in every instance (${names(each.map((h) => h.name))}): their masters keep the VIPs`);
      if (force) return result(true, each, `this node was ${states}; VRRP adverts cannot be watched here (no tcpdump), so no peer was seen: given up anyway (--force)`);
      await p.writeTrack('0');
      return result(false, each, `this node is ${states} and VRRP adverts cannot be watched here (no tcpdump): no peer can be seen; --force gives those VIPs up anyway`);
    }
    const steppedBack = now();
    await p.writeTrack('1');
    const deadline = steppedBack + Math.max(...p.instances.map((i) => peerWindowMs(i.advertIntMs)));
    // A BACKUP's master may have sent its advert a moment before we stepped back.
    const since = wasStates.map((s) => (s === 'MASTER' ? steppedBack : watchedFrom));
    const peers: (Advert | null)[] = p.instances.map(() => null);
    const fault: boolean[] = p.instances.map(() => false);
    const look = () => {
      p.instances.forEach((inst, k) => {
        peers[k] ??= peerAdvert(watch.adverts, { vrid: inst.virtualRouterId, own, since: since[k]! });
        fault[k] ||= inst.vrrpState() === 'FAULT';
      });
      return peers.every((a) => a !== null) && fault.every(Boolean);
    };
    // Done once a peer advertised for every instance and keepalived said FAULT for each (a template of one's own may not track the file).
    while (!look() && now() < deadline) await sleep(20);
    const waited = deadline - steppedBack;
    const each = p.instances.map(
      (inst, k): InstanceHandover => ({
        name: inst.name,
        peer: peers[k] ? { address: peers[k].source, priority: peers[k].priority } : null,
        handoverMs: peers[k] ? (wasStates[k] === 'MASTER' ? Math.max(0, peers[k].at - steppedBack) : 0) : null,
        wasState: wasStates[k]!,
      }),
    );
    const notFault = p.instances.filter((_, k) => !fault[k]);
    if (notFault.length > 0) {
      await p.writeTrack('0');
      const states = several ? notFault.map((i) => `${i.name} is ${i.vrrpState()}`).join(', ') : `it is ${p.instances[0]!.vrrpState()}`;
      return result(
        false,
        each.map((h) => ({ ...h, peer: null, handoverMs: null })),
        `keepalived did not go FAULT within ${waited} ms of the maintenance track file turning 1 (${states}): ` +
          'a keepalived template of your own must track that file as the shipped one does (track_file vipkeeper_maintenance); nothing changed',
      );
    }
    const missing = each.filter((h) => h.peer === null);
    if (!several) {
      const h = each[0]!;
      if (h.peer) return result(true, each, handedOver(h));
      if (force) return result(true, each, `no other node advertised within ${waited} ms: the VIP has no holder (given up anyway: --force)`);
      await p.writeTrack('0');
      return result(
        false,
        each,
        `no other node of virtual router ${p.instances[0]!.virtualRouterId} advertised within ${waited} ms after this node stepped back, so it takes part again` +
          (h.wasState === 'MASTER' ? ' (the VIP comes back here after about 3 advert intervals)' : '') +
          '; nothing else changed; --force gives the VIP up anyway',
      );
    }
    const line = (h: InstanceHandover) => `${h.name}: ${h.peer ? handedOver(h) : `no other node advertised within ${waited} ms`}`;
    if (missing.length === 0) return result(true, each, `every instance handed over: ${each.map(line).join('; ')}`);
    if (force) {
      return result(true, each, `${each.map((h) => (h.peer ? line(h) : `${line(h)}: its VIPs have no holder (given up anyway: --force)`)).join('; ')}`);
    }
    await p.writeTrack('0');
    const routers = missing.map((h) => `${h.name} (virtual router ${p.instances.find((i) => i.name === h.name)!.virtualRouterId})`);
    return result(
      false,
      each,
      `no other node advertised for instance${missing.length > 1 ? 's' : ''} ${names(routers)} within ${waited} ms after this node stepped back, so it takes part again in every instance` +
        (missing.some((h) => h.wasState === 'MASTER') ? ' (those VIPs come back here after about 3 advert intervals)' : '') +
        `; nothing else changed; --force gives the VIPs up anyway (${each.map(line).join('; ')})`,
    );
  } finally {
    watch.stop();
  }
}
