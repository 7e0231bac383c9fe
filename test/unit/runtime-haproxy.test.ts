import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { directRuntimeApi, type RuntimeApi } from '../../src/haproxy/runtime-api.js';
import { applyServerChanges, drainServer, drainServers, tryDelete, tryDeleteMany } from '../../src/haproxy/runtime-apply.js';
import { RuntimeClient } from '../../src/haproxy/runtime-client.js';
import type { ChangeSet } from '../../src/haproxy/server-changes.js';
import { backendName } from '../../src/render/haproxy-view.js';
import { DEFAULT_CHECK, service } from './fixtures.js';
import {
  countingRelay,
  freePort,
  haproxyInstalled,
  httpBackend,
  modelServer,
  pollUntil,
  type RealHaproxy,
  shippedConfig,
  startHaproxy,
} from './real-haproxy.js';

// The Runtime API against the real haproxy 2.6 (master-worker, temp dir,
// loopback ports): what it answers, how batches split, and that the agent's
// client keeps to its pool where 50 direct connections get EAGAIN.

const log = createLogger('silent');
const BE = backendName('apps');
const noChanges: ChangeSet = { structural: null, add: [], remove: [], update: [] };

/** HAProxy's own admin socket limits (10 served, backlog 10), not the template's. */
const plainConfig = (frontendPort: number, backendPort: number) => (adminSocket: string) => `
global
    stats socket ${adminSocket} mode 600 level admin
defaults
    mode http
    timeout connect 5s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:${frontendPort}
    default_backend ${BE}
backend ${BE}
    balance roundrobin
    server static-1 127.0.0.1:${backendPort}
`;

describe.skipIf(!haproxyInstalled)('Runtime API on the real haproxy 2.6', () => {
  let haproxy: RealHaproxy;
  let backend: Awaited<ReturnType<typeof httpBackend>>;
  let shipped: RealHaproxy;
  let shippedFrontend: number;

  beforeAll(async () => {
    backend = await httpBackend('b');
    haproxy = await startHaproxy(plainConfig(await freePort(), backend.port));
    shippedFrontend = await freePort();
    const svc = service([modelServer('static-1', backend.port)], { frontendPort: shippedFrontend });
    shipped = await startHaproxy((sock) => shippedConfig([svc], sock)).catch(async (e: unknown) => {
      await haproxy.stop();
      throw e;
    });
  }, 30_000);

  afterAll(async () => {
    await shipped?.stop();
    await haproxy?.stop();
    await backend?.close();
  });

  it('batch: one answer per command, an error in the middle included', async () => {
    const api = new RuntimeClient(haproxy.adminSocket);
    const answers = await api.batch([
      `add server ${BE}/b1 127.0.0.1:${backend.port} check inter 2s`,
      'no such command',
      `enable health ${BE}/b1`,
      `set server ${BE}/b1 state ready`,
      `del server ${BE}/b1`,
      `set server ${BE}/b1 state maint`,
      `show servers state ${BE}`,
      `del server ${BE}/b1`,
      `del server ${BE}/b1`,
      `set server ${BE}/static-1 weight 7`,
      `get weight ${BE}/static-1`,
      `set server ${BE}/static-1 weight 1`,
    ]);
    expect(answers).toHaveLength(12);
    expect(answers[0]).toBe('New server registered.');
    expect(answers[1]).toMatch(/^Unknown command/);
    expect(answers.slice(2, 4)).toEqual(['', '']);
    expect(answers[4]).toBe('Only servers in maintenance mode can be deleted.');
    expect(answers[5]).toBe('');
    expect(answers[6]).toMatch(new RegExp(`^1\\n# be_id .*\\n\\d+ ${BE} 1 static-1 .*\\n\\d+ ${BE} \\d+ b1 127\\.0\\.0\\.1 `, 's'));
    expect(answers.slice(7)).toEqual(['Server deleted.', 'No such server.', '', '7 (initial 1)', '']);
  });

  it('the direct API splits the same answers', async () => {
    const answers = await directRuntimeApi(haproxy.adminSocket).batch([`del server ${BE}/nope`, `set server ${BE}/static-1 state ready`, `get weight ${BE}/static-1`]);
    expect(answers).toEqual(['No such server.', '', '1 (initial 1)']);
  });

  it('a batch of 600 commands (longer than one HAProxy buffer) answers them all', async () => {
    const cmds = Array.from({ length: 600 }, (_, i) => `set server ${BE}/static-1 weight ${(i % 5) + 1}`);
    const answers = await new RuntimeClient(haproxy.adminSocket).batch(cmds);
    expect(answers).toEqual(cmds.map(() => ''));
    expect(cmds.join('\n').length).toBeGreaterThan(16_384);
  });

  it('50 direct connections at once meet EAGAIN; the same 50 through RuntimeClient all work within its pool', async () => {
    // The defect: every drain on its own connection, all at once, against HAProxy's defaults.
    const direct = directRuntimeApi(haproxy.adminSocket);
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => direct.command(`show info`)));
    const failed = results.filter((r) => r.status === 'rejected').map((r) => String((r.reason as Error).cause && ((r.reason as Error).cause as NodeJS.ErrnoException).code));
    expect(failed.length).toBeGreaterThan(0);
    expect(new Set(failed)).toEqual(new Set(['EAGAIN']));

    const relay = await countingRelay(haproxy.adminSocket, join(haproxy.dir, 'relay.sock'));
    try {
      const client = new RuntimeClient(relay.path, { concurrency: 3 });
      await Promise.all(Array.from({ length: 50 }, () => client.command('show info')));
      expect(relay.peak()).toBeLessThanOrEqual(3);
      expect(relay.total()).toBe(50);
      expect(client.stats().retries).toBe(0);
    } finally {
      await relay.close();
    }
  });

  it('add 50 servers in one batch, then 50 concurrent drains + deletes: no error, never more than the pool open', async () => {
    const relay = await countingRelay(haproxy.adminSocket, join(haproxy.dir, 'relay2.sock'));
    try {
      const api: RuntimeApi = new RuntimeClient(relay.path, { concurrency: 3 });
      const svc = service([], { frontendPort: 1 });
      const servers = Array.from({ length: 50 }, (_, i) => modelServer(`c${i}`, backend.port));
      const pendingAdd = await applyServerChanges(api, { ...noChanges, add: servers.map((server) => ({ backend: BE, service: svc, server })) }, log);
      expect(pendingAdd).toEqual([]);
      expect(relay.total()).toBe(1);
      const added = (await api.serversState()).filter((r) => r.backend === BE && r.server.startsWith('c'));
      expect(added).toHaveLength(50);
      expect(added.every((r) => r.adminState === 0)).toBe(true);

      // As the agent does it: a drain per stopping container, out of band, then the pass removes each.
      const outcomes = await Promise.allSettled(
        servers.map(async (server) => {
          await drainServer(api, BE, server.name);
          return applyServerChanges(api, { ...noChanges, remove: [{ backend: BE, service: svc, server }] }, log);
        }),
      );
      const errors = outcomes.filter((o) => o.status === 'rejected');
      expect(errors).toEqual([]);
      // All in maintenance, all left to the DeleteQueue (which waits for them to settle there).
      const pending = outcomes.flatMap((o) => (o.status === 'fulfilled' ? o.value : []));
      expect(pending.map((p) => p.server).sort()).toEqual(servers.map((s) => s.name).sort());
      expect((await api.serversState()).filter((r) => r.backend === BE && r.server.startsWith('c')).every((r) => (r.adminState & 0x01) !== 0)).toBe(true);
      expect(await tryDeleteMany(api, pending)).toEqual(pending.map(() => true));
      expect((await api.serversState()).filter((r) => r.backend === BE).map((r) => r.server)).toEqual(['static-1']);
      expect(relay.peak()).toBeLessThanOrEqual(3);
      expect(relay.peak()).toBeGreaterThan(1);
    } finally {
      await relay.close();
    }
  });

  it('drainServers and tryDeleteMany: one connection for many servers, "not yet" while in use', async () => {
    const api = new RuntimeClient(haproxy.adminSocket);
    const svc = service([], { frontendPort: 1, check: { ...DEFAULT_CHECK, enabled: false } });
    const servers = ['d1', 'd2', 'd3'].map((n) => modelServer(n, backend.port));
    await applyServerChanges(api, { ...noChanges, add: servers.map((server) => ({ backend: BE, service: svc, server })) }, log);
    await drainServers(api, servers.map((s) => ({ backend: BE, server: s.name })));
    const rows = (await api.serversState()).filter((r) => r.server.startsWith('d'));
    expect(rows.map((r) => r.adminState & 0x08)).toEqual([8, 8, 8]);
    // d1 and d2 in maintenance, d3 only draining: HAProxy refuses to delete it.
    await api.batch([`set server ${BE}/d1 state maint`, `set server ${BE}/d2 state maint`]);
    expect(await tryDeleteMany(api, [...servers, modelServer('never-added', 1)].map((s) => ({ backend: BE, server: s.name })))).toEqual([true, true, false, true]);
    await expect(drainServers(api, [{ backend: BE, server: 'd3' }, { backend: BE, server: 'gone' }])).rejects.toThrow(/gone.*No such server/);
    await api.batch([`set server ${BE}/d3 state maint`, `del server ${BE}/d3`]);
  });

  it('the shipped template: requests that reach a new server whose app does not listen yet are retried elsewhere, none fails, and it serves once the app listens', async () => {
    const api = new RuntimeClient(shipped.adminSocket);
    const svc = service([], { frontendPort: shippedFrontend });
    const latePort = await freePort();
    await applyServerChanges(api, { ...noChanges, add: [{ backend: BE, service: svc, server: modelServer('late', latePort) }] }, log);
    const state = async () => (await api.serversState()).find((r) => r.server === 'late');
    expect(await state()).toMatchObject({ opState: 2, adminState: 0 }); // HAProxy 2.6: UP before any check
    const bodies: string[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`http://127.0.0.1:${shippedFrontend}/`);
      expect(res.status).toBe(200);
      bodies.push((await res.text()).trim());
    }
    expect(new Set(bodies)).toEqual(new Set(['b']));
    const late = await httpBackend('late', latePort);
    try {
      await pollUntil('the late server to answer', async () => (await (await fetch(`http://127.0.0.1:${shippedFrontend}/`)).text()).trim() === 'late', 5000);
    } finally {
      await api.batch([`set server ${BE}/late state maint`, `shutdown sessions server ${BE}/late`]);
      await pollUntil('late deleted', () => tryDelete(api, BE, 'late'), 5000);
      await late.close();
    }
  });

  it('the shipped template: its admin socket answers 200 connections at once', async () => {
    const direct = directRuntimeApi(shipped.adminSocket);
    const results = await Promise.allSettled(Array.from({ length: 200 }, () => direct.command('show info')));
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
  });
});
