import type { Logger } from '../log.js';
import { serverOptions } from '../render/haproxy-view.js';
import { directRuntimeApi, type Expected, expectBatch, type RuntimeApi } from './runtime-api.js';
import type { ChangeSet } from './server-changes.js';

// Server-level changes through the Runtime API, with no reload. A removed
// server goes to maintenance here; the caller's DeleteQueue deletes it once it
// has settled there and its connections are gone (delete-queue.ts says why a
// delete never follows in the same batch). A whole change set is one batch:
// one connection to the admin socket per pass.

export interface PendingDelete {
  readonly backend: string;
  readonly server: string;
  readonly since: number;
}

export interface ServerId {
  readonly backend: string;
  readonly server: string;
}

/**
 * A socket path is still taken (a direct, unqueued API is made for it) until
 * every caller hands in its RuntimeApi; new code passes the agent's RuntimeClient.
 */
export type ApiOrSocket = RuntimeApi | string;
const apiOf = (a: ApiOrSocket): RuntimeApi => (typeof a === 'string' ? directRuntimeApi(a) : a);

/** `del server`'s answers: deleted, or already gone. Anything else means "not yet". */
const DELETED = /Server deleted|No such server|No such backend/i;

interface Step {
  readonly command: string;
  readonly ok: Expected;
}

export async function applyServerChanges(target: ApiOrSocket, changes: ChangeSet, log: Logger): Promise<PendingDelete[]> {
  const api = apiOf(target);
  const steps: Step[] = [];
  // Make before break: new servers are ready before any old one leaves. HAProxy runs a
  // batch's commands one by one while traffic flows, so with removals first a backend
  // whose only server is being replaced had none for the length of the batch, and every
  // request in that gap got a 503 (measured with a single replica under the churn bench).
  for (const { backend, service, server } of changes.add) {
    const id = `${backend}/${server.name}`;
    // A dynamic server inherits no default-server line: the full option set is given here,
    // the same one the config file carries, so a later reload keeps it identical.
    steps.push({ command: `add server ${id} ${server.address}:${server.port} ${serverOptions(server, service)}`, ok: /New server registered/ });
    if (service.check.enabled) steps.push({ command: `enable health ${id}`, ok: 'empty' });
    steps.push({ command: `set server ${id} state ready`, ok: 'empty' });
  }
  for (const { backend, before, after } of changes.update) {
    const id = `${backend}/${after.name}`;
    if (before.address !== after.address || before.port !== after.port) {
      steps.push({ command: `set server ${id} addr ${after.address} port ${after.port}`, ok: /changed|no need to change/i });
    }
    if (before.weight !== after.weight) steps.push({ command: `set server ${id} weight ${after.weight}`, ok: 'empty' });
    // 0 means "no limit" to HAProxy.
    if (before.maxconn !== after.maxconn) steps.push({ command: `set maxconn server ${id} ${after.maxconn ?? 0}`, ok: 'empty' });
  }
  // Removals: maintenance only. Maintenance sends no new request and cuts none in flight.
  // Every removed server is returned as a pending delete, for the DeleteQueue.
  for (const { backend, server } of changes.remove) steps.push({ command: `set server ${backend}/${server.name} state maint`, ok: 'empty' });
  if (steps.length === 0) return [];

  // HAProxy runs every command of a batch even after one failed; the first bad answer throws.
  await expectBatch(api, steps);
  const now = Date.now();
  for (const { backend, server } of changes.add) log.debug({ server: `${backend}/${server.name}` }, 'server added through the runtime API');
  return changes.remove.map(({ backend, server }) => ({ backend, server: server.name, since: now }));
}

/** `del server` refuses while connections are attached; false means "try again later". */
export async function tryDelete(target: ApiOrSocket, backend: string, server: string): Promise<boolean> {
  const answer = await apiOf(target).command(`del server ${backend}/${server}`);
  return DELETED.test(answer);
}

/** Several deletes on one connection; true for each server deleted (or already gone). */
export async function tryDeleteMany(target: ApiOrSocket, servers: readonly ServerId[]): Promise<boolean[]> {
  const answers = await apiOf(target).batch(servers.map((s) => `del server ${s.backend}/${s.server}`));
  return answers.map((a) => DELETED.test(a));
}

/** Out of band, as soon as Docker says a container is stopping: no new requests go to it. */
export async function drainServer(target: ApiOrSocket, backend: string, server: string): Promise<void> {
  await apiOf(target).expect(`set server ${backend}/${server} state drain`, 'empty');
}

/** Several drains on one connection; throws for the first one HAProxy refused (all were tried). */
export async function drainServers(target: ApiOrSocket, servers: readonly ServerId[]): Promise<void> {
  await expectBatch(
    apiOf(target),
    servers.map((s) => ({ command: `set server ${s.backend}/${s.server} state drain`, ok: 'empty' as const })),
  );
}
