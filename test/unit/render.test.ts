import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Config, parseEnvironment } from '../../src/config/env.js';
import { type DockerInspect, mapContainer } from '../../src/docker/map-container.js';
import { TemplateError } from '../../src/errors.js';
import type { ContainerInfo } from '../../src/model/container.js';
import { buildDesiredState } from '../../src/model/desired-state.js';
import { BUILTIN_TEMPLATES_DIR, loadTemplates } from '../../src/render/load-templates.js';
import { renderConfigs } from '../../src/render/render-configs.js';
import { binding, container, FACTS, idFor, MINIMAL_ENV, SETTINGS, shuffled } from './fixtures.js';

const builtin = await loadTemplates(null);

const configFor = (env: Record<string, string> = {}): Config => parseEnvironment({ ...MINIMAL_ENV, ...env }, FACTS).config;
const CONFIG = configFor();

const render = (containers: readonly ContainerInfo[], config: Config = CONFIG, templates = builtin) =>
  renderConfigs(config, buildDesiredState(containers, config), templates);

/** A backend container published on 0.0.0.0:hostPort. */
const app = (name: string, hostPort: number, labels: Record<string, string> = {}, created = 1000) =>
  container({ name, created, bindings: [binding(80, hostPort)], extraLabels: labels });

/** The lines of the section that starts with `header`, up to the next blank line. */
function section(text: string, header: string): string[] {
  const lines = text.split('\n');
  const start = lines.indexOf(header);
  if (start < 0) throw new Error(`no line ${JSON.stringify(header)} in:\n${text}`);
  const end = lines.indexOf('', start);
  return lines.slice(start, end < 0 ? undefined : end);
}

const FLEET: ContainerInfo[] = [
  app('plain-1', 32001),
  app('plain-2', 32002, { 'vipkeeper.weight': '7', 'vipkeeper.maxconn': '50' }),
  app('both-1', 32003, { 'vipkeeper.service': 'c-both', 'vipkeeper.host': 'a.example.com', 'vipkeeper.path': '/api' }),
  app('host-1', 32004, { 'vipkeeper.service': 'b-host', 'vipkeeper.host': 'a.example.com' }),
  app('multi-1', 32005, { 'vipkeeper.service': 'd-multi', 'vipkeeper.host': 'x.example.com,w.example.com' }),
  app('path-1', 32006, { 'vipkeeper.service': 'a-path', 'vipkeeper.path': '/static' }),
  app('longpath-1', 32007, { 'vipkeeper.service': 'a-longpath', 'vipkeeper.path': '/static/img' }),
  app('db-1', 32008, { 'vipkeeper.service': 'db', 'vipkeeper.mode': 'tcp', 'vipkeeper.frontend.port': '5432', 'vipkeeper.check': 'false' }),
  app('checked-1', 32009, {
    'vipkeeper.service': 'checked',
    'vipkeeper.frontend.port': '8080',
    'vipkeeper.check.path': '/healthz?deep=1',
    'vipkeeper.check.interval': '5s',
    'vipkeeper.check.rise': '3',
    'vipkeeper.check.fall': '4',
  }),
  app('checked-2', 32010, {
    'vipkeeper.service': 'checked',
    'vipkeeper.frontend.port': '8080',
    'vipkeeper.check.path': '/healthz?deep=1',
    'vipkeeper.check.interval': '5s',
    'vipkeeper.check.rise': '3',
    'vipkeeper.check.fall': '4',
  }),
];

describe('renderConfigs: deterministic bytes', () => {
  const first = render(FLEET);

  it('rendering twice gives identical bytes', () => {
    expect(render(FLEET)).toEqual(first);
  });

  it.each([
    ['reversed', [...FLEET].reverse()],
    ['shuffled (seed 1)', shuffled(FLEET, 1)],
    ['shuffled (seed 9)', shuffled(FLEET, 9)],
  ])('%s containers give identical bytes', (_what, input) => {
    const again = render(input);
    expect(again.haproxyCfg).toBe(first.haproxyCfg);
    expect(again.keepalivedConf).toBe(first.keepalivedConf);
  });

  it('the same environment with variables in another order gives identical keepalived.conf', () => {
    const env = { VIPKEEPER_PRIORITY: '120', VIPKEEPER_UNICAST_PEERS: '192.0.2.8 192.0.2.9', VIPKEEPER_AUTH_PASS: 'pw-12345' };
    const reversed = Object.fromEntries(Object.entries(env).reverse());
    expect(render([], configFor(reversed)).keepalivedConf).toBe(render([], configFor(env)).keepalivedConf);
  });
});

describe('renderConfigs: haproxy.cfg', () => {
  const cfg = render(FLEET).haproxyCfg;
  const lines = cfg.split('\n');

  it('starts with the do-not-edit header and the admin socket in the run dir', () => {
    expect(lines[0]).toMatch(/^# Rendered by vipkeeper .*Do not edit/);
    expect(cfg).toContain('    stats socket /run/vipkeeper/haproxy.sock mode 600 level admin expose-fd listeners maxconn 32 backlog 256\n');
    expect(render([], configFor({ VIPKEEPER_RUN_DIR: '/var/run/vk' })).haproxyCfg).toContain('stats socket /var/run/vk/haproxy.sock ');
  });

  it('has one frontend per port, in port order', () => {
    expect(lines.filter((l) => l.startsWith('frontend '))).toEqual(['frontend fe_80', 'frontend fe_5432', 'frontend fe_8080']);
    expect(lines.filter((l) => l.includes('bind '))).toEqual(['    bind :80', '    bind :5432', '    bind :8080']);
  });

  it('has one backend per service, in name order', () => {
    expect(lines.filter((l) => l.startsWith('backend '))).toEqual([
      'backend be_a-longpath',
      'backend be_a-path',
      'backend be_apps',
      'backend be_b-host',
      'backend be_c-both',
      'backend be_checked',
      'backend be_d-multi',
      'backend be_db',
    ]);
  });

  it('routes host+path first, then host, then path (longest first), then the default backend', () => {
    expect(section(cfg, 'frontend fe_80')).toEqual([
      'frontend fe_80',
      '    bind :80',
      '    mode http',
      '    option httplog',
      '    # Replay only idempotent requests on another server when one dies mid-request (L7 retries).',
      '    http-request disable-l7-retry unless METH_GET || METH_HEAD || METH_OPTIONS || { method PUT DELETE }',
      '    use_backend be_c-both if { hdr(host),field(1,:) -i a.example.com } { path_beg /api }',
      '    use_backend be_b-host if { hdr(host),field(1,:) -i a.example.com }',
      '    use_backend be_d-multi if { hdr(host),field(1,:) -i w.example.com x.example.com }',
      '    use_backend be_a-longpath if { path_beg /static/img }',
      '    use_backend be_a-path if { path_beg /static }',
      '    default_backend be_apps',
    ]);
  });

  it.each([
    ['tcp', 'frontend fe_5432', ['frontend fe_5432', '    bind :5432', '    mode tcp', '    option tcplog', '    default_backend be_db']],
    ['a single http service', 'frontend fe_8080', ['frontend fe_8080', '    bind :8080', '    mode http', '    option httplog', '    # Replay only idempotent requests on another server when one dies mid-request (L7 retries).', '    http-request disable-l7-retry unless METH_GET || METH_HEAD || METH_OPTIONS || { method PUT DELETE }', '    default_backend be_checked']],
  ])('a frontend for %s', (_what, header, expected) => {
    expect(section(cfg, header)).toEqual(expected);
  });

  it('a port with only ruled services has no default_backend', () => {
    const only = render([app('web', 32001, { 'vipkeeper.service': 'web', 'vipkeeper.host': 'a.example.com' })]).haproxyCfg;
    expect(section(only, 'frontend fe_80')).toEqual([
      'frontend fe_80',
      '    bind :80',
      '    mode http',
      '    option httplog',
      '    # Replay only idempotent requests on another server when one dies mid-request (L7 retries).',
      '    http-request disable-l7-retry unless METH_GET || METH_HEAD || METH_OPTIONS || { method PUT DELETE }',
      '    use_backend be_web if { hdr(host),field(1,:) -i a.example.com }',
    ]);
  });

  it.each([
    ['default checks', 'backend be_apps', [
      'backend be_apps',
      '    mode http',
      '    balance roundrobin',
      '    http-request add-header X-Forwarded-For %[src,regsub(^::ffff:,)]',
      '    http-request set-header X-Forwarded-Proto %[ssl_fc,iif(https,http)]',
      '    http-request set-header X-Forwarded-Host %[req.hdr(host)] if { req.hdr(host) -m found }',
      '    server plain-1 127.0.0.1:32001 check inter 2s fastinter 250ms downinter 250ms rise 2 fall 5 weight 100',
      '    server plain-2 127.0.0.1:32002 check inter 2s fastinter 250ms downinter 250ms rise 2 fall 5 weight 7 maxconn 50',
    ]],
    ['check.path and check timing', 'backend be_checked', [
      'backend be_checked',
      '    mode http',
      '    balance roundrobin',
      '    option httpchk',
      '    http-check send meth GET uri /healthz?deep=1',
      '    http-check expect status 200-399',
      '    http-request add-header X-Forwarded-For %[src,regsub(^::ffff:,)]',
      '    http-request set-header X-Forwarded-Proto %[ssl_fc,iif(https,http)]',
      '    http-request set-header X-Forwarded-Host %[req.hdr(host)] if { req.hdr(host) -m found }',
      '    server checked-1 127.0.0.1:32009 check inter 5s fastinter 250ms downinter 250ms rise 3 fall 4 weight 100',
      '    server checked-2 127.0.0.1:32010 check inter 5s fastinter 250ms downinter 250ms rise 3 fall 4 weight 100',
    ]],
    ['tcp without checks', 'backend be_db', [
      'backend be_db',
      '    mode tcp',
      '    balance roundrobin',
      '    server db-1 127.0.0.1:32008 weight 100',
    ]],
  ])('a backend with %s', (_what, header, expected) => {
    expect(section(cfg, header)).toEqual(expected);
  });

  it.each([
    ['check=false drops the check options', { 'vipkeeper.check': 'false' }, '    server web 127.0.0.1:32001 weight 100'],
    ['check=false with check.path drops the http check too', { 'vipkeeper.check': 'false', 'vipkeeper.check.path': '/h' }, '    server web 127.0.0.1:32001 weight 100'],
    ['balance leastconn', { 'vipkeeper.balance': 'leastconn' }, '    balance leastconn'],
    ['a check interval of 250ms or less needs no fastinter/downinter', { 'vipkeeper.check.interval': '250ms' }, '    server web 127.0.0.1:32001 check inter 250ms rise 2 fall 5 weight 100'],
    ['weight 0', { 'vipkeeper.weight': '0' }, '    server web 127.0.0.1:32001 check inter 2s fastinter 250ms downinter 250ms rise 2 fall 5 weight 0'],
  ])('%s', (_what, labels, line) => {
    const out = render([app('web', 32001, labels)]).haproxyCfg;
    expect(out.split('\n')).toContain(line);
    expect(out).not.toContain('httpchk');
  });

  const FORWARDED_LINES = [
    '    http-request add-header X-Forwarded-For %[src,regsub(^::ffff:,)]',
    '    http-request set-header X-Forwarded-Proto %[ssl_fc,iif(https,http)]',
    '    http-request set-header X-Forwarded-Host %[req.hdr(host)] if { req.hdr(host) -m found }',
  ];

  it('an empty default service still gets a frontend and an empty backend', () => {
    const out = render([]).haproxyCfg;
    expect(section(out, 'frontend fe_80')).toContain('    default_backend be_apps');
    expect(section(out, 'backend be_apps')).toEqual(['backend be_apps', '    mode http', '    balance roundrobin', ...FORWARDED_LINES]);
  });

  it('skipped containers (hostile labels) leave no trace in the file', () => {
    const out = render([app('good', 32001), app('evil', 32002, { 'vipkeeper.check.path': '/x\n    server evil 203.0.113.9:80' })]).haproxyCfg;
    expect(out).not.toContain('evil');
    expect(out).not.toContain('203.0.113.9');
  });

  it('every line is printable ASCII and the file ends with a newline', () => {
    expect(cfg).toMatch(/^[\x20-\x7e\n]*\n$/);
  });

  it("HAProxy's own Prometheus exporter: no frontend for it by default; with VIPKEEPER_HAPROXY_METRICS_ADDR one that serves only /metrics, accepted by the real haproxy -c", () => {
    expect(cfg).not.toContain('prometheus-exporter');
    const on = render(FLEET, configFor({ VIPKEEPER_HAPROXY_METRICS_ADDR: '127.0.0.1:9101' })).haproxyCfg;
    expect(section(on, 'frontend fe_haproxy_metrics')).toEqual([
      'frontend fe_haproxy_metrics',
      '    bind 127.0.0.1:9101',
      '    mode http',
      '    no log',
      '    http-request use-service prometheus-exporter if { path /metrics }',
      '    http-request return status 404',
    ]);
    const dir = mkdtempSync(join(tmpdir(), 'vipkeeper-metrics-'));
    try {
      // The admin socket's directory must exist for -c; the rest is the rendered file as is.
      const file = join(dir, 'haproxy.cfg');
      writeFileSync(file, on.replace(/stats socket \S+/, `stats socket ${join(dir, 'admin.sock')}`));
      const check = spawnSync('haproxy', ['-c', '-f', file], { encoding: 'utf8' });
      expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('renderConfigs: keepalived.conf', () => {
  const conf = (env: Record<string, string> = {}) => render([], configFor(env)).keepalivedConf;
  const linesOf = (text: string) => text.split('\n').map((l) => l.trim());

  it.each<[string, Record<string, string>, string[], RegExp[]]>([
    [
      'defaults',
      {},
      [
        'router_id lb1',
        'vrrp_instance vipkeeper_51 {',
        'state BACKUP',
        'interface eth1',
        'virtual_router_id 51',
        'priority 100',
        'advert_int 1',
        'version 2',
        'nopreempt',
        '198.18.0.10/24 dev eth1',
        'vrrp_track_process vipkeeper_haproxy {',
        'process haproxy -W -db -S /run/vipkeeper/haproxy-master.sock,mode,600 -f /etc/vipkeeper/haproxy.cfg',
        'param_match initial',
        'track_file vipkeeper_fault {',
        'vrrp_script vipkeeper_listener {',
        'script "/bin/sh -c \'ss -Hltn \\"sport = :80\\" | grep -q .\'"',
        'file /run/vipkeeper/drill-fault',
        'notify_fifo /run/vipkeeper/keepalived.fifo',
        'track_process {',
        'vipkeeper_haproxy',
      ],
      [/authentication/, /auth_pass/, /unicast_peer/],
    ],
    [
      'everything set',
      {
        VIPKEEPER_ROUTER_ID: 'edge-a',
        VIPKEEPER_STATE: 'MASTER',
        VIPKEEPER_NOPREEMPT: 'false',
        VIPKEEPER_INTERFACE: 'bond0',
        VIPKEEPER_VIRTUAL_ROUTER_ID: '7',
        VIPKEEPER_PRIORITY: '150',
        VIPKEEPER_VRRP_VERSION: '3',
        VIPKEEPER_ADVERT_INT: '0.5',
      },
      ['router_id edge-a', 'vrrp_instance vipkeeper_7 {', 'state MASTER', 'interface bond0', 'virtual_router_id 7', 'priority 150', 'advert_int 0.5', 'version 3', '198.18.0.10/24 dev bond0'],
      [/^\s*nopreempt$/m, /authentication/],
    ],
    [
      'nopreempt false',
      { VIPKEEPER_NOPREEMPT: 'false' },
      ['state BACKUP'],
      [/^\s*nopreempt$/m],
    ],
    [
      'a password',
      { VIPKEEPER_AUTH_PASS: 'pw-12345' },
      ['authentication {', 'auth_type PASS', 'auth_pass pw-12345'],
      [/unicast_peer/],
    ],
    [
      'a password longer than 8 characters is written cut to 8 (keepalived -t refuses a longer one)',
      { VIPKEEPER_AUTH_PASS: 'pw-123456789' },
      ['auth_pass pw-12345'],
      [/pw-123456/],
    ],
    [
      'unicast peers (own address dropped)',
      { VIPKEEPER_UNICAST_PEERS: '192.0.2.5,192.0.2.8 192.0.2.9' },
      ['unicast_peer {', '192.0.2.8', '192.0.2.9'],
      [/^\s*192\.0\.2\.5$/m, /authentication/],
    ],
    [
      'only own addresses as peers: multicast',
      { VIPKEEPER_UNICAST_PEERS: '192.0.2.5' },
      [],
      [/unicast_peer/],
    ],
    [
      'two VIPs',
      { VIPKEEPER_VIRTUAL_IPS: '198.18.0.10/24 198.18.0.11/32' },
      ['198.18.0.10/24 dev eth1', '198.18.0.11/32 dev eth1'],
      [],
    ],
  ])('%s', (_what, env, present, absent) => {
    const text = conf(env);
    const lines = linesOf(text);
    for (const line of present) expect(lines, line).toContain(line);
    for (const re of absent) expect(text).not.toMatch(re);
  });

  it('the blocks are laid out as keepalived expects', () => {
    const text = conf({ VIPKEEPER_AUTH_PASS: 'pw-12345', VIPKEEPER_UNICAST_PEERS: '192.0.2.8' });
    expect(section(text, 'vrrp_instance vipkeeper_51 {')).toEqual([
      'vrrp_instance vipkeeper_51 {',
      '    state BACKUP',
      '    interface eth1',
      '    virtual_router_id 51',
      '    priority 100',
      '    advert_int 1',
      '    version 2',
      '    nopreempt',
      '    authentication {',
      '        auth_type PASS',
      '        auth_pass pw-12345',
      '    }',
      '    unicast_peer {',
      '        192.0.2.8',
      '    }',
      '    virtual_ipaddress {',
      '        198.18.0.10/24 dev eth1',
      '    }',
      '    track_process {',
      '        vipkeeper_haproxy',
      '    }',
      '    track_script {',
      '        vipkeeper_listener',
      '    }',
      '    track_file {',
      '        vipkeeper_fault',
      '        vipkeeper_maintenance',
      '    }',
      '}',
    ]);
  });
});

describe('loadTemplates', () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'vipkeeper-templates-'));
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('the built-in templates, printed in the agent\'s realm, print exactly what the sandbox prints', () => {
    // Every feature the templates print: host/path routes, TCP, checks off and on, weights, maxconn; and keepalived's options.
    const config = configFor({ VIPKEEPER_AUTH_PASS: 'secret12', VIPKEEPER_UNICAST_PEERS: '198.18.0.6,198.18.0.7' });
    const inSandbox = {
      'haproxy.cfg.ejs': { ...builtin['haproxy.cfg.ejs'], overridden: true },
      'keepalived.conf.ejs': { ...builtin['keepalived.conf.ejs'], overridden: true },
    };
    const ours = render(FLEET, config);
    const sandboxed = render(FLEET, config, inSandbox);
    expect(ours.haproxyCfg).toBe(sandboxed.haproxyCfg);
    expect(ours.keepalivedConf).toBe(sandboxed.keepalivedConf);
    expect(ours.haproxyCfg).toContain('server checked-2 ');
    expect(ours.keepalivedConf).toContain('198.18.0.7');
  });

  it('built-in templates are not marked overridden', () => {
    expect(builtin['haproxy.cfg.ejs']).toMatchObject({ name: 'haproxy.cfg.ejs', overridden: false, path: join(BUILTIN_TEMPLATES_DIR, 'haproxy.cfg.ejs') });
    expect(builtin['keepalived.conf.ejs']).toMatchObject({ name: 'keepalived.conf.ejs', overridden: false });
  });

  it('a user haproxy.cfg.ejs overrides only that file', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'haproxy.cfg.ejs'), '# custom\n<% for (const fe of frontends) { %>listen <%- fe.name %> <%- fe.bind %>\n<% } %>');
    const templates = await loadTemplates(dir);
    expect(templates['haproxy.cfg.ejs']).toMatchObject({ overridden: true, path: join(dir, 'haproxy.cfg.ejs') });
    expect(templates['keepalived.conf.ejs']).toEqual(builtin['keepalived.conf.ejs']);

    const custom = render(FLEET, CONFIG, templates);
    const standard = render(FLEET);
    expect(custom.haproxyCfg).toBe('# custom\nlisten fe_80 :80\nlisten fe_5432 :5432\nlisten fe_8080 :8080\n');
    expect(custom.keepalivedConf).toBe(standard.keepalivedConf);
  });

  it('a user keepalived.conf.ejs overrides only that file', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'keepalived.conf.ejs'), 'router <%- routerId %> on <%- interface %>\n');
    const templates = await loadTemplates(dir);
    expect(templates['haproxy.cfg.ejs']).toEqual(builtin['haproxy.cfg.ejs']);
    expect(render([], CONFIG, templates).keepalivedConf).toBe('router lb1 on eth1\n');
  });

  it('an empty or missing user directory falls back to the built-in templates', async () => {
    expect(await loadTemplates(tempDir())).toEqual(builtin);
    expect(await loadTemplates(join(tempDir(), 'does-not-exist'))).toEqual(builtin);
  });

  it('a user template that cannot be read is a TemplateError, not a silent fallback', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'haproxy.cfg.ejs')); // a directory where a file should be: EISDIR
    await expect(loadTemplates(dir)).rejects.toBeInstanceOf(TemplateError);
  });

  it.each([
    ['a syntax error', '<% if (x { %>'],
    ['an error while printing', '<%- missing.value %>'],
  ])('a user template with %s is a TemplateError naming its file', async (_what, text) => {
    const dir = tempDir();
    writeFileSync(join(dir, 'haproxy.cfg.ejs'), text);
    const templates = await loadTemplates(dir);
    let caught: unknown;
    try {
      render([], CONFIG, templates);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TemplateError);
    expect((caught as TemplateError).template).toBe(join(dir, 'haproxy.cfg.ejs'));
    expect((caught as TemplateError).code).toBe('E_TEMPLATE');
  });
});

describe('mapContainer', () => {
  const inspect = (overrides: Partial<DockerInspect> = {}): DockerInspect => ({
    Id: idFor('web-1'),
    Name: '/proj-web-1',
    Created: '2024-05-06T07:08:09.123456789Z',
    State: { Running: true, StartedAt: '2026-11-01T10:00:05.5Z', Health: { Status: 'healthy' } },
    Config: {
      Labels: { role: 'apps', 'com.docker.compose.project': 'proj', 'vipkeeper.port': '80' },
      ExposedPorts: { '80/tcp': {}, '443/tcp': {}, '53/udp': {} },
    },
    NetworkSettings: {
      Ports: {
        '80/tcp': [
          { HostIp: '0.0.0.0', HostPort: '32768' },
          { HostIp: '::', HostPort: '32768' },
        ],
        '443/tcp': null,
        '53/udp': [{ HostIp: '0.0.0.0', HostPort: '5353' }],
        '9000/tcp': [{ HostIp: '127.0.0.1', HostPort: '39000' }],
      },
      Networks: {
        proj_default: { IPAddress: '172.20.0.3' },
        backend: { IPAddress: '10.1.0.5' },
      },
    },
    ...overrides,
  });

  it('maps a realistic inspect document', () => {
    expect(mapContainer(inspect())).toEqual({
      id: idFor('web-1'),
      name: 'proj-web-1',
      created: Date.parse('2024-05-06T07:08:09.123Z') / 1000,
      running: true,
      startedAt: Date.parse('2026-11-01T10:00:05.5Z'),
      labels: { role: 'apps', 'com.docker.compose.project': 'proj', 'vipkeeper.port': '80' },
      health: 'healthy',
      exposedTcpPorts: [80, 443, 9000],
      bindings: [
        { privatePort: 80, protocol: 'tcp', hostIp: '0.0.0.0', hostPort: 32768 },
        { privatePort: 80, protocol: 'tcp', hostIp: '::', hostPort: 32768 },
        { privatePort: 53, protocol: 'udp', hostIp: '0.0.0.0', hostPort: 5353 },
        { privatePort: 9000, protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 39000 },
      ],
      networks: [
        { network: 'backend', ip: '10.1.0.5' },
        { network: 'proj_default', ip: '172.20.0.3' },
      ],
    });
  });

  it.each<[string, Partial<DockerInspect>, (c: ContainerInfo) => unknown, unknown]>([
    ['only the leading / is stripped', { Name: '/a/b' }, (c) => c.name, 'a/b'],
    ['a name without / is kept', { Name: 'plain' }, (c) => c.name, 'plain'],
    ['health healthy', { State: { Running: true, Health: { Status: 'healthy' } } }, (c) => c.health, 'healthy'],
    ['health unhealthy', { State: { Running: true, Health: { Status: 'unhealthy' } } }, (c) => c.health, 'unhealthy'],
    ['health starting', { State: { Running: true, Health: { Status: 'starting' } } }, (c) => c.health, 'starting'],
    ['no healthcheck', { State: { Running: true } }, (c) => c.health, 'none'],
    ['health status none', { State: { Running: true, Health: { Status: 'none' } } }, (c) => c.health, 'none'],
    ['an unknown health status', { State: { Running: true, Health: { Status: 'Weird' } } }, (c) => c.health, 'none'],
    ['not running', { State: { Running: false } }, (c) => c.running, false],
    ['an unparsable Created', { Created: 'yesterday' }, (c) => c.created, 0],
    ['Created in whole seconds', { Created: '2024-01-01T00:00:00Z' }, (c) => c.created, 1704067200],
    ['null labels', { Config: { Labels: null, ExposedPorts: null } }, (c) => c.labels, {}],
    ['no compat variables: no env at all', { Config: { Env: ['PATH=/bin', 'SECRET=x'] } }, (c) => c.env, undefined],
    [
      'only the compat variables of the environment are kept, never the rest',
      { Config: { Env: ['PATH=/bin', 'DB_PASSWORD=hunter2', 'VIRTUAL_HOST=a.example.com', 'VIRTUAL_PORT=8080'] } },
      (c) => c.env,
      { VIRTUAL_HOST: 'a.example.com', VIRTUAL_PORT: '8080' },
    ],
    ['no exposed ports and no ports', { Config: {}, NetworkSettings: { Ports: null, Networks: null } }, (c) => [c.exposedTcpPorts, c.bindings, c.networks], [[], [], []]],
    ['a network without an address', { NetworkSettings: { Networks: { host: { IPAddress: '' } } } }, (c) => c.networks, [{ network: 'host', ip: '' }]],
    ['an empty GlobalIPv6Address is no IPv6 address', { NetworkSettings: { Networks: { host: { IPAddress: '', GlobalIPv6Address: '' } } } }, (c) => c.networks, [{ network: 'host', ip: '' }]],
    [
      'a dual-stack network keeps both addresses',
      { NetworkSettings: { Networks: { v6net: { IPAddress: '172.30.0.2', GlobalIPv6Address: '2001:db8:30::2' } } } },
      (c) => c.networks,
      [{ network: 'v6net', ip: '172.30.0.2', ip6: '2001:db8:30::2' }],
    ],
    [
      'bad port keys are ignored',
      { Config: { ExposedPorts: { 'abc/tcp': {}, '70000/tcp': {}, '0/tcp': {}, '80/icmp': {}, '80': {}, ' 81/tcp': {}, '82/tcp': {} } }, NetworkSettings: { Ports: { 'x/tcp': [{ HostIp: '', HostPort: '1' }], '99999/tcp': null } } },
      (c) => [c.exposedTcpPorts, c.bindings],
      [[82], []],
    ],
    [
      'bad host ports are ignored',
      {
        NetworkSettings: {
          Ports: {
            '80/tcp': [
              { HostIp: '0.0.0.0', HostPort: '' },
              { HostIp: '0.0.0.0', HostPort: 'abc' },
              { HostIp: '0.0.0.0', HostPort: '0' },
              { HostIp: '0.0.0.0', HostPort: '70000' },
              { HostIp: '0.0.0.0', HostPort: '8.5' },
              { HostIp: '0.0.0.0', HostPort: '8080' },
            ],
          },
        },
      },
      (c) => c.bindings,
      [{ privatePort: 80, protocol: 'tcp', hostIp: '0.0.0.0', hostPort: 8080 }],
    ],
    ['exposed ports are sorted and listed once', { Config: { ExposedPorts: { '8080/tcp': {}, '80/tcp': {} } }, NetworkSettings: { Ports: { '80/tcp': null, '8080/tcp': null } } }, (c) => c.exposedTcpPorts, [80, 8080]],
  ])('%s', (_what, overrides, get, expected) => {
    expect(get(mapContainer(inspect(overrides)))).toEqual(expected);
  });

  it('the labels are a copy, not the inspect object itself', () => {
    const doc = inspect();
    const mapped = mapContainer(doc);
    expect(mapped.labels).not.toBe(doc.Config.Labels);
  });

  it('a mapped container is served through its published port', () => {
    const state = buildDesiredState([mapContainer(inspect())], SETTINGS);
    expect(state.skipped).toEqual([]);
    expect(state.services[0]!.servers).toEqual([
      { name: 'proj-web-1', containerId: idFor('web-1'), containerName: 'proj-web-1', address: '127.0.0.1', port: 32768, weight: 100, maxconn: null, role: 'active', standby: false },
    ]);
  });
});

describe('keepalived.conf outside the initial network namespace', () => {
  it('drops track_process (it needs the kernel process connector) and keeps the listener check', async () => {
    const { parseEnvironment } = await import('../../src/config/env.js');
    const { renderConfigs } = await import('../../src/render/render-configs.js');
    const { buildDesiredState } = await import('../../src/model/desired-state.js');
    const { loadTemplates } = await import('../../src/render/load-templates.js');
    const { FACTS } = await import('./fixtures.js');
    const { config } = parseEnvironment({ VIPKEEPER_VIRTUAL_IPS: '198.18.0.10/24' }, { ...FACTS, initialNetns: false });
    const text = renderConfigs(config, buildDesiredState([], config), await loadTemplates(null)).keepalivedConf;
    expect(text).not.toContain('track_process');
    expect(text).toContain('track_script {');
  });
});
