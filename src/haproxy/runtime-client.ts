import { setTimeout as delay } from 'node:timers/promises';
import { RuntimeApiError } from '../errors.js';
import {
  answerOk,
  assertBatchable,
  batchLabel,
  type Connect,
  connectUnix,
  DEFAULT_TIMEOUT_MS,
  type Expected,
  parseServersState,
  runtimeBatch,
  runtimeCommand,
  type RuntimeApi,
  type ServerStateRow,
} from './runtime-api.js';

// The one way the agent talks to HAProxy's admin socket. HAProxy serves its
// stats socket a few connections at a time (2.6: 10, then the accept backlog,
// then EAGAIN), so 50 drains sent at once made most of them fail and the pass
// fall back to a reload. Here every command and batch takes a place in one
// FIFO queue and at most `concurrency` connections are open at once; a
// transient socket error is retried with a short backoff while the request
// keeps its place; and `show servers state` is shared between callers.

export interface RuntimeClientOptions {
  /** Connections open at once (default 3). */
  readonly concurrency?: number;
  /** Requests waiting for a connection; one more is refused with RuntimeApiError (default 1000). */
  readonly maxQueued?: number;
  /** Tries per request when the socket fails transiently, the first included (default 5). */
  readonly attempts?: number;
  /** Wait before the first retry, doubling for each next one (default 25 ms: 25, 50, 100, 200). */
  readonly retryDelayMs?: number;
  /** Per try, from connecting to HAProxy's closing, for a command or a whole batch (default 5000 ms). */
  readonly timeoutMs?: number;
  /** Opens a connection (tests inject failures here). */
  readonly connect?: Connect;
  /** Clock for the `show servers state` cache (tests). */
  readonly now?: () => number;
}

export interface RuntimeClientStats {
  /** Connections open now. */
  readonly active: number;
  /** Requests waiting for a connection now. */
  readonly waiting: number;
  /** Most connections ever open at once. */
  readonly peakActive: number;
  /** Most requests ever waiting at once. */
  readonly peakWaiting: number;
  /** Exchanges run (each try counts). */
  readonly exchanges: number;
  /** Tries repeated after a transient socket error. */
  readonly retries: number;
  /** Requests refused because the queue was full or the client closed. */
  readonly refused: number;
}

interface CachedState {
  readonly rows: Promise<ServerStateRow[]>;
  /** When the answer arrived; null while the request is in flight. */
  at: number | null;
}

export class RuntimeClient implements RuntimeApi {
  readonly #socket: string;
  readonly #concurrency: number;
  readonly #maxQueued: number;
  readonly #attempts: number;
  readonly #retryDelayMs: number;
  readonly #timeoutMs: number;
  readonly #connect: Connect;
  readonly #now: () => number;

  #active = 0;
  readonly #waiting: { readonly go: () => void; readonly refuse: (err: RuntimeApiError) => void }[] = [];
  #closed = false;
  #state: CachedState | null = null;
  #stats = { peakActive: 0, peakWaiting: 0, exchanges: 0, retries: 0, refused: 0 };

  constructor(socket: string, options: RuntimeClientOptions = {}) {
    this.#socket = socket;
    this.#concurrency = positive('concurrency', options.concurrency ?? 3);
    this.#maxQueued = Math.max(0, options.maxQueued ?? 1000);
    this.#attempts = positive('attempts', options.attempts ?? 5);
    this.#retryDelayMs = Math.max(0, options.retryDelayMs ?? 25);
    this.#timeoutMs = positive('timeoutMs', options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    this.#connect = options.connect ?? connectUnix;
    this.#now = options.now ?? Date.now;
  }

  get socket(): string {
    return this.#socket;
  }

  command(command: string, timeoutMs = this.#timeoutMs): Promise<string> {
    return this.#run(command, () => runtimeCommand(this.#socket, command, timeoutMs, this.#connect));
  }

  async expect(command: string, ok: Expected): Promise<string> {
    const answer = await this.command(command);
    if (!answerOk(answer, ok)) throw new RuntimeApiError(command, answer);
    return answer;
  }

  /** One place in the queue and one connection for all `commands` (interactive mode). */
  async batch(commands: readonly string[], timeoutMs = this.#timeoutMs): Promise<string[]> {
    assertBatchable(commands);
    if (commands.length === 0) return [];
    return this.#run(batchLabel(commands), () => runtimeBatch(this.#socket, commands, timeoutMs, this.#connect));
  }

  /**
   * `show servers state`. An answer at most `maxAgeMs` old is reused, and callers
   * with maxAgeMs > 0 share the request in flight, so a flood of status readers
   * costs one command per `maxAgeMs`. maxAgeMs 0 (the default) always asks HAProxy
   * (and refreshes what the others get). A failed request is not kept.
   */
  serversState(maxAgeMs = 0): Promise<ServerStateRow[]> {
    const cached = this.#state;
    if (cached && maxAgeMs > 0 && (cached.at === null || this.#now() - cached.at <= maxAgeMs)) return cached.rows;
    const entry: CachedState = {
      rows: this.command('show servers state').then(parseServersState),
      at: null,
    };
    this.#state = entry;
    entry.rows.then(
      () => {
        entry.at = this.#now();
      },
      () => {
        if (this.#state === entry) this.#state = null;
      },
    );
    return entry.rows;
  }

  stats(): RuntimeClientStats {
    return { active: this.#active, waiting: this.#waiting.length, ...this.#stats };
  }

  /** Refuses new requests and the waiting ones; those on a connection finish. */
  close(): void {
    this.#closed = true;
    for (const w of this.#waiting.splice(0)) {
      this.#stats.refused += 1;
      w.refuse(new RuntimeApiError('(queued)', 'runtime client closed'));
    }
  }

  async #run<T>(label: string, exchange: () => Promise<T>): Promise<T> {
    await this.#acquire(label);
    try {
      for (let attempt = 1; ; attempt++) {
        this.#stats.exchanges += 1;
        try {
          return await exchange();
        } catch (err) {
          if (!(err instanceof RuntimeApiError) || !err.transient || attempt >= this.#attempts || this.#closed) throw err;
          // Keep the connection slot while waiting: a busy HAProxy gets less, not more.
          this.#stats.retries += 1;
          await delay(this.#retryDelayMs * 2 ** (attempt - 1));
        }
      }
    } finally {
      this.#release();
    }
  }

  #acquire(label: string): Promise<void> {
    if (this.#closed) {
      this.#stats.refused += 1;
      return Promise.reject(new RuntimeApiError(label, 'runtime client closed'));
    }
    if (this.#active < this.#concurrency) {
      this.#active += 1;
      this.#stats.peakActive = Math.max(this.#stats.peakActive, this.#active);
      return Promise.resolve();
    }
    if (this.#waiting.length >= this.#maxQueued) {
      this.#stats.refused += 1;
      return Promise.reject(new RuntimeApiError(label, `queue full: ${this.#waiting.length} requests already wait for the admin socket`));
    }
    return new Promise((go, refuse) => {
      this.#waiting.push({ go, refuse });
      this.#stats.peakWaiting = Math.max(this.#stats.peakWaiting, this.#waiting.length);
    });
  }

  #release(): void {
    const next = this.#waiting.shift();
    // The slot passes straight to the oldest waiter: FIFO, and `active` never dips in between.
    if (next) next.go();
    else this.#active -= 1;
  }
}

function positive(name: string, n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`RuntimeClient: ${name} must be a whole number >= 1, got ${n}`);
  return n;
}
