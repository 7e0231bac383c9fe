import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import type { HostFacts } from '../../src/config/host-facts.js';
import type { ContainerInfo, PortBinding } from '../../src/model/container.js';
import type { SelectionSettings, Server, Service } from '../../src/model/desired-state.js';
import type { ClientLabels, TlsLabels } from '../../src/labels/parse-labels.js';

// Shared fixtures for the unit tests: a host, selection settings, containers,
// and the services and servers the model makes of them.

/**
 * A host with a loopback, a management NIC (default route), a NIC on the VIP's
 * subnet, and a bond with a VLAN that carry no address.
 */
export const FACTS: HostFacts = {
  hostname: 'lb1.example.net',
  interfaces: [
    { name: 'lo', addresses: [{ address: '127.0.0.1', prefix: 8 }] },
    { name: 'eth0', addresses: [{ address: '192.0.2.5', prefix: 24 }] },
    { name: 'eth1', addresses: [{ address: '198.18.0.5', prefix: 24 }] },
    { name: 'bond0', addresses: [] },
    { name: 'bond0.100', addresses: [] },
  ],
  defaultInterface: 'eth0',
};

export const facts = (overrides: Partial<HostFacts> = {}): HostFacts => ({ ...FACTS, ...overrides });

/** The smallest valid environment. */
export const MINIMAL_ENV = { VIPKEEPER_VIRTUAL_IPS: '198.18.0.10/24' } as const;

export const SETTINGS: SelectionSettings = {
  roleLabel: 'role',
  backendRole: 'apps',
  frontendPort: 80,
  publishedHost: null,
};

/** A stable 64-hex container id derived from a seed, like Docker's. */
export const idFor = (seed: string): string => createHash('sha256').update(seed).digest('hex');

export const binding = (privatePort: number, hostPort: number, hostIp = '0.0.0.0', protocol: PortBinding['protocol'] = 'tcp'): PortBinding => ({
  privatePort,
  protocol,
  hostIp,
  hostPort,
});

export interface ContainerSpec extends Partial<Omit<ContainerInfo, 'name'>> {
  readonly name: string;
  /** Extra labels merged over the default `role=apps`. */
  readonly extraLabels?: Readonly<Record<string, string>>;
}

/**
 * A running backend container (`role=apps`) exposing port 80, published on
 * 0.0.0.0:<hostPort derived from the name>, attached to the bridge network.
 */
export function container(spec: ContainerSpec): ContainerInfo {
  const { extraLabels, ...rest } = spec;
  const hostPort = 30000 + (parseInt(idFor(spec.name).slice(0, 4), 16) % 10000);
  return {
    id: idFor(spec.name),
    created: 1_700_000_000,
    running: true,
    startedAt: 0,
    labels: { role: 'apps', ...extraLabels },
    health: 'none',
    exposedTcpPorts: [80],
    bindings: [binding(80, hostPort)],
    networks: [{ network: 'bridge', ip: '172.17.0.2' }],
    ...rest,
  };
}

/** The health check of a service whose containers carry no check labels. */
export const DEFAULT_CHECK: Service['check'] = { enabled: true, path: null, interval: '2s', rise: 2, fall: 5 };

/** A server of the model: container `name` (id `id-<name>`), default weight, no maxconn. */
export const server = (name: string, address = '10.0.0.1', port = 80, over: Partial<Server> = {}): Server => ({
  name,
  containerId: `id-${name}`,
  containerName: name,
  address,
  port,
  weight: 100,
  maxconn: null,
  role: 'active',
  standby: false,
  ...over,
});

/** A service without vipkeeper.tls* labels. */
export const NO_TLS_LABELS: TlsLabels = { enabled: null, redirect: false, hsts: null };

/** A service without client labels: no PROXY protocol, X-Forwarded-* headers on (HTTP), every client, no limit. */
export const DEFAULT_CLIENT_LABELS: ClientLabels = { proxyProtocol: null, forwarded: true, allow: null, rateLimit: null };

/** The service the model makes of containers without service labels (`apps`, HTTP on port 80), holding `servers`. */
export const service = (servers: readonly Server[], over: Partial<Omit<Service, 'servers'>> = {}): Service => ({
  name: 'apps',
  mode: 'http',
  frontendPort: 80,
  bind: null,
  hosts: [],
  path: null,
  balance: 'roundrobin',
  memberClass: 'multiple',
  check: DEFAULT_CHECK,
  tls: NO_TLS_LABELS,
  clients: DEFAULT_CLIENT_LABELS,
  servers,
  ...over,
});

/** Runs `fn`, expects it to throw a ConfigError and returns it. */
export function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError, but nothing was thrown');
}

/** A deterministic permutation (seeded Fisher-Yates), so "shuffled" tests never flake. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed >>> 0;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** The `node` block of a status snapshot: lb1 on eth0 holding one VIP, VRRP v2 priority 100 nopreempt. */
export const STATUS_NODE = {
  routerId: 'lb1',
  interface: 'eth0',
  vips: ['198.18.0.100/24'],
  frontendPort: 80,
  nodeRole: { required: null, present: true },
  vrrpSettings: { virtualRouterId: 51, priority: 100, nopreempt: true, advertInt: 1, version: 2 },
} as const satisfies import('../../src/status/snapshot.js').StatusSnapshot['node'];

/** Two VRRP instances, web (IPv4 and IPv6 VIPs) and api, as the vip-binding and combination tests set them. */
export const TWO_INSTANCES_ENV = {
  VIPKEEPER_VRRP_VERSION: '3',
  VIPKEEPER_INSTANCES: 'web,api',
  VIPKEEPER_INSTANCE_WEB_VIRTUAL_IPS: '198.18.0.10/24 2001:db8::10/64',
  VIPKEEPER_INSTANCE_WEB_VIRTUAL_ROUTER_ID: '61',
  VIPKEEPER_INSTANCE_API_VIRTUAL_IPS: '198.18.0.20/24',
  VIPKEEPER_INSTANCE_API_VIRTUAL_ROUTER_ID: '62',
} as const;
