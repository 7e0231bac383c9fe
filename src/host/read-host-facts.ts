import si from 'systeminformation';
import type { HostFacts } from '../config/host-facts.js';
import { IPV4 } from '../config/patterns.js';

// The host edge: hostname, interfaces with their IPv4 subnets, and the
// default route's interface, as systeminformation reads them.

function maskToPrefix(mask: string): number {
  if (!IPV4.test(mask)) return 32;
  return mask
    .split('.')
    .map((o) => Number(o).toString(2).replace(/0/g, '').length)
    .reduce((a, b) => a + b, 0);
}

export async function readHostFacts(): Promise<HostFacts> {
  const [os, interfaces, defaultInterface] = await Promise.all([
    si.osInfo(),
    si.networkInterfaces(),
    si.networkInterfaceDefault().catch(() => ''),
  ]);
  const list = Array.isArray(interfaces) ? interfaces : [interfaces];
  return {
    hostname: os.hostname,
    interfaces: list.map((i) => ({
      name: i.iface,
      addresses: IPV4.test(i.ip4) ? [{ address: i.ip4, prefix: maskToPrefix(i.ip4subnet) }] : [],
    })),
    defaultInterface: defaultInterface || null,
  };
}
