import { describe, expect, it } from 'vitest';
import type { Advert } from '../../src/drill/advert-watch.js';
import { createLogger } from '../../src/log.js';
import { stepBack, type StepBackParts } from '../../src/operator/maintenance.js';
import { OperatorController } from '../../src/operator/operator-controller.js';
import type { OperatorFile } from '../../src/operator/operator-store.js';
import { EMPTY_OPERATOR_STATE, type OperatorState } from '../../src/operator/operator-state.js';

// `maintenance on` with several VRRP instances (VIPKEEPER_INSTANCES=web,api): every
// instance tracks the one maintenance file, so stepBack must see each one FAULT and,
// for each, a live peer of its own virtual router. Fake clock, scripted adverts.

interface Inst {
  name: string;
  vrid: number;
  state: string;
  /** A peer's first advert for this router, by ms after stepping back (negative: before); null: none. */
  peerAfterMs: number | null;
  /** keepalived leaves it alone (a template of one's own not tracking the file). */
  untracked?: boolean;
  advertIntMs?: number;
}

function node(instances: Inst[], opts: { tcpdump?: boolean } = {}) {
  let now = 1_000_000;
  let steppedBackAt: number | null = null;
  const track: string[] = [];
  const before = new Map(instances.map((i) => [i.name, i.state]));
  let stopped = 0;
  const parts: StepBackParts = {
    writeTrack: async (v) => {
      track.push(v);
      if (v === '1') steppedBackAt = now;
      for (const i of instances) {
        if (i.untracked) continue;
        if (v === '1') i.state = 'FAULT';
        else i.state = before.get(i.name)!;
      }
    },
    instances: instances.map((i) => ({ name: i.name, virtualRouterId: i.vrid, vrrpState: () => i.state, advertIntMs: i.advertIntMs ?? 1000 })),
    watchAdverts: () => ({
      get adverts(): Advert[] {
        const list: Advert[] = instances.map((i) => ({ at: now - 5, source: '198.18.0.11', vrid: i.vrid, priority: 150 })); // our own
        for (const i of instances) {
          if (i.peerAfterMs === null || steppedBackAt === null) continue;
          const at = steppedBackAt + i.peerAfterMs;
          if (now >= at) list.push({ at, source: `198.18.0.${20 + i.vrid - 60}`, vrid: i.vrid, priority: 100 });
        }
        // A peer stepping down (priority 0) is no peer.
        list.push({ at: now, source: '198.18.0.99', vrid: instances[0]!.vrid, priority: 0 });
        return list;
      },
      available: opts.tcpdump ?? true,
      ready: async () => undefined,
      stop: () => (stopped += 1),
    }),
    ownAddresses: async () => ['198.18.0.11'],
    now: () => now,
    sleep: async (ms) => {
      now += ms;
    },
  };
  return { parts, track, stopped: () => stopped };
}

const web = (o: Partial<Inst> = {}): Inst => ({ name: 'web', vrid: 61, state: 'MASTER', peerAfterMs: 300, ...o });
const api = (o: Partial<Inst> = {}): Inst => ({ name: 'api', vrid: 62, state: 'MASTER', peerAfterMs: 500, ...o });

describe('stepBack with several instances', () => {
  it.each([
    // name, instances, force, ok, track, per instance [name, peer, handoverMs, wasState], message parts
    [
      'both MASTER, both handed over',
      () => [web(), api()],
      false,
      true,
      ['1'],
      [
        ['web', '198.18.0.21', 300, 'MASTER'],
        ['api', '198.18.0.22', 500, 'MASTER'],
      ],
      ['every instance handed over', 'web: 198.18.0.21 holds the VIP: it advertised as master 300 ms after', 'api: 198.18.0.22 holds the VIP: it advertised as master 500 ms after'],
    ],
    [
      'MASTER of web, BACKUP of api (its master advertised just before)',
      () => [web(), api({ state: 'BACKUP', peerAfterMs: 0 })],
      false,
      true,
      ['1'],
      [
        ['web', '198.18.0.21', 300, 'MASTER'],
        ['api', '198.18.0.22', 0, 'BACKUP'],
      ],
      ['web: 198.18.0.21 holds the VIP: it advertised', 'api: 198.18.0.22 holds the VIP (this node was BACKUP)'],
    ],
    [
      'no peer for api: undone, names api and its router',
      () => [web(), api({ peerAfterMs: null })],
      false,
      false,
      ['1', '0'],
      [
        ['web', '198.18.0.21', 300, 'MASTER'],
        ['api', null, null, 'MASTER'],
      ],
      ['no other node advertised for instance api (virtual router 62) within 3000 ms', 'takes part again in every instance', '--force gives the VIPs up anyway', 'web: 198.18.0.21 holds the VIP', 'api: no other node advertised within 3000 ms'],
    ],
    [
      'no peer for either: both named',
      () => [web({ peerAfterMs: null }), api({ peerAfterMs: null })],
      false,
      false,
      ['1', '0'],
      [
        ['web', null, null, 'MASTER'],
        ['api', null, null, 'MASTER'],
      ],
      ['for instances web (virtual router 61) and api (virtual router 62)'],
    ],
    [
      'no peer for api, --force: given up, api named as having no holder',
      () => [web(), api({ peerAfterMs: null })],
      true,
      true,
      ['1'],
      [
        ['web', '198.18.0.21', 300, 'MASTER'],
        ['api', null, null, 'MASTER'],
      ],
      ['web: 198.18.0.21 holds the VIP', 'api: no other node advertised within 3000 ms: its VIPs have no holder (given up anyway: --force)'],
    ],
    [
      "api's keepalived block does not track the file: refused even with a peer, nothing changed",
      () => [web(), api({ untracked: true })],
      true,
      false,
      ['1', '0'],
      [
        ['web', null, null, 'MASTER'],
        ['api', null, null, 'MASTER'],
      ],
      ['keepalived did not go FAULT within 3000 ms of the maintenance track file turning 1 (api is MASTER)', 'nothing changed'],
    ],
    [
      "the window is the slowest instance's: api advertises every 3 s",
      () => [web(), api({ advertIntMs: 3000, peerAfterMs: 4000 })],
      false,
      true,
      ['1'],
      [
        ['web', '198.18.0.21', 300, 'MASTER'],
        ['api', '198.18.0.22', 4000, 'MASTER'],
      ],
      ['api: 198.18.0.22 holds the VIP: it advertised as master 4000 ms after'],
    ],
  ] as const)('%s', async (_name, insts, force, ok, track, each, parts) => {
    const n = node(insts());
    const r = await stepBack(n.parts, force);
    expect(r.ok).toBe(ok);
    expect(n.track).toEqual(track);
    expect(r.instances.map((h) => [h.name, h.peer?.address ?? null, h.handoverMs, h.wasState])).toEqual(each);
    for (const part of parts) expect(r.message).toContain(part);
    // The top-level fields stay the first instance's.
    expect([r.peer?.address ?? null, r.handoverMs, r.wasState]).toEqual(each[0].slice(1));
    expect(n.stopped()).toBe(1);
  });

  it('waits for the later peer: not done when only the first instance has one', async () => {
    const n = node([web({ peerAfterMs: 100 }), api({ peerAfterMs: 2500 })]);
    const r = await stepBack(n.parts, false);
    expect(r.ok).toBe(true);
    expect(r.instances.map((h) => h.handoverMs)).toEqual([100, 2500]);
  });

  it.each([
    ['BACKUP in both: ok, their masters keep the VIPs', 'BACKUP', 'BACKUP', false, true, ['1'], 'this node was BACKUP in every instance (web and api)'],
    ['MASTER of api: refused without --force, names api', 'BACKUP', 'MASTER', false, false, ['1', '0'], 'this node is api MASTER and VRRP adverts cannot be watched here (no tcpdump)'],
    ['MASTER of api, --force: given up', 'BACKUP', 'MASTER', true, true, ['1'], 'this node was api MASTER; VRRP adverts cannot be watched here'],
  ] as const)('without tcpdump, %s', async (_name, webState, apiState, force, ok, track, message) => {
    const n = node([web({ state: webState }), api({ state: apiState })], { tcpdump: false });
    const r = await stepBack(n.parts, force);
    expect(r.ok).toBe(ok);
    expect(n.track).toEqual(track);
    expect(r.message).toContain(message);
  });
});

describe('the controller with several instances', () => {
  function controller(n: ReturnType<typeof node>) {
    let saved: OperatorState | null = null;
    const file: OperatorFile = {
      path: '/etc/vipkeeper/operator-state.json',
      load: async () => ({ state: EMPTY_OPERATOR_STATE, problem: null }),
      save: async (s) => {
        saved = s;
      },
    };
    const ctl = new OperatorController({
      file,
      served: () => null,
      applyNow: async () => undefined,
      serversState: async () => [],
      sessions: async () => 0,
      maintenance: { ...n.parts, takesPart: () => true },
      log: createLogger('silent'),
    });
    return { ctl, saved: () => saved };
  }
  const ROOT = { uid: 0, pid: 1, command: 'vipkeeper', problem: null };

  it.each([
    ['both handed over: kept, not forced, each instance in the answer', () => [web(), api()], false, true, false],
    ['api has no peer: refused, nothing kept', () => [web(), api({ peerAfterMs: null })], false, false, null],
    ['api has no peer, --force: kept, marked forced', () => [web(), api({ peerAfterMs: null })], true, true, true],
  ] as const)('%s', async (_name, insts, force, ok, forced) => {
    const n = node(insts());
    const c = controller(n);
    await c.ctl.load();
    const a = await c.ctl.maintenance({ on: true, force, reason: null }, ROOT);
    expect(a.ok).toBe(ok);
    expect((a.data?.instances as { name: string }[]).map((i) => i.name)).toEqual(['web', 'api']);
    expect(c.saved()?.maintenance?.forced ?? null).toBe(forced);
  });
});
