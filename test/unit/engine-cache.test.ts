import { afterEach, describe, expect, it } from 'vitest';
import type { EngineConfig } from '../../src/config/env.js';
import type { ContainerEvent } from '../../src/docker/docker-events.js';
import { WATCHED_ACTIONS } from '../../src/docker/docker-events.js';
import { EngineLink } from '../../src/docker/engine-link.js';
import { container } from './fixtures.js';
import { FakeDocker, until } from './support/fake-docker.js';
import { silentLog } from './support/fakes.js';

// The containers cache of an EngineLink, over a fake Docker edge that counts
// its calls: a pass costs what changed. Everything is listed and inspected at
// start, on a stream resync and when marked stale (the periodic resync);
// between those an event re-inspects the one container it names.

const target = { name: 'local', endpoint: 'unix:///fake.sock', advertise: null, tlsCertPath: null } as unknown as EngineConfig;

const links: EngineLink[] = [];
afterEach(() => {
  for (const l of links.splice(0)) l.close();
});

/** A started link over `fake`, and the events it passed on. */
async function started(fake: FakeDocker, mode: 'containers' | 'swarm' = 'containers', compat: 'nginx-proxy' | null = null) {
  const l = new EngineLink({
    name: 'local', targets: [target], mode, roleLabel: 'role', backendRole: 'apps', appNodeRole: null, compat,
    graceMs: 60_000, qualify: false, log: silentLog(), heartbeatMs: 20, connect: async () => fake.engine(),
  });
  links.push(l);
  const seen: ContainerEvent[] = [];
  l.on('event', (e: ContainerEvent) => seen.push(e));
  await l.start();
  await until('the engine up', () => l.state === 'up');
  /** Sends an event and waits until the link has passed it on (so its container is pending). */
  const send = async (action: string, c: { id: string; name: string }) => {
    const before = seen.length;
    fake.send(action, c);
    await until(`the ${action} event`, () => seen.length > before);
  };
  return { l, seen, send };
}

const names = (cs: readonly { name: string }[]) => cs.map((c) => c.name).sort();

describe('EngineLink container cache', () => {
  it('lists and inspects everything once at start, then an event re-inspects only its container', async () => {
    const fake = new FakeDocker();
    const [a, b, c] = [container({ name: 'a' }), container({ name: 'b' }), container({ name: 'c' })];
    fake.add(a, b, c);
    const { l, send } = await started(fake);
    expect(names(await l.list())).toEqual(['a', 'b', 'c']);
    expect(fake.calls.lists).toBe(1);
    expect(fake.calls.inspects).toHaveLength(3);
    expect(l.lastListStats()).toMatchObject({ full: true, reason: 'start', inspects: 3, containers: 3 });

    fake.add({ ...b, health: 'unhealthy' });
    await send('health_status', b);
    const after = await l.list();
    expect(fake.calls.lists).toBe(1); // never a full list
    expect(fake.calls.inspects.slice(3)).toEqual([b.id]);
    expect(after.find((x) => x.id === b.id)?.health).toBe('unhealthy');
    expect(l.lastListStats()).toMatchObject({ full: false, reason: null, listMs: 0, inspects: 1, containers: 3 });

    // Nothing happened since: nothing is asked of the engine.
    expect(names(await l.list())).toEqual(['a', 'b', 'c']);
    expect([fake.calls.lists, fake.calls.inspects.length]).toEqual([1, 4]);
    expect(l.lastListStats()).toMatchObject({ full: false, inspects: 0 });
  });

  it('a new container is picked up from its start event with one inspect', async () => {
    const fake = new FakeDocker();
    fake.add(container({ name: 'a' }));
    const { l, send } = await started(fake);
    await l.list();
    const d = container({ name: 'd' });
    fake.add(d);
    await send('start', d);
    expect(names(await l.list())).toEqual(['a', 'd']);
    expect(fake.calls.lists).toBe(1);
    expect(fake.calls.inspects.slice(1)).toEqual([d.id]);
  });

  it('a destroy removes the container without asking the engine', async () => {
    const fake = new FakeDocker();
    const [a, b] = [container({ name: 'a' }), container({ name: 'b' })];
    fake.add(a, b);
    const { l, send } = await started(fake);
    await l.list();
    fake.containers.delete(b.id);
    await send('destroy', b);
    expect(names(await l.list())).toEqual(['a']);
    expect([fake.calls.lists, fake.calls.inspects.length]).toEqual([1, 2]);
  });

  it('an inspect answering 404 (gone meanwhile) removes the container', async () => {
    const fake = new FakeDocker();
    const [a, b] = [container({ name: 'a' }), container({ name: 'b' })];
    fake.add(a, b);
    const { l, send } = await started(fake);
    await l.list();
    fake.containers.delete(b.id);
    await send('start', b); // gone before we asked: its destroy is still to come
    expect(names(await l.list())).toEqual(['a']);
    expect(fake.inspectsOf(b.id)).toBe(2);
    expect(fake.calls.lists).toBe(1);
  });

  it('an inspect failing otherwise lists everything again in the same pass', async () => {
    const fake = new FakeDocker();
    const [a, b] = [container({ name: 'a' }), container({ name: 'b' })];
    fake.add(a, b);
    const { l, send } = await started(fake);
    await l.list();
    fake.add({ ...a, health: 'unhealthy' });
    fake.inspectErrors.set(a.id, new Error('context deadline exceeded'));
    await send('health_status', a);
    const after = await l.list();
    expect(after.find((x) => x.id === a.id)?.health).toBe('unhealthy');
    expect(fake.calls.lists).toBe(2);
    expect(l.lastListStats()).toMatchObject({ full: true, reason: 'an inspect failed' });
    expect(l.state).toBe('up');
  });

  it('the periodic resync (markStale) lists everything again, and finds what no event told', async () => {
    const fake = new FakeDocker();
    fake.add(container({ name: 'a' }));
    const { l } = await started(fake);
    await l.list();
    fake.add(container({ name: 'quiet' })); // an event the stream missed
    expect(names(await l.list())).toEqual(['a']);
    l.markStale();
    expect(names(await l.list())).toEqual(['a', 'quiet']);
    expect(fake.calls.lists).toBe(2);
    expect(l.lastListStats()).toMatchObject({ full: true, reason: 'periodic resync', inspects: 2 });
    // Once: the next pass is back to the cache.
    await l.list();
    expect(fake.calls.lists).toBe(2);
  });

  it('a reopened event stream (resync) lists everything again', async () => {
    const fake = new FakeDocker();
    fake.add(container({ name: 'a' }));
    const { l } = await started(fake);
    await l.list();
    fake.add(container({ name: 'missed' }));
    fake.streams[0]!.end(); // the stream drops; events meanwhile are lost
    await until('the stream reopened', () => fake.calls.events.length === 2);
    expect(names(await l.list())).toEqual(['a', 'missed']);
    expect(fake.calls.lists).toBe(2);
    expect(l.lastListStats()?.full).toBe(true);
  });

  it('asks the engine only for events of containers carrying the role label', async () => {
    const fake = new FakeDocker();
    await started(fake);
    expect(fake.calls.events).toHaveLength(1);
    const filters = fake.calls.events[0]!.filters!;
    expect(filters.label).toEqual(['role=apps']);
    expect(filters.type).toEqual(['container']);
    expect([...filters.event!].sort()).toEqual([...WATCHED_ACTIONS].sort());
  });

  it('with Swarm, events are not filtered by label and every pass lists in full', async () => {
    const fake = new FakeDocker();
    const { l } = await started(fake, 'swarm');
    expect(fake.calls.events[0]!.filters).toEqual({ type: ['container', 'service', 'node'] });
    await l.list();
    await l.list();
    expect(l.lastListStats()).toMatchObject({ full: true, reason: 'swarm', inspects: 0 });
  });

  it('an event for a container without our label (had it slipped through) adds nothing', async () => {
    const fake = new FakeDocker();
    fake.add(container({ name: 'a' }));
    const { l, send } = await started(fake);
    await l.list();
    const other = container({ name: 'other', labels: { role: 'db' } });
    fake.add(other);
    await send('start', other);
    expect(names(await l.list())).toEqual(['a']);
  });

  it('an event during an inspect is not lost: the container is inspected again next pass', async () => {
    const fake = new FakeDocker();
    const a = container({ name: 'a' });
    fake.add(a);
    const { l, send } = await started(fake);
    await l.list();
    let release!: () => void;
    fake.inspectGate = new Promise<void>((r) => (release = r));
    await send('start', a);
    const first = l.list();
    await until('the inspect asked', () => fake.inspectsOf(a.id) === 2);
    fake.add({ ...a, health: 'healthy' });
    await send('health_status', a); // while the inspect is out
    release();
    fake.inspectGate = null;
    await first;
    expect((await l.list()).find((x) => x.id === a.id)?.health).toBe('healthy');
    expect(fake.inspectsOf(a.id)).toBe(3);
    expect(fake.calls.lists).toBe(1);
  });

  it('a destroy during an inspect wins over what the inspect said', async () => {
    const fake = new FakeDocker();
    const [a, b] = [container({ name: 'a' }), container({ name: 'b' })];
    fake.add(a, b);
    const { l, send } = await started(fake);
    await l.list();
    let release!: () => void;
    fake.inspectGate = new Promise<void>((r) => (release = r));
    await send('health_status', b);
    const first = l.list();
    await until('the inspect asked', () => fake.inspectsOf(b.id) === 2);
    await send('destroy', b); // the inspect will still answer with the container
    release();
    fake.inspectGate = null;
    expect(names(await first)).toEqual(['a']);
    expect(names(await l.list())).toEqual(['a']);
  });

  it('events during a full relist are inspected right after it, in the same pass', async () => {
    const fake = new FakeDocker();
    fake.add(container({ name: 'a' }));
    const { l, send } = await started(fake);
    let release!: () => void;
    fake.inspectGate = new Promise<void>((r) => (release = r));
    const first = l.list(); // the start-up relist
    await until('the relist inspecting', () => fake.calls.inspects.length === 1);
    const late = container({ name: 'late' }); // listed too late for this relist
    fake.add(late);
    await send('start', late);
    release();
    fake.inspectGate = null;
    expect(names(await first)).toEqual(['a', 'late']);
    expect(fake.calls.lists).toBe(1);
  });

  it('with 1000 containers cached, one event costs exactly one inspect', async () => {
    const fake = new FakeDocker();
    const all = Array.from({ length: 1000 }, (_, i) => container({ name: `web-${i}` }));
    fake.add(...all);
    const { l, send } = await started(fake);
    expect(await l.list()).toHaveLength(1000);
    expect([fake.calls.lists, fake.calls.inspects.length]).toEqual([1, 1000]);
    const one = all[567]!;
    fake.add({ ...one, running: false });
    await send('update', one);
    const after = await l.list();
    expect(after).toHaveLength(1000);
    expect(after.find((c) => c.id === one.id)?.running).toBe(false);
    expect([fake.calls.lists, fake.calls.inspects.length]).toEqual([1, 1001]);
    expect(fake.calls.inspects.at(-1)).toBe(one.id);
    expect(l.lastListStats()).toMatchObject({ full: false, inspects: 1, containers: 1000 });
  });

  it('a kill, stop or die costs no inspect (Docker holds a stopping container\'s lock): a die marks it not running', async () => {
    const fake = new FakeDocker();
    const [a, b] = [container({ name: 'a' }), container({ name: 'b' })];
    fake.add(a, b);
    const { l, send } = await started(fake);
    await l.list();
    const inspected = fake.calls.inspects.length;
    await send('kill', b);
    await send('stop', b);
    expect((await l.list()).find((x) => x.id === b.id)?.running).toBe(true);
    await send('die', b);
    expect((await l.list()).find((x) => x.id === b.id)?.running).toBe(false);
    expect(fake.calls.inspects.length).toBe(inspected);
    // Started again (a restart policy): inspected, running again.
    await send('start', b);
    expect((await l.list()).find((x) => x.id === b.id)?.running).toBe(true);
    expect(fake.calls.inspects.length).toBe(inspected + 1);
  });
});

describe("EngineLink's fresh lists for the operator (verify, check)", () => {
  it('listNow lists what runs now, and leaves the cache passes use alone', async () => {
    const fake = new FakeDocker();
    const [a, b] = [container({ name: 'a' }), container({ name: 'b' })];
    fake.add(a);
    const { l } = await started(fake);
    expect(names(await l.list())).toEqual(['a']);
    fake.add(b); // no event: the cache does not know it
    expect(names(await l.listNow())).toEqual(['a', 'b']);
    expect(names(await l.list())).toEqual(['a']);
    expect(l.lastListStats()).toMatchObject({ full: false });
  });

  it('listEverything names unlabelled and stopped containers too, with the engine', async () => {
    const fake = new FakeDocker();
    fake.add(container({ name: 'a' }), container({ name: 'bare', labels: {} }), container({ name: 'gone', running: false }));
    const { l } = await started(fake);
    expect((await l.listEverything()).map((c) => [c.name, c.running, c.engine]).sort()).toEqual([
      ['a', true, 'local'],
      ['bare', true, 'local'],
      ['gone', false, 'local'],
    ]);
  });

  it('both refuse while the engine is not up: what it runs cannot be told', async () => {
    const l = new EngineLink({
      name: 'local', targets: [target], mode: 'containers', roleLabel: 'role', backendRole: 'apps', appNodeRole: null,
      graceMs: 60_000, qualify: false, log: silentLog(), connect: async () => new FakeDocker().engine(),
    });
    links.push(l);
    await expect(l.listNow()).rejects.toThrow(/^engine local \(unix:\/\/\/fake\.sock\) is connecting$/);
    await expect(l.listEverything()).rejects.toThrow(/is connecting/);
  });
});

describe('EngineLink with VIPKEEPER_COMPAT=nginx-proxy', () => {
  it('follows every container, inspects an unlabelled one once, and never again once it has no VIRTUAL_HOST', async () => {
    const fake = new FakeDocker();
    const labelled = container({ name: 'labelled' });
    const vhost = container({ name: 'vhost', labels: {}, env: { VIRTUAL_HOST: 'a.example.com' } });
    const other = container({ name: 'other', labels: {} });
    const stopped = container({ name: 'stopped', labels: {}, running: false });
    fake.add(labelled, vhost, other, stopped);
    const { l, send, seen } = await started(fake, 'containers', 'nginx-proxy');
    // No label filter: Docker cannot filter by environment.
    expect(fake.calls.events[0]!.filters).toEqual({ type: ['container'], event: [...WATCHED_ACTIONS] });
    expect(names(await l.list())).toEqual(['labelled', 'vhost']);
    // A stopped unlabelled container is not inspected: its start event will say when it matters.
    expect(fake.calls.inspects.sort()).toEqual([labelled.id, vhost.id, other.id].sort());

    l.markStale();
    expect(names(await l.list())).toEqual(['labelled', 'vhost']);
    // The periodic relist does not inspect `other` again: its environment cannot have changed.
    expect(fake.inspectsOf(other.id)).toBe(1);
    expect(fake.inspectsOf(vhost.id)).toBe(2);

    // Its events are not ours: not passed on, nothing inspected.
    const before = seen.length;
    fake.send('die', other);
    await send('start', vhost);
    expect(seen.slice(before).map((e) => e.id)).toEqual([vhost.id]);
    await l.list();
    expect(fake.inspectsOf(other.id)).toBe(1);
  });

  it('without compat the list and events stay filtered by the role label', async () => {
    const fake = new FakeDocker();
    fake.add(container({ name: 'labelled' }), container({ name: 'vhost', labels: {}, env: { VIRTUAL_HOST: 'a.example.com' } }));
    const { l } = await started(fake);
    expect(names(await l.list())).toEqual(['labelled']);
    expect(fake.calls.events[0]!.filters).toMatchObject({ label: ['role=apps'] });
  });
});
