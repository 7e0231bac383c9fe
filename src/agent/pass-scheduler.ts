// Coalesces triggers into passes: a trigger marks work pending; a pass starts
// after `quietMs` without new triggers, but never later than `maxWaitMs`
// after the first pending one (like docker-gen's -wait min:max). Passes never
// overlap; triggers during a pass schedule exactly one more.

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
  #timer: NodeJS.Timeout | null = null;
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
    if (this.#pending.length === 0) this.#firstPendingAt = Date.now();
    if (!this.#pending.includes(reason)) this.#pending.push(reason);
    if (this.#running) return; // the running pass re-arms when it ends
    this.#arm();
  }

  #arm(): void {
    if (this.#timer) clearTimeout(this.#timer);
    const waited = Date.now() - this.#firstPendingAt;
    const delay = Math.max(0, Math.min(this.options.quietMs, this.options.maxWaitMs - waited));
    this.#timer = setTimeout(() => this.#fire(), delay);
  }

  #fire(): void {
    this.#timer = null;
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
