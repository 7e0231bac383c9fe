import { IDENTIFIER, quoteUntrusted } from '../../src/config/patterns.js';
import { parseDefinitions } from '../../src/labels/definitions.js';
import { nginxProxyLabels, pickCompatVariables, serviceNameFor } from '../../src/labels/nginx-proxy.js';
import { describe, expect, it } from 'vitest';
import { LABEL_SPECS, LABELS, MAX_LABEL_VALUE } from '../../src/labels/label-schema.js';
import { type LabelResult, type ParsedLabels, parseLabels, showUntrusted } from '../../src/labels/parse-labels.js';

const DEFAULTS = { service: 'apps', frontendPort: 80 };

function ok(labels: Record<string, string>): ParsedLabels {
  const r = parseLabels(labels, DEFAULTS);
  if (!r.ok) throw new Error(`expected labels to parse, got ${JSON.stringify(r.problems)}`);
  return r.labels;
}

function problems(r: LabelResult) {
  if (r.ok) throw new Error(`expected problems, got ${JSON.stringify(r.labels)}`);
  return r.problems;
}

const cut = (v: string) => quoteUntrusted(v, 64);

describe('parseLabels: defaults', () => {
  it('no labels at all: every default', () => {
    expect(parseLabels({}, { service: 'apps', frontendPort: 8080 })).toEqual({
      ok: true,
      labels: {
        service: {
          service: 'apps',
          mode: 'http',
          frontendPort: 8080,
          vip: null,
          hosts: [],
          path: null,
          balance: 'roundrobin',
          memberClass: 'multiple',
          check: { enabled: true, path: null, interval: '2s', rise: 2, fall: 5 },
          tls: { enabled: null, redirect: false, hsts: null },
          sticky: null,
          clients: { proxyProtocol: null, forwarded: true, allow: null, rateLimit: null },
        },
        server: { port: null, network: null, weight: 100, maxconn: null, dockerHealth: 'respect' },
        unknown: [],
      },
    });
  });

  it('labels outside vipkeeper.* are ignored', () => {
    expect(ok({ role: 'apps', 'com.docker.compose.service': 'web', 'vipkeeper': 'x', 'vipkeeperport': '1' })).toEqual(ok({}));
  });
});

describe('parseLabels: valid values for every label', () => {
  it.each<{ label: string; value: string; get: (l: ParsedLabels) => unknown; expected: unknown }>([
    { label: 'vipkeeper.port', value: '1', get: (l) => l.server.port, expected: 1 },
    { label: 'vipkeeper.port', value: '8080', get: (l) => l.server.port, expected: 8080 },
    { label: 'vipkeeper.port', value: '65535', get: (l) => l.server.port, expected: 65535 },
    { label: 'vipkeeper.network', value: 'backend_net-1.a', get: (l) => l.server.network, expected: 'backend_net-1.a' },
    { label: 'vipkeeper.network', value: '0net', get: (l) => l.server.network, expected: '0net' },
    { label: 'vipkeeper.weight', value: '0', get: (l) => l.server.weight, expected: 0 },
    { label: 'vipkeeper.weight', value: '256', get: (l) => l.server.weight, expected: 256 },
    { label: 'vipkeeper.maxconn', value: '1', get: (l) => l.server.maxconn, expected: 1 },
    { label: 'vipkeeper.maxconn', value: '1000000', get: (l) => l.server.maxconn, expected: 1_000_000 },
    { label: 'vipkeeper.docker-health', value: 'ignore', get: (l) => l.server.dockerHealth, expected: 'ignore' },
    { label: 'vipkeeper.docker-health', value: 'respect', get: (l) => l.server.dockerHealth, expected: 'respect' },
    { label: 'vipkeeper.service', value: 'web', get: (l) => l.service.service, expected: 'web' },
    { label: 'vipkeeper.service', value: 'a', get: (l) => l.service.service, expected: 'a' },
    { label: 'vipkeeper.service', value: 'my_api-2', get: (l) => l.service.service, expected: 'my_api-2' },
    { label: 'vipkeeper.service', value: 'a'.repeat(48), get: (l) => l.service.service, expected: 'a'.repeat(48) },
    { label: 'vipkeeper.mode', value: 'http', get: (l) => l.service.mode, expected: 'http' },
    { label: 'vipkeeper.mode', value: 'tcp', get: (l) => l.service.mode, expected: 'tcp' },
    { label: 'vipkeeper.frontend.port', value: '8443', get: (l) => l.service.frontendPort, expected: 8443 },
    { label: 'vipkeeper.frontend.port', value: '1', get: (l) => l.service.frontendPort, expected: 1 },
    { label: 'vipkeeper.vip', value: 'web', get: (l) => l.service.vip, expected: { kind: 'instance', name: 'web' } },
    { label: 'vipkeeper.vip', value: 'default', get: (l) => l.service.vip, expected: { kind: 'instance', name: 'default' } },
    { label: 'vipkeeper.vip', value: '198.18.0.10', get: (l) => l.service.vip, expected: { kind: 'address', address: '198.18.0.10' } },
    { label: 'vipkeeper.vip', value: '2001:DB8:0:0::a', get: (l) => l.service.vip, expected: { kind: 'address', address: '2001:db8::a' } },
    { label: 'vipkeeper.host', value: 'example.com', get: (l) => l.service.hosts, expected: ['example.com'] },
    { label: 'vipkeeper.host', value: 'b.example.com,a.example.com,b.example.com', get: (l) => l.service.hosts, expected: ['a.example.com', 'b.example.com'] },
    { label: 'vipkeeper.host', value: 'localhost', get: (l) => l.service.hosts, expected: ['localhost'] },
    { label: 'vipkeeper.path', value: '/', get: (l) => l.service.path, expected: null }, // path_beg / is every request: no path rule
    { label: 'vipkeeper.path', value: '/api/v1.2/~user/%20-_', get: (l) => l.service.path, expected: '/api/v1.2/~user/%20-_' },
    { label: 'vipkeeper.balance', value: 'roundrobin', get: (l) => l.service.balance, expected: 'roundrobin' },
    { label: 'vipkeeper.balance', value: 'leastconn', get: (l) => l.service.balance, expected: 'leastconn' },
    { label: 'vipkeeper.balance', value: 'random', get: (l) => l.service.balance, expected: 'random' },
    { label: 'vipkeeper.class', value: 'single', get: (l) => l.service.memberClass, expected: 'single' },
    { label: 'vipkeeper.class', value: 'multiple', get: (l) => l.service.memberClass, expected: 'multiple' },
    { label: 'vipkeeper.check', value: 'false', get: (l) => l.service.check.enabled, expected: false },
    { label: 'vipkeeper.check', value: 'true', get: (l) => l.service.check.enabled, expected: true },
    { label: 'vipkeeper.check.path', value: '/healthz', get: (l) => l.service.check.path, expected: '/healthz' },
    { label: 'vipkeeper.check.path', value: '/health?full=1&x=a:b@c+d', get: (l) => l.service.check.path, expected: '/health?full=1&x=a:b@c+d' },
    { label: 'vipkeeper.check.interval', value: '500ms', get: (l) => l.service.check.interval, expected: '500ms' },
    { label: 'vipkeeper.check.interval', value: '10', get: (l) => l.service.check.interval, expected: '10' },
    { label: 'vipkeeper.check.interval', value: '1m', get: (l) => l.service.check.interval, expected: '1m' },
    { label: 'vipkeeper.check.interval', value: '250us', get: (l) => l.service.check.interval, expected: '250us' },
    { label: 'vipkeeper.check.rise', value: '1', get: (l) => l.service.check.rise, expected: 1 },
    { label: 'vipkeeper.check.rise', value: '100', get: (l) => l.service.check.rise, expected: 100 },
    { label: 'vipkeeper.check.fall', value: '10', get: (l) => l.service.check.fall, expected: 10 },
    { label: 'vipkeeper.tls', value: 'false', get: (l) => l.service.tls.enabled, expected: false },
    { label: 'vipkeeper.tls', value: 'true', get: (l) => l.service.tls.enabled, expected: true },
    { label: 'vipkeeper.tls.redirect', value: 'true', get: (l) => l.service.tls.redirect, expected: true },
    { label: 'vipkeeper.tls.hsts', value: '0', get: (l) => l.service.tls.hsts, expected: 0 },
    { label: 'vipkeeper.acme', value: 'true', get: (l) => l.service.tls.acme, expected: true },
    { label: 'vipkeeper.acme', value: 'false', get: (l) => l.service.tls.acme, expected: false },
    { label: 'vipkeeper.tls.hsts', value: '63072000', get: (l) => l.service.tls.hsts, expected: 63072000 },
    { label: 'vipkeeper.sticky', value: 'cookie', get: (l) => l.service.sticky, expected: 'cookie' },
    { label: 'vipkeeper.sticky', value: 'source', get: (l) => l.service.sticky, expected: 'source' },
    // More client-label values (IPv6, edges) in clients.test.ts.
    { label: 'vipkeeper.proxy-protocol', value: 'v1', get: (l) => l.service.clients.proxyProtocol, expected: 'v1' },
    { label: 'vipkeeper.forwarded', value: 'false', get: (l) => l.service.clients.forwarded, expected: false },
    { label: 'vipkeeper.allow', value: '198.18.0.0/15,192.0.2.7', get: (l) => l.service.clients.allow, expected: ['192.0.2.7/32', '198.18.0.0/15'] },
    { label: 'vipkeeper.rate-limit', value: '20/s', get: (l) => l.service.clients.rateLimit, expected: 20 },
  ])('$label=$value', ({ label, value, get, expected }) => {
    expect(get(ok({ [label]: value }))).toEqual(expected);
  });

  it('the table above names every label', () => {
    // Keeps this file honest when a label is added to LABELS.
    const covered = new Set([
      'vipkeeper.port', 'vipkeeper.network', 'vipkeeper.weight', 'vipkeeper.maxconn', 'vipkeeper.docker-health',
      'vipkeeper.service', 'vipkeeper.mode', 'vipkeeper.frontend.port', 'vipkeeper.vip', 'vipkeeper.host', 'vipkeeper.path',
      'vipkeeper.balance', 'vipkeeper.class', 'vipkeeper.check', 'vipkeeper.check.path', 'vipkeeper.check.interval',
      'vipkeeper.check.rise', 'vipkeeper.check.fall', 'vipkeeper.tls', 'vipkeeper.tls.redirect', 'vipkeeper.tls.hsts', 'vipkeeper.sticky',
      'vipkeeper.check.rise', 'vipkeeper.check.fall', 'vipkeeper.tls', 'vipkeeper.tls.redirect', 'vipkeeper.tls.hsts',
      'vipkeeper.proxy-protocol', 'vipkeeper.forwarded', 'vipkeeper.allow', 'vipkeeper.rate-limit',
      'vipkeeper.acme',
    ]);
    expect(LABEL_SPECS.map((s) => s.key).sort()).toEqual([...covered].sort());
  });

  it('all labels together', () => {
    expect(
      ok({
        'vipkeeper.service': 'api',
        'vipkeeper.mode': 'http',
        'vipkeeper.frontend.port': '8080',
        'vipkeeper.vip': '2001:DB8:0::10',
        'vipkeeper.host': 'api.example.com',
        'vipkeeper.path': '/v1',
        'vipkeeper.balance': 'leastconn',
        'vipkeeper.class': 'single',
        'vipkeeper.check': 'true',
        'vipkeeper.check.path': '/v1/health',
        'vipkeeper.check.interval': '5s',
        'vipkeeper.check.rise': '3',
        'vipkeeper.check.fall': '4',
        'vipkeeper.port': '3000',
        'vipkeeper.network': 'backend',
        'vipkeeper.weight': '50',
        'vipkeeper.maxconn': '200',
        'vipkeeper.docker-health': 'ignore',
        'vipkeeper.tls': 'true',
        'vipkeeper.tls.redirect': 'true',
        'vipkeeper.tls.hsts': '600',
        'vipkeeper.sticky': 'cookie',
        'vipkeeper.proxy-protocol': 'v2',
        'vipkeeper.forwarded': 'false',
        'vipkeeper.allow': '2001:DB8:0:0::/32,198.18.0.0/15',
        'vipkeeper.rate-limit': '50/s',
      }),
    ).toEqual({
      service: {
        service: 'api',
        mode: 'http',
        frontendPort: 8080,
        vip: { kind: 'address', address: '2001:db8::10' },
        hosts: ['api.example.com'],
        path: '/v1',
        balance: 'leastconn',
        memberClass: 'single',
        check: { enabled: true, path: '/v1/health', interval: '5s', rise: 3, fall: 4 },
        tls: { enabled: true, redirect: true, hsts: 600 },
        sticky: 'cookie',
        clients: { proxyProtocol: 'v2', forwarded: false, allow: ['198.18.0.0/15', '2001:db8::/32'], rateLimit: 50 },
      },
      server: { port: 3000, network: 'backend', weight: 50, maxconn: 200, dockerHealth: 'ignore' },
      unknown: [],
    });
  });
});

describe('parseLabels: hostile values are rejected for every label', () => {
  /** A valid value per label; hostile text is put into it so only the hostile part can be to blame. */
  const VALID: Record<string, string> = {
    'vipkeeper.port': '80',
    'vipkeeper.network': 'backend',
    'vipkeeper.weight': '10',
    'vipkeeper.maxconn': '100',
    'vipkeeper.docker-health': 'ignore',
    'vipkeeper.service': 'web',
    'vipkeeper.mode': 'http',
    'vipkeeper.frontend.port': '8080',
    'vipkeeper.vip': '2001:db8::10',
    'vipkeeper.host': 'a.example.com',
    'vipkeeper.path': '/api',
    'vipkeeper.balance': 'random',
    'vipkeeper.class': 'single',
    'vipkeeper.check': 'false',
    'vipkeeper.check.path': '/healthz',
    'vipkeeper.check.interval': '5s',
    'vipkeeper.check.rise': '3',
    'vipkeeper.check.fall': '3',
    'vipkeeper.tls': 'true',
    'vipkeeper.tls.redirect': 'true',
    'vipkeeper.tls.hsts': '31536000',
    'vipkeeper.sticky': 'source',
    'vipkeeper.proxy-protocol': 'v2',
    'vipkeeper.forwarded': 'false',
    'vipkeeper.allow': '198.18.0.0/15',
    'vipkeeper.rate-limit': '100/s',
    'vipkeeper.acme': 'true',
  };

  it('each base value is valid on its own', () => {
    expect(Object.keys(VALID).sort()).toEqual(LABEL_SPECS.map((s) => s.key).sort());
    for (const [label, value] of Object.entries(VALID)) expect(parseLabels({ [label]: value }, DEFAULTS).ok, label).toBe(true);
  });

  const PIECES: [string, string][] = [
    ['\\n', '\n'],
    ['\\r', '\r'],
    ['#', '#'],
    ['a space', ' '],
    ['"', '"'],
    ["'", "'"],
    ['é', 'é'],
    ['\\u2028', '\u2028'],
  ];
  const rows: { label: string; what: string; value: string }[] = [];
  for (const { key } of LABEL_SPECS) {
    const valid = VALID[key]!;
    for (const [what, piece] of PIECES) {
      rows.push({ label: key, what: `${what} at the end`, value: `${valid}${piece}` });
      rows.push({ label: key, what: `${what} inside`, value: `${valid.slice(0, 1)}${piece}${valid.slice(1)}` });
    }
    rows.push({ label: key, what: 'a newline and a new directive', value: `${valid}\n    server evil 203.0.113.9:80` });
    rows.push({ label: key, what: '300 characters', value: valid + 'a'.repeat(300 - valid.length) });
    rows.push({ label: key, what: 'empty', value: '' });
  }
  const NUMBERS: [string, string[]][] = [
    ['vipkeeper.port', ['0', '65536', '-1', '80.5', '0x50', '1e3', '+80']],
    ['vipkeeper.frontend.port', ['0', '65536', '-1', '80.5', '0x50', '1e3', '+80']],
    ['vipkeeper.weight', ['257', '-1', '80.5', '0x50']],
    ['vipkeeper.maxconn', ['0', '1000001', '-1', '80.5', '0x50']],
    ['vipkeeper.check.rise', ['0', '101', '-1', '2.5', '0x5']],
    ['vipkeeper.check.fall', ['0', '101', '-1', '2.5', '0x5']],
    ['vipkeeper.check.interval', ['0', '0s', '-1s', '1.5s', '2 s', '2sec', '1d', '12345678']],
  ];
  // Words are matched whole and case-sensitively: nothing "close enough" is taken.
  for (const value of ['Single', 'SINGLE', 'singl', 'singles', 'single,multiple', 'one', 'true', '1']) {
    rows.push({ label: 'vipkeeper.class', what: `not single or multiple: ${JSON.stringify(value)}`, value });
  }
  for (const [label, values] of NUMBERS) {
    for (const value of values) rows.push({ label, what: `out of range or not a number: ${JSON.stringify(value)}`, value });
  }

  it.each(rows)('$label with $what', ({ label, value }) => {
    const found = problems(parseLabels({ [label]: value }, DEFAULTS));
    expect(found).toHaveLength(1);
    expect(found[0]).toEqual({ label, shownValue: cut(value), rule: expect.stringContaining(LABEL_SPECS.find((s) => s.key === label)!.rule) });
    expect(found[0]!.shownValue).not.toMatch(/[\n\r]/);
  });

  it('a value over the length limit says so in the rule', () => {
    const [p] = problems(parseLabels({ 'vipkeeper.service': 'a'.repeat(MAX_LABEL_VALUE + 1) }, DEFAULTS));
    expect(p!.rule).toBe(`${LABELS.service.rule} (and at most ${MAX_LABEL_VALUE} characters)`);
  });

  it.each([
    ['vipkeeper.host', 'a.example.com,'],
    ['vipkeeper.host', ',a.example.com'],
    ['vipkeeper.host', 'A.example.com'],
    ['vipkeeper.host', '*.example.com'],
    ['vipkeeper.host', 'a.example.com:8080'],
    ['vipkeeper.host', Array.from({ length: 17 }, (_, i) => `h${i}.example`).join(',')],
    ['vipkeeper.path', 'api'],
    ['vipkeeper.path', '/api?x=1'],
    ['vipkeeper.check.path', 'healthz'],
    ['vipkeeper.service', 'Web'],
    ['vipkeeper.service', 'web-'],
    ['vipkeeper.service', 'a'.repeat(49)],
    ['vipkeeper.network', '-net'],
    ['vipkeeper.mode', 'HTTP'],
    ['vipkeeper.check', 'yes'],
    ['vipkeeper.docker-health', 'Ignore'],
    ['vipkeeper.balance', 'source'],
    ['vipkeeper.vip', 'Web'],
    ['vipkeeper.vip', 'a'],
    ['vipkeeper.vip', 'web-1'],
    ['vipkeeper.vip', '198.18.0.256'],
    ['vipkeeper.vip', '198.18.0.10/24'],
    ['vipkeeper.vip', '198.18.0.10:80'],
    ['vipkeeper.vip', '[2001:db8::10]'],
    ['vipkeeper.vip', '2001:db8::10%eth0'],
    ['vipkeeper.vip', '2001:db8:::10'],
    ['vipkeeper.vip', '::ffff:198.18.0.10'],
    ['vipkeeper.vip', 'web,api'],
  ])('%s=%j breaks the rule', (label, value) => {
    expect(problems(parseLabels({ [label]: value }, DEFAULTS)).map((p) => p.label)).toEqual([label]);
  });

  it('every bad label is listed, not only the first', () => {
    const found = problems(parseLabels({ 'vipkeeper.port': 'x', 'vipkeeper.weight': 'y', 'vipkeeper.mode': 'z' }, DEFAULTS));
    expect(found.map((p) => p.label).sort()).toEqual(['vipkeeper.mode', 'vipkeeper.port', 'vipkeeper.weight']);
  });
});

describe('parseLabels: HTTP-only labels with mode tcp', () => {
  it.each([
    ['vipkeeper.host', 'a.example.com'],
    ['vipkeeper.path', '/api'],
    ['vipkeeper.check.path', '/healthz'],
  ])('%s with vipkeeper.mode=tcp is a problem', (label, value) => {
    expect(problems(parseLabels({ 'vipkeeper.mode': 'tcp', [label]: value }, DEFAULTS))).toEqual([
      { label, shownValue: JSON.stringify(value), rule: 'only with vipkeeper.mode=http' },
    ]);
  });

  it('all three at once are three problems', () => {
    const found = problems(
      parseLabels({ 'vipkeeper.mode': 'tcp', 'vipkeeper.host': 'a.example.com', 'vipkeeper.path': '/a', 'vipkeeper.check.path': '/h' }, DEFAULTS),
    );
    expect(found.map((p) => p.label)).toEqual(['vipkeeper.host', 'vipkeeper.path', 'vipkeeper.check.path']);
  });

  it('tcp with the other service labels is fine', () => {
    expect(ok({ 'vipkeeper.mode': 'tcp', 'vipkeeper.frontend.port': '5432', 'vipkeeper.balance': 'leastconn', 'vipkeeper.check.interval': '1s' }).service).toMatchObject({
      mode: 'tcp',
      frontendPort: 5432,
      balance: 'leastconn',
      check: { interval: '1s' },
    });
  });
});

describe('parseLabels: unknown vipkeeper.* labels', () => {
  it.each([
    ['vipkeeper.prot', 'vipkeeper.port'],
    ['vipkeeper.ports', 'vipkeeper.port'],
    ['vipkeeper.frontend-port', 'vipkeeper.frontend.port'],
    ['vipkeeper.frontend_port', 'vipkeeper.frontend.port'],
    ['vipkeeper.hosts', 'vipkeeper.host'],
    ['vipkeeper.check.pth', 'vipkeeper.check.path'],
    ['vipkeeper.dockerhealth', 'vipkeeper.docker-health'],
    ['vipkeeper.something-else-entirely', null],
    ['vipkeeper.tsl', 'vipkeeper.tls'],
    ['vipkeeper.', 'vipkeeper.vip'],
  ])('%s -> closest %j', (label, closest) => {
    expect(ok({ [label]: 'x' }).unknown).toEqual([{ label, closest }]);
  });

  it('unknown labels are listed sorted, beside valid known ones', () => {
    const l = ok({ 'vipkeeper.zeta': '1', 'vipkeeper.port': '80', 'vipkeeper.alpha': '2', other: '3' });
    expect(l.unknown.map((u) => u.label)).toEqual(['vipkeeper.alpha', 'vipkeeper.zeta']);
    expect(l.server.port).toBe(80);
  });
});

describe('showUntrusted: problem values are JSON-quoted and cut', () => {
  it.each([
    ['plain', 'abc', '"abc"'],
    ['newline escaped', 'a\nb', '"a\\nb"'],
    ['quote escaped', 'a"b', '"a\\"b"'],
    ['control character escaped', 'a\u001bb', '"a\\u001bb"'],
    ['64 characters kept whole', 'x'.repeat(64), JSON.stringify('x'.repeat(64))],
    ['65 characters cut to 64 and marked', 'x'.repeat(65), JSON.stringify(`${'x'.repeat(64)}...`)],
  ])('%s', (_what, value, expected) => {
    expect(showUntrusted(value)).toBe(expected);
  });

  it('a long hostile label value is shown escaped and cut', () => {
    const value = `/x\n${'y'.repeat(200)}`;
    const [p] = problems(parseLabels({ 'vipkeeper.check.path': value }, DEFAULTS));
    expect(p!.shownValue).toBe(JSON.stringify(`${value.slice(0, 64)}...`));
    expect(p!.shownValue).toMatch(/^"\/x\\ny+\.\.\."$/);
  });
});

describe('parseLabels: values HAProxy itself would refuse', () => {
  // BUG (see report): HAPROXY_TIME allows up to 9999999h, but HAProxy refuses any
  // time above 2147483647 ms ("timer overflow"), so one container's label makes the
  // whole haproxy.cfg invalid for every service.
  it.each(['2147484s', '35792m', '597h', '9999999h'])('vipkeeper.check.interval=%s (over 2^31-1 ms) is rejected', (value) => {
    expect(parseLabels({ 'vipkeeper.check.interval': value }, DEFAULTS).ok).toBe(false);
  });

  it.each(['2147483s', '35791m', '596h', '9999999ms', '1us'])('vipkeeper.check.interval=%s (within range) is accepted', (value) => {
    expect(parseLabels({ 'vipkeeper.check.interval': value }, DEFAULTS).ok).toBe(true);
  });
});


const defs = (labels: Record<string, string>, options: Parameters<typeof parseDefinitions>[2] = {}) => parseDefinitions(labels, DEFAULTS, options);

/** Definition name -> [service, port, hosts] of a result that must parse. */
function shapes(r: ReturnType<typeof parseDefinitions>) {
  if (!r.ok) throw new Error(`expected definitions, got ${JSON.stringify(r.problems)}`);
  return r.definitions.map((d) => [d.name, d.labels.service.service, d.labels.server.port, d.labels.service.hosts.join(',')]);
}

function defProblems(r: ReturnType<typeof parseDefinitions>) {
  if (r.ok) throw new Error(`expected problems, got ${JSON.stringify(r.definitions)}`);
  return r.problems.map((p) => [p.label, p.rule]);
}

describe('parseDefinitions: named definitions (vipkeeper.NAME.*)', () => {
  it.each<[string, Record<string, string>, unknown[]]>([
    ['no labels: one unnamed definition', {}, [[null, 'apps', null, '']]],
    ['the unnamed form is the one-service case', { 'vipkeeper.port': '8080', 'vipkeeper.host': 'a.example.com' }, [[null, 'apps', 8080, 'a.example.com']]],
    ['vipkeeper.check.path stays an unnamed label, not definition "check"', { 'vipkeeper.check.path': '/h' }, [[null, 'apps', null, '']]],
    ['vipkeeper.frontend.port stays an unnamed label', { 'vipkeeper.frontend.port': '81' }, [[null, 'apps', null, '']]],
    [
      'two named definitions: one service each, named after them',
      { 'vipkeeper.web.port': '80', 'vipkeeper.web.host': 'www.example.com', 'vipkeeper.admin.port': '9000', 'vipkeeper.admin.host': 'admin.example.com' },
      [
        ['admin', 'admin', 9000, 'admin.example.com'],
        ['web', 'web', 80, 'www.example.com'],
      ],
    ],
    ['NAME.service names the service', { 'vipkeeper.web.port': '80', 'vipkeeper.web.service': 'shop' }, [['web', 'shop', 80, '']]],
    ['named settings may be dotted (NAME.check.path)', { 'vipkeeper.web.port': '80', 'vipkeeper.web.check.path': '/health' }, [['web', 'web', 80, '']]],
    [
      'unnamed labels are defaults for every named definition; the named one wins',
      { 'vipkeeper.host': 'x.example.com', 'vipkeeper.a.port': '1', 'vipkeeper.b.port': '2', 'vipkeeper.b.host': 'b.example.com' },
      [
        ['a', 'a', 1, 'x.example.com'],
        ['b', 'b', 2, 'b.example.com'],
      ],
    ],
  ])('%s', (_what, labels, expected) => {
    expect(shapes(defs(labels))).toEqual(expected);
  });

  it.each<[string, Record<string, string>, string[][]]>([
    ['an upper-case name', { 'vipkeeper.Web.port': '80' }, [['"vipkeeper.Web.port"', 'DEF']]],
    ['a name starting with a digit', { 'vipkeeper.1web.port': '80' }, [['"vipkeeper.1web.port"', 'DEF']]],
    ['a name with an underscore', { 'vipkeeper.my_web.port': '80' }, [['"vipkeeper.my_web.port"', 'DEF']]],
    ['a name ending in -', { 'vipkeeper.web-.port': '80' }, [['"vipkeeper.web-.port"', 'DEF']]],
    ['a name of 33 characters', { [`vipkeeper.${'a'.repeat(33)}.port`]: '80' }, [[`"vipkeeper.${'a'.repeat(33)}.port"`, 'DEF']]],
    ['a reserved word as a name (tls)', { 'vipkeeper.tls.port': '80' }, [['"vipkeeper.tls.port"', 'DEF']]],
    ['a reserved word as a name (host)', { 'vipkeeper.host.port': '80' }, [['"vipkeeper.host.port"', 'DEF']]],
    ['a bad value in a named definition names the named label', { 'vipkeeper.web.port': '99999' }, [['vipkeeper.web.port', LABELS.port.rule]]],
    [
      'an inherited bad value is reported once, under its own name',
      { 'vipkeeper.weight': 'heavy', 'vipkeeper.a.port': '1', 'vipkeeper.b.port': '2' },
      [['vipkeeper.weight', LABELS.weight.rule]],
    ],
    [
      'vipkeeper.port beside named definitions means nothing: refused',
      { 'vipkeeper.port': '80', 'vipkeeper.web.port': '81' },
      [['vipkeeper.port', 'not with named definitions: set vipkeeper.NAME.port on each']],
    ],
  ])('refused: %s', (_what, labels, expected) => {
    const rule = (r: string) => (r === 'DEF' ? expect.stringContaining('a definition name') : r);
    expect(defProblems(defs(labels))).toEqual(expected.map(([l, r]) => [l, rule(r!)]));
  });

  it('a named key with an unknown setting is an unknown label, with a hint', () => {
    const r = defs({ 'vipkeeper.web.prot': '80' });
    expect(r.ok && r.unknown).toEqual([{ label: 'vipkeeper.web.prot', closest: null }]);
    const typo = defs({ 'vipkeeper.prot': '80' });
    expect(typo.ok && typo.unknown).toEqual([{ label: 'vipkeeper.prot', closest: 'vipkeeper.port' }]);
  });
});

describe('parseDefinitions: VIPKEEPER_LABEL_PREFIX', () => {
  it('reads labels under the configured prefix, and only those', () => {
    expect(shapes(defs({ 'lb.port': '8080', 'vipkeeper.port': '1' }, { prefix: 'lb' }))).toEqual([[null, 'apps', 8080, '']]);
    expect(shapes(defs({ 'com.example.lb.web.port': '80' }, { prefix: 'com.example.lb' }))).toEqual([['web', 'web', 80, '']]);
  });

  it('warnings name the label as the container spells it', () => {
    expect(defProblems(defs({ 'lb.port': 'x' }, { prefix: 'lb' }))).toEqual([['lb.port', LABELS.port.rule]]);
    expect(defProblems(defs({ 'lb.web.port': 'x' }, { prefix: 'lb' }))).toEqual([['lb.web.port', LABELS.port.rule]]);
    const typo = defs({ 'lb.prot': '80' }, { prefix: 'lb' });
    expect(typo.ok && typo.unknown).toEqual([{ label: 'lb.prot', closest: 'lb.port' }]);
    expect(defProblems(defs({ 'lb.mode': 'tcp', 'lb.host': 'a.example.com' }, { prefix: 'lb' }))).toEqual([['lb.host', 'only with lb.mode=http']]);
  });
});

describe('nginxProxyLabels: nginx-proxy variables as labels', () => {
  const labelsOf = (env: Record<string, string>, exposed: number[] = [80]) => nginxProxyLabels(env, exposed).labels;

  it.each<[string, Record<string, string>, Record<string, string>]>([
    [
      'VIRTUAL_HOST alone: host, a service per host, nginx-proxy defaults (redirect and a year of HSTS)',
      { VIRTUAL_HOST: 'app.example.com' },
      { 'vipkeeper.host': 'app.example.com', 'vipkeeper.service': 'app_example_com', 'vipkeeper.tls.redirect': 'true', 'vipkeeper.tls.hsts': '31536000' },
    ],
    [
      'a comma list (spaces trimmed) is one service for all the names',
      { VIRTUAL_HOST: 'a.example.com, b.example.com', HTTPS_METHOD: 'noredirect' },
      { 'vipkeeper.host': 'a.example.com,b.example.com', 'vipkeeper.service': expect.stringMatching(/^a_example_com_[0-9a-f]{8}$/) as unknown as string },
    ],
    ['VIRTUAL_PORT and VIRTUAL_PATH', { VIRTUAL_HOST: 'a.example.com', VIRTUAL_PORT: '8080', VIRTUAL_PATH: '/api', HTTPS_METHOD: 'noredirect' }, {
      'vipkeeper.host': 'a.example.com',
      'vipkeeper.service': expect.stringMatching(/^a_example_com_[0-9a-f]{8}$/) as unknown as string,
      'vipkeeper.port': '8080',
      'vipkeeper.path': '/api',
    }],
    ['HTTPS_METHOD=nohttps: no HTTPS, no HSTS', { VIRTUAL_HOST: 'a.example.com', HTTPS_METHOD: 'nohttps' }, { 'vipkeeper.host': 'a.example.com', 'vipkeeper.service': 'a_example_com', 'vipkeeper.tls': 'false' }],
    ['HSTS=off', { VIRTUAL_HOST: 'a.example.com', HSTS: 'off' }, { 'vipkeeper.host': 'a.example.com', 'vipkeeper.service': 'a_example_com', 'vipkeeper.tls.redirect': 'true' }],
    ['HSTS=max-age=600', { VIRTUAL_HOST: 'a.example.com', HSTS: 'max-age=600' }, { 'vipkeeper.host': 'a.example.com', 'vipkeeper.service': 'a_example_com', 'vipkeeper.tls.redirect': 'true', 'vipkeeper.tls.hsts': '600' }],
    ['VIRTUAL_PROTO=http and NETWORK_ACCESS=external change nothing', { VIRTUAL_HOST: 'a.example.com', VIRTUAL_PROTO: 'http', NETWORK_ACCESS: 'external', HTTPS_METHOD: 'noredirect' }, { 'vipkeeper.host': 'a.example.com', 'vipkeeper.service': 'a_example_com' }],
  ])('%s', (_what, env, expected) => {
    expect(labelsOf(env)).toEqual(expected);
  });

  it('several exposed ports and no VIRTUAL_PORT: port 80, as nginx-proxy picks', () => {
    expect(labelsOf({ VIRTUAL_HOST: 'a.example.com' }, [80, 443])['vipkeeper.port']).toBe('80');
    expect(labelsOf({ VIRTUAL_HOST: 'a.example.com' }, [8080, 9090])['vipkeeper.port']).toBeUndefined();
  });

  it.each<[string, Record<string, string>, string]>([
    ['VIRTUAL_PROTO=https', { VIRTUAL_PROTO: 'https' }, 'VIRTUAL_PROTO'],
    ['VIRTUAL_PROTO=uwsgi', { VIRTUAL_PROTO: 'uwsgi' }, 'VIRTUAL_PROTO'],
    ['VIRTUAL_DEST (path rewriting)', { VIRTUAL_DEST: '/' }, 'VIRTUAL_DEST'],
    ['NETWORK_ACCESS=internal (would open it to everyone)', { NETWORK_ACCESS: 'internal' }, 'NETWORK_ACCESS'],
    ['HTTPS_METHOD=nohttp', { HTTPS_METHOD: 'nohttp' }, 'HTTPS_METHOD'],
    ['HTTPS_METHOD in another case', { HTTPS_METHOD: 'Redirect' }, 'HTTPS_METHOD'],
    ['HSTS with includeSubDomains', { HSTS: 'max-age=31536000; includeSubDomains; preload' }, 'HSTS'],
  ])('unsupported: %s is refused, naming the variable', (_what, env, variable) => {
    const r = nginxProxyLabels({ VIRTUAL_HOST: 'a.example.com', ...env }, [80]);
    expect(r.problems.map((p) => [p.label, p.source])).toEqual([[variable, 'env']]);
  });

  it('CERT_NAME is read but ignored, with a notice', () => {
    expect(nginxProxyLabels({ VIRTUAL_HOST: 'a.example.com', CERT_NAME: 'shared' }, [80]).notices).toEqual([expect.stringContaining('CERT_NAME is ignored')]);
  });

  it('only the compat variables are ever kept from an environment (secrets are not)', () => {
    expect(pickCompatVariables(['VIRTUAL_HOST=a.example.com', 'DB_PASSWORD=hunter2', 'PATH=/bin', 'VIRTUAL_PORT=8080=x', 'BROKEN'])).toEqual({
      VIRTUAL_HOST: 'a.example.com',
      VIRTUAL_PORT: '8080=x',
    });
    expect(pickCompatVariables(null)).toEqual({});
  });

  it.each([
    [['a.example.com'], ''],
    [['a.example.com', 'b.example.com'], ''],
    [['a.example.com'], '/api'],
    [[`${'x'.repeat(60)}.example.com`], ''],
    [[`${'x'.repeat(60)}.example.com`], '/p'],
    [['a-.b'.replace('-.', '.')], ''],
  ])('the derived service name is a valid identifier: %j %s', (hosts, path) => {
    expect(serviceNameFor(hosts, path)).toMatch(IDENTIFIER);
  });
});

describe('parseDefinitions: nginx-proxy variables beside labels', () => {
  const implied = (env: Record<string, string>) => nginxProxyLabels(env, [80]);

  it('a label always wins over a variable', () => {
    const r = defs({ 'vipkeeper.port': '9000', 'vipkeeper.service': 'mine' }, { implied: implied({ VIRTUAL_HOST: 'a.example.com', VIRTUAL_PORT: '8080' }) });
    expect(shapes(r)).toEqual([[null, 'mine', 9000, 'a.example.com']]);
  });

  it.each<[string, Record<string, string>, string[][]]>([
    ['VIRTUAL_PORT out of range', { VIRTUAL_HOST: 'a.example.com', VIRTUAL_PORT: '70000' }, [['VIRTUAL_PORT', LABELS.port.rule]]],
    ['VIRTUAL_HOST with a wildcard', { VIRTUAL_HOST: '*.example.com' }, [['VIRTUAL_HOST', LABELS.host.rule]]],
    ['VIRTUAL_HOST as a regular expression', { VIRTUAL_HOST: '~^app\\..*$' }, [['VIRTUAL_HOST', LABELS.host.rule]]],
    ['VIRTUAL_HOST in upper case', { VIRTUAL_HOST: 'App.example.com' }, [['VIRTUAL_HOST', LABELS.host.rule]]],
    ['VIRTUAL_PATH as a regular expression', { VIRTUAL_HOST: 'a.example.com', VIRTUAL_PATH: '~^/api' }, [['VIRTUAL_PATH', LABELS.path.rule]]],
  ])('refused the way the label is: %s', (_what, env, expected) => {
    const r = defs({}, { implied: implied(env) });
    expect(defProblems(r)).toEqual(expected);
    if (!r.ok) expect(r.problems.every((p) => p.source === 'env')).toBe(true);
  });

  it('a bad variable a label overrides is not read at all', () => {
    expect(shapes(defs({ 'vipkeeper.port': '80' }, { implied: implied({ VIRTUAL_HOST: 'a.example.com', VIRTUAL_PORT: 'eighty' }) }))).toEqual([[null, 'a_example_com', 80, 'a.example.com']]);
  });

  it('with named definitions the variables are ignored, with a notice', () => {
    const r = defs({ 'vipkeeper.web.port': '80' }, { implied: implied({ VIRTUAL_HOST: 'a.example.com' }) });
    expect(shapes(r)).toEqual([['web', 'web', 80, '']]);
    expect(r.ok && r.notices).toEqual([expect.stringContaining('nginx-proxy variables (VIRTUAL_HOST, HTTPS_METHOD, HSTS) are ignored')]);
  });
});
