import { showUntrusted } from '../labels/parse-labels.js';
import type { ContainerSummary } from '../model/container.js';
import { COMPOSE_ONEOFF_LABEL, type DesiredState, type SelectionSettings } from '../model/desired-state.js';
import { servingLine } from '../render/haproxy-servers.js';
import { backendName } from '../render/haproxy-view.js';
import { serverKey, shortId } from './inventory.js';
import type { AdminSource, CheckAnswer, CheckResult, ContainerRef, EngineAnswer, InventoryServer, InventoryService } from './operate-types.js';

// `vipkeeper check CONTAINER...`: is each container balanced and up, and if
// not, why not. Pure: the agent hands in what every engine lists now, its
// applied state (served and skipped containers) and the inventory (HAProxy's
// view of each server).

export type Resolution =
  | { readonly kind: 'one'; readonly container: ContainerSummary }
  | { readonly kind: 'none' }
  | { readonly kind: 'ambiguous'; readonly matches: readonly ContainerSummary[] };

/**
 * A name or id prefix -> the one container it means, as Docker resolves it: a
 * full id first, then an exact name, then an id prefix. `ENGINE/NAME` (or
 * `ENGINE/ID`) picks the engine when several engines have a container of that name.
 */
export function resolveContainer(query: string, all: readonly ContainerSummary[]): Resolution {
  let q = query.trim();
  let pool = all;
  const slash = q.indexOf('/');
  if (slash > 0) {
    const engine = q.slice(0, slash);
    pool = all.filter((c) => c.engine === engine);
    q = q.slice(slash + 1);
  } else if (slash === 0) {
    q = q.slice(1); // Docker's own spelling of a name: /web-1
  }
  if (q === '') return { kind: 'none' };
  const pick = (found: readonly ContainerSummary[]): Resolution | null =>
    found.length === 1 ? { kind: 'one', container: found[0]! } : found.length > 1 ? { kind: 'ambiguous', matches: sorted(found) } : null;
  const lower = q.toLowerCase();
  const hex = /^[0-9a-f]+$/.test(lower);
  return (
    (hex && lower.length === 64 ? pick(pool.filter((c) => c.id === lower)) : null) ??
    pick(pool.filter((c) => c.name === q)) ??
    (hex ? pick(pool.filter((c) => c.id.startsWith(lower))) : null) ?? { kind: 'none' }
  );
}

const sorted = (cs: readonly ContainerSummary[]) =>
  [...cs].sort((a, b) => (a.engine < b.engine ? -1 : a.engine > b.engine ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

const ref = (c: ContainerSummary): ContainerRef => ({ id: shortId(c.id), name: c.name, engine: c.engine });

export interface CheckInputs {
  readonly queries: readonly string[];
  /** Every container of every engine that answered, listed now. */
  readonly containers: readonly ContainerSummary[];
  readonly engines: readonly EngineAnswer[];
  readonly settings: Pick<SelectionSettings, 'roleLabel' | 'backendRole'>;
  /** The applied desired state: served and skipped containers. */
  readonly state: DesiredState;
  /** The applied state joined with HAProxy's view (buildInventory). */
  readonly inventory: readonly InventoryService[];
}

const BY: Record<AdminSource, string> = {
  docker: 'by Docker',
  label: 'by a label',
  operator: 'by an operator',
  class: 'by the member class',
  other: 'outside vipkeeper',
};

export function checkContainers(i: CheckInputs): CheckAnswer {
  // Where the applied state serves each container: service, backend, server.
  const served = new Map<string, { service: string; backend: string; server: string }>();
  for (const s of i.state.services) {
    // A single-class backup is served by its NAME:backup line: that line's health is the answer.
    for (const x of s.servers) served.set(x.containerId, { service: s.name, backend: backendName(s.name), server: servingLine(s, x) });
  }
  const inventory = new Map<string, InventoryServer>();
  for (const s of i.inventory) for (const x of s.servers) inventory.set(serverKey(s.backend, x.name), x);
  const skipped = new Map(i.state.skipped.map((s) => [s.containerId, s]));
  const down = i.engines.filter((e) => !e.ok);
  const { roleLabel, backendRole } = i.settings;

  const results = i.queries.map((query): CheckResult => {
    const base = { query, container: null, service: null, server: null, health: null, admin: null, matches: [] };
    const r = resolveContainer(query, i.containers);
    if (r.kind === 'none') {
      const unseen = down.length > 0 ? ` (not asked: ${down.map((e) => `engine ${e.name} does not answer`).join(', ')})` : '';
      return { ...base, ok: false, verdict: 'unknown', reason: `no container is named ${showUntrusted(query)} or has an id starting with it${unseen}` };
    }
    if (r.kind === 'ambiguous') {
      const names = r.matches.map((c) => `${c.engine}/${c.name} (${shortId(c.id)})`).join(', ');
      return { ...base, ok: false, verdict: 'ambiguous', reason: `${showUntrusted(query)} matches ${r.matches.length} containers: ${names}; give more of the id, or ENGINE/NAME`, matches: r.matches.map(ref) };
    }
    const c = r.container;
    const found = { ...base, container: ref(c) };
    if (!c.running) return { ...found, ok: false, verdict: 'not-running', reason: `not running (Docker says ${c.state})` };
    const role = c.labels[roleLabel];
    // With VIPKEEPER_COMPAT a container may be ours by its environment, which a list does not show: the applied state knows.
    if (role !== backendRole && !served.has(c.id) && !skipped.has(c.id)) {
      const why = role === undefined ? `it has no ${roleLabel} label` : `its label ${roleLabel}=${showUntrusted(role)} is not ${roleLabel}=${backendRole}`;
      return { ...found, ok: false, verdict: 'no-role', reason: `${why}: only containers labelled ${roleLabel}=${backendRole} are served` };
    }
    if (c.labels[COMPOSE_ONEOFF_LABEL] === 'True') {
      return { ...found, ok: false, verdict: 'skipped', reason: 'a one-off `docker-compose run` container: never served' };
    }
    const skip = skipped.get(c.id);
    if (skip) {
      return skip.problems.length > 0
        ? { ...found, ok: false, verdict: 'rejected', reason: `a label is rejected: ${skip.reason}` }
        : { ...found, ok: false, verdict: 'skipped', reason: `not served: ${skip.reason}` };
    }
    const at = served.get(c.id);
    if (!at) {
      return { ...found, ok: false, verdict: 'not-served', reason: "running and labelled, but not in the agent's applied state yet (a pass may be pending, or the last one failed: see `vipkeeper status`)" };
    }
    const key = serverKey(at.backend, at.server);
    const x = inventory.get(key);
    const placed = { ...found, service: at.service, server: key, health: x?.health ?? 'absent', admin: x?.admin ?? null };
    if (!x || x.health === 'absent') return { ...placed, ok: false, verdict: 'not-served', reason: `HAProxy has no server ${key} (yet)` };
    if (x.admin !== 'ready') {
      const by = x.adminSource ? ` ${BY[x.adminSource]}` : '';
      return { ...placed, ok: false, verdict: 'disabled', reason: `${x.admin === 'maint' ? 'in maintenance' : 'draining'}${by}${x.adminReason ? `: ${x.adminReason}` : ''}` };
    }
    if (x.health !== 'up') {
      return { ...placed, ok: false, verdict: 'down', reason: `HAProxy says ${x.health}${x.health === 'down' && x.checked ? ': its health check fails' : ''}` };
    }
    const asBackup = x.role === 'backup' ? ' as a backup (it takes traffic when the active server is gone)' : '';
    return { ...placed, ok: true, verdict: 'balanced', reason: `balanced and up in ${at.backend} as ${at.server} (${x.address})${asBackup}` };
  });
  return { ok: results.every((r) => r.ok), results, engines: i.engines };
}
