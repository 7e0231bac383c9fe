import type { ContainerInfo } from './container.js';

// vipkeeper.class=single: which container of a service serves (the active
// one), and which takes the traffic at once when it fails (the standby).
// Pure and deterministic: the same containers in any order give the same choice.

export type MemberRole = 'active' | 'backup';

export interface MemberChoice {
  /** The container that serves; null when none may (every one disabled by an operator) or there is none. */
  readonly active: string | null;
  /** The backup HAProxy switches to by itself when the active one fails: the one ranked next. */
  readonly standby: string | null;
  /** Ids in serving order (the active one first); disabled containers are not in it. */
  readonly order: readonly string[];
}

/** May this container be the active one? A Docker healthcheck that does not say healthy says no. */
export const healthyEnough = (c: Pick<ContainerInfo, 'health'>): boolean => c.health === 'none' || c.health === 'healthy';

/**
 * Serving order: a container that is healthy (or has no Docker healthcheck) before one
 * that is not; then the newest start (Docker's State.StartedAt) first; the same start
 * time: the lower id first.
 */
export function byServingOrder(a: ContainerInfo, b: ContainerInfo): number {
  return Number(healthyEnough(b)) - Number(healthyEnough(a)) || b.startedAt - a.startedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * The members of a single-class service -> the active one and the standby.
 * `disabled` (containers an operator took out) are never either: they stay
 * backups, so enabling one again needs no new server.
 */
export function chooseMembers(members: readonly ContainerInfo[], disabled: ReadonlySet<string> = new Set()): MemberChoice {
  const order = members.filter((c) => !disabled.has(c.id)).sort(byServingOrder);
  return { active: order[0]?.id ?? null, standby: order[1]?.id ?? null, order: order.map((c) => c.id) };
}
