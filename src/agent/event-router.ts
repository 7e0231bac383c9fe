import type { EventEmitter } from 'node:events';
import type { ContainerEvent } from '../docker/docker-events.js';
import type { PassScheduler } from './pass-scheduler.js';
import type { StopTracker } from './stop-tracker.js';

// Where what the engines and haproxy say goes. A container event reaches the
// stop tracker first (a stopping container is drained at once, without waiting
// for a pass), then marks a pass pending. With Swarm, a task is called running a
// moment after its container starts, so one more pass follows once that settles.
// An engine that changed (reconnected, resynced, lost) and a haproxy that
// restarted only mark a pass pending.

/** How long after a container event a swarm's task state has settled. */
export const SWARM_SETTLE_MS = 250;

type Emitter = Pick<EventEmitter, 'on'>;
type Triggers = Pick<PassScheduler, 'trigger' | 'triggerAfter'>;

export interface EngineRoutes {
  readonly links: readonly Emitter[];
  readonly stops: Pick<StopTracker, 'onEvent'>;
  readonly scheduler: Triggers;
  readonly swarm: boolean;
}

export function routeEngineEvents(r: EngineRoutes): void {
  for (const link of r.links) {
    link.on('event', (e: ContainerEvent) => {
      r.stops.onEvent(e);
      r.scheduler.trigger(`${e.action}${e.name ? ` ${e.name}` : ''}`);
      if (r.swarm) r.scheduler.triggerAfter(SWARM_SETTLE_MS, 'swarm settle', 'swarm settle');
    });
    link.on('changed', (why: string) => r.scheduler.trigger(why));
  }
}

/** A haproxy the supervisor started again runs the last file: a pass puts the servers back. */
export function routeHaproxyRestarts(haproxy: Emitter, scheduler: Pick<Triggers, 'trigger'>): void {
  haproxy.on('started', () => scheduler.trigger('haproxy restarted'));
}
