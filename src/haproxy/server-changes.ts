import { type AdminState, adminOf, type Server, type Service } from '../model/desired-state.js';
import { haproxyServers } from '../render/haproxy-servers.js';
import type { ServerStateRow } from './runtime-api.js';
import { backendName } from '../render/haproxy-view.js';

// Applied services vs desired services -> the cheapest safe way to get there.
// Server-only differences go through the Runtime API; anything that changes
// a frontend or a backend's own settings needs a reload. Servers are compared
// as HAProxy's lines (haproxy-servers.ts): a single-class switch-over is only
// weight updates. Pure.

export interface ServerRef {
  readonly backend: string;
  readonly service: Service;
  readonly server: Server;
}

export interface ServerUpdate {
  readonly backend: string;
  readonly service: Service;
  readonly before: Server;
  readonly after: Server;
}

export interface ChangeSet {
  /** Why a reload is needed, or null when the Runtime API can do it all. */
  readonly structural: string | null;
  readonly add: readonly ServerRef[];
  readonly remove: readonly ServerRef[];
  readonly update: readonly ServerUpdate[];
}

export const isEmpty = (c: ChangeSet) =>
  c.structural === null && c.add.length === 0 && c.remove.length === 0 && c.update.length === 0;

function serviceShape(s: Service): string {
  return JSON.stringify([s.mode, s.frontendPort, s.bind, s.hosts, s.path, s.balance, s.check, s.tls, s.sticky ?? null, s.clients]);
}

export function diffServices(applied: readonly Service[], desired: readonly Service[]): ChangeSet {
  const before = new Map(applied.map((s) => [s.name, s]));
  const after = new Map(desired.map((s) => [s.name, s]));
  const add: ServerRef[] = [];
  const remove: ServerRef[] = [];
  const update: ServerUpdate[] = [];
  let structural: string | null = null;

  for (const name of [...new Set([...before.keys(), ...after.keys()])].sort()) {
    const old = before.get(name);
    const now = after.get(name);
    if (!old || !now) {
      structural ??= `service ${name} ${old ? 'removed' : 'added'}`;
      continue;
    }
    if (serviceShape(old) !== serviceShape(now)) {
      structural ??= `service ${name} changed its settings`;
      continue;
    }
    const backend = backendName(name);
    const oldServers = new Map(haproxyServers(old).map((s) => [s.name, s]));
    const newServers = new Map(haproxyServers(now).map((s) => [s.name, s]));
    for (const [sname, server] of newServers) {
      const was = oldServers.get(sname);
      if (!was) add.push({ backend, service: now, server });
      // HAProxy cannot change a server's backup flag at run time (never happens by naming).
      else if (was.backup !== server.backup) structural ??= `server ${backend}/${sname} changed its backup flag`;
      else if (
        was.address !== server.address ||
        was.port !== server.port ||
        was.weight !== server.weight ||
        was.maxconn !== server.maxconn ||
        adminOf(was) !== adminOf(server)
      ) {
        update.push({ backend, service: now, before: was, after: server });
      }
    }
    for (const [sname, server] of oldServers) {
      if (!newServers.has(sname)) remove.push({ backend, service: old, server });
    }
  }
  return { structural, add, remove, update };
}

/**
 * HAProxy's srv_admin_state bits -> one word. 0x04 (disabled in the config file)
 * alone is no maintenance: HAProxy keeps that bit after `set server ... state
 * ready` until the next reload, and serves the server. Pure.
 */
export function haproxyAdmin(adminState: number): AdminState {
  // 0x01 forced, 0x02 inherited, 0x20 resolution, 0x40 health-check maintenance.
  if (adminState & 0x63) return 'maint';
  // 0x08 forced drain, 0x10 inherited drain.
  if (adminState & 0x18) return 'drain';
  return 'ready';
}

export interface AdminFix {
  readonly id: string;
  readonly want: AdminState;
  readonly was: AdminState;
}

/**
 * Servers the desired state wants drained or in maintenance whose admin state in
 * HAProxy is another (a reload put a drained server in maintenance, a hand enabled
 * it over the admin socket). Only that way: a server wanted ready but drained in
 * HAProxy may be one the stop tracker drained a moment ago, after this plan was
 * made (its container is stopping), and bringing it back would send it requests;
 * back to ready is the diff's work (enable), and a drain set by hand is left to
 * its owner (`vipkeeper show` calls it other). Servers HAProxy lacks are left to
 * the diff too. Pure.
 */
export function adminDrift(desired: readonly Service[], rows: readonly ServerStateRow[]): AdminFix[] {
  const live = new Map(rows.map((r) => [`${r.backend}/${r.server}`, r]));
  const fixes: AdminFix[] = [];
  for (const service of desired) {
    const backend = backendName(service.name);
    for (const server of service.servers) {
      const id = `${backend}/${server.name}`;
      const row = live.get(id);
      if (!row) continue;
      const was = haproxyAdmin(row.adminState);
      const want = adminOf(server);
      if (want !== 'ready' && was !== want) fixes.push({ id, want, was });
    }
  }
  return fixes;
}
