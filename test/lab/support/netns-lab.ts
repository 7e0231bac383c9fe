import { AgentUnderTest } from './agent.js';
import { CLI } from './cli.js';
import { sh, waitFor } from './lab.js';

// Several load-balancer "hosts" on one machine: a network namespace each, on
// one Linux bridge, every one running its own vipkeeper (with its own haproxy
// and keepalived) in front of app containers on the real dockerd. Addresses
// are in 198.19.0.0/24 (reserved for testing) and no packet leaves the bridge.

export const LAB_NET = '198.19.0';
export const LAB_VIP = `${LAB_NET}.100`;
export const LAB_BRIDGE = 'vkbr0';
/** The bridge's own address: published ports of the root engine answer here. */
export const LAB_HOST_ADDRESS = `${LAB_NET}.1`;

export interface LbNode {
  readonly name: string;
  readonly ns: string;
  readonly address: string;
  readonly hostLink: string;
  agent: AgentUnderTest | null;
}

/** Where a lab lives; the demo uses its own, so it never meets the tests' lab. */
export interface LabNetwork {
  /** The first three octets of a /24. */
  readonly net: string;
  readonly bridge: string;
}

/**
 * A new namespace `ns` as a host on `bridge`: a veth pair whose namespace end is its eth0
 * with `address`/24, and whose other end (`hostLink`, the host's cable) is on the bridge.
 */
export async function plugHost(h: { readonly ns: string; readonly hostLink: string; readonly address: string }, bridge: string): Promise<void> {
  await sh('ip', ['netns', 'add', h.ns]);
  await sh('ip', ['link', 'add', h.hostLink, 'type', 'veth', 'peer', 'name', `${h.hostLink}n`]);
  await sh('ip', ['link', 'set', `${h.hostLink}n`, 'netns', h.ns]);
  await sh('ip', ['-n', h.ns, 'link', 'set', `${h.hostLink}n`, 'name', 'eth0']);
  await sh('ip', ['-n', h.ns, 'addr', 'add', `${h.address}/24`, 'dev', 'eth0']);
  await sh('ip', ['-n', h.ns, 'link', 'set', 'eth0', 'up']);
  await sh('ip', ['-n', h.ns, 'link', 'set', 'lo', 'up']);
  await sh('ip', ['link', 'set', h.hostLink, 'master', bridge]);
  await sh('ip', ['link', 'set', h.hostLink, 'up']);
}

export class NetnsLab {
  readonly nodes: LbNode[];
  readonly bridge: string;
  readonly vip: string;
  /** The bridge's own address: published ports of the root engine answer here. */
  readonly hostAddress: string;
  #forwardRule: string[];

  constructor(count: number, readonly prefix = 'vklb', network: LabNetwork = { net: LAB_NET, bridge: LAB_BRIDGE }) {
    this.bridge = network.bridge;
    this.vip = `${network.net}.100`;
    this.hostAddress = `${network.net}.1`;
    this.#forwardRule = ['FORWARD', '-i', this.bridge, '-o', this.bridge, '-j', 'ACCEPT'];
    this.nodes = Array.from({ length: count }, (_, i) => ({
      name: `${prefix}${i + 1}`,
      ns: `${prefix}${i + 1}`,
      address: `${network.net}.${11 + i}`,
      hostLink: `${prefix}${i + 1}h`,
      agent: null,
    }));
  }

  async up(): Promise<void> {
    await this.down();
    await sh('ip', ['link', 'add', this.bridge, 'type', 'bridge']);
    await sh('ip', ['addr', 'add', `${this.hostAddress}/24`, 'dev', this.bridge]);
    await sh('ip', ['link', 'set', this.bridge, 'up']);
    // Once dockerd runs, bridged frames pass iptables and Docker's FORWARD policy is DROP:
    // without this rule VRRP adverts between the namespaces vanish and every node is MASTER.
    await sh('iptables', ['-I', ...this.#forwardRule]);
    for (const n of this.nodes) await plugHost(n, this.bridge);
  }

  /** Removes everything the lab made; safe to call when nothing is there. */
  async down(): Promise<void> {
    // The agents stop side by side (about a second each), then their namespaces go.
    await Promise.all(this.nodes.map((n) => n.agent?.stop().catch(() => undefined)));
    for (const n of this.nodes) {
      n.agent = null;
      await sh('ip', ['netns', 'del', n.ns], { allowFail: true });
      await sh('ip', ['link', 'del', n.hostLink], { allowFail: true });
    }
    await sh('ip', ['link', 'del', this.bridge], { allowFail: true });
    while ((await sh('iptables', ['-D', ...this.#forwardRule], { allowFail: true })).code === 0) {
      /* remove every copy */
    }
  }

  /** Starts vipkeeper inside the node's namespace. */
  startAgent(n: LbNode, env: Record<string, string> = {}, previous?: AgentUnderTest): AgentUnderTest {
    const agent = new AgentUnderTest(
      {
        VIPKEEPER_INTERFACE: 'eth0',
        VIPKEEPER_VIRTUAL_IPS: `${this.vip}/24`,
        VIPKEEPER_PUBLISHED_HOST: this.hostAddress,
        VIPKEEPER_ROUTER_ID: n.name,
        VIPKEEPER_VIRTUAL_ROUTER_ID: '51',
        VIPKEEPER_LOG_LEVEL: 'info',
        ...env,
      },
      ['nsenter', `--net=/var/run/netns/${n.ns}`, process.execPath, CLI, 'run'],
      previous,
    );
    agent.start();
    n.agent = agent;
    return agent;
  }

  /** Runs a command inside the node's namespace. */
  exec(n: LbNode, cmd: string, args: readonly string[], allowFail = false) {
    return sh('nsenter', [`--net=/var/run/netns/${n.ns}`, cmd, ...args], { allowFail });
  }

  /** Nodes whose eth0 holds `address` (the lab's VIP by default; IPv4 or IPv6) right now. */
  async holders(address: string = this.vip): Promise<string[]> {
    const family = address.includes(':') ? '-6' : '-4';
    const held = await Promise.all(
      this.nodes.map(async (n) => ((await sh('ip', ['-n', n.ns, family, 'addr', 'show', 'dev', 'eth0'], { allowFail: true })).stdout.includes(`${address}/`) ? n.name : null)),
    );
    return held.filter((h): h is string => h !== null);
  }

  async waitHolder(name: string, timeoutMs = 20_000): Promise<void> {
    await this.waitHeld(this.vip, name, timeoutMs);
  }

  /** Waits until `address` is on the named node alone. */
  async waitHeld(address: string, name: string, timeoutMs = 20_000): Promise<void> {
    let seen: string[] = [];
    await waitFor(`${address} on ${name} alone (seen on [${seen.join(',')}])`, async () => {
      seen = await this.holders(address);
      return seen.length === 1 && seen[0] === name;
    }, timeoutMs, 50);
  }

  /** Cuts or restores the node's cable (the bridge side of its veth). */
  async link(n: LbNode, state: 'up' | 'down'): Promise<void> {
    await sh('ip', ['link', 'set', n.hostLink, state]);
  }
}

/**
 * Samples the VIP's holders on a fixed cadence for as long as it runs. Nodes
 * whose link is cut are left out (a node alone on a dead cable may hold the VIP
 * harmlessly: nobody can reach it).
 */
export class HolderSampler {
  readonly samples: { at: number; holders: string[] }[] = [];
  readonly isolated = new Set<string>();
  #timer: NodeJS.Timeout | null = null;
  #busy = false;

  constructor(private readonly lab: NetnsLab, private readonly everyMs = 100) {}

  start(): void {
    this.#timer = setInterval(() => {
      if (this.#busy) return;
      this.#busy = true;
      void this.lab
        .holders()
        .then((h) => this.samples.push({ at: Date.now(), holders: h.filter((x) => !this.isolated.has(x)) }))
        .finally(() => (this.#busy = false));
    }, this.everyMs);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }

  /** Samples with two or more holders: a split brain. */
  splitBrain(): { at: number; holders: string[] }[] {
    return this.samples.filter((s) => s.holders.length > 1);
  }

  /** The longest run of samples with no holder at all, in ms. */
  longestGapMs(): number {
    let longest = 0;
    let gapStart: number | null = null;
    for (const s of this.samples) {
      if (s.holders.length === 0) gapStart ??= s.at;
      else if (gapStart !== null) {
        longest = Math.max(longest, s.at - gapStart);
        gapStart = null;
      }
    }
    return longest;
  }
}
