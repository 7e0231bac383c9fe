import { IPV4 } from '../config/patterns.js';
import type { ContainerInfo, NetworkAddress, PortBinding } from '../model/container.js';

// Docker Swarm's services, tasks and nodes -> our ContainerInfo, one per
// running task. The only place Swarm's shapes are read. Service labels play
// the part of container labels; node labels the part of engine labels.

interface SwarmPort {
  readonly Protocol?: string;
  readonly TargetPort?: number;
  readonly PublishedPort?: number;
  readonly PublishMode?: string;
}

/** The parts of `GET /services` we read. */
export interface SwarmService {
  readonly ID: string;
  readonly CreatedAt?: string;
  readonly Spec: { readonly Name: string; readonly Labels?: Record<string, string> | null };
  readonly Endpoint?: { readonly Ports?: readonly SwarmPort[] | null } | null;
}

/** The parts of `GET /tasks` we read. */
export interface SwarmTask {
  readonly ID: string;
  readonly ServiceID: string;
  readonly NodeID?: string;
  readonly Slot?: number;
  readonly CreatedAt?: string;
  readonly DesiredState: string;
  readonly Status: {
    readonly State: string;
    readonly Timestamp?: string;
    readonly ContainerStatus?: { readonly ContainerID?: string } | null;
    readonly PortStatus?: { readonly Ports?: readonly SwarmPort[] | null } | null;
  };
  readonly NetworksAttachments?: ReadonlyArray<{ readonly Network?: { readonly Spec?: { readonly Name?: string } }; readonly Addresses?: readonly string[] | null }> | null;
}

/** The parts of `GET /nodes` we read. */
export interface SwarmNode {
  readonly ID: string;
  readonly Description?: { readonly Hostname?: string };
  readonly Spec: { readonly Labels?: Record<string, string> | null; readonly Availability?: string };
  readonly Status: { readonly State: string; readonly Addr?: string };
  readonly ManagerStatus?: { readonly Addr?: string } | null;
}

export interface SwarmSelection {
  readonly roleLabel: string;
  /** Node label role a node must carry for its tasks to be served; null: any node. */
  readonly appNodeRole: string | null;
}

export interface SwarmBackends {
  readonly containers: ContainerInfo[];
  /** Running tasks left out because their node lacks the app role or is not ready, by reason. */
  readonly leftOut: readonly { readonly task: string; readonly reason: string }[];
}

/** A node's reachable address: Status.Addr, else its manager address (some engines report 0.0.0.0). */
export function nodeAddress(n: SwarmNode): string | null {
  if (n.Status.Addr && IPV4.test(n.Status.Addr) && n.Status.Addr !== '0.0.0.0') return n.Status.Addr;
  const manager = n.ManagerStatus?.Addr?.replace(/:\d+$/, '');
  return manager && IPV4.test(manager) && manager !== '0.0.0.0' ? manager : null;
}

const epochSeconds = (iso: string | undefined) => {
  const t = Date.parse(iso ?? '');
  return Number.isNaN(t) ? 0 : t / 1000;
};

export function mapSwarm(listing: { services: readonly SwarmService[]; tasks: readonly SwarmTask[]; nodes: readonly SwarmNode[] }, sel: SwarmSelection): SwarmBackends {
  const services = new Map(listing.services.map((s) => [s.ID, s]));
  const nodes = new Map(listing.nodes.map((n) => [n.ID, n]));
  const containers: ContainerInfo[] = [];
  const leftOut: { task: string; reason: string }[] = [];

  for (const t of listing.tasks) {
    const service = services.get(t.ServiceID);
    // Only tasks whose container runs; one the orchestrator is shutting down is kept as "stopping" (drained).
    if (!service || t.Status.State !== 'running' || !['running', 'shutdown'].includes(t.DesiredState)) continue;
    const node = t.NodeID ? nodes.get(t.NodeID) : undefined;
    const slot = t.Slot ? String(t.Slot) : (node?.Description?.Hostname ?? t.NodeID ?? t.ID).slice(0, 24);
    const name = `${service.Spec.Name}.${slot}`;
    if (!node) {
      leftOut.push({ task: name, reason: 'its node is not in the swarm any more' });
      continue;
    }
    if (node.Status.State !== 'ready') {
      leftOut.push({ task: name, reason: `its node ${node.Description?.Hostname ?? node.ID} is ${node.Status.State}` });
      continue;
    }
    if (sel.appNodeRole !== null && node.Spec.Labels?.[sel.roleLabel] !== sel.appNodeRole) {
      leftOut.push({ task: name, reason: `its node ${node.Description?.Hostname ?? node.ID} lacks the node label ${sel.roleLabel}=${sel.appNodeRole}` });
      continue;
    }
    const address = nodeAddress(node);
    const bindings: PortBinding[] = [];
    const seen = new Set<string>();
    const published = [
      ...(t.Status.PortStatus?.Ports ?? []).filter((p) => p.PublishMode === 'host'),
      // Ingress ports answer on every node; the task's own node is the one we know runs it.
      ...(service.Endpoint?.Ports ?? []).filter((p) => p.PublishMode !== 'host'),
    ];
    for (const p of published) {
      const key = `${p.TargetPort}/${p.Protocol}/${p.PublishedPort}`;
      if (!address || !p.TargetPort || !p.PublishedPort || seen.has(key)) continue;
      seen.add(key);
      const protocol = p.Protocol === 'udp' || p.Protocol === 'sctp' ? p.Protocol : 'tcp';
      bindings.push({ privatePort: p.TargetPort, protocol, hostIp: address, hostPort: p.PublishedPort });
    }
    const networks: NetworkAddress[] = (t.NetworksAttachments ?? [])
      .map((a) => {
        // A dual-stack overlay lists both families: the IPv4 one is `ip`, as for a container.
        const addresses = (a.Addresses ?? []).map((x) => x.replace(/\/\d+$/, ''));
        const ip6 = addresses.find((x) => x.includes(':'));
        return { network: a.Network?.Spec?.Name ?? '', ip: addresses.find((x) => !x.includes(':')) ?? '', ...(ip6 ? { ip6 } : {}) };
      })
      .filter((n) => n.network !== '')
      .sort((a, b) => (a.network < b.network ? -1 : 1));
    containers.push({
      id: t.Status.ContainerStatus?.ContainerID || t.ID,
      name,
      created: epochSeconds(service.CreatedAt),
      running: true,
      startedAt: epochSeconds(t.Status.Timestamp) * 1000,
      labels: { ...(service.Spec.Labels ?? {}) },
      // Swarm reports a task running only once its healthcheck passed.
      health: 'none',
      exposedTcpPorts: [...new Set(published.filter((p) => (p.Protocol ?? 'tcp') === 'tcp' && p.TargetPort).map((p) => p.TargetPort!))].sort((a, b) => a - b),
      bindings,
      networks,
      publishedHost: address,
      stopping: t.DesiredState !== 'running',
    });
  }
  return { containers, leftOut };
}
