import type { Logger } from '../log.js';
import { serverOptions } from '../render/haproxy-view.js';
import { runtimeCommand, runtimeExpect } from './runtime-api.js';
import type { ChangeSet } from './server-changes.js';

// Server-level changes through the Runtime API, with no reload. A removed
// server is drained first and deleted once its connections are gone; deletes
// that must wait are retried by the caller (pendingDeletes).

export interface PendingDelete {
  readonly backend: string;
  readonly server: string;
  readonly since: number;
}

export async function applyServerChanges(socket: string, changes: ChangeSet, log: Logger): Promise<PendingDelete[]> {
  const pending: PendingDelete[] = [];
  for (const { backend, server } of changes.remove) {
    const id = `${backend}/${server.name}`;
    // Maintenance: no new requests; in-flight ones finish (the container is gone or going anyway).
    await runtimeExpect(socket, `set server ${id} state maint`, 'empty');
    if (!(await tryDelete(socket, backend, server.name))) pending.push({ backend, server: server.name, since: Date.now() });
  }
  for (const { backend, before, after } of changes.update) {
    const id = `${backend}/${after.name}`;
    if (before.address !== after.address || before.port !== after.port) {
      await runtimeExpect(socket, `set server ${id} addr ${after.address} port ${after.port}`, /changed|no need to change/i);
    }
    if (before.weight !== after.weight) await runtimeExpect(socket, `set server ${id} weight ${after.weight}`, 'empty');
    if (before.maxconn !== after.maxconn) {
      // 0 means "no limit" to HAProxy.
      await runtimeExpect(socket, `set maxconn server ${id} ${after.maxconn ?? 0}`, 'empty');
    }
  }
  for (const { backend, service, server } of changes.add) {
    const id = `${backend}/${server.name}`;
    // A dynamic server inherits no default-server line: the full option set is given here,
    // the same one the config file carries, so a later reload keeps it identical.
    await runtimeExpect(socket, `add server ${id} ${server.address}:${server.port} ${serverOptions(server, service)}`, /New server registered/);
    if (service.check.enabled) await runtimeExpect(socket, `enable health ${id}`, 'empty');
    await runtimeExpect(socket, `set server ${id} state ready`, 'empty');
    log.debug({ server: id }, 'server added through the runtime API');
  }
  return pending;
}

/** `del server` refuses while connections are attached; false means "try again later". */
export async function tryDelete(socket: string, backend: string, server: string): Promise<boolean> {
  const answer = await runtimeCommand(socket, `del server ${backend}/${server}`);
  if (/Server deleted/.test(answer)) return true;
  if (/No such server|No such backend/i.test(answer)) return true;
  return false;
}

/** Out of band, as soon as Docker says a container is stopping: no new requests go to it. */
export async function drainServer(socket: string, backend: string, server: string): Promise<void> {
  await runtimeExpect(socket, `set server ${backend}/${server} state drain`, 'empty');
}
