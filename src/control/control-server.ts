import { chmod, lstat, mkdtemp, rename, rmdir, unlink } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { VipkeeperError } from '../errors.js';
import type { Logger } from '../log.js';
import {
  CHECK_MAX_CONTAINERS,
  CHECK_MAX_QUERY,
  type ControlAnswer,
  ControlRefusedError,
  DISABLE_REQUEST_HELP,
  type DisableRequest,
  DRILL_REQUEST_HELP,
  type DrillAnswer,
  type DrillRequest,
  ENABLE_REQUEST_HELP,
  type EnableRequest,
  MAINTENANCE_REQUEST_HELP,
  type MaintenanceRequest,
  parseDisableRequest,
  parseDrillRequest,
  parseEnableRequest,
  parseMaintenanceRequest,
  type ReadHandlers,
} from './control-types.js';
import { type PeerCredentials, peerCredentials, type PeerLookup } from './peer-credentials.js';

// The control channel: HTTP on a unix socket in the run directory, mode 0600, so
// only root (or the socket's owner) on this host can start a drill. Nothing that
// changes what the node does is reachable over TCP, so no web page, rebound DNS
// name or other local user can move the VIP.
//   POST /drill   content-type: application/json, at most 4 KiB:
//                 {"action":"start","mode":"graceful|haproxy|fault"} or {"action":"restore"}
//                 200 {"ok":true,...}, 409 {"ok":false,...} when the agent refuses.
//   POST /operator/disable      {"target":"web-1","drain":false,"reason":"..."}
//   POST /operator/enable       {"target":"apps/web-1"}
//   POST /operator/maintenance  {"on":true,"force":false,"reason":"..."} or {"on":false}
//                 200 done, 409 the answer is no (unknown target, already on), 400 a bad request.
// Every request is logged with who sent it: the peer's uid and pid (SO_PEERCRED).
//   GET /show[?service=NAME]   GET /check?c=NAME_OR_ID[&c=...]   GET /verify
//                 the operator's read-only questions: 200 with the answer as JSON
//                 (a "no" is an answer too), or {"ok":false,"message"} with 400
//                 (bad query), 404 (no such service), 503 (not started, HAProxy silent).
//
// How the socket gets its mode without a window: it is bound inside a fresh 0700
// directory (mkdtemp) beside its final path, chmod-ed to 0600 and checked there,
// and only then renamed into place (rename is atomic, and also replaces a stale
// socket). No other process can reach it while its mode is still the umask's, and
// the process-wide umask is never touched (other files written meanwhile keep theirs).

export interface ControlHandlers extends Partial<ReadHandlers> {
  drill(request: DrillRequest): Promise<DrillAnswer>;
  disable?(request: DisableRequest, who: PeerCredentials): Promise<ControlAnswer>;
  enable?(request: EnableRequest, who: PeerCredentials): Promise<ControlAnswer>;
  maintenance?(request: MaintenanceRequest, who: PeerCredentials): Promise<ControlAnswer>;
}

interface Route {
  readonly help: string;
  /** The body -> the handler's answer, or null when the body is no such request. */
  readonly run: (body: string, handlers: ControlHandlers, who: PeerCredentials) => { request: unknown; answer: Promise<ControlAnswer> } | null;
}

function route<R>(parse: (body: string) => R | null, help: string, call: (h: ControlHandlers, r: R, who: PeerCredentials) => Promise<ControlAnswer> | undefined): Route {
  return {
    help,
    run: (body, handlers, who) => {
      const request = parse(body);
      if (request === null) return null;
      const answer = call(handlers, request, who) ?? Promise.resolve({ ok: false, message: 'this agent does not take that request' });
      return { request, answer };
    },
  };
}

const ROUTES: ReadonlyMap<string, Route> = new Map([
  ['/drill', route(parseDrillRequest, DRILL_REQUEST_HELP, (h, r) => h.drill(r))],
  ['/operator/disable', route(parseDisableRequest, DISABLE_REQUEST_HELP, (h, r, who) => h.disable?.(r, who))],
  ['/operator/enable', route(parseEnableRequest, ENABLE_REQUEST_HELP, (h, r, who) => h.enable?.(r, who))],
  ['/operator/maintenance', route(parseMaintenanceRequest, MAINTENANCE_REQUEST_HELP, (h, r, who) => h.maintenance?.(r, who))],
]);

export interface ControlServer {
  readonly path: string;
  /** Stops listening, ends open requests and removes the socket (if it is still ours). */
  close(): Promise<void>;
}

export const CONTROL_BODY_LIMIT = 4096;
const PROBE_TIMEOUT_MS = 1000;

/** The control socket could not be set up. */
export class ControlSocketError extends VipkeeperError {
  readonly code = 'E_CONTROL_SOCKET';
  constructor(readonly path: string, why: string) {
    super(`control socket ${path}: ${why}`);
  }
}

type Probe = 'answers' | 'stale' | 'absent';

/** Does something listen on this socket path? */
function probeSocket(path: string): Promise<Probe> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const done = (result: Probe | Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    // A listener too busy to accept within the timeout is still a listener.
    const timer = setTimeout(() => done('answers'), PROBE_TIMEOUT_MS);
    socket.once('connect', () => done('answers'));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') done('stale');
      else if (err.code === 'ENOENT') done('absent');
      else done(err);
    });
  });
}

/** Refuses a path that is not a socket or that something answers on; a dead socket may be replaced. */
async function checkFree(path: string, log: Logger): Promise<void> {
  const st = await lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw new ControlSocketError(path, err.message);
  });
  if (st === null) return;
  if (!st.isSocket()) throw new ControlSocketError(path, 'the path exists and is not a socket; not touching it');
  let probe: Probe;
  try {
    probe = await probeSocket(path);
  } catch (err) {
    throw new ControlSocketError(path, `cannot tell whether it is in use: ${(err as Error).message}`);
  }
  if (probe === 'answers') {
    throw new ControlSocketError(path, 'another process answers on it (is another agent running with this run directory?)');
  }
  if (probe === 'stale') log.info({ path }, 'replacing a stale control socket nothing answers on');
}

function send(res: ServerResponse, status: number, answer: ControlAnswer | object, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(`${JSON.stringify(answer)}\n`);
}

class BodyTooLarge extends Error {}

async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new BodyTooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function isJson(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase() === 'application/json';
}

const READS = ['/show', '/check', '/verify'] as const;
type ReadPath = (typeof READS)[number];

/** GET /show, /check, /verify: read-only, answered by the agent's handlers. */
async function handleRead(path: ReadPath, query: URLSearchParams, req: IncomingMessage, res: ServerResponse, handlers: ControlHandlers): Promise<void> {
  if (req.method !== 'GET') {
    send(res, 405, { ok: false, message: 'GET only' }, { allow: 'GET' });
    return;
  }
  if (!handlers[path.slice(1) as keyof ReadHandlers]) {
    send(res, 404, { ok: false, message: `${path} is not served by this agent` });
    return;
  }
  try {
    if (path === '/show') {
      send(res, 200, await handlers.show!(query.get('service') || null));
    } else if (path === '/check') {
      const names = query.getAll('c');
      const bad = names.length === 0 || names.length > CHECK_MAX_CONTAINERS || names.some((n) => n.trim() === '' || n.length > CHECK_MAX_QUERY);
      if (bad) {
        send(res, 400, { ok: false, message: `expected 1 to ${CHECK_MAX_CONTAINERS} containers as ?c=NAME_OR_ID_PREFIX, each non-empty and at most ${CHECK_MAX_QUERY} characters` });
        return;
      }
      send(res, 200, await handlers.check!(names));
    } else {
      send(res, 200, await handlers.verify!());
    }
  } catch (err) {
    if (!(err instanceof ControlRefusedError)) throw err;
    send(res, err.status, { ok: false, message: err.message });
  }
}

async function handle(req: IncomingMessage, res: ServerResponse, handlers: ControlHandlers, log: Logger, peer: PeerLookup): Promise<void> {
  const { pathname, searchParams } = new URL(req.url ?? '/', 'http://control');
  if ((READS as readonly string[]).includes(pathname)) {
    await handleRead(pathname as ReadPath, searchParams, req, res, handlers);
    return;
  }
  const target = ROUTES.get(pathname);
  if (!target) {
    send(res, 404, { ok: false, message: `not found: the control socket takes POST ${[...ROUTES.keys()].join(', ')}, GET ${READS.join(', ')}` });
    return;
  }
  if (req.method !== 'POST') {
    send(res, 405, { ok: false, message: 'POST only' }, { allow: 'POST' });
    return;
  }
  if (!isJson(req.headers['content-type'])) {
    send(res, 415, { ok: false, message: 'content-type must be application/json' });
    return;
  }
  const tooLarge = () =>
    send(res, 413, { ok: false, message: `request body larger than ${CONTROL_BODY_LIMIT} bytes` }, { connection: 'close' });
  if (Number(req.headers['content-length'] ?? 0) > CONTROL_BODY_LIMIT) {
    tooLarge();
    return;
  }
  let body: string;
  try {
    body = await readBody(req, CONTROL_BODY_LIMIT);
  } catch (err) {
    if (err instanceof BodyTooLarge) {
      tooLarge();
      return;
    }
    throw err;
  }
  const who = await peer(req.socket);
  const run = target.run(body, handlers, who);
  if (!run) {
    log.warn({ action: pathname, who }, 'a bad request on the control socket');
    send(res, 400, { ok: false, bad: true, message: target.help });
    return;
  }
  // Who and what, before anything changes; the handler logs what it did.
  log.info({ action: pathname, request: run.request, who }, `operator action: ${pathname} by uid ${who.uid ?? 'unknown'}`);
  const answer = await run.answer;
  log.info({ action: pathname, who, ok: answer.ok, answer: answer.message }, `operator action ${pathname}: ${answer.ok ? 'done' : 'refused'}`);
  send(res, answer.ok ? 200 : answer.bad ? 400 : 409, answer);
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(path, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

export async function startControlServer(socketPath: string, handlers: ControlHandlers, log: Logger, peer: PeerLookup = peerCredentials): Promise<ControlServer> {
  await checkFree(socketPath, log);

  const server = createServer({ requestTimeout: 60_000, headersTimeout: 10_000 }, (req, res) => {
    handle(req, res, handlers, log, peer).catch((err: unknown) => {
      log.error({ err, path: req.url }, 'control request failed');
      if (!res.headersSent) send(res, 500, { ok: false, message: `internal error: ${(err as Error).message}` });
      else res.destroy();
    });
  });

  // Bound in a private 0700 directory, made 0600 there, then moved into place (see the top).
  let privateDir: string;
  try {
    privateDir = await mkdtemp(join(dirname(socketPath), '.cs-'));
  } catch (err) {
    throw new ControlSocketError(socketPath, `cannot make a private directory beside it: ${(err as Error).message}`);
  }
  const boundAt = join(privateDir, 's');
  let identity: { dev: number; ino: number };
  try {
    await listen(server, boundAt);
    await chmod(boundAt, 0o600);
    const st = await lstat(boundAt);
    if (!st.isSocket() || (st.mode & 0o777) !== 0o600) throw new Error(`socket mode is ${(st.mode & 0o777).toString(8)}, not 600`);
    identity = { dev: st.dev, ino: st.ino };
    await rename(boundAt, socketPath);
  } catch (err) {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await unlink(boundAt).catch(() => undefined);
    throw err instanceof ControlSocketError ? err : new ControlSocketError(socketPath, (err as Error).message);
  } finally {
    await rmdir(privateDir).catch(() => undefined);
  }
  log.info({ path: socketPath }, 'control socket listening (drills, disable/enable, maintenance, show, check, verify; root only)');

  let closing: Promise<void> | null = null;
  return {
    path: socketPath,
    close() {
      closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        // Only our own socket: a newer agent may have put its own at the path meanwhile.
        const st = await lstat(socketPath).catch(() => null);
        if (st && st.dev === identity.dev && st.ino === identity.ino) await unlink(socketPath).catch(() => undefined);
      })();
      return closing;
    },
  };
}
