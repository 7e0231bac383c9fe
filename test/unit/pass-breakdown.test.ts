import { beforeAll, describe, expect, it } from 'vitest';
import { PassScheduler } from '../../src/agent/pass-scheduler.js';
import { PassTimer } from '../../src/agent/pass-timer.js';
import { Reconciler } from '../../src/agent/reconciler.js';
import { RetryPolicy } from '../../src/agent/retry-policy.js';
import { StopTracker } from '../../src/agent/stop-tracker.js';
import { parseEnvironment } from '../../src/config/env.js';
import { DeleteQueue } from '../../src/haproxy/delete-queue.js';
import { HaproxyApplier } from '../../src/haproxy/haproxy-applier.js';
import { PortGuard } from '../../src/haproxy/port-guard.js';
import { KeepalivedApplier } from '../../src/keepalived/keepalived-applier.js';
import type { ContainerInfo } from '../../src/model/container.js';
import { desiredState } from '../../src/pipeline.js';
import { loadTemplates, type Templates } from '../../src/render/load-templates.js';
import { renderConfigs } from '../../src/render/render-configs.js';
import { container, FACTS, MINIMAL_ENV } from './fixtures.js';
import { FakeClock, FakeFiles, FakeHaproxyControl, FakeRuntimeApi, recordingLog, validatorRefusing } from './support/fakes.js';

// Issue 12: a pass says where its time went (list, inspect, plan, render,
// validate, apply). Every part here advances a fake clock by a known amount,
// so each stage must come out exactly as spent, and the stages add up to the
// pass's duration.

const config = parseEnvironment({ ...MINIMAL_ENV, VIPKEEPER_STATUS_ADDR: '127.0.0.1:9321' }, FACTS).config;
let builtin: Templates;
beforeAll(async () => {
  builtin = await loadTemplates(null);
});

const COST = { list: 7, inspect: 4, plan: 3, render: 5, validate: 11, runtimeApi: 2, reload: 13, keepalivedValidate: 1 };

function rig(start: ContainerInfo[]) {
  const { log, lines } = recordingLog();
  const clock = new FakeClock();
  const spend = (ms: number) => void (clock.t += ms);
  const files = new FakeFiles();
  const api = new FakeRuntimeApi();
  const control = new FakeHaproxyControl();
  let containers = start;
  let failRender: Error | null = null;
  const haproxy = new HaproxyApplier({
    files,
    validate: async (f) => {
      spend(COST.validate);
      await validatorRefusing(files, 'no-such-option')(f);
    },
    control: { reload: async () => (spend(COST.reload), control.reload()) },
    api,
    deletes: new DeleteQueue(api, log, { retryMs: 1_000_000, forceAfterMs: 30_000 }, clock),
    applyServers: async () => (spend(COST.runtimeApi), []),
    log,
    now: () => clock.now(),
  });
  const reconciler = new Reconciler({
    list: async () => (spend(COST.list + COST.inspect), containers),
    // Two engines side by side: their inspects overlap, so the longer one is the stage.
    listStats: () => [{ inspectMs: COST.inspect }, { inspectMs: 1 }, null],
    desire: (cs, ctx) => (spend(COST.plan), desiredState(config, cs, ctx)),
    render: (state) => {
      spend(COST.render);
      if (failRender) throw failRender;
      return renderConfigs(config, state, builtin);
    },
    templatesKey: () => 'builtin',
    haproxy,
    keepalived: new KeepalivedApplier({ files, validate: async () => spend(COST.keepalivedValidate), reload: () => true, takesPart: () => true }),
    readLive: async () => ({ haproxy: await files.read('haproxy.cfg'), keepalived: await files.read('keepalived.conf') }),
    stopping: new StopTracker(() => undefined, clock),
    ports: new PortGuard(new Map([[9321, "vipkeeper's status address"]]), async () => true),
    retry: new RetryPolicy(undefined, clock, () => 0.5),
    retryLater: () => undefined,
    warnings: () => undefined,
    log,
    clock,
  });
  const children = { keptHaproxy: () => false, startHaproxy: async () => undefined, startKeepalived: async () => undefined };
  return {
    reconciler,
    lines,
    children,
    setContainers: (c: ContainerInfo[]) => (containers = c),
    failRenderWith: (e: Error | null) => (failRender = e),
  };
}

const web = (name: string, extra: Record<string, string> = {}) => container({ name, extraLabels: extra });
const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);

describe('pass breakdown: each stage is charged what it spent', () => {
  it('a server-only change: list and inspect split by the engines\' stats, no validate (no haproxy -c), the Runtime API in apply', async () => {
    const r = rig([web('a')]);
    await r.reconciler.initial(r.children);
    r.setContainers([web('a'), web('b')]);
    const record = await r.reconciler.pass(['start b'], 50);
    expect(record?.applied).toBe('runtime-api');
    expect(record?.stages).toEqual({ list: COST.list, inspect: COST.inspect, plan: COST.plan, render: COST.render, validate: 0, apply: COST.runtimeApi });
    expect(sum(record!.stages!)).toBe(record!.durationMs);
  });

  it('event -> Runtime API answer: the trigger\'s wait plus the pass up to the answer', async () => {
    const r = rig([web('a')]);
    await r.reconciler.initial(r.children);
    r.setContainers([web('a'), web('b')]);
    const record = await r.reconciler.pass(['start b'], 50);
    expect(record?.waitedMs).toBe(50);
    expect(record?.triggerToRuntimeApiMs).toBe(50 + COST.list + COST.inspect + COST.plan + COST.render + COST.runtimeApi);
  });

  it('a reload: the haproxy -c check is validate, taken out of apply; the reload itself is apply', async () => {
    const r = rig([web('a')]);
    await r.reconciler.initial(r.children);
    r.setContainers([web('a'), web('x', { 'vipkeeper.service': 'x', 'vipkeeper.frontend.port': '8082' })]);
    const record = await r.reconciler.pass(['start x']);
    expect(record?.applied).toBe('reload');
    expect(record?.stages).toMatchObject({ validate: COST.validate, apply: COST.reload });
    expect(record?.triggerToRuntimeApiMs).toBeNull();
    expect(record?.waitedMs).toBeNull();
    expect(sum(record!.stages!)).toBe(record!.durationMs);
  });

  it('the initial apply has a breakdown too: both files checked (validate), haproxy and keepalived started (apply)', async () => {
    const r = rig([web('a')]);
    await r.reconciler.initial(r.children);
    const first = r.reconciler.lastPass!;
    expect(first.applied).toBe('start');
    expect(first.stages).toMatchObject({ list: COST.list, inspect: COST.inspect, plan: COST.plan, render: COST.render, validate: COST.validate + COST.keepalivedValidate, apply: 0 });
  });

  it('a failed pass keeps the stages it reached', async () => {
    const r = rig([web('a')]);
    await r.reconciler.initial(r.children);
    r.setContainers([web('a'), web('b')]);
    r.failRenderWith(new Error('template broke'));
    const record = await r.reconciler.pass(['start b']);
    expect(record?.error).toContain('template broke');
    expect(record?.stages).toEqual({ list: COST.list, inspect: COST.inspect, plan: COST.plan, render: COST.render, validate: 0, apply: 0 });
  });

  it('the stages go to the debug log as "pass breakdown"; the info "pass" line stays without them', async () => {
    const r = rig([web('a')]);
    await r.reconciler.initial(r.children);
    r.setContainers([web('a'), web('b')]);
    const record = await r.reconciler.pass(['start b'], 50);
    const info = r.lines.filter((l) => l.msg === 'pass').at(-1)!;
    const debug = r.lines.filter((l) => l.msg === 'pass breakdown').at(-1)!;
    expect(info.level).toBe(30);
    expect(info).not.toHaveProperty('stagesMs');
    expect(debug).toMatchObject({ level: 20, pass: record!.id, durationMs: record!.durationMs, stagesMs: record!.stages, waitedMs: 50, triggerToRuntimeApiMs: record!.triggerToRuntimeApiMs });
  });
});

describe('PassTimer', () => {
  it('a span inside another is charged to its own stage only', async () => {
    let t = 0;
    const timer = new PassTimer(() => t);
    await timer.time('apply', async () => {
      t += 2;
      await timer.time('validate', async () => void (t += 5));
      t += 3;
    });
    expect(timer.times()).toMatchObject({ apply: 5, validate: 5 });
  });

  it('moves no more time between stages than the source stage holds', () => {
    let t = 0;
    const timer = new PassTimer(() => t);
    timer.timeSync('list', () => void (t += 3));
    timer.move('list', 'inspect', 10);
    expect(timer.times()).toMatchObject({ list: 0, inspect: 3 });
  });
});

describe('PassScheduler: a pass learns how long its first trigger waited', () => {
  it('a trigger that arrived while a pass ran waited for that pass, and says so', async () => {
    const waits: number[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let first!: () => void;
    const firstRunning = new Promise<void>((r) => (first = r));
    const s = new PassScheduler({ quietMs: 1, maxWaitMs: 1000 }, async (_t, waitedMs) => {
      waits.push(waitedMs);
      if (waits.length === 1) {
        first();
        await held;
      }
    });
    s.trigger('a');
    await firstRunning;
    s.trigger('b');
    setTimeout(release, 30);
    await s.idle();
    expect(waits).toHaveLength(2);
    expect(waits[1]).toBeGreaterThanOrEqual(29); // timers may fire a millisecond early
  });
});
