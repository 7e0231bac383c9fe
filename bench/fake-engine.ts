import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// A Docker engine API on a unix socket that lists N running containers and streams no events:
// enough for `vipkeeper run` to keep N backends, without starting N real containers (which takes
// minutes and about 7 GB here). Every container is on network NETWORK at a loopback address
// (127.77.x.y) and exposes port 80, where nothing listens: HAProxy's checks are refused at once
// and no packet leaves the machine. startContainer() adds one and sends its `start` event.
// Only the memory bench uses it; the scale bench has the real thing.

export const FAKE_NETWORK = 'vk-memory-bench';

export interface FakeEngine {
  readonly endpoint: string;
  /** Requests served, by path without the API version (a look at what the agent asked). */
  readonly requests: Map<string, number>;
  /** One more running container, announced by a `start` event; returns its name. */
  startContainer(): string;
  close(): Promise<void>;
}

const idOf = (n: number): string => n.toString(16).padStart(12, '0').padEnd(64, 'f');

export async function startFakeEngine(count: number, labels: Readonly<Record<string, string>>): Promise<FakeEngine> {
  const dir = mkdtempSync(join(tmpdir(), 'vipkeeper-fake-engine-'));
  const socket = join(dir, 'docker.sock');
  const requests = new Map<string, number>();
  const streams = new Set<ServerResponse>();
  const byId = new Map(Array.from({ length: count }, (_, n) => [idOf(n), n]));
  const json = (res: ServerResponse, body: unknown) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const inspect = (n: number) => ({
    Id: idOf(n),
    Name: `/vkm-${n}`,
    Created: '2026-01-01T00:00:00Z',
    State: { Running: true, StartedAt: '2026-01-01T00:00:01Z' },
    Config: { Labels: { ...labels, 'vipkeeper.network': FAKE_NETWORK }, ExposedPorts: { '80/tcp': {} } },
    NetworkSettings: { Ports: { '80/tcp': null }, Networks: { [FAKE_NETWORK]: { IPAddress: `127.77.${n >> 8}.${n & 255}` } } },
  });
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://engine').pathname.replace(/^\/v\d+\.\d+/, '');
    const id = /^\/containers\/([0-9a-f]{64})\/json$/.exec(path)?.[1];
    const key = id === undefined ? path : '/containers/{id}/json';
    requests.set(key, (requests.get(key) ?? 0) + 1);
    if (path === '/_ping') {
      res.writeHead(200, { 'content-type': 'text/plain', 'api-version': '1.41' });
      res.end('OK');
    } else if (path === '/version') json(res, { ApiVersion: '1.41', Version: '20.10.24' });
    else if (path === '/info') json(res, { Labels: [], Swarm: { NodeID: '', LocalNodeState: 'inactive' } });
    else if (path === '/containers/json') json(res, [...byId.keys()].map((Id) => ({ Id })));
    else if (id !== undefined && byId.has(id)) json(res, inspect(byId.get(id)!));
    else if (path === '/events') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      streams.add(res);
      res.on('close', () => streams.delete(res));
    } else {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"message":"not in the fake engine"}');
    }
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(socket, resolve));
  let next = count;
  return {
    endpoint: `unix://${socket}`,
    requests,
    startContainer: () => {
      const n = next++;
      byId.set(idOf(n), n);
      const event = { Type: 'container', Action: 'start', Actor: { ID: idOf(n), Attributes: { ...labels, name: `vkm-${n}` } }, timeNano: Date.now() * 1e6 };
      for (const res of streams) res.write(`${JSON.stringify(event)}\n`);
      return `vkm-${n}`;
    },
    close: async () => {
      for (const res of streams) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
