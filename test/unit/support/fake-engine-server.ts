import { createServer, type Server, type ServerResponse } from 'node:http';

// A fake Docker engine on a unix socket, at the HTTP level: it answers every
// call the agent makes (ping, version, info, one labelled container, a swarm
// service and node, an endless event stream) and records each request that
// reaches it. For tests of what sits between the agent and dockerd (the socket
// proxy) and of dockerode itself; FakeDocker (fake-docker.ts) fakes the agent's
// DockerEngine edge instead, without HTTP.

export const FAKE_CONTAINER_ID = 'c0ffee'.padEnd(64, '0');

export interface FakeEngineServerOptions {
  /**
   * A path it does not serve: 'not-found' answers 404 as dockerd does; 'echo' answers 200,
   * so that a request which should never have reached the engine is obvious.
   */
  readonly unknown: 'not-found' | 'echo';
  /** Events written on each event stream as soon as it opens. */
  readonly firstEvents?: readonly object[];
}

function json(res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

export class FakeEngineServer {
  /** Every request that reached it: `METHOD /path?query`. */
  readonly reached: string[] = [];
  /** Event streams open now. */
  readonly streams = new Set<ServerResponse>();
  readonly #server: Server;

  constructor(private readonly options: FakeEngineServerOptions) {
    this.#server = createServer((req, res) => {
      this.reached.push(`${req.method} ${req.url}`);
      const path = new URL(req.url ?? '/', 'http://engine').pathname.replace(/^\/v\d+\.\d+/, '');
      const ID = FAKE_CONTAINER_ID;
      if (path === '/_ping') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('OK');
      } else if (path === '/version') json(res, { ApiVersion: '1.45', Version: '26.1.0' });
      else if (path === '/info') json(res, { Labels: ['role=load-balancer'], Swarm: { NodeID: 'node1' } });
      else if (path === '/containers/json') json(res, [{ Id: ID }]);
      else if (path === `/containers/${ID}/json`) {
        json(res, {
          Id: ID,
          Name: '/web-1',
          Created: '2026-01-01T00:00:00Z',
          State: { Running: true, StartedAt: '2026-01-01T00:00:01Z' },
          Config: { Labels: { role: 'apps' }, ExposedPorts: { '80/tcp': {} } },
          NetworkSettings: { Ports: { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '32768' }] }, Networks: { bridge: { IPAddress: '172.17.0.2' } } },
        });
      } else if (path === '/services') json(res, [{ ID: 'svc1', Spec: { Name: 'web', Labels: { role: 'apps' } } }]);
      else if (path === '/tasks') json(res, []);
      else if (path === '/nodes') json(res, [{ ID: 'node1', Spec: { Labels: {} }, Status: { State: 'ready' } }]);
      else if (path === '/nodes/node1') json(res, { ID: 'node1', Spec: { Labels: { role: 'load-balancer' } }, Status: { State: 'ready' } });
      else if (path === '/events') {
        // Docker's stream: headers at once, then a JSON line per event, never ending by itself.
        res.writeHead(200, { 'content-type': 'application/json' });
        res.flushHeaders();
        this.streams.add(res);
        res.on('close', () => this.streams.delete(res));
        for (const e of this.options.firstEvents ?? []) res.write(`${JSON.stringify(e)}\n`);
      } else if (this.options.unknown === 'echo') {
        json(res, { reached: req.url });
      } else {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end('{"message":"not here"}');
      }
    });
  }

  listen(socketPath: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(socketPath, () => resolve());
    });
  }

  /** Writes an event on every open stream, as dockerd does. */
  push(event: object): void {
    for (const res of this.streams) res.write(`${JSON.stringify(event)}\n`);
  }

  /** Ends the streams and every connection, and stops listening. */
  async close(): Promise<void> {
    for (const res of this.streams) res.destroy();
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}
