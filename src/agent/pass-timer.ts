// Where a pass's time goes (issue 12): each stage's own time, measured with the
// reconciler's clock so unit tests can check the fields with a fake one.
//
// Spans nest: a stage timed inside another (the `haproxy -c` check inside the
// apply step) is charged to itself and taken out of the enclosing stage, so the
// stages add up to the pass's duration (less the reconciler's own bookkeeping).

export const STAGES = ['list', 'inspect', 'plan', 'render', 'validate', 'apply'] as const;
export type Stage = (typeof STAGES)[number];

/** Milliseconds per stage. */
export type StageTimes = Readonly<Record<Stage, number>>;

/** What the HAProxy applier marks when the Runtime API answered a pass's server changes. */
export const RUNTIME_API_MARK = 'runtime-api';

/** What a part of the pass (an applier) may time; the reconciler hands one in. */
export interface StageTiming {
  time<T>(stage: Stage, fn: () => Promise<T>): Promise<T>;
  /** Notes when a named moment happened (the Runtime API's answer, say). */
  mark(name: string): void;
}

/** Times nothing: for callers outside a pass. */
export const NO_TIMING: StageTiming = {
  time: (_stage, fn) => fn(),
  mark: () => undefined,
};

interface Span {
  readonly stage: Stage;
  readonly start: number;
  /** Time of the spans nested in it, charged elsewhere. */
  inner: number;
}

export class PassTimer implements StageTiming {
  readonly #ms: Record<Stage, number> = { list: 0, inspect: 0, plan: 0, render: 0, validate: 0, apply: 0 };
  readonly #open: Span[] = [];
  readonly #marks = new Map<string, number>();
  /** The stopwatch's reading when the pass began. */
  readonly startedAt: number;

  constructor(private readonly now: () => number) {
    this.startedAt = now();
  }

  async time<T>(stage: Stage, fn: () => Promise<T>): Promise<T> {
    const span = this.#begin(stage);
    try {
      return await fn();
    } finally {
      this.#end(span);
    }
  }

  timeSync<T>(stage: Stage, fn: () => T): T {
    const span = this.#begin(stage);
    try {
      return fn();
    } finally {
      this.#end(span);
    }
  }

  /**
   * Moves `ms` that were measured elsewhere (the engine's inspects, inside the
   * list) from one stage to another; never more than `from` holds.
   */
  move(from: Stage, to: Stage, ms: number): void {
    const moved = Math.max(0, Math.min(ms, this.#ms[from]));
    this.#ms[from] -= moved;
    this.#ms[to] += moved;
  }

  mark(name: string): void {
    this.#marks.set(name, this.now());
  }

  /** Every mark, as milliseconds since the pass began. */
  marks(): Record<string, number> {
    return Object.fromEntries([...this.#marks].map(([name, at]) => [name, at - this.startedAt]));
  }

  /** When `name` was marked last, or null. */
  markedAt(name: string): number | null {
    return this.#marks.get(name) ?? null;
  }

  times(): StageTimes {
    return { ...this.#ms };
  }

  #begin(stage: Stage): Span {
    const span: Span = { stage, start: this.now(), inner: 0 };
    this.#open.push(span);
    return span;
  }

  #end(span: Span): void {
    const total = this.now() - span.start;
    const i = this.#open.lastIndexOf(span);
    if (i >= 0) this.#open.splice(i, 1);
    this.#ms[span.stage] += Math.max(0, total - span.inner);
    if (i > 0) this.#open[i - 1]!.inner += total;
  }
}
