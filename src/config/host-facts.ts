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
  readonly interfaces: readonly HostInterface[];
  /** Interface of the default route, if any. */
  readonly defaultInterface: string | null;
}
