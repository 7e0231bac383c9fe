import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentUnderTest, TEST_FRONTEND_PORT, get } from '../test/lab/support/agent.js';
import { REPO } from '../test/lab/support/cli.js';
import { docker, removeTestContainers, runApp, sh, waitFor } from '../test/lab/support/lab.js';
import { frontendCounts, listenersOn, sharedAddresses } from './frontend-owners.js';
import { classify, type KillMark, LogReceiver, templatesWithErrorLog } from './haproxy-log.js';

// Backend churn under load: vipkeeper vs the seeds' way (re-render and reload
// on every change), side by side in one run, several runs, medians and ratios.
// Nothing here is asserted: timings on these machines are noisy.

const EVENTS = Number(process.env.BENCH_EVENTS ?? 200);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const GRACE_MS = 1000;
/** Every Nth removal is a SIGKILL (0: none), the rest graceful stops. */
const KILL_EVERY = Number(process.env.BENCH_KILL_EVERY ?? 3);
/** Containers serving at once; 1 is a single-replica service replaced start-first (the hardest case for "no ready server"). */
const REPLICAS = Number(process.env.BENCH_REPLICAS ?? 3);
const apps = { role: 'apps' };

interface Mode {
  readonly name: string;
  /** The templates this mode renders; the bench runs a copy that also logs failed requests to it (haproxy-log.ts). */
  readonly templates: string;
  readonly make: (templatesDir: string) => AgentUnderTest;
  readonly reloads: (a: AgentUnderTest) => number;
}

const MODES: Mode[] = [
  {
    name: 'vipkeeper',
    templates: process.env.BENCH_TEMPLATES ?? join(REPO, 'templates'),
    make: (templatesDir) => new AgentUnderTest({ VIPKEEPER_LOG_LEVEL: process.env.BENCH_AGENT_LOG_LEVEL ?? 'info', VIPKEEPER_TEMPLATES_DIR: templatesDir }),
    reloads: (a) => a.passes().filter((p) => p.applied === 'reload').length,
  },
  {
    name: 'reload on every change',
    templates: join(REPO, 'bench/baseline-templates'),
    make: (templatesDir) =>
      new AgentUnderTest(
        { VIPKEEPER_LOG_LEVEL: 'info', VIPKEEPER_TEMPLATES_DIR: templatesDir },
        [process.execPath, join(REPO, '.bench-build/bench/baseline-agent.js')],
      ),
    reloads: (a) => a.logs.filter((l) => l.msg === 'reload').length,
  },
];

interface RunResult {
  readonly requests: number;
  readonly failed: number;
  /** Of `failed`: responses HAProxy logged as cut mid-response (SD) by a container this run SIGKILLed. */
  readonly killedMidResponse: number;
  /** `failed` minus those: everything a proxy could have saved. Must be 0. */
  readonly otherFailed: number;
  /** Requests HAProxy retried or redispatched and answered in full. */
  readonly saved: number;
  /** Load samples (every 100 ms) in which the backend had no server up and ready. */
  readonly noReadySamples: number;
  readonly samples: number;
  readonly reloads: number;
  readonly firstServedMs: number[];
  readonly rssMaxMb: number;
  readonly cpuSeconds: number;
  readonly events: number;
}

function procStats(pid: number): { rssKb: number; cpuTicks: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { rssKb, cpuTicks: Number(fields[11]) + Number(fields[12]) };
}

/** wrk as a steady, bounded closed-loop load (4 connections) until stopped. */
function startLoad(): { stop: () => Promise<{ requests: number; failed: number }> } {
  const wrk = spawn('wrk', ['-t1', '-c4', '-d3600s', '--timeout', '5s', `http://127.0.0.1:${TEST_FRONTEND_PORT}/`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  wrk.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<void>((r) => wrk.on('exit', () => r()));
  return {
    async stop() {
      wrk.kill('SIGINT');
      await done;
      const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
      const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
      const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      const socketErrors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
      process.stderr.write(`wrk: ${requests} requests, ${non2xx} non-2xx, socket errors: ${sock?.slice(1).join('/') ?? 'none'} (connect/read/write/timeout)\n`);
      return { requests, failed: non2xx + socketErrors };
    },
  };
}

/** ms from a container's start to the first request it answered, from its own request log. */
async function firstServed(name: string): Promise<number | null> {
  const started = Date.parse(await docker('inspect', '-f', '{{.State.StartedAt}}', name));
  const logs = (await sh('docker', ['logs', '-t', name], { allowFail: true })).stdout + (await sh('docker', ['logs', '-t', name], { allowFail: true })).stderr;
  const line = logs.split('\n').find((l) => l.includes('response:200'));
  if (!line) return null;
  return Date.parse(line.split(' ')[0]!) - started;
}

async function runOnce(mode: Mode, run: number): Promise<RunResult> {
  await removeTestContainers();
  const live: string[] = [];
  const all: string[] = [];
  let seq = 0;
  const start = async () => {
    const name = `vkb-${run}-${seq++}`;
    await runApp({ name, labels: apps, publish: ['80'], graceMs: GRACE_MS });
    live.push(name);
    all.push(name);
  };
  for (let i = 0; i < REPLICAS; i++) await start();

  // Nothing else may answer on the frontend port (HAProxy's SO_REUSEPORT would share it silently).
  const before = await listenersOn(TEST_FRONTEND_PORT);
  if (before.length > 0) throw new Error(`port ${TEST_FRONTEND_PORT} is already listened on (${before.map((l) => `${l.local} pids ${l.pids.join(',')}`).join('; ')}): another lab run? Stop it first.`);
  const logs = await LogReceiver.open();
  const agent = mode.make(templatesWithErrorLog(mode.templates, logs.port));
  agent.start();
  await waitFor('the initial backends to answer', async () => (await get().catch(() => ({ status: 0 }))).status === 200, 30_000);
  await waitFor(`all ${REPLICAS} initial backends ready`, async () => (await agent.readyServers()).length === REPLICAS, 30_000);
  const pid = agent.pid!;
  let rssMax = 0;
  const sampler = setInterval(() => {
    try {
      rssMax = Math.max(rssMax, procStats(pid).rssKb);
    } catch {
      /* exited */
    }
  }, 250);
  const cpuBefore = procStats(pid).cpuTicks;

  // How often the backend has no server up and ready while the load runs (a window where every request would fail).
  let samples = 0;
  let noReadySamples = 0;
  let sampling = true;
  const readiness = (async () => {
    while (sampling) {
      const ready = await agent.readyServers().catch(() => null);
      if (ready) {
        samples += 1;
        if (ready.length === 0) noReadySamples += 1;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();

  const load = startLoad();
  let events = 0;
  const stops: Promise<unknown>[] = [];
  const kills: KillMark[] = [];
  for (let cycle = 0; events < EVENTS; cycle++) {
    // One start, then the oldest goes: a rolling replacement. Every third removal is a SIGKILL.
    await start();
    events += 1;
    const victim = live.shift()!;
    if (KILL_EVERY > 0 && cycle % KILL_EVERY === KILL_EVERY - 1) {
      const from = Date.now();
      await docker('kill', '-s', 'KILL', victim);
      kills.push({ server: victim, from, to: Date.now() });
    } else stops.push(docker('stop', '-t', '10', victim));
    events += 1;
    if (stops.length >= 4) await stops.shift();
  }
  await Promise.all(stops);
  await new Promise((r) => setTimeout(r, 1000));
  const loadStopped = Date.now();
  const { requests, failed } = await load.stop();
  sampling = false;
  await readiness;
  // wrk's own SIGINT closes its connections mid-request: those lines are not failures it counted.
  const split = classify(logs.lines.filter((l) => l.at < loadStopped), kills);
  logs.close();
  const killedMidResponse = split.killedMidResponse.length;
  process.stderr.write(
    `haproxy: ${killedMidResponse} cut mid-response by a SIGKILLed backend, ${split.other.length} other failed lines, ${split.saved.length} saved by a retry/redispatch; ${noReadySamples}/${samples} samples with no ready server\n`,
  );
  for (const l of split.other.slice(0, 20)) process.stderr.write(`  other: +${l.at - loadStopped} ms ${l.text}\n`);
  const shared = sharedAddresses(await listenersOn(TEST_FRONTEND_PORT));
  if (shared.length > 0) process.stderr.write(`WARNING: ${TEST_FRONTEND_PORT} was shared by several sockets (${shared.join(', ')}): this run's figures include another process\n`);
  const own = await frontendCounts(agent.adminSocket).catch(() => null);
  if (own) process.stderr.write(`agent haproxy served ${own.requests} requests itself, ${own.errors5xx} with 5xx (wrk saw ${requests}, ${failed} failed)\n`);
  clearInterval(sampler);
  const cpuTicks = procStats(pid).cpuTicks - cpuBefore;
  const reloads = mode.reloads(agent);
  await agent.stop();
  if (process.env.BENCH_DUMP_LOGS) {
    const { writeFileSync } = await import('node:fs');
    const base = `${process.env.BENCH_DUMP_LOGS}-${mode.name.replace(/\W+/g, '-')}-${run}`;
    writeFileSync(`${base}.log`, agent.logs.map((l) => JSON.stringify(l)).join('\n'));
    // HAProxy's error lines and the bench's kills on one clock (ms since epoch), to line them up.
    writeFileSync(`${base}.haproxy.log`, logs.lines.map((l) => `${l.at} ${l.text}`).join('\n'));
    writeFileSync(`${base}.kills.json`, JSON.stringify(kills));
  }

  const firstServedMs = (await Promise.all(all.slice(REPLICAS).map(firstServed))).filter((x): x is number => x !== null);
  await removeTestContainers();
  return {
    requests,
    failed,
    killedMidResponse,
    otherFailed: failed - killedMidResponse,
    saved: split.saved.length,
    noReadySamples,
    samples,
    reloads,
    firstServedMs,
    rssMaxMb: rssMax / 1024,
    cpuSeconds: cpuTicks / 100,
    events,
  };
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

/** The churn section: runs, then returns its Markdown table. Expects the lab to be set up. */
export async function churnSection(): Promise<string> {
  // BENCH_MODES=vipkeeper runs one mode only (a quick look); the table needs both.
  const only = process.env.BENCH_MODES?.split(',').map((m) => m.trim());
  const modes = only ? MODES.filter((m) => only.some((o) => m.name.startsWith(o))) : MODES;
  const results = new Map<string, RunResult[]>(MODES.map((m) => [m.name, []]));
  {
    for (let run = 0; run < RUNS; run++) {
      // Alternate the order so drift on the machine hits both modes alike.
      const order = run % 2 === 0 ? modes : [...modes].reverse();
      for (const mode of order) {
        const r = await runOnce(mode, run);
        results.get(mode.name)!.push(r);
        process.stderr.write(`run ${run + 1}/${RUNS} ${mode.name}: ${JSON.stringify({ ...r, firstServedMs: undefined, served: r.firstServedMs.length })}\n`);
      }
    }
  }

  type Row = { metric: string; values: number[]; digits: number };
  const rows = (name: string): Row[] => {
    const rs = results.get(name)!;
    return [
      { metric: 'failed requests (non-2xx + socket errors)', values: rs.map((r) => r.failed), digits: 0 },
      { metric: '... cut mid-response by a SIGKILLed backend (HAProxy SD; no proxy can save these)', values: rs.map((r) => r.killedMidResponse), digits: 0 },
      { metric: '... everything else (must be 0)', values: rs.map((r) => r.otherFailed), digits: 0 },
      { metric: 'requests saved by a retry or redispatch', values: rs.map((r) => r.saved), digits: 0 },
      { metric: 'samples with no ready server (every 100 ms)', values: rs.map((r) => r.noReadySamples), digits: 0 },
      { metric: 'requests served', values: rs.map((r) => r.requests), digits: 0 },
      { metric: 'haproxy reloads', values: rs.map((r) => r.reloads), digits: 0 },
      { metric: 'start -> first served request p50 (ms)', values: rs.map((r) => median(r.firstServedMs)), digits: 0 },
      { metric: 'start -> first served request p99 (ms)', values: rs.map((r) => pct(r.firstServedMs, 99)), digits: 0 },
      { metric: 'agent peak RSS (MB)', values: rs.map((r) => r.rssMaxMb), digits: 1 },
      { metric: 'agent CPU time (s)', values: rs.map((r) => r.cpuSeconds), digits: 2 },
    ];
  };
  const [ours, base] = [rows(MODES[0]!.name), rows(MODES[1]!.name)];
  const lines = [
    `Backend churn under load: ${EVENTS} Docker events per run (starts, graceful stops, ${KILL_EVERY > 0 ? `every ${KILL_EVERY}th removal a SIGKILL` : 'no SIGKILLs'}, rolling replacement of ${REPLICAS} replica(s)), ${RUNS} runs, medians.`,
    '',
    `| metric | ${MODES[0]!.name} | ${MODES[1]!.name} | ratio |`,
    '| --- | ---: | ---: | ---: |',
  ];
  ours.forEach((row, i) => {
    const a = median(row.values);
    const b = median(base[i]!.values);
    const ratio = b === 0 ? (a === 0 ? '1.00' : 'inf') : (a / b).toFixed(2);
    lines.push(`| ${row.metric} | ${a.toFixed(row.digits)} | ${b.toFixed(row.digits)} | ${ratio} |`);
  });
  lines.push('', 'ratio = vipkeeper / baseline. Per-run values are on stderr.');
  // Per run, not a median: "everything else" must be 0 in every run, not in most.
  lines.push('', 'Failed requests per run, split by HAProxy\'s own termination state (SD on a container this run SIGKILLed = cut mid-response) and the rest:', '');
  lines.push('| mode | run | failed | cut mid-response by SIGKILL | everything else | saved by retry/redispatch | no-ready samples |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const mode of modes) {
    results.get(mode.name)!.forEach((r, i) => lines.push(`| ${mode.name} | ${i + 1} | ${r.failed} | ${r.killedMidResponse} | ${r.otherFailed} | ${r.saved} | ${r.noReadySamples}/${r.samples} |`));
  }
  return lines.join('\n');
}
