// Coalesces triggers into passes: a trigger marks work pending; a pass starts
// after `quietMs` without new triggers, but never later than `maxWaitMs`
// after the first pending one (like docker-gen's -wait min:max). Passes never
// overlap; triggers during a pass schedule exactly one more.

export interface SchedulerOptions {
  readonly quietMs: number;
  readonly maxWaitMs: number;
}

export class PassScheduler {
  #pending: string[] = [];
  #firstPendingAt = 0;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #closed = false;

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
    this.#running = this.runPass(triggers).finally(() => {
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

  close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    return this.#running ?? Promise.resolve();
  }
}
