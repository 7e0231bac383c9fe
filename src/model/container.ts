// Our own small picture of a container, mapped once from Docker's types
// (docker/map-container.ts). Everything past the Docker edge sees only this.

export type ContainerHealth = 'none' | 'starting' | 'healthy' | 'unhealthy';

export interface PortBinding {
  readonly privatePort: number;
  readonly protocol: 'tcp' | 'udp' | 'sctp';
  /** As Docker reports it: '' or '0.0.0.0' or '::' mean every address. */
  readonly hostIp: string;
  readonly hostPort: number;
}

export interface NetworkAddress {
  readonly network: string;
  readonly ip: string;
  /** Its global IPv6 address in that network, when it has one (Docker's GlobalIPv6Address). */
  readonly ip6?: string;
}

export interface ContainerInfo {
  readonly id: string;
  readonly name: string;
  /** Seconds since the epoch; orders containers so older claims win conflicts. */
  readonly created: number;
  readonly running: boolean;
  /** When it last started, ms since the epoch by the engine's clock (0 if unknown). */
  readonly startedAt: number;
  readonly labels: Readonly<Record<string, string>>;
  /**
   * Only the environment variables VIPKEEPER_COMPAT reads (VIRTUAL_HOST, ...): never the
   * rest of a container's environment, which may hold secrets.
   */
  readonly env?: Readonly<Record<string, string>>;
  readonly health: ContainerHealth;
  /** Private TCP ports the image exposes or the container publishes. */
  readonly exposedTcpPorts: readonly number[];
  readonly bindings: readonly PortBinding[];
  readonly networks: readonly NetworkAddress[];
  /**
   * The engine it runs on, set only when several engines are read: server names
   * are then qualified with it, so two hosts' `web-1` never collide.
   */
  readonly engine?: string;
  /** Where its engine's published ports are reached, when the engine says so (an advertised or node address). */
  readonly publishedHost?: string | null;
  /** Known to be shutting down (a Swarm task whose desired state is shutdown): drained, never served again. */
  readonly stopping?: boolean;
}

/**
 * Any container an engine has, labelled or not, running or not, from one list
 * request (no inspect): enough for `vipkeeper check` to find a container by name
 * or id prefix and to say why it is not served.
 */
export interface ContainerSummary {
  readonly id: string;
  readonly name: string;
  readonly running: boolean;
  /** Docker's word for it: running, exited, created, paused, restarting, dead. */
  readonly state: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The engine it runs on (always set here: check names it). */
  readonly engine: string;
}
