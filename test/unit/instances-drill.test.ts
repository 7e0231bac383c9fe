import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RetryPolicy } from '../../src/agent/retry-policy.js';
import { parseDrillRequest } from '../../src/control/control-types.js';
import { childSteps, DrillController, type DrillParts } from '../../src/drill/drill-controller.js';
import { buildReport, formatReport } from '../../src/drill/drill-report.js';
import { silentLog } from './support/fakes.js';

// drill --instance NAME: a fault drill of one instance writes that instance's own
// track file, so only its VIPs move; the report names the instance.

function rig(instances: readonly string[] = ['web', 'api']) {
  const calls: string[] = [];
  const parts: DrillParts = {
    stopKeepalived: async () => void calls.push('stop keepalived'),
    startKeepalived: () => void calls.push('start keepalived'),
    stopHaproxy: async () => void calls.push('stop haproxy'),
    startHaproxy: async () => void calls.push('start haproxy'),
    writeFault: async (v, instance) => void calls.push(`fault ${v}${instance ? ` ${instance}` : ''}`),
    takesPart: () => true,
    pausePasses: () => undefined,
    resumePasses: () => undefined,
    retry: new RetryPolicy({ baseMs: 5, capMs: 20, jitter: 0 }),
    log: silentLog(),
    instances,
  };
  return { drill: new DrillController(parts), calls };
}

describe('DrillController with several instances', () => {
  it("a fault drill of one instance sets and resets that instance's file only", async () => {
    const r = rig();
    expect((await r.drill.handle({ action: 'start', mode: 'fault', instance: 'api' })).ok).toBe(true);
    expect(r.drill.active()).toMatchObject({ mode: 'fault', instance: 'api' });
    await r.drill.handle({ action: 'restore' });
    expect(r.calls).toEqual(['fault 1 api', 'fault 0 api']);
    r.drill.close();
  });

  it('an instance the node does not have is refused, naming the ones it has', async () => {
    const r = rig();
    expect(await r.drill.handle({ action: 'start', mode: 'fault', instance: 'db' })).toEqual({ ok: false, message: 'no VRRP instance db on this node (it has: web, api)' });
    expect(r.calls).toEqual([]);
  });

  it('with one instance, `default` is the node and its fault file', async () => {
    const r = rig([]);
    expect((await r.drill.handle({ action: 'start', mode: 'fault', instance: 'default' })).ok).toBe(true);
    await r.drill.handle({ action: 'restore' });
    expect(r.calls).toEqual(['fault 1', 'fault 0']);
    r.drill.close();
  });
});

describe('childSteps: the instance file is the one keepalived tracks for it', () => {
  it('writes <file of the instance> with an instance, the fault file without', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vk-drill-'));
    try {
      const noChild = { start: () => undefined, stop: async () => undefined, waitReady: async () => undefined };
      const steps = childSteps(noChild, noChild, join(dir, 'fault'), (n) => join(dir, `instance-${n}.down`));
      await steps.writeFault('1', 'web');
      await steps.writeFault('0');
      expect([readFileSync(join(dir, 'instance-web.down'), 'utf8'), readFileSync(join(dir, 'fault'), 'utf8')]).toEqual(['1\n', '0\n']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('drill requests with an instance', () => {
  it.each([
    ['{"action":"start","mode":"fault","instance":"web"}', { action: 'start', mode: 'fault', instance: 'web' }],
    ['{"action":"start","mode":"fault","instance":"../x"}', null],
    ['{"action":"start","mode":"fault","instance":7}', null],
    ['{"action":"start","mode":"fault","instance":"WEB"}', null],
  ])('%s', (body, expected) => {
    expect(parseDrillRequest(body)).toEqual(expected);
  });
});

describe('drill report', () => {
  const obs = {
    mode: 'fault', node: 'lb1', ownAddresses: ['198.18.0.11'], vrid: 62, startedAt: 1000, vipLeftAt: 1300, restoredAt: 4000,
    probes: [{ start: 1310, end: 1320, ok: true }], adverts: [], advertsAvailable: false, vipReturned: false, nopreempt: true, ownPriority: 100,
  };
  it('names the instance drilled', () => {
    const r = buildReport({ ...obs, instance: 'api' });
    expect(r.instance).toBe('api');
    expect(formatReport(r).split('\n')[0]).toBe('drill fault on lb1, instance api');
  });
  it('without --instance the report is as before', () => {
    expect(buildReport(obs)).not.toHaveProperty('instance');
    expect(formatReport(buildReport(obs)).split('\n')[0]).toBe('drill fault on lb1');
  });
});
