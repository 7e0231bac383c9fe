import type { Service } from '../model/desired-state.js';
import { backendName, frontendName } from '../render/haproxy-view.js';

// Health per VRRP instance: an instance whose vipkeeper.vip services have no healthy
// server on this node, or whose frontends do not listen here, drops its priority on
// this node alone (a track_file per instance), so its VIPs move to a node that serves
// them while the node keeps the instances it serves well. Pure: HAProxy's `show stat`
// and the applied services in, a verdict per instance out.

/** Frontends and backends only (`-1 3 -1`): one line per proxy, no servers. */
export const SHOW_PROXY_STATS = 'show stat -1 3 -1';

/**
 * How much an unhealthy instance's priority drops (the track_file's weight is minus this).
 * A fixed amount, not "to the bottom": when every node is unhealthy alike they all drop by
 * it and keep their order, so nothing moves for nothing. Mirrored priorities less than this
 * apart (150/100) move; the README says so.
 */
export const INSTANCE_HEALTH_DROP = 100;

export interface ProxyStatus {
  /** `FRONTEND` or `BACKEND` row of this proxy. */
  readonly proxy: string;
  readonly kind: 'frontend' | 'backend';
  /** OPEN/STOP/FULL for a frontend, UP/DOWN for a backend. */
  readonly status: string;
}

export interface InstanceHealth {
  readonly instance: string;
  readonly healthy: boolean;
  /** Why not (one sentence per broken part), empty when healthy. */
  readonly problems: readonly string[];
}

/** `show stat` CSV -> the status of each frontend and backend. Pure. */
export function parseProxyStats(answer: string): ProxyStatus[] {
  const lines = answer.split('\n');
  const header = lines.find((l) => l.startsWith('# '))?.slice(2).split(',') ?? [];
  const [px, sv, st] = [header.indexOf('pxname'), header.indexOf('svname'), header.indexOf('status')];
  if (px < 0 || sv < 0 || st < 0) return [];
  const rows: ProxyStatus[] = [];
  for (const line of lines) {
    if (!line || line.startsWith('#')) continue;
    const f = line.split(',');
    const kind = f[sv] === 'FRONTEND' ? 'frontend' : f[sv] === 'BACKEND' ? 'backend' : null;
    if (kind === null || f[px] === undefined || f[st] === undefined) continue;
    rows.push({ proxy: f[px]!, kind, status: f[st]! });
  }
  return rows;
}

/**
 * Each instance's verdict. Only services bound to an instance (vipkeeper.vip) count for
 * it: a service on every address serves every instance alike, so it cannot tell them
 * apart (haproxy itself and the frontend port are watched for the whole node already).
 * A backend is healthy while HAProxy has it UP: some server (active or backup) usable.
 */
export function judgeInstances(instances: readonly string[], services: readonly Service[], stats: readonly ProxyStatus[]): InstanceHealth[] {
  const frontends = new Map(stats.filter((s) => s.kind === 'frontend').map((s) => [s.proxy, s.status]));
  const backends = new Map(stats.filter((s) => s.kind === 'backend').map((s) => [s.proxy, s.status]));
  return instances.map((instance) => {
    const mine = services.filter((s) => s.bind?.instances.includes(instance) === true);
    const problems: string[] = [];
    for (const fe of [...new Set(mine.map((s) => frontendName(s.frontendPort, s.bind)))].sort()) {
      const status = frontends.get(fe);
      if (status !== 'OPEN') problems.push(`frontend ${fe} does not listen here (${status === undefined ? 'not in the running haproxy' : status})`);
    }
    for (const s of [...mine].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const status = backends.get(backendName(s.name));
      if (status !== 'UP') problems.push(`service ${s.name} has no healthy server on this node (${status === undefined ? 'not in the running haproxy' : `backend ${status}`})`);
    }
    return { instance, healthy: problems.length === 0, problems };
  });
}
