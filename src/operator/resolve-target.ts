import type { DesiredState } from '../model/desired-state.js';
import { showUntrusted } from '../labels/parse-labels.js';

// `vipkeeper disable|enable CONTAINER|SERVICE/SERVER` -> exactly one server, or
// a message saying why not. Like Docker: a full id, then an exact name, then a
// unique id prefix. Pure.

export interface Candidate {
  readonly containerId: string;
  readonly containerName: string;
  readonly service: string;
  readonly server: string;
}

export type Resolution =
  | { readonly ok: true; readonly candidate: Candidate }
  /** unknown and ambiguous: the answer is no (exit 1); bad: the request itself is wrong (exit 2). */
  | { readonly ok: false; readonly kind: 'unknown' | 'ambiguous' | 'bad'; readonly message: string };

const TARGET = /^\/?[A-Za-z0-9][A-Za-z0-9_.-]{0,254}(\/[A-Za-z0-9][A-Za-z0-9_.-]{0,254})?$/;
export const TARGET_HELP = 'a container name or id (prefix), or SERVICE/SERVER';

/** Is this a target at all (before it is looked up)? Pure. */
export function validTarget(target: string): boolean {
  return TARGET.test(target);
}

/** Every server of a desired state as a target. Pure. */
export function candidatesOf(state: Pick<DesiredState, 'services'>): Candidate[] {
  return state.services.flatMap((svc) =>
    svc.servers.map((s) => ({ containerId: s.containerId, containerName: s.containerName, service: svc.name, server: s.name })),
  );
}

const label = (c: Candidate) => `${c.service}/${c.server} (container ${c.containerName}, ${c.containerId.slice(0, 12)})`;
const list = (cs: readonly Candidate[], max = 8) => cs.slice(0, max).map(label).join(', ') + (cs.length > max ? `, and ${cs.length - max} more` : '');

function unique(cs: readonly Candidate[]): Candidate[] {
  const byId = new Map<string, Candidate>();
  for (const c of cs) if (!byId.has(c.containerId)) byId.set(c.containerId, c);
  return [...byId.values()];
}

/**
 * `target` among `candidates`. `notServed` explains a container that exists but is
 * not a server now (the desired state's skipped list). Pure.
 */
export function resolveTarget(
  target: string,
  candidates: readonly Candidate[],
  notServed: readonly { containerId: string; containerName: string; reason: string }[] = [],
): Resolution {
  if (!validTarget(target)) {
    return { ok: false, kind: 'bad', message: `${showUntrusted(target)} is not ${TARGET_HELP}` };
  }
  const all = unique(candidates);
  const slash = target.indexOf('/', 1);
  if (slash > 0) {
    const [service, server] = [target.slice(target.startsWith('/') ? 1 : 0, slash), target.slice(slash + 1)];
    const inService = all.filter((c) => c.service === service);
    if (inService.length === 0) {
      const services = [...new Set(all.map((c) => c.service))].sort();
      return { ok: false, kind: 'unknown', message: `no service ${service} with servers${services.length ? ` (services: ${services.join(', ')})` : ''}` };
    }
    const hit = inService.find((c) => c.server === server);
    if (!hit) return { ok: false, kind: 'unknown', message: `service ${service} has no server ${server} (its servers: ${inService.map((c) => c.server).sort().join(', ')})` };
    return { ok: true, candidate: hit };
  }
  const ref = target.replace(/^\//, '');
  const byId = all.filter((c) => c.containerId === ref);
  if (byId.length === 1) return { ok: true, candidate: byId[0]! };
  const byName = all.filter((c) => c.containerName.replace(/^\//, '') === ref || c.server === ref);
  if (byName.length === 1) return { ok: true, candidate: byName[0]! };
  if (byName.length > 1) {
    return { ok: false, kind: 'ambiguous', message: `${ref} names ${byName.length} servers: ${list(byName)}; say which as SERVICE/SERVER` };
  }
  if (/^[0-9a-f]+$/.test(ref)) {
    const byPrefix = all.filter((c) => c.containerId.startsWith(ref));
    if (byPrefix.length === 1) return { ok: true, candidate: byPrefix[0]! };
    if (byPrefix.length > 1) {
      return { ok: false, kind: 'ambiguous', message: `id prefix ${ref} matches ${byPrefix.length} containers: ${list(byPrefix)}; give more of the id` };
    }
  }
  const skipped = notServed.find((s) => s.containerId === ref || s.containerName.replace(/^\//, '') === ref || (/^[0-9a-f]+$/.test(ref) && s.containerId.startsWith(ref)));
  if (skipped) return { ok: false, kind: 'unknown', message: `container ${showUntrusted(skipped.containerName)} (${skipped.containerId.slice(0, 12)}) is not a server now: ${skipped.reason}` };
  return { ok: false, kind: 'unknown', message: `no container or server ${ref} is served here` };
}
