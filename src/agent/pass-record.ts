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
}
