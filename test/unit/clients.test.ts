import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ejs from 'ejs';
import { describe, expect, it } from 'vitest';
import { parseEnvironment } from '../../src/config/env.js';
import { clientCidr } from '../../src/config/patterns.js';
import { diffServices } from '../../src/haproxy/server-changes.js';
import { type ClientLabels, parseLabels } from '../../src/labels/parse-labels.js';
import { buildDesiredState } from '../../src/model/desired-state.js';
import { clientRules, haproxyView, serverOptions } from '../../src/render/haproxy-view.js';
import { loadTemplates } from '../../src/render/load-templates.js';
import { renderConfigs } from '../../src/render/render-configs.js';
import { makeSelfSigned } from '../../src/tls/tls-files.js';
import { showTable } from '../../src/operate/format.js';
import { inventoryAccess } from '../../src/operate/inventory.js';
import { binding, container, DEFAULT_CLIENT_LABELS, FACTS, MINIMAL_ENV, server, service } from './fixtures.js';
import { freePort, haproxyInstalled, startHaproxy } from './real-haproxy.js';

// Issue 17, client address and access: vipkeeper.proxy-protocol, vipkeeper.forwarded,
// vipkeeper.allow, vipkeeper.rate-limit and VIPKEEPER_ACCEPT_PROXY, from label text to
// haproxy.cfg lines the real haproxy accepts.

const DEFAULTS = { service: 'apps', frontendPort: 80 };
const clients = (over: Partial<ClientLabels>): ClientLabels => ({ ...DEFAULT_CLIENT_LABELS, ...over });
const PATHS = { adminSocket: '/run/vipkeeper/haproxy.sock' };

describe('clientCidr: an address or CIDR block, parsed, in one spelling', () => {
  it.each([
    ['198.18.0.0/15', '198.18.0.0/15'],
    ['198.18.0.7', '198.18.0.7/32'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['255.255.255.255/32', '255.255.255.255/32'],
    ['2001:db8::/32', '2001:db8::/32'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1/128'],
    ['::/0', '::/0'],
    ['::1', '::1/128'],
  ])('%s -> %s', (text, canonical) => expect(clientCidr(text)).toBe(canonical));

  it.each([
    '', '/8', '198.18.0.0/', '198.18.0.0/33', '198.18.0.0/-1', '198.18.0.0/1 5', '198.18.0.0/15/1', '198.18.0.0/0x8',
    '256.0.0.1', '1.2.3', '01.2.3.4', ' 198.18.0.0', '198.18.0.0 ', '198.18.0.0\n', '2001:db8::/129', 'fe80::1%eth0',
    '::ffff:1.2.3.4', '2001:db8:::1', 'g::1', 'localhost', '198.18.0.0/15}', '{ always_true }',
  ])('refuses %j', (text) => expect(clientCidr(text)).toBeNull());
});

describe('client labels: valid values', () => {
  const parsed = (labels: Record<string, string>) => {
    const r = parseLabels(labels, DEFAULTS);
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    return r.labels.service.clients;
  };

  it('without labels: no PROXY protocol, X-Forwarded-* on, every client, no limit', () => {
    expect(parsed({})).toEqual({ proxyProtocol: null, forwarded: true, allow: null, rateLimit: null });
  });

  it('a TCP service has no X-Forwarded-* headers', () => {
    expect(parsed({ 'vipkeeper.mode': 'tcp' }).forwarded).toBe(false);
  });

  it.each([
    ['vipkeeper.proxy-protocol', 'v1', { proxyProtocol: 'v1' }],
    ['vipkeeper.proxy-protocol', 'v2', { proxyProtocol: 'v2' }],
    ['vipkeeper.forwarded', 'true', { forwarded: true }],
    ['vipkeeper.forwarded', 'false', { forwarded: false }],
    ['vipkeeper.allow', '198.18.0.7', { allow: ['198.18.0.7/32'] }],
    ['vipkeeper.allow', '2001:DB8::/32,198.18.0.0/15,198.18.0.0/15', { allow: ['198.18.0.0/15', '2001:db8::/32'] }],
    ['vipkeeper.allow', Array.from({ length: 32 }, (_, i) => `::${i + 1}`).join(','), { allow: expect.arrayContaining(['::1/128', '::32/128']) }],
    ['vipkeeper.rate-limit', '1/s', { rateLimit: 1 }],
    ['vipkeeper.rate-limit', '1000000/s', { rateLimit: 1_000_000 }],
  ])('%s=%s', (label, value, expected) => {
    expect(parsed({ [label]: value })).toMatchObject(expected);
  });

  it.each(['vipkeeper.proxy-protocol=v2', 'vipkeeper.allow=198.18.0.0/15', 'vipkeeper.rate-limit=5/s'])('%s is allowed on a TCP service', (pair) => {
    const [label, value] = pair.split('=') as [string, string];
    expect(parseLabels({ 'vipkeeper.mode': 'tcp', [label]: value }, DEFAULTS).ok).toBe(true);
  });
});

describe('client labels: hostile values are refused, named with their rule', () => {
  it.each([
    ['vipkeeper.proxy-protocol', 'v3'],
    ['vipkeeper.proxy-protocol', 'V2'],
    ['vipkeeper.proxy-protocol', 'v2 '],
    ['vipkeeper.proxy-protocol', 'true'],
    ['vipkeeper.proxy-protocol', 'v2\n    server evil 203.0.113.9:80'],
    ['vipkeeper.forwarded', 'yes'],
    ['vipkeeper.forwarded', 'False'],
    ['vipkeeper.allow', ''],
    ['vipkeeper.allow', '198.18.0.0/15,'],
    ['vipkeeper.allow', '198.18.0.0/15, 192.0.2.0/24'],
    ['vipkeeper.allow', '198.18.0.0/15 192.0.2.0/24'],
    ['vipkeeper.allow', '198.18.0.0/15 }'],
    ['vipkeeper.allow', '198.18.0.0/15 } || { always_true'],
    ['vipkeeper.allow', '0.0.0.0/0 always_true'],
    ['vipkeeper.allow', '198.18.0.0/15\n    server evil 203.0.113.9:80'],
    ['vipkeeper.allow', '198.18.0.0/15\r\n'],
    ['vipkeeper.allow', '198.18.0.0/15#'],
    ['vipkeeper.allow', '-f /etc/passwd'],
    ['vipkeeper.allow', '198.18.0.0/99'],
    ['vipkeeper.allow', Array(33).fill('::').join(',')],
    ['vipkeeper.allow', Array(40).fill('198.18.0.0/15').join(',')],
    ['vipkeeper.rate-limit', '0/s'],
    ['vipkeeper.rate-limit', '1000001/s'],
    ['vipkeeper.rate-limit', '99999999999999999999/s'],
    ['vipkeeper.rate-limit', '10'],
    ['vipkeeper.rate-limit', '10/m'],
    ['vipkeeper.rate-limit', '10/s '],
    ['vipkeeper.rate-limit', ' 10/s'],
    ['vipkeeper.rate-limit', '1e3/s'],
    ['vipkeeper.rate-limit', '-1/s'],
    ['vipkeeper.rate-limit', '0x10/s'],
    ['vipkeeper.rate-limit', '10/s }'],
    ['vipkeeper.rate-limit', '10/s\n    server evil 203.0.113.9:80'],
  ])('%s=%j', (label, value) => {
    const r = parseLabels({ [label]: value }, DEFAULTS);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]!.label).toBe(label);
    expect(r.problems[0]!.shownValue).not.toMatch(/[\n\r]/);
  });

  it('vipkeeper.forwarded is refused on a TCP service', () => {
    expect(parseLabels({ 'vipkeeper.mode': 'tcp', 'vipkeeper.forwarded': 'false' }, DEFAULTS)).toMatchObject({
      ok: false,
      problems: [{ label: 'vipkeeper.forwarded', rule: 'only with vipkeeper.mode=http' }],
    });
  });

  it('a container with a bad value is skipped with its name and the label; the others serve', () => {
    const settings = { roleLabel: 'role', backendRole: 'apps', frontendPort: 80, publishedHost: null };
    const state = buildDesiredState(
      [
        container({ name: 'good', created: 1, bindings: [binding(80, 32001)], extraLabels: { 'vipkeeper.allow': '198.18.0.0/15' } }),
        container({ name: 'evil', created: 2, bindings: [binding(80, 32002)], extraLabels: { 'vipkeeper.service': 'x', 'vipkeeper.allow': '0.0.0.0/0 } || { always_true' } }),
      ],
      settings,
    );
    expect(state.services.map((s) => s.name)).toEqual(['apps']);
    expect(state.skipped).toMatchObject([{ containerName: 'evil', reason: expect.stringContaining('label vipkeeper.allow=') }]);
  });

  it('containers of one service must agree on the client labels', () => {
    const settings = { roleLabel: 'role', backendRole: 'apps', frontendPort: 80, publishedHost: null };
    const state = buildDesiredState(
      [
        container({ name: 'a', created: 1, bindings: [binding(80, 32001)], extraLabels: { 'vipkeeper.rate-limit': '10/s' } }),
        container({ name: 'b', created: 2, bindings: [binding(80, 32002)], extraLabels: { 'vipkeeper.rate-limit': '20/s' } }),
      ],
      settings,
    );
    expect(state.skipped).toMatchObject([{ containerName: 'b', reason: expect.stringContaining('vipkeeper.rate-limit (20) disagrees with 10') }]);
  });
});

describe('VIPKEEPER_ACCEPT_PROXY', () => {
  const parse = (value: string) => parseEnvironment({ ...MINIMAL_ENV, VIPKEEPER_ACCEPT_PROXY: value }, FACTS);

  it('unset or empty: none', () => {
    expect(parseEnvironment(MINIMAL_ENV, FACTS).config.acceptProxy).toEqual([]);
    expect(parse('').config.acceptProxy).toEqual([]);
  });

  it('a list of addresses and blocks, commas or spaces, in one spelling', () => {
    expect(parse('198.18.0.9, 2001:DB8::/32 198.18.0.0/15').config.acceptProxy).toEqual(['198.18.0.0/15', '198.18.0.9/32', '2001:db8::/32']);
  });

  it.each(['198.18.0.0/15}', '198.18.0.0/15;always_true', 'lb.example.com', '198.18.0.0/40', '{ always_true }'])('refuses %j, naming the variable', (value) => {
    expect(() => parse(value)).toThrow(/VIPKEEPER_ACCEPT_PROXY/);
  });
});

describe('haproxy view: client address and access lines', () => {
  it('no client labels on HTTP: X-Forwarded-* only', () => {
    expect(clientRules(service([]))).toEqual([
      'http-request add-header X-Forwarded-For %[src,regsub(^::ffff:,)]',
      'http-request set-header X-Forwarded-Proto %[ssl_fc,iif(https,http)]',
      'http-request set-header X-Forwarded-Host %[req.hdr(host)] if { req.hdr(host) -m found }',
    ]);
  });

  it('vipkeeper.forwarded=false: nothing', () => {
    expect(clientRules(service([], { clients: clients({ forwarded: false }) }))).toEqual([]);
  });

  it('HTTP allow list and rate limit: 403 first, then the tracked rate and 429', () => {
    const s = service([], { name: 'api', clients: clients({ forwarded: false, allow: ['198.18.0.0/15', '2001:db8::/32'], rateLimit: 20 }) });
    expect(clientRules(s)).toEqual([
      'http-request deny deny_status 403 unless { src 198.18.0.0/15 2001:db8::/32 }',
      'http-request track-sc1 src table rl_api',
      'http-request deny deny_status 429 if { sc_http_req_rate(1) gt 20 }',
    ]);
    expect(haproxyView([s], PATHS).stickTables).toEqual([{ name: 'rl_api', table: 'type ipv6 size 100k expire 10s store http_req_rate(1s)' }]);
  });

  it('TCP allow list and rate limit: the connection is closed, counted per connection', () => {
    const s = service([], { name: 'db', mode: 'tcp', clients: clients({ forwarded: false, allow: ['198.18.0.0/15'], rateLimit: 5 }) });
    expect(clientRules(s)).toEqual([
      'tcp-request content reject unless { src 198.18.0.0/15 }',
      'tcp-request content track-sc1 src table rl_db',
      'tcp-request content reject if { sc_conn_rate(1) gt 5 }',
    ]);
    expect(haproxyView([s], PATHS).stickTables).toEqual([{ name: 'rl_db', table: 'type ipv6 size 100k expire 10s store conn_rate(1s)' }]);
  });

  it.each([
    ['v1', 'weight 100 send-proxy'],
    ['v2', 'weight 100 send-proxy-v2'],
  ] as const)('proxy-protocol %s on every server line (also what `add server` gets)', (v, tail) => {
    const s = service([server('web')], { check: { enabled: false, path: null, interval: '2s', rise: 2, fall: 5 }, clients: clients({ proxyProtocol: v }) });
    expect(serverOptions(s.servers[0]!, s)).toBe(tail);
    expect(haproxyView([s], PATHS).backends[0]!.servers[0]!.options).toBe(tail);
  });

  it('services sharing a frontend keep their own rules: they are in each backend, none in the frontend', () => {
    const open = service([], { name: 'open', hosts: ['open.example.test'] });
    const closed = service([], { name: 'closed', hosts: ['closed.example.test'], clients: clients({ allow: ['198.18.0.0/15'], rateLimit: 3 }) });
    const view = haproxyView([closed, open], PATHS);
    expect(view.frontends).toHaveLength(1);
    expect(view.frontends[0]!.requestRules).toEqual([]);
    const rules = (name: string) => view.backends.find((b) => b.name === name)!.clientRules.join('\n');
    expect(rules('be_closed')).toContain('deny deny_status 403');
    expect(rules('be_closed')).toContain('track-sc1 src table rl_closed');
    expect(rules('be_open')).not.toMatch(/deny|track/);
  });

  it('VIPKEEPER_ACCEPT_PROXY: expect-proxy only from those addresses, on every frontend', () => {
    const view = haproxyView([service([]), service([], { name: 'db', mode: 'tcp', frontendPort: 5432 })], { ...PATHS, acceptProxy: ['198.18.0.0/15', '2001:db8::/32'] });
    expect(view.frontends.map((f) => f.connectionRules)).toEqual([
      ['tcp-request connection expect-proxy layer4 if { src 198.18.0.0/15 2001:db8::/32 }'],
      ['tcp-request connection expect-proxy layer4 if { src 198.18.0.0/15 2001:db8::/32 }'],
    ]);
    expect(haproxyView([service([])], PATHS).frontends[0]!.connectionRules).toEqual([]);
  });

  it('a change of a client label is a reload (it is no server change)', () => {
    const before = service([server('web')]);
    const after = service([server('web')], { clients: clients({ allow: ['198.18.0.0/15'] }) });
    expect(diffServices([before], [after]).structural).toBe('service apps changed its settings');
  });
});

describe.runIf(haproxyInstalled)('the real haproxy accepts every client line', () => {
  it('haproxy -c: HTTP and TCP services with every client label and VIPKEEPER_ACCEPT_PROXY, no warning', async () => {
    const templates = await loadTemplates(null);
    const all = clients({ proxyProtocol: 'v2', allow: ['198.18.0.0/15', '2001:db8::/32', '127.0.0.1/32'], rateLimit: 1_000_000 });
    const services = [
      service([server('web-1', '127.0.0.1', 32001)], { name: 'web', hosts: ['web.example.test'], clients: all }),
      service([server('www-1', '127.0.0.1', 32002)], { name: 'www', hosts: ['www.example.test'], clients: clients({ proxyProtocol: 'v1' }) }),
      service([server('db-1', '127.0.0.1', 32003)], { name: 'db', mode: 'tcp', frontendPort: 5432, clients: { ...all, forwarded: false } }),
    ];
    const dir = mkdtempSync(join(tmpdir(), 'vk-clients-'));
    try {
      const file = join(dir, 'haproxy.cfg');
      const view = haproxyView(services, { adminSocket: join(dir, 'admin.sock'), ipv6: true, acceptProxy: ['198.18.0.9/32', '2001:db8::/32'] });
      writeFileSync(file, ejs.render(templates['haproxy.cfg.ejs'].text, view as unknown as ejs.Data, { async: false }));
      const r = spawnSync('haproxy', ['-c', '-f', file], { encoding: 'utf8' });
      // Known and not ours: the defaults' `option idle-close-on-response` is ignored (with a warning) in TCP frontends.
      const said = (r.stderr + r.stdout).split('\n').filter((l) => !l.includes('idle-close-on-response'));
      expect(said.join('\n')).not.toMatch(/ALERT|WARNING/);
      expect(r.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

describe('a user template that leaves access rules out is named, not silently open', () => {
  const config = parseEnvironment({ ...MINIMAL_ENV, VIPKEEPER_ACCEPT_PROXY: '198.18.0.9' }, FACTS).config;
  const state = buildDesiredState(
    [container({ name: 'adm', created: 1, bindings: [binding(80, 32001)], extraLabels: { 'vipkeeper.service': 'adm', 'vipkeeper.allow': '198.18.0.0/15', 'vipkeeper.rate-limit': '9/s' } })],
    { roleLabel: 'role', backendRole: 'apps', frontendPort: 80, publishedHost: null },
  );

  it('an old template without clientRules or connectionRules: each missing line, by section', async () => {
    const builtin = await loadTemplates(null);
    const old = builtin['haproxy.cfg.ejs'].text
      .replace(/<% for \(const line of be\.clientRules\) \{ -%>\n {4}<%- line %>\n<% \} -%>\n/, '')
      .replace(/<% for \(const line of fe\.connectionRules\) \{ -%>\n {4}<%- line %>\n<% \} -%>\n/, '');
    expect(old).not.toContain('clientRules');
    const r = renderConfigs(config, state, { ...builtin, 'haproxy.cfg.ejs': { ...builtin['haproxy.cfg.ejs'], text: old, overridden: true } });
    expect(r.unprintedAccessRules).toEqual([
      'fe_80: tcp-request connection expect-proxy layer4 if { src 198.18.0.9/32 }',
      'be_adm: http-request deny deny_status 403 unless { src 198.18.0.0/15 }',
      'be_adm: http-request track-sc1 src table rl_adm',
      'be_adm: http-request deny deny_status 429 if { sc_http_req_rate(1) gt 9 }',
    ]);
  });

  it('the shipped template, also as a user copy, prints them all', async () => {
    const builtin = await loadTemplates(null);
    expect(renderConfigs(config, state, builtin).unprintedAccessRules).toBeUndefined();
    const copy = renderConfigs(config, state, { ...builtin, 'haproxy.cfg.ejs': { ...builtin['haproxy.cfg.ejs'], overridden: true } });
    expect(copy.unprintedAccessRules).toBeUndefined();
  });
});

describe.runIf(haproxyInstalled)('X-Forwarded-* from the real haproxy, on HTTP and HTTPS, behind an IPv4+IPv6 bind', () => {
  it('For is the plain IPv4 client (appended), Proto says http or https, Host is the request Host', async () => {
    const seen: Record<string, string | string[] | undefined>[] = [];
    const backend = createServer((req, res) => (seen.push(req.headers), res.end('ok')));
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
    const backendPort = (backend.address() as { port: number }).port;
    const [httpPort, httpsPort] = [await freePort(), await freePort()];
    const pemDir = mkdtempSync(join(tmpdir(), 'vk-clients-pem-'));
    const pem = join(pemDir, 'self.pem');
    writeFileSync(pem, await makeSelfSigned());
    const s = service([server('app', '127.0.0.1', backendPort)], { name: 'app' });
    const h = await startHaproxy((sock) =>
      [
        'global',
        `    stats socket ${sock} mode 600 level admin`,
        'defaults',
        '    mode http',
        '    timeout connect 2s',
        '    timeout client 5s',
        '    timeout server 5s',
        'frontend fe',
        `    bind :::${httpPort} v4v6`,
        `    bind :::${httpsPort} v4v6 ssl crt ${pem}`,
        '    default_backend be_app',
        'backend be_app',
        ...clientRules(s).map((l) => `    ${l}`),
        `    server app 127.0.0.1:${backendPort}`,
        '',
      ].join('\n'),
    );
    try {
      const ask = (port: number, tls: boolean, headers: Record<string, string> = {}) =>
        new Promise<void>((resolve, reject) => {
          const req = (tls ? httpsRequest : httpRequest)({ host: '127.0.0.1', port, path: '/', headers: { host: 'app.example.test', ...headers }, rejectUnauthorized: false, agent: false }, (res) => {
            res.resume();
            res.on('end', () => resolve());
          });
          req.on('error', reject);
          req.end();
        });
      await ask(httpPort, false);
      await ask(httpsPort, true);
      await ask(httpPort, false, { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.test' });
      expect(seen.map((h) => [h['x-forwarded-for'], h['x-forwarded-proto'], h['x-forwarded-host']])).toEqual([
        ['127.0.0.1', 'http', 'app.example.test'],
        ['127.0.0.1', 'https', 'app.example.test'],
        // A client's own For values stay in front; Proto and Host are replaced, not trusted.
        ['203.0.113.9, 127.0.0.1', 'http', 'app.example.test'],
      ]);
    } finally {
      await h.stop();
      await new Promise<void>((r) => backend.close(() => r()));
      rmSync(pemDir, { recursive: true, force: true });
    }
  }, 30_000);
});

describe('vipkeeper show names a service\'s access settings', () => {
  it('one line when any is set; none at the defaults', () => {
    const line = (clientsOver: Partial<ClientLabels>, mode: 'http' | 'tcp' = 'http') =>
      showTable({ services: [{ name: 'a', backend: 'be_a', mode, frontend: { port: 80, hosts: [], path: null }, balance: 'roundrobin', servers: [], ...inventoryAccess(service([], { mode, clients: clients(clientsOver) })) }] }).split('\n')[1];
    expect(line({ allow: ['198.18.0.0/15'], rateLimit: 20 })).toBe('  access: allow 198.18.0.0/15, rate-limit 20/s, proxy-protocol off, forwarded on');
    expect(line({ proxyProtocol: 'v2', forwarded: false })).toBe('  access: allow all, rate-limit none, proxy-protocol v2, forwarded off');
    expect(line({})).toBe('  (no servers)');
    expect(line({ forwarded: false }, 'tcp')).toBe('  (no servers)');
  });
});
