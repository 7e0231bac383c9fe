import { describe, expect, it } from 'vitest';
import { mapSummary } from '../../src/docker/map-container.js';
import { checkContainers, type CheckInputs, resolveContainer } from '../../src/operate/check.js';
import { buildInventory } from '../../src/operate/inventory.js';
import type { AdminNote } from '../../src/operate/operate-types.js';
import type { ContainerSummary } from '../../src/model/container.js';
import type { ServerStateRow } from '../../src/haproxy/runtime-api.js';
import { container, plan, rowsFor, SETTINGS, summary } from './support/operate-fixtures.js';

// `vipkeeper check`: find a container like Docker does, then name the first reason it is not balanced and up.

const s = (name: string, id: string, engine = 'local'): ContainerSummary => ({ id, name, running: true, state: 'running', labels: {}, engine });
const HEX = (p: string) => p.padEnd(64, '0');

describe('resolveContainer: a name or an id prefix, as Docker resolves it', () => {
  const a = s('web-1', HEX('abc1'));
  const b = s('web-2', HEX('abc2'));
  const c = s('abc1', HEX('ffff')); // a container whose name looks like another's id prefix
  const far = s('web-1', HEX('9999'), 'host2');
  const all = [a, b, c];

  it.each([
    ['a full id', HEX('abc1'), a],
    ['an exact name', 'web-2', b],
    ["Docker's spelling of a name", '/web-2', b],
    ['a unique id prefix', 'abc2', b],
    ['an upper-case id prefix', 'ABC2', b],
    ['a name before an id prefix (as Docker)', 'abc1', c],
  ])('finds %s', (_, query, want) => {
    expect(resolveContainer(query, all)).toEqual({ kind: 'one', container: want });
  });

  it('an id prefix two containers share is ambiguous, naming both', () => {
    expect(resolveContainer('abc', all)).toEqual({ kind: 'ambiguous', matches: [a, b] });
  });

  it('a name on two engines is ambiguous; ENGINE/NAME picks one', () => {
    expect(resolveContainer('web-1', [a, far])).toEqual({ kind: 'ambiguous', matches: [far, a] });
    expect(resolveContainer('host2/web-1', [a, far])).toEqual({ kind: 'one', container: far });
    expect(resolveContainer('local/abc1', [a, far])).toEqual({ kind: 'one', container: a });
  });

  it.each([['nothing like it', 'db-1'], ['an id prefix matching none', 'dead'], ['empty', ''], ['an unknown engine', 'nope/web-1'], ['a name prefix (Docker does not match those)', 'web']])(
    'finds none for %s',
    (_, query) => {
      expect(resolveContainer(query, all)).toEqual({ kind: 'none' });
    },
  );
});

describe('checkContainers', () => {
  const ok1 = container({ name: 'vkt-ok' });
  const down = container({ name: 'vkt-down' });
  const off = container({ name: 'vkt-off' });
  const drained = container({ name: 'vkt-drained' });
  const stopped = container({ name: 'vkt-stopped', running: false });
  const bare = container({ name: 'vkt-bare', labels: {} });
  const db = container({ name: 'vkt-db', labels: { role: 'db' } });
  const evil = container({ name: 'vkt-evil', extraLabels: { 'vipkeeper.port': '80\n  server evil 203.0.113.5:80' } });
  const sick = container({ name: 'vkt-sick', health: 'unhealthy' });
  const late = container({ name: 'vkt-late' });
  const oneoff = container({ name: 'vkt-run', extraLabels: { 'com.docker.compose.oneoff': 'True' } });
  const all = [ok1, down, off, drained, stopped, bare, db, evil, sick, oneoff];
  const state = plan(all); // vkt-late started after the last pass: not in the applied state
  const rows: ServerStateRow[] = rowsFor(state).map((r) =>
    r.server === 'vkt-down' ? { ...r, opState: 0 } : r.server === 'vkt-off' ? { ...r, adminState: 0x01 } : r.server === 'vkt-drained' ? { ...r, adminState: 0x08 } : r,
  );
  const notes = new Map<string, AdminNote>([['be_apps/vkt-off', { source: 'operator', reason: 'disk swap' }]]);
  const inputs = (queries: string[], more: Partial<CheckInputs> = {}): CheckInputs => ({
    queries,
    containers: [...all, late].map((c) => summary(c)),
    engines: [{ name: 'local', ok: true, error: null }],
    settings: SETTINGS,
    state,
    inventory: buildInventory({ services: state.services, rows, stopping: new Set([drained.id]), leaving: [], defaultEngine: 'local', notes }),
    ...more,
  });
  const one = (query: string, more: Partial<CheckInputs> = {}) => checkContainers(inputs([query], more)).results[0]!;

  it('a balanced container that HAProxy has up is ok, with its server', () => {
    const answer = checkContainers(inputs(['vkt-ok', ok1.id.slice(0, 6)]));
    expect(answer.ok).toBe(true);
    expect(answer.results[0]).toMatchObject({ ok: true, verdict: 'balanced', service: 'apps', server: 'be_apps/vkt-ok', health: 'up', admin: 'ready' });
    expect(answer.results[1]).toMatchObject({ ok: true, container: { name: 'vkt-ok', id: ok1.id.slice(0, 12), engine: 'local' } });
  });

  it.each([
    ['vkt-stopped', 'not-running', /^not running \(Docker says exited\)$/],
    ['vkt-bare', 'no-role', /has no role label: only containers labelled role=apps are served/],
    ['vkt-db', 'no-role', /its label role="?db"? is not role=apps/],
    ['vkt-evil', 'rejected', /a label is rejected: label vipkeeper\.port=.* breaks the rule/],
    ['vkt-sick', 'skipped', /not served: Docker healthcheck is unhealthy/],
    ['vkt-run', 'skipped', /one-off `docker-compose run`/],
    ['vkt-late', 'not-served', /not in the agent's applied state yet/],
    ['vkt-down', 'down', /^HAProxy says down: its health check fails$/],
    ['vkt-off', 'disabled', /^in maintenance by an operator: disk swap$/],
    ['vkt-drained', 'disabled', /^draining by Docker: Docker is stopping its container/],
  ])('%s is not balanced: %s', (name, verdict, reason) => {
    const r = one(name);
    expect(r).toMatchObject({ ok: false, verdict });
    expect(r.reason).toMatch(reason);
  });

  it('a hostile label value is shown escaped, on one line', () => {
    expect(one('vkt-evil').reason).not.toContain('\n');
  });

  it('HAProxy lacking the server of a served container says so', () => {
    const inventory = buildInventory({ services: state.services, rows: rows.filter((r) => r.server !== 'vkt-ok'), stopping: new Set(), leaving: [], defaultEngine: 'local' });
    expect(one('vkt-ok', { inventory })).toMatchObject({ ok: false, verdict: 'not-served', reason: 'HAProxy has no server be_apps/vkt-ok (yet)' });
  });

  it('a backup server that is up counts as balanced, and says it is a backup', () => {
    const inventory = buildInventory({ services: state.services, rows, stopping: new Set(), leaving: [], defaultEngine: 'local', roles: new Map([['be_apps/vkt-ok', 'backup' as const]]) });
    expect(one('vkt-ok', { inventory })).toMatchObject({ ok: true, reason: expect.stringContaining('as a backup') });
  });

  it('an unknown container and an ambiguous prefix are answers of their own, and make the whole answer no', () => {
    const twin = { ...summary(ok1), id: `${ok1.id.slice(0, 8)}ffff${ok1.id.slice(12)}`, name: 'vkt-twin' };
    const answer = checkContainers(inputs(['vkt-ok', 'nope', ok1.id.slice(0, 8)], { containers: [summary(ok1), twin] }));
    expect(answer.ok).toBe(false);
    expect(answer.results.map((r) => r.verdict)).toEqual(['balanced', 'unknown', 'ambiguous']);
    expect(answer.results[1]!.reason).toBe('no container is named "nope" or has an id starting with it');
    expect(answer.results[2]!.reason).toMatch(/matches 2 containers: local\/vkt-ok \(\w{12}\), local\/vkt-twin \(\w{12}\); give more of the id, or ENGINE\/NAME/);
    expect(answer.results[2]!.matches.map((m) => m.name)).toEqual(['vkt-ok', 'vkt-twin']);
  });

  it('an unknown container says which engines were not asked', () => {
    const r = one('nope', { engines: [{ name: 'local', ok: true, error: null }, { name: 'host2', ok: false, error: 'connect ECONNREFUSED' }] });
    expect(r.reason).toMatch(/\(not asked: engine host2 does not answer\)$/);
  });
});

describe("mapSummary: Docker's container list -> what check finds containers by", () => {
  it('takes the first name without its slash, the state, the labels and the engine', () => {
    expect(mapSummary({ Id: HEX('ab'), Names: ['/web-1', '/other/alias'], State: 'exited', Labels: { role: 'apps' } }, 'local')).toEqual({
      id: HEX('ab'),
      name: 'web-1',
      running: false,
      state: 'exited',
      labels: { role: 'apps' },
      engine: 'local',
    });
  });

  it('a missing name, state or labels become empty values', () => {
    expect(mapSummary({ Id: HEX('cd'), Names: null, Labels: null }, 'host2')).toEqual({ id: HEX('cd'), name: '', running: false, state: 'unknown', labels: {}, engine: 'host2' });
  });
});
