import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Cidr } from '../config/env-schema.js';

// VIPs on the interface, through iproute2. keepalived adds and removes them;
// we only look, and clean up what a crashed keepalived left behind.

const execFileP = promisify(execFile);

export async function addressesOn(iface: string): Promise<string[]> {
  try {
    // Both families: an instance's IPv6 VIPs (virtual_ipaddress_excluded) move with its IPv4 ones.
    // iproute2 prints IPv6 in RFC 5952 form, as the config spells VIPs (canonicalIpv6).
    const { stdout } = await execFileP('ip', ['-j', 'addr', 'show', 'dev', iface]);
    const parsed = JSON.parse(stdout) as { addr_info?: { local: string; prefixlen: number }[] }[];
    return parsed.flatMap((l) => (l.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`));
  } catch {
    return [];
  }
}

/** Which of the VIPs are on the interface right now. */
export async function vipsPresent(iface: string, vips: readonly Cidr[]): Promise<Cidr[]> {
  const present = new Set((await addressesOn(iface)).map((a) => a.split('/')[0]));
  return vips.filter((v) => present.has(v.address));
}

/** Removes the VIPs from the interface; those not there are ignored. Returns what was removed. */
export async function removeVips(iface: string, vips: readonly Cidr[]): Promise<Cidr[]> {
  const present = await vipsPresent(iface, vips);
  for (const v of present) {
    await execFileP('ip', ['addr', 'del', `${v.address}/${v.prefix}`, 'dev', iface]).catch(() => undefined);
  }
  return present;
}
