// Coalesces triggers into passes: a trigger marks work pending; a pass starts
// after `quietMs` without new triggers, but never later than `maxWaitMs`
// after the first pending one (like docker-gen's -wait min:max). Passes never
// overlap; triggers during a pass schedule exactly one more.
//
// Leading edge: a trigger after a quiet spell (no trigger and no pass for
// `quietMs`) starts its pass at once, with whatever else arrives in the same
// turn of the event loop. One container starting is one Docker event: waiting
// 50 ms for a burst that does not come was most of its event -> Runtime API
// time (60-84 ms p50 at 100-1000 backends). A burst still costs at most one
// pass more: what arrives while that pass runs waits for quiet as before.

export interface SchedulerOptions {
  readonly quietMs: number;
  readonly maxWaitMs: number;
  /**
   * A pass that threw (it should not: passes catch their own failures). The
   * scheduler goes on either way; this only gets to say so.
   */
  readonly onError?: (err: unknown) => void;
}

export class PassScheduler {
  #pending: string[] = [];
  #firstPendingAt = 0;
  /** The last trigger, or the end of the last pass: what the quiet spell is counted from. */
  #lastActivity = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | null = null;
  /** The armed timer is a leading-edge one (fires at once): later triggers ride along. */
  #leading = false;
  #running: Promise<void> | null = null;
  #closed = false;
  readonly #later = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly options: SchedulerOptions,
    /** `waitedMs`: how long the first of `triggers` waited (debounce, a pass running meanwhile). */
    private readonly runPass: (triggers: readonly string[], waitedMs: number) => Promise<void>,
  ) {}

  trigger(reason: string): void {
    if (this.#closed) return;
    const now = Date.now();
    const quiet = now - this.#lastActivity >= this.options.quietMs;
    this.#lastActivity = now;
    if (this.#pending.length === 0) this.#firstPendingAt = now;
    if (!this.#pending.includes(reason)) this.#pending.push(reason);
    if (this.#running) return; // the running pass re-arms when it ends
    if (this.#timer && this.#leading) return; // a pass starts at once and takes this one along
    this.#arm(quiet && this.#timer === null);
  }

  #arm(leading = false): void {
    if (this.#timer) clearTimeout(this.#timer);
    const waited = Date.now() - this.#firstPendingAt;
    const delay = leading ? 0 : Math.max(0, Math.min(this.options.quietMs, this.options.maxWaitMs - waited));
    this.#leading = leading;
    this.#timer = setTimeout(() => this.#fire(), delay);
  }

  #fire(): void {
    this.#timer = null;
    this.#leading = false;
    if (this.#closed || this.#pending.length === 0) return;
    const triggers = this.#pending;
    const waitedMs = Date.now() - this.#firstPendingAt;
    this.#pending = [];
    // A rejected pass must never become an unhandled rejection, nor stop the loop.
    let run: Promise<void>;
    try {
      run = this.runPass(triggers, waitedMs);
    } catch (err) {
      run = Promise.reject(err);
    }
    this.#running = run
      .catch((err: unknown) => {
        try {
          this.options.onError?.(err);
        } catch {
          /* a failing error handler must not stop the loop either */
        }
      })
      .finally(() => {
        this.#running = null;
        this.#lastActivity = Date.now();
        if (this.#pending.length > 0) this.#arm();
      });
  }

  /** Resolves when no pass is running and none is pending. */
  async idle(): Promise<void> {
    while (this.#running || this.#timer) {
      await (this.#running ?? new Promise((r) => setTimeout(r, 10)));
    }
  }

  /**
   * Marks a pass pending after `delayMs`. One timer per `key` (a retry, a swarm
   * settle): a new call for the same key replaces the old one; a trigger
   * meanwhile runs a pass sooner anyway.
   */
  triggerAfter(delayMs: number, reason: string, key = 'retry'): void {
    if (this.#closed) return;
    const old = this.#later.get(key);
    if (old) clearTimeout(old);
    const timer = setTimeout(() => {
      this.#later.delete(key);
      this.trigger(reason);
    }, delayMs);
    timer.unref();
    this.#later.set(key, timer);
  }

  close(): Promise<void> {
    for (const t of this.#later.values()) clearTimeout(t);
    this.#later.clear();
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    return this.#running ?? Promise.resolve();
  }
}
