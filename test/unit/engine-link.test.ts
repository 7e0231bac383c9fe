import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { EngineConfig } from '../../src/config/env.js';
import type { DockerEngine } from '../../src/docker/docker-engine.js';
import { EngineLink, isGone, listEngines } from '../../src/docker/engine-link.js';
import { container } from './fixtures.js';
import { FakeDocker } from './support/fake-docker.js';
import { recordingLog, silentLog } from './support/fakes.js';

// One engine kept connected, over a fake Docker edge (the real one is in the
// lab tests): its backends never vanish because of our own reconnect, and a
// lost engine keeps them for the grace period only.

const target = { name: 'local', endpoint: 'unix:///fake.sock', advertise: null, tlsCertPath: null } as unknown as EngineConfig;

function fakeEngine(state: { containers: ReturnType<typeof container>[]; pingFails: boolean }): DockerEngine {
  return {
    endpoint: target.endpoint,
    apiVersion: '1.41',
    listLabelled: async () => state.containers,
    listLabelledIds: async () => state.containers.map((c) => c.id),
    listAll: async (engine) => state.containers.map((c) => ({ id: c.id, name: c.name, running: c.running, state: c.running ? 'running' : 'exited', labels: c.labels, engine })),
    inspectContainer: async (id) => state.containers.find((c) => c.id === id) ?? null,
    listSwarm: async () => ({ services: [], tasks: [], nodes: [] }),
    engineLabels: async () => ({}),
    swarmNodeId: async () => null,
    ping: async () => {
      if (state.pingFails) throw new Error('socket hang up');
    },
    api: {} as DockerEngine['api'],
    streamApi: { getEvents: async () => new PassThrough() } as unknown as DockerEngine['streamApi'],
  };
}

const links: EngineLink[] = [];
afterEach(() => {
  for (const l of links.splice(0)) l.close();
});

function link(connect: () => Promise<DockerEngine>, graceMs = 60_000) {
  const l = new EngineLink({
    name: 'local', targets: [target], mode: 'containers', roleLabel: 'role', backendRole: 'apps', appNodeRole: null,
    graceMs, qualify: false, log: silentLog(), heartbeatMs: 20, connect,
  });
  links.push(l);
  return l;
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('EngineLink', () => {
  it('keeps its backends while it reconnects for renewed TLS certificates (they are never listed as gone)', async () => {
    const state = { containers: [container({ name: 'a' })], pingFails: false };
    let release!: () => void;
    let calls = 0;
    const l = link(async () => {
      calls += 1;
      if (calls > 1) await new Promise<void>((r) => (release = r)); // the reconnect hangs a while
      return fakeEngine(state);
    });
    await l.start();
    expect((await l.list()).map((c) => c.name)).toEqual(['a']);
    l.reconnect();
    await until('the reconnect to begin', () => calls === 2);
    expect((await l.list()).map((c) => c.name)).toEqual(['a']);
    release();
    await until('the engine back', () => l.engine !== null);
    expect((await l.list()).map((c) => c.name)).toEqual(['a']);
  });

  it('an engine that stops answering keeps its backends for the grace period, then gives them up', async () => {
    const state = { containers: [container({ name: 'a' })], pingFails: false };
    const l = link(async () => {
      if (state.pingFails) throw new Error('connect ECONNREFUSED');
      return fakeEngine(state);
    }, 150);
    await l.start();
    expect(await l.list()).toHaveLength(1);
    state.pingFails = true;
    await until('the engine down', () => l.state === 'down');
    expect(await l.list()).toHaveLength(1);
    await until('the grace period over', async () => (await l.list()).length === 0);
  });

  describe('a slow engine is not a lost one', () => {
    /** A started link over `fake`, and every state it entered. */
    async function watched(fake: FakeDocker) {
      const l = link(async () => fake.engine());
      const states: string[] = [];
      l.on('changed', () => states.push(l.state));
      await l.start();
      await until('the engine up', () => l.state === 'up');
      await l.list();
      return { l, states };
    }

    it('two failed pings, then an answer: never down, the event stream never closed', async () => {
      const fake = new FakeDocker();
      fake.add(container({ name: 'a' }));
      const { l, states } = await watched(fake);
      const before = fake.calls.pings;
      fake.pingFailures = 2;
      await until('two failures and answers after them', () => fake.calls.pings >= before + 5);
      expect(states).not.toContain('down');
      expect(l.state).toBe('up');
      expect(fake.calls.events).toHaveLength(1);
      expect(fake.streams[0]!.destroyed).toBe(false);
      expect(await l.list()).toHaveLength(1);
      expect(fake.calls.lists).toBe(1); // nor a relist: nothing was lost
    });

    it('three failed pings in a row: down, and the stream is closed', async () => {
      const fake = new FakeDocker();
      fake.add(container({ name: 'a' }));
      const { states } = await watched(fake);
      fake.pingFailures = 3;
      await until('the engine down', () => states.includes('down'));
      expect(fake.streams[0]!.destroyed).toBe(true);
      // It answers again: a new stream, and everything is listed again.
      await until('the engine back up', () => states.at(-1) === 'up' && fake.calls.events.length === 2);
    });

    it('pings that keep failing while the event stream carries data: never down', async () => {
      const fake = new FakeDocker();
      const a = container({ name: 'a' });
      fake.add(a);
      const { states } = await watched(fake);
      fake.onPing = () => fake.send('health_status', a); // the engine streams, only its pings are slow
      fake.pingFailures = Infinity;
      const before = fake.calls.pings;
      await until('many failed pings', () => fake.calls.pings >= before + 8);
      expect(states).not.toContain('down');
      expect(fake.streams[0]!.destroyed).toBe(false);
      // The stream falls silent too: now it is lost.
      fake.onPing = null;
      await until('the engine down', () => states.includes('down'));
      expect(fake.streams[0]!.destroyed).toBe(true);
    });
  });
});

describe('isGone: a refused or unroutable engine is gone at once; a slow one is not', () => {
  it.each([
    [Object.assign(new Error('connect ECONNREFUSED 198.19.0.21:2375'), { code: 'ECONNREFUSED' }), true],
    [new Error('Docker engine at tcp://x: connect EHOSTUNREACH 198.19.0.21:2375'), true],
    [new Error('wrapped', { cause: Object.assign(new Error('x'), { code: 'ENOENT' }) }), true],
    [new Error('socket hang up'), false],
    [new Error('timeout of 3000ms exceeded'), false],
  ])('%s -> %s', (err, gone) => {
    expect(isGone(err)).toBe(gone);
  });
});

describe("listEngines: a pass's docker part", () => {
  it("every engine's containers as one list, each engine's cost said at debug", async () => {
    const { log, lines } = recordingLog();
    const stats = { full: true, reason: 'start', listMs: 3, inspects: 1, inspectMs: 2, containers: 1 };
    const engines = [
      { name: 'app1', list: async () => [container({ name: 'a' })], lastListStats: () => stats },
      { name: 'app2', list: async () => [container({ name: 'b' }), container({ name: 'c' })], lastListStats: () => null },
    ];
    expect((await listEngines(engines, log)).map((c) => c.name)).toEqual(['a', 'b', 'c']);
    expect(lines).toMatchObject([{ level: 20, msg: 'pass: docker part', docker: [{ engine: 'app1', ...stats }, { engine: 'app2' }] }]);
  });
});
