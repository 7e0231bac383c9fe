import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ejs from 'ejs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { peersOf } from '../../src/config/env.js';
import { directRuntimeApi, runtimeCommand } from '../../src/haproxy/runtime-api.js';
import { applyServerChanges } from '../../src/haproxy/runtime-apply.js';
import { diffServices } from '../../src/haproxy/server-changes.js';
import { parseLabels } from '../../src/labels/parse-labels.js';
import { createLogger } from '../../src/log.js';
import { buildDesiredState, type Service } from '../../src/model/desired-state.js';
import { haproxyView, stickRules } from '../../src/render/haproxy-view.js';
import { loadTemplates } from '../../src/render/load-templates.js';
import { container, FACTS, server, service, SETTINGS } from './fixtures.js';
import { freePort, haproxyInstalled, httpBackend, modelServer, type RealHaproxy, startHaproxy } from './real-haproxy.js';

// vipkeeper.sticky: labels -> desired state -> view, table by table, then the
// shipped template on the real haproxy 2.6 with a server added at run time.

const DEFAULTS = { service: 'apps', frontendPort: 80 };

describe('vipkeeper.sticky labels', () => {
  it.each([
    [{ 'vipkeeper.sticky': 'cookie' }, 'cookie'],
    [{ 'vipkeeper.sticky': 'source' }, 'source'],
    [{ 'vipkeeper.sticky': 'source', 'vipkeeper.mode': 'tcp', 'vipkeeper.frontend.port': '5432' }, 'source'],
    [{}, null],
  ])('%j -> %s', (labels, sticky) => {
    const r = parseLabels(labels, DEFAULTS);
    expect(r.ok && r.labels.service.sticky).toBe(sticky);
  });

  it.each([
    ['Cookie', 'cookie or source'],
    ['cookie ', 'cookie or source'],
    ['source\n    server evil 203.0.113.9:80', 'cookie or source'],
    ['cookie"; Domain=evil', 'cookie or source'],
    ['ip', 'cookie or source'],
    ['', 'cookie or source'],
    ['x'.repeat(300), 'cookie or source (and at most 256 characters)'],
  ])('refuses %j', (value, rule) => {
    const r = parseLabels({ 'vipkeeper.sticky': value }, DEFAULTS);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.problems).toEqual([expect.objectContaining({ label: 'vipkeeper.sticky', rule })]);
  });

  it('a cookie needs HTTP', () => {
    const r = parseLabels({ 'vipkeeper.sticky': 'cookie', 'vipkeeper.mode': 'tcp', 'vipkeeper.frontend.port': '5432' }, DEFAULTS);
    expect(!r.ok && r.problems).toEqual([{ label: 'vipkeeper.sticky', shownValue: '"cookie"', rule: 'only with vipkeeper.mode=http' }]);
  });
});

describe('vipkeeper.sticky in the desired state', () => {
  it('a hostile value skips that container with a reason naming it, the label and the rule; the others are served', () => {
    const state = buildDesiredState(
      [
        container({ name: 'web-1', extraLabels: { 'vipkeeper.sticky': 'cookie' } }),
        container({ name: 'evil', created: 1_700_000_001, extraLabels: { 'vipkeeper.sticky': 'cookie\n    server evil 203.0.113.9:80' } }),
      ],
      SETTINGS,
    );
    expect(state.services.map((s) => [s.name, s.sticky, s.servers.map((x) => x.name)])).toEqual([['apps', 'cookie', ['web-1']]]);
    expect(state.skipped).toEqual([
      expect.objectContaining({
        containerName: 'evil',
        reason: 'label vipkeeper.sticky="cookie\\n    server evil 203.0.113.9:80" breaks the rule: cookie or source',
      }),
    ]);
  });

  it('the oldest container decides; one that disagrees is skipped (it would change the whole backend)', () => {
    const state = buildDesiredState(
      [
        container({ name: 'web-1', extraLabels: { 'vipkeeper.sticky': 'source' } }),
        container({ name: 'web-2', created: 1_700_000_001, extraLabels: { 'vipkeeper.sticky': 'cookie' } }),
        container({ name: 'web-3', created: 1_700_000_002 }),
      ],
      SETTINGS,
    );
    expect(state.services[0]!.sticky).toBe('source');
    expect(state.services[0]!.servers.map((s) => s.name)).toEqual(['web-1']);
    expect(state.skipped.map((s) => [s.containerName, s.reason])).toEqual([
      ['web-2', 'its vipkeeper.sticky (cookie) disagrees with source set by web-1, the oldest container of service apps'],
      ['web-3', 'its vipkeeper.sticky ((unset)) disagrees with source set by web-1, the oldest container of service apps'],
    ]);
  });

  it('no sticky label: the service has no sticky field (other fixtures stay equal)', () => {
    const state = buildDesiredState([container({ name: 'web-1' })], SETTINGS);
    expect('sticky' in state.services[0]!).toBe(false);
  });

  it('turning stickiness on or off is a reload (a backend setting); adding a server to a sticky service is not', () => {
    const plain = service([server('web-1')]);
    const sticky = service([server('web-1')], { sticky: 'cookie' });
    expect(diffServices([plain], [sticky]).structural).toBe('service apps changed its settings');
    expect(diffServices([sticky], [{ ...sticky, sticky: 'source' }]).structural).toBe('service apps changed its settings');
    const grown = diffServices([sticky], [service([server('web-1'), server('web-2')], { sticky: 'cookie' })]);
    expect(grown.structural).toBeNull();
    expect(grown.add.map((a) => a.server.name)).toEqual(['web-2']);
  });
});

describe('vipkeeper.sticky in the HAProxy view', () => {
  it.each<[string, Partial<Service>, boolean, string[]]>([
    ['none', {}, false, []],
    ['source, IPv4', { sticky: 'source' }, false, ['stick-table type ip size 1m expire 30m peers vipkeeper srvkey name', 'stick on src']],
    ['source, IPv6 frontends', { sticky: 'source' }, true, ['stick-table type ipv6 size 1m expire 30m peers vipkeeper srvkey name', 'stick on src']],
    [
      'cookie',
      { sticky: 'cookie', name: 'shop' },
      false,
      [
        'stick-table type string len 36 size 1m expire 30m peers vipkeeper srvkey name',
        'http-request set-var(txn.vk_sticky) req.cook(vk_shop) if { req.cook(vk_shop) -m reg ^[0-9a-f-]{36}$ }',
        'http-request set-var(txn.vk_sticky_new) bool(true) unless { var(txn.vk_sticky) -m found }',
        'http-request set-var(txn.vk_sticky) uuid if { var(txn.vk_sticky_new) -m found }',
        'stick on var(txn.vk_sticky)',
        'http-response add-header Set-Cookie "vk_shop=%[var(txn.vk_sticky)]; Path=/; HttpOnly; SameSite=Lax" if { var(txn.vk_sticky_new) -m found } !{ ssl_fc }',
        'http-response add-header Set-Cookie "vk_shop=%[var(txn.vk_sticky)]; Path=/; HttpOnly; SameSite=Lax; Secure" if { var(txn.vk_sticky_new) -m found } { ssl_fc }',
      ],
    ],
  ])('%s', (_what, over, ipv6, lines) => {
    expect(stickRules(service([server('web-1')], over), ipv6)).toEqual(lines);
  });

  it('peers only while some service is sticky: every node by address, this one the local peer', () => {
    const peers = { port: 10_000, local: '198.18.0.11', addresses: ['198.18.0.11', '198.18.0.12'] };
    expect(haproxyView([service([])], { adminSocket: '/run/a.sock', peers }).peers).toBeNull();
    expect(haproxyView([service([]), service([], { name: 'db', sticky: 'source' })], { adminSocket: '/run/a.sock', peers }).peers).toEqual({
      name: 'vipkeeper',
      localPeer: '198.18.0.11',
      peers: [
        { name: '198.18.0.11', address: '198.18.0.11:10000' },
        { name: '198.18.0.12', address: '198.18.0.12:10000' },
      ],
    });
    // Without a peers setting: this node alone on loopback, so tables still survive reloads.
    expect(haproxyView([service([], { sticky: 'cookie' })], { adminSocket: '/run/a.sock' }).peers?.peers).toEqual([{ name: '127.0.0.1', address: '127.0.0.1:10000' }]);
  });
});

describe('VIPKEEPER_PEERS', () => {
  const own = new Set(['127.0.0.1', '198.18.0.5']);
  it.each<[string, string[] | undefined, string[], { local: string; addresses: string[] } | null, string | null]>([
    ['explicit, this host in it', ['198.18.0.6', '198.18.0.5'], [], { local: '198.18.0.5', addresses: ['198.18.0.5', '198.18.0.6'] }, null],
    ['derived from the unicast peers', undefined, ['198.18.0.5', '198.18.0.7'], { local: '198.18.0.5', addresses: ['198.18.0.5', '198.18.0.7'] }, null],
    ['neither: this node alone on loopback', undefined, [], { local: '127.0.0.1', addresses: ['127.0.0.1'] }, null],
    ['explicit without this host', ['198.18.0.6', '198.18.0.7'], [], null, 'none of these addresses is one of this host: list every load-balancer node, this one included'],
    ['explicit with two of this host', ['198.18.0.5', '127.0.0.1'], [], null, 'lists 127.0.0.1 and 198.18.0.5, which are all this host: list one address per node'],
  ])('%s', (_what, explicit, derived, expected, problem) => {
    const problems: string[] = [];
    const peers = peersOf(explicit, 10_000, own, derived, (m) => problems.push(m));
    if (expected) expect(peers).toEqual({ port: 10_000, ...expected });
    expect(problems).toEqual(problem ? [problem] : []);
  });

  it('a peers port equal to a frontend port is refused, naming the variable', async () => {
    const { parseEnvironment } = await import('../../src/config/env.js');
    expect(() => parseEnvironment({ VIPKEEPER_VIRTUAL_IPS: '198.18.0.10/24', VIPKEEPER_PEERS_PORT: '80' }, FACTS)).toThrow(/VIPKEEPER_PEERS_PORT/);
  });

  it('the default comes from the interface address and VIPKEEPER_UNICAST_PEERS', async () => {
    const { parseEnvironment } = await import('../../src/config/env.js');
    const env = { VIPKEEPER_VIRTUAL_IPS: '198.18.0.10/24', VIPKEEPER_UNICAST_PEERS: '198.18.0.5,198.18.0.6' };
    expect(parseEnvironment(env, FACTS).config.peers).toEqual({ port: 10_000, local: '198.18.0.5', addresses: ['198.18.0.5', '198.18.0.6'] });
  });
});

/** One GET through haproxy: the body and the Set-Cookie header, if any. */
function get(port: number, cookie?: string): Promise<{ body: string; setCookie: string | null }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers: cookie ? { cookie } : {}, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ body: body.trim(), setCookie: res.headers['set-cookie']?.[0] ?? null }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe.skipIf(!haproxyInstalled)('cookie stickiness on the real haproxy 2.6', () => {
  let haproxy: RealHaproxy;
  const backends: Awaited<ReturnType<typeof httpBackend>>[] = [];
  let frontendPort: number;
  let before: Service;

  beforeAll(async () => {
    for (const name of ['web-1', 'web-2', 'web-3']) backends.push(await httpBackend(name));
    frontendPort = await freePort();
    const peersPort = await freePort();
    before = service([modelServer('web-1', backends[0]!.port), modelServer('web-2', backends[1]!.port)], { frontendPort, sticky: 'cookie' });
    const templates = await loadTemplates(null);
    haproxy = await startHaproxy((adminSocket) =>
      ejs.render(
        templates['haproxy.cfg.ejs'].text,
        haproxyView([before], { adminSocket, peers: { port: peersPort, local: '127.0.0.1', addresses: ['127.0.0.1'] } }) as unknown as ejs.Data,
      ),
    );
  }, 30_000);

  afterAll(async () => {
    await haproxy?.stop();
    for (const b of backends) await b.close();
  });

  it('hands out a cookie once, keeps each client on its server, also after a server is added at run time', async () => {
    const clients: { cookie: string; server: string }[] = [];
    for (let i = 0; i < 8; i++) {
      const first = await get(frontendPort);
      expect(first.setCookie).toMatch(/^vk_apps=[0-9a-f-]{36}; Path=\/; HttpOnly; SameSite=Lax$/);
      const cookie = first.setCookie!.split(';')[0]!;
      clients.push({ cookie, server: first.body });
      const again = await get(frontendPort, cookie);
      expect(again).toEqual({ body: first.body, setCookie: null });
    }
    // Round robin spread them over both servers.
    expect(new Set(clients.map((c) => c.server))).toEqual(new Set(['web-1', 'web-2']));

    const after = service([...before.servers, modelServer('web-3', backends[2]!.port)], { frontendPort, sticky: 'cookie' });
    const changes = diffServices([before], [after]);
    expect(changes.structural).toBeNull();
    await applyServerChanges(directRuntimeApi(haproxy.adminSocket), changes, createLogger('silent'));

    let moved = 0;
    for (const c of clients) for (let i = 0; i < 3; i++) if ((await get(frontendPort, c.cookie)).body !== c.server) moved++;
    expect(moved).toBe(0);
    // New clients do reach the new server.
    const fresh = await Promise.all(Array.from({ length: 6 }, () => get(frontendPort)));
    expect(fresh.map((f) => f.body)).toContain('web-3');
    // A forged or malformed cookie is not trusted as a key: it gets a token of ours.
    expect((await get(frontendPort, 'vk_apps=../../etc')).setCookie).toMatch(/^vk_apps=[0-9a-f-]{36};/);
    // The table names servers, not ids.
    expect(await runtimeCommand(haproxy.adminSocket, 'show table be_apps')).toMatch(/server_key=web-[12]/);
  });
});

describe.skipIf(!haproxyInstalled)('haproxy -c accepts every sticky shape', () => {
  it.each([false, true])('cookie and source services, peers of two nodes, IPv6 frontends: %s', async (ipv6) => {
    const dir = mkdtempSync(join(tmpdir(), 'vk-sticky-'));
    try {
      const services = [
        service([server('web-1'), server('web-2')], { name: 'web', sticky: 'cookie', frontendPort: 8080 }),
        service([server('db-1')], { name: 'db', mode: 'tcp', sticky: 'source', frontendPort: 5432 }),
      ];
      const view = haproxyView(services, { adminSocket: join(dir, 'a.sock'), ipv6, peers: { port: 10_000, local: '198.18.0.11', addresses: ['198.18.0.11', '198.18.0.12'] } });
      const templates = await loadTemplates(null);
      writeFileSync(join(dir, 'haproxy.cfg'), ejs.render(templates['haproxy.cfg.ejs'].text, view as unknown as ejs.Data));
      const r = spawnSync('haproxy', ['-c', '-f', join(dir, 'haproxy.cfg')], { encoding: 'utf8' });
      expect(r.status, r.stderr + r.stdout).toBe(0);
      expect(r.stderr + r.stdout).not.toMatch(/ALERT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

