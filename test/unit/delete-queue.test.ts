import { afterEach, describe, expect, it } from 'vitest';
import { DELETE_SETTLE_MS, DeleteQueue, type PendingDelete } from '../../src/haproxy/delete-queue.js';
import type { ServerStateRow } from '../../src/haproxy/runtime-api.js';
import { FakeClock, FakeRuntimeApi, silentLog } from './support/fakes.js';

// The delete queue must never touch a live server: whatever it finds at the
// name it drained, it acts only on the very server it drained. Rounds are run
// by hand (runOnce); the queue's own timer is set far out of reach.

const MAINT = 0x01;
const DRAIN = 0x08;
const T0 = Date.UTC(2026, 0, 1);
const FORCE_AFTER_MS = 30_000;

/** HAProxy's refusal of `del server` while connections remain: the fake's answer for any server a test did not set. */
const BUSY = 'Server still has connections attached to it, cannot remove it.\n';

const row = (backend: string, server: string, address: string, port: number, adminState = MAINT | DRAIN, opState = 2): ServerStateRow => ({
  backend,
  server,
  address,
  port,
  opState,
  adminState,
  weight: 0,
});

const pendingDelete = (backend: string, server: string, address: string, since = T0): PendingDelete => ({ backend, server, address, since });

const queues: DeleteQueue[] = [];
/** `settleMs` 0 unless said: most tests are about which server a delete may touch, not when. */
function setup({ settleMs }: { settleMs?: number } = { settleMs: 0 }) {
  const api = new FakeRuntimeApi();
  api.deleteAnswer = BUSY;
  const clock = new FakeClock(T0);
  const queue = new DeleteQueue(api, silentLog(), { retryMs: 3_600_000, forceAfterMs: FORCE_AFTER_MS, ...(settleMs === undefined ? {} : { settleMs }) }, clock);
  queues.push(queue);
  return { api, clock, queue };
}

afterEach(() => {
  for (const q of queues.splice(0)) q.close();
});

describe('DeleteQueue: never touches a server that is not the one it drained', () => {
  it('drops a delete whose server was added again at another address: no shutdown, no del, even past forceAfterMs', async () => {
    const { api, clock, queue } = setup();
    queue.add(pendingDelete('be_apps', 'web-1', '172.17.0.2:80'));
    api.rows = [row('be_apps', 'web-1', '172.17.0.9', 80, 0)];
    clock.t = T0 + FORCE_AFTER_MS * 10;
    await queue.runOnce();
    expect(api.about('be_apps/web-1')).toEqual([]);
    expect(api.commands.filter((c) => c.startsWith('shutdown') || c.startsWith('del'))).toEqual([]);
    expect(queue.pending()).toEqual([]);
  });

  it('drops a delete whose server is at another port of the same address', async () => {
    const { api, queue } = setup();
    queue.add(pendingDelete('be_apps', 'web-1', '172.17.0.2:80'));
    api.rows = [row('be_apps', 'web-1', '172.17.0.2', 8080)];
    await queue.runOnce();
    expect(api.about('be_apps/web-1')).toEqual([]);
    expect(queue.has('be_apps', 'web-1')).toBe(false);
  });

  it.each([
    ['ready', 0],
    ['drain only (not in maintenance)', DRAIN],
  ])('drops a delete whose server is no longer in maintenance (%s)', async (_what, adminState) => {
    const { api, clock, queue } = setup();
    queue.add(pendingDelete('be_apps', 'web-1', '172.17.0.2:80'));
    api.rows = [row('be_apps', 'web-1', '172.17.0.2', 80, adminState)];
    clock.t = T0 + FORCE_AFTER_MS * 10;
    await queue.runOnce();
    expect(api.about('be_apps/web-1')).toEqual([]);
    expect(queue.pending()).toEqual([]);
  });

  it('an IPv6 server it drained (show servers state prints the bare address) is deleted', async () => {
    const { api, queue } = setup();
    queue.add(pendingDelete('be_apps', 'web-6', '[2001:db8::5]:80'));
    api.rows = [row('be_apps', 'web-6', '2001:db8::5', 80)];
    api.delAnswers.set('be_apps/web-6', 'Server deleted.\n');
    await queue.runOnce();
    expect(api.about('be_apps/web-6')).toEqual(['del server be_apps/web-6']);
  });

  it('cancel() before a round: no command for that server, the others still go', async () => {
    const { api, queue } = setup();
    queue.add(pendingDelete('be_apps', 'web-1', '172.17.0.2:80'));
    queue.add(pendingDelete('be_apps', 'web-2', '172.17.0.3:80'));
    api.rows = [row('be_apps', 'web-1', '172.17.0.2', 80), row('be_apps', 'web-2', '172.17.0.3', 80)];
    api.delAnswers.set('be_apps/web-2', 'Server deleted.\n');
    expect(queue.cancel('be_apps', 'web-1')).toBe(true);
    expect(queue.cancel('be_apps', 'web-1')).toBe(false);
    await queue.runOnce();
    expect(api.about('be_apps/web-1')).toEqual([]);
    expect(api.about('be_apps/web-2')).toEqual(['del server be_apps/web-2']);
    expect(queue.pending()).toEqual([]);
  });

  it('cancel() while a round is running: the cancelled server gets no command', async () => {
    const { api, queue } = setup();
    queue.add(pendingDelete('be_apps', 'web-1', '172.17.0.2:80'));
    queue.add(pendingDelete('be_apps', 'web-2', '172.17.0.3:80'));
    api.rows = [row('be_apps', 'web-1', '172.17.0.2', 80), row('be_apps', 'web-2', '172.17.0.3', 80)];
    api.delAnswers.set('be_apps/web-1', 'Server deleted.\n');
    api.onCommand = (c) => {
      if (c === 'del server be_apps/web-1') queue.cancel('be_apps', 'web-2');
    };
    await queue.runOnce();
    expect(api.commands).toEqual(['del server be_apps/web-1']);
    expect(queue.pending()).toEqual([]);
  });

  it('drops a delete whose server is already gone (no row), without a command', async () => {
    const { api, clock, queue } = setup();
    queue.add(pendingDelete('be_apps', 'web-1', '172.17.0.2:80'));
    api.rows = [row('be_other', 'web-1', '172.17.0.2', 80)];
    clock.t = T0 + FORCE_AFTER_MS * 10;
    await queue.runOnce();
    expect(api.commands).toEqual([]);
    expect(queue.pending()).toEqual([]);
  });
});

describe('DeleteQueue: deleting the server it drained', () => {
  it('a successful delete leaves nothing pending', async () => {
    const { api, queue } = setup();
    queue.add(pendingDelete('be_apps', 'web-1', '172.17.0.2:80'));
    api.rows = [row('be_apps', 'web-1', '172.17.0.2', 80)];
    api.delAnswers.set('be_apps/web-1', 'Server deleted.\n');
    await queue.runOnce();
    expect(api.commands).toEqual(['del server be_apps/web-1']);
    expect(queue.pending()).toEqual([]);
    expect(queue.has('be_apps', 'web-1')).toBe(false);
  });

  it.each(['No such server.\n', 'No such backend.\n'])('counts "%s" as deleted', async (answer) => {
    const { api, queue } = setup();
    queue.add(pendingDelete('be_apps', 'web-1', '172.17.0.2:80'));
    api.rows = [row('be_apps', 'web-1', '172.17.0.2', 80)];
    api.delAnswers.set('be_apps/web-1', answer);
    await queue.runOnce();
    expect(queue.pending()).toEqual([]);
  });

  it('a refused delete stays pending, and is not forced before forceAfterMs', async () => {
    const { api, clock, queue } = setup();
    queue.add(pendingDelete('be_apps', 'web-1', '172.17.0.2:80'));
    api.rows = [row('be_apps', 'web-1', '172.17.0.2', 80)];
    await queue.runOnce();
    clock.t = T0 + FORCE_AFTER_MS; // exactly at the limit: not past it yet
    await queue.runOnce();
    expect(api.commands).toEqual(['del server be_apps/web-1', 'del server be_apps/web-1']);
    expect(queue.pending().map((p) => `${p.backend}/${p.server}`)).toEqual(['be_apps/web-1']);
  });

  it('past forceAfterMs, shuts down the sessions of that server only, once, then deletes it', async () => {
    const { api, clock, queue } = setup();
    queue.add(pendingDelete('be_apps', 'web-1', '172.17.0.2:80', T0));
    queue.add(pendingDelete('be_apps', 'web-2', '172.17.0.3:80', T0 + 20_000)); // refused too, but younger
    api.rows = [row('be_apps', 'web-1', '172.17.0.2', 80), row('be_apps', 'web-2', '172.17.0.3', 80)];
    api.onCommand = (c) => {
      if (c === 'shutdown sessions server be_apps/web-1') api.delAnswers.set('be_apps/web-1', 'Server deleted.\n');
    };
    clock.t = T0 + FORCE_AFTER_MS + 1;
    await queue.runOnce();

    expect(api.about('be_apps/web-1')).toEqual(['del server be_apps/web-1', 'shutdown sessions server be_apps/web-1', 'del server be_apps/web-1']);
    expect(api.commands.filter((c) => c.startsWith('shutdown'))).toEqual(['shutdown sessions server be_apps/web-1']);
    expect(api.about('be_apps/web-2')).toEqual(['del server be_apps/web-2']);
    expect(queue.pending().map((p) => `${p.backend}/${p.server}`)).toEqual(['be_apps/web-2']);
  });

  it('a forced delete that is still refused stays pending and is tried again next round', async () => {
    const { api, clock, queue } = setup();
    queue.add(pendingDelete('be_apps', 'web-1', '172.17.0.2:80', T0));
    api.rows = [row('be_apps', 'web-1', '172.17.0.2', 80)];
    clock.t = T0 + FORCE_AFTER_MS + 1;
    await queue.runOnce();
    expect(queue.has('be_apps', 'web-1')).toBe(true);
    api.delAnswers.set('be_apps/web-1', 'Server deleted.\n');
    await queue.runOnce();
    expect(api.about('be_apps/web-1').at(-1)).toBe('del server be_apps/web-1');
    expect(queue.pending()).toEqual([]);
  });

  it('adding the same server again replaces its pending delete (one entry per server)', () => {
    const { queue } = setup();
    queue.add(pendingDelete('be_apps', 'web-1', '172.17.0.2:80', T0));
    queue.add(pendingDelete('be_apps', 'web-1', '172.17.0.7:80', T0 + 5));
    expect(queue.pending()).toEqual([pendingDelete('be_apps', 'web-1', '172.17.0.7:80', T0 + 5)]);
  });

  it('a round with nothing pending asks HAProxy nothing', async () => {
    const { api, queue } = setup();
    let asked = 0;
    api.serversState = async () => {
      asked += 1;
      return [];
    };
    await queue.runOnce();
    expect(asked).toBe(0);
    expect(api.commands).toEqual([]);
  });
});

describe('DeleteQueue: a server settles in maintenance before its delete (HAProxy 2.6 frees it under a retrying stream)', () => {
  it('tries no delete, and asks HAProxy nothing, before the server has been in maintenance for DELETE_SETTLE_MS', async () => {
    const { api, clock, queue } = setup({});
    queue.add(pendingDelete('be_apps', 'web-1', '172.17.0.2:80'));
    api.rows = [row('be_apps', 'web-1', '172.17.0.2', 80)];
    api.delAnswers.set('be_apps/web-1', 'Server deleted.\n');
    clock.set(T0 + DELETE_SETTLE_MS - 1);
    await queue.runOnce();
    expect(api.commands).toEqual([]);
    expect(queue.has('be_apps', 'web-1')).toBe(true);
    clock.set(T0 + DELETE_SETTLE_MS);
    await queue.runOnce();
    expect(api.commands).toEqual(['del server be_apps/web-1']);
    expect(queue.pending()).toEqual([]);
  });

  it('a settled server is deleted while a younger one waits its turn', async () => {
    const { api, clock, queue } = setup({});
    queue.add(pendingDelete('be_apps', 'old', '172.17.0.2:80', T0));
    queue.add(pendingDelete('be_apps', 'young', '172.17.0.3:80', T0 + DELETE_SETTLE_MS));
    api.rows = [row('be_apps', 'old', '172.17.0.2', 80), row('be_apps', 'young', '172.17.0.3', 80)];
    api.delAnswers.set('be_apps/old', 'Server deleted.\n');
    clock.set(T0 + DELETE_SETTLE_MS);
    await queue.runOnce();
    expect(api.commands).toEqual(['del server be_apps/old']);
    expect(queue.pending().map((p) => p.server)).toEqual(['young']);
  });
});
