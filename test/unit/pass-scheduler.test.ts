import { describe, expect, it } from 'vitest';
import { PassScheduler } from '../../src/agent/pass-scheduler.js';

// Coalescing is about counts, not timing: a burst yields one pass; triggers
// during a pass yield exactly one more. No timing is asserted.

describe('PassScheduler', () => {
  it('turns a burst of triggers into one pass with every reason', async () => {
    const passes: string[][] = [];
    const s = new PassScheduler({ quietMs: 20, maxWaitMs: 1000 }, async (t) => {
      passes.push([...t]);
    });
    for (let i = 0; i < 20; i++) s.trigger(`start c${i}`);
    await s.idle();
    expect(passes).toHaveLength(1);
    expect(passes[0]).toHaveLength(20);
  });

  it('never overlaps passes, and triggers during one give exactly one more', async () => {
    let running = 0;
    let maxRunning = 0;
    const passes: string[][] = [];
    let release!: () => void;
    const firstPassHeld = new Promise<void>((r) => (release = r));
    const s = new PassScheduler({ quietMs: 1, maxWaitMs: 10 }, async (t) => {
      running += 1;
      maxRunning = Math.max(maxRunning, running);
      passes.push([...t]);
      if (passes.length === 1) await firstPassHeld;
      running -= 1;
    });
    s.trigger('a');
    while (passes.length === 0) await new Promise((r) => setTimeout(r, 1)); // the first pass is running
    s.trigger('b');
    s.trigger('c');
    s.trigger('b');
    release();
    await s.idle();
    expect(maxRunning).toBe(1);
    expect(passes).toEqual([['a'], ['b', 'c']]);
  });

  it('an isolated trigger starts its pass at once, without waiting for the quiet time', async () => {
    let ran!: (t: readonly string[]) => void;
    const pass = new Promise<readonly string[]>((r) => (ran = r));
    // A quiet time far beyond the test's own timeout: only the leading edge lets this pass run.
    const s = new PassScheduler({ quietMs: 60_000, maxWaitMs: 120_000 }, async (t) => ran([...t]));
    s.trigger('start web-1');
    s.trigger('start web-2'); // the same turn of the event loop: it rides along
    expect(await pass).toEqual(['start web-1', 'start web-2']);
    await s.close();
  });

  it('a trigger soon after a pass waits for quiet, so a burst that goes on is still coalesced', async () => {
    const passes: string[][] = [];
    const s = new PassScheduler({ quietMs: 1000, maxWaitMs: 5000 }, async (t) => {
      passes.push([...t]);
    });
    s.trigger('a');
    while (passes.length === 0) await new Promise((r) => setTimeout(r, 1));
    s.trigger('b');
    setTimeout(() => s.trigger('c'), 10);
    while (passes.length < 2) await new Promise((r) => setTimeout(r, 5));
    await s.idle();
    expect(passes).toEqual([['a'], ['b', 'c']]);
  });

  it('runs no pass after close', async () => {
    let count = 0;
    const s = new PassScheduler({ quietMs: 1, maxWaitMs: 5 }, async () => {
      count += 1;
    });
    await s.close();
    s.trigger('late');
    await new Promise((r) => setTimeout(r, 20));
    expect(count).toBe(0);
  });
});
