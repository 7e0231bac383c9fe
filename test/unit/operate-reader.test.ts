import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkCommand, showCommand, verifyCommand } from '../../src/cli/operate-commands.js';
import { controlSocketPath } from '../../src/config/paths.js';
import { readControl } from '../../src/control/control-client.js';
import { type ControlServer, startControlServer } from '../../src/control/control-server.js';
import { ControlRefusedError } from '../../src/control/control-types.js';
import type { ServerStateRow } from '../../src/haproxy/runtime-api.js';
import type { ContainerInfo } from '../../src/model/container.js';
import type { DesiredState } from '../../src/model/desired-state.js';
import { type ContainerSource, OperateReader, type OperateParts, readHandlers } from '../../src/operate/operate-reader.js';
import type { CheckAnswer, ShowAnswer, VerifyAnswer } from '../../src/operate/operate-types.js';
import { silentLog } from './support/fakes.js';
import { container, plan, row, rowsFor, SETTINGS, summary } from './support/operate-fixtures.js';

// The agent's side of show/check/verify over fake edges, and the GET routes of the
// control socket with the CLI's client on a real unix socket.

const web1 = container({ name: 'web-1' });
const web2 = container({ name: 'web-2' });

/** An engine that lists `containers`, counting what it was asked; `fails` makes it not answer. */
class FakeSource implements ContainerSource {
  asked = { now: 0, everything: 0 };
  fails: string | null = null;
  constructor(
    readonly name: string,
    public containers: ContainerInfo[],
  ) {}
  async listNow() {
    this.asked.now += 1;
    if (this.fails) throw new Error(this.fails);
    return this.containers.filter((c) => c.labels.role === 'apps');
  }
  async listEverything() {
    this.asked.everything += 1;
    if (this.fails) throw new Error(this.fails);
    return this.containers.map((c) => summary(c, this.name));
  }
}

function parts(o: { applied?: DesiredState | null; rows?: ServerStateRow[] | Error; sources?: ContainerSource[] } = {}): OperateParts {
  const applied = o.applied === undefined ? plan([web1, web2]) : o.applied;
  return {
    settings: () => SETTINGS,
    applied: () => applied,
    serversState: async () => {
      if (o.rows instanceof Error) throw o.rows;
      return o.rows ?? (applied ? rowsFor(applied) : []);
    },
    stopping: () => new Set(),
    leaving: () => [],
    sources: o.sources ?? [new FakeSource('local', [web1, web2])],
  };
}

async function refusal(p: Promise<unknown>): Promise<ControlRefusedError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(ControlRefusedError);
  return err as ControlRefusedError;
}

describe('OperateReader', () => {
  it('refuses every question (503) until the first pass went live', async () => {
    const r = new OperateReader(parts({ applied: null }));
    for (const ask of [r.show(null), r.check(['web-1']), r.verify()]) {
      expect(await refusal(ask)).toMatchObject({ status: 503, message: expect.stringContaining('the agent is starting') });
    }
  });

  it("refuses (503) when HAProxy's Runtime API does not answer, rather than call every server absent", async () => {
    const r = new OperateReader(parts({ rows: new Error('connect ENOENT /run/vipkeeper/haproxy.sock') }));
    expect(await refusal(r.show(null))).toMatchObject({ status: 503, message: "HAProxy's Runtime API does not answer: connect ENOENT /run/vipkeeper/haproxy.sock" });
  });

  it('show SERVICE answers that service only; an unknown one is refused (404) with the nearest name', async () => {
    const r = new OperateReader(parts());
    expect((await r.show('apps')).services.map((s) => s.name)).toEqual(['apps']);
    expect(await refusal(r.show('app'))).toMatchObject({ status: 404, message: 'no service named "app"; did you mean apps? (services: apps)' });
  });

  it('check lists every container of every engine; an engine that fails is named and the others still count', async () => {
    const local = new FakeSource('local', [web1, web2]);
    const far = new FakeSource('host2', []);
    far.fails = 'connect EHOSTUNREACH';
    const answer = await new OperateReader(parts({ sources: [local, far] })).check(['web-1', 'web-9']);
    expect(local.asked).toEqual({ now: 0, everything: 1 });
    expect(answer.engines).toEqual([{ name: 'local', ok: true, error: null }, { name: 'host2', ok: false, error: 'connect EHOSTUNREACH' }]);
    expect(answer.results.map((x) => x.verdict)).toEqual(['balanced', 'unknown']);
  });

  it('verify lists the engines afresh (listNow, never a cache) and plans from that list', async () => {
    const local = new FakeSource('local', [web1, web2]);
    const r = new OperateReader(parts({ sources: [local] }));
    expect((await r.verify()).ok).toBe(true);
    expect(local.asked.now).toBe(1);
    local.containers = [web1]; // web-2 removed since the last pass: HAProxy still has its server
    const answer = await r.verify();
    expect(answer.ok).toBe(false);
    expect(answer.unbacked.map((u) => u.server)).toEqual(['web-2']);
  });
});

/** A raw GET or POST on the socket, for statuses the client never asks for. */
function raw(socketPath: string, method: string, path: string) {
  return new Promise<{ status: number; allow: unknown; body: string }>((resolve, reject) => {
    const req = request({ socketPath, method, path }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += String(c)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, allow: res.headers.allow, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('GET /show, /check, /verify on the control socket', () => {
  let dir: string;
  let socketPath: string;
  let control: ControlServer | null;
  let seen: string[][];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vipkeeper-operate-'));
    socketPath = controlSocketPath(dir);
    control = null;
    seen = [];
  });
  afterEach(async () => {
    await control?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(p: OperateParts = parts()) {
    const reads = readHandlers(p);
    control = await startControlServer(
      socketPath,
      {
        drill: async () => ({ ok: true, message: 'fake' }),
        ...reads,
        check: (q) => (seen.push([...q]), reads.check(q)),
      },
      silentLog(),
    );
  }

  it('answer with JSON the client reads back', async () => {
    await start();
    expect((await readControl<ShowAnswer>(socketPath, '/show')).services[0]!.servers.map((s) => s.name)).toEqual(['web-1', 'web-2']);
    expect((await readControl<CheckAnswer>(socketPath, '/check?c=web-1&c=web-2')).ok).toBe(true);
    expect((await readControl<VerifyAnswer>(socketPath, '/verify')).ok).toBe(true);
  });

  it('pass names as they were typed, any characters included', async () => {
    await start();
    const out: string[] = [];
    await checkCommand({ control: socketPath, format: 'json', containers: ['web-1', 'a&c=b', 'x y/z', 'é'] }, (s) => out.push(s), () => undefined);
    expect(seen).toEqual([['web-1', 'a&c=b', 'x y/z', 'é']]);
  });

  it.each([
    ['/check', 400],
    ['/check?c=', 400],
    [`/check?${Array.from({ length: 101 }, (_, i) => `c=x${i}`).join('&')}`, 400],
    [`/check?c=${'x'.repeat(257)}`, 400],
    ['/show?service=nope', 404],
  ])('GET %s answers %i with a message', async (path, status) => {
    await start();
    const r = await raw(socketPath, 'GET', path);
    expect(r.status).toBe(status);
    expect(JSON.parse(r.body)).toMatchObject({ ok: false, message: expect.any(String) });
  });

  it('are GET only: a POST answers 405', async () => {
    await start();
    const r = await raw(socketPath, 'POST', '/verify');
    expect(r).toMatchObject({ status: 405, allow: 'GET' });
  });

  it('an agent without read handlers answers 404, not a crash', async () => {
    control = await startControlServer(socketPath, { drill: async () => ({ ok: true, message: 'fake' }) }, silentLog());
    expect((await raw(socketPath, 'GET', '/verify')).status).toBe(404);
  });

  it("the client turns a refusal into ControlRefusedError carrying the agent's message", async () => {
    await start(parts({ applied: null }));
    const err = await refusal(readControl(socketPath, '/show'));
    expect(err).toMatchObject({ status: 503, code: 'E_CONTROL_REFUSED', message: expect.stringContaining('the agent is starting') });
  });

  it("the commands say ok or no, and print the one-line reason on stderr only for no", async () => {
    await start(parts({ rows: [...rowsFor(plan([web1, web2])), row('be_apps', 'x', '127.0.0.1', 9)] }));
    const out: string[] = [];
    const err: string[] = [];
    expect(await showCommand({ control: socketPath, format: 'table', service: null }, (s) => out.push(s))).toBe('ok');
    expect(out.join('\n')).toMatch(/^ {2}x +\(none\) +- +127\.0\.0\.1:9 /m);
    expect(await checkCommand({ control: socketPath, format: 'table', containers: ['web-1'] }, (s) => out.push(s), (s) => err.push(s))).toBe('ok');
    expect(err).toEqual([]);
    expect(await verifyCommand({ control: socketPath, format: 'yaml' }, (s) => out.push(s), (s) => err.push(s))).toBe('no');
    expect(out.at(-1)).toMatch(/^ok: false\n/);
    expect(err).toEqual(['HAProxy and the engines disagree: 1 server with no running container (be_apps/x)']);
  });
});
