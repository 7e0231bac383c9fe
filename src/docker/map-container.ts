import { pickCompatVariables } from '../labels/nginx-proxy.js';
import type { ContainerHealth, ContainerInfo, ContainerSummary, PortBinding } from '../model/container.js';

// Docker's inspect document -> our ContainerInfo. The only place Docker's
// shapes are read; anything missing or malformed becomes an empty value here.

/** The part of `GET /containers/{id}/json` we read. */
export interface DockerInspect {
  readonly Id: string;
  readonly Name: string;
  readonly Created: string;
  readonly State: { readonly Running: boolean; readonly StartedAt?: string; readonly Health?: { readonly Status: string } | undefined };
  readonly Config: {
    readonly Labels?: Record<string, string> | null;
    readonly ExposedPorts?: Record<string, unknown> | null;
    /** `NAME=value` lines; only VIPKEEPER_COMPAT's variables are kept, never the rest. */
    readonly Env?: readonly string[] | null;
  };
  readonly NetworkSettings: {
    readonly Ports?: Record<string, ReadonlyArray<{ HostIp: string; HostPort: string }> | null> | null;
    readonly Networks?: Record<string, { readonly IPAddress: string; readonly GlobalIPv6Address?: string }> | null;
  };
}

const HEALTH = new Map<string, ContainerHealth>([
  ['starting', 'starting'],
  ['healthy', 'healthy'],
  ['unhealthy', 'unhealthy'],
]);

function splitPort(key: string): { port: number; protocol: PortBinding['protocol'] } | null {
  const m = /^(\d{1,5})\/(tcp|udp|sctp)$/.exec(key);
  if (!m) return null;
  const port = Number(m[1]);
  return port >= 1 && port <= 65535 ? { port, protocol: m[2] as PortBinding['protocol'] } : null;
}

export function mapContainer(d: DockerInspect): ContainerInfo {
  const bindings: PortBinding[] = [];
  const exposed = new Set<number>();
  for (const key of Object.keys(d.Config.ExposedPorts ?? {})) {
    const p = splitPort(key);
    if (p?.protocol === 'tcp') exposed.add(p.port);
  }
  for (const [key, list] of Object.entries(d.NetworkSettings.Ports ?? {})) {
    const p = splitPort(key);
    if (!p) continue;
    if (p.protocol === 'tcp') exposed.add(p.port);
    for (const b of list ?? []) {
      const hostPort = Number(b.HostPort);
      if (Number.isInteger(hostPort) && hostPort >= 1 && hostPort <= 65535) {
        bindings.push({ privatePort: p.port, protocol: p.protocol, hostIp: b.HostIp ?? '', hostPort });
      }
    }
  }
  const created = Date.parse(d.Created);
  const env = pickCompatVariables(d.Config.Env);
  return {
    id: d.Id,
    name: d.Name.replace(/^\//, ''),
    created: Number.isNaN(created) ? 0 : created / 1000,
    running: d.State.Running,
    startedAt: Number.isNaN(Date.parse(d.State.StartedAt ?? '')) ? 0 : Date.parse(d.State.StartedAt ?? ''),
    labels: { ...(d.Config.Labels ?? {}) },
    ...(Object.keys(env).length > 0 ? { env } : {}),
    health: HEALTH.get(d.State.Health?.Status ?? '') ?? 'none',
    exposedTcpPorts: [...exposed].sort((a, b) => a - b),
    bindings,
    networks: Object.entries(d.NetworkSettings.Networks ?? {})
      .map(([network, n]) => ({ network, ip: n.IPAddress ?? '', ...(n.GlobalIPv6Address ? { ip6: n.GlobalIPv6Address } : {}) }))
      .sort((a, b) => (a.network < b.network ? -1 : 1)),
  };
}

/** The part of an entry of `GET /containers/json?all=1` we read. */
export interface DockerListEntry {
  readonly Id: string;
  readonly Names?: readonly string[] | null;
  readonly State?: string;
  readonly Labels?: Record<string, string> | null;
}

/** One entry of Docker's container list -> a summary (`engine` names where it was listed). */
export function mapSummary(d: DockerListEntry, engine: string): ContainerSummary {
  const state = d.State ?? '';
  return {
    id: d.Id,
    // The first name is the container's own; later ones are legacy links (/other/alias).
    name: (d.Names?.[0] ?? '').replace(/^\//, ''),
    running: state === 'running',
    state: state || 'unknown',
    labels: { ...(d.Labels ?? {}) },
    engine,
  };
}
