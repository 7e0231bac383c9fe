import { ConfigRejectedError, errorMessage, TemplateError, VipkeeperError } from '../errors.js';

// The one place that decides what happens after something failed: retry later
// with exponential backoff (capped, with jitter), and how it is shown. Like
// controller-runtime's rate-limited requeue: a failure never stops the loop, it
// only pushes the next try further out, and a success resets it.
//
// Two kinds of failure, told apart here and nowhere else:
// - transient: a socket that refused, an engine that hung up, a reload that
//   timed out. Retried with backoff from baseMs.
// - needs-change: the input itself is wrong (a template that does not print, a
//   config the real binary refuses). Retrying the same input gives the same
//   answer, so it waits for a change (the file watcher and events trigger a
//   pass at once) and is retried only at the cap, as a safety net.

export interface BackoffSettings {
  readonly baseMs: number;
  readonly capMs: number;
  /** 0..1: each delay is spread by up to this fraction either way, so retries of many nodes do not align. */
  readonly jitter: number;
}

export const DEFAULT_BACKOFF: BackoffSettings = { baseMs: 250, capMs: 30_000, jitter: 0.2 };

export type FailureKind = 'transient' | 'needs-change';

/** The delay before try number `attempt + 1` (attempt counts failures so far, from 1). */
export function backoffDelay(attempt: number, s: BackoffSettings, random: () => number = Math.random): number {
  const raw = Math.min(s.capMs, s.baseMs * 2 ** Math.max(0, attempt - 1));
  const spread = raw * s.jitter * (random() * 2 - 1);
  return Math.max(0, Math.round(Math.min(s.capMs, raw + spread)));
}

export function classifyFailure(err: unknown): FailureKind {
  if (err instanceof TemplateError) return 'needs-change';
  if (err instanceof ConfigRejectedError) return 'needs-change';
  return 'transient';
}

export function errorCode(err: unknown): string {
  if (err instanceof VipkeeperError) return err.code;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'E_UNEXPECTED';
}

/** One thing that is failing right now, as /status and /metrics show it. */
export interface FailingItem {
  readonly what: string;
  readonly kind: FailureKind;
  readonly code: string;
  readonly failures: number;
  /** When it first failed in this run of failures. */
  readonly since: string;
  readonly lastError: string;
  readonly nextTryAt: string;
}

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export class RetryPolicy {
  readonly #failing = new Map<string, { kind: FailureKind; code: string; failures: number; since: number; lastError: string; nextTryAt: number }>();
  /** Failures of every key over the agent's life, for /metrics. */
  readonly #totals = new Map<string, number>();

  constructor(
    private readonly settings: BackoffSettings = DEFAULT_BACKOFF,
    private readonly clock: Clock = systemClock,
    private readonly random: () => number = Math.random,
  ) {}

  /** Records a failure of `what`; returns how long to wait before the next try. */
  failed(what: string, err: unknown): { delayMs: number; kind: FailureKind; failures: number } {
    const now = this.clock.now();
    const was = this.#failing.get(what);
    const kind = classifyFailure(err);
    const failures = (was?.failures ?? 0) + 1;
    const delayMs = kind === 'needs-change' ? this.settings.capMs : backoffDelay(failures, this.settings, this.random);
    this.#failing.set(what, {
      kind,
      code: errorCode(err),
      failures,
      since: was?.since ?? now,
      lastError: errorMessage(err),
      nextTryAt: now + delayMs,
    });
    this.#totals.set(what, (this.#totals.get(what) ?? 0) + 1);
    return { delayMs, kind, failures };
  }

  /** `what` worked: its backoff starts over. True when it had been failing. */
  succeeded(what: string): boolean {
    return this.#failing.delete(what);
  }

  get(what: string): FailingItem | undefined {
    const f = this.#failing.get(what);
    return f ? this.#show(what, f) : undefined;
  }

  /** How long `what` has been failing, 0 when it is not. */
  failingForMs(what: string): number {
    const f = this.#failing.get(what);
    return f ? this.clock.now() - f.since : 0;
  }

  failing(): FailingItem[] {
    return [...this.#failing].map(([what, f]) => this.#show(what, f)).sort((a, b) => (a.what < b.what ? -1 : 1));
  }

  totals(): Record<string, number> {
    return Object.fromEntries(this.#totals);
  }

  #show(what: string, f: { kind: FailureKind; code: string; failures: number; since: number; lastError: string; nextTryAt: number }): FailingItem {
    return {
      what,
      kind: f.kind,
      code: f.code,
      failures: f.failures,
      since: new Date(f.since).toISOString(),
      lastError: f.lastError,
      nextTryAt: new Date(f.nextTryAt).toISOString(),
    };
  }
}
