import { get } from './agent.js';

// A bounded request loop through HAProxy, for "no failed request" checks: a
// few workers send GETs one after another until stopped, or until the cap
// (so a test that dies never leaves it running), and record every failure.

export interface LoadResult {
  readonly ok: number;
  readonly failures: readonly { readonly at: number; readonly what: string }[];
  readonly bodies: ReadonlyMap<string, number>;
}

export class Load {
  #stopped = false;
  #done: Promise<void> | null = null;
  #ok = 0;
  #failures: { at: number; what: string }[] = [];
  #bodies = new Map<string, number>();

  constructor(private readonly host: string, private readonly workers = 4, private readonly capMs = 180_000) {}

  start(): this {
    const until = Date.now() + this.capMs;
    const worker = async () => {
      while (!this.#stopped && Date.now() < until) {
        try {
          const r = await get('/', this.host);
          if (r.status === 200) {
            this.#ok += 1;
            this.#bodies.set(r.body, (this.#bodies.get(r.body) ?? 0) + 1);
          } else this.#failures.push({ at: Date.now(), what: `HTTP ${r.status}` });
        } catch (err) {
          this.#failures.push({ at: Date.now(), what: (err as Error).message });
        }
      }
    };
    this.#done = Promise.all(Array.from({ length: this.workers }, worker)).then(() => undefined);
    return this;
  }

  get ok(): number {
    return this.#ok;
  }

  /** Failures so far, while it runs. */
  get failures(): readonly { readonly at: number; readonly what: string }[] {
    return this.#failures;
  }

  async stop(): Promise<LoadResult> {
    this.#stopped = true;
    await this.#done;
    return { ok: this.#ok, failures: this.#failures, bodies: this.#bodies };
  }
}
