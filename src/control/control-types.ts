import { VipkeeperError } from '../errors.js';
import type { CheckAnswer, ShowAnswer, VerifyAnswer } from '../operate/operate-types.js';

// What the control socket accepts: the requests that change what this node does,
// and the operator's read-only questions (show, check, verify).
// Pure; shared by the agent's control server and the CLI's clients.

export type DrillMode = 'graceful' | 'haproxy' | 'fault';
export type DrillRequest = { action: 'start'; mode: DrillMode } | { action: 'restore' };
export interface DrillAnswer {
  readonly ok: boolean;
  readonly message: string;
}

export const DRILL_MODES: readonly DrillMode[] = ['graceful', 'haproxy', 'fault'];

export const DRILL_REQUEST_HELP = 'expected {"action":"start","mode":"graceful|haproxy|fault"} or {"action":"restore"}';

/** A request body -> a drill request, or null when it is not one. Pure. */
export function parseDrillRequest(body: string): DrillRequest | null {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const { action, mode } = v as { action?: unknown; mode?: unknown };
  if (action === 'restore') return { action: 'restore' };
  if (action === 'start' && typeof mode === 'string' && (DRILL_MODES as readonly string[]).includes(mode)) {
    return { action: 'start', mode: mode as DrillMode };
  }
  return null;
}

/** The read-only questions, answered as JSON on GET /show, /check and /verify. */
export interface ReadHandlers {
  show(service: string | null): Promise<ShowAnswer>;
  check(containers: readonly string[]): Promise<CheckAnswer>;
  verify(): Promise<VerifyAnswer>;
}

/** The most containers one `check` may name, and the longest name or prefix. */
export const CHECK_MAX_CONTAINERS = 100;
export const CHECK_MAX_QUERY = 256;

/**
 * The agent cannot answer the question as asked (no such service, not started
 * yet, HAProxy not answering): `status` is the HTTP status it answers with. The
 * CLI raises the same error with the agent's message.
 */
export class ControlRefusedError extends VipkeeperError {
  readonly code = 'E_CONTROL_REFUSED';
  constructor(
    message: string,
    readonly status = 409,
  ) {
    super(message);
    this.name = 'ControlRefusedError';
  }
}
