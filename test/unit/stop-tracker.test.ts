import { describe, expect, it } from 'vitest';
import type { Clock } from '../../src/agent/retry-policy.js';
import { drainStopping, isStopEvent, STOPPING_FORGET_MS, StopTracker } from '../../src/agent/stop-tracker.js';
import type { ContainerEvent } from '../../src/docker/docker-events.js';
import type { Service } from '../../src/model/desired-state.js';
import { container, server, service } from './fixtures.js';
import { recordingLog } from './support/fakes.js';

// A container Docker is stopping is drained at once (one drain per stop) and
// kept out of plans until it is gone, started again, or the mark is too old.

const T0 = Date.UTC(2026, 0, 1);
const web = container({ name: 'web-1', startedAt: T0 - 60_000 });

const event = (action: string, signal: string | null = null, time = T0, id = web.id): ContainerEvent => ({
  type: 'container',
  action,
  id,
  name: 'web-1',
  signal,
  time,
});

function setup() {
  let now = T0;
  const clock: Clock & { advance(ms: number): void } = { now: () => now, advance: (ms) => void (now += ms) };
  const drained: string[] = [];
  const tracker = new StopTracker((id) => drained.push(id), clock);
  return { clock, drained, tracker };
}

describe('StopTracker: what counts as a stop', () => {
  it.each([
    ['stop', null],
    ['kill', 'TERM'],
    ['kill', 'KILL'],
    ['kill', '15'],
    ['kill', '9'],
    ['kill', 'SIGTERM'],
    ['kill', 'SIGKILL'],
    ['kill', 'INT'],
    ['kill', 'QUIT'],
  ])('%s %s marks the container and drains it once', (action, signal) => {
    const { drained, tracker } = setup();
    tracker.onEvent(event(action, signal));
    expect(drained).toEqual([web.id]);
    expect(tracker.current([web])).toEqual(new Set([web.id]));
  });

  it.each([
    ['kill', 'HUP'],
    ['kill', 'SIGHUP'],
    ['kill', '1'],
    ['kill', 'USR1'],
    ['kill', null],
    ['die', null],
    ['health_status', null],
  ])('%s %s is not a stop: no mark, no drain', (action, signal) => {
    const { drained, tracker } = setup();
    tracker.onEvent(event(action, signal));
    expect(isStopEvent(event(action, signal))).toBe(false);
    expect(drained).toEqual([]);
    expect(tracker.current([web])).toEqual(new Set());
  });

  it('drains once for the kill TERM, stop, kill KILL that one `docker stop` sends', () => {
    const { drained, tracker } = setup();
    tracker.onEvent(event('kill', '15', T0));
    tracker.onEvent(event('kill', '9', T0 + 10_000));
    tracker.onEvent(event('stop', null, T0 + 10_001));
    expect(drained).toEqual([web.id]);
    expect(tracker.current([web])).toEqual(new Set([web.id]));
  });

  it('a start unmarks the container; a later stop marks and drains it again', () => {
    const { drained, tracker } = setup();
    tracker.onEvent(event('stop'));
    tracker.onEvent(event('start', null, T0 + 1_000));
    expect(tracker.current([web])).toEqual(new Set());
    tracker.onEvent(event('stop', null, T0 + 2_000));
    expect(drained).toEqual([web.id, web.id]);
    expect(tracker.current([web])).toEqual(new Set([web.id]));
  });

  it('marks each container on its own', () => {
    const { drained, tracker } = setup();
    const other = container({ name: 'web-2' });
    tracker.onEvent(event('stop'));
    tracker.onEvent(event('kill', 'TERM', T0, other.id));
    expect(drained).toEqual([web.id, other.id]);
    tracker.onEvent(event('start', null, T0, other.id));
    expect(tracker.current([web, other])).toEqual(new Set([web.id]));
  });
});

describe('StopTracker.current: marks are forgotten when they no longer mean anything', () => {
  it('forgets a container that is gone from the list', () => {
    const { tracker } = setup();
    tracker.onEvent(event('stop'));
    expect(tracker.current([])).toEqual(new Set());
    // ...for good: it does not come back when the container shows up again unchanged.
    expect(tracker.current([web])).toEqual(new Set());
  });

  it('forgets a container that is listed but no longer running', () => {
    const { tracker } = setup();
    tracker.onEvent(event('stop'));
    expect(tracker.current([{ ...web, running: false }])).toEqual(new Set());
  });

  it('forgets a container started again after the stop even when the start event was missed', () => {
    const { tracker } = setup();
    tracker.onEvent(event('stop', null, T0));
    expect(tracker.current([{ ...web, startedAt: T0 }])).toEqual(new Set([web.id])); // not later: still stopping
    expect(tracker.current([{ ...web, startedAt: T0 + 1 }])).toEqual(new Set());
  });

  it(`forgets a mark older than STOPPING_FORGET_MS (${STOPPING_FORGET_MS} ms) by its own clock`, () => {
    const { clock, tracker } = setup();
    tracker.onEvent(event('stop'));
    clock.advance(STOPPING_FORGET_MS);
    expect(tracker.current([web])).toEqual(new Set([web.id]));
    clock.advance(1);
    expect(tracker.current([web])).toEqual(new Set());
  });

  it('ages a mark from when it was seen, not from the engine time of the event', () => {
    const { clock, tracker } = setup();
    // The engine's clock is far behind ours: the mark must still last its full time.
    tracker.onEvent(event('stop', null, T0 - 10 * STOPPING_FORGET_MS));
    clock.advance(STOPPING_FORGET_MS - 1);
    expect(tracker.current([{ ...web, startedAt: T0 - 20 * STOPPING_FORGET_MS }])).toEqual(new Set([web.id]));
  });

  it('keeps marks of containers still stopping while forgetting others', () => {
    const { tracker } = setup();
    const other = container({ name: 'web-2' });
    tracker.onEvent(event('stop'));
    tracker.onEvent(event('stop', null, T0, other.id));
    expect(tracker.current([web])).toEqual(new Set([web.id]));
  });
});

describe('drainStopping: the drain a stop asks for', () => {
  function rig(answer: () => Promise<string[]>) {
    const { log, lines } = recordingLog();
    const asked: { services: readonly Service[]; backend: string; id: string }[] = [];
    let live: Service[] = [service([server('web-1')])];
    let drained: Promise<string[]> = Promise.resolve([]);
    const drain = drainStopping({
      haproxy: {
        drainContainer: (services, backendOf, id) => {
          asked.push({ services, backend: backendOf('apps'), id });
          return (drained = answer());
        },
      },
      services: () => live,
      log,
    });
    return { drain, asked, lines, setLive: (s: Service[]) => (live = s), settled: () => drained.catch(() => undefined) };
  }

  it('drains the container in the services live at the moment it stops, and says which servers', async () => {
    const r = rig(async () => ['be_apps/web-1']);
    const later = [service([server('web-1'), server('web-2')])];
    r.setLive(later);
    r.drain('id-web-1');
    expect(r.asked).toEqual([{ services: later, backend: 'be_apps', id: 'id-web-1' }]);
    await r.settled();
    expect(r.lines).toMatchObject([{ level: 30, msg: 'container stopping: server drained', servers: ['be_apps/web-1'] }]);
  });

  it('a container with no server logs nothing', async () => {
    const r = rig(async () => []);
    r.drain('id-other');
    await r.settled();
    expect(r.lines).toEqual([]);
  });

  it('a drain that fails is a warning, never a rejection: the next pass removes the server anyway', async () => {
    const r = rig(async () => {
      throw new Error('set server be_apps/web-1 state drain: No such server.');
    });
    expect(() => r.drain('id-web-1')).not.toThrow();
    await r.settled();
    expect(r.lines).toMatchObject([{ level: 40, msg: 'could not drain a stopping container; the next pass removes it' }]);
  });
});
