import type { AdminOverride } from '../model/desired-state.js';

// What an operator asked of this node, kept in a small JSON file in the config
// directory (operator-state.json) so it outlives a container restart, an agent
// restart and every re-render: servers taken out (`vipkeeper disable`) and node
// maintenance (`vipkeeper maintenance on`). Pure: parsing, changes, pruning.
//
// Servers are keyed by container id. Docker keeps a container's id across
// `docker restart`, stop/start, a restart policy and a daemon restart, so those
// keep the operator's choice. A recreate (compose up with a changed service, a
// Swarm task replaced) is a new container: the old one was removed, and with it
// the override, as the operator's word was about that container.

export const OPERATOR_STATE_FILE = 'operator-state.json';
export const OPERATOR_STATE_VERSION = 1;

/** Who asked, as the control socket's peer credentials (SO_PEERCRED) say. */
export interface Actor {
  readonly uid: number | null;
  readonly pid: number | null;
  /** The peer process's name (/proc/PID/comm), when it could be read. */
  readonly command: string | null;
}

export interface ServerOverride {
  readonly containerId: string;
  readonly containerName: string;
  readonly service: string;
  readonly server: string;
  /** drain: no new requests, and maintenance once its connections are gone; maint: at once. */
  readonly admin: 'drain' | 'maint';
  /** Asked with --drain (it may have reached maint since). */
  readonly drainFirst: boolean;
  readonly reason: string | null;
  readonly since: string;
  readonly by: Actor | null;
}

export interface Maintenance {
  readonly since: string;
  readonly reason: string | null;
  /** Given up with --force, with no peer seen taking the VIP. */
  readonly forced: boolean;
  readonly by: Actor | null;
}

export interface OperatorState {
  readonly version: typeof OPERATOR_STATE_VERSION;
  readonly servers: readonly ServerOverride[];
  readonly maintenance: Maintenance | null;
}

/** What /status shows of it. */
export interface OperatorStatus {
  readonly stateFile: string;
  /** The state file could not be used at start (corrupt): the agent started with no overrides. */
  readonly problem: string | null;
  readonly maintenance: Maintenance | null;
  readonly overrides: readonly ServerOverride[];
}

export const EMPTY_OPERATOR_STATE: OperatorState = { version: OPERATOR_STATE_VERSION, servers: [], maintenance: null };

export const REASON_MAX = 200;

export type Parsed = { readonly ok: true; readonly state: OperatorState } | { readonly ok: false; readonly problem: string };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): v is string => typeof v === 'string';
const strOrNull = (v: unknown): v is string | null => v === null || typeof v === 'string';
const intOrNull = (v: unknown): v is number | null => v === null || (typeof v === 'number' && Number.isInteger(v));
const isoDate = (v: unknown): v is string => typeof v === 'string' && !Number.isNaN(Date.parse(v));

function actor(v: unknown, where: string): Actor | null | string {
  if (v === null || v === undefined) return null;
  if (!isObject(v) || !intOrNull(v.uid) || !intOrNull(v.pid) || !strOrNull(v.command ?? null)) return `${where}.by must be {uid, pid, command}`;
  return { uid: v.uid, pid: v.pid, command: (v.command as string | null | undefined) ?? null };
}

/** The file's text -> the state, or the first problem found. Pure. */
export function parseOperatorState(text: string): Parsed {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return { ok: false, problem: `not JSON: ${(err as Error).message}` };
  }
  if (!isObject(v)) return { ok: false, problem: 'not a JSON object' };
  if (v.version !== OPERATOR_STATE_VERSION) return { ok: false, problem: `version must be ${OPERATOR_STATE_VERSION}, not ${JSON.stringify(v.version)}` };
  if (!Array.isArray(v.servers)) return { ok: false, problem: 'servers must be a list' };
  const servers: ServerOverride[] = [];
  const seen = new Set<string>();
  for (const [i, s] of v.servers.entries()) {
    const where = `servers[${i}]`;
    if (!isObject(s)) return { ok: false, problem: `${where} must be an object` };
    if (!str(s.containerId) || !/^[0-9a-f]{12,64}$/.test(s.containerId)) return { ok: false, problem: `${where}.containerId must be a container id` };
    if (seen.has(s.containerId)) return { ok: false, problem: `${where}: container ${s.containerId.slice(0, 12)} appears twice` };
    seen.add(s.containerId);
    for (const k of ['containerName', 'service', 'server'] as const) {
      if (!str(s[k]) || s[k].length === 0 || s[k].length > 256) return { ok: false, problem: `${where}.${k} must be a name` };
    }
    if (s.admin !== 'drain' && s.admin !== 'maint') return { ok: false, problem: `${where}.admin must be drain or maint` };
    if (typeof s.drainFirst !== 'boolean') return { ok: false, problem: `${where}.drainFirst must be true or false` };
    if (!strOrNull(s.reason) || (s.reason !== null && s.reason.length > REASON_MAX)) return { ok: false, problem: `${where}.reason must be text (at most ${REASON_MAX} characters) or null` };
    if (!isoDate(s.since)) return { ok: false, problem: `${where}.since must be a date` };
    const by = actor(s.by, where);
    if (typeof by === 'string') return { ok: false, problem: by };
    servers.push({
      containerId: s.containerId,
      containerName: s.containerName as string,
      service: s.service as string,
      server: s.server as string,
      admin: s.admin,
      drainFirst: s.drainFirst,
      reason: s.reason,
      since: s.since,
      by,
    });
  }
  let maintenance: Maintenance | null = null;
  if (v.maintenance !== null && v.maintenance !== undefined) {
    const m = v.maintenance;
    if (!isObject(m)) return { ok: false, problem: 'maintenance must be an object or null' };
    if (!isoDate(m.since)) return { ok: false, problem: 'maintenance.since must be a date' };
    if (!strOrNull(m.reason) || (m.reason !== null && m.reason.length > REASON_MAX)) return { ok: false, problem: 'maintenance.reason must be text or null' };
    if (typeof m.forced !== 'boolean') return { ok: false, problem: 'maintenance.forced must be true or false' };
    const by = actor(m.by, 'maintenance');
    if (typeof by === 'string') return { ok: false, problem: by };
    maintenance = { since: m.since, reason: m.reason, forced: m.forced, by };
  }
  return { ok: true, state: { version: OPERATOR_STATE_VERSION, servers: sortServers(servers), maintenance } };
}

const sortServers = (s: readonly ServerOverride[]) =>
  [...s].sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : a.server < b.server ? -1 : a.server > b.server ? 1 : 0));

/** The state -> the file's text (stable: the same state, the same bytes). Pure. */
export function serializeOperatorState(state: OperatorState): string {
  return `${JSON.stringify({ version: state.version, servers: sortServers(state.servers), maintenance: state.maintenance }, null, 2)}\n`;
}

/** What the desired state needs: each overridden container's wanted admin state. Pure. */
export function overridesOf(state: OperatorState): Map<string, AdminOverride> {
  return new Map(state.servers.map((s) => [s.containerId, { admin: s.admin, reason: s.reason }]));
}

export const findOverride = (state: OperatorState, containerId: string) => state.servers.find((s) => s.containerId === containerId) ?? null;

/** Adds or replaces the override of `o.containerId`. Pure. */
export function withOverride(state: OperatorState, o: ServerOverride): OperatorState {
  return { ...state, servers: sortServers([...state.servers.filter((s) => s.containerId !== o.containerId), o]) };
}

export function withoutOverride(state: OperatorState, containerId: string): OperatorState {
  return { ...state, servers: state.servers.filter((s) => s.containerId !== containerId) };
}

export function withMaintenance(state: OperatorState, maintenance: Maintenance | null): OperatorState {
  return { ...state, maintenance };
}

/**
 * Overrides whose container no engine has any more (running or not): removed.
 * Only from a list every engine answered; a stopped container keeps its override. Pure.
 */
export function pruneRemoved(state: OperatorState, existing: ReadonlySet<string>): { state: OperatorState; removed: ServerOverride[] } {
  const removed = state.servers.filter((s) => !existing.has(s.containerId));
  if (removed.length === 0) return { state, removed };
  return { state: { ...state, servers: state.servers.filter((s) => existing.has(s.containerId)) }, removed };
}
