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
  #retryTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly options: SchedulerOptions,
    private readonly runPass: (triggers: readonly string[]) => Promise<void>,
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
    this.#pending = [];
    // A rejected pass must never become an unhandled rejection, nor stop the loop.
    let run: Promise<void>;
    try {
      run = this.runPass(triggers);
    } catch (err) {
      run = Promise.reject(err);
    }
    this.#running = run
      .catch((err: unknown) => this.options.onError?.(err))
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

  /** Marks a pass pending after `delayMs` (a retry); a trigger meanwhile runs it sooner. */
  triggerAfter(delayMs: number, reason: string): void {
    if (this.#closed) return;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      this.trigger(reason);
    }, delayMs);
    this.#retryTimer.unref();
  }

  close(): Promise<void> {
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    return this.#running ?? Promise.resolve();
  }
}
