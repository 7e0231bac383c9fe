import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { promisify } from 'node:util';
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

const execFileP = promisify(execFile);

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

export async function readHostFacts(): Promise<HostFacts> {
  const [os, interfaces, defaultInterface, initialNetns] = await Promise.all([
    si.osInfo(),
    si.networkInterfaces(),
    si.networkInterfaceDefault().catch(() => ''),
    inInitialNetns(),
  ]);
  const list = Array.isArray(interfaces) ? interfaces : [interfaces];
  return {
    hostname: os.hostname,
    interfaces: list.map((i) => ({
      name: i.iface,
      addresses: IPV4.test(i.ip4) ? [{ address: i.ip4, prefix: maskToPrefix(i.ip4subnet) }] : [],
    })),
    defaultInterface: defaultInterface || null,
    initialNetns,
  };
}
