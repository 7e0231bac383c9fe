import type { ContainerEvent } from '../docker/docker-events.js';
import type { HaproxyApplier } from '../haproxy/haproxy-applier.js';
import type { Logger } from '../log.js';
import type { ContainerInfo } from '../model/container.js';
import type { Service } from '../model/desired-state.js';
import { backendName } from '../render/haproxy-view.js';
import { type Clock, systemClock } from './retry-policy.js';

// Containers Docker is stopping: a `stop`, or a `kill` with a signal that ends
// it, marks the container at once and drains its servers without waiting for a
// pass; the mark keeps it out of every plan until the container is gone or
// started again. A plain `docker kill -s HUP` is not a stop.

const TERMINATING_SIGNALS = new Set(['15', '9', '2', '3', 'SIGTERM', 'SIGKILL', 'SIGINT', 'SIGQUIT', 'TERM', 'KILL', 'INT', 'QUIT']);
export const STOPPING_FORGET_MS = 120_000;

export function isStopEvent(e: ContainerEvent): boolean {
  return e.action === 'stop' || (e.action === 'kill' && e.signal !== null && TERMINATING_SIGNALS.has(e.signal));
}

export class StopTracker {
  /** id -> when it stopped (engine clock, ms) and when we saw it (our clock). */
  readonly #marks = new Map<string, { eventAt: number; seenAt: number }>();

  constructor(
    private readonly drain: (containerId: string) => void,
    private readonly clock: Clock = systemClock,
  ) {}

  onEvent(e: ContainerEvent): void {
    if (isStopEvent(e) && !this.#marks.has(e.id)) {
      this.#marks.set(e.id, { eventAt: e.time, seenAt: this.clock.now() });
      this.drain(e.id);
    }
    if (e.action === 'start') this.#marks.delete(e.id);
  }

  /** The containers marked stopping now, as last pruned (for `vipkeeper show`: who drained a server). */
  ids(): ReadonlySet<string> {
    return new Set(this.#marks.keys());
  }

  /** The stopping set for a plan of `containers`; marks of containers gone, restarted or too old are forgotten. */
  current(containers: readonly ContainerInfo[]): ReadonlySet<string> {
    const now = this.clock.now();
    const live = new Map(containers.filter((c) => c.running).map((c) => [c.id, c]));
    for (const [id, mark] of this.#marks) {
      const c = live.get(id);
      // A restart whose start event we missed (the stream was reconnecting) shows as a later start time.
      if (!c || c.startedAt > mark.eventAt || now - mark.seenAt > STOPPING_FORGET_MS) this.#marks.delete(id);
    }
    return new Set(this.#marks.keys());
  }
}

/**
 * The drain a StopTracker asks for: the stopping container's servers among the
 * services live now, drained at once. It never throws: a drain that fails is
 * logged, and the next pass removes the servers anyway.
 */
export function drainStopping(p: {
  readonly haproxy: Pick<HaproxyApplier, 'drainContainer'>;
  readonly services: () => readonly Service[];
  readonly log: Logger;
}): (containerId: string) => void {
  return (id) => {
    p.haproxy.drainContainer(p.services(), backendName, id).then(
      (drained) => drained.length > 0 && p.log.info({ servers: drained }, 'container stopping: server drained'),
      (err: unknown) => p.log.warn({ err }, 'could not drain a stopping container; the next pass removes it'),
    );
  };
}
