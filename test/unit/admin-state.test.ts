import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HaproxyApplier } from '../../src/haproxy/haproxy-applier.js';
import { directRuntimeApi, type RuntimeApi, type ServerStateRow } from '../../src/haproxy/runtime-api.js';
import { applyServerChanges } from '../../src/haproxy/runtime-apply.js';
import { adminDrift, diffServices, haproxyAdmin, isEmpty } from '../../src/haproxy/server-changes.js';
import { createLogger } from '../../src/log.js';
import { type AdminOverride, buildDesiredState, type Server } from '../../src/model/desired-state.js';
import { backendName, haproxyView } from '../../src/render/haproxy-view.js';
import { container, DEFAULT_CHECK, service as fixtureService, SETTINGS } from './fixtures.js';
import { freePort, haproxyInstalled, httpBackend, modelServer, pollUntil, type RealHaproxy, shippedConfig, startHaproxy } from './real-haproxy.js';

const service = (name: string, frontendPort: number, servers: readonly Server[], check = true) =>
  fixtureService(servers, { name, frontendPort, check: check ? DEFAULT_CHECK : { ...DEFAULT_CHECK, enabled: false } });

// An operator's admin state (vipkeeper disable) is part of the desired state:
// the plan carries it, the file says `disabled`, the Runtime API sets it with no
// reload, and every pass sets HAProxy right when it drifted.

const log = createLogger('silent');
const BE = backendName('apps');
const web1 = container({ name: 'web1' });
const web2 = container({ name: 'web2' });
const overrides = (entries: [string, AdminOverride][]) => new Map(entries);

describe('the desired state carries operator overrides', () => {
  it('puts the wanted admin state, its source and reason on the overridden server only', () => {
    const state = buildDesiredState([web1, web2], SETTINGS, { operator: overrides([[web1.id, { admin: 'maint', reason: 'disk full' }]]) });
    const [a, b] = state.services[0]!.servers;
    expect(a).toMatchObject({ name: 'web1', admin: 'maint', adminSource: 'operator', adminReason: 'disk full' });
    expect(b!.admin).toBeUndefined();
    expect(b!.adminSource).toBeUndefined();
  });

  it('keeps an overridden server in its backend (it is out of balancing, not out of the config)', () => {
    const state = buildDesiredState([web1], SETTINGS, { operator: overrides([[web1.id, { admin: 'drain', reason: null }]]) });
    expect(state.services[0]!.servers.map((s) => [s.name, s.admin])).toEqual([['web1', 'drain']]);
    expect(state.skipped).toEqual([]);
  });

  it('an override for a container that is not served changes nothing', () => {
    const plain = buildDesiredState([web1], SETTINGS);
    expect(buildDesiredState([web1], SETTINGS, { operator: overrides([[web2.id, { admin: 'maint', reason: null }]]) })).toEqual(plain);
  });
});

describe('an admin change is a server change, never a reload', () => {
  const plan = (o: [string, AdminOverride][]) => buildDesiredState([web1, web2], SETTINGS, { operator: overrides(o) }).services;
  it.each([
    ['ready -> maint', [], [[web1.id, { admin: 'maint', reason: null }]]],
    ['ready -> drain', [], [[web1.id, { admin: 'drain', reason: null }]]],
    ['drain -> maint', [[web1.id, { admin: 'drain', reason: null }]], [[web1.id, { admin: 'maint', reason: null }]]],
    ['maint -> ready', [[web1.id, { admin: 'maint', reason: null }]], []],
  ] as [string, [string, AdminOverride][], [string, AdminOverride][]][])('%s', (_name, before, after) => {
    const c = diffServices(plan(before), plan(after));
    expect(c.structural).toBeNull();
    expect(c.update.map((u) => u.after.name)).toEqual(['web1']);
    expect(isEmpty(c)).toBe(false);
  });

  it('only a new reason is no change for HAProxy', () => {
    const c = diffServices(plan([[web1.id, { admin: 'maint', reason: 'a' }]]), plan([[web1.id, { admin: 'maint', reason: 'b' }]]));
    expect(isEmpty(c)).toBe(true);
  });
});

describe('the file keeps a disabled server out across a reload', () => {
  it('prints `disabled` for drain and maint; `add server` options never carry it', () => {
    const svc = service('apps', 80, [modelServer('a', 1), { ...modelServer('b', 2), admin: 'maint' }, { ...modelServer('c', 3), admin: 'drain' }, { ...modelServer('d', 4), admin: 'ready' }]);
    const view = haproxyView([svc], { adminSocket: '/x' });
    expect(view.backends[0]!.servers.map((s) => [s.name, s.options.endsWith(' disabled')])).toEqual([
      ['a', false],
      ['b', true],
      ['c', true],
      ['d', false],
    ]);
  });
});

describe('HAProxy admin bits -> one word', () => {
  it.each([
    [0, 'ready'],
    [0x04, 'ready'], // disabled in the file, enabled since over the admin socket: it serves (measured)
    [0x01, 'maint'],
    [0x05, 'maint'], // disabled in the file
    [0x08, 'drain'],
    [0x0c, 'drain'],
    [0x10, 'drain'],
    [0x02, 'maint'],
    [0x20, 'maint'],
    [0x09, 'maint'],
  ] as const)('%i is %s', (bits, word) => {
    expect(haproxyAdmin(bits)).toBe(word);
  });
});

const row = (server: string, adminState: number): ServerStateRow => ({ backend: BE, server, address: '127.0.0.1', port: 1, opState: 2, adminState, weight: 1 });

describe('adminDrift', () => {
  const svc = (servers: Server[]) => [service('apps', 80, servers)];
  it.each([
    ['all as wanted', [modelServer('a', 1), { ...modelServer('b', 2), admin: 'maint' as const }], [row('a', 0), row('b', 5)], []],
    ['a reload put a draining server in maintenance', [{ ...modelServer('a', 1), admin: 'drain' as const }], [row('a', 5)], [{ id: `${BE}/a`, want: 'drain', was: 'maint' }]],
    ['a hand enabled a disabled server', [{ ...modelServer('a', 1), admin: 'maint' as const }], [row('a', 4)], [{ id: `${BE}/a`, want: 'maint', was: 'ready' }]],
    // Maybe the stop tracker, a moment after the plan (its container stopping): never back to ready here.
    ['a server wanted ready is drained in HAProxy', [modelServer('a', 1)], [row('a', 8)], []],
    ['a server HAProxy lacks is left to the diff', [{ ...modelServer('a', 1), admin: 'maint' as const }], [], []],
    ['a server the plan lacks (a pending delete) is left alone', [], [row('gone', 1)], []],
  ])('%s', (_name, servers, rows, fixes) => {
    expect(adminDrift(svc(servers), rows)).toEqual(fixes);
  });
});

describe('applyServerChanges with admin states', () => {
  it('sets the state of an updated server, and adds a disabled one without making it ready', async () => {
    const sent: string[][] = [];
    const api: RuntimeApi = {
      command: async () => '',
      expect: async () => '',
      batch: async (cs) => (sent.push([...cs]), cs.map((c) => (c.startsWith('add server') ? 'New server registered.' : ''))),
      serversState: async () => [],
    };
    const svc = service('apps', 80, [], false);
    await applyServerChanges(
      api,
      {
        structural: null,
        remove: [],
        update: [{ backend: BE, service: svc, before: modelServer('u', 1), after: { ...modelServer('u', 1), admin: 'maint' } }],
        add: [
          { backend: BE, service: svc, server: { ...modelServer('m', 2), admin: 'maint' } },
          { backend: BE, service: svc, server: { ...modelServer('d', 3), admin: 'drain' } },
          { backend: BE, service: svc, server: modelServer('r', 4) },
        ],
      },
      log,
    );
    expect(sent).toEqual([
      [
        // New servers first (make before break), then updates.
        `add server ${BE}/m 127.0.0.1:2 weight 100`,
        `add server ${BE}/d 127.0.0.1:3 weight 100`,
        `set server ${BE}/d state drain`,
        `add server ${BE}/r 127.0.0.1:4 weight 100`,
        `set server ${BE}/r state ready`,
        `set server ${BE}/u state maint`,
      ],
    ]);
  });
});

describe.skipIf(!haproxyInstalled)('admin states on the real haproxy 2.6', () => {
  let haproxy: RealHaproxy;
  let a: Awaited<ReturnType<typeof httpBackend>>;
  let b: Awaited<ReturnType<typeof httpBackend>>;
  let port: number;
  const ask = async () => {
    const r = await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: 'close' } });
    return (await r.text()).trim();
  };
  const answers = async (n: number) => {
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) seen.add(await ask());
    return [...seen].sort();
  };
  const admin = async (server: string) => haproxyAdmin((await directRuntimeApi(haproxy.adminSocket).serversState()).find((r) => r.server === server)!.adminState);
  const servers = (aAdmin: Server['admin']): Server[] => [{ ...modelServer('a', a.port), ...(aAdmin ? { admin: aAdmin } : {}) }, modelServer('b', b.port)];

  beforeAll(async () => {
    a = await httpBackend('a');
    b = await httpBackend('b');
    port = await freePort();
    haproxy = await startHaproxy((sock) => shippedConfig([service('apps', port, servers('maint'), false)], sock));
  });
  afterAll(async () => {
    await haproxy?.stop();
    await a?.close();
    await b?.close();
  });

  it('a server disabled in the file gets no request, is enabled and drained with no reload, and is set right after drifting', async () => {
    expect(await answers(6)).toEqual(['b']);
    expect(await admin('a')).toBe('maint');
    const api = directRuntimeApi(haproxy.adminSocket);
    const svc = (x: Server['admin']) => service('apps', port, servers(x), false);

    await applyServerChanges(api, diffServices([svc('maint')], [svc(undefined)]), log);
    await pollUntil('a to serve again', async () => (await answers(6)).includes('a'));
    // HAProxy keeps the file's "disabled" bit (0x04) until a reload; it serves all the same.
    expect(await admin('a')).toBe('ready');

    await applyServerChanges(api, diffServices([svc(undefined)], [svc('drain')]), log);
    expect(await admin('a')).toBe('drain');
    expect(await answers(6)).toEqual(['b']);

    // A hand on the admin socket enables it; the next pass puts it back.
    await api.command(`set server ${BE}/a state ready`);
    const applier = new HaproxyApplier({
      files: { path: () => '', read: async () => null, install: async () => false, markGood: async () => undefined, restore: async () => undefined },
      validate: async () => undefined,
      control: { reload: async () => undefined },
      api,
      deletes: { cancel: () => false, idle: async () => undefined, add: () => undefined } as never,
      applyServers: async () => [],
      log,
    });
    const text = 'same';
    const result = await applier.apply({ services: [svc('drain')], text, templatesKey: 'k', stale: false }, { services: [svc('drain')], text, templatesKey: 'k' });
    expect(result.method).toBe('runtime-api');
    expect(result.adminFixed).toEqual([`${BE}/a: ready -> drain`]);
    expect(await admin('a')).toBe('drain');
    expect(await answers(6)).toEqual(['b']);
  });
});
