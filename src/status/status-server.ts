import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import type { Logger } from '../log.js';
import { renderMetrics } from './metrics.js';
import { PAGE_CSS, PAGE_JS } from './page-assets.js';
import { renderFragment, renderPage } from './page.js';
import type { StatusSnapshot } from './snapshot.js';

// The status edge: a small read-only HTTP server on the status address.
//   GET /         the operator's page (server-rendered; /page.js refreshes it from /fragment)
//   GET /healthz  200 when the agent and haproxy run, else 503 with the reason
//   GET /status   the StatusSnapshot as JSON
//   GET /metrics  Prometheus text
// (HEAD too.) Any other method is 405. Nothing here changes what the node does:
// drills go through the control socket (src/control/), which only root on this
// host reaches. A web page can make a browser send requests here (and DNS
// rebinding can even read the answers), so this address must never take one
// that acts.

export type { DrillMode, DrillRequest } from '../control/control-types.js';

export interface StatusSource {
  snapshot(): Promise<StatusSnapshot>;
  health(): { ok: boolean; reason: string };
}

const ALLOW = 'GET, HEAD';

function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
  res.end(body);
}

/** The page's policy: only its own script, style and requests; no frames, forms or base. */
export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const PAGE_HEADERS = { 'content-security-policy': PAGE_CSP, 'referrer-policy': 'no-referrer', 'x-frame-options': 'DENY' };

/** Pages above this size go gzipped to a browser that takes it (1000 servers: 280 kB -> 11 kB a second). */
const GZIP_ABOVE = 1024;

function sendPage(req: IncomingMessage, res: ServerResponse, type: string, body: string): void {
  const vary = { ...PAGE_HEADERS, vary: 'accept-encoding' };
  if (body.length > GZIP_ABOVE && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
    res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'content-encoding': 'gzip', ...vary });
    res.end(gzipSync(body));
  } else {
    send(res, 200, type, body, vary);
  }
}

const isLoopback = (host: string) => /^127\./.test(host);

/**
 * Pure: the warning to log when the status address is reachable from other hosts, or null on
 * loopback. It names what such an address exposes.
 */
export function statusExposureWarning(addr: { host: string; port: number }): string | null {
  if (isLoopback(addr.host)) return null;
  const where = addr.host === '0.0.0.0' ? `${addr.host}:${addr.port} (every interface)` : `${addr.host}:${addr.port}`;
  return (
    `the status server listens on ${where}, not on loopback: whoever reaches it reads /status ` +
    '(service, server and container names, backend addresses, VRRP state, Docker endpoints) and /metrics. ' +
    'It is read-only (drills go through the control socket), but firewall it or keep VIPKEEPER_STATUS_ADDR on 127.0.0.1'
  );
}

export async function startStatusServer(addr: { host: string; port: number }, source: StatusSource, log: Logger): Promise<Server> {
  const server = createServer((req, res) => {
    void (async () => {
      try {
        const url = new URL(req.url ?? '/', 'http://status');
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          const hint = url.pathname === '/drill' ? ": drills go through the agent's control socket on its host (vipkeeper drill, as root)" : '';
          send(res, 405, 'text/plain', `method not allowed: the status address is read-only${hint}\n`, { allow: ALLOW });
        } else if (url.pathname === '/') {
          sendPage(req, res, 'text/html; charset=utf-8', renderPage(await source.snapshot(), Date.now()));
        } else if (url.pathname === '/fragment') {
          sendPage(req, res, 'text/html; charset=utf-8', renderFragment(await source.snapshot(), Date.now()));
        } else if (url.pathname === '/page.js') {
          send(res, 200, 'text/javascript; charset=utf-8', PAGE_JS, PAGE_HEADERS);
        } else if (url.pathname === '/page.css') {
          send(res, 200, 'text/css; charset=utf-8', PAGE_CSS, PAGE_HEADERS);
        } else if (url.pathname === '/healthz') {
          const h = source.health();
          send(res, h.ok ? 200 : 503, 'text/plain', `${h.reason}\n`);
        } else if (url.pathname === '/status') {
          send(res, 200, 'application/json', `${JSON.stringify(await source.snapshot(), null, 2)}\n`);
        } else if (url.pathname === '/metrics') {
          send(res, 200, 'text/plain; version=0.0.4', renderMetrics(await source.snapshot()));
        } else if (url.pathname === '/drill') {
          send(res, 404, 'text/plain', "not here: drills go through the agent's control socket on its host (vipkeeper drill, as root)\n");
        } else {
          send(res, 404, 'text/plain', 'not found: try /, /healthz, /status or /metrics\n');
        }
      } catch (err) {
        log.error({ err, path: req.url }, 'status request failed');
        if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n');
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(addr.port, addr.host, () => resolve());
  });
  log.info({ addr: `${addr.host}:${addr.port}` }, 'status server listening');
  const warning = statusExposureWarning(addr);
  if (warning) log.warn({ addr: `${addr.host}:${addr.port}` }, warning);
  return server;
}
