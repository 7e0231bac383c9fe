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

export interface AdvertSource {
  readonly adverts: readonly Advert[];
  readonly available: boolean;
  ready(): Promise<void>;
  stop(): void;
}

export interface StepBackParts {
  /** '1' puts the VRRP instance in FAULT (the maintenance track file), '0' lets it take part. */
  readonly writeTrack: (value: '0' | '1') => Promise<void>;
  readonly vrrpState: () => string;
  /** Starts watching VRRP adverts on the interface. */
  readonly watchAdverts: () => AdvertSource;
  /** This node's own addresses on the VRRP interface (its adverts are not a peer's). */
  readonly ownAddresses: () => Promise<readonly string[]>;
  readonly virtualRouterId: number;
  readonly advertIntMs: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface StepBackResult {
  readonly ok: boolean;
  /** The peer seen holding the VIP (its first advert after this node stepped back, or its last one as master). */
  readonly peer: { readonly address: string; readonly priority: number } | null;
  /** From stepping back until the peer's first advert (0 when this node was BACKUP). */
  readonly handoverMs: number | null;
  /** VRRP state when asked. */
  readonly wasState: string;
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

export async function stepBack(p: StepBackParts, force: boolean): Promise<StepBackResult> {
  const now = p.now ?? Date.now;
  const sleep = p.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const wasState = p.vrrpState();
  const own = new Set(await p.ownAddresses());
  const watch = p.watchAdverts();
  try {
    await watch.ready();
    const watchedFrom = now();
    if (!watch.available) {
      // Without tcpdump only BACKUP proves a peer: it hears a master, or it would be master.
      await p.writeTrack('1');
      if (wasState === 'BACKUP') return { ok: true, peer: null, handoverMs: 0, wasState, message: 'this node was BACKUP: the master keeps the VIP' };
      if (force) return { ok: true, peer: null, handoverMs: null, wasState, message: `this node was ${wasState}; VRRP adverts cannot be watched here (no tcpdump), so no peer was seen: given up anyway (--force)` };
      await p.writeTrack('0');
      return { ok: false, peer: null, handoverMs: null, wasState, message: `this node is ${wasState} and VRRP adverts cannot be watched here (no tcpdump): no peer can be seen; --force gives the VIP up anyway` };
    }
    const steppedBack = now();
    await p.writeTrack('1');
    const deadline = steppedBack + peerWindowMs(p.advertIntMs);
    // A BACKUP's master may have sent its advert a moment before we stepped back.
    const since = wasState === 'MASTER' ? steppedBack : watchedFrom;
    let peer: Advert | null = null;
    let fault = false;
    // Done once a peer advertised and keepalived said FAULT (a template of one's own may not track the file).
    while (!((peer = peerAdvert(watch.adverts, { vrid: p.virtualRouterId, own, since })) !== null && (fault ||= p.vrrpState() === 'FAULT')) && now() < deadline) {
      fault ||= p.vrrpState() === 'FAULT';
      await sleep(20);
    }
    if (!fault) {
      await p.writeTrack('0');
      return {
        ok: false,
        peer: null,
        handoverMs: null,
        wasState,
        message:
          `keepalived did not go FAULT within ${deadline - steppedBack} ms of the maintenance track file turning 1 (it is ${p.vrrpState()}): ` +
          'a keepalived template of your own must track that file as the shipped one does (track_file vipkeeper_maintenance); nothing changed',
      };
    }
    if (peer) {
      const handoverMs = wasState === 'MASTER' ? Math.max(0, peer.at - steppedBack) : 0;
      return {
        ok: true,
        peer: { address: peer.source, priority: peer.priority },
        handoverMs,
        wasState,
        message:
          wasState === 'MASTER'
            ? `${peer.source} holds the VIP: it advertised as master ${handoverMs} ms after this node stepped back`
            : `${peer.source} holds the VIP (this node was ${wasState})`,
      };
    }
    const waited = deadline - steppedBack;
    if (force) {
      return { ok: true, peer: null, handoverMs: null, wasState, message: `no other node advertised within ${waited} ms: the VIP has no holder (given up anyway: --force)` };
    }
    await p.writeTrack('0');
    return {
      ok: false,
      peer: null,
      handoverMs: null,
      wasState,
      message:
        `no other node of virtual router ${p.virtualRouterId} advertised within ${waited} ms after this node stepped back, so it takes part again` +
        (wasState === 'MASTER' ? ' (the VIP comes back here after about 3 advert intervals)' : '') +
        '; nothing else changed; --force gives the VIP up anyway',
    };
  } finally {
    watch.stop();
  }
}
