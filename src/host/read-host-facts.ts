import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import { promisify } from 'node:util';
import type si from 'systeminformation';
import type { HostFacts, HostInterface, InterfaceAddress } from '../config/host-facts.js';
import { IPV4 } from '../config/patterns.js';

// The host edge: hostname, every interface with its IPv4 subnets, and the
// default route's interface. Each fact takes one call, however many interfaces
// the host has: a Docker host gains a veth per container, and asking about each
// one (systeminformation's networkInterfaces() runs commands per interface) took
// 9.6 s with 317 interfaces and 41 s with 1,029.

/** Where each fact comes from; tests pass their own. */
export interface HostReaders {
  /** The host name. */
  hostname(): string;
  /** Addresses of the interfaces that are up and have any (one getifaddrs call): os.networkInterfaces(). */
  networkInterfaces(): NodeJS.Dict<os.NetworkInterfaceInfo[]>;
  /** Reads /proc/self/net/dev: every interface of our network namespace, up or down, with or without an address. */
  readFile(path: string): Promise<string>;
  /** Interface of the default route, '' for none. */
  defaultInterface(): Promise<string>;
  /** Whether we run in the host's initial network namespace. */
  initialNetns(): Promise<boolean>;
}

// /proc/self/net, not /sys/class/net: sysfs lists the interfaces of the namespace it was
// mounted in, so a process moved into another namespace (nsenter --net, as the lab does)
// would see the host's; /proc/self/net always shows our own.
const NET_DEV = '/proc/self/net/dev';

const execFileP = promisify(execFile);

/** The part of systeminformation the agent uses: the default route's interface. */
type SiNetwork = Pick<typeof si, 'networkInterfaceDefault'>;

// systeminformation's main file loads every one of its modules at once (cpu, disks,
// wifi, docker, printers...: about 0.9 MB of source text kept in the heap, and their
// code); the one fact taken from it is in its network module, loaded alone and only
// when asked. The package has no "exports" map, so its files are its public layout;
// test/unit/host-facts.test.ts checks this file still gives that fact.
export const SI_NETWORK_MODULE = 'systeminformation/lib/network.js';
let siNetwork: SiNetwork | null = null;
const loadSiNetwork = (): SiNetwork => (siNetwork ??= createRequire(import.meta.url)(SI_NETWORK_MODULE) as SiNetwork);

async function inInitialNetns(): Promise<boolean> {
  try {
    const [self, init] = await Promise.all([stat('/proc/self/ns/net'), stat('/proc/1/ns/net')]);
    return self.ino === init.ino;
  } catch {
    // PID 1's namespace may be hidden from us (a sandbox); a named namespace (ip netns) is not the initial one.
    try {
      const { stdout } = await execFileP('ip', ['netns', 'identify', String(process.pid)]);
      return stdout.trim() === '';
    } catch {
      return true;
    }
  }
}

const DEFAULT_READERS: HostReaders = {
  hostname: () => os.hostname(),
  networkInterfaces: () => os.networkInterfaces(),
  readFile: (path) => readFile(path, 'utf8'),
  // One `ip route` whatever the interface count (it never asks per interface).
  defaultInterface: () => loadSiNetwork().networkInterfaceDefault().catch(() => ''),
  initialNetns: inInitialNetns,
};

export async function readHostFacts(readers: Partial<HostReaders> = {}): Promise<HostFacts> {
  const r: HostReaders = { ...DEFAULT_READERS, ...readers };
  const [names, defaultInterface, initialNetns] = await Promise.all([
    r.readFile(NET_DEV).then(interfaceNames, () => null),
    r.defaultInterface().catch(() => ''),
    r.initialNetns(),
  ]);
  const addresses = ipv4Addresses(r.networkInterfaces());
  // Without the kernel's list, the interfaces we know of: those with addresses, and the default one.
  const all = names ?? [...new Set([...addresses.keys(), ...(defaultInterface ? [defaultInterface] : [])])];
  const interfaces: HostInterface[] = all.map((name) => ({ name, addresses: addresses.get(name) ?? [] }));
  return { hostname: r.hostname(), interfaces, defaultInterface: defaultInterface || null, initialNetns };
}

/** Interface names from /proc/net/dev: two header lines, then `name: counters...` per interface. */
export function interfaceNames(netDev: string): string[] {
  const names: string[] = [];
  for (const line of netDev.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    const name = colon < 0 ? '' : line.slice(0, colon).trim();
    if (name !== '' && !names.includes(name)) names.push(name);
  }
  return names;
}

/** IPv4 addresses per interface; an address label (`eth0:1`) counts for its interface. */
export function ipv4Addresses(info: NodeJS.Dict<os.NetworkInterfaceInfo[]>): Map<string, InterfaceAddress[]> {
  const out = new Map<string, InterfaceAddress[]>();
  for (const [label, list] of Object.entries(info)) {
    const name = label.split(':')[0]!;
    for (const a of list ?? []) {
      // Node 18.0-18.3 said 4 instead of 'IPv4'.
      if ((a.family !== 'IPv4' && (a.family as unknown) !== 4) || !IPV4.test(a.address)) continue;
      const fromCidr = a.cidr ? Number(a.cidr.slice(a.cidr.indexOf('/') + 1)) : NaN;
      const prefix = Number.isInteger(fromCidr) && fromCidr >= 0 && fromCidr <= 32 ? fromCidr : maskToPrefix(a.netmask);
      const known = out.get(name) ?? [];
      if (!known.some((k) => k.address === a.address)) known.push({ address: a.address, prefix });
      out.set(name, known);
    }
  }
  return out;
}

function maskToPrefix(mask: string): number {
  if (!IPV4.test(mask)) return 32;
  return mask
    .split('.')
    .map((o) => Number(o).toString(2).replace(/0/g, '').length)
    .reduce((a, b) => a + b, 0);
}
