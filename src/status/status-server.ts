import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../log.js';
import { renderMetrics } from './metrics.js';
import type { StatusSnapshot } from './snapshot.js';

// The status edge: a small HTTP server on the status address.
//   GET /healthz  200 when the agent and haproxy run, else 503 with the reason
//   GET /status   the StatusSnapshot as JSON
//   GET /metrics  Prometheus text
//   POST /drill   {"action":"start","mode":"graceful|haproxy|fault"} or {"action":"restore"}

export type DrillMode = 'graceful' | 'haproxy' | 'fault';
export type DrillRequest = { action: 'start'; mode: DrillMode } | { action: 'restore' };

export interface StatusSource {
  snapshot(): Promise<StatusSnapshot>;
  health(): { ok: boolean; reason: string };
  drill(request: DrillRequest): Promise<{ ok: boolean; message: string }>;
}

const DRILL_MODES = new Set<DrillMode>(['graceful', 'haproxy', 'fault']);

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

async function readBody(req: IncomingMessage, limit = 4096): Promise<string> {
  let body = '';
  for await (const chunk of req) {
    body += String(chunk);
    if (body.length > limit) throw new Error('request body too large');
  }
  return body;
}

function parseDrill(body: string): DrillRequest | null {
  try {
    const v = JSON.parse(body) as { action?: unknown; mode?: unknown };
    if (v.action === 'restore') return { action: 'restore' };
    if (v.action === 'start' && typeof v.mode === 'string' && DRILL_MODES.has(v.mode as DrillMode)) {
      return { action: 'start', mode: v.mode as DrillMode };
    }
  } catch {
    /* fall through */
  }
  return null;
}

export async function startStatusServer(addr: { host: string; port: number }, source: StatusSource, log: Logger): Promise<Server> {
  const server = createServer((req, res) => {
    void (async () => {
      try {
        const url = new URL(req.url ?? '/', 'http://status');
        if (req.method === 'GET' && url.pathname === '/healthz') {
          const h = source.health();
          send(res, h.ok ? 200 : 503, 'text/plain', `${h.reason}\n`);
        } else if (req.method === 'GET' && url.pathname === '/status') {
          send(res, 200, 'application/json', `${JSON.stringify(await source.snapshot(), null, 2)}\n`);
        } else if (req.method === 'GET' && url.pathname === '/metrics') {
          send(res, 200, 'text/plain; version=0.0.4', renderMetrics(await source.snapshot()));
        } else if (req.method === 'POST' && url.pathname === '/drill') {
          const request = parseDrill(await readBody(req));
          if (!request) {
            send(res, 400, 'application/json', '{"ok":false,"message":"expected {\\"action\\":\\"start\\",\\"mode\\":\\"graceful|haproxy|fault\\"} or {\\"action\\":\\"restore\\"}"}\n');
            return;
          }
          const answer = await source.drill(request);
          send(res, answer.ok ? 200 : 409, 'application/json', `${JSON.stringify(answer)}\n`);
        } else {
          send(res, 404, 'text/plain', 'not found: try /healthz, /status or /metrics\n');
        }
      } catch (err) {
        log.error({ err: (err as Error).message, path: req.url }, 'status request failed');
        if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n');
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(addr.port, addr.host, () => resolve());
  });
  log.info({ addr: `${addr.host}:${addr.port}` }, 'status server listening');
  return server;
}
