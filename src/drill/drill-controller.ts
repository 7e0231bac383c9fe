import { writeFile } from 'node:fs/promises';
import type { RetryPolicy } from '../agent/retry-policy.js';
import type { DrillAnswer, DrillMode, DrillRequest } from '../control/control-types.js';
import type { Logger } from '../log.js';

// A failover drill, this node's half: give the VIP up in the chosen way, or
// take part again. Every way ends in priority 0 adverts:
//   graceful: keepalived stops and sends priority 0;
//   haproxy:  haproxy stops, keepalived's track_process sees it -> FAULT;
//   fault:    the tracked file goes non-zero -> FAULT.
// A restore first ends the drill (passes run again at once), then undoes each
// step; a step that fails is retried by the retry policy, and health says so.

export type { DrillAnswer, DrillMode, DrillRequest } from '../control/control-types.js';

export interface DrillParts {
  readonly stopKeepalived: () => Promise<void>;
  readonly startKeepalived: () => void;
  readonly stopHaproxy: () => Promise<void>;
  /** Starts haproxy and resolves once a worker answers. */
  readonly startHaproxy: () => Promise<void>;
  /** The node's fault file, or with `instance` that instance's own track file (several instances). */
  readonly writeFault: (value: '0' | '1', instance?: string) => Promise<void>;
  /**
   * The VRRP instances that have a file of their own (several instances); absent or empty:
   * one instance, `default`, whose fault file is the node's.
   */
  readonly instances?: readonly string[];
  /** This node takes part in VRRP at all (the node role gate). */
  readonly takesPart: () => boolean;
  /** Passes stop while haproxy is down on purpose, and start again. */
  readonly pausePasses: (reason: string) => void;
  readonly resumePasses: (reason: string) => void;
  readonly retry: RetryPolicy;
  readonly log: Logger;
  /** A drill whose command vanished is undone by the agent after this long. */
  readonly safetyMs?: number;
}

export const RESTORE = 'drill restore';

type ChildSteps = Pick<DrillParts, 'stopKeepalived' | 'startKeepalived' | 'stopHaproxy' | 'startHaproxy' | 'writeFault'>;

/** A drill's steps on this node's supervised children and keepalived's tracked fault file. */
export function childSteps(
  haproxy: { start(): void; stop(): Promise<void>; waitReady(): Promise<unknown> },
  keepalived: { start(): void; stop(): Promise<void> },
  faultFile: string,
  instanceFile?: (instance: string) => string,
): ChildSteps {
  return {
    stopKeepalived: () => keepalived.stop(),
    startKeepalived: () => keepalived.start(),
    stopHaproxy: () => haproxy.stop(),
    startHaproxy: async () => {
      haproxy.start();
      await haproxy.waitReady();
    },
    writeFault: (v, instance) => writeFile(instance && instanceFile ? instanceFile(instance) : faultFile, `${v}\n`),
  };
}

export class DrillController {
  #drill: { mode: DrillMode; since: number; safety: NodeJS.Timeout; instance: string | undefined } | null = null;
  /** A restore whose step failed, tried again until it works. */
  #restoring: { mode: DrillMode; timer: NodeJS.Timeout | null; instance: string | undefined } | null = null;
  #closed = false;

  constructor(private readonly p: DrillParts) {}

  active(): { mode: DrillMode; since: string; instance?: string } | null {
    const d = this.#drill;
    return d ? { mode: d.mode, since: new Date(d.since).toISOString(), ...(d.instance ? { instance: d.instance } : {}) } : null;
  }

  /** haproxy is down on purpose: not a reason for an unhealthy agent. */
  haproxyDownOnPurpose(): boolean {
    return this.#drill?.mode === 'haproxy';
  }

  /** Why the node is not back yet after a drill, or null. */
  restoreProblem(): string | null {
    const f = this.p.retry.get(RESTORE);
    return f ? `restoring after a ${this.#restoring?.mode ?? 'drill'} drill keeps failing since ${f.since}: ${f.lastError}` : null;
  }

  async handle(request: DrillRequest): Promise<DrillAnswer> {
    if (request.action === 'restore') return this.#restore();
    if (this.#drill) return { ok: false, message: `a ${this.#drill.mode} drill is already running` };
    if (this.#restoring) return { ok: false, message: `the last ${this.#restoring.mode} drill is still being restored` };
    if (!this.p.takesPart()) return { ok: false, message: 'this node does not take part in VRRP (node role gate)' };
    // A fault drill of one instance writes that instance's own track file: only its VIPs move.
    // graceful and haproxy stop a process every instance depends on: they move them all.
    const named = this.p.instances ?? [];
    let instance: string | undefined;
    if (request.instance !== undefined && !(named.length === 0 && request.instance === 'default')) {
      if (!named.includes(request.instance)) {
        return { ok: false, message: `no VRRP instance ${request.instance} on this node (it has: ${named.length > 0 ? named.join(', ') : 'default'})` };
      }
      instance = request.instance;
    }
    const safety = setTimeout(() => {
      this.p.log.warn('drill: not restored in time by its command; restoring now');
      void this.#restore();
    }, this.p.safetyMs ?? 300_000);
    safety.unref();
    this.#drill = { mode: request.mode, since: Date.now(), safety, instance };
    this.p.log.warn({ mode: request.mode, ...(instance ? { instance } : {}) }, instance && request.mode === 'fault' ? `drill: this node gives instance ${instance}'s VIPs up` : 'drill: this node gives the VIP up');
    try {
      if (request.mode === 'graceful') await this.p.stopKeepalived();
      if (request.mode === 'haproxy') {
        this.p.pausePasses('haproxy drill');
        await this.p.stopHaproxy();
      }
      if (request.mode === 'fault') await (instance ? this.p.writeFault('1', instance) : this.p.writeFault('1'));
    } catch (err) {
      this.p.log.error({ err }, 'drill: could not give the VIP up; restoring');
      await this.#restore();
      return { ok: false, message: `the ${request.mode} drill could not start: ${(err as Error).message}` };
    }
    return { ok: true, message: `${request.mode} drill started` };
  }

  async #restore(): Promise<DrillAnswer> {
    const drill = this.#drill;
    if (!drill) return this.#restoring ? { ok: false, message: `still restoring after a ${this.#restoring.mode} drill` } : { ok: true, message: 'no drill running' };
    clearTimeout(drill.safety);
    this.#drill = null;
    this.#restoring = { mode: drill.mode, timer: null, instance: drill.instance };
    const ok = await this.#tryRestore(drill.mode, drill.instance);
    return ok
      ? { ok: true, message: `restored after a ${drill.mode} drill` }
      : { ok: false, message: `restoring after a ${drill.mode} drill failed; the agent keeps trying (see status)` };
  }

  async #tryRestore(mode: DrillMode, instance?: string): Promise<boolean> {
    if (this.#closed) return false;
    try {
      if (mode === 'graceful') this.p.startKeepalived();
      if (mode === 'haproxy') await this.p.startHaproxy();
      if (mode === 'fault') await (instance ? this.p.writeFault('0', instance) : this.p.writeFault('0'));
      this.p.retry.succeeded(RESTORE);
      this.#restoring = null;
      this.p.resumePasses('drill restored');
      this.p.log.info({ mode }, 'drill: this node restored');
      return true;
    } catch (err) {
      const { delayMs } = this.p.retry.failed(RESTORE, err);
      this.p.log.error({ err, mode, retryInMs: delayMs }, 'drill: restoring this node failed; trying again');
      // Passes run meanwhile: they keep the rest of the node in step.
      this.p.resumePasses('drill restore failing');
      if (this.#restoring) {
        this.#restoring.timer = setTimeout(() => void this.#tryRestore(mode, instance), delayMs);
        this.#restoring.timer.unref();
      }
      return false;
    }
  }

  close(): void {
    this.#closed = true;
    if (this.#drill) clearTimeout(this.#drill.safety);
    if (this.#restoring?.timer) clearTimeout(this.#restoring.timer);
  }
}
