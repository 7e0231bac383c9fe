import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runtimeCommand } from '../../src/haproxy/runtime-api.js';
import { removeTestContainers, runApp, sh, waitFor } from './support/lab.js';
import { type LbNode, NetnsLab } from './support/netns-lab.js';

// vipkeeper.sticky across a VIP failover: two load-balancer hosts in network
// namespaces (real keepalived, haproxy, dockerd), their haproxies joined as
// `peers` (VIPKEEPER_PEERS). Clients with their own source addresses (on the
// lab bridge) and clients with a cookie stick to a container through lb1;
// then lb1 stops, lb2 takes the VIP, and the share of clients that still reach
// the same container is measured. Also: adding a container to a cookie
// service does not move a cookie client.

const lab = new NetnsLab(2, 'vkst', { net: '198.19.5', bridge: 'vkstbr0' });
const [lb1, lb2] = lab.nodes as [LbNode, LbNode];
const SOURCE_PORT = 8081;
const COOKIE_PORT = 8082;
const SOURCE_CLIENTS = 24;
const COOKIE_CLIENTS = 24;
/** Client source addresses, on the bridge in the root namespace: 198.19.5.200 and up. */
const sources = Array.from({ length: SOURCE_CLIENTS }, (_, i) => `198.19.5.${200 + i}`);
const peersEnv = { VIPKEEPER_PEERS: `${lb1.address},${lb2.address}`, VIPKEEPER_PEERS_PORT: '10000', VIPKEEPER_NODE_ROLE: '' };

/** One GET to the VIP on a fresh connection, from `localAddress`, with a cookie. */
function viaVip(port: number, o: { localAddress?: string; cookie?: string } = {}): Promise<{ status: number; body: string; setCookie: string | null }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: lab.vip, port, path: '/', localAddress: o.localAddress, headers: o.cookie ? { cookie: o.cookie } : {}, agent: false, timeout: 3000 },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim(), setCookie: res.headers['set-cookie']?.[0]?.split(';')[0] ?? null }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.end();
  });
}

const entries = async (n: LbNode, backend: string) =>
  (await runtimeCommand(n.agent!.adminSocket, `show table ${backend}`).catch(() => '')).split('\n').filter((l) => l.includes(' key=')).length;

describe('sticky sessions across a VIP failover', () => {
  const sourceClients: { address: string; server: string }[] = [];
  const cookieClients: { cookie: string; server: string }[] = [];

  beforeAll(async () => {
    await removeTestContainers();
    await lab.up();
    for (const a of sources) await sh('ip', ['addr', 'add', `${a}/24`, 'dev', lab.bridge]);
    for (const i of [1, 2, 3]) {
      await runApp({ name: `vkt-st-src${i}`, labels: { role: 'apps', 'vipkeeper.service': 'stsrc', 'vipkeeper.frontend.port': String(SOURCE_PORT), 'vipkeeper.sticky': 'source' }, publish: ['80'] });
    }
    for (const i of [1, 2]) {
      await runApp({ name: `vkt-st-ck${i}`, labels: { role: 'apps', 'vipkeeper.service': 'stck', 'vipkeeper.frontend.port': String(COOKIE_PORT), 'vipkeeper.sticky': 'cookie' }, publish: ['80'] });
    }
    lab.startAgent(lb1, { VIPKEEPER_PRIORITY: '150', ...peersEnv });
    await lab.waitHolder(lb1.name, 30_000);
    lab.startAgent(lb2, { VIPKEEPER_PRIORITY: '100', ...peersEnv });
    await lb2.agent!.waitLog('lb2 BACKUP', (l) => l.msg === 'VRRP vipkeeper_51 is now BACKUP');
  }, 120_000);

  afterAll(async () => {
    await lab.down();
    await removeTestContainers();
  });

  it('a client keeps its container through lb1, by source address and by cookie', async () => {
    await waitFor('three source-sticky servers up', async () => (await viaVip(SOURCE_PORT).catch(() => null))?.status === 200, 30_000);
    await waitFor('the cookie service', async () => (await viaVip(COOKIE_PORT).catch(() => null))?.status === 200, 30_000);
    for (const address of sources) {
      const first = await viaVip(SOURCE_PORT, { localAddress: address });
      expect(first.status).toBe(200);
      sourceClients.push({ address, server: first.body });
    }
    for (let i = 0; i < COOKIE_CLIENTS; i++) {
      const first = await viaVip(COOKIE_PORT);
      expect(first.setCookie).toMatch(/^vk_stck=[0-9a-f-]{36}$/);
      cookieClients.push({ cookie: first.setCookie!, server: first.body });
    }
    // Balanced first, then stuck: several containers in use, and every client again on its own.
    expect(new Set(sourceClients.map((c) => c.server)).size).toBeGreaterThan(1);
    expect(new Set(cookieClients.map((c) => c.server)).size).toBe(2);
    for (const c of sourceClients) expect((await viaVip(SOURCE_PORT, { localAddress: c.address })).body).toBe(c.server);
    for (const c of cookieClients) expect((await viaVip(COOKIE_PORT, { cookie: c.cookie })).body).toBe(c.server);
  });

  it('adding a container to the cookie service moves no cookie client; new clients reach it', async () => {
    const passesBefore = lb1.agent!.passes().length;
    await runApp({ name: 'vkt-st-ck3', labels: { role: 'apps', 'vipkeeper.service': 'stck', 'vipkeeper.frontend.port': String(COOKIE_PORT), 'vipkeeper.sticky': 'cookie' }, publish: ['80'] });
    await waitFor('a new client on the new container', async () => (await viaVip(COOKIE_PORT).catch(() => null))?.body === 'vkt-st-ck3', 30_000);
    // Added through the Runtime API: no reload.
    const since = lb1.agent!.passes().slice(passesBefore);
    expect(since.map((p) => p.applied)).toContain('runtime-api');
    expect(since.map((p) => p.applied)).not.toContain('reload');
    let moved = 0;
    for (const c of cookieClients) for (let i = 0; i < 2; i++) if ((await viaVip(COOKIE_PORT, { cookie: c.cookie })).body !== c.server) moved++;
    expect(moved).toBe(0);
  });

  it('after the VIP moves to lb2, sticky clients still reach their container', async () => {
    // lb2 learns every entry from lb1 through the peers connection.
    const t0 = Date.now();
    await waitFor('lb2 to hold every stick entry', async () => (await entries(lb2, 'be_stsrc')) >= SOURCE_CLIENTS && (await entries(lb2, 'be_stck')) >= COOKIE_CLIENTS, 20_000, 50);
    const replicatedMs = Date.now() - t0;

    await lb1.agent!.stop();
    await lab.waitHolder(lb2.name);
    await waitFor('an answer through the VIP from lb2', async () => (await viaVip(SOURCE_PORT, { localAddress: sources[0] }).catch(() => null))?.status === 200, 20_000);

    let sourceKept = 0;
    for (const c of sourceClients) if ((await viaVip(SOURCE_PORT, { localAddress: c.address })).body === c.server) sourceKept++;
    let cookieKept = 0;
    for (const c of cookieClients) if ((await viaVip(COOKIE_PORT, { cookie: c.cookie })).body === c.server) cookieKept++;
    const report = {
      sourceKept: `${sourceKept}/${sourceClients.length}`,
      cookieKept: `${cookieKept}/${cookieClients.length}`,
      // How long lb2 still lacked entries when checked (they are pushed as they are made).
      lb2HadEveryEntryAfterMs: replicatedMs,
    };
    console.log(`STICKY FAILOVER ${JSON.stringify(report)}`);
    expect(sourceKept).toBe(sourceClients.length);
    expect(cookieKept).toBe(cookieClients.length);
  });

  it('a reload of haproxy on lb2 (a new service) keeps the stick tables: the new process learns them from the old one', async () => {
    // A haproxy started cold waits up to 5 s (HAProxy's peers resync timeout, fixed in 2.6) for
    // an older process to teach it; until then it cannot teach a newer one: a reload within
    // those 5 s, with no other node up to teach the new process, starts from an empty table
    // (seen here: lb2 started 4.4 s before this reload, 8 of 48 kept). Known limit, in the README.
    await waitFor('lb2 haproxy past its own resync', async () => /resync_timeout=<PAST>/.test(await runtimeCommand(lb2.agent!.adminSocket, 'show peers')), 15_000, 100);
    const passesBefore = lb2.agent!.passes().length;
    await runApp({ name: 'vkt-st-other', labels: { role: 'apps', 'vipkeeper.service': 'stother', 'vipkeeper.frontend.port': '8083' }, publish: ['80'] });
    await waitFor('a reload on lb2', async () => lb2.agent!.passes().slice(passesBefore).some((p) => p.applied === 'reload'), 30_000);
    await waitFor('the new service through the VIP', async () => (await viaVip(8083).catch(() => null))?.status === 200, 30_000);
    // What the new process holds right after the reload, and how soon it holds it all.
    const t0 = Date.now();
    const counts: string[] = [];
    await waitFor('the new haproxy process on lb2 to hold every entry', async () => {
      const [src, ck] = [await entries(lb2, 'be_stsrc'), await entries(lb2, 'be_stck')];
      counts.push(`${Date.now() - t0}ms:${src}+${ck}`);
      return src >= SOURCE_CLIENTS && ck >= COOKIE_CLIENTS;
    }, 10_000, 50).catch(async (e: unknown) => {
      console.log(`STICKY RELOAD entries ${counts.join(' ')}\n${await runtimeCommand(lb2.agent!.adminSocket, 'show peers')}`);
      throw e;
    });
    console.log(`STICKY RELOAD entries ${counts.slice(0, 3).join(' ')} ... ${counts.at(-1)}`);
    let kept = 0;
    for (const c of sourceClients) if ((await viaVip(SOURCE_PORT, { localAddress: c.address })).body === c.server) kept++;
    for (const c of cookieClients) if ((await viaVip(COOKIE_PORT, { cookie: c.cookie })).body === c.server) kept++;
    console.log(`STICKY RELOAD ${JSON.stringify({ kept: `${kept}/${sourceClients.length + cookieClients.length}` })}`);
    expect(kept).toBe(sourceClients.length + cookieClients.length);
  });

  it('a node that comes back learns the tables from the other, and a host death (link cut) keeps sticky clients too', async () => {
    const back = lab.startAgent(lb1, { VIPKEEPER_PRIORITY: '150', ...peersEnv });
    await back.waitLog('lb1 back in VRRP', (l) => /VRRP vipkeeper_51 is now (BACKUP|MASTER)/.test(String(l.msg)), 30_000);
    await waitFor('lb1 to learn every entry from lb2', async () => (await entries(lb1, 'be_stsrc')) >= SOURCE_CLIENTS && (await entries(lb1, 'be_stck')) >= COOKIE_CLIENTS, 20_000, 100);
    const [holder] = await lab.holders();
    const dying = holder === lb1.name ? lb1 : lb2;
    const heir = dying === lb1 ? lb2 : lb1;
    await lab.link(dying, 'down');
    try {
      // The cut node may still hold it on its dead cable: only the heir counts.
      await waitFor(`${heir.name} to take the VIP`, async () => (await lab.holders()).includes(heir.name), 20_000, 50);
      await waitFor(`an answer through the VIP from ${heir.name}`, async () => (await viaVip(SOURCE_PORT, { localAddress: sources[0] }).catch(() => null))?.status === 200, 20_000);
      let kept = 0;
      for (const c of sourceClients) if ((await viaVip(SOURCE_PORT, { localAddress: c.address })).body === c.server) kept++;
      for (const c of cookieClients) if ((await viaVip(COOKIE_PORT, { cookie: c.cookie })).body === c.server) kept++;
      console.log(`STICKY HOST DEATH ${JSON.stringify({ from: dying.name, to: heir.name, kept: `${kept}/${sourceClients.length + cookieClients.length}` })}`);
      expect(kept).toBe(sourceClients.length + cookieClients.length);
    } finally {
      await lab.link(dying, 'up');
    }
  });
});
