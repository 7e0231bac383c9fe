import { describe, expect, it } from 'vitest';
import { formatStatus } from '../../src/cli/status-command.js';
import { parseEnvironment } from '../../src/config/env.js';
import { mapSwarm, type SwarmNode, type SwarmService, type SwarmTask } from '../../src/docker/map-task.js';
import { buildDesiredState, resolveEndpoint, serverName } from '../../src/model/desired-state.js';
import type { StatusSnapshot } from '../../src/status/snapshot.js';
import { binding, configError, container, FACTS, MINIMAL_ENV, SETTINGS } from './fixtures.js';

// Several engines and Docker Swarm: the pure parts (configuration, naming,
// where a remote engine's ports are reached, Swarm's shapes -> our containers).

const parse = (env: Record<string, string>) => parseEnvironment({ ...MINIMAL_ENV, ...env }, FACTS).config;

describe('VIPKEEPER_DOCKER_HOSTS', () => {
  it('unset: the one local engine, which keeps the VIPKEEPER_PUBLISHED_HOST rule', () => {
    expect(parse({}).engines).toEqual([{ name: 'local', endpoint: 'unix:///var/run/docker.sock', advertise: null, tlsCertPath: null }]);
    expect(parse({ VIPKEEPER_DOCKER_HOST: 'tcp://docker:2375' }).engines).toEqual([{ name: 'docker', endpoint: 'tcp://docker:2375', advertise: null, tlsCertPath: null }]);
  });

  it.each([
    ['two tcp engines, comma separated', 'tcp://198.18.0.21:2375,tcp://198.18.0.22:2375', [['198.18.0.21', 'tcp://198.18.0.21:2375', '198.18.0.21'], ['198.18.0.22', 'tcp://198.18.0.22:2375', '198.18.0.22']]],
    ['space separated, with an advertised address', 'tcp://app1.internal:2375=203.0.113.21  tcp://app2.internal:2375', [['app1.internal', 'tcp://app1.internal:2375', '203.0.113.21'], ['app2.internal', 'tcp://app2.internal:2375', 'app2.internal']]],
    ['the local socket beside a remote engine', 'unix:///var/run/docker.sock tcp://198.18.0.22:2375', [['local', 'unix:///var/run/docker.sock', null], ['198.18.0.22', 'tcp://198.18.0.22:2375', '198.18.0.22']]],
    ['two sockets get distinct names', 'unix:///run/a.sock=198.18.0.5,unix:///run/b.sock', [['local', 'unix:///run/a.sock', '198.18.0.5'], ['local-2', 'unix:///run/b.sock', null]]],
    ['an advertised IPv6 address, written canonically', 'tcp://app1.internal:2375=2001:DB8:0::21', [['app1.internal', 'tcp://app1.internal:2375', '2001:db8::21']]],
  ])('%s', (_what, value, expected) => {
    const engines = parse({ VIPKEEPER_DOCKER_HOSTS: value }).engines;
    expect(engines.map((e) => [e.name, e.endpoint, e.advertise])).toEqual(expected);
  });

  it.each([
    ['an ssh endpoint', 'ssh://root@app1'],
    ['http instead of tcp', 'http://app1:2375'],
    ['no port', 'tcp://app1'],
    ['a port out of range', 'tcp://app1:70000'],
    ['an advertised address with a path', 'tcp://app1:2375=/x'],
    ['an empty advertised address', 'tcp://app1:2375='],
    ['an advertised IPv6 address with a zone', 'tcp://app1:2375=fe80::1%eth0'],
  ])('refuses %s, naming the item', (_what, value) => {
    const err = configError(() => parse({ VIPKEEPER_DOCKER_HOSTS: `tcp://ok:2375,${value}` }));
    expect(err.problems).toEqual([{ variable: 'VIPKEEPER_DOCKER_HOSTS', shownValue: expect.any(String), rule: expect.stringContaining(JSON.stringify(value)) }]);
  });

  it('refuses an engine listed twice', () => {
    const err = configError(() => parse({ VIPKEEPER_DOCKER_HOSTS: 'tcp://a:2375 tcp://a:2375' }));
    expect(err.problems[0]!.rule).toBe('lists tcp://a:2375 twice');
  });

  it('TLS: DOCKER_TLS_VERIFY applies DOCKER_CERT_PATH to tcp engines only, and needs it', () => {
    const engines = parse({ VIPKEEPER_DOCKER_HOSTS: 'unix:///var/run/docker.sock tcp://a:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/certs' }).engines;
    expect(engines.map((e) => e.tlsCertPath)).toEqual([null, '/certs']);
    const err = configError(() => parse({ VIPKEEPER_DOCKER_HOSTS: 'tcp://a:2376', DOCKER_TLS_VERIFY: '1' }));
    expect(err.problems[0]).toMatchObject({ variable: 'DOCKER_CERT_PATH', shownValue: '(unset)' });
  });

  it.each([
    ['10s', 10_000],
    ['500ms', 500],
    ['2m', 120_000],
    ['3', 3000],
  ])('VIPKEEPER_ENGINE_GRACE=%s is %i ms', (value, ms) => {
    expect(parse({ VIPKEEPER_ENGINE_GRACE: value }).engineGraceMs).toBe(ms);
  });

  it('defaults: 10 s grace, no app role, no swarm', () => {
    expect(parse({})).toMatchObject({ engineGraceMs: 10_000, appNodeRole: null, swarm: false });
    expect(parse({ VIPKEEPER_APP_NODE_ROLE: 'apps', VIPKEEPER_SWARM: 'yes' })).toMatchObject({ appNodeRole: 'apps', swarm: true });
  });
});

describe('containers of several engines', () => {
  it('server names carry the engine, so the same container name on two hosts never collides', () => {
    const a = container({ name: 'web-1', engine: 'app1', publishedHost: '198.18.0.21' });
    const b = container({ name: 'web-1', id: 'f'.repeat(64), engine: 'app2', publishedHost: '198.18.0.22' });
    const state = buildDesiredState([a, b], SETTINGS);
    expect(state.services[0]!.servers.map((s) => [s.name, s.address])).toEqual([
      ['app1_web-1', '198.18.0.21'],
      ['app2_web-1', '198.18.0.22'],
    ]);
  });

  it.each([
    ['a plain name', { name: 'web' }, 'web'],
    ['qualified', { name: 'web', engine: '198.18.0.21' }, '198.18.0.21_web'],
    ['an unsafe name falls back to the id', { name: 'we b', id: 'a'.repeat(64) }, `c-${'a'.repeat(12)}`],
    ['an unsafe name on an engine keeps the engine', { name: 'we b', id: 'a'.repeat(64), engine: 'app1' }, `app1_c-${'a'.repeat(12)}`],
  ])('serverName: %s', (_what, spec, expected) => {
    expect(serverName(container(spec))).toBe(expected);
  });

  it.each([
    ['any address: the engine advertised address', '0.0.0.0', { address: '198.18.0.21', port: 31000 }],
    ['a specific address on that host: that address', '198.18.0.99', { address: '198.18.0.99', port: 31000 }],
    ['loopback of another host: a problem', '127.0.0.1', { problem: expect.stringContaining('only on 127.0.0.1 of its host') }],
    ['a specific IPv6 address on that host: that address', '2001:db8::99', { address: '2001:db8::99', port: 31000 }],
    ['IPv6 loopback of another host: a problem', '::1', { problem: expect.stringContaining('only on ::1 of its host') }],
  ])('a remote engine published port, %s', (_what, hostIp, expected) => {
    const c = container({ name: 'web', bindings: [binding(80, 31000, hostIp)], publishedHost: '198.18.0.21' });
    const labels = { port: null, network: null, weight: 100, maxconn: null, dockerHealth: 'respect' as const };
    // VIPKEEPER_PUBLISHED_HOST is for the local engine; a remote engine's own address wins.
    expect(resolveEndpoint(c, labels, { ...SETTINGS, publishedHost: '10.9.9.9' })).toEqual(expected);
  });
});

// Shapes as Docker 20.10 answers them (trimmed to what is read).
const NODE: SwarmNode = {
  ID: 'node1',
  Description: { Hostname: 'app1' },
  Spec: { Labels: { role: 'apps' }, Availability: 'active' },
  Status: { State: 'ready', Addr: '198.19.0.23' },
};
const SERVICE: SwarmService = {
  ID: 'svc1',
  CreatedAt: '2026-01-01T00:00:00Z',
  Spec: { Name: 'web', Labels: { role: 'apps', 'vipkeeper.port': '80' } },
  Endpoint: { Ports: [] },
};
const task = (over: Partial<SwarmTask> & { id: string }): SwarmTask => ({
  ID: over.id,
  ServiceID: 'svc1',
  NodeID: 'node1',
  Slot: 1,
  DesiredState: 'running',
  ...over,
  Status: {
    State: 'running',
    Timestamp: '2026-01-01T00:00:05Z',
    ContainerStatus: { ContainerID: `c-${over.id}` },
    // Docker lists a host-mode port twice (IPv4 and IPv6).
    PortStatus: { Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 30001, PublishMode: 'host' }, { Protocol: 'tcp', TargetPort: 80, PublishedPort: 30001, PublishMode: 'host' }] },
    ...over.Status,
  },
});
const swarm = (tasks: SwarmTask[], nodes = [NODE], services = [SERVICE]) => ({ services, tasks, nodes });

describe('mapSwarm', () => {
  it('a running task in host mode: its node address and published port, the service labels', () => {
    const { containers, leftOut } = mapSwarm(swarm([task({ id: 't1' })]), { roleLabel: 'role', appNodeRole: null });
    expect(leftOut).toEqual([]);
    expect(containers).toEqual([
      expect.objectContaining({
        id: 'c-t1',
        name: 'web.1',
        running: true,
        labels: { role: 'apps', 'vipkeeper.port': '80' },
        exposedTcpPorts: [80],
        bindings: [{ privatePort: 80, protocol: 'tcp', hostIp: '198.19.0.23', hostPort: 30001 }],
        publishedHost: '198.19.0.23',
        stopping: false,
      }),
    ]);
    const state = buildDesiredState(containers, SETTINGS);
    expect(state.services[0]!.servers.map((s) => `${s.name} ${s.address}:${s.port}`)).toEqual(['web.1 198.19.0.23:30001']);
  });

  it.each([
    ['a task being shut down (rolling update) is kept as stopping, so it is drained', { DesiredState: 'shutdown' }, 1, true],
    ['a task not running yet is left out', { Status: { State: 'starting' } }, 0, null],
    ['a finished task is left out', { DesiredState: 'shutdown', Status: { State: 'complete' } }, 0, null],
  ])('%s', (_what, over, count, stopping) => {
    const { containers } = mapSwarm(swarm([task({ id: 't1', ...over } as Partial<SwarmTask> & { id: string })]), { roleLabel: 'role', appNodeRole: null });
    expect(containers).toHaveLength(count);
    if (stopping !== null) expect(containers[0]!.stopping).toBe(stopping);
    if (stopping) expect(buildDesiredState(containers, SETTINGS).services[0]!.servers).toEqual([]);
  });

  it('node labels gate app nodes; a node that is down is left out with a reason', () => {
    const other: SwarmNode = { ...NODE, ID: 'node2', Description: { Hostname: 'lb1' }, Spec: { Labels: { role: 'load-balancer' } } };
    const down: SwarmNode = { ...NODE, ID: 'node3', Description: { Hostname: 'app3' }, Status: { State: 'down', Addr: '198.19.0.25' } };
    const tasks = [task({ id: 't1' }), task({ id: 't2', Slot: 2, NodeID: 'node2' }), task({ id: 't3', Slot: 3, NodeID: 'node3' })];
    const { containers, leftOut } = mapSwarm(swarm(tasks, [NODE, other, down]), { roleLabel: 'role', appNodeRole: 'apps' });
    expect(containers.map((c) => c.name)).toEqual(['web.1']);
    expect(leftOut).toEqual([
      { task: 'web.2', reason: 'its node lb1 lacks the node label role=apps' },
      { task: 'web.3', reason: 'its node app3 is down' },
    ]);
  });

  it('ingress ports are reached on the task node; a manager reporting 0.0.0.0 uses its manager address', () => {
    const ingress: SwarmService = { ...SERVICE, Endpoint: { Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' }] } };
    const manager: SwarmNode = { ...NODE, Status: { State: 'ready', Addr: '0.0.0.0' }, ManagerStatus: { Addr: '198.19.0.30:2377' } };
    const t = task({ id: 't1', Status: { State: 'running', PortStatus: { Ports: [] } } });
    const { containers } = mapSwarm(swarm([t], [manager], [ingress]), { roleLabel: 'role', appNodeRole: null });
    expect(containers[0]!.bindings).toEqual([{ privatePort: 80, protocol: 'tcp', hostIp: '198.19.0.30', hostPort: 8080 }]);
  });

  it('overlay networks become container networks, so vipkeeper.network reaches task addresses', () => {
    const t = task({ id: 't1', NetworksAttachments: [{ Network: { Spec: { Name: 'ingress' } }, Addresses: ['10.0.0.5/24'] }, { Network: { Spec: { Name: 'appnet' } }, Addresses: ['10.0.1.7/24'] }] });
    const svc: SwarmService = { ...SERVICE, Spec: { Name: 'web', Labels: { role: 'apps', 'vipkeeper.port': '80', 'vipkeeper.network': 'appnet' } } };
    const { containers } = mapSwarm(swarm([t], [NODE], [svc]), { roleLabel: 'role', appNodeRole: null });
    expect(containers[0]!.networks).toEqual([{ network: 'appnet', ip: '10.0.1.7' }, { network: 'ingress', ip: '10.0.0.5' }]);
    const state = buildDesiredState(containers, SETTINGS);
    expect(state.services[0]!.servers.map((s) => `${s.address}:${s.port}`)).toEqual(['10.0.1.7:80']);
  });

  it('a dual-stack overlay: the IPv4 address is ip and the IPv6 one ip6, whichever Swarm lists first', () => {
    const t = task({ id: 't1', NetworksAttachments: [{ Network: { Spec: { Name: 'appnet' } }, Addresses: ['2001:db8:1::7/64', '10.0.1.7/24'] }] });
    const { containers } = mapSwarm(swarm([t], [NODE], [SERVICE]), { roleLabel: 'role', appNodeRole: null });
    expect(containers[0]!.networks).toEqual([{ network: 'appnet', ip: '10.0.1.7', ip6: '2001:db8:1::7' }]);
  });
});

describe('status lists every engine', () => {
  it('with its state, backends, last event and reason', () => {
    const now = new Date().toISOString();
    const s = {
      node: { routerId: 'lb1', interface: 'eth0', vips: ['198.18.0.100/24'], frontendPort: 80, nodeRole: { required: null, present: true }, vrrpSettings: { virtualRouterId: 51, priority: 100, nopreempt: true, advertInt: 1, version: 2 } },
      vrrp: null,
      services: [],
      lastPass: null,
      passes: { byMethod: {}, secondsTotal: 0, failed: 0 },
      children: [],
      drill: null,
      docker: {
        endpoint: 'unix:///var/run/docker.sock',
        connected: true,
        lastEventAt: now,
        engines: [
          { name: 'app1', endpoint: 'tcp://198.19.0.21:2375', mode: 'containers', state: 'up', since: now, lastEventAt: now, backends: 2, reason: null },
          { name: 'app2', endpoint: 'tcp://198.19.0.22:2375', mode: 'containers', state: 'down', since: now, lastEventAt: null, backends: 0, reason: 'connect ECONNREFUSED 198.19.0.22:2375' },
        ],
      },
    } satisfies StatusSnapshot;
    const text = formatStatus(s);
    expect(text).toContain('engine    app1 (tcp://198.19.0.21:2375) up since 0s ago, 2 backends, last event 0s ago');
    expect(text).toContain('engine    app2 (tcp://198.19.0.22:2375) DOWN since 0s ago, 0 backends, last event never: connect ECONNREFUSED 198.19.0.22:2375');
  });
});
