import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { routeEngineEvents, routeHaproxyRestarts, SWARM_SETTLE_MS } from '../../src/agent/event-router.js';
import type { ContainerEvent } from '../../src/docker/docker-events.js';

// Every container event reaches the stop tracker before it marks a pass
// pending (a stopping container is drained without waiting for the pass), from
// every engine; with Swarm one more pass follows once a task's state settled.

const event = (action: string, name = 'web-1'): ContainerEvent => ({ type: 'container', action, id: 'c1', name, signal: null, time: 0 });

function rig(swarm: boolean, engines = 1) {
  const calls: string[] = [];
  const links = Array.from({ length: engines }, () => new EventEmitter());
  const scheduler = {
    trigger: (why: string) => void calls.push(`trigger ${why}`),
    triggerAfter: (ms: number, why: string, key?: string) => void calls.push(`after ${ms} ${why} [${key}]`),
  };
  routeEngineEvents({ links, stops: { onEvent: (e) => void calls.push(`stops ${e.action}`) }, scheduler, swarm });
  return { calls, links, scheduler };
}

describe('event routes', () => {
  it('a container event goes to the stop tracker first, then marks a pass named after it', () => {
    const r = rig(false);
    r.links[0]!.emit('event', event('stop'));
    r.links[0]!.emit('event', event('die', ''));
    expect(r.calls).toEqual(['stops stop', 'trigger stop web-1', 'stops die', 'trigger die']);
  });

  it('events of every engine are followed', () => {
    const r = rig(false, 2);
    r.links[1]!.emit('event', event('start'));
    expect(r.calls).toEqual(['stops start', 'trigger start web-1']);
  });

  it('with Swarm, each event also asks for one settle pass (one timer, replaced by the next event)', () => {
    const r = rig(true);
    r.links[0]!.emit('event', event('start'));
    expect(r.calls).toEqual(['stops start', 'trigger start web-1', `after ${SWARM_SETTLE_MS} swarm settle [swarm settle]`]);
  });

  it('an engine that changed (reconnected, resynced, lost) marks a pass with its reason', () => {
    const r = rig(false);
    r.links[0]!.emit('changed', 'engine local up');
    expect(r.calls).toEqual(['trigger engine local up']);
  });

  it('a haproxy the supervisor started again marks a pass that puts its servers back', () => {
    const r = rig(false);
    const haproxy = new EventEmitter();
    routeHaproxyRestarts(haproxy, r.scheduler);
    haproxy.emit('started', 4242);
    expect(r.calls).toEqual(['trigger haproxy restarted']);
  });
});
