import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { drillCommand } from '../../src/cli/drill-command.js';
import { ENV } from '../../src/config/env-schema.js';
import { controlSocketPath, DEFAULT_RUN_DIR, runtimePaths } from '../../src/config/paths.js';
import { checkControlSocket, ControlUnreachableError, controlUnreachableMessage, postDrill } from '../../src/control/control-client.js';
import { CONTROL_BODY_LIMIT, ControlSocketError, type ControlServer, startControlServer } from '../../src/control/control-server.js';
import { type DrillAnswer, type DrillRequest, parseDrillRequest } from '../../src/control/control-types.js';

const log = pino({ level: 'silent' });

/** A fake agent: records every drill request, answers ok unless told otherwise. */
function fakeHandlers(answer: DrillAnswer = { ok: true, message: 'fake drill started' }) {
  const seen: DrillRequest[] = [];
  return { seen, handlers: { drill: async (r: DrillRequest) => (seen.push(r), answer) } };
}

/** A raw request on the socket, so headers and bodies the client never sends can be tried. */
function raw(socketPath: string, opts: { method: string; path: string; headers?: Record<string, string>; body?: string }) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
    const req = request({ socketPath, method: opts.method, path: opts.path, headers: opts.headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += String(c)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

function listenNet(path: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer((c) => c.end());
    s.once('error', reject);
    s.listen(path, () => resolve(s));
  });
}

/** A socket file nothing listens on, as an agent killed with SIGKILL leaves behind. */
async function staleSocket(path: string): Promise<void> {
  const s = await listenNet(`${path}.tmp`);
  renameSync(`${path}.tmp`, path); // closing unlinks the bound name, which is gone now: the file stays
  await new Promise<void>((r) => s.close(() => r()));
  expect(lstatSync(path).isSocket()).toBe(true);
}

describe('the control socket', () => {
  let dir: string;
  let socketPath: string;
  let control: ControlServer | null;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vipkeeper-control-'));
    socketPath = controlSocketPath(dir);
    control = null;
  });
  afterEach(async () => {
    await control?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is a socket of mode 0600, and no private directory is left beside it', async () => {
    control = await startControlServer(socketPath, fakeHandlers().handlers, log);
    const st = lstatSync(socketPath);
    expect(st.isSocket()).toBe(true);
    expect((st.mode & 0o777).toString(8)).toBe('600');
    expect(readdirSync(dir)).toEqual(['control.sock']);
  });

  it('keeps 0600 whatever the umask', async () => {
    const old = process.umask(0);
    try {
      control = await startControlServer(socketPath, fakeHandlers().handlers, log);
    } finally {
      process.umask(old);
    }
    expect((lstatSync(socketPath).mode & 0o777).toString(8)).toBe('600');
  });

  it.runIf(process.getuid?.() === 0)('cannot be reached by another local user, even through an open directory', async () => {
    chmodSync(dir, 0o755);
    control = await startControlServer(socketPath, fakeHandlers().handlers, log);
    const script = `require('net').connect(process.argv[1]).on('connect',()=>{console.log('connected');process.exit(0)}).on('error',(e)=>{console.log(e.code);process.exit(0)})`;
    const r = spawnSync(process.execPath, ['-e', script, socketPath], { uid: 65534, gid: 65534, encoding: 'utf8', timeout: 10_000 });
    expect(r.stdout.trim()).toBe('EACCES');
  });

  it('starts and restores a drill with a JSON request, and passes a refusal on as 409', async () => {
    const { seen, handlers } = fakeHandlers();
    control = await startControlServer(socketPath, handlers, log);
    expect(await postDrill(socketPath, { action: 'start', mode: 'fault' })).toEqual({ ok: true, message: 'fake drill started' });
    expect(await postDrill(socketPath, { action: 'restore' })).toEqual({ ok: true, message: 'fake drill started' });
    expect(seen).toEqual([{ action: 'start', mode: 'fault' }, { action: 'restore' }]);
    await control.close();

    const refusing = fakeHandlers({ ok: false, message: 'a graceful drill is already running' });
    control = await startControlServer(socketPath, refusing.handlers, log);
    const r = await raw(socketPath, { method: 'POST', path: '/drill', headers: { 'content-type': 'application/json; charset=utf-8' }, body: '{"action":"start","mode":"haproxy"}' });
    expect(r.status).toBe(409);
    expect(JSON.parse(r.body)).toEqual({ ok: false, message: 'a graceful drill is already running' });
    expect(await postDrill(socketPath, { action: 'restore' })).toEqual({ ok: false, message: 'a graceful drill is already running' });
  });

  it.each([
    ['text/plain', { method: 'POST', path: '/drill', headers: { 'content-type': 'text/plain' }, body: '{"action":"start","mode":"fault"}' }, 415],
    ['no content type', { method: 'POST', path: '/drill', body: '{"action":"start","mode":"fault"}' }, 415],
    ['form data', { method: 'POST', path: '/drill', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'action=start' }, 415],
    ['GET', { method: 'GET', path: '/drill' }, 405],
    ['another path', { method: 'POST', path: '/status', headers: { 'content-type': 'application/json' }, body: '{}' }, 404],
    ['not JSON', { method: 'POST', path: '/drill', headers: { 'content-type': 'application/json' }, body: 'start fault' }, 400],
    ['an unknown mode', { method: 'POST', path: '/drill', headers: { 'content-type': 'application/json' }, body: '{"action":"start","mode":"reboot"}' }, 400],
    ['a body over 4 KiB', { method: 'POST', path: '/drill', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ action: 'restore', pad: 'x'.repeat(CONTROL_BODY_LIMIT) }) }, 413],
  ])('refuses %s without reaching the handler', async (_what, req, status) => {
    const { seen, handlers } = fakeHandlers();
    control = await startControlServer(socketPath, handlers, log);
    const r = await raw(socketPath, req);
    expect(r.status).toBe(status);
    expect(JSON.parse(r.body)).toMatchObject({ ok: false });
    if (status === 405) expect(r.headers.allow).toBe('POST');
    expect(seen).toEqual([]);
  });

  it('refuses a body over 4 KiB sent in chunks without a length', async () => {
    const { seen, handlers } = fakeHandlers();
    control = await startControlServer(socketPath, handlers, log);
    const r = await raw(socketPath, { method: 'POST', path: '/drill', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, body: `{"action":"restore","pad":"${'y'.repeat(5000)}"}` });
    expect(r.status).toBe(413);
    expect(seen).toEqual([]);
  });

  it('answers 500 with the reason when the handler throws', async () => {
    control = await startControlServer(socketPath, { drill: () => Promise.reject(new Error('keepalived would not stop')) }, log);
    const r = await raw(socketPath, { method: 'POST', path: '/drill', headers: { 'content-type': 'application/json' }, body: '{"action":"restore"}' });
    expect(r.status).toBe(500);
    expect(JSON.parse(r.body)).toEqual({ ok: false, message: 'internal error: keepalived would not stop' });
  });

  it('replaces a stale socket nothing answers on', async () => {
    await staleSocket(socketPath);
    const { seen, handlers } = fakeHandlers();
    control = await startControlServer(socketPath, handlers, log);
    expect((await postDrill(socketPath, { action: 'restore' })).ok).toBe(true);
    expect(seen).toHaveLength(1);
    expect((lstatSync(socketPath).mode & 0o777).toString(8)).toBe('600');
  });

  it("refuses a path something answers on, and leaves that socket alone", async () => {
    const live = await listenNet(socketPath);
    try {
      await expect(startControlServer(socketPath, fakeHandlers().handlers, log)).rejects.toThrow(ControlSocketError);
      await expect(startControlServer(socketPath, fakeHandlers().handlers, log)).rejects.toThrow(/another process answers on it/);
      expect(lstatSync(socketPath).isSocket()).toBe(true);
      await checkControlSocket(socketPath); // still the live one's
      expect(readdirSync(dir)).toEqual(['control.sock']);
    } finally {
      await new Promise<void>((r) => live.close(() => r()));
    }
  });

  it('refuses a path that is not a socket, and leaves the file alone', async () => {
    writeFileSync(socketPath, 'mine\n');
    await expect(startControlServer(socketPath, fakeHandlers().handlers, log)).rejects.toThrow(/not a socket/);
    expect(lstatSync(socketPath).isFile()).toBe(true);
  });

  it('close() removes the socket, once, and not a newer agent’s', async () => {
    control = await startControlServer(socketPath, fakeHandlers().handlers, log);
    await control.close();
    await control.close();
    expect(existsSync(socketPath)).toBe(false);

    control = await startControlServer(socketPath, fakeHandlers().handlers, log);
    const first = control;
    renameSync(socketPath, join(dir, 'old.sock'));
    const newer = await startControlServer(socketPath, fakeHandlers().handlers, log);
    await first.close();
    expect(lstatSync(socketPath).isSocket()).toBe(true);
    await checkControlSocket(socketPath);
    control = newer;
  });
});

describe('the drill client', () => {
  it('says which socket, why, and what it takes when there is none', async () => {
    const missing = join(tmpdir(), `vipkeeper-no-such-${process.pid}`, 'control.sock');
    const err = await checkControlSocket(missing).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlUnreachableError);
    const message = (err as Error).message;
    expect(message).toContain(missing);
    expect(message).toContain('(no such socket)');
    expect(message).toContain('the agent must be running on this host');
    expect(message).toContain("you must be root (or the socket's owner)");
    expect(message).not.toContain('\n');
  });

  it.each([
    ['EACCES', 'permission denied'],
    ['EPERM', 'permission denied'],
    ['ECONNREFUSED', 'nothing answers on it'],
  ])('names %s plainly', (code, why) => {
    const cause = Object.assign(new Error(`connect ${code}`), { code });
    expect(controlUnreachableMessage('/run/vipkeeper/control.sock', cause)).toMatch(
      new RegExp(`^cannot reach the agent's control socket /run/vipkeeper/control\\.sock \\(${why}\\): the agent must be running on this host .*you must be root \\(or the socket's owner\\)$`),
    );
  });

  it('vipkeeper drill stops before anything else when the control socket is out of reach', async () => {
    const missing = join(tmpdir(), `vipkeeper-no-such-${process.pid}`, 'control.sock');
    const warned: string[] = [];
    const run = drillCommand(
      { mode: 'graceful', holdMs: 0, force: false, addr: '127.0.0.1:1', control: missing, json: false, timeoutMs: 1000 },
      () => undefined,
      (s) => warned.push(s),
    );
    // It did not ask the status address (port 1 would have made it an AgentUnreachableError).
    await expect(run).rejects.toThrow(ControlUnreachableError);
    expect(warned).toEqual([]);
  });

  it('uses <run dir>/control.sock, with the run directory default of the environment schema', () => {
    expect(DEFAULT_RUN_DIR).toBe(ENV.runDir.defaultText);
    expect(controlSocketPath(DEFAULT_RUN_DIR)).toBe('/run/vipkeeper/control.sock');
    expect(runtimePaths({ configDir: '/etc/x', runDir: '/run/x' }).controlSocket).toBe('/run/x/control.sock');
  });
});

describe('drill requests', () => {
  it.each([
    ['{"action":"start","mode":"graceful"}', { action: 'start', mode: 'graceful' }],
    ['{"action":"start","mode":"haproxy"}', { action: 'start', mode: 'haproxy' }],
    ['{"action":"start","mode":"fault"}', { action: 'start', mode: 'fault' }],
    ['{"action":"restore","mode":"fault"}', { action: 'restore' }],
    ['{"action":"start"}', null],
    ['{"action":"start","mode":"toString"}', null],
    ['{"action":"stop"}', null],
    ['["start"]', null],
    ['null', null],
    ['', null],
  ])('%j', (body, expected) => {
    expect(parseDrillRequest(body)).toEqual(expected);
  });
});
