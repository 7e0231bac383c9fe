import type { Logger } from '../log.js';
import { adminOf } from '../model/desired-state.js';
import { BACKUP_SUFFIX } from '../render/haproxy-servers.js';
import { serverOptions } from '../render/haproxy-view.js';
import { type Expected, expectBatch, type RuntimeApi } from './runtime-api.js';
import type { ChangeSet } from './server-changes.js';
import { hostPort } from '../config/patterns.js';

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

/** `del server`'s answers: deleted, or already gone. Anything else means "not yet". */
const DELETED = /Server deleted|No such server|No such backend/i;

interface Step {
  readonly command: string;
  readonly ok: Expected;
}

export async function applyServerChanges(api: RuntimeApi, changes: ChangeSet, log: Logger): Promise<PendingDelete[]> {
  const steps: Step[] = [];
  // Make before break: what gives traffic a place comes before what takes one away: new
  // servers, then weights that grow, then the rest, then removals. HAProxy runs a batch's
  // commands one by one while traffic flows: with removals first, a backend whose only
  // server is being replaced had none for the length of the batch (503s, measured with one
  // replica under the churn bench); in a single-class switch-over (new server added, old
  // one's weight to 0, its backup line's to W) no request meets a moment with no normal server.
  for (const { backend, service, server } of changes.add) {
    const id = `${backend}/${server.name}`;
    // A dynamic server inherits no default-server line: the full option set is given here,
    // the same one the config file carries, so a later reload keeps it identical.
    steps.push({ command: `add server ${id} ${hostPort(server.address, server.port)} ${serverOptions(server, service)}`, ok: /New server registered/ });
    if (service.check.enabled) steps.push({ command: `enable health ${id}`, ok: 'empty' });
    // A new server starts in maintenance: one an operator disabled stays there (or only drains).
    if (adminOf(server) !== 'maint') steps.push({ command: `set server ${id} state ${adminOf(server)}`, ok: 'empty' });
  }
  const grows = (u: ChangeSet['update'][number]) => u.after.weight > u.before.weight;
  // Normal lines before backup lines: HAProxy sends to a backup only while no normal server
  // serves, and then to the first backup in its order. In a single-class rollback (the
  // newest died) the old standby's normal line must get its weight before the next-older
  // container's backup line does, or that older one answers for the moment between.
  const isBackup = (u: ChangeSet['update'][number]) => Number(u.after.name.endsWith(BACKUP_SUFFIX));
  const normalFirst = (a: ChangeSet['update'][number], b: ChangeSet['update'][number]) => isBackup(a) - isBackup(b);
  for (const { backend, before, after } of [...changes.update.filter(grows).sort(normalFirst), ...changes.update.filter((u) => !grows(u))]) {
    const id = `${backend}/${after.name}`;
    if (before.address !== after.address || before.port !== after.port) {
      steps.push({ command: `set server ${id} addr ${after.address} port ${after.port}`, ok: /changed|no need to change/i });
    }
    if (before.weight !== after.weight) steps.push({ command: `set server ${id} weight ${after.weight}`, ok: 'empty' });
    // 0 means "no limit" to HAProxy.
    if (before.maxconn !== after.maxconn) steps.push({ command: `set maxconn server ${id} ${after.maxconn ?? 0}`, ok: 'empty' });
    if (adminOf(before) !== adminOf(after)) steps.push({ command: `set server ${id} state ${adminOf(after)}`, ok: 'empty' });
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
export async function tryDelete(api: RuntimeApi, backend: string, server: string): Promise<boolean> {
  const answer = await api.command(`del server ${backend}/${server}`);
  return DELETED.test(answer);
}

/** Several deletes on one connection; true for each server deleted (or already gone). */
export async function tryDeleteMany(api: RuntimeApi, servers: readonly ServerId[]): Promise<boolean[]> {
  const answers = await api.batch(servers.map((s) => `del server ${s.backend}/${s.server}`));
  return answers.map((a) => DELETED.test(a));
}

/** Out of band, as soon as Docker says a container is stopping: no new requests go to it. */
export async function drainServer(api: RuntimeApi, backend: string, server: string): Promise<void> {
  await api.expect(`set server ${backend}/${server} state drain`, 'empty');
}

/** Several drains on one connection; throws for the first one HAProxy refused (all were tried). */
export async function drainServers(api: RuntimeApi, servers: readonly ServerId[]): Promise<void> {
  await expectBatch(
    api,
    servers.map((s) => ({ command: `set server ${s.backend}/${s.server} state drain`, ok: 'empty' as const })),
  );
}
