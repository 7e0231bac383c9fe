import { VipkeeperError } from '../errors.js';
import type { CheckAnswer, ShowAnswer, VerifyAnswer } from '../operate/operate-types.js';

// What the control socket accepts: the requests that change what this node does,
// and the operator's read-only questions (show, check, verify).
// Pure; shared by the agent's control server and the CLI's clients.

export type DrillMode = 'graceful' | 'haproxy' | 'fault';
/** `instance`: one VRRP instance's name (drill --instance); absent: the node's first instance. */
export type DrillRequest = { action: 'start'; mode: DrillMode; instance?: string } | { action: 'restore' };
export interface DrillAnswer {
  readonly ok: boolean;
  readonly message: string;
}

export const DRILL_MODES: readonly DrillMode[] = ['graceful', 'haproxy', 'fault'];

export const DRILL_REQUEST_HELP = 'expected {"action":"start","mode":"graceful|haproxy|fault","instance":"NAME"} ("instance" optional) or {"action":"restore"}';

/** An instance name as VIPKEEPER_INSTANCES takes it (lower-cased), or `default`. */
const DRILL_INSTANCE = /^[a-z][a-z0-9]{1,14}$/;

/** A request body -> a drill request, or null when it is not one. Pure. */
export function parseDrillRequest(body: string): DrillRequest | null {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const { action, mode, instance } = v as { action?: unknown; mode?: unknown; instance?: unknown };
  if (action === 'restore') return { action: 'restore' };
  if (action === 'start' && typeof mode === 'string' && (DRILL_MODES as readonly string[]).includes(mode)) {
    if (instance === undefined) return { action: 'start', mode: mode as DrillMode };
    if (typeof instance === 'string' && DRILL_INSTANCE.test(instance)) return { action: 'start', mode: mode as DrillMode, instance };
  }
  return null;
}

/** An answer of the control socket: ok, or the agent's reason for no; `data` says more (JSON output). */
export interface ControlAnswer {
  readonly ok: boolean;
  readonly message: string;
  /** The request itself was wrong (a bad target): usage, not a "no". */
  readonly bad?: boolean;
  readonly data?: Readonly<Record<string, unknown>>;
}

export interface DisableRequest {
  readonly target: string;
  readonly drain: boolean;
  readonly reason: string | null;
}
export interface EnableRequest {
  readonly target: string;
}
export type MaintenanceRequest = { readonly on: true; readonly force: boolean; readonly reason: string | null } | { readonly on: false };

export const DISABLE_REQUEST_HELP = 'expected {"target":"CONTAINER|SERVICE/SERVER","drain":false,"reason":null}';
export const ENABLE_REQUEST_HELP = 'expected {"target":"CONTAINER|SERVICE/SERVER"}';
export const MAINTENANCE_REQUEST_HELP = 'expected {"on":true,"force":false,"reason":null} or {"on":false}';

/** The longest --reason kept (longer ones are refused, not cut). */
export const REASON_LIMIT = 200;

function object(body: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(body);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

const target = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 512;
// A reason is one line of printable text: it goes into logs and the state file.
const reason = (v: unknown): v is string | null | undefined =>
  v === undefined || v === null || (typeof v === 'string' && v.length <= REASON_LIMIT && !/[\u0000-\u001f\u007f]/.test(v));
const flag = (v: unknown): v is boolean | undefined => v === undefined || typeof v === 'boolean';

/** A request body -> a disable request, or null. Pure. */
export function parseDisableRequest(body: string): DisableRequest | null {
  const v = object(body);
  if (!v || !target(v.target) || !flag(v.drain) || !reason(v.reason)) return null;
  return { target: v.target, drain: v.drain ?? false, reason: v.reason?.trim() || null };
}

export function parseEnableRequest(body: string): EnableRequest | null {
  const v = object(body);
  return v && target(v.target) ? { target: v.target } : null;
}

export function parseMaintenanceRequest(body: string): MaintenanceRequest | null {
  const v = object(body);
  if (!v) return null;
  if (v.on === false) return { on: false };
  if (v.on !== true || !flag(v.force) || !reason(v.reason)) return null;
  return { on: true, force: v.force ?? false, reason: v.reason?.trim() || null };
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
