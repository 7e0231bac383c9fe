import type { Server, Service } from '../model/desired-state.js';
import { haproxyServers } from '../render/haproxy-servers.js';
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
  return JSON.stringify([s.mode, s.frontendPort, s.hosts, s.path, s.balance, s.check]);
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
      else if (was.address !== server.address || was.port !== server.port || was.weight !== server.weight || was.maxconn !== server.maxconn) {
        update.push({ backend, service: now, before: was, after: server });
      }
    }
    for (const [sname, server] of oldServers) {
      if (!newServers.has(sname)) remove.push({ backend, service: old, server });
    }
  }
  return { structural, add, remove, update };
}
