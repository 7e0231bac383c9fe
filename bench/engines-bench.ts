import { AgentUnderTest } from '../test/lab/support/agent.js';
import { AppHost } from '../test/lab/support/app-hosts.js';
import { APP_IMAGE, appScript, docker, removeTestContainers, runApp, waitFor } from '../test/lab/support/lab.js';
import { type LbNode, NetnsLab } from '../test/lab/support/netns-lab.js';
import { median } from './churn-bench.js';

// How fast backends follow a new container, by where it runs: on the load
// balancer's own engine (unix socket), on another host's engine (tcp), and as a
// Swarm task (a manager over tcp, plus its one-second poll). Measured from the
// container's start (the engine's StartedAt; one machine, one clock) to the
// server being ready in HAProxy, polled every 10 ms on the admin socket. The
// modes alternate container by container, so drift on the machine hits all alike.

const SAMPLES = Number(process.env.BENCH_ENGINE_SAMPLES ?? 15);
const SERVICE = 'vkb-svc';

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

interface Mode {
  readonly name: string;
  readonly agent: AgentUnderTest;
  /** Starts one more backend; resolves with its server name and a way to read its start time. */
  readonly add: (i: number) => Promise<{ server: string; startedAt: () => Promise<number> }>;
}

async function readyAt(agent: AgentUnderTest, server: string): Promise<number> {
  return waitFor(`${server} ready in HAProxy`, async () => ((await agent.readyServers()).includes(server) ? Date.now() : undefined), 30_000, 10);
}

/** The engines section: runs, then returns its Markdown table. Expects the lab to be set up. */
export async function enginesSection(): Promise<string> {
  const lab = new NetnsLab(2, 'vkbe');
  const [lbRemote, lbSwarm] = lab.nodes as [LbNode, LbNode];
  const app = new AppHost('vkapp5', 25);
  const swarmHost = new AppHost('vkapp6', 26);
  await removeTestContainers();
  await lab.up();
  try {
    await Promise.all([app.up(), swarmHost.up()]);
    await swarmHost.docker('swarm', 'init', '--advertise-addr', swarmHost.address);
    await swarmHost.docker('service', 'create', '-d', '--name', SERVICE, '--label', 'role=apps', '--replicas', '0', '--publish', 'mode=host,target=80', APP_IMAGE, 'sh', '-c', appScript(SERVICE));

    const local = new AgentUnderTest({ VIPKEEPER_LOG_LEVEL: 'info' });
    local.start();
    const quiet = { VIPKEEPER_NODE_ROLE: '', VIPKEEPER_LOG_LEVEL: 'info' };
    const remote = lab.startAgent(lbRemote, { ...quiet, VIPKEEPER_DOCKER_HOSTS: app.endpoint, VIPKEEPER_VIRTUAL_ROUTER_ID: '71' });
    const swarm = lab.startAgent(lbSwarm, { ...quiet, VIPKEEPER_SWARM: 'true', VIPKEEPER_DOCKER_HOSTS: swarmHost.endpoint, VIPKEEPER_VIRTUAL_ROUTER_ID: '72' });
    for (const a of [local, remote, swarm]) await a.waitLog('the first state applied', (l) => l.msg === 'pass');

    const started = (inspect: () => Promise<string>) => async () => Date.parse(await inspect());
    const modes: Mode[] = [
      {
        name: "the load balancer's own engine (unix socket)",
        agent: local,
        add: async (i) => {
          const name = `vkb-local-${i}`;
          await runApp({ name, labels: { role: 'apps' }, publish: ['80'] });
          return { server: name, startedAt: started(() => docker('inspect', '-f', '{{.State.StartedAt}}', name)) };
        },
      },
      {
        name: "another host's engine (tcp)",
        agent: remote,
        add: async (i) => {
          const name = `vkb-remote-${i}`;
          await app.runApp({ name, labels: { role: 'apps' }, publish: ['80'] });
          return { server: name, startedAt: started(() => app.docker('inspect', '-f', '{{.State.StartedAt}}', name)) };
        },
      },
      {
        name: 'a Swarm task (manager over tcp)',
        agent: swarm,
        add: async (i) => {
          await swarmHost.docker('service', 'scale', '-d', `${SERVICE}=${i + 1}`);
          const slot = `${SERVICE}.${i + 1}`;
          return {
            server: slot,
            startedAt: started(async () => {
              const id = await waitFor(`the container of ${slot}`, async () => (await swarmHost.docker('ps', '-q', '--filter', `name=${slot}.`)) || undefined, 30_000);
              return swarmHost.docker('inspect', '-f', '{{.State.StartedAt}}', id);
            }),
          };
        },
      },
    ];

    const follow = new Map<string, number[]>(modes.map((m) => [m.name, []]));
    for (let i = 0; i < SAMPLES; i++) {
      for (const m of i % 2 === 0 ? modes : [...modes].reverse()) {
        const { server, startedAt } = await m.add(i);
        const ready = await readyAt(m.agent, server);
        follow.get(m.name)!.push(ready - (await startedAt()));
      }
    }
    process.stderr.write(`engines: ${JSON.stringify(Object.fromEntries(follow))}\n`);
    await local.stop();

    const base = median(follow.get(modes[0]!.name)!);
    const lines = [
      `Container start -> server ready in HAProxy, ${SAMPLES} containers per mode, alternating.`,
      '',
      '| where the container runs | p50 (ms) | p90 (ms) | max (ms) | p50 ratio |',
      '| --- | ---: | ---: | ---: | ---: |',
      ...modes.map((m) => {
        const xs = follow.get(m.name)!;
        return `| ${m.name} | ${median(xs).toFixed(0)} | ${pct(xs, 90).toFixed(0)} | ${Math.max(...xs).toFixed(0)} | ${(median(xs) / base).toFixed(2)} |`;
      }),
      '',
      `ratio = mode / ${modes[0]!.name}. Per-container values are on stderr.`,
    ];
    return lines.join('\n');
  } finally {
    await lab.down();
    await Promise.all([app.down(), swarmHost.down()]);
    await removeTestContainers();
  }
}
