import { describe, expect, it } from 'vitest';
import { STATUS_NODE } from './fixtures.js';
import { parseAdvertLine } from '../../src/drill/advert-watch.js';
import { buildReport, type DrillObservations } from '../../src/drill/drill-report.js';
import { parseNotifyLine } from '../../src/keepalived/notify-fifo.js';
import { renderMetrics } from '../../src/status/metrics.js';
import { serverHealth, type StatusSnapshot } from '../../src/status/snapshot.js';

describe('keepalived notify_fifo lines', () => {
  it.each([
    ['INSTANCE "vipkeeper_51" MASTER 100', { instance: 'vipkeeper_51', state: 'MASTER', priority: 100 }],
    ['INSTANCE "vipkeeper_51" BACKUP 100\n', { instance: 'vipkeeper_51', state: 'BACKUP', priority: 100 }],
    ['INSTANCE "vipkeeper_51" FAULT 0', { instance: 'vipkeeper_51', state: 'FAULT', priority: 0 }],
    ['INSTANCE "vipkeeper_51" STOP 100', { instance: 'vipkeeper_51', state: 'STOP', priority: 100 }],
    ['GROUP "g" MASTER 100', null],
    ['INSTANCE "x" WEIRD 1', null],
    ['garbage', null],
  ])('%j', (line, expected) => {
    expect(parseNotifyLine(line)).toEqual(expected);
  });
});

describe('VRRP adverts seen by tcpdump', () => {
  it.each([
    ['12:00:00.000000 IP 198.18.0.12 > 224.0.0.18: VRRPv2, Advertisement, vrid 51, prio 100, authtype none, intvl 1s, length 20', { source: '198.18.0.12', vrid: 51, priority: 100 }],
    ['12:00:00.000000 IP 198.18.0.11 > 224.0.0.18: VRRPv3, Advertisement, vrid 7, prio 0, intvl 10cs, length 12', { source: '198.18.0.11', vrid: 7, priority: 0 }],
    ['12:00:00.000000 IP 198.18.0.11.80 > 198.18.0.1.5000: Flags [S]', null],
  ])('%s', (line, expected) => {
    const a = parseAdvertLine(line, 5);
    expect(a === null ? null : { source: a.source, vrid: a.vrid, priority: a.priority }).toEqual(expected);
  });
});

describe("HAProxy's server state in one word", () => {
  const row = (opState: number, adminState: number) => ({ backend: 'be', server: 's', address: 'a', port: 1, weight: 1, opState, adminState });
  it.each([
    [row(2, 0), 'up'],
    [row(0, 0), 'down'],
    [row(1, 0), 'starting'],
    [row(2, 0x08), 'drain'],
    [row(2, 0x01), 'maint'],
    [row(0, 0x20), 'maint'],
    [undefined, 'unknown'],
  ] as const)('%j -> %s', (r, expected) => {
    expect(serverHealth(r)).toBe(expected);
  });
});

const snapshot: StatusSnapshot = {
  node: STATUS_NODE,
  vrrp: { instance: 'vipkeeper_51', state: 'MASTER', since: null, transitions: [], transitionCounts: { BACKUP: 1, MASTER: 1 }, vipsHeld: ['198.18.0.100/24'], consistent: true },
  services: [{ name: 'apps', backend: 'be_apps', mode: 'http', frontendPort: 80, servers: [{ name: 'web-1', container: 'abc', address: '127.0.0.1:1', health: 'up', role: 'active', standby: false }] }],
  lastPass: null,
  passes: { byMethod: { start: 1, 'runtime-api': 4 }, secondsTotal: 0.25, failed: 0 },
  children: [{ name: 'haproxy', running: true, pid: 1, restarts: 2, lastExit: null, crashLoop: false, lastStartAt: null, healthySince: null }],
  docker: {
    endpoint: 'unix:///var/run/docker.sock',
    connected: true,
    lastEventAt: null,
    engines: [
      { name: 'local', endpoint: 'unix:///var/run/docker.sock', mode: 'containers', state: 'up', since: '2026-01-01T00:00:00.000Z', lastEventAt: null, backends: 2, reason: null },
      { name: '198.18.0.22', endpoint: 'tcp://198.18.0.22:2375', mode: 'containers', state: 'down', since: '2026-01-01T00:00:00.000Z', lastEventAt: null, backends: 0, reason: 'connect ECONNREFUSED' },
    ],
  },
  drill: null,
};

describe('Prometheus metrics', () => {
  const text = renderMetrics(snapshot);
  it.each([
    'vipkeeper_vrrp_state{instance="vipkeeper_51",state="MASTER"} 1',
    'vipkeeper_vrrp_state{instance="vipkeeper_51",state="BACKUP"} 0',
    'vipkeeper_vrrp_transitions_total{instance="vipkeeper_51",state="MASTER"} 1',
    'vipkeeper_passes_total{applied="runtime-api"} 4',
    'vipkeeper_backend_servers{service="apps",health="up"} 1',
    'vipkeeper_backend_servers{service="apps",health="down"} 0',
    'vipkeeper_child_restarts_total{child="haproxy"} 2',
    'vipkeeper_vips_held 1',
    'vipkeeper_engine_up{engine="local",endpoint="unix:///var/run/docker.sock"} 1',
    'vipkeeper_engine_up{engine="198.18.0.22",endpoint="tcp://198.18.0.22:2375"} 0',
    'vipkeeper_engine_backends{engine="local"} 2',
  ])('has %s', (line) => {
    expect(text.split('\n')).toContain(line);
  });
  it('declares a type for every metric and ends with a newline', () => {
    const names = new Set(text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(/[{ ]/)[0]));
    for (const n of names) expect(text).toContain(`# TYPE ${n} `);
    expect(text.endsWith('\n')).toBe(true);
  });
});

describe('drill reports', () => {
  const base: DrillObservations = {
    mode: 'graceful',
    node: 'lb1',
    ownAddresses: ['198.18.0.11'],
    vrid: 51,
    startedAt: 1000,
    vipLeftAt: 1600,
    restoredAt: 5000,
    probes: [
      { start: 980, end: 985, ok: true },
      { start: 1500, end: 1900, ok: false },
      { start: 1620, end: 1700, ok: false },
      { start: 1640, end: 1660, ok: true },
      { start: 1700, end: 1705, ok: true },
    ],
    adverts: [
      { at: 900, source: '198.18.0.11', vrid: 51, priority: 100 },
      { at: 1550, source: '198.18.0.11', vrid: 51, priority: 0 },
      { at: 1650, source: '198.18.0.12', vrid: 51, priority: 100 },
      { at: 1700, source: '198.18.0.13', vrid: 52, priority: 200 },
    ],
    advertsAvailable: true,
    vipReturned: false,
    nopreempt: true,
    ownPriority: 100,
  };

  it('measures from the drill start, counts failed probes until the first answer from elsewhere', () => {
    expect(buildReport(base)).toEqual({
      mode: 'graceful',
      node: 'lb1',
      startedAt: new Date(1000).toISOString(),
      vipLeftMs: 600,
      answeredAgainMs: 660,
      failedProbes: 2,
      probes: 3,
      newMaster: { address: '198.18.0.12', priority: 100 },
      newMasterKnown: true,
      restoredAfterMs: 4000,
      preemption: { expected: 'stay', observed: 'stayed', asConfigured: true },
    });
  });

  it.each([
    ['nopreempt, VIP came back', { vipReturned: true }, { expected: 'stay', observed: 'returned', asConfigured: false }],
    ['preempt with a higher priority, VIP came back', { nopreempt: false, ownPriority: 150, vipReturned: true }, { expected: 'return', observed: 'returned', asConfigured: true }],
    ['preempt with a higher priority, VIP stayed away', { nopreempt: false, ownPriority: 150 }, { expected: 'return', observed: 'stayed', asConfigured: false }],
    ['preempt with the same priority: stays', { nopreempt: false }, { expected: 'stay', observed: 'stayed', asConfigured: true }],
  ])('preemption: %s', (_n, over, expected) => {
    expect(buildReport({ ...base, ...over }).preemption).toEqual(expected);
  });

  it('reports a VIP that never left', () => {
    const r = buildReport({ ...base, vipLeftAt: null });
    expect(r.vipLeftMs).toBeNull();
    expect(r.answeredAgainMs).toBeNull();
  });
});
