import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RuntimeClient } from '../../src/haproxy/runtime-client.js';
import { applyServerChanges } from '../../src/haproxy/runtime-apply.js';
import { diffServices } from '../../src/haproxy/server-changes.js';
import { createLogger } from '../../src/log.js';
import type { ContainerInfo } from '../../src/model/container.js';
import { buildDesiredState, type Service } from '../../src/model/desired-state.js';
import { backendName } from '../../src/render/haproxy-view.js';
import { binding, container, SETTINGS } from './fixtures.js';
import { freePort, haproxyInstalled, httpBackend, pollUntil, type RealHaproxy, shippedConfig, startHaproxy } from './real-haproxy.js';

// vipkeeper.class=single on the real haproxy 2.6 with the shipped template:
// a switch-over and a rollback are weight changes through the Runtime API (no
// reload), no request fails, and the standby's backup line takes the traffic
// by HAProxy's own checks when the active app stops answering.

const log = createLogger('silent');
const BE = backendName('apps');

/** Requests one after another on a few workers, each answer kept with when it came. */
function load(port: number, workers = 4) {
  const seen: { start: number; at: number; status: number; body: string }[] = [];
  let stopped = false;
  const worker = async () => {
    while (!stopped) {
      const start = Date.now();
      try {
        const res = await fetch(`http://127.0.0.1:${port}/`);
        seen.push({ start, at: Date.now(), status: res.status, body: (await res.text()).trim() });
      } catch (err) {
        seen.push({ start, at: Date.now(), status: 0, body: (err as Error).message });
      }
    }
  };
  const done = Promise.all(Array.from({ length: workers }, worker));
  return {
    seen,
    stop: async () => {
      stopped = true;
      await done;
      return seen;
    },
  };
}

describe.skipIf(!haproxyInstalled)('vipkeeper.class=single on the real haproxy 2.6', () => {
  let haproxy: RealHaproxy;
  let frontend: number;
  const apps = new Map<string, Awaited<ReturnType<typeof httpBackend>>>();
  const members = new Map<string, ContainerInfo>();
  let applied: readonly Service[] = [];
  let api: RuntimeClient;

  const member = (name: string, startedAt: number) =>
    container({
      name,
      startedAt,
      bindings: [binding(80, apps.get(name)!.port, '127.0.0.1')],
      // Quick checks, so HAProxy's own failover is seen within the test's deadline.
      extraLabels: { 'vipkeeper.class': 'single', 'vipkeeper.frontend.port': String(frontend), 'vipkeeper.check.interval': '100ms', 'vipkeeper.check.fall': '2' },
    });
  const plan = (names: string[]) => buildDesiredState(names.map((n) => members.get(n)!), { ...SETTINGS, frontendPort: frontend }).services;
  const apply = async (services: readonly Service[]) => {
    const changes = diffServices(applied, services);
    expect(changes.structural).toBeNull();
    await applyServerChanges(api, changes, log);
    applied = services;
  };
  const weights = async () =>
    Object.fromEntries(
      (await api.serversState())
        .filter((r) => r.backend === BE)
        .map((r) => [r.server, r.weight]),
    );
  const pid = async () => /^Pid: (\d+)$/m.exec(await api.command('show info'))?.[1];

  beforeAll(async () => {
    frontend = await freePort();
    for (const name of ['v1', 'v2', 'v3']) apps.set(name, await httpBackend(name));
    members.set('v1', member('v1', 1000));
    members.set('v2', member('v2', 2000));
    members.set('v3', member('v3', 3000));
    applied = plan(['v1', 'v2']);
    haproxy = await startHaproxy((sock) => shippedConfig(applied, sock));
    api = new RuntimeClient(haproxy.adminSocket);
  }, 30_000);

  afterAll(async () => {
    await haproxy?.stop();
    for (const app of apps.values()) await app.close();
  });

  it('only the newest container serves; the previous one is the standby backup line', async () => {
    expect(await weights()).toEqual({ v1: 0, 'v1:backup': 100, v2: 100, 'v2:backup': 0 });
    const l = load(frontend);
    await pollUntil('50 answers', () => l.seen.length >= 50);
    expect(new Set((await l.stop()).map((s) => `${s.status} ${s.body}`))).toEqual(new Set(['200 v2']));
  });

  it('switch-over to a newer container under load: no request fails or reaches an older one, all go to the new one after the batch, no reload', async () => {
    const before = await pid();
    const l = load(frontend);
    await pollUntil('load running', () => l.seen.length >= 50);
    await apply(plan(['v1', 'v2', 'v3']));
    const switched = Date.now();
    await pollUntil('more answers after the switch', () => l.seen.filter((s) => s.at > switched + 50).length >= 100);
    const seen = await l.stop();
    expect(seen.filter((s) => s.status !== 200)).toEqual([]);
    expect(new Set(seen.map((s) => s.body))).toEqual(new Set(['v2', 'v3']));
    // A request answered 50 ms after the batch was sent after it: only v3 may answer it.
    expect(new Set(seen.filter((s) => s.at > switched + 50).map((s) => s.body))).toEqual(new Set(['v3']));
    expect(await weights()).toEqual({ v1: 0, 'v1:backup': 0, v2: 0, 'v2:backup': 100, v3: 100, 'v3:backup': 0 });
    expect(await pid()).toBe(before);
  });

  it('the newest app stops answering: HAProxy itself sends the traffic to the previous one (its backup line), then the pass makes it active', async () => {
    const l = load(frontend);
    await pollUntil('load on v3', () => l.seen.some((s) => s.body === 'v3'));
    const killed = Date.now();
    await apps.get('v3')!.close();
    await pollUntil('v2 to answer', () => l.seen.some((s) => s.at > killed && s.body === 'v2'), 10_000);
    const firstAnswer = l.seen.find((s) => s.at > killed && s.body === 'v2')!;
    // As the agent's pass after Docker's `die`: v3 removed, v2 active, v1 the standby.
    await apply(plan(['v1', 'v2']));
    const passed = Date.now();
    await pollUntil('answers after the pass', () => l.seen.filter((s) => s.at > passed).length >= 50);
    const seen = await l.stop();
    const failed = seen.filter((s) => s.at > killed && s.status !== 200);
    // Timing is reported, not judged (a noisy 2-core machine); the order is judged.
    const after = seen.filter((s) => s.at > killed);
    const slowest = Math.max(...after.map((s) => s.at - s.start));
    console.info(
      `rollback by HAProxy's checks alone: first answer from v2 ${firstAnswer.at - killed} ms after v3 stopped (that request started ${firstAnswer.start - killed} ms after); ` +
        `${failed.length} of ${after.length} requests failed; slowest ${slowest} ms (retries wait for the check)`,
    );
    expect(new Set(seen.filter((s) => s.at > passed).map((s) => s.body))).toEqual(new Set(['v2']));
    expect(seen.some((s) => s.body === 'v1')).toBe(false);
    expect(await weights()).toMatchObject({ v1: 0, 'v1:backup': 100, v2: 100, 'v2:backup': 0 });
  });
});
