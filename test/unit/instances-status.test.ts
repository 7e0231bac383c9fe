import type { InstanceHealth } from '../../src/health/instance-health.js';
import { describe, expect, it } from 'vitest';
import { formatStatus } from '../../src/cli/status-command.js';
import { parseEnvironment } from '../../src/config/env.js';
import { VrrpInstances } from '../../src/keepalived/vrrp-monitor.js';
import { renderMetrics } from '../../src/status/metrics.js';
import { buildSnapshot } from '../../src/status/snapshot-builder.js';
import { FACTS } from './fixtures.js';
import { silentLog } from './support/fakes.js';

// Several VRRP instances: each has its own state in the watcher, /status, /metrics
// (label instance=<keepalived's instance name>) and `vipkeeper status`.

const config = parseEnvironment({
  VIPKEEPER_INSTANCES: 'web,api',
  VIPKEEPER_INSTANCE_WEB_VIRTUAL_IPS: '198.18.0.10/24',
  VIPKEEPER_INSTANCE_WEB_VIRTUAL_ROUTER_ID: '61',
  VIPKEEPER_INSTANCE_WEB_PRIORITY: '150',
  VIPKEEPER_INSTANCE_API_VIRTUAL_IPS: '198.18.0.20/24',
  VIPKEEPER_INSTANCE_API_VIRTUAL_ROUTER_ID: '62',
}, FACTS).config;

const watcher = () => new VrrpInstances(config.instances, silentLog());

describe('VrrpInstances: each instance has its own state', () => {
  it('a transition reaches only the instance it names', () => {
    const w = watcher();
    w.onTransition({ instance: 'vipkeeper_web', state: 'MASTER', priority: 150 });
    w.onTransition({ instance: 'vipkeeper_api', state: 'BACKUP', priority: 100 });
    w.onTransition({ instance: 'vipkeeper_51', state: 'MASTER', priority: 100 }); // not ours
    expect(w.snapshots().map((s) => [s.name, s.instance, s.state])).toEqual([
      ['web', 'vipkeeper_web', 'MASTER'],
      ['api', 'vipkeeper_api', 'BACKUP'],
    ]);
  });

  it("snapshot() is the first instance's (what maintenance and a drill without --instance ask)", () => {
    const w = watcher();
    w.onTransition({ instance: 'vipkeeper_api', state: 'MASTER', priority: 100 });
    expect(w.snapshot().instance).toBe('vipkeeper_web');
    expect(w.snapshot().state).toBe('UNKNOWN');
    expect(w.snapshotOf('api')?.state).toBe('MASTER');
    expect(w.snapshotOf('db')).toBeNull();
  });

  it('markStopped stops every instance that had a state', () => {
    const w = watcher();
    w.onTransition({ instance: 'vipkeeper_web', state: 'MASTER', priority: 150 });
    w.onTransition({ instance: 'vipkeeper_api', state: 'BACKUP', priority: 100 });
    w.markStopped();
    expect(w.snapshots().map((s) => s.state)).toEqual(['STOP', 'STOP']);
  });
});

function snapshotWith(nodeRoleOk = true, instanceHealth?: InstanceHealth[]) {
  const w = watcher();
  w.onTransition({ instance: 'vipkeeper_web', state: 'MASTER', priority: 150 });
  w.onTransition({ instance: 'vipkeeper_api', state: 'BACKUP', priority: 100 });
  return buildSnapshot({
    config, nodeRoleOk, vrrp: w.snapshot(), vrrpInstances: w.snapshots(), services: [], rows: [], lastPass: null,
    totals: { byMethod: {}, secondsTotal: 0, failed: 0 }, children: [], engines: [], drill: null, failing: [], health: { ok: true, reason: 'ok' },
    ...(instanceHealth ? { instanceHealth } : {}),
  });
}

describe('/status and /metrics per instance', () => {
  it('/status lists each instance with its settings and its own VRRP state', () => {
    expect(snapshotWith().instances!.map((i) => [i.name, i.keepalivedName, i.virtualRouterId, i.priority, i.vips, i.vrrp?.state])).toEqual([
      ['web', 'vipkeeper_web', 61, 150, ['198.18.0.10/24'], 'MASTER'],
      ['api', 'vipkeeper_api', 62, 100, ['198.18.0.20/24'], 'BACKUP'],
    ]);
  });

  it('a node not taking part shows no VRRP state for any instance', () => {
    expect(snapshotWith(false).instances!.map((i) => i.vrrp)).toEqual([null, null]);
  });

  it.each([
    'vipkeeper_vrrp_state{instance="vipkeeper_web",state="MASTER"} 1',
    'vipkeeper_vrrp_state{instance="vipkeeper_api",state="MASTER"} 0',
    'vipkeeper_vrrp_state{instance="vipkeeper_api",state="BACKUP"} 1',
    'vipkeeper_vrrp_transitions_total{instance="vipkeeper_api",state="BACKUP"} 1',
    'vipkeeper_instance_vips_held{instance="vipkeeper_web"} 0',
    'vipkeeper_instance_vip_state_consistent{instance="vipkeeper_api"} 1',
  ])('/metrics has %s', (line) => {
    expect(renderMetrics(snapshotWith()).split('\n')).toContain(line);
  });

  describe('health per instance', () => {
    const verdicts: InstanceHealth[] = [
      { instance: 'web', healthy: false, problems: ['service shop has no healthy server on this node (backend DOWN)'] },
      { instance: 'api', healthy: true, problems: [] },
    ];
    it('/status carries each verdict; before the first look there is none', () => {
      expect(snapshotWith(true, verdicts).instances!.map((i) => [i.name, i.health?.healthy])).toEqual([['web', false], ['api', true]]);
      expect(snapshotWith().instances!.map((i) => i.health)).toEqual([undefined, undefined]);
    });
    it('/metrics has vipkeeper_instance_healthy per instance, only once judged', () => {
      const lines = renderMetrics(snapshotWith(true, verdicts)).split('\n');
      expect(lines).toContain('vipkeeper_instance_healthy{instance="vipkeeper_web"} 0');
      expect(lines).toContain('vipkeeper_instance_healthy{instance="vipkeeper_api"} 1');
      expect(renderMetrics(snapshotWith())).not.toContain('vipkeeper_instance_healthy');
    });
    it('`vipkeeper status` says why an instance is lowered', () => {
      expect(formatStatus(snapshotWith(true, verdicts))).toContain('web priority lowered here by its health: service shop has no healthy server on this node (backend DOWN)');
    });
  });

  it('`vipkeeper status` prints a line per instance', () => {
    const vrrpLines = formatStatus(snapshotWith()).split('\n').filter((l) => l.startsWith('vrrp'));
    expect(vrrpLines).toHaveLength(2);
    expect(vrrpLines[0]).toMatch(/^vrrp +web \(router id 61, priority 150, nopreempt\) MASTER since/);
    expect(vrrpLines[1]).toMatch(/^vrrp +api \(router id 62, priority 100, nopreempt\) BACKUP since/);
  });
});
