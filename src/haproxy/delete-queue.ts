import type { Logger } from '../log.js';
import type { Clock } from '../agent/retry-policy.js';
import { systemClock } from '../agent/retry-policy.js';
import type { RuntimeApi, ServerStateRow } from './runtime-api.js';
import { hostPort } from '../config/patterns.js';

// Servers drained for removal that HAProxy would not delete yet (`del server`
// refuses while connections are attached). Retried until they go. Two rules
// keep it from ever touching a live server:
// - a server added again under the same name cancels its pending delete (the
//   applier asks `cancel` before it adds);
// - before each try the server is looked up: a delete whose server is no longer
//   the one we drained (another address, or out of maintenance) is dropped.
// After `forceAfterMs` connections still attached to the dead container can
// never finish: they are shut down, for that server only.
//
// No delete is tried before the server has been in maintenance for `settleMs`.
// HAProxy 2.6 before its fix "server/cli: don't delete a dynamic server that has
// streams" (2.9-dev6, 95c4d2482, "should be backported up to 2.6"; Debian 12
// ships 2.6.12 without it) checks only cur_sess, which drops while a stream is
// between a failed attempt and its retry (retry-on, redispatch): `del server`
// then frees a server that stream still points to, and the worker dies of heap
// corruption. Measured on Debian 12's 2.6.12: 16 worker crashes (exit 134/139)
// in 5 single-replica churn bench runs while `maint` and `del server` went in
// one batch, each right after such a delete.
// Once in maintenance, a retrying stream moves to another server at its next
// attempt, within min(timeout connect, 1 s).

export interface PendingDelete {
  readonly backend: string;
  readonly server: string;
  /** addr:port when it was drained: the identity checked before each try. */
  readonly address: string;
  readonly since: number;
}

export interface DeleteQueueOptions {
  readonly retryMs: number;
  readonly forceAfterMs: number;
  /** How long a server stays in maintenance before its first delete (default DELETE_SETTLE_MS). */
  readonly settleMs?: number;
}

/** Longer than HAProxy's retry turn-around (min(timeout connect, 1 s)), with room to spare. */
export const DELETE_SETTLE_MS = 2000;

const MAINT = 0x01;
const key = (backend: string, server: string) => `${backend}/${server}`;

export class DeleteQueue {
  readonly #pending = new Map<string, PendingDelete>();
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #closed = false;

  constructor(
    private readonly api: RuntimeApi,
    private readonly log: Logger,
    private readonly options: DeleteQueueOptions = { retryMs: 250, forceAfterMs: 30_000 },
    private readonly clock: Clock = systemClock,
  ) {}

  add(p: PendingDelete): void {
    if (this.#closed) return;
    this.#pending.set(key(p.backend, p.server), p);
    this.#arm();
  }

  /** A server of this name is being added again: its old delete must not run. True when one was pending. */
  cancel(backend: string, server: string): boolean {
    return this.#pending.delete(key(backend, server));
  }

  /** Resolves once no round is running, so a caller that just cancelled knows no old try is in flight. */
  async idle(): Promise<void> {
    await this.#running;
  }

  has(backend: string, server: string): boolean {
    return this.#pending.has(key(backend, server));
  }

  pending(): PendingDelete[] {
    return [...this.#pending.values()];
  }

  #arm(): void {
    if (this.#timer || this.#running || this.#closed || this.#pending.size === 0) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#running = this.runOnce()
        .catch((err: unknown) => this.log.warn({ err }, 'pending server deletes: a round failed; trying again'))
        .finally(() => {
          this.#running = null;
          this.#arm();
        });
    }, this.options.retryMs);
    this.#timer.unref();
  }

  /** Has this server been in maintenance long enough that no stream can still point to it? */
  settled(p: PendingDelete): boolean {
    return this.clock.now() - p.since >= this.settleMs;
  }

  get settleMs(): number {
    return this.options.settleMs ?? DELETE_SETTLE_MS;
  }

  /** One round over every pending delete. Exposed for tests; the timer calls it. */
  async runOnce(): Promise<void> {
    if (![...this.#pending.values()].some((p) => this.settled(p))) return;
    const rows = await this.api.serversState(0);
    const byName = new Map<string, ServerStateRow>(rows.map((r) => [key(r.backend, r.server), r]));
    for (const p of [...this.#pending.values()]) {
      const k = key(p.backend, p.server);
      if (this.#pending.get(k) !== p) continue; // cancelled or replaced meanwhile
      if (!this.settled(p)) continue;
      const row = byName.get(k);
      if (!row) {
        this.#pending.delete(k); // already gone
        continue;
      }
      if (hostPort(row.address, row.port) !== p.address || (row.adminState & MAINT) === 0) {
        this.log.info({ server: k }, 'pending delete dropped: the server is no longer the one that was drained');
        this.#pending.delete(k);
        continue;
      }
      let done = await this.#tryDelete(p);
      // Cancelled while `del server` was in flight (the server came back): leave it alone.
      if (!done && this.#pending.get(k) === p && this.clock.now() - p.since > this.options.forceAfterMs) {
        this.log.warn({ server: k, afterMs: this.options.forceAfterMs }, 'connections to a removed server never finished: shutting them down');
        await this.api.command(`shutdown sessions server ${k}`);
        done = await this.#tryDelete(p);
      }
      if (done && this.#pending.get(k) === p) this.#pending.delete(k);
    }
  }

  async #tryDelete(p: PendingDelete): Promise<boolean> {
    const answer = await this.api.command(`del server ${key(p.backend, p.server)}`);
    return /Server deleted|No such server|No such backend/i.test(answer);
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
