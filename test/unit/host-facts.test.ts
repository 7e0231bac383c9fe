import { createRequire } from 'node:module';
import type { NetworkInterfaceInfo } from 'node:os';
import { describe, expect, it } from 'vitest';
import { type HostReaders, readHostFacts, SI_NETWORK_MODULE } from '../../src/host/read-host-facts.js';

// The host edge reads every fact with a fixed number of calls, however many
// interfaces the host has (each container adds a veth: hosts with 1,000 are real).

const v4 = (address: string, cidr: string | null, netmask = '255.255.255.0'): NetworkInterfaceInfo => ({
  address,
  netmask,
  family: 'IPv4',
  mac: '02:00:00:00:00:01',
  internal: address.startsWith('127.'),
  cidr,
});
const v6 = (address: string): NetworkInterfaceInfo => ({
  address,
  netmask: 'ffff:ffff:ffff:ffff::',
  family: 'IPv6',
  mac: '02:00:00:00:00:01',
  internal: false,
  cidr: `${address}/64`,
  scopeid: 0,
});

/** /proc/self/net/dev as the kernel prints it. */
const procNetDev = (names: readonly string[]) =>
  [
    'Inter-|   Receive                                                |  Transmit',
    ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
    ...names.map((n) => `${n.padStart(6)}:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0`),
    '',
  ].join('\n');

/** Fake readers that count their calls. */
function counted(names: readonly string[], addresses: NodeJS.Dict<NetworkInterfaceInfo[]>, defaultInterface = 'eth0') {
  const calls = { hostname: 0, networkInterfaces: 0, readFile: 0, defaultInterface: 0, initialNetns: 0 };
  const readers: HostReaders = {
    hostname: () => (calls.hostname++, 'lb1.example.net'),
    networkInterfaces: () => (calls.networkInterfaces++, addresses),
    readFile: async (path) => {
      calls.readFile++;
      if (path !== '/proc/self/net/dev') throw new Error(`unexpected read of ${path}`);
      return procNetDev(names);
    },
    defaultInterface: async () => (calls.defaultInterface++, defaultInterface),
    initialNetns: async () => (calls.initialNetns++, true),
  };
  return { readers, calls };
}

describe('readHostFacts: a constant number of calls, whatever the interface count', () => {
  it.each([10, 317, 1029])('%i interfaces: each reader is called once', async (count) => {
    const veths = Array.from({ length: count - 2 }, (_, i) => `veth${i.toString(16).padStart(7, '0')}`);
    const { readers, calls } = counted(['lo', 'eth0', ...veths], {
      lo: [v4('127.0.0.1', '127.0.0.1/8', '255.0.0.0')],
      eth0: [v4('198.18.0.5', '198.18.0.5/24')],
    });
    const facts = await readHostFacts(readers);
    expect(calls).toEqual({ hostname: 1, networkInterfaces: 1, readFile: 1, defaultInterface: 1, initialNetns: 1 });
    expect(facts.interfaces).toHaveLength(count);
    expect(facts.interfaces.slice(0, 2)).toEqual([
      { name: 'lo', addresses: [{ address: '127.0.0.1', prefix: 8 }] },
      { name: 'eth0', addresses: [{ address: '198.18.0.5', prefix: 24 }] },
    ]);
  });
});

describe('readHostFacts: what it reads', () => {
  it('every interface of the namespace, also one that is down or has no address; IPv4 addresses only', async () => {
    const { readers } = counted(['lo', 'eth0', 'bond0', 'bond0.100', 'docker0'], {
      lo: [v4('127.0.0.1', '127.0.0.1/8', '255.0.0.0'), v6('::1')],
      eth0: [v4('192.0.2.5', '192.0.2.5/24'), v4('198.18.0.10', '198.18.0.10/32', '255.255.255.255'), v6('fe80::1')],
      docker0: [v4('172.17.0.1', '172.17.0.1/16', '255.255.0.0')],
    });
    expect(await readHostFacts(readers)).toEqual({
      hostname: 'lb1.example.net',
      interfaces: [
        { name: 'lo', addresses: [{ address: '127.0.0.1', prefix: 8 }] },
        { name: 'eth0', addresses: [{ address: '192.0.2.5', prefix: 24 }, { address: '198.18.0.10', prefix: 32 }] },
        { name: 'bond0', addresses: [] },
        { name: 'bond0.100', addresses: [] },
        { name: 'docker0', addresses: [{ address: '172.17.0.1', prefix: 16 }] },
      ],
      defaultInterface: 'eth0',
      initialNetns: true,
    });
  });

  it.each<[string, NetworkInterfaceInfo, number]>([
    ['the prefix of the cidr', v4('10.1.2.3', '10.1.2.3/20', '255.255.255.0'), 20],
    ['no cidr: the netmask', v4('10.1.2.3', null, '255.255.252.0'), 22],
    ['no cidr and a bad netmask: a host address', v4('10.1.2.3', null, 'junk'), 32],
  ])('prefix from %s', async (_what, info, prefix) => {
    const { readers } = counted(['eth0'], { eth0: [info] });
    expect((await readHostFacts(readers)).interfaces).toEqual([{ name: 'eth0', addresses: [{ address: '10.1.2.3', prefix }] }]);
  });

  it('an address with a label (eth0:1) belongs to its interface', async () => {
    const { readers } = counted(['eth0'], { eth0: [v4('192.0.2.5', '192.0.2.5/24')], 'eth0:1': [v4('192.0.2.6', '192.0.2.6/24')] });
    expect((await readHostFacts(readers)).interfaces).toEqual([
      { name: 'eth0', addresses: [{ address: '192.0.2.5', prefix: 24 }, { address: '192.0.2.6', prefix: 24 }] },
    ]);
  });

  it('/proc/self/net/dev cannot be read: the interfaces with addresses, and the default one', async () => {
    const { readers } = counted([], { lo: [v4('127.0.0.1', '127.0.0.1/8', '255.0.0.0')], eth0: [v4('192.0.2.5', '192.0.2.5/24')] }, 'eth1');
    const facts = await readHostFacts({ ...readers, readFile: async () => Promise.reject(new Error('EACCES')) });
    expect(facts.interfaces.map((i) => i.name)).toEqual(['lo', 'eth0', 'eth1']);
  });

  it('no default route: null', async () => {
    const { readers } = counted(['lo'], {}, '');
    expect((await readHostFacts(readers)).defaultInterface).toBeNull();
  });
});

describe('readHostFacts: the real host', () => {
  it('reads this host: the loopback is there, with 127.0.0.1/8', async () => {
    const facts = await readHostFacts();
    expect(facts.hostname.length).toBeGreaterThan(0);
    expect(facts.interfaces.find((i) => i.name === 'lo')).toEqual({ name: 'lo', addresses: [{ address: '127.0.0.1', prefix: 8 }] });
  });

  it("the default route's interface comes from systeminformation's network module alone, as the whole package gives it", async () => {
    const require = createRequire(import.meta.url);
    const facts = await readHostFacts();
    expect(require.cache[require.resolve(SI_NETWORK_MODULE)], 'its network module was loaded').toBeDefined();
    expect(require.cache[require.resolve('systeminformation')], 'its main file (every module) was not').toBeUndefined();
    const whole = (require('systeminformation') as typeof import('systeminformation')).networkInterfaceDefault();
    expect(facts.defaultInterface).toBe((await whole) || null);
  });
});
