import { describe, expect, it } from 'vitest';
import { RetryPolicy } from '../../src/agent/retry-policy.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { childSteps, DrillController, type DrillParts } from '../../src/drill/drill-controller.js';
import { silentLog } from './support/fakes.js';

// A drill's half on one node. The contract that matters most: a restore that
// fails never leaves reconciliation stopped, and health says it is failing.

function rig(over: Partial<DrillParts> = {}) {
  const calls: string[] = [];
  let paused = false;
  const retry = new RetryPolicy({ baseMs: 5, capMs: 20, jitter: 0 });
  const parts: DrillParts = {
    stopKeepalived: async () => void calls.push('stop keepalived'),
    startKeepalived: () => void calls.push('start keepalived'),
    stopHaproxy: async () => void calls.push('stop haproxy'),
    startHaproxy: async () => void calls.push('start haproxy'),
    writeFault: async (v) => void calls.push(`fault ${v}`),
    takesPart: () => true,
    pausePasses: () => (paused = true),
    resumePasses: () => (paused = false),
    retry,
    log: silentLog(),
    ...over,
  };
  return { drill: new DrillController(parts), calls, isPaused: () => paused, retry };
}

describe('DrillController', () => {
  it('runs each mode and restores it', async () => {
    for (const [mode, give, back] of [['graceful', 'stop keepalived', 'start keepalived'], ['haproxy', 'stop haproxy', 'start haproxy'], ['fault', 'fault 1', 'fault 0']] as const) {
      const r = rig();
      expect(await r.drill.handle({ action: 'start', mode })).toEqual({ ok: true, message: `${mode} drill started` });
      expect(r.drill.active()?.mode).toBe(mode);
      expect(await r.drill.handle({ action: 'restore' })).toMatchObject({ ok: true });
      expect(r.calls).toEqual([give, back]);
      expect(r.drill.active()).toBeNull();
      r.drill.close();
    }
  });

  it('a haproxy drill pauses passes; a restore whose start fails resumes them anyway, reports it and retries until it works', async () => {
    let failures = 2;
    const r = rig({
      startHaproxy: async () => {
        if (failures-- > 0) throw new Error('haproxy worker did not answer');
      },
    });
    await r.drill.handle({ action: 'start', mode: 'haproxy' });
    expect(r.isPaused()).toBe(true);
    const answer = await r.drill.handle({ action: 'restore' });
    expect(answer.ok).toBe(false);
    expect(r.isPaused()).toBe(false);
    expect(r.drill.restoreProblem()).toMatch(/haproxy drill keeps failing.*did not answer/);
    expect(r.drill.haproxyDownOnPurpose()).toBe(false);
    const deadline = Date.now() + 2000;
    while (r.drill.restoreProblem() !== null && Date.now() < deadline) await new Promise((res) => setTimeout(res, 5));
    expect(r.drill.restoreProblem()).toBeNull();
    r.drill.close();
  });

  it('refuses a second drill, and a drill on a node outside VRRP', async () => {
    const r = rig();
    await r.drill.handle({ action: 'start', mode: 'fault' });
    expect((await r.drill.handle({ action: 'start', mode: 'graceful' })).ok).toBe(false);
    r.drill.close();
    const gated = rig({ takesPart: () => false });
    expect(await gated.drill.handle({ action: 'start', mode: 'fault' })).toMatchObject({ ok: false, message: expect.stringMatching(/node role/) });
  });
});

describe("childSteps: a drill's steps on the real children", () => {
  it('haproxy is back only once a worker answers; the fault file holds the value keepalived tracks', async () => {
    const calls: string[] = [];
    let ready!: () => void;
    const haproxy = {
      start: () => void calls.push('haproxy start'),
      stop: async () => void calls.push('haproxy stop'),
      waitReady: () => new Promise<number>((r) => (ready = () => r(1))),
    };
    const keepalived = { start: () => void calls.push('keepalived start'), stop: async () => void calls.push('keepalived stop') };
    const dir = mkdtempSync(join(tmpdir(), 'vipkeeper-drill-'));
    try {
      const steps = childSteps(haproxy, keepalived, join(dir, 'fault'));
      let back = false;
      const starting = steps.startHaproxy().then(() => (back = true));
      expect(calls).toEqual(['haproxy start']);
      await Promise.resolve();
      expect(back).toBe(false);
      ready();
      await starting;
      await steps.stopHaproxy();
      await steps.stopKeepalived();
      steps.startKeepalived();
      expect(calls).toEqual(['haproxy start', 'haproxy stop', 'keepalived stop', 'keepalived start']);
      await steps.writeFault('1');
      expect(readFileSync(join(dir, 'fault'), 'utf8')).toBe('1\n');
      await steps.writeFault('0');
      expect(readFileSync(join(dir, 'fault'), 'utf8')).toBe('0\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
