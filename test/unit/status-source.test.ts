import { describe, expect, it } from 'vitest';
import { PASS } from '../../src/agent/reconciler.js';
import { RetryPolicy } from '../../src/agent/retry-policy.js';
import { parseEnvironment } from '../../src/config/env.js';
import type { EngineStatus } from '../../src/docker/engine-link.js';
import type { ServerStateRow } from '../../src/haproxy/runtime-api.js';
import type { VrrpSnapshot } from '../../src/keepalived/vrrp-monitor.js';
import type { Service } from '../../src/model/desired-state.js';
import { PASS_FAILING_UNHEALTHY_MS } from '../../src/status/snapshot-builder.js';
import { AgentStatus, SERVERS_STATE_MAX_AGE_MS, type StatusParts } from '../../src/status/status-source.js';
import type { SupervisedState } from '../../src/supervisor/supervised-process.js';
import { FACTS, MINIMAL_ENV, server, service } from './fixtures.js';
import { FakeClock } from './support/fakes.js';

// What /healthz and /status show is read from the agent's parts at the moment
// they are asked: a closing agent says so at once, a changed config shows, and
// an admin socket that fails costs the servers' health, never /status itself.

const child = (name: string, running = true): SupervisedState => ({
  name, running, pid: running ? 100 : null, restarts: 0, lastExit: null, crashLoop: false, lastStartAt: null, healthySince: null,
});

function rig() {
  const clock = new FakeClock();
  const retry = new RetryPolicy(undefined, clock);
  const state = {
    config: parseEnvironment(MINIMAL_ENV, FACTS).config,
    closed: false,
    nodeRoleOk: true,
    services: null as Service[] | null,
    haproxy: child('haproxy'),
    drill: null as { mode: string; since: string } | null,
    rows: [] as ServerStateRow[] | Error,
    asked: [] as (number | undefined)[],
  };
  const vrrp: VrrpSnapshot = { instance: 'vipkeeper_51', state: 'MASTER', since: null, transitions: [], transitionCounts: {}, vipsHeld: [], consistent: true };
  const engine = { name: 'local', state: 'up' } as unknown as EngineStatus;
  const parts: StatusParts = {
    config: () => state.config,
    isClosed: () => state.closed,
    nodeRoleOk: () => state.nodeRoleOk,
    vrrp: { snapshot: () => vrrp },
    reconciler: {
      get applied() {
        return state.services === null ? null : ({ state: { services: state.services } } as never);
      },
      lastPass: null,
      totals: () => ({ byMethod: { reload: 1 }, secondsTotal: 0.5, failed: 0 }),
    },
    api: {
      serversState: async (maxAgeMs) => {
        state.asked.push(maxAgeMs);
        if (state.rows instanceof Error) throw state.rows;
        return state.rows;
      },
    },
    haproxy: { process: { state: () => state.haproxy } },
    keepalived: { process: { state: () => child('keepalived') } },
    links: [{ status: () => engine }],
    drill: {
      active: () => state.drill as never,
      haproxyDownOnPurpose: () => state.drill?.mode === 'haproxy',
      restoreProblem: () => null,
    },
    retry,
  };
  return { status: new AgentStatus(parts), state, clock, retry, api: parts.api as { command?: (c: string) => Promise<string> } };
}

describe('AgentStatus: health from the parts as they are now', () => {
  it('starting until the first state is applied, then ok', () => {
    const r = rig();
    expect(r.status.health()).toMatchObject({ ok: false, reason: expect.stringMatching(/^starting/) });
    r.state.services = [];
    expect(r.status.health()).toEqual({ ok: true, reason: 'ok' });
  });

  it('a closing agent says stopping at once', () => {
    const r = rig();
    r.state.services = [];
    r.state.closed = true;
    expect(r.status.health()).toEqual({ ok: false, reason: 'stopping' });
  });

  it('haproxy down says so, unless a haproxy drill took it down on purpose', () => {
    const r = rig();
    r.state.services = [];
    r.state.haproxy = child('haproxy', false);
    expect(r.status.health()).toEqual({ ok: false, reason: 'haproxy is not running' });
    r.state.drill = { mode: 'haproxy', since: '2026-01-01T00:00:00.000Z' };
    expect(r.status.health().ok).toBe(true);
  });

  it("reconcile passes failing too long turn it unhealthy, with the retry policy's time and last error", () => {
    const r = rig();
    r.state.services = [];
    r.retry.failed(PASS, new Error('docker says no'));
    r.clock.t += PASS_FAILING_UNHEALTHY_MS - 1;
    expect(r.status.health().ok).toBe(true);
    r.clock.t += 1;
    expect(r.status.health()).toMatchObject({ ok: false, reason: expect.stringContaining('docker says no') });
  });
});

describe('AgentStatus: the snapshot gathers every part when asked', () => {
  it('shows the applied services with haproxy health, children, engines, drill and failures', async () => {
    const r = rig();
    r.state.services = [service([server('web-1')])];
    r.state.rows = [{ backend: 'be_apps', server: 'web-1', address: '10.0.0.1', port: 80, opState: 2, adminState: 0, weight: 100 }];
    r.state.drill = { mode: 'graceful', since: '2026-01-01T00:00:00.000Z' };
    r.retry.failed('drill restore', new Error('keepalived would not start'));
    const snap = await r.status.snapshot();
    expect(snap.services[0]!.servers).toEqual([
      { name: 'web-1', container: 'id-web-1', address: '10.0.0.1:80', health: 'up', role: 'active', standby: false, containerName: 'web-1', weight: 100 },
    ]);
    expect(snap.children.map((c) => c.name)).toEqual(['haproxy', 'keepalived']);
    expect(snap.docker.engines).toEqual([{ name: 'local', state: 'up' }]);
    expect(snap.vrrp?.state).toBe('MASTER');
    expect(snap.drill?.mode).toBe('graceful');
    expect(snap.failing?.map((f) => f.what)).toEqual(['drill restore']);
    expect(snap.passes.byMethod).toEqual({ reload: 1 });
    expect(snap.health).toEqual({ ok: true, reason: 'ok' });
  });

  it('readers share server states up to SERVERS_STATE_MAX_AGE_MS old, so a flood of them costs haproxy one command', async () => {
    const r = rig();
    await r.status.snapshot();
    expect(r.state.asked).toEqual([SERVERS_STATE_MAX_AGE_MS]);
  });

  it("adds each server's sessions and rate from one `show stat` (servers only), shared by readers for SERVERS_STATE_MAX_AGE_MS", async () => {
    const r = rig();
    r.state.services = [service([server('web-1'), server('web-2', '10.0.0.2')])];
    const asked: string[] = [];
    r.api.command = async (c: string) => {
      asked.push(c);
      return '# pxname,svname,qcur,qmax,scur,smax,slim,stot,rate\nbe_apps,web-1,0,0,3,9,,120,7\nbe_apps,web-2,0,0,0,1,,4,0\n';
    };
    const snap = await r.status.snapshot();
    expect(snap.services[0]!.servers.map((x) => [x.name, x.sessions, x.rate])).toEqual([['web-1', 3, 7], ['web-2', 0, 0]]);
    await r.status.snapshot();
    expect(asked).toEqual(['show stat -1 4 -1']);
  });

  it('a failing `show stat` costs only the sessions and rates', async () => {
    const r = rig();
    r.state.services = [service([server('web-1')])];
    r.api.command = async () => {
      throw new Error('connect ENOENT');
    };
    const snap = await r.status.snapshot();
    expect(snap.services[0]!.servers[0]).not.toHaveProperty('sessions');
  });

  it('an admin socket that fails costs only the servers\' health: /status still answers', async () => {
    const r = rig();
    r.state.services = [service([server('web-1')])];
    r.state.rows = new Error('connect ENOENT haproxy.sock');
    const snap = await r.status.snapshot();
    expect(snap.services[0]!.servers[0]!.health).toBe('unknown');
  });

  it('follows the config in force now (a changed password file) and the node role gate', async () => {
    const r = rig();
    r.state.config = parseEnvironment({ ...MINIMAL_ENV, VIPKEEPER_PRIORITY: '42' }, FACTS).config;
    r.state.nodeRoleOk = false;
    const snap = await r.status.snapshot();
    expect(snap.node.vrrpSettings.priority).toBe(42);
    expect(snap.node.nodeRole.present).toBe(false);
    expect(snap.vrrp).toBeNull();
  });
});
