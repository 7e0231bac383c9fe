import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { STAGES, type Stage } from '../src/agent/pass-timer.js';
import { runtimeCommand, type ServerStateRow } from '../src/haproxy/runtime-api.js';
import { AgentUnderTest } from '../test/lab/support/agent.js';
import { CLI, REPO } from '../test/lab/support/cli.js';
import { TEST_IFACE, TEST_LABEL, TEST_VIP, docker, httpGet, removeTestContainers, runApp, sh } from '../test/lab/support/lab.js';
import { median } from './churn-bench.js';

// Scale: how the agent copes with N backends (issue 12). Two agents side by side in one run:
// "before", the agent as it landed at BEFORE_REF (built here from that commit), and "after",
// the current build. Real busybox httpd containers on a user-defined bridge network, reached
// on their own addresses (vipkeeper.network, no published ports, no docker-proxy). The N
// containers are made once per N (grown from the previous N) and serve both agents.
// Nothing here is asserted: timings on these machines are noisy. One Linux bridge takes at most
// 1024 ports, so N + BENCH_SCALE_CHANGES stays below about 1020.

const NS = [...new Set((process.env.BENCH_SCALE_NS ?? '10,100,300,1000').split(',').map((s) => Number(s.trim())))]
  .filter((n) => Number.isInteger(n) && n > 0)
  .sort((a, b) => a - b);
/** Containers started (then killed) one by one per N and agent. */
const CHANGES = Number(process.env.BENCH_SCALE_CHANGES ?? 10);
/** `docker run -d` at once while making the N containers. */
const PARALLEL = Number(process.env.BENCH_SCALE_PARALLEL ?? 12);
const BEFORE_REF = process.env.BENCH_SCALE_BEFORE ?? '029d874';
const NETWORK = 'vkt-scale';
const STATUS_URL = { host: '127.0.0.1', port: 9321, path: '/status' };
/** Outside .bench-build, which scripts/bench.sh empties on every run; .lab/ is ignored by git. */
const BEFORE_DIR = join(REPO, '.lab', 'bench-before');

const APP_LABELS = { role: 'apps', 'vipkeeper.network': NETWORK };

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const max = (xs: number[]) => (xs.length === 0 ? NaN : Math.max(...xs));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => process.stderr.write(`scale: ${s}\n`);

/** Builds the agent of BEFORE_REF once (git archive + tsc, the repository's node_modules); returns its main.js. */
async function buildBefore(): Promise<string> {
  const commit = (await sh('git', ['-C', REPO, 'rev-parse', `${BEFORE_REF}^{commit}`])).stdout.trim();
  const main = join(BEFORE_DIR, 'dist', 'main.js');
  const stamp = join(BEFORE_DIR, '.commit');
  if (existsSync(main) && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === commit) return main;
  log(`building the "before" agent from ${commit} in ${BEFORE_DIR}`);
  rmSync(BEFORE_DIR, { recursive: true, force: true });
  mkdirSync(BEFORE_DIR, { recursive: true });
  await sh('sh', ['-c', 'git -C "$1" archive "$2" | tar -x -C "$3"', 'sh', REPO, commit, BEFORE_DIR]);
  symlinkSync(join(REPO, 'node_modules'), join(BEFORE_DIR, 'node_modules'));
  await sh(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(BEFORE_DIR, 'tsconfig.json')]);
  if (!existsSync(main)) throw new Error(`building ${commit} made no ${main}`);
  writeFileSync(stamp, commit);
  return main;
}

interface Mode {
  readonly name: 'before' | 'after';
  /** Its built main.js. */
  readonly main: string;
}

/** One pass's stages and its event -> Runtime API time, from the agent's debug 'pass breakdown' line (after only). */
interface Breakdown {
  readonly stages: Record<Stage, number>;
  readonly durationMs: number;
  readonly toApiMs: number;
  /** Docker's StartedAt of the container the pass added -> the Runtime API's answer (log time less the rest of the pass). */
  readonly startToApiMs: number;
  /** When the apply step's moments happened, since the pass began (file installed, runtime-api, reloaded). */
  readonly marksMs: Record<string, number>;
  readonly waitedMs: number;
}

/** What one agent showed at one N; NaN where a step failed or does not apply. */
interface Result {
  readyAllMs: number;
  firstLogMs: number;
  startPresentMs: number[];
  startReadyMs: number[];
  killDrainedMs: number[];
  passStartMs: number[];
  passKillMs: number[];
  breakdownStart: Breakdown[];
  breakdownKill: Breakdown[];
  /** `vipkeeper render` wall time, median of RENDER_RUNS; and the host's interfaces meanwhile. */
  renderMs: number;
  interfaces: number;
  /** N=0 only: the same with EXTRA_INTERFACES more veths on the host and no container. */
  renderManyIfacesMs: number;
  manyInterfaces: number;
  /** Passes that changed something after the agent settled: one per change, ideally. */
  passes: number;
  reloads: number;
  rssMb: number;
  statusMs: number;
  error?: string;
}

const emptyResult = (): Result => ({
  readyAllMs: NaN,
  firstLogMs: NaN,
  startPresentMs: [],
  startReadyMs: [],
  killDrainedMs: [],
  passStartMs: [],
  passKillMs: [],
  breakdownStart: [],
  breakdownKill: [],
  renderMs: NaN,
  interfaces: NaN,
  renderManyIfacesMs: NaN,
  manyInterfaces: NaN,
  passes: 0,
  reloads: 0,
  rssMb: NaN,
  statusMs: NaN,
});

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
}

async function idleRss(pid: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    samples.push(rssMb(pid));
    await sleep(200);
  }
  return median(samples);
}

const logTime = (t: unknown): number => (typeof t === 'number' ? t : typeof t === 'string' ? Date.parse(t) : NaN);

/** Waits until the agent logged no pass for `quietMs` (bounded). */
async function settle(agent: AgentUnderTest, quietMs = 2000, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let count = agent.passes().length;
  while (Date.now() < deadline) {
    await sleep(quietMs);
    const now = agent.passes().length;
    if (now === count) return;
    count = now;
  }
  log(`the agent did not settle within ${timeoutMs} ms; going on`);
}

/**
 * Polls `show servers state` every `everyMs` until `onRows` says done; `at` is when the answer
 * arrived. A failed poll (a reload in progress) is skipped.
 */
async function pollRows(agent: AgentUnderTest, what: string, onRows: (rows: ServerStateRow[], at: number) => boolean, timeoutMs = 30_000, everyMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const rows = await agent.servers();
      if (onRows(rows, Date.now())) return;
    } catch {
      /* the admin socket is busy or reloading */
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

const isReady = (r: ServerStateRow) => r.opState === 2 && r.adminState === 0;

/**
 * Polls `get weight be_apps/NAME` every `everyMs` until HAProxy knows the server; returns when
 * the answer arrived. One line per poll: `show servers state` is ~110 KB at N=1000, and polling
 * it every 10 ms while the container starts took CPU from the agent it measures.
 */
async function pollPresent(agent: AgentUnderTest, name: string, timeoutMs = 30_000, everyMs = 10): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await runtimeCommand(agent.adminSocket, `get weight be_apps/${name}`, 2000).catch(() => '');
    if (/^\d+ \(initial \d+\)/.test(answer)) return Date.now();
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${name} in HAProxy`);
    await sleep(everyMs);
  }
}

async function statusLatency(): Promise<number> {
  await httpGet(STATUS_URL).catch(() => undefined);
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    await httpGet(STATUS_URL);
    times.push(performance.now() - t);
  }
  return median(times);
}

/** Runs `fn` over `items`, `parallel` at a time. */
async function pool<T>(items: readonly T[], parallel: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(parallel, items.length) }, worker));
}

async function startApps(names: readonly string[]): Promise<void> {
  const t = Date.now();
  await pool(names, PARALLEL, (name) => runApp({ name, labels: APP_LABELS, network: NETWORK }));
  if (names.length > 0) log(`started ${names.length} containers in ${((Date.now() - t) / 1000).toFixed(1)} s`);
}

/** SIGTERM, and SIGKILL if the agent is not gone within 30 s (its haproxy may then outlive it). */
async function stopBounded(agent: AgentUnderTest, mode: Mode, n: number): Promise<void> {
  const stopped = agent.stop().then(() => true);
  if (await Promise.race([stopped, sleep(30_000).then(() => false)])) return;
  log(`${mode.name} N=${n}: the agent did not stop within 30 s of SIGTERM; SIGKILL`);
  await agent.stop('SIGKILL');
}

/** One agent at one N: start-up, idle RSS, /status, then CHANGES starts and CHANGES kills one by one. */
async function measure(mode: Mode, n: number, base: readonly string[]): Promise<Result> {
  const r = emptyResult();
  // Debug for both agents alike: the pass breakdown is a debug line.
  const agent = new AgentUnderTest({ VIPKEEPER_LOG_LEVEL: process.env.BENCH_AGENT_LOG_LEVEL ?? 'debug' }, [process.execPath, mode.main, 'run']);
  const extra: string[] = [];
  const spawnedAt = Date.now();
  agent.start();
  try {
    const want = new Set(base);
    if (n > 0) {
      await pollRows(agent, `all ${n} servers ready (${mode.name})`, (rows, at) => {
        let ready = 0;
        for (const row of rows) if (want.has(row.server) && isReady(row)) ready++;
        if (ready < want.size) return false;
        r.readyAllMs = at - spawnedAt;
        return true;
      }, 60_000 + 200 * n, 50);
    } else {
      await agent.waitLog('the first pass', (l) => l.msg === 'pass', 60_000);
    }
    r.firstLogMs = agent.logs.length > 0 ? logTime(agent.logs[0]!.time) - spawnedAt : NaN;
    await settle(agent);
    r.rssMb = await idleRss(agent.pid!);
    if (n === 0) return r;
    r.statusMs = await statusLatency();

    const passesBefore = agent.passes().length;
    const startedAt = new Map<string, number>();
    for (let i = 0; i < CHANGES; i++) {
      const name = `vks-${mode.name}-${n}-${i}`;
      let ready = NaN;
      const seen = pollPresent(agent, name);
      seen.catch(() => undefined); // awaited below; never an unhandled rejection meanwhile
      let present: number;
      try {
        await runApp({ name, labels: APP_LABELS, network: NETWORK });
        extra.push(name);
      } finally {
        present = await seen;
      }
      await pollRows(agent, `${name} ready`, (rows, at) => {
        const row = rows.find((x) => x.server === name);
        if (!row || !isReady(row)) return false;
        ready = at;
        return true;
      });
      const started = Date.parse(await docker('inspect', '-f', '{{.State.StartedAt}}', name));
      startedAt.set(`be_apps/${name}`, started);
      r.startPresentMs.push(present - started);
      r.startReadyMs.push(ready - started);
      await sleep(300);
    }
    for (const name of extra) {
      let drainedAt = NaN;
      const drained = pollRows(agent, `${name} drained`, (rows, at) => {
        const row = rows.find((x) => x.server === name);
        if (row && row.adminState === 0) return false;
        drainedAt = at;
        return true;
      });
      drained.catch(() => undefined);
      try {
        await docker('kill', name);
      } finally {
        await drained;
      }
      const diedAt = Date.parse(await docker('inspect', '-f', '{{.State.FinishedAt}}', name));
      r.killDrainedMs.push(drainedAt - diedAt);
      await sleep(300);
    }
    await settle(agent, 1000, 30_000);
    const changes = agent.passes().slice(passesBefore).filter((p) => p.applied !== 'none');
    const durations = (key: 'added' | 'removed') => changes.filter((p) => Array.isArray(p[key]) && (p[key] as unknown[]).length > 0).map((p) => Number(p.durationMs));
    r.passStartMs = durations('added');
    r.passKillMs = durations('removed');
    const breakdowns = new Map(agent.logs.filter((l) => l.msg === 'pass breakdown').map((l) => [l.pass, l]));
    const breakdown = (key: 'added' | 'removed'): Breakdown[] =>
      changes.flatMap((p) => {
        const b = breakdowns.get(p.pass);
        if (!b || !Array.isArray(p[key]) || (p[key] as unknown[]).length === 0) return [];
        const stages = b.stagesMs as Record<Stage, number>;
        const apiMark = (b.marksMs as Record<string, number> | undefined)?.['runtime-api'];
        const apiAt = apiMark === undefined ? NaN : logTime(b.time) - (Number(b.durationMs) - apiMark);
        const added = (p.added as string[]).length === 1 ? startedAt.get((p.added as string[])[0]!) : undefined;
        return [{
          stages,
          durationMs: Number(b.durationMs),
          toApiMs: b.triggerToRuntimeApiMs === null ? NaN : Number(b.triggerToRuntimeApiMs),
          startToApiMs: added === undefined ? NaN : apiAt - added,
          marksMs: (b.marksMs as Record<string, number> | undefined) ?? {},
          waitedMs: Number(b.waitedMs),
        }];
      });
    r.breakdownStart = breakdown('added');
    r.breakdownKill = breakdown('removed');
    r.passes = changes.length;
    r.reloads = changes.filter((p) => p.applied === 'reload').length;
  } catch (err) {
    r.error = err instanceof Error ? err.message : String(err);
    log(`${mode.name} N=${n} failed: ${r.error}; agent log: ${agent.saveLog()}`);
  } finally {
    await stopBounded(agent, mode, n);
    if (extra.length > 0) await sh('docker', ['rm', '-f', ...extra], { allowFail: true });
  }
  return r;
}

const RENDER_RUNS = 3;

/**
 * `vipkeeper render` of `mode` over the containers there are: wall time of the whole command (node
 * start-up, host facts, Docker, both checks), median of RENDER_RUNS (one run when it takes over 10 s).
 */
async function measureRender(mode: Mode): Promise<{ ms: number; interfaces: number }> {
  const interfaces = readdirSync('/sys/class/net').length;
  const env = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    VIPKEEPER_VIRTUAL_IPS: TEST_VIP,
    VIPKEEPER_INTERFACE: TEST_IFACE,
    VIPKEEPER_NODE_ROLE: '',
    VIPKEEPER_LOG_LEVEL: 'warn',
  };
  const times: number[] = [];
  for (let i = 0; i < RENDER_RUNS && !(times[0]! > 10_000); i++) {
    const out = mkdtempSync(join(tmpdir(), 'vipkeeper-bench-render-'));
    const t = performance.now();
    const run = await sh(process.execPath, [mode.main, 'render', '--out', out], { allowFail: true, env });
    const ms = performance.now() - t;
    rmSync(out, { recursive: true, force: true });
    if (run.code !== 0) {
      log(`${mode.name}: vipkeeper render failed (${run.code}): ${run.stderr.trim().split('\n').at(-1)}`);
      return { ms: NaN, interfaces };
    }
    times.push(ms);
  }
  return { ms: median(times), interfaces };
}

/** Host interfaces added for the render measure without containers (veth pairs: this kernel has no dummy driver). */
const EXTRA_INTERFACES = 1000;

/** Runs `fn` with EXTRA_INTERFACES more veths on the host (made with one `ip -batch`), removed afterwards. */
async function withManyInterfaces<T>(fn: () => Promise<T>): Promise<T> {
  const pairs = Array.from({ length: EXTRA_INTERFACES / 2 }, (_, i) => `vkr${i}`);
  const batch = join(mkdtempSync(join(tmpdir(), 'vipkeeper-bench-ifaces-')), 'batch');
  writeFileSync(batch, pairs.map((p) => `link add ${p} type veth peer name ${p}p`).join('\n') + '\n');
  try {
    await sh('ip', ['-force', '-batch', batch], { allowFail: true });
    return await fn();
  } finally {
    writeFileSync(batch, pairs.map((p) => `link del ${p}`).join('\n') + '\n');
    await sh('ip', ['-force', '-batch', batch], { allowFail: true });
    rmSync(batch, { force: true });
  }
}

const NEIGH = ['gc_thresh1', 'gc_thresh2', 'gc_thresh3'].map((k) => `/proc/sys/net/ipv4/neigh/default/${k}`);

/**
 * HAProxy checks every backend address from the host, one neighbour entry each; the kernel's
 * default table (gc_thresh3 = 1024) overflows near 1000 backends and fails connects for both
 * agents alike. Raised for the run when needed; returns how to put the old values back.
 */
function roomyNeighbourTable(addresses: number): () => void {
  const old = NEIGH.map((f) => readFileSync(f, 'utf8').trim());
  const want = [Math.max(addresses, 128), 2 * addresses + 512, 4 * addresses + 1024];
  if (addresses + 256 <= Number(old[2]) && addresses + 128 <= Number(old[1])) return () => undefined;
  NEIGH.forEach((f, i) => writeFileSync(f, String(Math.max(Number(old[i]), want[i]!))));
  log(`neighbour table gc_thresh1/2/3 ${old.join('/')} -> ${NEIGH.map((f) => readFileSync(f, 'utf8').trim()).join('/')} for the run`);
  return () => {
    NEIGH.forEach((f, i) => writeFileSync(f, old[i]!));
    log(`neighbour table gc_thresh1/2/3 back to ${old.join('/')}`);
  };
}

/** Removes the network, retrying while Docker still releases the endpoints of removed containers. */
async function removeNetwork(): Promise<boolean> {
  let last = '';
  for (let i = 0; i < 20; i++) {
    if ((await sh('docker', ['network', 'inspect', NETWORK], { allowFail: true })).code !== 0) return true;
    const r = await sh('docker', ['network', 'rm', NETWORK], { allowFail: true });
    if (r.code === 0) return true;
    last = r.stderr.trim();
    await sleep(500);
  }
  log(`could not remove network ${NETWORK}: ${last}`);
  return false;
}

/** A fresh network; one left behind by an earlier run is reused if it cannot go. */
async function createNetwork(): Promise<void> {
  if (!(await removeNetwork())) {
    log(`reusing network ${NETWORK}`);
    return;
  }
  await docker('network', 'create', '--label', `${TEST_LABEL}=1`, NETWORK);
}

type Row = { metric: string; digits: number; value: (r: Result) => number; zero?: boolean; onlyZero?: boolean };

const ROWS: Row[] = [
  { metric: 'agent start -> all N servers ready (ms)', digits: 0, value: (r) => r.readyAllMs },
  { metric: '... of which before the first log line (ms)', digits: 0, value: (r) => r.firstLogMs },
  { metric: `container start -> server in HAProxy p50 (ms, ${CHANGES} starts)`, digits: 0, value: (r) => median(r.startPresentMs) },
  { metric: 'container start -> server in HAProxy p99 (ms)', digits: 0, value: (r) => pct(r.startPresentMs, 99) },
  { metric: 'container start -> server ready p50 (ms)', digits: 0, value: (r) => median(r.startReadyMs) },
  { metric: 'container start -> server ready p99 (ms)', digits: 0, value: (r) => pct(r.startReadyMs, 99) },
  { metric: `container killed -> server drained or gone p50 (ms, ${CHANGES} kills)`, digits: 0, value: (r) => median(r.killDrainedMs) },
  { metric: 'container killed -> server drained or gone p99 (ms)', digits: 0, value: (r) => pct(r.killDrainedMs, 99) },
  { metric: 'pass adding one server p50 (ms, its durationMs)', digits: 0, value: (r) => median(r.passStartMs) },
  { metric: 'pass adding one server max (ms)', digits: 0, value: (r) => max(r.passStartMs) },
  { metric: 'pass removing one server p50 (ms)', digits: 0, value: (r) => median(r.passKillMs) },
  { metric: 'pass removing one server max (ms)', digits: 0, value: (r) => max(r.passKillMs) },
  { metric: 'event -> Runtime API answer, adding one server p50 (ms, from the pass record)', digits: 0, value: (r) => median(r.breakdownStart.map((b) => b.toApiMs).filter(Number.isFinite)) },
  { metric: 'event -> Runtime API answer, adding one server p99 (ms)', digits: 0, value: (r) => pct(r.breakdownStart.map((b) => b.toApiMs).filter(Number.isFinite), 99) },
  { metric: 'container start -> Runtime API answer p50 (ms, Docker\'s StartedAt to the pass\'s answer)', digits: 0, value: (r) => median(r.breakdownStart.map((b) => b.startToApiMs).filter(Number.isFinite)) },
  { metric: 'container start -> Runtime API answer p99 (ms)', digits: 0, value: (r) => pct(r.breakdownStart.map((b) => b.startToApiMs).filter(Number.isFinite), 99) },
  { metric: `passes applied for the ${2 * CHANGES} changes`, digits: 0, value: (r) => (r.passes > 0 ? r.passes : NaN) },
  { metric: '... of which haproxy reloads', digits: 0, value: (r) => (r.passes > 0 ? r.reloads : NaN) },
  { metric: 'agent RSS idle (MB)', digits: 1, value: (r) => r.rssMb, zero: true },
  { metric: '/status latency, median of 20 (ms)', digits: 1, value: (r) => r.statusMs },
  { metric: `\`vipkeeper render\` wall time, median of ${RENDER_RUNS} (ms)`, digits: 0, value: (r) => r.renderMs, zero: true },
  { metric: '... with this many host network interfaces', digits: 0, value: (r) => r.interfaces, zero: true },
  { metric: `\`vipkeeper render\` with ${EXTRA_INTERFACES} more veths on the host, no container (ms)`, digits: 0, value: (r) => r.renderManyIfacesMs, zero: true, onlyZero: true },
  { metric: '... with this many host network interfaces', digits: 0, value: (r) => r.manyInterfaces, zero: true, onlyZero: true },
];

/** The "after" agent's pass breakdown per N: p50 / p99 of each stage over the passes of each kind. */
function breakdownTable(results: Map<number, Record<Mode['name'], Result>>): string {
  const cell = (xs: number[]) => (xs.length === 0 ? '–' : `${pct(xs, 50).toFixed(1)} / ${pct(xs, 99).toFixed(1)}`);
  const lines = [
    `| N | pass | passes | ${STAGES.join(' | ')} | durationMs |`,
    `| ---: | --- | ---: | ${STAGES.map(() => '---:').join(' | ')} | ---: |`,
  ];
  for (const [n, byMode] of results) {
    if (n === 0) continue;
    for (const [what, bs] of [['adding one server', byMode.after.breakdownStart], ['removing one server', byMode.after.breakdownKill]] as const) {
      lines.push(`| ${n} | ${what} | ${bs.length} | ${STAGES.map((s) => cell(bs.map((b) => b.stages[s]))).join(' | ')} | ${cell(bs.map((b) => b.durationMs))} |`);
    }
  }
  return lines.join('\n');
}

function table(results: Map<number, Record<Mode['name'], Result>>): string {
  const fmt = (v: number, d: number) => (Number.isFinite(v) ? v.toFixed(d) : '–');
  const lines = ['| metric | N | before | after | after/before |', '| --- | ---: | ---: | ---: | ---: |'];
  for (const row of ROWS) {
    for (const [n, byMode] of results) {
      if ((n === 0 && !row.zero) || (n !== 0 && row.onlyZero)) continue;
      const b = row.value(byMode.before);
      const a = row.value(byMode.after);
      const ratio = !Number.isFinite(a) || !Number.isFinite(b) ? '–' : b === 0 ? (a === 0 ? '1.00' : 'inf') : (a / b).toFixed(2);
      lines.push(`| ${row.metric} | ${n} | ${fmt(b, row.digits)} | ${fmt(a, row.digits)} | ${ratio} |`);
    }
  }
  return lines.join('\n');
}

/** The scale section: runs, then returns its Markdown table. Expects the lab to be set up. */
export async function scaleSection(): Promise<string> {
  const modes: Mode[] = [
    { name: 'before', main: await buildBefore() },
    { name: 'after', main: CLI },
  ];
  const results = new Map<number, Record<Mode['name'], Result>>();
  const t0 = Date.now();
  await removeTestContainers();
  await createNetwork();
  const restoreNeighbours = roomyNeighbourTable((NS.at(-1) ?? 0) + CHANGES);
  try {
    const base: string[] = [];
    for (const [k, n] of [0, ...NS].entries()) {
      const tn = Date.now();
      const add = Array.from({ length: n - base.length }, (_, i) => `vks-${base.length + i}`);
      await startApps(add);
      base.push(...add);
      // Alternate the order so drift on the machine hits both agents alike.
      const order = k % 2 === 0 ? modes : [...modes].reverse();
      const byMode = {} as Record<Mode['name'], Result>;
      for (const mode of order) {
        const r = await measure(mode, n, base);
        ({ ms: r.renderMs, interfaces: r.interfaces } = await measureRender(mode));
        if (n === 0) ({ ms: r.renderManyIfacesMs, interfaces: r.manyInterfaces } = await withManyInterfaces(() => measureRender(mode)));
        byMode[mode.name] = r;
        log(`N=${n} ${mode.name}: ${JSON.stringify(r)}`);
      }
      results.set(n, byMode);
      log(`N=${n} took ${((Date.now() - tn) / 1000).toFixed(1)} s`);
    }
  } finally {
    const tr = Date.now();
    await removeTestContainers().catch(() => undefined);
    await removeNetwork();
    restoreNeighbours();
    log(`removed the containers in ${((Date.now() - tr) / 1000).toFixed(1)} s; whole section ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  return [
    `Scale: N backends (busybox httpd containers on a bridge network, reached on their addresses), "before" = the agent at ${BEFORE_REF}, "after" = this build, one run each.`,
    `Changes: ${CHANGES} containers started one by one after the agent settled, then killed one by one; times from Docker's StartedAt / FinishedAt to the first 10 ms poll that shows it (\`get weight\` for a new server, then \`show servers state\` for ready and drained). N=0 is an agent with no containers, for its RSS.`,
    '',
    table(results),
    '',
    'Per-run values are on stderr; – is a step that failed or does not apply. The event -> Runtime API rows are the pass record\'s triggerToRuntimeApiMs: from the agent\'s receipt of the first event of the pass (its debounce included) to HAProxy\'s answer to the pass\'s Runtime API batch.',
    '',
    `Where the "after" agent's passes spent their time (ms, p50 / p99 over the ${CHANGES} passes of each kind; from its debug 'pass breakdown' lines):`,
    '',
    breakdownTable(results),
  ].join('\n');
}
