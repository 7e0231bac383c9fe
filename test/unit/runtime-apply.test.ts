import { describe, expect, it } from 'vitest';
import { RuntimeApiError } from '../../src/errors.js';
import type { RuntimeApi } from '../../src/haproxy/runtime-api.js';
import { applyServerChanges, tryDelete } from '../../src/haproxy/runtime-apply.js';
import type { ChangeSet } from '../../src/haproxy/server-changes.js';
import { createLogger } from '../../src/log.js';
import { DEFAULT_CHECK, service } from './fixtures.js';
import { modelServer } from './real-haproxy.js';

// applyServerChanges against a fake RuntimeApi: what it sends, in which order,
// on how many connections, and how it reads the answers.

const log = createLogger('silent');
const BE = 'be_apps';

function fakeApi(answer: (cmd: string) => string) {
  const batches: string[][] = [];
  const singles: string[] = [];
  const api: RuntimeApi = {
    command: async (c) => {
      singles.push(c);
      return answer(c);
    },
    expect: async () => {
      throw new Error('not used');
    },
    batch: async (cs) => {
      batches.push([...cs]);
      return cs.map(answer);
    },
    serversState: async () => [],
  };
  return { api, batches, singles };
}

const haproxyLike = (cmd: string) =>
  cmd.startsWith('add server') ? 'New server registered.' : cmd.startsWith('del server') ? (cmd.endsWith('/busy') ? 'Server still has connections attached to it, cannot remove it.' : 'Server deleted.') : '';

describe('applyServerChanges', () => {
  const checked = service([]);
  const unchecked = service([], { check: { ...DEFAULT_CHECK, enabled: false } });
  const changes: ChangeSet = {
    structural: null,
    remove: [
      { backend: BE, service: checked, server: modelServer('old', 1) },
      { backend: BE, service: checked, server: modelServer('busy', 2) },
    ],
    update: [{ backend: BE, service: checked, before: modelServer('moved', 3), after: { ...modelServer('moved', 4), weight: 5, maxconn: 9 } }],
    add: [
      { backend: BE, service: checked, server: modelServer('new', 5) },
      { backend: BE, service: unchecked, server: modelServer('plain', 6) },
    ],
  };

  it('sends the whole change set as one batch: add + health + ready, updates, then maintenance for the removed (deleted later, by the DeleteQueue)', async () => {
    const { api, batches, singles } = fakeApi((c) => (c.includes(' addr ') ? 'IP changed from 127.0.0.1 to 127.0.0.1, port changed from 3 to 4 by stats socket command' : haproxyLike(c)));
    const pending = await applyServerChanges(api, changes, log);
    expect(singles).toEqual([]);
    expect(batches).toEqual([
      [
        `add server ${BE}/new 127.0.0.1:5 check inter 2s fastinter 250ms downinter 250ms rise 2 fall 5 weight 100`,
        `enable health ${BE}/new`,
        `set server ${BE}/new state ready`,
        `add server ${BE}/plain 127.0.0.1:6 weight 100`,
        `set server ${BE}/plain state ready`,
        `set server ${BE}/moved addr 127.0.0.1 port 4`,
        `set server ${BE}/moved weight 5`,
        `set maxconn server ${BE}/moved 9`,
        `set server ${BE}/old state maint`,
        `set server ${BE}/busy state maint`,
      ],
    ]);
    expect(pending).toEqual([
      { backend: BE, server: 'old', since: expect.any(Number) },
      { backend: BE, server: 'busy', since: expect.any(Number) },
    ]);
  });

  it('an IPv6 server is added in brackets and moved by its bare address (as HAProxy 2.6 reads them)', async () => {
    const { api, batches } = fakeApi((c) => (c.includes(' addr ') ? "IP changed from '2001:db8::5' to '2001:db8::6'" : haproxyLike(c)));
    const v6 = (name: string, address: string, port: number) => ({ ...modelServer(name, port), address });
    await applyServerChanges(
      api,
      { structural: null, remove: [], update: [{ backend: BE, service: unchecked, before: v6('moved', '2001:db8::5', 80), after: v6('moved', '2001:db8::6', 80) }], add: [{ backend: BE, service: unchecked, server: v6('new6', '2001:db8::7', 8080) }] },
      log,
    );
    expect(batches[0]!.filter((c) => /add server|addr/.test(c))).toEqual([
      `add server ${BE}/new6 [2001:db8::7]:8080 weight 100`,
      `set server ${BE}/moved addr 2001:db8::6 port 80`,
    ]);
  });

  it('a replaced server leaves only after its replacement is ready (make before break: no gap with no server)', async () => {
    const { api, batches } = fakeApi(haproxyLike);
    await applyServerChanges(api, { structural: null, update: [], remove: [changes.remove[0]!], add: [changes.add[0]!] }, log);
    const batch = batches[0]!;
    expect(batch.indexOf(`set server ${BE}/new state ready`)).toBeLessThan(batch.indexOf(`set server ${BE}/old state maint`));
  });

  const at = (name: string, weight: number) => ({ ...modelServer(name, 1), weight });
  const weights = (...changes: [string, number, number][]) => changes.map(([name, from, to]) => ({ backend: BE, service: checked, before: at(name, from), after: at(name, to) }));
  it.each([
    [
      'weights that grow go before weights that shrink, so a switch-over never leaves no server with a weight',
      weights(['old', 100, 0], ['prev:backup', 100, 0], ['old:backup', 0, 100]),
      ['old:backup weight 100', 'old weight 0', 'prev:backup weight 0'],
    ],
    [
      // In name order, as diffServices lists them: v1's backup line sorts before v2's normal line.
      "a single-class rollback gives the standby's normal line its weight before the next-older backup line gets one, so the older container never answers",
      weights(['v1:backup', 0, 100], ['v2', 0, 100], ['v2:backup', 100, 0]),
      ['v2 weight 100', 'v1:backup weight 100', 'v2:backup weight 0'],
    ],
  ])('%s', async (_what, update, sent) => {
    const { api, batches } = fakeApi(haproxyLike);
    await applyServerChanges(api, { structural: null, add: [], remove: [], update }, log);
    expect(batches).toEqual([sent.map((c) => `set server ${BE}/${c}`)]);
  });

  it('an answer that says a command failed throws RuntimeApiError naming that command', async () => {
    const { api } = fakeApi((c) => (c === `enable health ${BE}/new` ? 'Health check was not configured on this server, cannot enable.' : haproxyLike(c)));
    const err = await applyServerChanges(api, { ...changes, update: [] }, log).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RuntimeApiError);
    expect(err).toMatchObject({ command: `enable health ${BE}/new`, answer: 'Health check was not configured on this server, cannot enable.' });
  });

  it('no change, no connection', async () => {
    const { api, batches } = fakeApi(haproxyLike);
    expect(await applyServerChanges(api, { structural: null, add: [], remove: [], update: [] }, log)).toEqual([]);
    expect(batches).toEqual([]);
  });

  it('tryDelete: deleted or already gone is done; attached connections mean later', async () => {
    const { api } = fakeApi((c) => (c.endsWith('/gone') ? 'No such server.' : haproxyLike(c)));
    expect(await tryDelete(api, BE, 'old')).toBe(true);
    expect(await tryDelete(api, BE, 'gone')).toBe(true);
    expect(await tryDelete(api, BE, 'busy')).toBe(false);
  });
});
