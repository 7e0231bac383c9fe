import { readdirSync, readFileSync, readlinkSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentUnderTest } from '../test/lab/support/agent.js';
import { CLI, REPO } from '../test/lab/support/cli.js';
import { setupLab, teardownLab } from '../test/lab/support/lab-setup.js';
import { median } from './churn-bench.js';
import { imageNodeFlags } from './image-flags.js';
import { startFakeEngine } from './fake-engine.js';
import { showServersState } from '../src/haproxy/runtime-api.js';

// RSS of a real `vipkeeper run` sitting idle, with haproxy and keepalived for real: at 0
// backends against the lab's dockerd (a role label no container carries), and at N backends
// (BENCH_IDLE_BACKENDS, default "0,1000") against bench/fake-engine.ts, which lists N running
// containers at loopback addresses without starting any. Each variant is a set of node flags;
// by default node as it comes and node as the image starts it (docker/Dockerfile's NODE_OPTIONS
// and the node flags of its ENTRYPOINT). Needs root and the lab (as the lab tests do):
//   node .bench-build/bench/memory-idle.js [RUNS] ["FLAGS" ...]
// e.g. `... memory-idle.js 3 "" "--max-semi-space-size=1"` compares node's defaults with one flag.
// FLAGS "IMAGE" is the image's own flags. In FLAGS, NAME=VALUE sets an environment variable (MALLOC_ARENA_MAX=2), and CLI=PATH runs
// another build's main.js (an older commit's, for a before/after). BENCH_IDLE_SNAPSHOT=FILE
// also writes a heap snapshot of the last variant's first agent, once idle (after sampling).
// Prints a Markdown table; writes the medians to .bench-build/memory-idle.json.

const RUNS = Number(process.argv[2] ?? 3);
/** Issue 12's targets, by backend count. */
const TARGET_MB: Readonly<Record<number, number>> = { 0: 64, 1000: 96 };
/** N>0: containers started one by one after the RSS samples, for the pass latency at N. */
const ADDS = Number(process.env.BENCH_IDLE_ADDS ?? 5);
const BACKENDS = (process.env.BENCH_IDLE_BACKENDS ?? '0,1000').split(',').map((x) => Number(x.trim())).filter((n) => Number.isInteger(n) && n >= 0);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => process.stderr.write(`memory-idle: ${s}\n`);

interface Variant {
  readonly name: string;
  readonly args: readonly string[];
  readonly nodeOptions: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly cli?: string;
}

/** "--flag NAME=VALUE CLI=PATH": node flags, environment, and which main.js. */
function parseVariant(spec: string): Variant {
  if (spec.trim() === 'IMAGE') return imageVariant();
  const words = spec.split(/\s+/).filter(Boolean);
  const env = Object.fromEntries(words.filter((w) => !w.startsWith('-') && w.includes('=') && !w.startsWith('CLI=')).map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]));
  const cli = words.find((w) => w.startsWith('CLI='))?.slice(4);
  return { name: spec || 'node (no flags)', args: words.filter((w) => w.startsWith('-')), nodeOptions: '', env, ...(cli ? { cli } : {}) };
}

interface Sample {
  /** Servers in HAProxy once idle (show servers state), to show the agent kept them all. */
  readonly servers: number;
  /** N>0: durationMs of the passes that each added one container, median of ADDS (after the RSS samples). */
  readonly addPassMs: number;
  /** smaps: the node binary's resident pages, other files', V8's 256 KB heap pages, malloc's main arena, other anonymous. */
  readonly nodeBinary: number;
  readonly otherFiles: number;
  readonly v8Pages: number;
  readonly mallocMain: number;
  readonly otherAnon: number;
  readonly rss: number;
  readonly anon: number;
  readonly file: number;
  readonly threads: number;
  readonly firstPassMs: number;
}

const MB = 1024;
type ProcSample = Omit<Sample, 'firstPassMs' | 'servers' | 'addPassMs'>;
function procStatus(pid: number): ProcSample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  return { rss: field('VmRSS') / MB, anon: field('RssAnon') / MB, file: field('RssFile') / MB, threads: field('Threads'), ...smapsSplit(pid) };
}

/**
 * Where the resident pages are, from /proc/PID/smaps: the node binary's own pages (code,
 * V8's snapshot, ICU data), other files (libc, libstdc++), V8's heap (its regular pages
 * are 256 KB anonymous mappings), malloc's main arena ([heap]), and the other anonymous
 * memory (threads' malloc arenas and stacks, V8's large objects).
 */
function smapsSplit(pid: number): Pick<Sample, 'nodeBinary' | 'otherFiles' | 'v8Pages' | 'mallocMain' | 'otherAnon'> {
  const out = { nodeBinary: 0, otherFiles: 0, v8Pages: 0, mallocMain: 0, otherAnon: 0 };
  let into: keyof typeof out = 'otherAnon';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const map = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (map) {
      const name = map[3]!;
      const kb = (parseInt(map[2]!, 16) - parseInt(map[1]!, 16)) / 1024;
      into = name.startsWith('/') ? (/\/node$/.test(name) ? 'nodeBinary' : 'otherFiles') : name === '[heap]' ? 'mallocMain' : name === '' && kb === 256 ? 'v8Pages' : 'otherAnon';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) out[into] += Number(rss[1]) / MB;
  }
  return out;
}

/** Waits until the agent logged no pass for `quietMs` (bounded). */
async function settle(agent: AgentUnderTest, quietMs = 2000, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let count = agent.passes().length;
  while (Date.now() < deadline) {
    await sleep(quietMs);
    const now = agent.passes().length;
    if (now === count) return;
    count = now;
  }
}

/** SIGUSR2 makes node write Heap.<date>.<pid>...heapsnapshot in its cwd; moved to `to`. */
async function writeSnapshot(agent: AgentUnderTest, to: string): Promise<void> {
  const pid = agent.pid!;
  const cwd = readlinkSync(`/proc/${pid}/cwd`);
  const mine = () => readdirSync(cwd).filter((f) => f.endsWith('.heapsnapshot') && f.includes(`.${pid}.`));
  const before = new Set(mine());
  process.kill(pid, 'SIGUSR2');
  const deadline = Date.now() + 30_000;
  let last = -1;
  while (Date.now() < deadline) {
    await sleep(500);
    const file = mine().find((f) => !before.has(f));
    if (!file) continue;
    const size = statSync(join(cwd, file)).size;
    if (size > 0 && size === last) {
      renameSync(join(cwd, file), to);
      log(`heap snapshot of agent ${pid}: ${to}`);
      return;
    }
    last = size;
  }
  log(`agent ${pid} wrote no heap snapshot within 30 s`);
}

async function once(v: Variant, backends: number, snapshot: string | null): Promise<Sample> {
  const engine = backends > 0 ? await startFakeEngine(backends, { role: 'apps' }) : null;
  const env: Record<string, string> = {
    VIPKEEPER_LOG_LEVEL: 'info',
    // 0 backends: no container carries this role, whatever else runs on the engine.
    ...(engine ? { VIPKEEPER_DOCKER_HOST: engine.endpoint } : { VIPKEEPER_BACKEND_ROLE: 'vipkeeper-memory-bench-none' }),
    ...(v.nodeOptions ? { NODE_OPTIONS: v.nodeOptions } : {}),
    ...v.env,
  };
  const signal = snapshot ? ['--heapsnapshot-signal=SIGUSR2'] : [];
  const agent = new AgentUnderTest(env, [process.execPath, ...v.args, ...signal, v.cli ?? CLI, 'run']);
  agent.start();
  try {
    const first = await agent.waitLog('the first pass', (l) => l.msg === 'pass', 60_000);
    if (first.error) throw new Error(`the first pass failed: ${String(first.error)}`);
    await settle(agent);
    const samples: ProcSample[] = [];
    for (let i = 0; i < 5; i++) {
      samples.push(procStatus(agent.pid!));
      await sleep(200);
    }
    const med = (k: keyof ProcSample) => median(samples.map((s) => s[k]));
    const servers = (await showServersState(agent.adminSocket)).length;
    if (snapshot) await writeSnapshot(agent, snapshot);
    // Pass latency at this size: one container started at a time, each pass that adds it.
    const addPasses: number[] = [];
    for (let i = 0; engine && i < ADDS; i++) {
      const name = engine.startContainer();
      const pass = await agent.waitLog(`the pass adding ${name}`, (l) => l.msg === 'pass' && Array.isArray(l.added) && (l.added as string[]).some((a) => a.endsWith(`/${name}`)), 30_000);
      addPasses.push(Number(pass.durationMs));
      await sleep(200);
    }
    const split = { nodeBinary: med('nodeBinary'), otherFiles: med('otherFiles'), v8Pages: med('v8Pages'), mallocMain: med('mallocMain'), otherAnon: med('otherAnon') };
    return { servers, ...split, rss: med('rss'), anon: med('anon'), file: med('file'), threads: med('threads'), firstPassMs: Number(first.durationMs), addPassMs: addPasses.length > 0 ? median(addPasses) : NaN };
  } finally {
    await agent.stop();
    await engine?.close();
  }
}

function imageVariant(): Variant {
  const image = imageNodeFlags();
  return { name: `as the image: ${[...image.args, image.nodeOptions].filter(Boolean).join(' ')}`, ...image };
}
const asked = process.argv.slice(3);
const variants: Variant[] = asked.length > 0 ? asked.map(parseVariant) : [{ name: 'node (no flags)', args: [], nodeOptions: '' }, imageVariant()];

interface Row extends Sample {
  readonly variant: string;
  readonly backends: number;
}

await setupLab();
const results: Row[] = [];
try {
  // Interleaved: run k of every variant before run k+1 of any, so drift hits all alike.
  const cells = BACKENDS.flatMap((backends) => variants.map((v) => ({ v, backends, samples: [] as Sample[] })));
  const snapshot = process.env.BENCH_IDLE_SNAPSHOT || null;
  for (let k = 0; k < RUNS; k++) {
    for (const cell of cells) {
      const s = await once(cell.v, cell.backends, k === 0 && cell === cells[cells.length - 1] ? snapshot : null);
      log(`${cell.v.name} N=${cell.backends} run ${k + 1}: rss ${s.rss.toFixed(1)} MB (anon ${s.anon.toFixed(1)}, file ${s.file.toFixed(1)}), ${s.threads} threads, ${s.servers} servers, first pass ${s.firstPassMs} ms, pass adding one ${s.addPassMs} ms`);
      cell.samples.push(s);
    }
  }
  for (const { v, backends, samples } of cells) {
    const med = (k: keyof Sample) => median(samples.map((s) => s[k]));
    const split = { nodeBinary: med('nodeBinary'), otherFiles: med('otherFiles'), v8Pages: med('v8Pages'), mallocMain: med('mallocMain'), otherAnon: med('otherAnon') };
    results.push({ variant: v.name, backends, ...split, servers: med('servers'), rss: med('rss'), anon: med('anon'), file: med('file'), threads: med('threads'), firstPassMs: med('firstPassMs'), addPassMs: med('addPassMs') });
  }
} finally {
  await teardownLab();
}

process.stdout.write(`\`vipkeeper run\` idle, node ${process.version}, median of ${RUNS} agents per row (RSS = anonymous + file-backed); N=0 on the lab's dockerd, N>0 on bench/fake-engine.ts\n\n`);
process.stdout.write('| node flags | N | servers | RSS MB | target MB | anon MB | file MB | threads | first pass ms | pass adding one ms |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n');
for (const r of results) {
  const target = TARGET_MB[r.backends];
  process.stdout.write(`| ${r.variant} | ${r.backends} | ${r.servers} | ${r.rss.toFixed(1)} | ${target === undefined ? '' : `${target} ${r.rss <= target ? 'ok' : 'OVER'}`} | ${r.anon.toFixed(1)} | ${r.file.toFixed(1)} | ${r.threads} | ${r.firstPassMs} | ${Number.isNaN(r.addPassMs) ? '' : r.addPassMs} |\n`);
}
process.stdout.write('\nWhere the resident MB are (/proc/PID/smaps, same medians):\n\n| node flags | N | node binary | other files | V8 heap pages | malloc main arena | other anon |\n|---|---:|---:|---:|---:|---:|---:|\n');
for (const r of results) {
  process.stdout.write(`| ${r.variant} | ${r.backends} | ${[r.nodeBinary, r.otherFiles, r.v8Pages, r.mallocMain, r.otherAnon].map((x) => x.toFixed(1)).join(' | ')} |\n`);
}
writeFileSync(join(REPO, '.bench-build', 'memory-idle.json'), JSON.stringify({ node: process.version, runs: RUNS, targetMb: TARGET_MB, results }, null, 2));
