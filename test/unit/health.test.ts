import { describe, expect, it } from 'vitest';
import { parseEnvironment } from '../../src/config/env.js';
import type { ServerStateRow } from '../../src/haproxy/runtime-api.js';
import type { Server, Service } from '../../src/model/desired-state.js';
import {
  buildSnapshot,
  type HealthInputs,
  judgeHealth,
  PASS_FAILING_UNHEALTHY_MS,
  type SnapshotInputs,
} from '../../src/status/snapshot-builder.js';
import type { SupervisedState } from '../../src/supervisor/supervised-process.js';
import { FACTS, idFor, MINIMAL_ENV, server, service } from './fixtures.js';

// /healthz answers 503 exactly when a human is needed; /status shows each
// server's health as HAProxy has it.

const haproxyUp: SupervisedState = {
  name: 'haproxy',
  running: true,
  pid: 4242,
  restarts: 0,
  lastExit: null,
  crashLoop: false,
  lastStartAt: '2026-01-01T00:00:00.000Z',
  healthySince: '2026-01-01T00:01:00.000Z',
};
const haproxyDown: SupervisedState = { ...haproxyUp, running: false, pid: null, healthySince: null, lastExit: { code: 1, signal: null, at: '2026-01-01T00:00:00.000Z' } };

const healthy: HealthInputs = {
  closed: false,
  started: true,
  haproxy: haproxyUp,
  haproxyDownOnPurpose: false,
  passFailingForMs: 0,
  passError: null,
  restoreProblem: null,
};

describe('judgeHealth', () => {
  it.each<[string, Partial<HealthInputs>, { ok: boolean; reason: string | RegExp }]>([
    ['all well', {}, { ok: true, reason: 'ok' }],
    ['the agent is closing', { closed: true }, { ok: false, reason: 'stopping' }],
    ['the agent is closing, even before it started', { closed: true, started: false }, { ok: false, reason: 'stopping' }],
    ['the initial state is not applied yet', { started: false }, { ok: false, reason: /^starting/ }],
    ['haproxy is not running', { haproxy: haproxyDown }, { ok: false, reason: 'haproxy is not running' }],
    ['haproxy is down on purpose (a drill)', { haproxy: haproxyDown, haproxyDownOnPurpose: true }, { ok: true, reason: 'ok' }],
    ['haproxy is crash-looping', { haproxy: { ...haproxyUp, crashLoop: true } }, { ok: false, reason: 'haproxy is crash-looping' }],
    [
      'haproxy is crash-looping, even when down on purpose',
      { haproxy: { ...haproxyDown, crashLoop: true }, haproxyDownOnPurpose: true },
      { ok: false, reason: 'haproxy is crash-looping' },
    ],
    [
      'a drill restore failed',
      { restoreProblem: 'the drill could not restore haproxy: E_HAPROXY_RELOAD' },
      { ok: false, reason: 'the drill could not restore haproxy: E_HAPROXY_RELOAD' },
    ],
    [
      'passes failed for a short while',
      { passFailingForMs: PASS_FAILING_UNHEALTHY_MS - 1, passError: 'Docker engine at unix:///var/run/docker.sock: connect ENOENT' },
      { ok: true, reason: 'ok' },
    ],
    [
      'passes failed for PASS_FAILING_UNHEALTHY_MS',
      { passFailingForMs: PASS_FAILING_UNHEALTHY_MS, passError: 'template /t/haproxy.cfg.ejs: missing is not defined' },
      { ok: false, reason: /failed for 30 s.*template \/t\/haproxy\.cfg\.ejs: missing is not defined$/ },
    ],
    [
      'passes failed for long, without a message',
      { passFailingForMs: 10 * PASS_FAILING_UNHEALTHY_MS, passError: null },
      { ok: false, reason: /failed for 300 s.*unknown error$/ },
    ],
  ])('%s', (_what, overrides, expected) => {
    const h = judgeHealth({ ...healthy, ...overrides });
    expect(h.ok).toBe(expected.ok);
    if (typeof expected.reason === 'string') expect(h.reason).toBe(expected.reason);
    else expect(h.reason).toMatch(expected.reason);
  });

  it('says the last good config still serves when passes keep failing', () => {
    const h = judgeHealth({ ...healthy, passFailingForMs: PASS_FAILING_UNHEALTHY_MS + 5_000, passError: 'boom' });
    expect(h.reason).toContain('the last good config serves');
  });
});

const config = parseEnvironment(MINIMAL_ENV, FACTS).config;

/** Server `i` of many, each with its own address and a real-looking container id. */
const web = (name: string, i: number): Server => server(name, `172.17.${(i >> 8) & 0xff}.${i & 0xff}`, 80, { containerId: idFor(name) });

const row = (backend: string, s: string, opState: number, adminState = 0): ServerStateRow => ({
  backend,
  server: s,
  address: '172.17.0.2',
  port: 80,
  opState,
  adminState,
  weight: 100,
});

const inputs = (services: readonly Service[], rows: readonly ServerStateRow[]): SnapshotInputs => ({
  config,
  nodeRoleOk: true,
  vrrp: null,
  services,
  rows,
  lastPass: null,
  totals: { byMethod: {}, secondsTotal: 0, failed: 0 },
  children: [haproxyUp],
  engines: [],
  drill: null,
  failing: [],
  health: { ok: true, reason: 'ok' },
});

describe('buildSnapshot: server health', () => {
  it('takes each server health from the row of its own backend and server', () => {
    const apps = service([web('web-1', 1), web('web-2', 2), web('web-3', 3), web('web-4', 4)]);
    const api = service([web('web-1', 5)], { name: 'api', frontendPort: 8080 }); // same server name, another backend
    const snap = buildSnapshot(
      inputs(
        [apps, api],
        [
          row('be_apps', 'web-1', 2),
          row('be_apps', 'web-2', 2, 0x08),
          row('be_apps', 'web-3', 0),
          // web-4 has no row: HAProxy does not know it (yet)
          row('be_api', 'web-1', 2, 0x01),
          row('be_gone', 'web-9', 2),
        ],
      ),
    );
    expect(snap.services.map((s) => [s.backend, s.servers.map((x) => [x.name, x.health])])).toEqual([
      ['be_apps', [['web-1', 'up'], ['web-2', 'drain'], ['web-3', 'down'], ['web-4', 'unknown']]],
      ['be_api', [['web-1', 'maint']]],
    ]);
  });

  it("shows each server with its short container id, container name, address and HAProxy's weight", () => {
    const snap = buildSnapshot(inputs([service([web('web-1', 1)])], [row('be_apps', 'web-1', 2)]));
    expect(snap.services[0]!.servers[0]).toEqual({
      name: 'web-1', container: idFor('web-1').slice(0, 12), containerName: 'web-1', address: '172.17.0.1:80', health: 'up', role: 'active', standby: false, weight: 100,
    });
  });

  it('gets all of 1000 servers right', () => {
    const servers = Array.from({ length: 1000 }, (_, i) => web(`web-${i}`, i));
    const states = [2, 0, 1, 3]; // up, down, starting, stopping
    const rows = servers.map((s, i) => row('be_apps', s.name, states[i % 4]!, i % 10 === 0 ? 0x08 : 0));
    const snap = buildSnapshot(inputs([service(servers)], [...rows].reverse()));
    const expected = servers.map((s, i) => [s.name, i % 10 === 0 ? 'drain' : ['up', 'down', 'starting', 'stopping'][i % 4]]);
    expect(snap.services[0]!.servers.map((x) => [x.name, x.health])).toEqual(expected);
  });

  it('a single-class service: /status says which server is active and which is the standby; a backup shows the health of its backup line', () => {
    const svc: Service = {
      ...service([
        { ...web('v1', 1), role: 'backup', standby: false },
        { ...web('v2', 2), role: 'backup', standby: true },
        { ...web('v3', 3), role: 'active', standby: false },
      ]),
      memberClass: 'single',
    };
    // The normal lines of backups are up at weight 0; what matters for them is the backup line.
    const rows = [row('be_apps', 'v1', 2), row('be_apps', 'v1:backup', 0), row('be_apps', 'v2', 2), row('be_apps', 'v2:backup', 2, 0x01), row('be_apps', 'v3', 2), row('be_apps', 'v3:backup', 0)];
    const snap = buildSnapshot(inputs([svc], rows));
    expect(snap.services[0]!.memberClass).toBe('single');
    expect(snap.services[0]!.servers.map((x) => [x.name, x.role, x.standby, x.health])).toEqual([
      ['v1', 'backup', false, 'down'],
      ['v2', 'backup', true, 'maint'],
      ['v3', 'active', false, 'up'],
    ]);
  });

  it('carries the health, failing items and node facts through', () => {
    const failing = [{ what: 'pass', kind: 'transient' as const, code: 'E_DOCKER', failures: 3, since: '2026-01-01T00:00:00.000Z', lastError: 'x', nextTryAt: '2026-01-01T00:00:01.000Z' }];
    const snap = buildSnapshot({ ...inputs([], []), failing, health: { ok: false, reason: 'haproxy is not running' } });
    expect(snap.health).toEqual({ ok: false, reason: 'haproxy is not running' });
    expect(snap.failing).toEqual(failing);
    expect(snap.node.vips).toEqual(['198.18.0.10/24']);
  });

  it('hides VRRP when this node lacks the required role', () => {
    const vrrp = { instance: 'vipkeeper_51', state: 'MASTER' as const, since: null, transitions: [], transitionCounts: {}, vipsHeld: [], consistent: true };
    expect(buildSnapshot({ ...inputs([], []), vrrp, nodeRoleOk: true }).vrrp).toEqual(vrrp);
    expect(buildSnapshot({ ...inputs([], []), vrrp, nodeRoleOk: false }).vrrp).toBeNull();
  });
});
