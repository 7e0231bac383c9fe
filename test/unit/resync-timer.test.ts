import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RESYNC_EVERY_MS, ResyncTimer, resyncEveryMs, SWARM_RESYNC_EVERY_MS } from '../../src/agent/resync-timer.js';

// The safety net under events: every period, every engine lists everything
// again (its cache is marked stale first) and a pass runs on that. Closed, it
// never fires again.

beforeEach(() => void vi.useFakeTimers());
afterEach(() => void vi.useRealTimers());

function rig(everyMs = 1000) {
  const calls: string[] = [];
  const links = ['a', 'b'].map((name) => ({ markStale: (why?: string) => void calls.push(`${name} stale: ${why}`) }));
  const timer = new ResyncTimer({ everyMs, links, trigger: (why) => void calls.push(`trigger ${why}`) });
  return { calls, timer };
}

describe('ResyncTimer', () => {
  it('each period marks every engine stale, then marks a pass pending', () => {
    const r = rig();
    r.timer.start();
    vi.advanceTimersByTime(999);
    expect(r.calls).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(r.calls).toEqual(['a stale: periodic resync', 'b stale: periodic resync', 'trigger periodic resync']);
    vi.advanceTimersByTime(1000);
    expect(r.calls).toHaveLength(6);
    r.timer.close();
  });

  it('does nothing before start, and nothing after close', () => {
    const r = rig();
    vi.advanceTimersByTime(5000);
    r.timer.close(); // closing one never started is fine
    r.timer.start();
    r.timer.close();
    vi.advanceTimersByTime(5000);
    expect(r.calls).toEqual([]);
  });

  it('every minute by default, every second with Swarm (tasks elsewhere send no events), or as given', () => {
    expect(resyncEveryMs(false)).toBe(RESYNC_EVERY_MS);
    expect(RESYNC_EVERY_MS).toBe(60_000);
    expect(resyncEveryMs(true)).toBe(SWARM_RESYNC_EVERY_MS);
    expect(SWARM_RESYNC_EVERY_MS).toBe(1000);
    expect(resyncEveryMs(true, 250)).toBe(250);
  });
});
