import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseSessions } from '../../src/operator/operator-controller.js';
import {
  EMPTY_OPERATOR_STATE,
  OPERATOR_STATE_FILE,
  type OperatorState,
  overridesOf,
  parseOperatorState,
  pruneRemoved,
  serializeOperatorState,
  type ServerOverride,
  withOverride,
  withoutOverride,
} from '../../src/operator/operator-state.js';
import { OperatorStore } from '../../src/operator/operator-store.js';
import { type Candidate, resolveTarget } from '../../src/operator/resolve-target.js';
import { idFor } from './fixtures.js';

// The operator state file (what `vipkeeper disable` and `maintenance on` keep)
// and how a target names a server.

const override = (name: string, more: Partial<ServerOverride> = {}): ServerOverride => ({
  containerId: idFor(name),
  containerName: name,
  service: 'apps',
  server: name,
  admin: 'maint',
  drainFirst: false,
  reason: null,
  since: '2026-12-01T00:00:00.000Z',
  by: { uid: 0, pid: 42, command: 'vipkeeper' },
  ...more,
});

const full: OperatorState = {
  version: 1,
  servers: [override('web1', { reason: 'disk full' }), override('web2', { admin: 'drain', drainFirst: true, by: null })],
  maintenance: { since: '2026-12-01T01:00:00.000Z', reason: 'patching', forced: false, by: { uid: 0, pid: 7, command: null } },
};

describe('the operator state file', () => {
  it('round-trips: what is written is read back the same', () => {
    const text = serializeOperatorState(full);
    expect(parseOperatorState(text)).toEqual({ ok: true, state: full });
    expect(serializeOperatorState(EMPTY_OPERATOR_STATE)).toBe('{\n  "version": 1,\n  "servers": [],\n  "maintenance": null\n}\n');
  });

  it('is written in a stable order whatever the order of changes', () => {
    const a = withOverride(withOverride(EMPTY_OPERATOR_STATE, override('b')), override('a'));
    const b = withOverride(withOverride(EMPTY_OPERATOR_STATE, override('a')), override('b'));
    expect(serializeOperatorState(a)).toBe(serializeOperatorState(b));
  });

  const good = JSON.parse(serializeOperatorState(full)) as Record<string, unknown>;
  const withServer = (patch: Record<string, unknown>) => JSON.stringify({ ...good, servers: [{ ...(good.servers as object[])[0], ...patch }] });
  it.each([
    ['not JSON', '{"version":1,', 'not JSON'],
    ['an empty file', '', 'not JSON'],
    ['a list', '[]', 'not a JSON object'],
    ['another version', JSON.stringify({ ...good, version: 2 }), 'version must be 1'],
    ['no server list', JSON.stringify({ ...good, servers: {} }), 'servers must be a list'],
    ['a bad container id', withServer({ containerId: 'web1; rm -rf' }), 'containerId must be a container id'],
    ['an unknown admin state', withServer({ admin: 'off' }), 'admin must be drain or maint'],
    ['a missing date', withServer({ since: 'yesterday' }), 'since must be a date'],
    ['a reason too long', withServer({ reason: 'x'.repeat(201) }), 'reason must be text'],
    ['a bad actor', withServer({ by: { uid: 'root' } }), 'by must be'],
    ['a container twice', JSON.stringify({ ...good, servers: [(good.servers as object[])[0], (good.servers as object[])[0]] }), 'appears twice'],
    ['a bad maintenance', JSON.stringify({ ...good, maintenance: { since: 'x' } }), 'maintenance.since'],
  ])('refuses %s, naming the problem', (_name, text, problem) => {
    const r = parseOperatorState(text);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.problem).toContain(problem);
  });

  it('gives the plan each overridden container wanted state', () => {
    expect([...overridesOf(full)]).toEqual([
      [idFor('web1'), { admin: 'maint', reason: 'disk full' }],
      [idFor('web2'), { admin: 'drain', reason: null }],
    ]);
  });

  it('replaces an override of the same container, and drops one', () => {
    const s = withOverride(full, override('web1', { admin: 'drain' }));
    expect(s.servers.map((x) => [x.server, x.admin])).toEqual([
      ['web1', 'drain'],
      ['web2', 'drain'],
    ]);
    expect(withoutOverride(s, idFor('web1')).servers.map((x) => x.server)).toEqual(['web2']);
  });

  it('prunes overrides of containers that are gone, and keeps those of stopped ones', () => {
    // `existing` is every container the engines list, running or not.
    const { state, removed } = pruneRemoved(full, new Set([idFor('web2')]));
    expect(removed.map((r) => r.server)).toEqual(['web1']);
    expect(state.servers.map((r) => r.server)).toEqual(['web2']);
    expect(pruneRemoved(full, new Set([idFor('web1'), idFor('web2')])).state).toBe(full);
  });
});

describe('OperatorStore', () => {
  const dirs: string[] = [];
  const dir = () => {
    const d = mkdtempSync(join(tmpdir(), 'vk-operator-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('starts empty with no file, and reads back what it saved', async () => {
    const d = join(dir(), 'etc');
    const store = new OperatorStore(d);
    expect(await store.load()).toEqual({ state: EMPTY_OPERATOR_STATE, problem: null });
    await store.save(full);
    expect(await new OperatorStore(d).load()).toEqual({ state: full, problem: null });
    expect(readdirSync(d)).toEqual([OPERATOR_STATE_FILE]); // no temporary file left
  });

  it('keeps a corrupt file beside it, says so, and starts with no overrides', async () => {
    const d = dir();
    writeFileSync(join(d, OPERATOR_STATE_FILE), '{"version":1,"servers":[{');
    const store = new OperatorStore(d, () => Date.parse('2026-12-01T02:03:04.005Z'));
    const { state, problem } = await store.load();
    expect(state).toEqual(EMPTY_OPERATOR_STATE);
    const copy = join(d, `${OPERATOR_STATE_FILE}.corrupt-2026-12-01T02-03-04-005Z`);
    expect(problem).toContain('is corrupt (not JSON');
    expect(problem).toContain(`kept as ${copy}`);
    expect(problem).toContain('started with no operator overrides');
    expect(readFileSync(copy, 'utf8')).toBe('{"version":1,"servers":[{');
    // The next change writes a good file; the copy stays.
    await store.save(full);
    expect((await store.load()).state).toEqual(full);
    expect(existsSync(copy)).toBe(true);
  });
});

const cand = (name: string, service = 'apps', id = idFor(name)): Candidate => ({ containerId: id, containerName: name, service, server: name });

describe('resolveTarget', () => {
  const web1 = cand('web1');
  const web2 = cand('web2');
  const api1 = cand('api1', 'api');
  // Two containers whose ids share a prefix.
  const twinA = cand('twin-a', 'apps', `abc1${'0'.repeat(60)}`);
  const twinB = cand('twin-b', 'apps', `abc2${'0'.repeat(60)}`);
  const all = [web1, web2, api1, twinA, twinB];

  it.each([
    ['a container name', 'web1', web1],
    ['a container name with Docker’s leading slash', '/web2', web2],
    ['a full id', idFor('api1'), api1],
    ['a unique id prefix', 'abc1', twinA],
    ['SERVICE/SERVER', 'api/api1', api1],
  ])('finds %s', (_name, target, found) => {
    expect(resolveTarget(target, all)).toEqual({ ok: true, candidate: found });
  });

  it.each([
    ['an ambiguous id prefix', 'abc', 'ambiguous', 'id prefix abc matches 2 containers'],
    ['an unknown name', 'nope', 'unknown', 'no container or server nope is served here'],
    ['a service with no such server', 'apps/api1', 'unknown', 'service apps has no server api1 (its servers: twin-a, twin-b, web1, web2)'],
    ['an unknown service', 'db/web1', 'unknown', 'no service db with servers (services: api, apps)'],
    ['a target with a space', 'web 1', 'bad', 'is not a container name'],
    ['a target with a newline', 'web1\nx', 'bad', 'is not a container name'],
    ['an empty target', '', 'bad', 'is not a container name'],
  ])('refuses %s', (_name, target, kind, message) => {
    const r = resolveTarget(target, all);
    expect(r).toMatchObject({ ok: false, kind });
    expect(!r.ok && r.message).toContain(message);
  });

  it('says a name is ambiguous when two engines run it, and how to say which', () => {
    const r = resolveTarget('web', [cand('web', 'apps', idFor('x')), { ...cand('web', 'apps', idFor('y')), server: 'host2_web' }]);
    expect(r).toMatchObject({ ok: false, kind: 'ambiguous' });
    expect(!r.ok && r.message).toContain('say which as SERVICE/SERVER');
  });

  it('explains a container that exists but is not a server now', () => {
    const r = resolveTarget('sick', all, [{ containerId: idFor('sick'), containerName: 'sick', reason: 'Docker healthcheck is unhealthy' }]);
    expect(r).toEqual({ ok: false, kind: 'unknown', message: `container "sick" (${idFor('sick').slice(0, 12)}) is not a server now: Docker healthcheck is unhealthy` });
  });
});

describe('parseSessions', () => {
  const answer = '# pxname,svname,qcur,qmax,scur,smax\nbe_apps,web1,0,0,3,5\nbe_apps,web2,0,0,0,1\nbe_apps,BACKEND,0,0,3,5\n';
  it.each([
    ['web1', 3],
    ['web2', 0],
    ['gone', null],
  ] as const)('%s holds %s', (server, n) => {
    expect(parseSessions(answer, 'be_apps', server)).toBe(n);
  });
  it('is null for an answer that is no stat table', () => {
    expect(parseSessions('No such proxy.\n', 'be_apps', 'web1')).toBeNull();
  });
});
