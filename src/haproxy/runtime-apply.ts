import type { Logger } from '../log.js';
import { adminOf } from '../model/desired-state.js';
import { serverOptions } from '../render/haproxy-view.js';
import { type Expected, expectBatch, type RuntimeApi } from './runtime-api.js';
import type { ChangeSet } from './server-changes.js';

// Server-level changes through the Runtime API, with no reload. A removed
// server is drained first and deleted once its connections are gone; deletes
// that must wait are retried by the caller (pendingDeletes). A whole change
// set is one batch: one connection to the admin socket per pass.

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
  // What gives traffic a place comes before what takes one away: new servers, then
  // weights that grow, then the rest, then removals. HAProxy runs a batch's commands
  // one after the other while it serves; in a single-class switch-over (new server
  // added, old one's weight to 0, its backup line's to W) no request then meets a
  // moment with no normal server, which would send it to an older backup.
  for (const { backend, service, server } of changes.add) {
    const id = `${backend}/${server.name}`;
    // A dynamic server inherits no default-server line: the full option set is given here,
    // the same one the config file carries, so a later reload keeps it identical.
    steps.push({ command: `add server ${id} ${server.address}:${server.port} ${serverOptions(server, service)}`, ok: /New server registered/ });
    if (service.check.enabled) steps.push({ command: `enable health ${id}`, ok: 'empty' });
    // A new server starts in maintenance: one an operator disabled stays there (or only drains).
    if (adminOf(server) !== 'maint') steps.push({ command: `set server ${id} state ${adminOf(server)}`, ok: 'empty' });
  }
  const grows = (u: ChangeSet['update'][number]) => u.after.weight > u.before.weight;
  for (const { backend, before, after } of [...changes.update.filter(grows), ...changes.update.filter((u) => !grows(u))]) {
    const id = `${backend}/${after.name}`;
    if (before.address !== after.address || before.port !== after.port) {
      steps.push({ command: `set server ${id} addr ${after.address} port ${after.port}`, ok: /changed|no need to change/i });
    }
    if (before.weight !== after.weight) steps.push({ command: `set server ${id} weight ${after.weight}`, ok: 'empty' });
    // 0 means "no limit" to HAProxy.
    if (before.maxconn !== after.maxconn) steps.push({ command: `set maxconn server ${id} ${after.maxconn ?? 0}`, ok: 'empty' });
    if (adminOf(before) !== adminOf(after)) steps.push({ command: `set server ${id} state ${adminOf(after)}`, ok: 'empty' });
  }
  // Removals: maintenance for all, then a delete for each. Maintenance sends no new
  // request and cuts none in flight; `del server` refuses while any is attached,
  // and that server is then retried later (its answer is checked below, not here).
  for (const { backend, server } of changes.remove) steps.push({ command: `set server ${backend}/${server.name} state maint`, ok: 'empty' });
  const deletes = changes.remove.map(({ backend, server }) => ({ backend, server: server.name, at: 0 }));
  for (const d of deletes) {
    d.at = steps.length;
    steps.push({ command: `del server ${d.backend}/${d.server}`, ok: /.?/s });
  }
  if (steps.length === 0) return [];

  // HAProxy runs every command of a batch even after one failed; the first bad answer throws.
  const answers = await expectBatch(api, steps);
  const pending: PendingDelete[] = [];
  for (const d of deletes) {
    if (!DELETED.test(answers[d.at]!)) pending.push({ backend: d.backend, server: d.server, since: Date.now() });
  }
  for (const { backend, server } of changes.add) log.debug({ server: `${backend}/${server.name}` }, 'server added through the runtime API');
  return pending;
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
