// What the environment's defaults depend on about this host. Gathered at the
// edge (host/read-host-facts.ts) and passed in, so parsing stays pure.

export interface InterfaceAddress {
  readonly address: string;
  readonly prefix: number;
}

export interface HostInterface {
  readonly name: string;
  readonly addresses: readonly InterfaceAddress[];
}

export interface HostFacts {
  readonly hostname: string;
  /**
   * Every interface of our network namespace, up or down, with its IPv4
   * addresses (none for one without). Empty when they could not be listed:
   * VIPKEEPER_INTERFACE is then not checked.
   */
  readonly interfaces: readonly HostInterface[];
  /** Interface of the default route, if any. */
  readonly defaultInterface: string | null;
  /**
   * Whether we run in the host's initial network namespace. keepalived's
   * track_process needs the kernel's process connector, which only the initial
   * namespace receives (a host-networked container is there; a lab namespace is not).
   * Unknown counts as yes.
   */
  readonly initialNetns?: boolean;
}
