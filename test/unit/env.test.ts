import { quoteUntrusted } from '../../src/config/patterns.js';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { type AuthPassFileRead, type Config, DEFAULT_DOCKER_SOCKET, type DirectoryCheck, MOZILLA_INTERMEDIATE_CIPHERS, parseEnvironment } from '../../src/config/env.js';
import { ENV_SPECS } from '../../src/config/env-schema.js';
import { ConfigError } from '../../src/errors.js';
import type { HostFacts } from '../../src/config/host-facts.js';
import { configError, FACTS, facts, MINIMAL_ENV } from './fixtures.js';

type Env = Record<string, string | undefined>;

/** `authPassFile`: what reading VIPKEEPER_AUTH_PASS_FILE gave (the only password file these tests name). */
const parse = (env: Env, authPassFile?: AuthPassFileRead, hostFacts = FACTS) =>
  parseEnvironment({ ...MINIMAL_ENV, ...env }, hostFacts, authPassFile && (() => authPassFile));

const MASK = /^\*{8} \(secret, \d+ characters\)$/;

describe('parseEnvironment: a minimal environment gets every default', () => {
  const { config, warnings } = parseEnvironment(MINIMAL_ENV, FACTS);

  it.each<[keyof Config, unknown]>([
    ['virtualIps', [{ address: '198.18.0.10', prefix: 24 }]],
    ['interface', 'eth1'],
    ['virtualRouterId', 51],
    ['priority', 100],
    ['state', 'BACKUP'],
    ['nopreempt', true],
    ['vrrpVersion', 2],
    ['advertInt', 1],
    ['unicastPeers', []],
    ['authPass', null],
    ['routerId', 'lb1'],
    ['roleLabel', 'role'],
    ['backendRole', 'apps'],
    ['nodeRole', 'load-balancer'],
    ['publishedHost', null],
    ['frontendPort', 80],
    ['httpsPort', 443],
    ['certsDir', '/etc/vipkeeper/certs'],
    ['defaultCert', null],
    ['tlsCiphers', MOZILLA_INTERMEDIATE_CIPHERS],
    ['tlsMinVersion', 'TLSv1.2'],
    ['dockerHost', 'unix:///var/run/docker.sock'],
    ['configDir', '/etc/vipkeeper'],
    ['runDir', '/run/vipkeeper'],
    ['templatesDir', null],
    ['logLevel', 'info'],
  ])('%s defaults to %j', (field, expected) => {
    expect(config[field]).toEqual(expected);
  });

  it('gives no warnings', () => {
    expect(warnings).toEqual([]);
  });
});

describe('parseEnvironment: values that are set are used', () => {
  it.each<[string, string, keyof Config, unknown]>([
    ['VIPKEEPER_INTERFACE', 'bond0.100', 'interface', 'bond0.100'],
    ['VIPKEEPER_INTERFACE', 'eth0', 'interface', 'eth0'],
    ['VIPKEEPER_VIRTUAL_ROUTER_ID', '7', 'virtualRouterId', 7],
    ['VIPKEEPER_PRIORITY', '254', 'priority', 254],
    ['VIPKEEPER_STATE', 'backup', 'state', 'BACKUP'],
    ['VIPKEEPER_NOPREEMPT', 'off', 'nopreempt', false],
    ['VIPKEEPER_NOPREEMPT', 'YES', 'nopreempt', true],
    ['VIPKEEPER_VRRP_VERSION', '3', 'vrrpVersion', 3],
    ['VIPKEEPER_ADVERT_INT', '5', 'advertInt', 5],
    ['VIPKEEPER_ROUTER_ID', 'edge_A.1', 'routerId', 'edge_A.1'],
    ['VIPKEEPER_ROLE_LABEL', 'com.example/tier', 'roleLabel', 'com.example/tier'],
    ['VIPKEEPER_BACKEND_ROLE', 'web.v2', 'backendRole', 'web.v2'],
    ['VIPKEEPER_NODE_ROLE', 'edge', 'nodeRole', 'edge'],
    ['VIPKEEPER_PUBLISHED_HOST', 'Docker-Host.Internal', 'publishedHost', 'docker-host.internal'],
    ['VIPKEEPER_PUBLISHED_HOST', '192.0.2.7', 'publishedHost', '192.0.2.7'],
    ['VIPKEEPER_PUBLISHED_HOST', '2001:DB8:0::7', 'publishedHost', '2001:db8::7'],
    ['VIPKEEPER_FRONTEND_PORT', '8080', 'frontendPort', 8080],
    ['VIPKEEPER_HTTPS_PORT', '8443', 'httpsPort', 8443],
    ['VIPKEEPER_CERTS_DIR', '/srv/certs', 'certsDir', '/srv/certs'],
    ['VIPKEEPER_CONFIG_DIR', '/srv/vk/', 'certsDir', '/srv/vk/certs'],
    ['VIPKEEPER_DEFAULT_CERT', '/run/secrets/default.pem', 'defaultCert', '/run/secrets/default.pem'],
    ['VIPKEEPER_TLS_CIPHERS', 'ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256', 'tlsCiphers', 'ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256'],
    ['VIPKEEPER_TLS_MIN_VERSION', 'tlsv1.3', 'tlsMinVersion', 'TLSv1.3'],
    ['VIPKEEPER_ACME_EMAIL', 'ops@example.com', 'acme', { email: 'ops@example.com', directoryUrl: 'https://acme-v02.api.letsencrypt.org/directory', caFile: null, allHosts: false, retryMinMs: 60_000, backupDelayMs: 60_000 }],
    ['VIPKEEPER_DOCKER_HOST', 'tcp://docker.internal:2375', 'dockerHost', 'tcp://docker.internal:2375'],
    ['VIPKEEPER_CONFIG_DIR', '/srv/vipkeeper/conf', 'configDir', '/srv/vipkeeper/conf'],
    ['VIPKEEPER_RUN_DIR', '/var/run/vk', 'runDir', '/var/run/vk'],
    ['VIPKEEPER_TEMPLATES_DIR', '/etc/vipkeeper/templates', 'templatesDir', '/etc/vipkeeper/templates'],
    ['VIPKEEPER_LOG_LEVEL', 'DEBUG', 'logLevel', 'debug'],
    ['VIPKEEPER_LOG_FORMAT', 'pretty', 'logFormat', 'pretty'],
    ['VIPKEEPER_STATUS_ADDR', '0.0.0.0:9400', 'statusAddr', { host: '0.0.0.0', port: 9400 }],
    ['VIPKEEPER_HAPROXY_METRICS_ADDR', '0.0.0.0:9101', 'haproxyMetricsAddr', { host: '0.0.0.0', port: 9101 }],
  ])('%s=%j -> %s %j', (variable, value, field, expected) => {
    expect(parse({ [variable]: value }).config[field]).toEqual(expected);
  });

  it.each([
    ['a trailing newline', 'eth0\n'],
    ['leading and trailing spaces', '  eth0  '],
    ['a tab', '\teth0'],
  ])('surrounding whitespace (%s) is trimmed before the rule applies', (_what, value) => {
    expect(parse({ VIPKEEPER_INTERFACE: value }).config.interface).toBe('eth0');
  });

  it.each([
    ['VIPKEEPER_PRIORITY', '', 'priority', 100],
    ['VIPKEEPER_INTERFACE', '   ', 'interface', 'eth1'],
    ['VIPKEEPER_LOG_LEVEL', '', 'logLevel', 'info'],
  ] as const)('an empty %s means "unset": default', (variable, value, field, expected) => {
    expect(parse({ [variable]: value }).config[field]).toEqual(expected);
  });
});

describe('parseEnvironment: interface default', () => {
  it.each([
    { why: 'the VIP is in the subnet of eth1', vips: '198.18.0.10/24', hostFacts: FACTS, expected: 'eth1' },
    { why: 'the VIP is in the subnet of eth0', vips: '192.0.2.200/24', hostFacts: FACTS, expected: 'eth0' },
    { why: 'only the FIRST VIP decides', vips: '192.0.2.200/24,198.18.0.10/24', hostFacts: FACTS, expected: 'eth0' },
    { why: 'no subnet holds the VIP: the default route', vips: '203.0.113.10/24', hostFacts: facts({ defaultInterface: 'bond0' }), expected: 'bond0' },
  ])('$why -> $expected', ({ vips, hostFacts, expected }) => {
    expect(parseEnvironment({ VIPKEEPER_VIRTUAL_IPS: vips }, hostFacts).config.interface).toBe(expected);
  });

  it('an explicit VIPKEEPER_INTERFACE wins over the subnet match', () => {
    expect(parse({ VIPKEEPER_INTERFACE: 'eth0' }).config.interface).toBe('eth0');
  });

  it.each<[string, string, HostFacts, string]>([
    ['a typo of an existing one', 'eth2', FACTS, 'no interface eth2 in this network namespace; did you mean eth0?'],
    ['none near it: the host\'s interfaces are listed', 'wlan0', FACTS, 'no interface wlan0 in this network namespace (it has: bond0, bond0.100, eth0, eth1, lo)'],
    [
      'many interfaces: only the first few are listed',
      'uplink',
      facts({ interfaces: Array.from({ length: 300 }, (_, i) => ({ name: `veth${String(i).padStart(4, '0')}`, addresses: [] })) }),
      'no interface uplink in this network namespace (it has: veth0000, veth0001, veth0002, veth0003, veth0004, veth0005, veth0006, veth0007, ... 300 in all)',
    ],
  ])('an explicit VIPKEEPER_INTERFACE that does not exist is a ConfigError (exit 2), not a keepalived -t refusal: %s', (_what, iface, hostFacts, rule) => {
    const err = configError(() => parse({ VIPKEEPER_INTERFACE: iface }, undefined, hostFacts));
    expect(err.problems).toEqual([{ variable: 'VIPKEEPER_INTERFACE', shownValue: quoteUntrusted(iface, 80), rule }]);
  });

  it("HAProxy's metrics are off by default; on the status address's port, or not IPv4:port, they are refused", () => {
    expect(parse({}).config.haproxyMetricsAddr).toBeNull();
    const err = configError(() => parse({ VIPKEEPER_HAPROXY_METRICS_ADDR: '127.0.0.1:9321' }));
    expect(err.problems).toEqual([{ variable: 'VIPKEEPER_HAPROXY_METRICS_ADDR', shownValue: '127.0.0.1:9321', rule: expect.stringContaining('VIPKEEPER_STATUS_ADDR') }]);
    for (const bad of ['9101', 'localhost:9101', '127.0.0.1:0', '127.0.0.1:9101 bind :80', '[::1]:9101']) {
      expect(configError(() => parse({ VIPKEEPER_HAPROXY_METRICS_ADDR: bad })).problems.map((p) => p.variable)).toEqual(['VIPKEEPER_HAPROXY_METRICS_ADDR']);
    }
  });

  it('a missing interface is listed with every other bad variable in one ConfigError', () => {
    const err = configError(() => parse({ VIPKEEPER_INTERFACE: 'eth9', VIPKEEPER_PRIORITY: '999' }));
    expect(err.problems.map((p) => p.variable).sort()).toEqual(['VIPKEEPER_INTERFACE', 'VIPKEEPER_PRIORITY']);
  });

  it.each([
    ['an interface with no address (up or down) exists too', 'bond0.100'],
    ['the loopback', 'lo'],
  ])('%s: %s is accepted', (_what, iface) => {
    expect(parse({ VIPKEEPER_INTERFACE: iface }).config.interface).toBe(iface);
  });

  it('nothing known about the interfaces (an empty list): the name is not checked', () => {
    expect(parse({ VIPKEEPER_INTERFACE: 'eth7' }, undefined, facts({ interfaces: [] })).config.interface).toBe('eth7');
  });

  it('no subnet holds the VIP and there is no default route: a problem naming VIPKEEPER_INTERFACE', () => {
    const err = configError(() => parseEnvironment({ VIPKEEPER_VIRTUAL_IPS: '203.0.113.10/24' }, facts({ defaultInterface: null })));
    expect(err.problems).toEqual([
      { variable: 'VIPKEEPER_INTERFACE', shownValue: '(unset)', rule: expect.stringContaining('203.0.113.10') },
    ]);
  });
});

describe('parseEnvironment: router id default from the hostname', () => {
  it.each([
    ['lb1.example.net', 'lb1'],
    ['node-7', 'node-7'],
    ['LB_2.corp', 'LB_2'],
  ])('hostname %j -> router_id %j', (hostname, expected) => {
    expect(parse({}, undefined, facts({ hostname })).config.routerId).toBe(expected);
  });

  it.each(['-bad.example', '', 'héllo', 'a b'])('hostname %j is not a router id: a problem naming VIPKEEPER_ROUTER_ID', (hostname) => {
    const err = configError(() => parse({}, undefined, facts({ hostname })));
    expect(err.problems).toEqual([
      { variable: 'VIPKEEPER_ROUTER_ID', shownValue: '(unset)', rule: expect.stringContaining(quoteUntrusted(hostname)) },
    ]);
  });

  it('an explicit VIPKEEPER_ROUTER_ID needs no valid hostname', () => {
    expect(parse({ VIPKEEPER_ROUTER_ID: 'edge-a' }, undefined, facts({ hostname: '-bad' })).config.routerId).toBe('edge-a');
  });
});

describe('parseEnvironment: node role', () => {
  it.each<[string, string | undefined, string | null]>([
    ['unset', undefined, 'load-balancer'],
    ['empty', '', null],
    ['blank', '   ', null],
    ['set', 'edge', 'edge'],
  ])('VIPKEEPER_NODE_ROLE %s -> %j', (_what, value, expected) => {
    expect(parse({ VIPKEEPER_NODE_ROLE: value }).config.nodeRole).toBe(expected);
  });
});

describe('parseEnvironment: Docker endpoint', () => {
  it.each<[string, Env, string]>([
    ['neither set: the default socket', {}, DEFAULT_DOCKER_SOCKET],
    ['DOCKER_HOST only', { DOCKER_HOST: 'tcp://docker:2375' }, 'tcp://docker:2375'],
    ['DOCKER_HOST blank: the default socket', { DOCKER_HOST: '  ' }, DEFAULT_DOCKER_SOCKET],
    ['VIPKEEPER_DOCKER_HOST wins over DOCKER_HOST', { DOCKER_HOST: 'tcp://docker:2375', VIPKEEPER_DOCKER_HOST: 'unix:///run/docker.sock' }, 'unix:///run/docker.sock'],
    ['an invalid DOCKER_HOST is not looked at when VIPKEEPER_DOCKER_HOST is set', { DOCKER_HOST: 'ssh://x', VIPKEEPER_DOCKER_HOST: 'unix:///run/docker.sock' }, 'unix:///run/docker.sock'],
  ])('%s', (_what, env, expected) => {
    expect(parse(env).config.dockerHost).toBe(expected);
  });

  it('an invalid DOCKER_HOST fallback is a problem naming DOCKER_HOST', () => {
    const err = configError(() => parse({ DOCKER_HOST: 'ssh://user@host' }));
    expect(err.problems).toEqual([
      { variable: 'DOCKER_HOST', shownValue: '"ssh://user@host"', rule: expect.stringContaining('must be unix:///path') },
    ]);
  });
});

describe('parseEnvironment: lists', () => {
  const twoVips = [
    { address: '198.18.0.10', prefix: 24 },
    { address: '198.18.0.11', prefix: 32 },
  ];
  it.each([
    ['commas', '198.18.0.10/24,198.18.0.11/32'],
    ['spaces', '198.18.0.10/24 198.18.0.11/32'],
    ['comma and space', '198.18.0.10/24, 198.18.0.11/32'],
    ['runs of separators and padding', '  198.18.0.10/24 ,, \t198.18.0.11/32 , '],
    ['newlines', '198.18.0.10/24\n198.18.0.11/32'],
  ])('VIPKEEPER_VIRTUAL_IPS separated by %s', (_what, value) => {
    expect(parse({ VIPKEEPER_VIRTUAL_IPS: value }).config.virtualIps).toEqual(twoVips);
  });

  it.each([
    ['separated by commas and spaces', '192.0.2.8,192.0.2.9 192.0.2.10', ['192.0.2.8', '192.0.2.9', '192.0.2.10']],
    ["this host's own address is dropped", '192.0.2.5,192.0.2.8', ['192.0.2.8']],
    ['own addresses on every interface are dropped', '127.0.0.1 198.18.0.5 192.0.2.5 192.0.2.8', ['192.0.2.8']],
    ['only own addresses: none left', '192.0.2.5', []],
    ['duplicates are listed once', '192.0.2.8,192.0.2.9,192.0.2.8 192.0.2.9', ['192.0.2.8', '192.0.2.9']],
    ['the order of first mention is kept', '192.0.2.9,192.0.2.8', ['192.0.2.9', '192.0.2.8']],
  ])('VIPKEEPER_UNICAST_PEERS: %s', (_what, value, expected) => {
    expect(parse({ VIPKEEPER_UNICAST_PEERS: value }).config.unicastPeers).toEqual(expected);
  });
});

describe('parseEnvironment: VIPKEEPER_VIRTUAL_IPS refuses addresses no VIP can be', () => {
  it.each<[string, string, string]>([
    ['the unspecified address', '0.0.0.0/24', '"0.0.0.0/24" is in 0.0.0.0/8 ("this network"), which no host can be reached at'],
    ['an address in 0.0.0.0/8', '0.1.2.3/32', '"0.1.2.3/32" is in 0.0.0.0/8 ("this network"), which no host can be reached at'],
    ['loopback', '127.0.0.1/8', '"127.0.0.1/8" is a loopback address (127.0.0.0/8)'],
    ['loopback, another one', '127.10.0.5/32', '"127.10.0.5/32" is a loopback address (127.0.0.0/8)'],
    ['link-local', '169.254.10.10/16', '"169.254.10.10/16" is a link-local address (169.254.0.0/16)'],
    ['multicast', '224.0.0.18/32', '"224.0.0.18/32" is a multicast address (224.0.0.0/4)'],
    ['multicast, top of the range', '239.255.255.250/24', '"239.255.255.250/24" is a multicast address (224.0.0.0/4)'],
    ['the limited broadcast', '255.255.255.255/32', '"255.255.255.255/32" is the broadcast address 255.255.255.255'],
    ['reserved 240.0.0.0/4', '240.0.0.1/24', '"240.0.0.1/24" is in the reserved range 240.0.0.0/4'],
    ['the broadcast address of its /24', '198.18.0.255/24', '"198.18.0.255/24" is the broadcast address of 198.18.0.0/24'],
    ['the broadcast address of its /16', '172.31.255.255/16', '"172.31.255.255/16" is the broadcast address of 172.31.0.0/16'],
    ['the broadcast address of its /30', '192.0.2.3/30', '"192.0.2.3/30" is the broadcast address of 192.0.2.0/30'],
    ['the network address of its /24', '198.18.0.0/24', '"198.18.0.0/24" is the network address of 198.18.0.0/24'],
    ['the network address of its /8', '10.0.0.0/8', '"10.0.0.0/8" is the network address of 10.0.0.0/8'],
    ['the same address twice', '198.18.0.10/24,198.18.0.10/24', '"198.18.0.10/24" is listed twice (198.18.0.10)'],
    ['the same address twice with other prefixes', '198.18.0.10/24 198.18.0.11/24 198.18.0.10/32', '"198.18.0.10/32" is listed twice (198.18.0.10)'],
  ])('%s: %s is refused', (_what, value, rule) => {
    const err = configError(() => parse({ VIPKEEPER_VIRTUAL_IPS: value }));
    expect(err.problems).toEqual([{ variable: 'VIPKEEPER_VIRTUAL_IPS', shownValue: quoteUntrusted(value, 80), rule: expect.stringContaining(rule) }]);
    expect(err.message).toContain('VIPKEEPER_VIRTUAL_IPS=');
  });

  it('every refused item of one list is named in the one problem', () => {
    const err = configError(() => parse({ VIPKEEPER_VIRTUAL_IPS: '198.18.0.10/24 127.0.0.1/8 224.0.0.1/32' }));
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]!.rule).toContain('"127.0.0.1/8" is a loopback address');
    expect(err.problems[0]!.rule).toContain('"224.0.0.1/32" is a multicast address');
  });

  it.each([
    ['an ordinary address', '198.18.0.10/24'],
    ['the last host address of a /24', '198.18.0.254/24'],
    ['the first host address of a /24', '198.18.0.1/24'],
    ['x.x.x.255 inside a /23 (not its broadcast)', '10.0.0.255/23'],
    ['x.x.x.0 inside a /23 (not its network address)', '10.0.1.0/23'],
    ['a /32 ending in .0', '192.0.2.0/32'],
    ['a /32 ending in .255', '192.0.2.255/32'],
    ['both addresses of a /31 (RFC 3021)', '192.0.2.0/31,192.0.2.1/31'],
    ['just below multicast', '223.255.255.254/24'],
    ['just above loopback', '128.0.0.1/16'],
    ['169.253.x.x is not link-local', '169.253.0.1/16'],
  ])('%s is accepted: %s', (_what, value) => {
    expect(() => parse({ VIPKEEPER_VIRTUAL_IPS: value })).not.toThrow();
  });
});

describe('parseEnvironment: each invalid variable is a ConfigError naming it, its quoted value and the rule', () => {
  it.each<[string, string, string]>([
    ['VIPKEEPER_VIRTUAL_IPS', '198.18.0.10', 'is not an IPv4 address in CIDR form'],
    ['VIPKEEPER_VIRTUAL_IPS', '198.18.0.10/33', 'is not an IPv4 address in CIDR form'],
    ['VIPKEEPER_VIRTUAL_IPS', '198.18.0.10/0', 'is not an IPv4 address in CIDR form'],
    ['VIPKEEPER_VIRTUAL_IPS', '256.18.0.10/24', 'is not an IPv4 address in CIDR form'],
    ['VIPKEEPER_VIRTUAL_IPS', '198.18.0.10/24/8', 'is not an IPv4 address in CIDR form'],
    ['VIPKEEPER_VIRTUAL_IPS', '', 'is required'],
    ['VIPKEEPER_VIRTUAL_IPS', ' , ', 'must name at least one address'],
    ['VIPKEEPER_INTERFACE', 'eth0:1', 'must be an interface name'],
    ['VIPKEEPER_INTERFACE', 'a234567890123456', 'must be an interface name'],
    ['VIPKEEPER_VIRTUAL_ROUTER_ID', '0', 'must be a whole number from 1 to 255'],
    ['VIPKEEPER_VIRTUAL_ROUTER_ID', '256', 'must be a whole number from 1 to 255'],
    ['VIPKEEPER_VIRTUAL_ROUTER_ID', '5.0', 'must be a whole number from 1 to 255'],
    ['VIPKEEPER_PRIORITY', '255', 'must be a whole number from 1 to 254'],
    ['VIPKEEPER_PRIORITY', '-1', 'must be a whole number from 1 to 254'],
    ['VIPKEEPER_STATE', 'PRIMARY', 'must be BACKUP or MASTER'],
    ['VIPKEEPER_NOPREEMPT', 'maybe', 'must be true or false'],
    ['VIPKEEPER_VRRP_VERSION', '4', 'must be 2 or 3'],
    ['VIPKEEPER_ADVERT_INT', '0', 'must be from 0.01 to 255 seconds'],
    ['VIPKEEPER_ADVERT_INT', '256', 'must be from 0.01 to 255 seconds'],
    ['VIPKEEPER_ADVERT_INT', '1.234', 'must be a number of seconds'],
    ['VIPKEEPER_ADVERT_INT', '1s', 'must be a number of seconds'],
    ['VIPKEEPER_UNICAST_PEERS', '192.0.2.300', 'is not an IPv4 address'],
    ['VIPKEEPER_UNICAST_PEERS', '192.0.2.8/32', 'is not an IPv4 address'],
    ['VIPKEEPER_AUTH_PASS_FILE', 'run/secrets/vrrp', 'must be an absolute path'],
    ['VIPKEEPER_ROUTER_ID', '-edge', 'must be 1-63 letters'],
    ['VIPKEEPER_ROLE_LABEL', 'role!', 'must be a label key'],
    ['VIPKEEPER_BACKEND_ROLE', '-apps', 'must be 1-63 letters'],
    ['VIPKEEPER_NODE_ROLE', 'load/balancer', 'must be empty or 1-63 letters'],
    ['VIPKEEPER_PUBLISHED_HOST', 'under_score.example', 'must be an IPv4 or IPv6 address or a host name'],
    ['VIPKEEPER_PUBLISHED_HOST', 'fe80::1%eth0', 'must be an IPv4 or IPv6 address or a host name'],
    ['VIPKEEPER_FRONTEND_PORT', '0', 'must be a whole number from 1 to 65535'],
    ['VIPKEEPER_FRONTEND_PORT', '65536', 'must be a whole number from 1 to 65535'],
    ['VIPKEEPER_DOCKER_HOST', 'http://docker:2375', 'must be unix:///path'],
    ['VIPKEEPER_HTTPS_PORT', '80', 'must differ from VIPKEEPER_FRONTEND_PORT (80)'],
    ['VIPKEEPER_HTTPS_PORT', '9321', 'must differ from the port of VIPKEEPER_STATUS_ADDR (9321)'],
    ['VIPKEEPER_HTTPS_PORT', '70000', 'must be a whole number from 1 to 65535'],
    ['VIPKEEPER_CERTS_DIR', 'certs', 'must be an absolute path'],
    ['VIPKEEPER_DEFAULT_CERT', '/x y.pem', 'must be an absolute path'],
    ['VIPKEEPER_TLS_CIPHERS', 'AES128 ; x', 'must be an OpenSSL cipher list'],
    ['VIPKEEPER_TLS_CIPHERS', 'AES128\nbind :1', 'must be an OpenSSL cipher list'],
    ['VIPKEEPER_TLS_MIN_VERSION', 'TLSv1.1', 'must be TLSv1.2 or TLSv1.3'],
    ['VIPKEEPER_DOCKER_HOST', 'tcp://docker', 'must be unix:///path'],
    ['VIPKEEPER_CONFIG_DIR', 'etc/vipkeeper', 'must be an absolute path'],
    ['VIPKEEPER_RUN_DIR', '/run/vip keeper', 'must be an absolute path'],
    ['VIPKEEPER_TEMPLATES_DIR', '~/templates', 'must be an absolute path'],
    ['VIPKEEPER_LOG_LEVEL', 'verbose', 'must be one of fatal, error, warn, info, debug, trace, silent'],
  ])('%s=%j: %s', (variable, value, rule) => {
    const err = configError(() => parse({ [variable]: value }));
    expect(err.problems).toEqual([{ variable, shownValue: quoteUntrusted(value, 80), rule: expect.stringContaining(rule) }]);
    expect(err.code).toBe('E_CONFIG');
    expect(err.message).toContain(`${variable}=${quoteUntrusted(value, 80)}: `);
  });

  it('an unset VIPKEEPER_VIRTUAL_IPS is a problem too', () => {
    const err = configError(() => parseEnvironment({}, FACTS));
    expect(err.problems).toEqual([{ variable: 'VIPKEEPER_VIRTUAL_IPS', shownValue: '""', rule: expect.stringContaining('is required') }]);
  });

  it('a long value is shown cut to 80 characters', () => {
    const value = `/${'a'.repeat(100)} b`;
    const err = configError(() => parse({ VIPKEEPER_CONFIG_DIR: value }));
    expect(err.problems[0]!.shownValue).toBe(quoteUntrusted(value, 80));
  });

  it('several bad variables give ONE ConfigError listing every one of them', () => {
    const err = configError(() =>
      parseEnvironment(
        {
          VIPKEEPER_VIRTUAL_IPS: 'nope',
          VIPKEEPER_PRIORITY: '999',
          VIPKEEPER_STATE: 'LEADER',
          VIPKEEPER_LOG_LEVEL: 'loud',
          VIPKEEPER_CONFIG_DIR: 'relative',
        },
        FACTS,
      ),
    );
    expect(err.problems.map((p) => p.variable).sort()).toEqual([
      'VIPKEEPER_CONFIG_DIR',
      'VIPKEEPER_LOG_LEVEL',
      'VIPKEEPER_PRIORITY',
      'VIPKEEPER_STATE',
      'VIPKEEPER_VIRTUAL_IPS',
    ]);
    expect(err.message).toMatch(/^invalid environment \(5 problems\):\n/);
    for (const p of err.problems) expect(err.message).toContain(`  ${p.variable}=${p.shownValue}: ${p.rule}`);
  });
});

describe('parseEnvironment: rules across variables', () => {
  it.each<[string, Env, { state: string; nopreempt: boolean } | string]>([
    ['MASTER with the default nopreempt (true)', { VIPKEEPER_STATE: 'MASTER' }, 'VIPKEEPER_STATE'],
    ['MASTER + NOPREEMPT=true', { VIPKEEPER_STATE: 'MASTER', VIPKEEPER_NOPREEMPT: 'true' }, 'VIPKEEPER_STATE'],
    ['master + NOPREEMPT=1', { VIPKEEPER_STATE: 'master', VIPKEEPER_NOPREEMPT: '1' }, 'VIPKEEPER_STATE'],
    ['MASTER + NOPREEMPT=false', { VIPKEEPER_STATE: 'MASTER', VIPKEEPER_NOPREEMPT: 'false' }, { state: 'MASTER', nopreempt: false }],
    ['master + NOPREEMPT=no', { VIPKEEPER_STATE: 'master', VIPKEEPER_NOPREEMPT: 'no' }, { state: 'MASTER', nopreempt: false }],
    ['BACKUP + NOPREEMPT=true', { VIPKEEPER_STATE: 'BACKUP', VIPKEEPER_NOPREEMPT: 'true' }, { state: 'BACKUP', nopreempt: true }],
  ])('state/nopreempt: %s', (_what, env, expected) => {
    if (typeof expected === 'string') {
      const err = configError(() => parse(env));
      expect(err.problems).toEqual([{ variable: expected, shownValue: expect.any(String), rule: expect.stringContaining('contradicts VIPKEEPER_NOPREEMPT=true') }]);
    } else {
      expect(parse(env).config).toMatchObject(expected);
    }
  });

  it.each<[string, string, number | string]>([
    ['2', '1', 1],
    ['2', '255', 255],
    ['2', '1.0', 1],
    ['2', '0.5', 'fractional seconds need VIPKEEPER_VRRP_VERSION=3'],
    ['2', '1.5', 'fractional seconds need VIPKEEPER_VRRP_VERSION=3'],
    ['3', '0.5', 0.5],
    ['3', '0.01', 0.01],
    ['3', '40.95', 40.95],
    ['3', '41', 'must be at most 40.95 seconds with VRRP version 3'],
  ])('version %s with advert_int %s -> %j', (version, advertInt, expected) => {
    const env = { VIPKEEPER_VRRP_VERSION: version, VIPKEEPER_ADVERT_INT: advertInt };
    if (typeof expected === 'number') {
      expect(parse(env).config).toMatchObject({ vrrpVersion: Number(version), advertInt: expected });
    } else {
      const err = configError(() => parse(env));
      expect(err.problems).toEqual([{ variable: 'VIPKEEPER_ADVERT_INT', shownValue: quoteUntrusted(advertInt, 80), rule: expected }]);
    }
  });
});

describe('parseEnvironment: VRRP password', () => {
  it.each<[string, Env, AuthPassFileRead | undefined, string]>([
    ['inline', { VIPKEEPER_AUTH_PASS: 'pw-12345' }, undefined, 'pw-12345'],
    ['inline, padded', { VIPKEEPER_AUTH_PASS: ' pw-12345 ' }, undefined, 'pw-12345'],
    ['from a file with a trailing newline', { VIPKEEPER_AUTH_PASS_FILE: '/run/secrets/vrrp' }, { content: 'filepass\n' }, 'filepass'],
    ['from a file with a trailing CRLF', { VIPKEEPER_AUTH_PASS_FILE: '/run/secrets/vrrp' }, { content: 'filepass\r\n' }, 'filepass'],
    ['from a file without a newline', { VIPKEEPER_AUTH_PASS_FILE: '/run/secrets/vrrp' }, { content: 'filepass' }, 'filepass'],
    ['an empty VIPKEEPER_AUTH_PASS beside a file', { VIPKEEPER_AUTH_PASS: '', VIPKEEPER_AUTH_PASS_FILE: '/run/secrets/vrrp' }, { content: 'filepass' }, 'filepass'],
  ])('%s', (_what, env, file, expected) => {
    expect(parse(env, file).config.authPass?.reveal()).toBe(expected);
  });

  it.each<[string, Env, AuthPassFileRead | undefined, { variable: string; rule: string }]>([
    ['password with version 3', { VIPKEEPER_AUTH_PASS: 'pw-12345', VIPKEEPER_VRRP_VERSION: '3' }, undefined, { variable: 'VIPKEEPER_VRRP_VERSION', rule: 'VRRP version 3 has no authentication' }],
    ['password file with version 3', { VIPKEEPER_AUTH_PASS_FILE: '/run/secrets/vrrp', VIPKEEPER_VRRP_VERSION: '3' }, { content: 'filepass\n' }, { variable: 'VIPKEEPER_VRRP_VERSION', rule: 'VRRP version 3 has no authentication' }],
    ['AUTH_PASS and AUTH_PASS_FILE together', { VIPKEEPER_AUTH_PASS: 'pw-12345', VIPKEEPER_AUTH_PASS_FILE: '/run/secrets/vrrp' }, { content: 'filepass' }, { variable: 'VIPKEEPER_AUTH_PASS_FILE', rule: 'not both' }],
    ['the file could not be read', { VIPKEEPER_AUTH_PASS_FILE: '/run/secrets/vrrp' }, { error: 'ENOENT' }, { variable: 'VIPKEEPER_AUTH_PASS_FILE', rule: 'cannot read the file: ENOENT' }],
    ['the file was not read by the caller', { VIPKEEPER_AUTH_PASS_FILE: '/run/secrets/vrrp' }, undefined, { variable: 'VIPKEEPER_AUTH_PASS_FILE', rule: 'the file was not read' }],
    ['the file holds an invalid password', { VIPKEEPER_AUTH_PASS_FILE: '/run/secrets/vrrp' }, { content: 'two words\n' }, { variable: 'VIPKEEPER_AUTH_PASS_FILE', rule: 'the password in the file must be 1-64 characters' }],
    ['the file is empty', { VIPKEEPER_AUTH_PASS_FILE: '/run/secrets/vrrp' }, { content: '\n' }, { variable: 'VIPKEEPER_AUTH_PASS_FILE', rule: 'the password in the file must be 1-64 characters' }],
    ['an inline password with a forbidden character', { VIPKEEPER_AUTH_PASS: 'pw#12345' }, undefined, { variable: 'VIPKEEPER_AUTH_PASS', rule: 'must be 1-64 characters' }],
    ['an inline password of 65 characters', { VIPKEEPER_AUTH_PASS: 'p'.repeat(65) }, undefined, { variable: 'VIPKEEPER_AUTH_PASS', rule: 'must be 1-64 characters' }],
  ])('%s is a problem', (_what, env, file, expected) => {
    const err = configError(() => parse(env, file));
    expect(err.problems).toEqual([{ variable: expected.variable, shownValue: expect.any(String), rule: expect.stringContaining(expected.rule) }]);
  });

  it('an invalid inline password is shown masked, with its length only', () => {
    const err = configError(() => parse({ VIPKEEPER_AUTH_PASS: 'pw#12345' }));
    expect(err.problems[0]!.shownValue).toBe('******** (secret, 8 characters)');
  });

  const SECRET = 'Zq7-Secret-Value';
  const FILE_ENV = { VIPKEEPER_AUTH_PASS_FILE: '/run/secrets/vrrp' };
  it.each<[string, Env, AuthPassFileRead | undefined]>([
    ['inline password breaking the rule', { VIPKEEPER_AUTH_PASS: `${SECRET}#!` }, undefined],
    ['inline password with a newline inside', { VIPKEEPER_AUTH_PASS: `${SECRET}\n${SECRET}` }, undefined],
    ['inline password with version 3', { VIPKEEPER_AUTH_PASS: SECRET, VIPKEEPER_VRRP_VERSION: '3' }, undefined],
    ['inline password beside a file', { VIPKEEPER_AUTH_PASS: SECRET, ...FILE_ENV }, { content: 'other' }],
    ['file password breaking the rule', FILE_ENV, { content: `${SECRET} x\n` }],
    ['file password with version 3', { ...FILE_ENV, VIPKEEPER_VRRP_VERSION: '3' }, { content: `${SECRET}\n` }],
    ['file password and other bad variables', { ...FILE_ENV, VIPKEEPER_PRIORITY: 'x' }, { content: `${SECRET} \n` }],
  ])('the secret never appears in the ConfigError: %s', (_what, env, file) => {
    const err = configError(() => parse(env, file));
    for (const text of [err.message, String(err), err.stack ?? '', JSON.stringify(err), JSON.stringify(err.problems), inspect(err, { depth: 10 })]) {
      expect(text).not.toContain(SECRET);
    }
    for (const p of err.problems.filter((p) => p.variable === 'VIPKEEPER_AUTH_PASS')) expect(p.shownValue).toMatch(MASK);
  });

  it.each<[string, Env, AuthPassFileRead | undefined]>([
    ['inline', { VIPKEEPER_AUTH_PASS: SECRET }, undefined],
    ['from a file', FILE_ENV, { content: `${SECRET}\n` }],
  ])('the secret never appears when a parsed config (%s) is printed', (_what, env, file) => {
    const { config, warnings } = parse(env, file);
    // Cut to keepalived's 8 characters; neither the whole secret nor the part in use is ever printed.
    expect(config.authPass?.reveal()).toBe(SECRET.slice(0, 8));
    for (const text of [
      JSON.stringify(config.authPass),
      String(config.authPass),
      `${config.authPass}`,
      inspect(config.authPass),
      JSON.stringify(config),
      inspect(config, { depth: 10, showHidden: true }),
      JSON.stringify(warnings),
    ]) {
      expect(text).not.toContain(SECRET.slice(0, 8));
    }
  });

  // keepalived -t exits 5 ("Truncating auth_pass to 8 characters") on a longer one, so we cut it ourselves.
  const cut = (n: number) => `the VRRP password has ${n} characters; only the first 8 are used (keepalived's limit), so every node must share those 8`;
  it.each<[string, Env, AuthPassFileRead | undefined, string, { variable: string; message: string }[]]>([
    ['8 characters: kept whole, no warning', { VIPKEEPER_AUTH_PASS: '12345678' }, undefined, '12345678', []],
    ['1 character: kept, no warning', { VIPKEEPER_AUTH_PASS: 'x' }, undefined, 'x', []],
    ['9 characters inline: cut to 8', { VIPKEEPER_AUTH_PASS: '123456789' }, undefined, '12345678', [{ variable: 'VIPKEEPER_AUTH_PASS', message: cut(9) }]],
    ['64 characters inline: cut to 8', { VIPKEEPER_AUTH_PASS: 'abcdefgh'.repeat(8) }, undefined, 'abcdefgh', [{ variable: 'VIPKEEPER_AUTH_PASS', message: cut(64) }]],
    ['12 characters from a file: cut to 8', FILE_ENV, { content: '123456789012\n' }, '12345678', [{ variable: 'VIPKEEPER_AUTH_PASS_FILE', message: cut(12) }]],
  ])('password length: %s', (_what, env, file, password, expected) => {
    const { config, warnings } = parse(env, file);
    expect(config.authPass?.reveal()).toBe(password);
    expect(warnings).toEqual(expected);
  });
});

describe('parseEnvironment: VIPKEEPER_TEMPLATES_DIR must be a directory the edge found', () => {
  const DIR = { VIPKEEPER_TEMPLATES_DIR: '/etc/vipkeeper/templates' };
  it.each<[string, DirectoryCheck, string]>([
    ['it does not exist', { error: 'ENOENT' }, 'the directory does not exist'],
    ['it is a file', { error: 'ENOTDIR' }, 'is not a directory'],
    ['it cannot be read', { error: 'EACCES' }, 'cannot read the directory: EACCES'],
  ])('%s: a ConfigError naming it', (_what, check, rule) => {
    const err = configError(() => parseEnvironment({ ...MINIMAL_ENV, ...DIR }, FACTS, undefined, check));
    expect(err.problems).toEqual([{ variable: 'VIPKEEPER_TEMPLATES_DIR', shownValue: '"/etc/vipkeeper/templates"', rule: expect.stringContaining(rule) }]);
  });

  it('a directory is used', () => {
    expect(parseEnvironment({ ...MINIMAL_ENV, ...DIR }, FACTS, undefined, { directory: true }).config.templatesDir).toBe('/etc/vipkeeper/templates');
  });

  it('not checked by the caller (a re-parse on a password file change): taken as it is', () => {
    expect(parseEnvironment({ ...MINIMAL_ENV, ...DIR }, FACTS).config.templatesDir).toBe('/etc/vipkeeper/templates');
  });

  it('a value breaking the path rule is named once, for the rule, whatever the check says', () => {
    const err = configError(() => parseEnvironment({ ...MINIMAL_ENV, VIPKEEPER_TEMPLATES_DIR: 'templates' }, FACTS, undefined, { error: 'ENOENT' }));
    expect(err.problems).toEqual([{ variable: 'VIPKEEPER_TEMPLATES_DIR', shownValue: '"templates"', rule: expect.stringContaining('must be an absolute path') }]);
  });
});

describe('parseEnvironment: unknown VIPKEEPER_ variables are warnings', () => {
  it.each([
    ['VIPKEEPER_VIRTUAL_IP', 'unknown variable; did you mean VIPKEEPER_VIRTUAL_IPS?'],
    ['VIPKEEPER_PRIORTY', 'unknown variable; did you mean VIPKEEPER_PRIORITY?'],
    ['VIPKEEPER_LOGLEVEL', 'unknown variable; did you mean VIPKEEPER_LOG_LEVEL?'],
    ['VIPKEEPER_NO_PREEMPT', 'unknown variable; did you mean VIPKEEPER_NOPREEMPT?'],
    ['VIPKEEPER_AUTH_PASSWORD', 'unknown variable; did you mean VIPKEEPER_AUTH_PASS?'],
    ['VIPKEEPER_XYZZY', 'unknown variable'],
  ])('%s -> %j', (variable, message) => {
    expect(parse({ [variable]: 'x' }).warnings).toEqual([{ variable, message }]);
  });

  it('variables outside the VIPKEEPER_ prefix are ignored', () => {
    expect(parse({ PATH: '/usr/bin', HOME: '/root', VIPKEEPERX: '1', vipkeeper_state: 'MASTER' }).warnings).toEqual([]);
  });

  it('an unknown variable does not stop a valid environment', () => {
    const { config, warnings } = parse({ VIPKEEPER_VIRTUAL_IP: '198.18.0.99/24' });
    expect(config.virtualIps).toEqual([{ address: '198.18.0.10', prefix: 24 }]);
    expect(warnings).toHaveLength(1);
  });
});

describe('parseEnvironment: hostile values are rejected for every variable', () => {
  /** A valid value per variable; the hostile text is put into it, so only the hostile part can be to blame. */
  const VALID: Record<string, string> = {
    VIPKEEPER_VIRTUAL_IPS: '198.18.0.10/24',
    VIPKEEPER_INTERFACE: 'eth1',
    VIPKEEPER_VIRTUAL_ROUTER_ID: '51',
    VIPKEEPER_PRIORITY: '100',
    VIPKEEPER_STATE: 'BACKUP',
    VIPKEEPER_NOPREEMPT: 'true',
    VIPKEEPER_VRRP_VERSION: '2',
    VIPKEEPER_ADVERT_INT: '1',
    VIPKEEPER_UNICAST_PEERS: '192.0.2.8',
    VIPKEEPER_PEERS: '198.18.0.5,198.18.0.6',
    VIPKEEPER_PEERS_PORT: '10000',
    VIPKEEPER_AUTH_PASS: 'pw-12345',
    VIPKEEPER_AUTH_PASS_FILE: '/run/secrets/vrrp',
    VIPKEEPER_ROUTER_ID: 'lb1',
    VIPKEEPER_ROLE_LABEL: 'role',
    VIPKEEPER_BACKEND_ROLE: 'apps',
    VIPKEEPER_NODE_ROLE: 'load-balancer',
    VIPKEEPER_PUBLISHED_HOST: 'docker.internal',
    VIPKEEPER_FRONTEND_PORT: '80',
    VIPKEEPER_HTTPS_PORT: '443',
    VIPKEEPER_CERTS_DIR: '/etc/vipkeeper/certs',
    VIPKEEPER_DEFAULT_CERT: '/run/secrets/default.pem',
    VIPKEEPER_TLS_CIPHERS: 'ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256',
    VIPKEEPER_TLS_MIN_VERSION: 'TLSv1.2',
    VIPKEEPER_ACME_EMAIL: 'ops@example.com',
    VIPKEEPER_ACME_DIRECTORY: 'https://acme.example.com/directory',
    VIPKEEPER_ACME_CA_FILE: '/etc/vipkeeper/acme-ca.pem',
    VIPKEEPER_ACME_ALL_HOSTS: 'true',
    VIPKEEPER_ACME_RETRY_MIN: '30s',
    VIPKEEPER_ACME_BACKUP_DELAY: '0s',
    // tcp:// so that a long tail cannot still be a (long) unix socket path; see the note in the report.
    VIPKEEPER_DOCKER_HOST: 'tcp://docker:2375',
    VIPKEEPER_DOCKER_HOSTS: 'tcp://app1:2375=198.18.0.21',
    VIPKEEPER_ENGINE_GRACE: '10s',
    VIPKEEPER_APP_NODE_ROLE: 'apps',
    VIPKEEPER_SWARM: 'false',
    VIPKEEPER_CONFIG_DIR: '/etc/vipkeeper',
    VIPKEEPER_RUN_DIR: '/run/vipkeeper',
    VIPKEEPER_TEMPLATES_DIR: '/etc/vipkeeper/templates',
    VIPKEEPER_LOG_LEVEL: 'info',
    VIPKEEPER_LOG_FORMAT: 'json',
    VIPKEEPER_STATUS_ADDR: '127.0.0.1:9321',
    VIPKEEPER_HAPROXY_METRICS_ADDR: '127.0.0.1:9101',
    VIPKEEPER_INSTANCES: 'web',
    VIPKEEPER_LABEL_PREFIX: 'lb',
    VIPKEEPER_COMPAT: 'nginx-proxy',
    VIPKEEPER_ACCEPT_PROXY: '198.18.0.0/15',
  };

  it('the table of valid values covers every variable, and each is accepted', () => {
    expect(Object.keys(VALID).sort()).toEqual(ENV_SPECS.map((s) => s.name).sort());
    for (const [variable, value] of Object.entries(VALID)) {
      const file = variable === 'VIPKEEPER_AUTH_PASS_FILE' ? { content: 'pw-12345\n' } : undefined;
      expect(() => parse({ [variable]: value }, file), variable).not.toThrow();
    }
  });

  const HOSTILE: [string, (valid: string) => string][] = [
    ['a newline', (v) => `${v}\nx`],
    ['a newline and a new directive', (v) => `${v}\n    server evil 203.0.113.9:80`],
    ['a carriage return', (v) => `${v}\rx`],
    ["'#'", (v) => `${v}#x`],
    ['a double quote', (v) => `${v}"x`],
    ['a single quote', (v) => `${v}'x`],
    ['a space', (v) => `${v} x`],
    ['non-ASCII', (v) => `${v}é`],
    ['a non-ASCII letter inside', (v) => `${v.slice(0, 1)}é${v.slice(1)}`],
    ['10k characters', (v) => `${v}${'x'.repeat(10_000)}`],
  ];
  const rows = ENV_SPECS.flatMap((spec) => HOSTILE.map(([what, make]) => ({ variable: spec.name, secret: spec.secret === true, what, make })));

  it.each(rows)('$variable with $what', ({ variable, secret, make }) => {
    const value = make(VALID[variable]!);
    const file = variable === 'VIPKEEPER_AUTH_PASS_FILE' ? { content: 'pw-12345\n' } : undefined;
    const err = configError(() => parse({ [variable]: value }, file));
    const mine = err.problems.filter((p) => p.variable === variable);
    expect(mine).toHaveLength(1);
    const shown = mine[0]!.shownValue;
    if (secret) {
      expect(shown).toMatch(MASK);
    } else {
      expect(shown).toBe(quoteUntrusted(value, 80));
    }
    // Whatever is shown is one harmless line.
    expect(shown).not.toMatch(/[\n\r]/);
    expect(shown.length).toBeLessThanOrEqual(90);
  });
});

describe('parseEnvironment: problem texts are safe to log', () => {
  // BUG (see report): for the list variables the rule text embeds each bad item raw,
  // neither JSON-escaped nor cut, so control characters and huge values reach logs.
  it.each([
    ['VIPKEEPER_VIRTUAL_IPS', `198.18.0.10/24,\u001b[31mred\u0007`],
    ['VIPKEEPER_UNICAST_PEERS', `192.0.2.8,\u001b]0;title\u0007`],
  ])('%s: a control character in a bad list item is not printed raw', (variable, value) => {
    const err = configError(() => parse({ [variable]: value }));
    expect(err.message).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f]/);
  });

  it.each(['VIPKEEPER_VIRTUAL_IPS', 'VIPKEEPER_UNICAST_PEERS'])('%s: a 10k item does not make a 10k error message', (variable) => {
    const err = configError(() => parse({ [variable]: 'z'.repeat(10_000) }));
    expect(err.message.length).toBeLessThan(1_000);
  });

  it('ConfigError is a proper Error subclass', () => {
    const err = new ConfigError([{ variable: 'VIPKEEPER_X', shownValue: '"y"', rule: 'must be z' }]);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('ConfigError');
    expect(err.message).toBe('invalid environment (1 problem):\n  VIPKEEPER_X="y": must be z');
  });
});
