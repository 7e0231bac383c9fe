// What the control socket accepts: the requests that change what this node does.
// Pure; shared by the agent's control server and the `vipkeeper drill` client.

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
