import type { DrillReport } from '../src/drill/drill-report.js';
import { Prober } from '../src/drill/probe.js';
import { TEST_FRONTEND_PORT } from '../test/lab/support/agent.js';
import { CLI } from '../test/lab/support/cli.js';
import { removeTestContainers, runApp, waitFor } from '../test/lab/support/lab.js';
import { LAB_VIP, type LbNode, NetnsLab } from '../test/lab/support/netns-lab.js';
import { median } from './churn-bench.js';

// Failover time in the namespace lab: graceful stop (a drill), haproxy stopping
// on the master (a drill) and the master's link cut (the bridge side of its
// cable goes down), with the seeds' VRRP setting (v2, advert_int 1) and the
// fast one (v3, advert_int 0.1), side by side in one run.

const REPS = Number(process.env.BENCH_FAILOVER_REPS ?? 3);

interface Setting {
  readonly name: string;
  readonly env: Record<string, string>;
}

const SETTINGS: Setting[] = [
  { name: 'v2, advert_int 1', env: { VIPKEEPER_VRRP_VERSION: '2', VIPKEEPER_ADVERT_INT: '1' } },
  { name: 'v3, advert_int 0.1', env: { VIPKEEPER_VRRP_VERSION: '3', VIPKEEPER_ADVERT_INT: '0.1' } },
];

interface Sample {
  readonly movedMs: number;
  readonly answeredMs: number;
  readonly failedProbes: number;
}

async function drill(lab: NetnsLab, node: LbNode, mode: string): Promise<Sample> {
  const r = await lab.exec(node, process.execPath, [CLI, 'drill', '--mode', mode, '--hold', '500ms', '--json', '--control', node.agent!.controlSocket], true);
  if (r.code !== 0) throw new Error(`drill ${mode} on ${node.name} failed: ${r.stderr}${r.stdout}`);
  const rep = JSON.parse(r.stdout) as DrillReport;
  return { movedMs: rep.vipLeftMs!, answeredMs: rep.answeredAgainMs!, failedProbes: rep.failedProbes };
}

/** Cuts the master's cable and measures from outside: when the other node holds the VIP, and answers. */
async function linkCut(lab: NetnsLab, master: LbNode, other: LbNode): Promise<Sample> {
  const prober = new Prober(new URL(`http://${LAB_VIP}:${TEST_FRONTEND_PORT}/`));
  prober.start();
  await new Promise((r) => setTimeout(r, 200));
  const cutAt = Date.now();
  await lab.link(master, 'down');
  let movedAt = 0;
  try {
    await waitFor('the other node to take the VIP', async () => {
      if ((await lab.holders()).includes(other.name)) return (movedAt = Date.now());
      return false;
    }, 30_000, 10);
    await waitFor('an answer through the VIP', async () => prober.records.some((p) => p.ok && p.start >= movedAt), 30_000, 10);
  } finally {
    await lab.link(master, 'up');
  }
  await prober.stop();
  const firstOk = prober.records.filter((p) => p.ok && p.start >= movedAt).sort((a, b) => a.end - b.end)[0]!;
  const failedProbes = prober.records.filter((p) => p.start >= cutAt && p.start <= firstOk.end && !p.ok).length;
  await waitFor('one holder again', async () => (await lab.holders()).length === 1, 30_000, 100);
  return { movedMs: movedAt - cutAt, answeredMs: firstOk.end - cutAt, failedProbes };
}

async function measureSetting(setting: Setting): Promise<Map<string, Sample[]>> {
  const lab = new NetnsLab(2, 'vkfo');
  const out = new Map<string, Sample[]>([['graceful stop', []], ['haproxy stops', []], ['link cut', []]]);
  await lab.up();
  try {
    const [a, b] = lab.nodes as [LbNode, LbNode];
    const env = { VIPKEEPER_NODE_ROLE: '', ...setting.env };
    lab.startAgent(a, { ...env, VIPKEEPER_PRIORITY: '150' });
    await lab.waitHolder(a.name, 30_000);
    lab.startAgent(b, { ...env, VIPKEEPER_PRIORITY: '100' });
    await b.agent!.waitLog('BACKUP', (l) => l.msg === 'VRRP vipkeeper_51 is now BACKUP');
    for (let rep = 0; rep < REPS; rep++) {
      for (const [scenario, mode] of [['graceful stop', 'graceful'], ['haproxy stops', 'haproxy'], ['link cut', null]] as const) {
        const [holder] = await lab.holders();
        const master = lab.nodes.find((n) => n.name === holder)!;
        const other = master === a ? b : a;
        const sample = mode ? await drill(lab, master, mode) : await linkCut(lab, master, other);
        out.get(scenario)!.push(sample);
        process.stderr.write(`failover ${setting.name} ${scenario} #${rep + 1}: ${JSON.stringify(sample)}\n`);
        // Let the restored node settle as BACKUP before the next round.
        await new Promise((r) => setTimeout(r, 1500));
      }
    }
  } finally {
    await lab.down();
  }
  return out;
}

/** Mirrored priorities: web prefers the first node, api the second; both preempt, so each returns home after its drill. */
const instancesEnv = (webPriority: number, apiPriority: number, net: string): Record<string, string> => ({
  VIPKEEPER_NODE_ROLE: '',
  VIPKEEPER_VRRP_VERSION: '3',
  VIPKEEPER_ADVERT_INT: '0.1',
  VIPKEEPER_NOPREEMPT: 'false',
  VIPKEEPER_INSTANCES: 'web,api',
  VIPKEEPER_INSTANCE_WEB_VIRTUAL_IPS: `${net}.100/24`,
  VIPKEEPER_INSTANCE_WEB_VIRTUAL_ROUTER_ID: '71',
  VIPKEEPER_INSTANCE_WEB_PRIORITY: String(webPriority),
  VIPKEEPER_INSTANCE_API_VIRTUAL_IPS: `${net}.101/24`,
  VIPKEEPER_INSTANCE_API_VIRTUAL_ROUTER_ID: '72',
  VIPKEEPER_INSTANCE_API_PRIORITY: String(apiPriority),
});

/** Two instances, active-active: a fault drill of each instance on its master (drill --instance), REPS times. */
async function measureInstances(): Promise<Map<string, Sample[]>> {
  const net = '198.19.8';
  const lab = new NetnsLab(2, 'vkfi', { net, bridge: 'vkfibr0' });
  const out = new Map<string, Sample[]>([['web', []], ['api', []]]);
  await lab.up();
  try {
    const [a, b] = lab.nodes as [LbNode, LbNode];
    lab.startAgent(a, instancesEnv(150, 100, net));
    lab.startAgent(b, instancesEnv(100, 150, net));
    await b.agent!.waitLog('api MASTER on b', (l) => l.msg === 'VRRP vipkeeper_api is now MASTER');
    await a.agent!.waitLog('web MASTER on a', (l) => l.msg === 'VRRP vipkeeper_web is now MASTER');
    for (let rep = 0; rep < REPS; rep++) {
      for (const [instance, home, vip] of [['web', a, `${net}.100`], ['api', b, `${net}.101`]] as const) {
        const r = await lab.exec(home, process.execPath, [CLI, 'drill', '--mode', 'fault', '--instance', instance, '--hold', '500ms', '--json', '--control', home.agent!.controlSocket], true);
        if (r.code !== 0) throw new Error(`drill --instance ${instance} on ${home.name} failed: ${r.stderr}${r.stdout}`);
        const rep0 = JSON.parse(r.stdout) as DrillReport;
        const sample = { movedMs: rep0.vipLeftMs!, answeredMs: rep0.answeredAgainMs!, failedProbes: rep0.failedProbes };
        out.get(instance)!.push(sample);
        process.stderr.write(`failover instance ${instance} #${rep + 1}: ${JSON.stringify(sample)}\n`);
        // The first run's whole report, as an operator reads it (it names the instance).
        if (rep === 0) process.stderr.write(`drill report, instance ${instance}: ${r.stdout.trim()}\n`);
        // Both preempt: the next run starts once the VIP is back on its home node.
        await lab.waitHeld(vip, home.name);
      }
    }
  } finally {
    await lab.down();
  }
  return out;
}

export async function failoverSection(): Promise<string> {
  await removeTestContainers();
  await runApp({ name: 'vkb-failover-app', labels: { role: 'apps' }, publish: ['80'] });
  const results: Map<string, Sample[]>[] = [];
  let perInstance: Map<string, Sample[]>;
  try {
    for (const s of SETTINGS) results.push(await measureSetting(s));
    perInstance = await measureInstances();
  } finally {
    await removeTestContainers();
  }
  const lines = [
    `Failover in the namespace lab (two nodes, nopreempt), ${REPS} runs per cell, medians; probes every 20 ms through the VIP.`,
    '',
    `| scenario | metric | ${SETTINGS[0]!.name} | ${SETTINGS[1]!.name} | ratio |`,
    '| --- | --- | ---: | ---: | ---: |',
  ];
  for (const scenario of results[0]!.keys()) {
    for (const [metric, pick] of [
      ['VIP moved (ms)', (x: Sample) => x.movedMs],
      ['answering again (ms)', (x: Sample) => x.answeredMs],
      ['failed probes', (x: Sample) => x.failedProbes],
    ] as const) {
      const v = results.map((r) => median(r.get(scenario)!.map(pick)));
      const ratio = v[0] === 0 ? (v[1] === 0 ? '1.00' : 'inf') : (v[1]! / v[0]!).toFixed(2);
      lines.push(`| ${scenario} | ${metric} | ${v[0]!.toFixed(0)} | ${v[1]!.toFixed(0)} | ${ratio} |`);
    }
  }
  lines.push(
    '',
    `ratio = ${SETTINGS[1]!.name} / ${SETTINGS[0]!.name}. VIP moved: for the drills, when the VIP left the master (the drill's own figure);`,
    'for a cut link, when the other node held it (the cut master cannot be watched from outside). Answering again: the first good',
    'probe through the VIP after that. In the lab keepalived runs outside the initial network namespace, so haproxy is tracked by the',
    'listener check alone (1 s interval, 2 falls); on a real host track_process sees a dead haproxy at once.',
    '',
    `Per VRRP instance, active-active (two instances, mirrored priorities, v3, advert_int 0.1): \`drill --instance NAME --mode fault\` on the`,
    `instance's master moves that instance alone; ${REPS} runs each, medians.`,
    '',
    '| instance | VIP moved (ms) | answering again (ms) | failed probes |',
    '| --- | ---: | ---: | ---: |',
    ...[...perInstance.entries()].map(([name, xs]) =>
      `| ${name} | ${median(xs.map((x) => x.movedMs)).toFixed(0)} | ${median(xs.map((x) => x.answeredMs)).toFixed(0)} | ${median(xs.map((x) => x.failedProbes)).toFixed(0)} |`),
  );
  return lines.join('\n');
}
