import { VipkeeperError } from '../errors.js';
import { request } from 'node:http';
import { connect } from 'node:net';
import { type ControlAnswer, ControlRefusedError, type DrillAnswer, type DrillRequest } from './control-types.js';

// Talks to a running agent's control socket (same host; root or the socket's owner).

/** The control socket cannot be reached: one line saying which, why, and what it takes. */
export class ControlUnreachableError extends VipkeeperError {
  readonly code = 'E_CONTROL_UNREACHABLE';
  constructor(readonly socketPath: string, cause: unknown) {
    super(controlUnreachableMessage(socketPath, cause), { cause });
  }
}

/** Pure: the one-line message for a failed connection to the control socket. */
export function controlUnreachableMessage(socketPath: string, cause: unknown): string {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  const why =
    code === 'EACCES' || code === 'EPERM'
      ? 'permission denied'
      : code === 'ENOENT'
        ? 'no such socket'
        : code === 'ECONNREFUSED'
          ? 'nothing answers on it'
          : cause instanceof Error
            ? cause.message
            : String(cause);
  return (
    `cannot reach the agent's control socket ${socketPath} (${why}): the agent must be running on this host ` +
    `(--control or VIPKEEPER_RUN_DIR names its run directory), and you must be root (or the socket's owner)`
  );
}

/** Connects and hangs up at once: fails early, before a drill starts anything, when the socket is out of reach. */
export function checkControlSocket(socketPath: string, timeoutMs = 3000): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ControlUnreachableError(socketPath, new Error(`no answer within ${timeoutMs} ms`)));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.end();
      resolve();
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new ControlUnreachableError(socketPath, err));
    });
  });
}

/** POST /drill on the control socket. The agent's refusal is an answer (ok: false), not an error. */
export async function postDrill(socketPath: string, drill: DrillRequest, timeoutMs = 30_000): Promise<DrillAnswer> {
  const answer = await postControl(socketPath, '/drill', drill, timeoutMs);
  return { ok: answer.ok, message: answer.message };
}

/**
 * POST a request to the control socket; the agent's "no" (409) and "bad request" (400) are
 * answers (ok: false, bad tells them apart), not errors. Rejects only when the socket fails.
 */
export function postControl(socketPath: string, path: string, payload: unknown, timeoutMs = 30_000): Promise<ControlAnswer> {
  const body = JSON.stringify(payload);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        path,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(new ControlUnreachableError(socketPath, err)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const bad = res.statusCode === 400;
          try {
            const answer = JSON.parse(text) as { ok?: unknown; message?: unknown; data?: unknown };
            resolve({
              ok: answer.ok === true,
              message: typeof answer.message === 'string' ? answer.message : text.trim(),
              ...(bad ? { bad } : {}),
              ...(typeof answer.data === 'object' && answer.data !== null ? { data: answer.data as Record<string, unknown> } : {}),
            });
          } catch {
            resolve({ ok: false, message: `HTTP ${res.statusCode}: ${text.trim()}`, ...(bad ? { bad } : {}) });
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => reject(new ControlUnreachableError(socketPath, err)));
    req.end(body);
  });
}

/** How long a read-only question may take: `verify` lists and inspects every container afresh. */
export const READ_TIMEOUT_MS = 60_000;

/**
 * GET a read-only answer (`/show`, `/check?c=...`, `/verify`) on the control socket.
 * Resolves with the agent's JSON answer; rejects with ControlRefusedError (the
 * agent's one-line message) when it answers with an error status, and with
 * ControlUnreachableError when the socket cannot be used.
 */
export function readControl<T>(socketPath: string, path: string, timeoutMs = READ_TIMEOUT_MS): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'GET', timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => reject(new ControlUnreachableError(socketPath, err)));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          reject(new ControlRefusedError(`the agent answered HTTP ${res.statusCode} with no JSON: ${text.trim().slice(0, 200)}`, res.statusCode ?? 500));
          return;
        }
        if (res.statusCode === 200) resolve(body as T);
        else {
          const message = (body as { message?: unknown }).message;
          reject(new ControlRefusedError(typeof message === 'string' ? message : `HTTP ${res.statusCode}`, res.statusCode ?? 500));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => reject(new ControlUnreachableError(socketPath, err)));
    req.end();
  });
}
