import { describe, expect, it } from 'vitest';
import { type BackoffSettings, backoffDelay, type Clock, RetryPolicy } from '../../src/agent/retry-policy.js';
import { ConfigRejectedError, TemplateError } from '../../src/errors.js';

// Retries are about arithmetic, not waiting: the clock and the randomness are
// injected, so every delay below is exact.

const NO_JITTER: BackoffSettings = { baseMs: 100, capMs: 10_000, jitter: 0 };
const JITTERY: BackoffSettings = { baseMs: 100, capMs: 10_000, jitter: 0.2 };
const LOWEST = () => 0;
/** The upper end of Math.random's range (it never returns 1, but the bound must hold there too). */
const HIGHEST = () => 1;
const MIDDLE = () => 0.5;

/** A clock the test moves by hand. */
function fakeClock(start = Date.UTC(2026, 0, 1)): Clock & { advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

describe('backoffDelay', () => {
  it('doubles from baseMs with each failure', () => {
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(n, NO_JITTER, MIDDLE))).toEqual([100, 200, 400, 800, 1600]);
  });

  it('treats attempt 0 (or less) like the first failure', () => {
    expect(backoffDelay(0, NO_JITTER, MIDDLE)).toBe(100);
    expect(backoffDelay(-3, NO_JITTER, MIDDLE)).toBe(100);
  });

  it('never exceeds capMs, however many failures, with any jitter draw', () => {
    for (const random of [LOWEST, MIDDLE, HIGHEST]) {
      // ...including past 2 ** 1024, where the doubling itself overflows to Infinity.
      for (const attempt of [...Array.from({ length: 40 }, (_, i) => i + 1), 1023, 1024, 1025, 1100, 5000]) {
        const d = backoffDelay(attempt, JITTERY, random);
        expect(d).toBeLessThanOrEqual(JITTERY.capMs);
        expect(Number.isFinite(d)).toBe(true);
      }
    }
    expect(backoffDelay(50, NO_JITTER, MIDDLE)).toBe(10_000);
    expect(backoffDelay(5000, NO_JITTER, MIDDLE)).toBe(10_000);
  });

  it('keeps jitter within ±jitter of the undelayed value', () => {
    // attempt 3: 400 ms before jitter; 20 % either way is 320..480.
    expect(backoffDelay(3, JITTERY, LOWEST)).toBe(320);
    expect(backoffDelay(3, JITTERY, HIGHEST)).toBe(480);
    expect(backoffDelay(3, JITTERY, MIDDLE)).toBe(400);
    for (let attempt = 1; attempt <= 10; attempt++) {
      const raw = Math.min(JITTERY.capMs, JITTERY.baseMs * 2 ** (attempt - 1));
      for (const random of [LOWEST, () => 0.25, MIDDLE, () => 0.75, HIGHEST]) {
        const d = backoffDelay(attempt, JITTERY, random);
        expect(d).toBeGreaterThanOrEqual(Math.floor(raw * (1 - JITTERY.jitter)));
        expect(d).toBeLessThanOrEqual(Math.min(JITTERY.capMs, Math.ceil(raw * (1 + JITTERY.jitter))));
      }
    }
  });

  it('at the cap, jitter only spreads downwards', () => {
    expect(backoffDelay(20, JITTERY, HIGHEST)).toBe(10_000);
    expect(backoffDelay(20, JITTERY, LOWEST)).toBe(8_000);
  });

  it('is never negative, even with jitter of 1', () => {
    expect(backoffDelay(1, { baseMs: 100, capMs: 1000, jitter: 1 }, LOWEST)).toBe(0);
  });
});

describe('RetryPolicy', () => {
  const transient = () => Object.assign(new Error('connect ECONNREFUSED /run/haproxy/admin.sock'), { code: 'ECONNREFUSED' });
  const templateError = () => new TemplateError('/etc/vipkeeper/templates/haproxy.cfg.ejs', new Error('missing is not defined'));
  const rejected = () => new ConfigRejectedError('haproxy.cfg', 'haproxy', 1, '[ALERT] parsing [haproxy.cfg:12]: unknown keyword');

  it('gives a transient failure growing delays', () => {
    const p = new RetryPolicy(NO_JITTER, fakeClock(), MIDDLE);
    const delays = [1, 2, 3, 4].map(() => p.failed('pass', transient()));
    expect(delays.map((d) => d.delayMs)).toEqual([100, 200, 400, 800]);
    expect(delays.map((d) => d.failures)).toEqual([1, 2, 3, 4]);
    expect(delays.every((d) => d.kind === 'transient')).toBe(true);
  });

  it('never lets a transient failure wait longer than the cap', () => {
    const p = new RetryPolicy(JITTERY, fakeClock(), HIGHEST);
    let last = 0;
    for (let i = 0; i < 100; i++) last = p.failed('pass', transient()).delayMs;
    expect(last).toBe(JITTERY.capMs);
  });

  it.each([
    ['a template that does not print (TemplateError)', templateError],
    ['a config the binary refuses (ConfigRejectedError)', rejected],
  ])('waits the cap for %s: the same input fails the same way', (_what, make) => {
    const p = new RetryPolicy(JITTERY, fakeClock(), LOWEST);
    const first = p.failed('pass', make());
    const second = p.failed('pass', make());
    expect(first).toEqual({ delayMs: JITTERY.capMs, kind: 'needs-change', failures: 1 });
    expect(second).toEqual({ delayMs: JITTERY.capMs, kind: 'needs-change', failures: 2 });
  });

  it('after succeeded(), the backoff starts over and the item is no longer failing', () => {
    const p = new RetryPolicy(NO_JITTER, fakeClock(), MIDDLE);
    p.failed('pass', transient());
    p.failed('pass', transient());
    p.failed('pass', transient());
    expect(p.succeeded('pass')).toBe(true);
    expect(p.failing()).toEqual([]);
    expect(p.get('pass')).toBeUndefined();
    expect(p.failingForMs('pass')).toBe(0);
    expect(p.failed('pass', transient())).toMatchObject({ delayMs: 100, failures: 1 });
  });

  it('succeeded() of something that was not failing says so', () => {
    const p = new RetryPolicy(NO_JITTER, fakeClock(), MIDDLE);
    expect(p.succeeded('pass')).toBe(false);
  });

  it('measures failingForMs on the injected clock, from the first failure of the run', () => {
    const clock = fakeClock();
    const p = new RetryPolicy(NO_JITTER, clock, MIDDLE);
    expect(p.failingForMs('pass')).toBe(0);
    p.failed('pass', transient());
    clock.advance(12_000);
    p.failed('pass', transient());
    clock.advance(20_000);
    expect(p.failingForMs('pass')).toBe(32_000);
    p.succeeded('pass');
    clock.advance(5_000);
    p.failed('pass', transient());
    clock.advance(1_000);
    expect(p.failingForMs('pass')).toBe(1_000);
  });

  it('shows each failing item with its code, last error, first-failure time and next try', () => {
    const clock = fakeClock(Date.UTC(2026, 0, 1, 12, 0, 0));
    const p = new RetryPolicy(NO_JITTER, clock, MIDDLE);
    p.failed('pass', transient());
    clock.advance(1_000);
    p.failed('pass', templateError());
    p.failed('drill restore', rejected());

    const items = p.failing();
    expect(items.map((i) => i.what)).toEqual(['drill restore', 'pass']); // sorted by name
    expect(items[1]).toEqual({
      what: 'pass',
      kind: 'needs-change',
      code: 'E_TEMPLATE',
      failures: 2,
      since: '2026-01-01T12:00:00.000Z',
      lastError: 'template /etc/vipkeeper/templates/haproxy.cfg.ejs: missing is not defined',
      nextTryAt: new Date(Date.UTC(2026, 0, 1, 12, 0, 1) + NO_JITTER.capMs).toISOString(),
    });
    expect(items[0]).toMatchObject({ what: 'drill restore', code: 'E_CONFIG_REJECTED', failures: 1, since: '2026-01-01T12:00:01.000Z' });
    expect(items[0]!.lastError).toContain('haproxy rejected haproxy.cfg');
    expect(p.get('pass')).toEqual(items[1]);
  });

  it('codes errors without a vipkeeper code by their own code, else E_UNEXPECTED', () => {
    const p = new RetryPolicy(NO_JITTER, fakeClock(), MIDDLE);
    p.failed('socket', transient());
    p.failed('thrown string', 'boom');
    p.failed('plain error', new Error('plain'));
    expect(p.get('socket')).toMatchObject({ code: 'ECONNREFUSED', lastError: 'connect ECONNREFUSED /run/haproxy/admin.sock' });
    expect(p.get('thrown string')).toMatchObject({ code: 'E_UNEXPECTED', lastError: 'boom' });
    expect(p.get('plain error')).toMatchObject({ code: 'E_UNEXPECTED', lastError: 'plain' });
  });

  it('counts totals across resets, per item', () => {
    const p = new RetryPolicy(NO_JITTER, fakeClock(), MIDDLE);
    p.failed('pass', transient());
    p.failed('pass', transient());
    p.succeeded('pass');
    p.failed('pass', transient());
    p.failed('drill restore', transient());
    expect(p.totals()).toEqual({ pass: 3, 'drill restore': 1 });
    p.succeeded('pass');
    expect(p.totals()).toEqual({ pass: 3, 'drill restore': 1 });
  });
});
