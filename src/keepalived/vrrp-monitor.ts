import type { Cidr } from '../config/env-schema.js';
import { vipsPresent } from '../host/vip-addresses.js';
import type { Logger } from '../log.js';
import type { VrrpState, VrrpTransition } from './notify-fifo.js';

// What keepalived says (transitions from the notify FIFO) against what the
// interface shows. "VIPs present if and only if MASTER" is checked every
// second; a mismatch that outlives a short settling time is logged as an error.

export interface TransitionRecord {
  readonly state: VrrpState;
  readonly priority: number;
  readonly at: string;
}

export interface VrrpSnapshot {
  readonly instance: string;
  readonly state: VrrpState | 'UNKNOWN';
  readonly since: string | null;
  readonly transitions: readonly TransitionRecord[];
  readonly transitionCounts: Readonly<Record<string, number>>;
  readonly vipsHeld: readonly string[];
  readonly consistent: boolean;
}

const SETTLE_MS = 3000;
const KEEP_TRANSITIONS = 50;

export class VrrpMonitor {
  #state: VrrpState | 'UNKNOWN' = 'UNKNOWN';
  #since: number | null = null;
  #transitions: TransitionRecord[] = [];
  #counts: Record<string, number> = {};
  #held: string[] = [];
  #consistent = true;
  #mismatchSince: number | null = null;
  #timer: NodeJS.Timeout | null = null;

  constructor(
    readonly instance: string,
    private readonly iface: string,
    private readonly vips: readonly Cidr[],
    private readonly log: Logger,
  ) {}

  onTransition(t: VrrpTransition): void {
    if (t.instance !== this.instance) return;
    const now = Date.now();
    this.#state = t.state;
    this.#since = now;
    this.#counts[t.state] = (this.#counts[t.state] ?? 0) + 1;
    this.#transitions = [...this.#transitions, { state: t.state, priority: t.priority, at: new Date(now).toISOString() }].slice(-KEEP_TRANSITIONS);
    this.log.info({ instance: t.instance, state: t.state, priority: t.priority }, `VRRP ${t.instance} is now ${t.state}`);
  }

  /**
   * A keepalived kept from an earlier agent said its last transitions to that
   * agent: until it says the next, its state is what the interface shows.
   */
  async inferFromInterface(): Promise<void> {
    const held = (await vipsPresent(this.iface, this.vips)).length > 0;
    this.onTransition({ instance: this.instance, state: held ? 'MASTER' : 'BACKUP', priority: 0 });
    this.log.info({ state: this.#state }, 'VRRP state inferred from the interface (keepalived kept from an earlier agent)');
  }

  /** keepalived is not running (stopped, gated off): it holds nothing. */
  markStopped(): void {
    if (this.#state !== 'STOP' && this.#state !== 'UNKNOWN') this.onTransition({ instance: this.instance, state: 'STOP', priority: 0 });
  }

  start(everyMs = 1000): void {
    this.#timer = setInterval(() => void this.check(), everyMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }

  async check(): Promise<void> {
    const present = await vipsPresent(this.iface, this.vips);
    this.#held = present.map((v) => `${v.address}/${v.prefix}`);
    const master = this.#state === 'MASTER';
    const allHeld = present.length === this.vips.length;
    const ok = master ? allHeld : present.length === 0;
    const now = Date.now();
    if (ok) {
      if (!this.#consistent) this.log.info({ state: this.#state, vips: this.#held }, 'VIPs and VRRP state agree again');
      this.#consistent = true;
      this.#mismatchSince = null;
      return;
    }
    this.#mismatchSince ??= now;
    // Right after a transition keepalived is still adding or removing addresses.
    const settled = now - Math.max(this.#mismatchSince, this.#since ?? 0) >= SETTLE_MS;
    if (settled && this.#consistent) {
      this.#consistent = false;
      this.log.error(
        { state: this.#state, vipsHeld: this.#held, vips: this.vips.map((v) => v.address), interface: this.iface },
        master ? 'MASTER but the VIPs are not all on the interface' : `${this.#state} but VIPs are on the interface: two holders are possible`,
      );
    }
  }

  snapshot(): VrrpSnapshot {
    return {
      instance: this.instance,
      state: this.#state,
      since: this.#since === null ? null : new Date(this.#since).toISOString(),
      transitions: this.#transitions,
      transitionCounts: { ...this.#counts },
      vipsHeld: this.#held,
      consistent: this.#consistent,
    };
  }
}

/** One instance's snapshot, with the operator's name for it (`web`; `default` for the one instance). */
export interface InstanceVrrpSnapshot extends VrrpSnapshot {
  readonly name: string;
}

export interface WatchedInstance {
  readonly name: string;
  readonly keepalivedName: string;
  readonly interface: string;
  readonly virtualIps: readonly Cidr[];
}

/**
 * A VrrpMonitor per VRRP instance behind the one monitor's face: transitions go
 * to the instance they name, and snapshot() is the first instance's, for the
 * parts that know one instance (maintenance, drills without --instance).
 */
export class VrrpInstances {
  readonly #monitors: readonly { readonly name: string; readonly monitor: VrrpMonitor }[];

  constructor(instances: readonly WatchedInstance[], log: Logger) {
    if (instances.length === 0) throw new Error('VrrpInstances needs at least one instance');
    this.#monitors = instances.map((i) => ({ name: i.name, monitor: new VrrpMonitor(i.keepalivedName, i.interface, i.virtualIps, log) }));
  }

  onTransition(t: VrrpTransition): void {
    for (const { monitor } of this.#monitors) monitor.onTransition(t);
  }

  async inferFromInterface(): Promise<void> {
    for (const { monitor } of this.#monitors) await monitor.inferFromInterface();
  }

  markStopped(): void {
    for (const { monitor } of this.#monitors) monitor.markStopped();
  }

  start(everyMs = 1000): void {
    for (const { monitor } of this.#monitors) monitor.start(everyMs);
  }

  stop(): void {
    for (const { monitor } of this.#monitors) monitor.stop();
  }

  async check(): Promise<void> {
    for (const { monitor } of this.#monitors) await monitor.check();
  }

  /** The first instance's: what a part that knows one instance asks. */
  snapshot(): VrrpSnapshot {
    return this.#monitors[0]!.monitor.snapshot();
  }

  snapshots(): InstanceVrrpSnapshot[] {
    return this.#monitors.map(({ name, monitor }) => ({ name, ...monitor.snapshot() }));
  }

  /** The named instance's snapshot, or null when there is none of that name. */
  snapshotOf(name: string): InstanceVrrpSnapshot | null {
    return this.snapshots().find((s) => s.name === name) ?? null;
  }
}
