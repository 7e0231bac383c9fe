import { request } from 'node:http';

// Probes a URL on a fixed cadence, each on a fresh connection (a kept-alive
// one would stick to the old node), and records what happened.

export interface ProbeRecord {
  /** ms since the epoch when the request started and when it ended. */
  readonly start: number;
  readonly end: number;
  readonly ok: boolean;
}

function probeOnce(url: URL, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: timeoutMs, headers: { connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400));
      res.on('error', () => resolve(false));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(false));
    req.end();
  });
}

export class Prober {
  readonly records: ProbeRecord[] = [];
  #timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly url: URL,
    private readonly everyMs = 20,
    private readonly timeoutMs = 500,
  ) {}

  start(): void {
    // A new probe every `everyMs`, whether or not the last one returned: a hung
    // request must not slow the cadence down.
    this.#timer = setInterval(() => {
      const start = Date.now();
      void probeOnce(this.url, this.timeoutMs).then((ok) => this.records.push({ start, end: Date.now(), ok }));
    }, this.everyMs);
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    // Let the probes in flight finish so the record is complete.
    await new Promise((r) => setTimeout(r, this.timeoutMs + 50));
  }
}
