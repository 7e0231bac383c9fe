import { PassThrough } from 'node:stream';
import type { DockerEngine } from '../../../src/docker/docker-engine.js';
import type { ContainerInfo } from '../../../src/model/container.js';

// A fake Docker edge that counts what is asked of it: lists, inspects per id,
// pings, and the filters of each /events request. Its event streams are
// PassThroughs a test writes Docker's JSON lines into.

export class FakeDocker {
  readonly endpoint = 'unix:///fake.sock';
  /** The engine's containers (all of them: the list filters by label like dockerd). */
  readonly containers = new Map<string, ContainerInfo>();
  readonly calls = { lists: 0, inspects: [] as string[], pings: 0, events: [] as { filters?: Record<string, string[]> }[] };
  readonly streams: PassThrough[] = [];
  /** Pings to fail from now on (Infinity: all). */
  pingFailures = 0;
  /** The next inspect of one of these ids throws this error (not a 404), once. */
  readonly inspectErrors = new Map<string, Error>();
  /** Called at each ping, before it answers (a test sends stream data from here). */
  onPing: (() => void) | null = null;
  /** When set, inspects wait for it before answering. */
  inspectGate: Promise<void> | null = null;

  add(...cs: ContainerInfo[]): void {
    for (const c of cs) this.containers.set(c.id, c);
  }

  #labelled(key: string, value: string): ContainerInfo[] {
    return [...this.containers.values()].filter((c) => c.labels[key] === value);
  }

  engine(): DockerEngine {
    const inspectContainer = async (id: string): Promise<ContainerInfo | null> => {
      this.calls.inspects.push(id);
      if (this.inspectGate) await this.inspectGate;
      const err = this.inspectErrors.get(id);
      if (err) {
        this.inspectErrors.delete(id);
        throw err;
      }
      return this.containers.get(id) ?? null;
    };
    return {
      endpoint: this.endpoint,
      apiVersion: '1.41',
      listLabelled: async (key, value) => {
        this.calls.lists += 1;
        return this.#labelled(key, value);
      },
      listLabelledIds: async (key, value) => {
        this.calls.lists += 1;
        return this.#labelled(key, value).map((c) => c.id);
      },
      listAll: async (engineName) => {
        this.calls.lists += 1;
        return [...this.containers.values()].map((c) => ({
          id: c.id,
          name: c.name,
          running: c.running,
          state: c.running ? 'running' : 'exited',
          labels: c.labels,
          engine: engineName,
        }));
      },
      inspectContainer,
      listSwarm: async () => ({ services: [], tasks: [], nodes: [] }),
      engineLabels: async () => ({}),
      swarmNodeId: async () => null,
      ping: async () => {
        this.calls.pings += 1;
        this.onPing?.();
        if (this.pingFailures > 0) {
          this.pingFailures -= 1;
          await new Promise((r) => setTimeout(r, 1)); // slow, then fails: whatever the stream carried meanwhile is seen first
          throw new Error('socket hang up');
        }
      },
      api: {} as DockerEngine['api'],
      streamApi: {
        getEvents: async (opts: { filters?: Record<string, string[]> }) => {
          this.calls.events.push(opts);
          const stream = new PassThrough();
          this.streams.push(stream);
          return stream;
        },
      } as unknown as DockerEngine['streamApi'],
    };
  }

  /** Sends a container event on the newest stream, as dockerd writes it. */
  send(action: string, c: Pick<ContainerInfo, 'id' | 'name'>): void {
    const stream = this.streams.at(-1);
    if (!stream) throw new Error('no event stream open');
    stream.write(`${JSON.stringify({ Type: 'container', Action: action, Actor: { ID: c.id, Attributes: { name: c.name } }, time: Math.floor(Date.now() / 1000) })}\n`);
  }

  inspectsOf(id: string): number {
    return this.calls.inspects.filter((i) => i === id).length;
  }
}

/** Polls `check` until it holds, or fails after `ms`. */
export async function until(what: string, check: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
