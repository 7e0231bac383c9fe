import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { answeringBackends } from './support/agent.js';
import { agentForBlock } from './support/agent-block.js';
import { docker, publishedPort, runApp, waitFor } from './support/lab.js';

// Backends reached over IPv6 (issue 15): a container that publishes its port only on an IPv6
// address is served there, by the real dockerd (docker-proxy listening on ::1) and the real
// HAProxy connecting over IPv6. The lab's dockerd 20.10 cannot make an IPv6-only network
// (every network has IPv4 there, which vipkeeper prefers), so that case is a unit test of
// resolveEndpoint with Docker's GlobalIPv6Address (test/unit/desired-state.test.ts).

const apps = { role: 'apps' };

describe('backends over IPv6', () => {
  const theAgent = agentForBlock();

  it('a container published only on an IPv6 address is served over IPv6 beside an IPv4 one, added and removed without a reload', async () => {
    const agent = theAgent();
    await Promise.all([
      runApp({ name: 'vkt-six', labels: apps, publish: ['[::1]::80'] }),
      runApp({ name: 'vkt-four', labels: apps, publish: ['80'] }),
    ]);
    await agent.waitServers(['vkt-four', 'vkt-six']);
    const sixPort = await publishedPort('vkt-six', 80);

    // HAProxy itself holds the IPv6 address, and requests through the frontend reach it.
    const six = (await agent.servers()).find((r) => r.server === 'vkt-six');
    expect(six).toMatchObject({ address: '::1', port: sixPort });
    await waitFor('both containers to answer through HAProxy', async () => (await answeringBackends(12)).length === 2);
    expect(await answeringBackends(12)).toEqual(['vkt-four', 'vkt-six']);
    // The file carries it in HAProxy's own spelling, so a later reload keeps it.
    await waitFor('haproxy.cfg to hold the IPv6 server', async () =>
      readFileSync(join(agent.configDir, 'haproxy.cfg'), 'utf8').includes(`server vkt-six [::1]:${sixPort} `),
    );

    // Neither container was left out (the agent logs "skipped container NAME: why" for one that
    // is; the code before this change did so for vkt-six). Checked before the stop, which is one.
    expect(agent.logs.filter((l) => l.msg.startsWith('skipped container')).map((l) => l.msg)).toEqual([]);

    // Stopped: drained, then deleted by the delete queue, which compares the drained server's
    // address with what `show servers state` prints (bare for IPv6).
    await docker('stop', '-t', '1', 'vkt-six');
    await agent.waitServers(['vkt-four']);
    await waitFor('vkt-six to be deleted from HAProxy', async () => !(await agent.servers()).some((r) => r.server === 'vkt-six'), 30_000);
    expect(await answeringBackends(6)).toEqual(['vkt-four']);

    // Server changes only: every pass after the first went through the Runtime API.
    const applied = agent.passes().slice(1).map((p) => p.applied).filter((a) => a !== 'none');
    expect(new Set(applied)).toEqual(new Set(['runtime-api']));
  });
});
