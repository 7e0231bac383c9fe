import type { ServerStateRow } from '../haproxy/runtime-api.js';
import { haproxyAdmin } from '../haproxy/server-changes.js';
import type { Server, Service } from '../model/desired-state.js';
import { haproxyServers } from '../render/haproxy-servers.js';
import { backendName } from '../render/haproxy-view.js';
import type { AdminNote, AdminSource, AdminState, ContainerRef, InventoryServer, InventoryService, LiveHealth, ServerRole } from './operate-types.js';
import { hostPort } from '../config/patterns.js';

// The agent's applied desired state joined with HAProxy's live servers: what
// `vipkeeper show` prints, and what `check` judges a container by. Pure.

export interface InventoryInputs {
  /** The services of the last plan that went live. */
  readonly services: readonly Service[];
  /** HAProxy's `show servers state`, read just now. */
  readonly rows: readonly ServerStateRow[];
  /** Containers Docker is stopping (their servers are drained at once). */
  readonly stopping: ReadonlySet<string>;
  /** Servers the agent drained for removal and has not deleted yet (their containers stopped or are gone). */
  readonly leaving: readonly { readonly backend: string; readonly server: string }[];
  /** The engine of a container whose server does not name one (a single engine). */
  readonly defaultEngine: string | null;
  /** Admin states vipkeeper set on purpose, by `backend/server`: operator overrides, the member class. */
  readonly notes?: ReadonlyMap<string, AdminNote>;
  /** Roles by `backend/server` (the member class); active when not named. */
  readonly roles?: ReadonlyMap<string, ServerRole>;
}

export const serverKey = (backend: string, server: string) => `${backend}/${server}`;

/**
 * HAProxy's srv_admin_state bits -> one word (see haproxyAdmin: 0x04 alone, a server
 * disabled in the file and enabled since over the Runtime API, serves).
 */
export function adminState(row: ServerStateRow | undefined): AdminState {
  return row ? haproxyAdmin(row.adminState) : 'ready';
}

/** HAProxy's srv_op_state -> one word. */
export function liveHealth(row: ServerStateRow | undefined): LiveHealth {
  if (!row) return 'absent';
  return (['down', 'starting', 'up', 'stopping'] as const)[row.opState] ?? 'down';
}

export const shortId = (id: string) => id.slice(0, 12);

export function containerRef(server: Server, defaultEngine: string | null): ContainerRef {
  return { id: shortId(server.containerId), name: server.containerName, engine: server.engine ?? defaultEngine };
}

/** Who set a server's drain or maint, and why. */
function whoSetIt(
  admin: AdminState,
  key: string,
  server: Server | null,
  i: InventoryInputs,
  leaving: ReadonlySet<string>,
): { source: AdminSource | null; reason: string | null } {
  if (admin === 'ready') return { source: null, reason: null };
  const note = i.notes?.get(key);
  if (note) return note;
  // The plan says who wanted it so (an operator's disable).
  if (server?.adminSource && (server.admin ?? 'ready') !== 'ready') return { source: server.adminSource, reason: server.adminReason ?? null };
  if (server && i.stopping.has(server.containerId)) return { source: 'docker', reason: 'Docker is stopping its container: requests in flight finish, no new ones' };
  if (leaving.has(key)) return { source: 'docker', reason: 'its container stopped or is gone: the server is removed once its connections end' };
  return { source: 'other', reason: 'not set by vipkeeper: by hand over the Runtime API or the stats page, or a server being added' };
}

export function buildInventory(i: InventoryInputs): InventoryService[] {
  const rows = new Map(i.rows.map((r) => [serverKey(r.backend, r.server), r]));
  const leaving = new Set(i.leaving.map((l) => serverKey(l.backend, l.server)));
  return i.services.map((s) => {
    const backend = backendName(s.name);
    // Every HAProxy line: a single-class container has two (NAME, NAME:backup), weights say which serves.
    const servers: InventoryServer[] = haproxyServers(s).map((x) => {
      const key = serverKey(backend, x.name);
      const row = rows.get(key);
      const admin = adminState(row);
      const who = whoSetIt(admin, key, x, i, leaving);
      return {
        name: x.name,
        container: containerRef(x, i.defaultEngine),
        address: row ? hostPort(row.address, row.port) : hostPort(x.address, x.port),
        weight: row ? row.weight : x.weight,
        health: liveHealth(row),
        checked: s.check.enabled,
        admin,
        adminSource: who.source,
        adminReason: who.reason,
        role: i.roles?.get(key) ?? x.role,
      };
    });
    // Servers HAProxy has in this backend that the applied state does not: leaving, or put there by hand.
    const planned = new Set(haproxyServers(s).map((x) => x.name));
    for (const row of i.rows) {
      if (row.backend !== backend || planned.has(row.server)) continue;
      const key = serverKey(backend, row.server);
      const admin = adminState(row);
      const who = whoSetIt(admin, key, null, i, leaving);
      servers.push({
        name: row.server,
        container: null,
        address: hostPort(row.address, row.port),
        weight: row.weight,
        health: liveHealth(row),
        checked: s.check.enabled,
        admin,
        adminSource: who.source,
        adminReason: who.reason,
        role: i.roles?.get(key) ?? 'active',
      });
    }
    servers.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return {
      name: s.name,
      backend,
      mode: s.mode,
      frontend: { port: s.frontendPort, hosts: s.hosts, path: s.path },
      balance: s.balance,
      ...inventoryAccess(s),
      servers,
    };
  });
}

/** A service's client settings for `vipkeeper show`, only when one is away from its default (X-Forwarded-* are on for HTTP). Pure. */
export function inventoryAccess(s: Service): Pick<InventoryService, 'access'> {
  const c = s.clients;
  const set = c.allow !== null || c.rateLimit !== null || c.proxyProtocol !== null || (s.mode === 'http' && !c.forwarded);
  return set ? { access: { allow: c.allow, rateLimit: c.rateLimit, proxyProtocol: c.proxyProtocol, forwarded: c.forwarded } } : {};
}
