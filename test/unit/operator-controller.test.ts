import { describe, expect, it } from 'vitest';
import type { Advert } from '../../src/drill/advert-watch.js';
import type { ServerStateRow } from '../../src/haproxy/runtime-api.js';
import { createLogger } from '../../src/log.js';
import type { ContainerInfo } from '../../src/model/container.js';
import { adminOf, buildDesiredState, type DesiredState } from '../../src/model/desired-state.js';
import { type AdvertSource, peerAdvert, stepBack, type StepBackParts } from '../../src/operator/maintenance.js';
import { OperatorController } from '../../src/operator/operator-controller.js';
import type { OperatorFile } from '../../src/operator/operator-store.js';
import { EMPTY_OPERATOR_STATE, type OperatorState } from '../../src/operator/operator-state.js';
import { backendName } from '../../src/render/haproxy-view.js';
import { container, SETTINGS } from './fixtures.js';
import { pollUntil } from './real-haproxy.js';

// The operator's changes against small fakes: a state file in memory, a "pass"
// that plans with the controller's overrides and sets a fake HAProxy's admin
// states from the plan, and a VRRP node whose adverts are scripted on a fake clock.

const log = createLogger('silent');
const ROOT = { uid: 0, pid: 4242, command: 'vipkeeper', problem: null };

interface Vrrp {
  state: string;
  /** Adverts a peer sends, by time since stepping back; null: none. */
  peerAfterMs: number | null;
  tcpdump: boolean;
  /** keepalived does not track the maintenance file (a template of one's own). */
  untracked?: boolean;
}

function world(containers: ContainerInfo[], opts: { file?: OperatorState | 'corrupt'; vrrp?: Partial<Vrrp>; takesPart?: boolean; sessions?: number } = {}) {
  let saved: OperatorState | null = opts.file === 'corrupt' ? null : (opts.file ?? null);
  const saves: OperatorState[] = [];
  const track: string[] = [];
  const file: OperatorFile = {
    path: '/etc/vipkeeper/operator-state.json',
    load: async () =>
      opts.file === 'corrupt'
        ? { state: EMPTY_OPERATOR_STATE, problem: '/etc/vipkeeper/operator-state.json is corrupt (not JSON); kept as X; started with no operator overrides' }
        : { state: saved ?? EMPTY_OPERATOR_STATE, problem: null },
    save: async (s) => {
      saved = s;
      saves.push(s);
    },
  };
  const vrrp: Vrrp = { state: 'MASTER', peerAfterMs: 300, tcpdump: true, ...opts.vrrp };
  let now = 1_000_000;
  let before = vrrp.state;
  let steppedBackAt: number | null = null;
  const watch = (): AdvertSource => ({
    get adverts(): Advert[] {
      const list: Advert[] = [{ at: now - 5, source: '198.18.0.11', vrid: 51, priority: 150 }]; // our own, as tcpdump sees them
      if (vrrp.peerAfterMs !== null && steppedBackAt !== null && now >= steppedBackAt + vrrp.peerAfterMs) {
        list.push({ at: steppedBackAt + vrrp.peerAfterMs, source: '198.18.0.12', vrid: 51, priority: 100 });
      }
      return list;
    },
    available: vrrp.tcpdump,
    ready: async () => undefined,
    stop: () => undefined,
  });
  const maintenance: StepBackParts & { takesPart: () => boolean } = {
    writeTrack: async (v) => {
      track.push(v);
      if (v === '1') steppedBackAt = now;
      if (vrrp.untracked) return;
      if (v === '1' && vrrp.state !== 'FAULT') [before, vrrp.state] = [vrrp.state, 'FAULT'];
      if (v === '0' && vrrp.state === 'FAULT') vrrp.state = before;
    },
    instances: [{ name: 'default', virtualRouterId: 51, vrrpState: () => vrrp.state, advertIntMs: 1000 }],
    watchAdverts: watch,
    ownAddresses: async () => ['198.18.0.11'],
    now: () => now,
    sleep: async (ms) => {
      now += ms;
    },
    takesPart: () => opts.takesPart ?? true,
  };
  let served: DesiredState | null = null;
  let rows: ServerStateRow[] = [];
  const passes: string[] = [];
  let ctl: OperatorController;
  const pass = (why: string) => {
    passes.push(why);
    served = buildDesiredState(containers, SETTINGS, { operator: ctl.overrides() });
    rows = served.services.flatMap((s) =>
      s.servers.map((x) => ({ backend: backendName(s.name), server: x.name, address: x.address, port: x.port, opState: 2, adminState: { ready: 0, drain: 8, maint: 1 }[adminOf(x)], weight: 1 })),
    );
  };
  let sessions = opts.sessions ?? 0;
  ctl = new OperatorController({
    file,
    served: () => served,
    applyNow: async (why) => pass(why),
    serversState: async () => rows,
    sessions: async () => sessions,
    maintenance,
    log,
    drainPollMs: 5,
  });
  return {
    ctl,
    saves,
    track,
    passes,
    vrrp,
    saved: () => saved,
    rows: () => rows,
    start: async () => {
      await ctl.load();
      pass('start');
    },
    setSessions: (n: number) => (sessions = n),
  };
}

const web1 = container({ name: 'web1' });
const web2 = container({ name: 'web2' });

describe('vipkeeper disable / enable', () => {
  it('takes a server out at once: kept in the file with who and why, applied by a pass, shown in HAProxy', async () => {
    const w = world([web1, web2]);
    await w.start();
    const a = await w.ctl.disable({ target: 'web1', drain: false, reason: 'disk full' }, ROOT);
    expect(a.ok).toBe(true);
    expect(a.message).toContain('apps/web1 (container web1');
    expect(a.message).toContain('is in maintenance');
    expect(w.saved()!.servers).toEqual([expect.objectContaining({ containerId: web1.id, admin: 'maint', reason: 'disk full', by: { uid: 0, pid: 4242, command: 'vipkeeper', problem: null } })]);
    expect(w.passes.at(-1)).toBe('operator disabled apps/web1');
    expect(w.rows().map((r) => [r.server, r.adminState])).toEqual([
      ['web1', 1],
      ['web2', 0],
    ]);
    expect(w.ctl.status().overrides.map((o) => o.server)).toEqual(['web1']);
  });

  it('a second disable changes nothing and says since when and by whom', async () => {
    const w = world([web1]);
    await w.start();
    await w.ctl.disable({ target: 'web1', drain: false, reason: null }, ROOT);
    const again = await w.ctl.disable({ target: web1.id.slice(0, 8), drain: true, reason: null }, ROOT);
    expect(again).toMatchObject({ ok: false });
    expect(again.message).toMatch(/is already in maintenance by an operator since .* by uid 0 \(vipkeeper\): nothing changed/);
    expect(w.saves).toHaveLength(1);
  });

  it.each([
    ['an unknown container', 'nope', false, 'no container or server nope is served here'],
    ['a service with no such server', 'apps/nope', false, 'service apps has no server nope'],
    ['a bad target', 'web1;reboot', true, 'is not a container name'],
  ])('refuses %s and changes nothing', async (_name, target, bad, message) => {
    const w = world([web1, web2]);
    await w.start();
    const a = await w.ctl.disable({ target, drain: false, reason: null }, ROOT);
    expect(a.ok).toBe(false);
    expect(a.bad ?? false).toBe(bad);
    expect(a.message).toContain(message);
    expect(w.saves).toEqual([]);
    expect(w.passes).toEqual(['start']);
  });

  it('refuses before the first state is applied', async () => {
    const w = world([web1]);
    await w.ctl.load();
    expect(await w.ctl.disable({ target: 'web1', drain: false, reason: null }, ROOT)).toMatchObject({ ok: false, message: expect.stringContaining('first state') });
  });

  it('drains first, then goes to maintenance once no connection is left, and keeps that in the file', async () => {
    const w = world([web1, web2], { sessions: 2 });
    await w.start();
    const a = await w.ctl.disable({ target: 'apps/web1', drain: true, reason: null }, ROOT);
    expect(a.message).toContain('drains: no new requests, 2 connections in flight; maintenance once they are done');
    expect(w.rows()[0]!.adminState).toBe(8);
    w.setSessions(0);
    await pollUntil('web1 in maintenance', () => w.rows()[0]!.adminState === 1, 2000);
    expect(w.saved()!.servers[0]).toMatchObject({ admin: 'maint', drainFirst: true });
    expect(w.passes.at(-1)).toBe('operator drain done');
    w.ctl.close();
  });

  it('enable brings it back; a second enable says it is not disabled', async () => {
    const w = world([web1]);
    await w.start();
    await w.ctl.disable({ target: 'web1', drain: false, reason: null }, ROOT);
    const a = await w.ctl.enable({ target: 'web1' }, ROOT);
    expect(a).toMatchObject({ ok: true, message: expect.stringContaining('is ready: it takes requests again') });
    expect(w.saved()!.servers).toEqual([]);
    expect(w.rows()[0]!.adminState).toBe(0);
    expect(await w.ctl.enable({ target: 'web1' }, ROOT)).toMatchObject({ ok: false, message: expect.stringContaining('is not disabled by an operator: nothing changed') });
  });

  it('keeps the override of a stopped container, which enable still finds; drops it once the container is removed', async () => {
    const w = world([web1, web2]);
    await w.start();
    await w.ctl.disable({ target: 'web1', drain: false, reason: null }, ROOT);
    // Stopped: listed, not running. An incomplete list (an engine down) never prunes.
    w.ctl.prune([{ ...web1, running: false }, web2], true);
    w.ctl.prune([web2], false);
    await new Promise((r) => setTimeout(r, 10));
    expect(w.ctl.overrides().has(web1.id)).toBe(true);
    w.ctl.prune([web2], true);
    await pollUntil('the override dropped', () => !w.ctl.overrides().has(web1.id));
    expect(w.saved()!.servers).toEqual([]);
  });

  it('enable finds a disabled container that is not served now (stopped) in the file', async () => {
    const w = world([web2], { file: { version: 1, servers: [{ containerId: web1.id, containerName: 'web1', service: 'apps', server: 'web1', admin: 'maint', drainFirst: false, reason: null, since: new Date().toISOString(), by: null }], maintenance: null } });
    await w.start();
    expect(await w.ctl.enable({ target: 'web1' }, ROOT)).toMatchObject({ ok: true, message: expect.stringContaining('serves again once its container runs') });
  });

  it('a corrupt state file: no overrides, and status says so', async () => {
    const w = world([web1], { file: 'corrupt' });
    await w.start();
    expect(w.ctl.status()).toMatchObject({ problem: expect.stringContaining('is corrupt'), overrides: [], maintenance: null });
    expect(w.track).toEqual(['0']);
  });
});

describe('vipkeeper maintenance', () => {
  it('on, as MASTER: steps back, sees the peer take over, keeps it in the file; a second on changes nothing', async () => {
    const w = world([web1]);
    await w.start();
    const a = await w.ctl.maintenance({ on: true, force: false, reason: 'patching' }, ROOT);
    expect(a.ok).toBe(true);
    expect(a.message).toContain('198.18.0.12 holds the VIP: it advertised as master 300 ms after this node stepped back');
    expect(a.data).toMatchObject({ handoverMs: 300, wasState: 'MASTER', peer: { address: '198.18.0.12', priority: 100 } });
    expect(w.track).toEqual(['0', '1']);
    expect(w.saved()!.maintenance).toMatchObject({ reason: 'patching', forced: false, by: { uid: 0 } });

    const again = await w.ctl.maintenance({ on: true, force: false, reason: null }, ROOT);
    expect(again.ok).toBe(false);
    expect(again.message).toMatch(/already in maintenance since .* by uid 0 \(vipkeeper\) \(patching\): nothing changed/);
    expect(w.track).toEqual(['0', '1']);
    expect(w.saves).toHaveLength(1);
  });

  it('on, with no peer: refuses, takes part again, and keeps nothing', async () => {
    const w = world([web1], { vrrp: { peerAfterMs: null } });
    await w.start();
    const a = await w.ctl.maintenance({ on: true, force: false, reason: null }, ROOT);
    expect(a.ok).toBe(false);
    expect(a.message).toContain('no other node of virtual router 51 advertised within 3000 ms');
    expect(a.message).toContain('--force gives the VIP up anyway');
    expect(w.track).toEqual(['0', '1', '0']);
    expect(w.saves).toEqual([]);
  });

  it('on --force, with no peer: gives the VIP up anyway, marked forced', async () => {
    const w = world([web1], { vrrp: { peerAfterMs: null } });
    await w.start();
    const a = await w.ctl.maintenance({ on: true, force: true, reason: null }, ROOT);
    expect(a).toMatchObject({ ok: true, message: expect.stringContaining('the VIP has no holder') });
    expect(w.track).toEqual(['0', '1']);
    expect(w.saved()!.maintenance!.forced).toBe(true);
  });

  it('on, with a keepalived template that does not track the file: refused, nothing kept', async () => {
    const w = world([web1], { vrrp: { untracked: true } });
    await w.start();
    const a = await w.ctl.maintenance({ on: true, force: true, reason: null }, ROOT);
    expect(a.ok).toBe(false);
    expect(a.message).toContain('keepalived did not go FAULT within 3000 ms of the maintenance track file turning 1 (it is MASTER)');
    expect(w.track).toEqual(['0', '1', '0']);
    expect(w.saves).toEqual([]);
  });

  it('on, as BACKUP: the master it hears is the peer; nothing moves', async () => {
    const w = world([web1], { vrrp: { state: 'BACKUP', peerAfterMs: 0 } });
    await w.start();
    const a = await w.ctl.maintenance({ on: true, force: false, reason: null }, ROOT);
    expect(a).toMatchObject({ ok: true, data: { handoverMs: 0, wasState: 'BACKUP' } });
  });

  it.each([
    ['BACKUP', true],
    ['MASTER', false],
  ])('with no tcpdump, as %s: ok only when BACKUP proves a peer', async (state, ok) => {
    const w = world([web1], { vrrp: { state, tcpdump: false } });
    await w.start();
    const a = await w.ctl.maintenance({ on: true, force: false, reason: null }, ROOT);
    expect(a.ok).toBe(ok);
    expect(w.track.at(-1)).toBe(ok ? '1' : '0');
  });

  it('refuses on a node outside VRRP (node role gate)', async () => {
    const w = world([web1], { takesPart: false });
    await w.start();
    expect(await w.ctl.maintenance({ on: true, force: true, reason: null }, ROOT)).toMatchObject({ ok: false, message: expect.stringContaining('node role gate') });
    expect(w.track).toEqual(['0']);
  });

  it('off takes part again; off twice says it is not in maintenance', async () => {
    const w = world([web1]);
    await w.start();
    await w.ctl.maintenance({ on: true, force: false, reason: null }, ROOT);
    expect(await w.ctl.maintenance({ on: false }, ROOT)).toMatchObject({ ok: true, message: expect.stringContaining('takes part in VRRP again') });
    expect(w.track).toEqual(['0', '1', '0']);
    expect(w.saved()!.maintenance).toBeNull();
    expect(await w.ctl.maintenance({ on: false }, ROOT)).toMatchObject({ ok: false, message: 'this node is not in maintenance: nothing changed' });
  });

  it('survives an agent restart: the track file is set from the state file before keepalived starts', async () => {
    const first = world([web1]);
    await first.start();
    await first.ctl.maintenance({ on: true, force: false, reason: null }, ROOT);
    const again = world([web1], { file: first.saved()! });
    await again.ctl.load();
    expect(again.track).toEqual(['1']);
    expect(again.ctl.status().maintenance).not.toBeNull();
  });
});

describe('peerAdvert', () => {
  const own = new Set(['10.0.0.1']);
  const ad = (source: string, priority = 100, vrid = 51, at = 10): Advert => ({ at, source, vrid, priority });
  it.each([
    ['our own advert', [ad('10.0.0.1')], null],
    ['a peer stepping down (priority 0)', [ad('10.0.0.2', 0)], null],
    ['another virtual router', [ad('10.0.0.2', 100, 52)], null],
    ['one from before', [ad('10.0.0.2', 100, 51, 5)], null],
    ['a live peer', [ad('10.0.0.1'), ad('10.0.0.2')], '10.0.0.2'],
  ])('%s', (_name, adverts, source) => {
    expect(peerAdvert(adverts, { vrid: 51, own, since: 10 })?.source ?? null).toBe(source);
  });
});

describe('stepBack', () => {
  it('never leaves the watch running', async () => {
    let stopped = 0;
    const parts: StepBackParts = {
      writeTrack: async () => {
        throw new Error('read-only run dir');
      },
      instances: [{ name: 'default', virtualRouterId: 51, vrrpState: () => 'MASTER', advertIntMs: 1000 }],
      watchAdverts: () => ({ adverts: [], available: true, ready: async () => undefined, stop: () => (stopped += 1) }),
      ownAddresses: async () => [],
    };
    await expect(stepBack(parts, false)).rejects.toThrow('read-only run dir');
    expect(stopped).toBe(1);
  });
});
