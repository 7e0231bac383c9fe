import type { StageTimes } from './pass-timer.js';

/** How a pass brought HAProxy and keepalived to the desired state. */
export type ApplyMethod = 'none' | 'runtime-api' | 'reload' | 'start';

/** One reconcile pass, as the log line, /status and `vipkeeper status` show it. */
export interface PassRecord {
  readonly id: number;
  readonly at: string;
  readonly triggers: readonly string[];
  readonly applied: ApplyMethod;
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly updated: readonly string[];
  readonly durationMs: number;
  readonly error: string | null;
  /** The error's stable code, when the pass failed. */
  readonly code?: string | null;
  /** Why HAProxy was reloaded rather than changed through the Runtime API. */
  readonly reloadReason?: string | null;
  /** When the pass failed: when it is tried again. */
  readonly retryInMs?: number | null;
  /** Where `durationMs` went, per stage (ms, 0.1 ms steps); logged at debug level as 'pass breakdown'. */
  readonly stages?: StageTimes;
  /** How long its first trigger (a Docker event's arrival, say) waited for the pass to start: the debounce. Not in `durationMs`. */
  readonly waitedMs?: number | null;
  /** From its first trigger to HAProxy's answer to the pass's Runtime API batch; null when it made none. */
  readonly triggerToRuntimeApiMs?: number | null;
}

/** Counters over the agent's life, for /status and /metrics. */
export interface PassTotals {
  readonly byMethod: Readonly<Record<string, number>>;
  readonly secondsTotal: number;
  readonly failed: number;
}
