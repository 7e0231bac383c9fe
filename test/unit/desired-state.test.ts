import { describe, expect, it } from 'vitest';
import type { ContainerInfo } from '../../src/model/container.js';
import { hostPort } from '../../src/config/patterns.js';
import { buildDesiredState, type DesiredState, type SelectionSettings, type Service } from '../../src/model/desired-state.js';
import { binding, container, type ContainerSpec, idFor, service as defaultService, SETTINGS, shuffled } from './fixtures.js';

const build = (containers: ContainerInfo[], settings: Partial<SelectionSettings> = {}) =>
  buildDesiredState(containers, { ...SETTINGS, ...settings });

const service = (state: DesiredState, name: string): Service => {
  const s = state.services.find((x) => x.name === name);
  if (!s) throw new Error(`no service ${name} in ${JSON.stringify(state.services.map((x) => x.name))}`);
  return s;
};

/** Container names per service, and skipped container names: the shape most tests care about. */
const summary = (state: DesiredState) => ({
  services: Object.fromEntries(state.services.map((s) => [s.name, s.servers.map((srv) => srv.containerName)])),
  skipped: state.skipped.map((s) => s.containerName),
});

const reasonOf = (state: DesiredState, name: string): string => {
  const s = state.skipped.find((x) => x.containerName === name);
  if (!s) throw new Error(`${name} was not skipped`);
  return s.reason;
};

describe('buildDesiredState: which containers are candidates', () => {
  it.each<[string, ContainerSpec, Partial<SelectionSettings>, boolean]>([
    ['running with role=apps', { name: 'web' }, {}, true],
    ['stopped', { name: 'web', running: false }, {}, false],
    ['another role', { name: 'web', labels: { role: 'db' } }, {}, false],
    ['no role label', { name: 'web', labels: {} }, {}, false],
    ['role value in another case', { name: 'web', labels: { role: 'Apps' } }, {}, false],
    ['a compose one-off (docker compose run)', { name: 'web', extraLabels: { 'com.docker.compose.oneoff': 'True' } }, {}, false],
    ['compose oneoff=False', { name: 'web', extraLabels: { 'com.docker.compose.oneoff': 'False' } }, {}, true],
    ['custom role label and role', { name: 'web', labels: { tier: 'frontend' } }, { roleLabel: 'tier', backendRole: 'frontend' }, true],
    ['default role label when a custom one is configured', { name: 'web' }, { roleLabel: 'tier', backendRole: 'frontend' }, false],
  ])('%s -> served: %s', (_what, spec, settings, served) => {
    const state = build([container(spec)], settings);
    const servers = state.services.flatMap((s) => s.servers.map((srv) => srv.containerName));
    expect(servers).toEqual(served ? ['web'] : []);
    // Non-candidates are not "skipped" either: they are simply not ours.
    expect(state.skipped).toEqual([]);
  });
});

describe('buildDesiredState: where HAProxy reaches a container', () => {
  it.each<[string, Partial<ContainerSpec>, Partial<SelectionSettings>, string]>([
    ['published on 0.0.0.0', { bindings: [binding(80, 32768, '0.0.0.0')] }, {}, '127.0.0.1:32768'],
    ['published with an empty host ip', { bindings: [binding(80, 32768, '')] }, {}, '127.0.0.1:32768'],
    ['published on a specific address', { bindings: [binding(80, 32768, '192.0.2.7')] }, {}, '192.0.2.7:32768'],
    ['published on loopback only', { bindings: [binding(80, 32768, '127.0.0.1')] }, {}, '127.0.0.1:32768'],
    ['published on 0.0.0.0 and ::', { bindings: [binding(80, 32768, '::'), binding(80, 32768, '0.0.0.0')] }, {}, '127.0.0.1:32768'],
    ['published on :: alone (docker-proxy listens on both families)', { bindings: [binding(80, 32768, '::')] }, {}, '127.0.0.1:32768'],
    ['a specific IPv4 binding is preferred over ::', { bindings: [binding(80, 40000, '::'), binding(80, 32768, '192.0.2.7')] }, {}, '192.0.2.7:32768'],
    ['VIPKEEPER_PUBLISHED_HOST overrides 0.0.0.0', { bindings: [binding(80, 32768, '0.0.0.0')] }, { publishedHost: 'docker-host.internal' }, 'docker-host.internal:32768'],
    ['VIPKEEPER_PUBLISHED_HOST overrides a specific address', { bindings: [binding(80, 32768, '192.0.2.7')] }, { publishedHost: '10.9.8.7' }, '10.9.8.7:32768'],
    ['vipkeeper.port picks the binding of that port', { exposedTcpPorts: [80, 8080], extraLabels: { 'vipkeeper.port': '8080' }, bindings: [binding(80, 32768), binding(8080, 32769)] }, {}, '127.0.0.1:32769'],
    ['a udp binding of the same port is ignored', { bindings: [binding(80, 40000, '0.0.0.0', 'udp'), binding(80, 32768)] }, {}, '127.0.0.1:32768'],
    ['vipkeeper.network: the address in that network and the private port', { extraLabels: { 'vipkeeper.network': 'backend' }, networks: [{ network: 'bridge', ip: '172.17.0.2' }, { network: 'backend', ip: '10.1.0.5' }] }, {}, '10.1.0.5:80'],
    ['vipkeeper.network with vipkeeper.port', { exposedTcpPorts: [80, 9000], extraLabels: { 'vipkeeper.network': 'backend', 'vipkeeper.port': '9000' }, bindings: [], networks: [{ network: 'backend', ip: '10.1.0.5' }] }, {}, '10.1.0.5:9000'],
    ['vipkeeper.network ignores VIPKEEPER_PUBLISHED_HOST', { extraLabels: { 'vipkeeper.network': 'backend' }, networks: [{ network: 'backend', ip: '10.1.0.5' }] }, { publishedHost: 'docker-host.internal' }, '10.1.0.5:80'],
    ['a single exposed port needs no vipkeeper.port', { exposedTcpPorts: [3000], bindings: [binding(3000, 32768)] }, {}, '127.0.0.1:32768'],
    ['an exposed port listed twice is still one port', { exposedTcpPorts: [3000, 3000], bindings: [binding(3000, 32768)] }, {}, '127.0.0.1:32768'],
    ['two exposed ports and vipkeeper.port', { exposedTcpPorts: [80, 443], extraLabels: { 'vipkeeper.port': '443' }, bindings: [binding(443, 32768)] }, {}, '127.0.0.1:32768'],
    ['vipkeeper.port need not be exposed, only published', { exposedTcpPorts: [], extraLabels: { 'vipkeeper.port': '81' }, bindings: [binding(81, 32768)] }, {}, '127.0.0.1:32768'],
    // IPv6: reached over IPv6 when the app publishes only there; HAProxy's own spelling, brackets.
    ['published on a specific IPv6 address only', { bindings: [binding(80, 32768, '2001:db8::7')] }, {}, '[2001:db8::7]:32768'],
    ['published on IPv6 loopback only', { bindings: [binding(80, 32768, '::1')] }, {}, '[::1]:32768'],
    ['an IPv6 binding is written canonically', { bindings: [binding(80, 32768, '2001:DB8:0:0:0:0:0:7')] }, {}, '[2001:db8::7]:32768'],
    ['a specific IPv4 binding is preferred over a specific IPv6 one', { bindings: [binding(80, 40000, '2001:db8::7'), binding(80, 32768, '192.0.2.7')] }, {}, '192.0.2.7:32768'],
    ['every address (0.0.0.0) is preferred over a specific IPv6 one', { bindings: [binding(80, 40000, '2001:db8::7'), binding(80, 32768, '0.0.0.0')] }, {}, '127.0.0.1:32768'],
    ['VIPKEEPER_PUBLISHED_HOST as an IPv6 address', { bindings: [binding(80, 32768, '0.0.0.0')] }, { publishedHost: '2001:db8::10' }, '[2001:db8::10]:32768'],
    ['vipkeeper.network: IPv4 first in a dual-stack network', { extraLabels: { 'vipkeeper.network': 'backend' }, networks: [{ network: 'backend', ip: '10.1.0.5', ip6: '2001:db8:1::5' }] }, {}, '10.1.0.5:80'],
    ['vipkeeper.network: the IPv6 address in an IPv6-only network', { extraLabels: { 'vipkeeper.network': 'backend' }, networks: [{ network: 'backend', ip: '', ip6: '2001:DB8:1:0::5' }] }, {}, '[2001:db8:1::5]:80'],
  ])('%s -> %s', (_what, spec, settings, expected) => {
    const state = build([container({ name: 'web', ...spec })], settings);
    expect(state.skipped).toEqual([]);
    const [srv] = service(state, 'apps').servers;
    expect(hostPort(srv!.address, srv!.port)).toBe(expected);
  });

  it.each<[string, Partial<ContainerSpec>, string]>([
    ['port not published', { bindings: [] }, 'port 80/tcp is not published (docker run -p 80); publish it or set vipkeeper.network'],
    ['only a different port published', { bindings: [binding(81, 32768)] }, 'port 80/tcp is not published'],
    ['only udp published', { bindings: [binding(80, 32768, '0.0.0.0', 'udp')] }, 'port 80/tcp is not published'],
    ['host port 0', { bindings: [binding(80, 0)] }, 'port 80/tcp is not published'],
    ['published only on an IPv6 link-local address', { bindings: [binding(80, 32768, 'fe80::1')] }, 'port 80/tcp is published only on fe80::1, which is a link-local address (fe80::/10), reachable only through a named interface'],
    ['published only on something that is no address', { bindings: [binding(80, 32768, 'fe80::1%eth0')] }, 'port 80/tcp is published only on "fe80::1%eth0", which is no IPv4 or IPv6 address'],
    ['no exposed port', { exposedTcpPorts: [], bindings: [] }, 'it exposes no TCP port: set vipkeeper.port'],
    ['two exposed ports without vipkeeper.port', { exposedTcpPorts: [443, 80] }, 'it exposes 2 TCP ports (80, 443): set vipkeeper.port to choose one'],
    ['vipkeeper.network the container is not in', { extraLabels: { 'vipkeeper.network': 'backend' } }, 'vipkeeper.network="backend": the container is not in that network (it is in: bridge)'],
    ['vipkeeper.network and no networks at all', { extraLabels: { 'vipkeeper.network': 'backend' }, networks: [] }, 'the container is not in that network (it is in: none)'],
    ['vipkeeper.network without any address', { extraLabels: { 'vipkeeper.network': 'backend' }, networks: [{ network: 'backend', ip: '' }] }, 'it has no IPv4 or global IPv6 address in network backend'],
    ['vipkeeper.network with only a link-local IPv6 address', { extraLabels: { 'vipkeeper.network': 'backend' }, networks: [{ network: 'backend', ip: '', ip6: 'fe80::5' }] }, 'it has no IPv4 or global IPv6 address in network backend'],
  ])('%s -> skipped', (_what, spec, reason) => {
    const state = build([container({ name: 'web', ...spec })]);
    expect(state.skipped).toEqual([{ containerId: idFor('web'), containerName: 'web', reason: expect.stringContaining(reason), problems: [] }]);
    expect(service(state, 'apps').servers).toEqual([]);
  });
});

describe('buildDesiredState: Docker health', () => {
  it.each<[ContainerInfo['health'], string | undefined, boolean]>([
    ['none', undefined, true],
    ['healthy', undefined, true],
    ['starting', undefined, false],
    ['unhealthy', undefined, false],
    ['starting', 'respect', false],
    ['unhealthy', 'respect', false],
    ['starting', 'ignore', true],
    ['unhealthy', 'ignore', true],
  ])('health %s with vipkeeper.docker-health=%s -> served: %s', (health, label, served) => {
    const extraLabels: Record<string, string> = label === undefined ? {} : { 'vipkeeper.docker-health': label };
    const state = build([container({ name: 'web', health, extraLabels })]);
    expect(summary(state)).toEqual({ services: { apps: served ? ['web'] : [] }, skipped: served ? [] : ['web'] });
    if (!served) expect(reasonOf(state, 'web')).toContain(`Docker healthcheck is ${health}`);
  });
});

describe('buildDesiredState: bad labels skip only their container', () => {
  it.each<[string, Record<string, string>, string]>([
    ['a newline in check.path', { 'vipkeeper.check.path': '/x\n    server evil 203.0.113.9:80' }, 'vipkeeper.check.path'],
    ['a port out of range', { 'vipkeeper.port': '70000' }, 'vipkeeper.port'],
    ['host with mode tcp', { 'vipkeeper.mode': 'tcp', 'vipkeeper.host': 'a.example.com' }, 'vipkeeper.host'],
  ])('%s', (_what, labels, label) => {
    const state = build([container({ name: 'good' }), container({ name: 'evil', extraLabels: labels })]);
    expect(summary(state)).toEqual({ services: { apps: ['good'] }, skipped: ['evil'] });
    const skipped = state.skipped[0]!;
    expect(skipped.problems.map((p) => p.label)).toEqual([label]);
    expect(skipped.reason).toContain(`label ${label}=`);
    expect(skipped.reason).toContain('breaks the rule');
    expect(skipped.reason).not.toMatch(/[\n\r]/);
  });

  it('unknown vipkeeper.* labels are notices, not skips', () => {
    const state = build([container({ name: 'web', extraLabels: { 'vipkeeper.prot': '80', 'vipkeeper.zzzzzz': '1' } })]);
    expect(summary(state)).toEqual({ services: { apps: ['web'] }, skipped: [] });
    expect(state.notices).toEqual([
      { containerName: 'web', message: 'unknown label "vipkeeper.prot"; did you mean vipkeeper.port?' },
      { containerName: 'web', message: 'unknown label "vipkeeper.zzzzzz"' },
    ]);
  });
});

describe('buildDesiredState: services', () => {
  it('with no containers the default service still exists, empty (the `service` fixture other tests build on)', () => {
    expect(build([])).toEqual({ services: [defaultService([])], skipped: [], notices: [] });
    expect(defaultService([])).toMatchObject({ name: 'apps', mode: 'http', frontendPort: 80, check: { enabled: true, path: null, interval: '2s', rise: 2, fall: 5 } });
  });

  it.each<[string, Partial<SelectionSettings>, { name: string; frontendPort: number }]>([
    ['named after the backend role', { backendRole: 'web' }, { name: 'web', frontendPort: 80 }],
    ['on VIPKEEPER_FRONTEND_PORT', { frontendPort: 8080 }, { name: 'apps', frontendPort: 8080 }],
  ])('the default service is %s', (_what, settings, expected) => {
    expect(build([], settings).services).toEqual([expect.objectContaining(expected)]);
  });

  it('vipkeeper.service splits containers into services, sorted by name', () => {
    const state = build([
      container({ name: 'web-2', extraLabels: { 'vipkeeper.service': 'web', 'vipkeeper.host': 'web.example.com' } }),
      container({ name: 'api-1', extraLabels: { 'vipkeeper.service': 'api', 'vipkeeper.frontend.port': '8080' } }),
      container({ name: 'plain-1' }),
      container({ name: 'web-1', extraLabels: { 'vipkeeper.service': 'web', 'vipkeeper.host': 'web.example.com' } }),
      container({ name: 'plain-2' }),
    ]);
    expect(summary(state)).toEqual({
      services: { api: ['api-1'], apps: ['plain-1', 'plain-2'], web: ['web-1', 'web-2'] },
      skipped: [],
    });
    expect(state.services.map((s) => s.name)).toEqual(['api', 'apps', 'web']);
  });

  it('the same container objects planned again with other defaults follow the new defaults (labels parsed once are not reused blindly)', () => {
    const fleet = [container({ name: 'a' }), container({ name: 'b', extraLabels: { 'vipkeeper.service': 'b', 'vipkeeper.frontend.port': '9000' } })];
    const first = build(fleet);
    const again = build(fleet, { frontendPort: 8080 });
    expect(first.services.map((s) => [s.name, s.frontendPort, s.servers.length])).toEqual([['apps', 80, 1], ['b', 9000, 1]]);
    expect(again.services.map((s) => [s.name, s.frontendPort, s.servers.length])).toEqual([['apps', 8080, 1], ['b', 9000, 1]]);
    expect(build(fleet)).toEqual(first);
  });

  it('a service server carries weight and maxconn from its labels', () => {
    const state = build([container({ name: 'web', extraLabels: { 'vipkeeper.weight': '0', 'vipkeeper.maxconn': '50' } })]);
    expect(service(state, 'apps').servers).toEqual([
      { name: 'web', containerId: idFor('web'), containerName: 'web', address: '127.0.0.1', port: expect.any(Number), weight: 0, maxconn: 50, role: 'active', standby: false },
    ]);
  });

  it('when another service takes the default port with a host rule, no empty default service is added', () => {
    const state = build([container({ name: 'web', extraLabels: { 'vipkeeper.service': 'web', 'vipkeeper.host': 'a.example.com' } })]);
    expect(state.services.map((s) => s.name)).toEqual(['web']);
  });

  it('the default service is added beside services on other ports', () => {
    const state = build([container({ name: 'db', extraLabels: { 'vipkeeper.service': 'db', 'vipkeeper.mode': 'tcp', 'vipkeeper.frontend.port': '5432' } })]);
    expect(summary(state)).toEqual({ services: { apps: [], db: ['db'] }, skipped: [] });
  });
});

describe('buildDesiredState: containers of one service must agree; the oldest wins', () => {
  it.each<[string, Record<string, string>, Record<string, string>, string, string]>([
    ['vipkeeper.balance', { 'vipkeeper.balance': 'leastconn' }, { 'vipkeeper.balance': 'random' }, 'random', 'leastconn'],
    ['vipkeeper.balance', { 'vipkeeper.balance': 'leastconn' }, {}, 'roundrobin', 'leastconn'],
    ['vipkeeper.mode', {}, { 'vipkeeper.mode': 'tcp' }, 'tcp', 'http'],
    ['vipkeeper.frontend.port', { 'vipkeeper.frontend.port': '8080' }, { 'vipkeeper.frontend.port': '8081' }, '8081', '8080'],
    ['vipkeeper.host', { 'vipkeeper.host': 'a.example.com' }, { 'vipkeeper.host': 'b.example.com' }, 'b.example.com', 'a.example.com'],
    ['vipkeeper.host', { 'vipkeeper.host': 'a.example.com' }, { 'vipkeeper.host': 'a.example.com,b.example.com' }, 'a.example.com,b.example.com', 'a.example.com'],
    ['vipkeeper.path', { 'vipkeeper.path': '/a' }, {}, '(unset)', '/a'],
    ['vipkeeper.check', {}, { 'vipkeeper.check': 'false' }, 'false', 'true'],
    ['vipkeeper.check.path', {}, { 'vipkeeper.check.path': '/h' }, '/h', '(unset)'],
    ['vipkeeper.check.interval', { 'vipkeeper.check.interval': '5s' }, {}, '2s', '5s'],
    ['vipkeeper.check.rise', {}, { 'vipkeeper.check.rise': '9' }, '9', '2'],
    ['vipkeeper.check.fall', {}, { 'vipkeeper.check.fall': '9' }, '9', '5'],
  ])('%s differs (row %#): the newer container is skipped', (label, oldLabels, newLabels, mine, theirs) => {
    const old = container({ name: 'old', created: 100, extraLabels: { 'vipkeeper.service': 'web', ...oldLabels } });
    const young = container({ name: 'young', created: 200, extraLabels: { 'vipkeeper.service': 'web', ...newLabels } });
    // The newer one comes first in the input: age decides, not order.
    const state = build([young, old]);
    expect(summary(state).skipped).toEqual(['young']);
    expect(service(state, 'web').servers.map((s) => s.containerName)).toEqual(['old']);
    expect(reasonOf(state, 'young')).toBe(`its ${label} (${mine}) disagrees with ${theirs} set by old, the oldest container of service web`);
  });

  it('server-level labels may differ within a service', () => {
    const state = build([
      container({ name: 'a', created: 1, extraLabels: { 'vipkeeper.weight': '10', 'vipkeeper.maxconn': '5' } }),
      container({ name: 'b', created: 2, extraLabels: { 'vipkeeper.weight': '90', 'vipkeeper.docker-health': 'ignore' } }),
    ]);
    expect(summary(state)).toEqual({ services: { apps: ['a', 'b'] }, skipped: [] });
  });

  it('the same host list in another order agrees', () => {
    const state = build([
      container({ name: 'a', created: 1, extraLabels: { 'vipkeeper.host': 'x.example,y.example' } }),
      container({ name: 'b', created: 2, extraLabels: { 'vipkeeper.host': 'y.example,x.example' } }),
    ]);
    expect(summary(state)).toEqual({ services: { apps: ['a', 'b'] }, skipped: [] });
  });

  it('equal creation times: the smaller id is the older', () => {
    const [first, second] = [idFor('p'), idFor('q')].sort();
    const a = container({ name: 'a', id: second!, created: 5, extraLabels: { 'vipkeeper.balance': 'random' } });
    const b = container({ name: 'b', id: first!, created: 5, extraLabels: { 'vipkeeper.balance': 'leastconn' } });
    expect(summary(build([a, b])).skipped).toEqual(['a']);
  });
});

describe('buildDesiredState: services sharing a frontend port', () => {
  const svc = (name: string, created: number, labels: Record<string, string> = {}) =>
    container({ name, created, extraLabels: { 'vipkeeper.service': name, ...labels } });

  it.each<[string, Record<string, string>, Record<string, string>, string | null]>([
    ['two http services without rules', {}, {}, 'neither has a vipkeeper.host or vipkeeper.path rule to tell their requests apart'],
    ['same host', { 'vipkeeper.host': 'a.example.com' }, { 'vipkeeper.host': 'a.example.com' }, 'both have the same vipkeeper.host and vipkeeper.path rules'],
    ['same host and path', { 'vipkeeper.host': 'a.example.com', 'vipkeeper.path': '/x' }, { 'vipkeeper.host': 'a.example.com', 'vipkeeper.path': '/x' }, 'both have the same vipkeeper.host and vipkeeper.path rules'],
    ['same path', { 'vipkeeper.path': '/x' }, { 'vipkeeper.path': '/x' }, 'both have the same vipkeeper.host and vipkeeper.path rules'],
    ['older tcp, newer http', { 'vipkeeper.mode': 'tcp' }, {}, 'a TCP service needs a frontend port of its own (set vipkeeper.frontend.port)'],
    ['older http, newer tcp', {}, { 'vipkeeper.mode': 'tcp' }, 'a TCP service needs a frontend port of its own (set vipkeeper.frontend.port)'],
    ['older http with a host rule, newer tcp', { 'vipkeeper.host': 'a.example.com' }, { 'vipkeeper.mode': 'tcp' }, 'a TCP service needs a frontend port of its own (set vipkeeper.frontend.port)'],
    ['two tcp services', { 'vipkeeper.mode': 'tcp' }, { 'vipkeeper.mode': 'tcp' }, 'a TCP service needs a frontend port of its own (set vipkeeper.frontend.port)'],
    ['distinct hosts', { 'vipkeeper.host': 'a.example.com' }, { 'vipkeeper.host': 'b.example.com' }, null],
    ['one with a host, one without (the fallback)', { 'vipkeeper.host': 'a.example.com' }, {}, null],
    ['one without, one with a path', {}, { 'vipkeeper.path': '/api' }, null],
    ['same host, different paths', { 'vipkeeper.host': 'a.example.com', 'vipkeeper.path': '/a' }, { 'vipkeeper.host': 'a.example.com', 'vipkeeper.path': '/b' }, null],
    // Routes of one rank are tried by service name: a newer service sharing one host would take it from the older one.
    ['overlapping host lists', { 'vipkeeper.host': 'a.example.com' }, { 'vipkeeper.host': 'a.example.com,b.example.com' }, 'both serve a.example.com with the same vipkeeper.path rule'],
    ['overlapping host lists, the newer one named first', { 'vipkeeper.host': 'a.example.com,c.example.com' }, { 'vipkeeper.host': 'b.example.com,c.example.com' }, 'both serve c.example.com with the same vipkeeper.path rule'],
    // path_beg / matches every request: a newer service would take everything the older one serves.
    ['path / beside no rules', {}, { 'vipkeeper.path': '/' }, 'neither has a vipkeeper.host or vipkeeper.path rule to tell their requests apart'],
    ['same host, one with path /', { 'vipkeeper.host': 'a.example.com' }, { 'vipkeeper.host': 'a.example.com', 'vipkeeper.path': '/' }, 'both have the same vipkeeper.host and vipkeeper.path rules'],
    ['overlapping host lists, different paths', { 'vipkeeper.host': 'a.example.com' }, { 'vipkeeper.host': 'a.example.com,b.example.com', 'vipkeeper.path': '/b' }, null],
    ['different frontend ports', {}, { 'vipkeeper.frontend.port': '8080' }, null],
    ['two tcp services on different ports', { 'vipkeeper.mode': 'tcp', 'vipkeeper.frontend.port': '5432' }, { 'vipkeeper.mode': 'tcp', 'vipkeeper.frontend.port': '6379' }, null],
  ])('%s', (_what, olderLabels, newerLabels, conflict) => {
    const older = svc('older', 100, olderLabels);
    const newer = svc('newer', 200, newerLabels);
    for (const input of [[older, newer], [newer, older]]) {
      const state = build(input);
      if (conflict === null) {
        expect(state.skipped).toEqual([]);
        expect(service(state, 'older').servers).toHaveLength(1);
        expect(service(state, 'newer').servers).toHaveLength(1);
      } else {
        expect(summary(state).skipped).toEqual(['newer']);
        expect(service(state, 'older').servers).toHaveLength(1);
        expect(state.services.map((s) => s.name)).not.toContain('newer');
        expect(reasonOf(state, 'newer')).toBe(`service newer conflicts with service older (of older) on frontend port 80: ${conflict}`);
      }
    }
  });

  it('every container of the losing service is skipped', () => {
    const state = build([
      svc('older', 100),
      container({ name: 'newer-1', created: 200, extraLabels: { 'vipkeeper.service': 'newer' } }),
      container({ name: 'newer-2', created: 300, extraLabels: { 'vipkeeper.service': 'newer' } }),
    ]);
    expect(summary(state)).toEqual({ services: { older: ['older'] }, skipped: ['newer-1', 'newer-2'] });
  });

  it("a service's age is its oldest container's", () => {
    const state = build([
      container({ name: 'b-young', created: 500, extraLabels: { 'vipkeeper.service': 'b' } }),
      container({ name: 'a-1', created: 300, extraLabels: { 'vipkeeper.service': 'a' } }),
      container({ name: 'b-old', created: 100, extraLabels: { 'vipkeeper.service': 'b' } }),
    ]);
    expect(summary(state)).toEqual({ services: { b: ['b-old', 'b-young'] }, skipped: ['a-1'] });
  });

  it('the default service loses to an older service on its port like any other', () => {
    const state = build([svc('web', 100), container({ name: 'plain', created: 200 })]);
    expect(summary(state)).toEqual({ services: { web: ['web'] }, skipped: ['plain'] });
  });
});

describe('buildDesiredState: server names', () => {
  it.each<[string, string, string]>([
    ['a plain name is kept', 'web-1', 'web-1'],
    ['dots and underscores are kept', 'proj_web.1', 'proj_web.1'],
    ['a name of 64 characters is kept', 'a'.repeat(64), 'a'.repeat(64)],
    ['a name of 65 characters falls back', 'a'.repeat(65), 'c-<id12>'],
    ['a space falls back', 'weird name', 'c-<id12>'],
    ['a leading dash falls back', '-web', 'c-<id12>'],
    ['non-ASCII falls back', 'wéb', 'c-<id12>'],
    ['a newline falls back', 'web\nserver evil', 'c-<id12>'],
    ['an empty name falls back', '', 'c-<id12>'],
  ])('%s', (_what, name, expected) => {
    const c = container({ name, id: idFor('fixed') });
    const [srv] = service(build([c]), 'apps').servers;
    expect(srv!.name).toBe(expected.replace('<id12>', idFor('fixed').slice(0, 12)));
    expect(srv!.containerName).toBe(name);
  });
});

describe('buildDesiredState: server names are unique by construction; the oldest keeps its name', () => {
  // Ids with a fixed, distinct 12-character prefix, so the fallback names are known.
  const ID_A = `aaaaaaaaaaaa${idFor('a').slice(12)}`;
  const ID_B = `bbbbbbbbbbbb${idFor('b').slice(12)}`;
  const ID_A2 = `aaaaaaaaaaaa${idFor('a2').slice(12)}`; // same short id as ID_A, another container
  const who = (name: string, id: string) => `${JSON.stringify(name)} (${id.slice(0, 12)})`;

  interface Row {
    readonly what: string;
    readonly containers: ContainerSpec[];
    /** Server names per service. */
    readonly served: Record<string, string[]>;
    /** Skipped container -> [its server name, the holder's name, the holder's id]. */
    readonly skipped: Record<string, [string, string, string]>;
  }
  const rows: Row[] = [
    {
      what: "a container named like an older container's fallback c-<id12>",
      containers: [
        { name: 'weird name', id: ID_A, created: 1 },
        { name: 'c-aaaaaaaaaaaa', id: ID_B, created: 2 },
      ],
      served: { apps: ['c-aaaaaaaaaaaa'] },
      skipped: { 'c-aaaaaaaaaaaa': ['c-aaaaaaaaaaaa', 'weird name', ID_A] },
    },
    {
      what: 'the same clash with the ages swapped: the older plain name wins, the fallback is skipped',
      containers: [
        { name: 'weird name', id: ID_A, created: 2 },
        { name: 'c-aaaaaaaaaaaa', id: ID_B, created: 1 },
      ],
      served: { apps: ['c-aaaaaaaaaaaa'] },
      skipped: { 'weird name': ['c-aaaaaaaaaaaa', 'c-aaaaaaaaaaaa', ID_B] },
    },
    {
      what: "an engine-qualified fallback (engine_c-<id12>) and a container named like it on the same engine",
      containers: [
        { name: 'bad/name', id: ID_A, created: 1, engine: 'app1' },
        { name: 'c-aaaaaaaaaaaa', id: ID_B, created: 2, engine: 'app1' },
        { name: 'c-aaaaaaaaaaaa', id: ID_A2, created: 3, engine: 'app2' },
      ],
      served: { apps: ['app1_c-aaaaaaaaaaaa', 'app2_c-aaaaaaaaaaaa'] },
      skipped: { 'c-aaaaaaaaaaaa': ['app1_c-aaaaaaaaaaaa', 'bad/name', ID_A] },
    },
    {
      what: 'two engines whose qualified names meet (engine a_b + c, engine a + b_c)',
      containers: [
        { name: 'c', id: ID_A, created: 1, engine: 'a_b' },
        { name: 'b_c', id: ID_B, created: 2, engine: 'a' },
      ],
      served: { apps: ['a_b_c'] },
      skipped: { b_c: ['a_b_c', 'c', ID_A] },
    },
    {
      what: 'two unsafe names whose ids share the first 12 characters',
      containers: [
        { name: 'x y', id: ID_A, created: 1 },
        { name: 'x z', id: ID_A2, created: 2 },
      ],
      served: { apps: ['c-aaaaaaaaaaaa'] },
      skipped: { 'x z': ['c-aaaaaaaaaaaa', 'x y', ID_A] },
    },
    {
      what: 'the clash spans services: names are unique across all backends',
      containers: [
        { name: 'weird name', id: ID_A, created: 1, extraLabels: { 'vipkeeper.service': 'api', 'vipkeeper.path': '/api' } },
        { name: 'c-aaaaaaaaaaaa', id: ID_B, created: 2 },
      ],
      served: { api: ['c-aaaaaaaaaaaa'] },
      skipped: { 'c-aaaaaaaaaaaa': ['c-aaaaaaaaaaaa', 'weird name', ID_A] },
    },
    {
      what: 'equal creation times: the smaller id keeps the name',
      containers: [
        { name: 'c-aaaaaaaaaaaa', id: ID_B, created: 5 },
        { name: 'weird name', id: ID_A, created: 5 },
      ],
      served: { apps: ['c-aaaaaaaaaaaa'] },
      skipped: { 'c-aaaaaaaaaaaa': ['c-aaaaaaaaaaaa', 'weird name', ID_A] },
    },
    {
      what: 'names that differ only in case are distinct (HAProxy compares them case-sensitively)',
      containers: [
        { name: 'Web', id: ID_A, created: 1 },
        { name: 'web', id: ID_B, created: 2 },
      ],
      served: { apps: ['Web', 'web'] },
      skipped: {},
    },
    {
      what: 'two long names fall back to their own distinct ids',
      containers: [
        { name: 'a'.repeat(65), id: ID_A, created: 1 },
        { name: 'b'.repeat(65), id: ID_B, created: 2 },
      ],
      served: { apps: ['c-aaaaaaaaaaaa', 'c-bbbbbbbbbbbb'] },
      skipped: {},
    },
    {
      what: 'a skipped container (bad label) holds no name',
      containers: [
        { name: 'weird name', id: ID_A, created: 1, extraLabels: { 'vipkeeper.weight': 'lots' } },
        { name: 'c-aaaaaaaaaaaa', id: ID_B, created: 2 },
      ],
      served: { apps: ['c-aaaaaaaaaaaa'] },
      skipped: {},
    },
  ];

  it.each(rows)('$what', ({ containers, served, skipped }) => {
    const input = containers.map((spec) => container(spec));
    for (const order of [input, [...input].reverse()]) {
      const state = build(order);
      expect(Object.fromEntries(state.services.map((s) => [s.name, s.servers.map((srv) => srv.name)]))).toEqual(served);
      const all = state.services.flatMap((s) => s.servers.map((srv) => srv.name));
      expect(new Set(all).size).toBe(all.length);
      const nameClashes = state.skipped.filter((s) => s.reason.includes('server name'));
      expect(Object.fromEntries(nameClashes.map((s) => [s.containerName, s.reason]))).toEqual(
        Object.fromEntries(
          Object.entries(skipped).map(([name, [server, holder, holderId]]) => {
            const mine = input.find((c) => c.name === name)!;
            return [
              name,
              `its server name ${server} is already taken by the older container ${who(holder, holderId)}, so ${who(name, mine.id)} is left out: rename one of them`,
            ];
          }),
        ),
      );
    }
  });

  it("the older container's name does not change when a clashing container appears, and only the newcomer is left out", () => {
    const older = container({ name: 'weird name', id: ID_A, created: 1 });
    const other = container({ name: 'web-1', created: 1 });
    const before = build([older, other]);
    const after = build([older, other, container({ name: 'c-aaaaaaaaaaaa', id: ID_B, created: 9 })]);
    expect(after.services).toEqual(before.services);
    expect(after.skipped.map((s) => s.containerName)).toEqual(['c-aaaaaaaaaaaa']);
  });
});

describe('buildDesiredState: determinism', () => {
  const fleet: ContainerInfo[] = [
    container({ name: 'web-1', created: 10, extraLabels: { 'vipkeeper.service': 'web', 'vipkeeper.host': 'web.example.com' } }),
    container({ name: 'web-2', created: 20, extraLabels: { 'vipkeeper.service': 'web', 'vipkeeper.host': 'web.example.com' } }),
    container({ name: 'web-odd', created: 30, extraLabels: { 'vipkeeper.service': 'web', 'vipkeeper.host': 'other.example.com' } }),
    container({ name: 'api-1', created: 15, extraLabels: { 'vipkeeper.service': 'api', 'vipkeeper.path': '/api', 'vipkeeper.check.path': '/api/health' } }),
    container({ name: 'db', created: 5, extraLabels: { 'vipkeeper.service': 'db', 'vipkeeper.mode': 'tcp', 'vipkeeper.frontend.port': '5432' } }),
    container({ name: 'cache', created: 50, extraLabels: { 'vipkeeper.service': 'cache', 'vipkeeper.mode': 'tcp', 'vipkeeper.frontend.port': '5432' } }),
    container({ name: 'plain-1', created: 40 }),
    container({ name: 'plain-2', created: 40, extraLabels: { 'vipkeeper.weight': '5', 'vipkeeper.typo': 'x' } }),
    container({ name: 'sick', created: 1, health: 'unhealthy' }),
    container({ name: 'evil', created: 2, extraLabels: { 'vipkeeper.path': '/x y' } }),
    container({ name: 'stopped', created: 3, running: false }),
  ];
  const expected = build(fleet);

  it('the fleet gives the expected picture', () => {
    expect(summary(expected)).toEqual({
      services: { api: ['api-1'], apps: ['plain-1', 'plain-2'], db: ['db'], web: ['web-1', 'web-2'] },
      skipped: ['cache', 'evil', 'sick', 'web-odd'],
    });
    expect(expected.notices).toHaveLength(1);
  });

  it.each([
    ['reversed', [...fleet].reverse()],
    ['shuffled (seed 1)', shuffled(fleet, 1)],
    ['shuffled (seed 2)', shuffled(fleet, 2)],
    ['shuffled (seed 3)', shuffled(fleet, 3)],
    ['shuffled (seed 42)', shuffled(fleet, 42)],
  ])('%s input gives a deep-equal state', (_what, input) => {
    expect(build(input)).toEqual(expected);
    expect(JSON.stringify(build(input))).toBe(JSON.stringify(expected));
  });

  it('does not modify its input', () => {
    const input = shuffled(fleet, 7);
    const copy = JSON.parse(JSON.stringify(input)) as unknown;
    build(input);
    expect(input).toEqual(copy);
  });
});

describe('buildDesiredState: named definitions serve one service each', () => {
  const twoPorts = (name: string, created: number, labels: Record<string, string>) =>
    container({
      name,
      created,
      exposedTcpPorts: [80, 9000],
      bindings: [binding(80, 31080), binding(9000, 31900)],
      extraLabels: labels,
    });

  it('a two-port container with two named definitions is two services, two servers', () => {
    const state = build([
      twoPorts('shop', 100, {
        'vipkeeper.web.port': '80',
        'vipkeeper.web.host': 'www.example.com',
        'vipkeeper.admin.port': '9000',
        'vipkeeper.admin.host': 'admin.example.com',
      }),
    ]);
    expect(state.skipped).toEqual([]);
    expect(service(state, 'web').servers.map((s) => [s.name, s.definition, s.address, s.port])).toEqual([['shop_web', 'web', '127.0.0.1', 31080]]);
    expect(service(state, 'admin').servers.map((s) => [s.name, s.definition, s.port])).toEqual([['shop_admin', 'admin', 31900]]);
    expect(service(state, 'admin').hosts).toEqual(['admin.example.com']);
    expect(state.services.map((s) => s.name)).toEqual(['admin', 'web']);
  });

  it('replicas with the same named definitions join the same services', () => {
    const labels = { 'vipkeeper.web.port': '80', 'vipkeeper.web.host': 'www.example.com', 'vipkeeper.admin.port': '9000', 'vipkeeper.admin.host': 'admin.example.com' };
    const state = build([twoPorts('shop-1', 100, labels), twoPorts('shop-2', 200, labels)]);
    expect(summary(state).services).toMatchObject({ web: ['shop-1', 'shop-2'], admin: ['shop-1', 'shop-2'] });
  });

  it.each<[string, Record<string, string>, string]>([
    [
      'one definition collides on the frontend port: the whole newer container is left out, both containers named',
      { 'vipkeeper.web.port': '80', 'vipkeeper.web.host': 'taken.example.com', 'vipkeeper.admin.port': '9000', 'vipkeeper.admin.host': 'admin.example.com' },
      'definition web: service web conflicts with service old (of older) on frontend port 80: both have the same vipkeeper.host and vipkeeper.path rules; so none of its definitions is served',
    ],
    [
      'one definition disagrees with an existing service: the whole container is left out',
      { 'vipkeeper.web.port': '80', 'vipkeeper.web.service': 'old', 'vipkeeper.web.host': 'other.example.com', 'vipkeeper.admin.port': '9000', 'vipkeeper.admin.host': 'admin.example.com' },
      'definition web: its vipkeeper.host (other.example.com) disagrees with taken.example.com set by older, the oldest container of service old; so none of its definitions is served',
    ],
  ])('%s', (_what, labels, reason) => {
    const older = container({ name: 'older', created: 50, extraLabels: { 'vipkeeper.service': 'old', 'vipkeeper.host': 'taken.example.com' } });
    for (const input of [[older, twoPorts('newer', 100, labels)], [twoPorts('newer', 100, labels), older]]) {
      const state = build(input);
      expect(summary(state).skipped).toEqual(['newer']);
      expect(reasonOf(state, 'newer')).toBe(reason);
      expect(state.services.flatMap((s) => s.servers.map((v) => v.containerName))).toEqual(['older']);
      expect(state.services.map((s) => s.name)).not.toContain('admin');
    }
  });

  it("a definition whose port is not published leaves the whole container out, naming the definition", () => {
    const state = build([twoPorts('shop', 100, { 'vipkeeper.web.port': '80', 'vipkeeper.web.host': 'w.example.com', 'vipkeeper.admin.port': '9100' })]);
    expect(reasonOf(state, 'shop')).toBe('definition admin: port 9100/tcp is not published (docker run -p 9100); publish it or set vipkeeper.network');
    expect(state.services.flatMap((s) => s.servers)).toEqual([]);
  });

  it('a bad definition name skips the container with the rule', () => {
    const state = build([twoPorts('shop', 100, { 'vipkeeper.Web.port': '80' })]);
    expect(reasonOf(state, 'shop')).toContain('label "vipkeeper.Web.port"="80" breaks the rule: a definition name');
  });
});

describe('buildDesiredState: VIPKEEPER_LABEL_PREFIX', () => {
  it('labels under the configured prefix are read; vipkeeper.* ones are not ours then', () => {
    const state = build([container({ name: 'web', extraLabels: { 'lb.service': 'shop', 'vipkeeper.service': 'ignored' } })], { labelPrefix: 'lb' });
    expect(summary(state).services).toEqual({ shop: ['web'] });
  });

  it('reasons name the labels with the configured prefix', () => {
    const state = build(
      [
        container({ name: 'a', created: 1, extraLabels: { 'lb.service': 'a' } }),
        container({ name: 'b', created: 2, extraLabels: { 'lb.service': 'b' } }),
        container({ name: 'c', created: 3, exposedTcpPorts: [80, 81], extraLabels: { 'lb.service': 'a' } }),
      ],
      { labelPrefix: 'lb' },
    );
    expect(reasonOf(state, 'b')).toBe('service b conflicts with service a (of a) on frontend port 80: neither has a lb.host or lb.path rule to tell their requests apart');
    expect(reasonOf(state, 'c')).toBe('it exposes 2 TCP ports (80, 81): set lb.port to choose one');
  });
});

describe('buildDesiredState: VIPKEEPER_COMPAT=nginx-proxy', () => {
  const np = (name: string, env: Record<string, string>, over: Partial<ContainerSpec> = {}) => container({ name, labels: {}, env, ...over });
  const compat = { compat: 'nginx-proxy' as const };

  it('a container with only VIRTUAL_HOST (no role label) is served by host name', () => {
    const state = build([np('app', { VIRTUAL_HOST: 'app.example.com' })], compat);
    expect(state.skipped).toEqual([]);
    const s = service(state, 'app_example_com');
    expect(s.hosts).toEqual(['app.example.com']);
    expect(s.servers.map((v) => v.containerName)).toEqual(['app']);
    expect(s.tls).toEqual({ enabled: null, redirect: true, hsts: 31_536_000 });
  });

  it.each<[string, Record<string, string>, Partial<SelectionSettings>]>([
    ['compat off (the default)', { VIRTUAL_HOST: 'app.example.com' }, {}],
    ['blank VIRTUAL_HOST', { VIRTUAL_HOST: ' ' }, compat],
    ['VIRTUAL_PORT without VIRTUAL_HOST', { VIRTUAL_PORT: '80' }, compat],
  ])('not served: %s', (_what, env, settings) => {
    const state = build([np('app', env)], settings);
    expect(state.services.flatMap((s) => s.servers)).toEqual([]);
    expect(state.skipped).toEqual([]);
  });

  it('containers with the same VIRTUAL_HOST share one service; different hosts get their own', () => {
    const state = build(
      [
        np('a-1', { VIRTUAL_HOST: 'a.example.com' }, { created: 1 }),
        np('a-2', { VIRTUAL_HOST: 'a.example.com' }, { created: 2 }),
        np('b-1', { VIRTUAL_HOST: 'b.example.com' }, { created: 3 }),
      ],
      compat,
    );
    expect(summary(state)).toEqual({ services: { a_example_com: ['a-1', 'a-2'], b_example_com: ['b-1'] }, skipped: [] });
  });

  it('a label wins over its variable', () => {
    const state = build([np('app', { VIRTUAL_HOST: 'app.example.com', VIRTUAL_PORT: '8080' }, { labels: { 'vipkeeper.port': '80' } })], compat);
    expect(service(state, 'app_example_com').servers[0]!.port).toBeGreaterThan(30000);
  });

  it('a bad variable is refused like the label, the warning naming the container and the variable', () => {
    const state = build([np('app', { VIRTUAL_HOST: 'app.example.com', VIRTUAL_PORT: '70000' }), np('fine', { VIRTUAL_HOST: 'fine.example.com' })], compat);
    expect(summary(state).skipped).toEqual(['app']);
    expect(reasonOf(state, 'app')).toBe('environment variable VIRTUAL_PORT="70000" breaks the rule: a whole number from 1 to 65535');
    expect(state.skipped[0]!.problems).toEqual([{ label: 'VIRTUAL_PORT', source: 'env', shownValue: '"70000"', rule: 'a whole number from 1 to 65535' }]);
    expect(service(state, 'fine_example_com').servers).toHaveLength(1);
  });

  it('role-labelled containers keep being served beside compat ones', () => {
    const state = build([container({ name: 'plain' }), np('app', { VIRTUAL_HOST: 'app.example.com' })], compat);
    expect(summary(state).services).toEqual({ app_example_com: ['app'], apps: ['plain'] });
  });
});
