import type { EngineLink } from '../docker/engine-link.js';

// The safety net under events: every so often every engine lists everything
// again, whatever events said, and a pass runs on that. Events can be lost (a
// subscriber that lags is dropped by dockerd, nothing is replayed across its
// restart); this bounds how long a missed one can go unseen.

export const RESYNC_EVERY_MS = 60_000;
/** Swarm tasks on other nodes send no events to the manager we read: it is polled every second. */
export const SWARM_RESYNC_EVERY_MS = 1000;

export const resyncEveryMs = (swarm: boolean, given?: number): number => given ?? (swarm ? SWARM_RESYNC_EVERY_MS : RESYNC_EVERY_MS);

export interface ResyncParts {
  readonly everyMs: number;
  readonly links: readonly Pick<EngineLink, 'markStale'>[];
  readonly trigger: (reason: string) => void;
}

export class ResyncTimer {
  #timer: NodeJS.Timeout | null = null;

  constructor(private readonly p: ResyncParts) {}

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      for (const l of this.p.links) l.markStale('periodic resync');
      this.p.trigger('periodic resync');
    }, this.p.everyMs);
    this.#timer.unref();
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}
