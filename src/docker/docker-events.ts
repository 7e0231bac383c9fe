import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import type { Logger } from '../log.js';
import { lineSplitter } from '../util/lines.js';
import type { DockerEngine } from './docker-engine.js';

// Docker's /events stream for containers, kept open: on a lost connection it
// reconnects with backoff and says so ('resync'), because the engine replays
// little and nothing across its own restart. Events are only hints: the
// agent re-inspects the container each one names, and re-lists everything
// after a 'resync'. With a `label` filter the engine sends only the events of
// containers carrying it (a container's labels never change), so other
// containers' churn costs nothing here.

export interface ContainerEvent {
  /** container, or with Swarm also service and node. */
  readonly type: string;
  readonly action: string;
  readonly id: string;
  readonly name: string;
  /** For `kill`: the signal number or name Docker sent. */
  readonly signal: string | null;
  /** Engine clock, ms since the epoch. */
  readonly time: number;
}

export const WATCHED_ACTIONS = ['start', 'die', 'stop', 'kill', 'destroy', 'health_status', 'rename', 'update', 'pause', 'unpause'];

export type EventType = 'container' | 'service' | 'node';

const BACKOFF_MS = [200, 500, 1000, 2000, 5000];

export interface DockerEventsOptions {
  /** `key=value`: only events of containers carrying this label (container events only, not with Swarm). */
  readonly label?: string | null;
}

export class DockerEvents extends EventEmitter {
  #stream: Readable | null = null;
  #closed = false;
  #attempt = 0;
  #timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly engine: DockerEngine,
    private readonly log: Logger,
    private readonly types: readonly EventType[] = ['container'],
    private readonly options: DockerEventsOptions = {},
  ) {
    super();
  }

  /** The filters sent to /events. */
  filters(): Record<string, string[]> {
    // Service and node events have actions of their own (create, update, remove): take them all.
    if (!(this.types.length === 1 && this.types[0] === 'container')) return { type: [...this.types] };
    const label = this.options.label ?? null;
    return { type: ['container'], event: [...WATCHED_ACTIONS], ...(label !== null ? { label: [label] } : {}) };
  }

  /** Resolves once the stream is open (or keeps retrying in the background). */
  async start(): Promise<void> {
    await this.#connect();
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    try {
      const stream = (await this.engine.streamApi.getEvents({ filters: this.filters() })) as unknown as Readable;
      this.#stream = stream;
      const wasRetry = this.#attempt > 0;
      this.#attempt = 0;
      const split = lineSplitter((line) => {
        if (line.trim()) this.#onLine(line.trim());
      });
      stream.on('data', (chunk: Buffer | string) => {
        // Anything on the stream shows the engine alive, however slow its other answers.
        this.emit('data');
        split(chunk);
      });
      const lost = (why: string) => {
        if (this.#stream !== stream) return;
        this.#stream = null;
        if (!this.#closed) {
          this.log.warn({ endpoint: this.engine.endpoint, why }, 'Docker event stream lost; reconnecting');
          this.emit('lost');
          this.#scheduleReconnect();
        }
      };
      stream.on('end', () => lost('end'));
      stream.on('close', () => lost('close'));
      stream.on('error', (err: Error) => lost(err.message));
      if (wasRetry) {
        this.log.info({ endpoint: this.engine.endpoint }, 'Docker event stream back; resyncing');
        this.emit('resync');
      }
    } catch (err) {
      this.log.warn({ endpoint: this.engine.endpoint, err: (err as Error).message }, 'cannot open the Docker event stream');
      this.#scheduleReconnect();
    }
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#timer) return;
    const delay = BACKOFF_MS[Math.min(this.#attempt, BACKOFF_MS.length - 1)]!;
    this.#attempt += 1;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#connect();
    }, delay);
  }

  #onLine(line: string): void {
    let raw: { Type?: string; Action?: string; status?: string; id?: string; Actor?: { ID?: string; Attributes?: Record<string, string> }; time?: number; timeNano?: number };
    try {
      raw = JSON.parse(line) as typeof raw;
    } catch {
      return;
    }
    // health_status arrives as "health_status: healthy".
    const action = (raw.Action ?? raw.status ?? '').split(':')[0]!.trim();
    const event: ContainerEvent = {
      type: raw.Type ?? 'container',
      action,
      id: raw.Actor?.ID ?? raw.id ?? '',
      name: raw.Actor?.Attributes?.name ?? '',
      signal: raw.Actor?.Attributes?.signal ?? null,
      time: raw.timeNano ? Math.floor(raw.timeNano / 1e6) : raw.time ? raw.time * 1000 : Date.now(),
    };
    // Without the server-side action filter (Swarm), container exec and attach noise stops here.
    if (event.type === 'container' && !WATCHED_ACTIONS.includes(action)) return;
    this.emit('event', event);
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#stream?.destroy();
    this.#stream = null;
  }
}
