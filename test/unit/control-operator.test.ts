import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFigures } from '../../src/cli/change-commands.js';
import { controlSocketPath } from '../../src/config/paths.js';
import { postControl, postDrill } from '../../src/control/control-client.js';
import { type ControlHandlers, type ControlServer, startControlServer } from '../../src/control/control-server.js';
import { parseDisableRequest, parseEnableRequest, parseMaintenanceRequest } from '../../src/control/control-types.js';
import { parsePeerCred, peerCredentials, type PeerCredentials } from '../../src/control/peer-credentials.js';
import { recordingLog } from './support/fakes.js';

// The control socket's operator routes: what they accept, the status codes the
// CLI turns into exit codes, and who is logged as asking (SO_PEERCRED).

const { log, lines } = recordingLog() as unknown as { log: ReturnType<typeof recordingLog>['log']; lines: Record<string, unknown>[] };

const FAKE_PEER: PeerCredentials = { uid: 1234, pid: 99, command: 'fake', problem: null };

describe('control routes for operator actions', () => {
  let dir: string;
  let socketPath: string;
  let control: ControlServer | null;
  const seen: { route: string; request: unknown; who: PeerCredentials }[] = [];
  const handlers: ControlHandlers = {
    drill: async () => ({ ok: true, message: 'drill' }),
    disable: async (r, who) => (seen.push({ route: 'disable', request: r, who }), r.target === 'nope' ? { ok: false, message: 'no container nope' } : { ok: true, message: 'disabled', data: { admin: 'maint' } }),
    enable: async (r, who) => (seen.push({ route: 'enable', request: r, who }), r.target === 'web 1' ? { ok: false, bad: true, message: 'bad target' } : { ok: true, message: 'enabled' }),
    maintenance: async (r, who) => (seen.push({ route: 'maintenance', request: r, who }), { ok: true, message: 'maintenance' }),
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vk-control-op-'));
    socketPath = controlSocketPath(dir);
    control = null;
    seen.length = 0;
    lines.length = 0;
  });
  afterEach(async () => {
    await control?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('hands each request with its peer to the handler, and answers 200, 409 for a no, 400 for a bad request', async () => {
    control = await startControlServer(socketPath, handlers, log, async () => FAKE_PEER);
    expect(await postControl(socketPath, '/operator/disable', { target: 'web1', drain: true, reason: 'disk' })).toEqual({ ok: true, message: 'disabled', data: { admin: 'maint' } });
    expect(await postControl(socketPath, '/operator/disable', { target: 'nope' })).toEqual({ ok: false, message: 'no container nope' });
    expect(await postControl(socketPath, '/operator/enable', { target: 'web 1' })).toEqual({ ok: false, bad: true, message: 'bad target' });
    expect(await postControl(socketPath, '/operator/maintenance', { on: true, force: true })).toEqual({ ok: true, message: 'maintenance' });
    expect(seen).toEqual([
      { route: 'disable', request: { target: 'web1', drain: true, reason: 'disk' }, who: FAKE_PEER },
      { route: 'disable', request: { target: 'nope', drain: false, reason: null }, who: FAKE_PEER },
      { route: 'enable', request: { target: 'web 1' }, who: FAKE_PEER },
      { route: 'maintenance', request: { on: true, force: true, reason: null }, who: FAKE_PEER },
    ]);
    // Who and what, for every action.
    expect(lines.filter((l) => String(l.msg).startsWith('operator action: '))).toEqual([
      expect.objectContaining({ action: '/operator/disable', who: FAKE_PEER, request: { target: 'web1', drain: true, reason: 'disk' }, msg: 'operator action: /operator/disable by uid 1234' }),
      expect.objectContaining({ action: '/operator/disable' }),
      expect.objectContaining({ action: '/operator/enable' }),
      expect.objectContaining({ action: '/operator/maintenance' }),
    ]);
  });

  it('a body that is no such request never reaches the handler (400, with what is expected)', async () => {
    control = await startControlServer(socketPath, handlers, log, async () => FAKE_PEER);
    const a = await postControl(socketPath, '/operator/maintenance', { on: 'yes' });
    expect(a).toMatchObject({ ok: false, bad: true, message: expect.stringContaining('expected {"on":true') });
    expect(seen).toEqual([]);
  });

  it('a drill is logged with its peer too', async () => {
    control = await startControlServer(socketPath, handlers, log, async () => FAKE_PEER);
    await postDrill(socketPath, { action: 'restore' });
    expect(lines).toContainEqual(expect.objectContaining({ action: '/drill', who: FAKE_PEER }));
  });

  it.runIf(process.getuid?.() === 0)('names the real peer: another user connecting is logged with its own uid and pid', async () => {
    const who: PeerCredentials[] = [];
    control = await startControlServer(socketPath, { ...handlers, enable: async (_r, w) => (who.push(w), { ok: true, message: 'enabled' }) }, log);
    // Only for this test: let uid 65534 reach the socket (the agent's is 0600, root only).
    chmodSync(dir, 0o755);
    chmodSync(socketPath, 0o666);
    const script = `const r=require('http').request({socketPath:process.argv[1],path:'/operator/enable',method:'POST',headers:{'content-type':'application/json'}},(res)=>{res.resume();res.on('end',()=>process.exit(0))});r.end(JSON.stringify({target:'web1'}))`;
    const child = spawn(process.execPath, ['-e', script, socketPath], { uid: 65534, gid: 65534, stdio: 'ignore' });
    const pid = child.pid;
    await new Promise((r) => child.on('exit', r));
    expect(who).toEqual([{ uid: 65534, pid, command: expect.any(String), problem: null }]);
  });
});

describe('peer credentials', () => {
  it.each([
    ['1234 0 0\n', { pid: 1234, uid: 0 }],
    ['77 65534 65534', { pid: 77, uid: 65534 }],
    ['', null],
    ['getsockopt: Bad file descriptor', null],
  ])('parses %j', (out, want) => {
    expect(parsePeerCred(out)).toEqual(want);
  });

  it('reads this process as the peer of its own connection, and the connection still works after', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vk-peer-'));
    const path = join(dir, 's');
    const got: PeerCredentials[] = [];
    const server = createServer((sock) => {
      void peerCredentials(sock).then((p) => {
        got.push(p);
        sock.once('data', (d) => sock.end(`echo ${String(d)}`));
      });
    });
    await new Promise<void>((r) => server.listen(path, () => r()));
    const { createConnection } = await import('node:net');
    const c = createConnection(path);
    await new Promise((r) => setTimeout(r, 300));
    c.write('hi');
    const answer = await new Promise<string>((r) => c.once('data', (d) => r(String(d))));
    c.destroy();
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
    expect(answer).toBe('echo hi');
    expect(got).toEqual([{ uid: process.getuid?.() ?? null, pid: process.pid, command: expect.any(String), problem: null }]);
  });
});

describe('request parsers', () => {
  it.each([
    ['{"target":"web1"}', { target: 'web1', drain: false, reason: null }],
    ['{"target":"web1","drain":true,"reason":"  disk  "}', { target: 'web1', drain: true, reason: 'disk' }],
    ['{"target":"web1","reason":""}', { target: 'web1', drain: false, reason: null }],
    ['{"target":""}', null],
    ['{"target":"web1","drain":"yes"}', null],
    ['{"target":"web1","reason":"two\\nlines"}', null],
    [`{"target":"web1","reason":"${'x'.repeat(201)}"}`, null],
    ['["web1"]', null],
  ])('disable %s', (body, want) => {
    expect(parseDisableRequest(body)).toEqual(want);
  });
  it.each([
    ['{"target":"apps/web1"}', { target: 'apps/web1' }],
    ['{"target":1}', null],
  ])('enable %s', (body, want) => {
    expect(parseEnableRequest(body)).toEqual(want);
  });
  it.each([
    ['{"on":true}', { on: true, force: false, reason: null }],
    ['{"on":true,"force":true,"reason":"patch"}', { on: true, force: true, reason: 'patch' }],
    ['{"on":false,"force":true}', { on: false }],
    ['{"on":"true"}', null],
    ['{}', null],
  ])('maintenance %s', (body, want) => {
    expect(parseMaintenanceRequest(body)).toEqual(want);
  });
});

describe('maintenance --wait figures', () => {
  const p = (start: number, ok: boolean) => ({ start, end: start + 5, ok });
  it('counts failed requests until the first one answered after the VIP left', () => {
    const records = [p(90, true), p(100, true), p(150, false), p(200, false), p(250, true), p(300, true)];
    expect(waitFigures(records, 100, 140)).toEqual({ answeredAgainMs: 155, failed: 2, probes: 4 });
  });
  it('has no answer while the VIP never left', () => {
    expect(waitFigures([p(100, true)], 100, null)).toEqual({ answeredAgainMs: null, failed: 0, probes: 1 });
  });
});
