import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PassScheduler } from '../../src/agent/pass-scheduler.js';

// A failing pass must cost only that pass: no unhandled rejection (which the
// agent treats as fatal), the error reported, and the loop still running.

/** Lets Node report unhandled rejections: it does so once the microtask queue drains, before the next macrotask. */
const afterRejectionsAreReported = () => new Promise<void>((r) => setImmediate(r));

describe('PassScheduler: a pass that fails', () => {
  const unhandled = vi.fn();
  beforeEach(() => {
    unhandled.mockClear();
    process.on('unhandledRejection', unhandled);
  });
  afterEach(() => {
    process.off('unhandledRejection', unhandled);
  });

  it.each([
    ['rejects', async (): Promise<void> => Promise.reject(new Error('pass failed: socket refused'))],
    [
      'throws synchronously',
      (): Promise<void> => {
        throw new Error('pass failed: socket refused');
      },
    ],
  ])('that %s is reported to onError, never unhandled, and later triggers still run passes', async (_how, failing) => {
    const errors: unknown[] = [];
    const passes: string[][] = [];
    const s = new PassScheduler({ quietMs: 1, maxWaitMs: 5, onError: (err) => errors.push(err) }, (t) => {
      passes.push([...t]);
      return passes.length === 1 ? failing() : Promise.resolve();
    });

    s.trigger('first');
    await s.idle();
    await afterRejectionsAreReported();
    expect(errors).toHaveLength(1);
    expect((errors[0] as Error).message).toBe('pass failed: socket refused');

    s.trigger('second');
    await s.idle();
    await afterRejectionsAreReported();
    expect(passes).toEqual([['first'], ['second']]);
    expect(errors).toHaveLength(1);
    expect(unhandled).not.toHaveBeenCalled();
    await s.close();
  });

  it('without onError, a failed pass is still never unhandled and the loop goes on', async () => {
    let count = 0;
    const s = new PassScheduler({ quietMs: 1, maxWaitMs: 5 }, async () => {
      count += 1;
      throw new Error(`pass ${count} failed`);
    });
    for (const reason of ['a', 'b', 'c']) {
      s.trigger(reason);
      await s.idle();
    }
    await afterRejectionsAreReported();
    expect(count).toBe(3);
    expect(unhandled).not.toHaveBeenCalled();
    await s.close();
  });

  it('a trigger during a failing pass still gets its own pass', async () => {
    const passes: string[][] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const errors: unknown[] = [];
    const s = new PassScheduler({ quietMs: 1, maxWaitMs: 5, onError: (e) => errors.push(e) }, async (t) => {
      passes.push([...t]);
      if (passes.length === 1) {
        await held;
        throw new Error('first pass failed');
      }
    });
    s.trigger('a');
    const deadline = Date.now() + 5000;
    while (passes.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    s.trigger('b');
    release();
    await s.idle();
    await afterRejectionsAreReported();
    expect(passes).toEqual([['a'], ['b']]);
    expect(errors).toHaveLength(1);
    expect(unhandled).not.toHaveBeenCalled();
    await s.close();
  });
});

describe('PassScheduler.triggerAfter', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs a pass once the delay has passed, not before', async () => {
    const passes: string[][] = [];
    const s = new PassScheduler({ quietMs: 10, maxWaitMs: 100 }, async (t) => {
      passes.push([...t]);
    });
    s.triggerAfter(5_000, 'retry after failure');
    await vi.advanceTimersByTimeAsync(4_999);
    expect(passes).toEqual([]);
    await vi.advanceTimersByTimeAsync(1 + 10); // the delay, then the quiet time
    expect(passes).toEqual([['retry after failure']]);
    await s.close();
  });

  it('a later triggerAfter replaces the earlier one: one retry, not two', async () => {
    const passes: string[][] = [];
    const s = new PassScheduler({ quietMs: 10, maxWaitMs: 100 }, async (t) => {
      passes.push([...t]);
    });
    s.triggerAfter(1_000, 'retry 1');
    s.triggerAfter(3_000, 'retry 2');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(passes).toEqual([['retry 2']]);
    await s.close();
  });

  it('close() cancels a pending retry: no pass runs, no timer is left', async () => {
    let count = 0;
    const s = new PassScheduler({ quietMs: 10, maxWaitMs: 100 }, async () => {
      count += 1;
    });
    s.triggerAfter(1_000, 'retry');
    await s.close();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(count).toBe(0);
  });

  it('after close(), triggerAfter arms nothing', async () => {
    let count = 0;
    const s = new PassScheduler({ quietMs: 10, maxWaitMs: 100 }, async () => {
      count += 1;
    });
    await s.close();
    s.triggerAfter(1_000, 'retry');
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(count).toBe(0);
  });
});
