import { describe, expect, it } from 'vitest';
import { diffServices } from '../../src/haproxy/server-changes.js';
import type { ContainerInfo } from '../../src/model/container.js';
import { buildDesiredState, type Service } from '../../src/model/desired-state.js';
import { chooseMembers } from '../../src/model/member-roles.js';
import { haproxyServers, linesOfContainer, servingLine } from '../../src/render/haproxy-servers.js';
import { haproxyView } from '../../src/render/haproxy-view.js';
import { container, type ContainerSpec, idFor, SETTINGS } from './fixtures.js';

// vipkeeper.class=single: the pure choice of the one container that serves and
// the one that takes over, the model's roles, and the HAProxy lines that carry
// them (a switch-over must be weights only: HAProxy 2.6 cannot flip `backup`).

const SINGLE = { 'vipkeeper.class': 'single' };
/** A single-class container started `startedAt` ms after the epoch. */
const member = (name: string, startedAt: number, more: Partial<ContainerSpec> = {}): ContainerInfo =>
  container({ name, startedAt, ...more, extraLabels: { ...SINGLE, ...more.extraLabels } });
const names = (ids: readonly (string | null)[], cs: readonly ContainerInfo[]) => ids.map((id) => cs.find((c) => c.id === id)?.name ?? null);

describe('chooseMembers: which container serves and which takes over', () => {
  const old = member('v1', 1000);
  const mid = member('v2', 2000);
  const neu = member('v3', 3000);
  const tieLow = member('tie-a', 5000, { id: '1'.repeat(64) });
  const tieHigh = member('tie-b', 5000, { id: '2'.repeat(64) });
  const starting = member('v4-starting', 4000, { health: 'starting' });
  const unhealthy = member('v4-unhealthy', 4000, { health: 'unhealthy' });
  const healthy = member('v4-healthy', 4000, { health: 'healthy' });
  const laterUnhealthy = member('v5-unhealthy', 5000, { health: 'unhealthy' });
  const unknownStart = member('v0-unknown', 0);

  it.each<[string, ContainerInfo[], string[], [string | null, string | null]]>([
    ['one container: it serves, no standby', [old], [], ['v1', null]],
    ['the newest start serves, the one before it is the standby', [old, neu, mid], [], ['v3', 'v2']],
    ['the order containers come in does not matter', [mid, neu, old], [], ['v3', 'v2']],
    ['the same start time: the lower id first', [tieHigh, tieLow, old], [], ['tie-a', 'tie-b']],
    ['a newer container whose healthcheck is starting does not serve yet', [old, mid, starting], [], ['v2', 'v1']],
    ['nor one that is unhealthy; it ranks after every healthy one', [old, unhealthy], [], ['v1', 'v4-unhealthy']],
    ['a healthy healthcheck counts like none', [old, mid, healthy], [], ['v4-healthy', 'v2']],
    ['none healthy: the newest of them serves (only docker-health=ignore lets them in)', [starting, laterUnhealthy], [], ['v5-unhealthy', 'v4-starting']],
    ['an unknown start time (0) counts as the oldest', [unknownStart, old], [], ['v1', 'v0-unknown']],
    ['a container an operator disabled is neither', [old, mid, neu], ['v3'], ['v2', 'v1']],
    ['every container disabled: none serves', [old, neu], ['v1', 'v3'], [null, null]],
    ['no containers', [], [], [null, null]],
  ])('%s', (_what, cs, disabledNames, [active, standby]) => {
    const disabled = new Set(cs.filter((c) => disabledNames.includes(c.name)).map((c) => c.id));
    const choice = chooseMembers(cs, disabled);
    expect(names([choice.active, choice.standby], cs)).toEqual([active, standby]);
  });
});

const build = (cs: ContainerInfo[], disabled: string[] = []) =>
  buildDesiredState(cs, SETTINGS, { disabled: new Set(disabled.map((n) => idFor(n))) });
const only = (state: ReturnType<typeof build>): Service => {
  expect(state.services).toHaveLength(1);
  return state.services[0]!;
};
const roles = (s: Service) => Object.fromEntries(s.servers.map((x) => [x.name, x.role + (x.standby ? ' (standby)' : '')]));

describe('buildDesiredState: vipkeeper.class', () => {
  it('multiple (the default): every server is active', () => {
    const s = only(build([container({ name: 'a', startedAt: 1 }), container({ name: 'b', startedAt: 2 })]));
    expect(s.memberClass).toBe('multiple');
    expect(roles(s)).toEqual({ a: 'active', b: 'active' });
  });

  it('single: the newest is active, the previous the standby, older ones plain backups', () => {
    const s = only(build([member('v1', 1000), member('v2', 2000), member('v3', 3000)]));
    expect(s.memberClass).toBe('single');
    expect(roles(s)).toEqual({ v1: 'backup', v2: 'backup (standby)', v3: 'active' });
  });

  it('single: a container whose healthcheck is starting is skipped as always; the others keep their roles', () => {
    const state = build([member('v1', 1000), member('v2', 2000, { health: 'starting' })]);
    expect(roles(only(state))).toEqual({ v1: 'active' });
    expect(state.skipped.map((x) => x.containerName)).toEqual(['v2']);
  });

  it('single with docker-health=ignore: an unhealthy newer container is served as a backup, not as the active one', () => {
    const state = build([member('v1', 1000), member('v2', 2000, { health: 'unhealthy', extraLabels: { 'vipkeeper.docker-health': 'ignore' } })]);
    expect(roles(only(state))).toEqual({ v1: 'active', v2: 'backup (standby)' });
    expect(state.notices).toEqual([]);
  });

  it('single with no healthy container: the newest serves anyway, with a notice naming the service', () => {
    const ignore = { 'vipkeeper.docker-health': 'ignore' };
    const state = build([member('v1', 1000, { health: 'unhealthy', extraLabels: ignore }), member('v2', 2000, { health: 'unhealthy', extraLabels: ignore })]);
    expect(roles(only(state))).toEqual({ v1: 'backup (standby)', v2: 'active' });
    expect(state.notices).toEqual([{ containerName: 'v2', message: expect.stringMatching(/service apps \(vipkeeper.class=single\) has no healthy container: "v2" .* unhealthy/) }]);
  });

  it('single: a container an operator disabled stays a backup; the next one serves', () => {
    const state = build([member('v1', 1000), member('v2', 2000), member('v3', 3000)], ['v3']);
    expect(roles(only(state))).toEqual({ v1: 'backup (standby)', v2: 'active', v3: 'backup' });
  });

  it('single, every container disabled: none is active, and a notice says so', () => {
    const state = build([member('v1', 1000)], ['v1']);
    expect(roles(only(state))).toEqual({ v1: 'backup' });
    expect(state.notices).toEqual([{ containerName: 'v1', message: expect.stringContaining('every container is disabled by an operator') }]);
  });

  it('a class the containers disagree on: the oldest container decides, the other is still served, with a notice', () => {
    const owner = container({ name: 'first', created: 100, startedAt: 1000 });
    const newcomer = container({ name: 'second', created: 200, startedAt: 2000, extraLabels: SINGLE });
    const state = build([newcomer, owner]);
    const s = only(state);
    expect(s.memberClass).toBe('multiple');
    expect(roles(s)).toEqual({ first: 'active', second: 'active' });
    expect(state.skipped).toEqual([]);
    expect(state.notices).toEqual([
      { containerName: 'second', message: 'its vipkeeper.class (single) disagrees with multiple set by first, the oldest container of service apps: it is served as multiple' },
    ]);
  });

  it('the other way round: an oldest single container keeps the service single', () => {
    const state = build([container({ name: 'first', created: 100, startedAt: 1000, extraLabels: SINGLE }), container({ name: 'second', created: 200, startedAt: 2000 })]);
    expect(roles(only(state))).toEqual({ first: 'backup (standby)', second: 'active' });
    expect(state.notices).toHaveLength(1);
  });

  it.each(['Single', 'one', 'single\n    server evil 203.0.113.9:80', ''])('a bad value (%j) costs only that container, with a warning naming the label and rule', (value) => {
    const state = build([member('v1', 1000), container({ name: 'bad', startedAt: 2000, extraLabels: { 'vipkeeper.class': value } })]);
    expect(roles(only(state))).toEqual({ v1: 'active' });
    expect(state.skipped).toEqual([
      expect.objectContaining({ containerName: 'bad', problems: [expect.objectContaining({ label: 'vipkeeper.class', rule: 'single or multiple' })] }),
    ]);
  });

  it('two single services choose independently', () => {
    const api = { ...SINGLE, 'vipkeeper.service': 'api', 'vipkeeper.frontend.port': '81' };
    const s = build([member('web1', 1000), member('web2', 2000), member('api1', 3000, { extraLabels: api }), member('api2', 500, { extraLabels: api })]).services;
    expect(s.map(roles)).toEqual([{ api1: 'active', api2: 'backup (standby)' }, { web1: 'backup (standby)', web2: 'active' }]);
  });
});

describe('haproxyServers: the lines HAProxy holds', () => {
  const lines = (s: Service) => haproxyServers(s).map((x) => `${x.name}${x.backup ? ' backup' : ''} weight ${x.weight}`);

  it('multiple: one normal line per container, its own weight', () => {
    const s = only(build([container({ name: 'a', extraLabels: { 'vipkeeper.weight': '7' } })]));
    expect(lines(s)).toEqual(['a weight 7']);
  });

  it('single: two lines per container; only the active normal line and the standby backup line have weight', () => {
    const s = only(build([member('v1', 1000), member('v2', 2000), member('v3', 3000, { extraLabels: { 'vipkeeper.weight': '50' } })]));
    expect(lines(s)).toEqual([
      'v1 weight 0',
      'v1:backup backup weight 0',
      'v2 weight 0',
      'v2:backup backup weight 100',
      'v3 weight 50',
      'v3:backup backup weight 0',
    ]);
    expect(linesOfContainer(s, idFor('v2')).map((x) => x.name)).toEqual(['v2', 'v2:backup']);
    expect(s.servers.map((x) => servingLine(s, x))).toEqual(['v1:backup', 'v2:backup', 'v3']);
  });

  it('the rendered backend prints HAProxy `backup` on the backup lines only (the template just prints options)', () => {
    const s = only(build([member('v1', 1000), member('v2', 2000)]));
    const be = haproxyView([s], { adminSocket: '/run/admin.sock' }).backends[0]!;
    expect(be.servers.map((x) => `${x.name} ${x.options}`)).toEqual([
      'v1 check inter 2s fastinter 250ms downinter 250ms rise 2 fall 5 weight 0',
      'v1:backup backup check inter 2s fastinter 250ms downinter 250ms rise 2 fall 5 weight 100',
      'v2 check inter 2s fastinter 250ms downinter 250ms rise 2 fall 5 weight 100',
      'v2:backup backup check inter 2s fastinter 250ms downinter 250ms rise 2 fall 5 weight 0',
    ]);
  });
});

describe('diffServices: single-class changes never need a reload', () => {
  const change = (before: ContainerInfo[], after: ContainerInfo[], disabledAfter: string[] = []) => {
    const c = diffServices(build(before).services, build(after, disabledAfter).services);
    return {
      structural: c.structural,
      add: c.add.map((a) => a.server.name),
      remove: c.remove.map((a) => a.server.name),
      update: c.update.map((u) => `${u.after.name} ${u.before.weight}->${u.after.weight}`),
    };
  };
  const v1 = member('v1', 1000);
  const v2 = member('v2', 2000);
  const v3 = member('v3', 3000);

  it('switch-over: the new container is added, the old one becomes the standby by weights', () => {
    expect(change([v1, v2], [v1, v2, v3])).toEqual({
      structural: null,
      add: ['v3', 'v3:backup'],
      remove: [],
      update: ['v1:backup 100->0', 'v2 100->0', 'v2:backup 0->100'],
    });
  });

  it('rollback: the newest is gone, the previous becomes active and the one before it the standby', () => {
    expect(change([v1, v2, v3], [v1, v2])).toEqual({
      structural: null,
      add: [],
      remove: ['v3', 'v3:backup'],
      update: ['v1:backup 0->100', 'v2 0->100', 'v2:backup 100->0'],
    });
  });

  it('an operator disables the active one: weights only', () => {
    expect(change([v1, v2], [v1, v2], ['v2'])).toEqual({ structural: null, add: [], remove: [], update: ['v1 0->100', 'v1:backup 100->0', 'v2 100->0'] });
  });

  it('multiple -> single and back: lines added or removed, weights changed, no reload', () => {
    const m1 = container({ name: 'v1', startedAt: 1000 });
    const m2 = container({ name: 'v2', startedAt: 2000 });
    expect(change([m1, m2], [v1, v2])).toEqual({ structural: null, add: ['v1:backup', 'v2:backup'], remove: [], update: ['v1 100->0'] });
    expect(diffServices(build([v1, v2]).services, build([m1, m2]).services).structural).toBeNull();
  });
});
