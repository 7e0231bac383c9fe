import { describe, expect, it } from 'vitest';
import { DELETE_SETTLE_MS } from '../../src/haproxy/delete-queue.js';
import { drainNow, HaproxyApplier, unboundPorts } from '../../src/haproxy/haproxy-applier.js';
import type { ServerStateRow } from '../../src/haproxy/runtime-api.js';
import { server, service } from './fixtures.js';
import { fakeHaproxyEdges } from './support/fakes.js';

// The apply step for HAProxy over fake edges: which way a change goes, and
// what happens to a server that comes back while its delete is pending.

const row = (server: string, o: Partial<ServerStateRow> = {}): ServerStateRow => ({ backend: 'be_apps', server, address: '10.0.0.1', port: 80, opState: 2, adminState: 0, weight: 100, ...o });

function rig(validations: string[] = []) {
  const { log, clock, files, api, control, deletes } = fakeHaproxyEdges();
  const waiting: { backend: string; server: string }[] = [];
  const applier = new HaproxyApplier({
    files,
    validate: async (file: string) => void validations.push(file),
    control,
    api,
    deletes,
    applyServers: async (changes) => {
      for (const a of changes.add) await api.command(`add server ${a.backend}/${a.server.name} ${a.server.address}:${a.server.port}`);
      for (const r of changes.remove) await api.command(`set server ${r.backend}/${r.server.name} state maint`);
      return waiting.splice(0);
    },
    log,
    now: () => clock.now(),
  });
  return { applier, files, api, control, deletes, waiting, clock };
}

describe('HaproxyApplier', () => {
  it('reads the ports HAProxy could not bind from its output', () => {
    expect(unboundPorts('[ALERT] (9) : Binding [/c:14] for frontend c: cannot bind socket (Address already in use) for [0.0.0.0:19092]\n[ALERT] x cannot bind socket (Permission denied) for [:::81]')).toEqual([81, 19092]);
    expect(unboundPorts('Loading failure!')).toEqual([]);
  });

  it('reloads when the live file is stale, even for a server-only difference', async () => {
    const r = rig();
    const s1 = [service([server('a')])];
    const s2 = [service([server('a'), server('b', '10.0.0.2')])];
    const result = await r.applier.apply({ services: s1, text: 'one', templatesKey: 'k', stale: true }, { services: s2, text: 'two', templatesKey: 'k' });
    expect(result.method).toBe('reload');
    expect(r.api.commands).toEqual([]);
  });

  it('falls back to a reload when the Runtime API fails, and the file is live', async () => {
    const r = rig();
    r.api.failOn = /^add server/;
    const result = await r.applier.apply({ services: [service([])], text: 'one', templatesKey: 'k', stale: false }, { services: [service([server('a')])], text: 'two', templatesKey: 'k' });
    expect(result.method).toBe('reload');
    expect(r.control.reloads).toBe(1);
    expect(r.files.live.get('haproxy.cfg')).toBe('two');
    expect(r.files.good.get('haproxy.cfg')).toBe('two');
  });

  it('a server that comes back under a name whose delete is pending cancels that delete and is deleted, then added fresh', async () => {
    const r = rig();
    r.waiting.push({ backend: 'be_apps', server: 'a' });
    await r.applier.apply({ services: [service([server('a')])], text: 'with a', templatesKey: 'k', stale: false }, { services: [service([])], text: 'without a', templatesKey: 'k' });
    expect(r.deletes.has('be_apps', 'a')).toBe(true);
    r.clock.t += DELETE_SETTLE_MS;
    await r.applier.apply({ services: [service([])], text: 'without a', templatesKey: 'k', stale: false }, { services: [service([server('a', '10.0.0.9')])], text: 'a again', templatesKey: 'k' });
    expect(r.deletes.has('be_apps', 'a')).toBe(false);
    expect(r.api.commands.slice(-2)).toEqual(['del server be_apps/a', 'add server be_apps/a 10.0.0.9:80']);
  });

  it('a comeback before the old server settled in maintenance revives it: no delete a retrying stream could crash on', async () => {
    const r = rig();
    r.waiting.push({ backend: 'be_apps', server: 'a' });
    await r.applier.apply({ services: [service([server('a')])], text: 'with a', templatesKey: 'k', stale: false }, { services: [service([])], text: 'without a', templatesKey: 'k' });
    r.clock.t += DELETE_SETTLE_MS - 1;
    r.api.commands.length = 0;
    await r.applier.apply({ services: [service([])], text: 'without a', templatesKey: 'k', stale: false }, { services: [service([server('a', '10.0.0.9')])], text: 'a again', templatesKey: 'k' });
    expect(r.api.commands.filter((c) => c.startsWith('del server'))).toEqual([]);
    expect(r.api.commands).toContain('set server be_apps/a addr 10.0.0.9 port 80');
    expect(r.deletes.has('be_apps', 'a')).toBe(false);
  });

  it('when connections still hold the old server, the comeback revives it at its new address instead', async () => {
    const r = rig();
    r.waiting.push({ backend: 'be_apps', server: 'a' });
    await r.applier.apply({ services: [service([server('a')])], text: 'with a', templatesKey: 'k', stale: false }, { services: [service([])], text: 'without a', templatesKey: 'k' });
    r.api.deleteAnswer = 'Server still has connections attached to it, cannot remove it.\n';
    r.clock.t += DELETE_SETTLE_MS;
    r.api.commands.length = 0;
    const result = await r.applier.apply({ services: [service([])], text: 'without a', templatesKey: 'k', stale: false }, { services: [service([server('a', '10.0.0.9', 8080)])], text: 'a again', templatesKey: 'k' });
    expect(result.method).toBe('runtime-api');
    expect(r.api.commands).toEqual([
      'del server be_apps/a',
      'set server be_apps/a addr 10.0.0.9 port 8080',
      'set server be_apps/a weight 100',
      'set maxconn server be_apps/a 0',
      'enable health be_apps/a',
      'set server be_apps/a state ready',
    ]);
    // And the cancelled delete never runs against the revived server.
    await r.deletes.runOnce();
    expect(r.api.commands.filter((c) => c.startsWith('shutdown'))).toEqual([]);
  });

  it('drains every server of a stopping container at once', async () => {
    const r = rig();
    r.api.rows = [row('a'), row('b')];
    const drained = await r.applier.drainContainer([service([server('a'), server('b')])], (s) => `be_${s}`, 'id-b');
    expect(drained).toEqual(['be_apps/b']);
    expect(r.api.commands).toEqual(['set server be_apps/b state drain']);
  });

  it('leaves a stopping container serving while it is the last ready server of its backend (no 503 gap before its replacement is added)', async () => {
    const r = rig();
    r.api.rows = [row('a', { adminState: 0x08 }), row('b')];
    const drained = await r.applier.drainContainer([service([server('a'), server('b')])], (s) => `be_${s}`, 'id-b');
    expect(drained).toEqual([]);
    expect(r.api.commands).toEqual([]);
  });

  it('stop events at once are decided one after another: the last ready server is kept even when all stop together', async () => {
    const r = rig();
    r.api.rows = [row('a'), row('b'), row('c')];
    const command = r.api.command.bind(r.api);
    r.api.command = async (c: string) => {
      const drained = /^set server be_apps\/(\S+) state drain$/.exec(c)?.[1];
      if (drained) r.api.rows = r.api.rows.map((x) => (x.server === drained ? { ...x, adminState: 0x08 } : x));
      return command(c);
    };
    const all = [service([server('a'), server('b'), server('c')])];
    const results = await Promise.all(['id-a', 'id-b', 'id-c'].map((id) => r.applier.drainContainer(all, (s) => `be_${s}`, id)));
    expect(results).toEqual([['be_apps/a'], ['be_apps/b'], []]);
  });
});

describe('drainNow', () => {
  const b = { backend: 'be_apps', server: 'b' };

  it('drains when another server of the backend is up and ready', () => {
    expect(drainNow([b], [row('a'), row('b')])).toEqual({ drain: [b], keep: [] });
  });

  it('keeps the last ready server: others drained, in maintenance, down or at weight 0 do not count', () => {
    const others = [row('a', { adminState: 0x08 }), row('c', { adminState: 0x01 }), row('d', { opState: 0 }), row('e', { weight: 0 })];
    expect(drainNow([b], [...others, row('b')])).toEqual({ drain: [], keep: [b] });
  });

  it('drains when nothing in the backend is ready anyway (draining changes nothing for clients)', () => {
    expect(drainNow([b], [row('b', { opState: 0 })])).toEqual({ drain: [b], keep: [] });
    expect(drainNow([b], [])).toEqual({ drain: [b], keep: [] });
  });

  it('decides per backend: a container in two services is drained where others serve, kept where it is the last', () => {
    const other = { backend: 'be_web', server: 'b' };
    expect(drainNow([b, other], [row('a'), row('b'), row('b', { backend: 'be_web' })])).toEqual({ drain: [b], keep: [other] });
  });

  it('a server-only change skips the haproxy -c fork; a structural one is checked', async () => {
    const checked: string[] = [];
    const r = rig(checked);
    await r.applier.apply({ services: [service([server('a')])], text: 'one', templatesKey: 'k', stale: false }, { services: [service([server('a'), server('b', '10.0.0.2')])], text: 'two', templatesKey: 'k' });
    expect(checked).toEqual([]);
    await r.applier.apply({ services: [service([server('a')])], text: 'two', templatesKey: 'k', stale: false }, { services: [service([server('a')])], text: 'three', templatesKey: 'other' });
    expect(checked).toHaveLength(1);
  });

  it('a server-only file that must be reloaded after all (the Runtime API failed) is checked first', async () => {
    const checked: string[] = [];
    const r = rig(checked);
    r.api.failOn = /^add server/;
    const result = await r.applier.apply({ services: [service([])], text: 'one', templatesKey: 'k', stale: false }, { services: [service([server('a')])], text: 'two', templatesKey: 'k' });
    expect(result.method).toBe('reload');
    expect(checked).toEqual(['/fake/haproxy.cfg']);
  });
});
