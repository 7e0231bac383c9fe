import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import type { HostFacts } from '../src/config/host-facts.js';
import type { ServerStateRow } from '../src/haproxy/runtime-api.js';
import type { ContainerInfo } from '../src/model/container.js';
import { REPO } from '../test/lab/support/cli.js';

// Is the pure core flat in memory? The built agent's planConfigs (built-in
// templates) and the status snapshot (buildSnapshot, /metrics text, /status
// JSON) over BACKENDS fake containers, PASSES times; every pass one container
// is replaced by a new one, as churn would. Every EVERY passes: gc, then RSS
// and heapUsed (stderr adds V8's spaces). Run after `npm run build`:
//   node --expose-gc .bench-build/bench/memory-passes.js [PASSES] [BACKENDS]
// Prints a Markdown table, then whether RSS and heapUsed stayed within 5 MB.

const PASSES = Number(process.argv[2] ?? 10_000);
const BACKENDS = Number(process.argv[3] ?? 1000);
const EVERY = Number(process.env.MEMORY_EVERY ?? 1000);
const SERVICES = 10;
const FLAT_MB = 5;

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  process.stderr.write('run with node --expose-gc\n');
  process.exit(1);
}
if (!existsSync(join(REPO, 'dist/pipeline.js'))) {
  process.stderr.write('dist/ is missing: run `npm run build` first\n');
  process.exit(1);
}
const dist = <T>(p: string): Promise<T> => import(pathToFileURL(join(REPO, 'dist', p)).href) as Promise<T>;

const { planConfigs } = await dist<typeof import('../src/pipeline.js')>('pipeline.js');
const { loadTemplates } = await dist<typeof import('../src/render/load-templates.js')>('render/load-templates.js');
const { parseEnvironment } = await dist<typeof import('../src/config/env.js')>('config/env.js');
const { buildSnapshot } = await dist<typeof import('../src/status/snapshot-builder.js')>('status/snapshot-builder.js');
const { renderMetrics } = await dist<typeof import('../src/status/metrics.js')>('status/metrics.js');
const { backendName } = await dist<typeof import('../src/render/haproxy-view.js')>('render/haproxy-view.js');

// As test/unit/fixtures.ts: a host, and running containers published on 0.0.0.0.
const FACTS: HostFacts = {
  hostname: 'lb1.example.net',
  interfaces: [
    { name: 'lo', addresses: [{ address: '127.0.0.1', prefix: 8 }] },
    { name: 'eth0', addresses: [{ address: '192.0.2.5', prefix: 24 }] },
    { name: 'eth1', addresses: [{ address: '198.18.0.5', prefix: 24 }] },
  ],
  defaultInterface: 'eth0',
};
const idFor = (seed: string): string => createHash('sha256').update(seed).digest('hex');

function container(n: number): ContainerInfo {
  const name = `web-${n}`;
  const k = n % SERVICES;
  return {
    id: idFor(name),
    name,
    created: 1_700_000_000,
    running: true,
    startedAt: 0,
    labels: { role: 'apps', 'vipkeeper.service': `svc${k}`, 'vipkeeper.frontend.port': String(8000 + k) },
    health: 'none',
    exposedTcpPorts: [80],
    bindings: [{ privatePort: 80, protocol: 'tcp', hostIp: '0.0.0.0', hostPort: 20000 + (n % 40000) }],
    networks: [{ network: 'bridge', ip: `172.17.${(n >> 8) & 255}.${n & 255}` }],
  };
}

const { config } = parseEnvironment({ VIPKEEPER_VIRTUAL_IPS: '198.18.0.10/24' }, FACTS);
const templates = await loadTemplates(null);
const containers = Array.from({ length: BACKENDS }, (_, i) => container(i));
let next = BACKENDS;

function pass(i: number): void {
  containers[i % BACKENDS] = container(next++); // churn: one container replaced per pass
  const { state, rendered } = planConfigs(config, containers, templates);
  if (i === 0 && state.skipped.length > 0) throw new Error(`skipped: ${state.skipped[0]!.reason}`);
  if (rendered.haproxyCfg.length === 0) throw new Error('empty haproxy.cfg');
  const rows: ServerStateRow[] = state.services.flatMap((s) =>
    s.servers.map((x) => ({ backend: backendName(s.name), server: x.name, address: x.address, port: x.port, opState: 2, adminState: 0, weight: 100 })),
  );
  const snap = buildSnapshot({
    config,
    nodeRoleOk: true,
    vrrp: null,
    services: state.services,
    rows,
    lastPass: null,
    totals: { byMethod: { runtime: i }, secondsTotal: i / 100, failed: 0 },
    children: [],
    engines: [],
    drill: null,
    failing: [],
    health: { ok: true, reason: 'ok' },
  });
  if (renderMetrics(snap).length + JSON.stringify(snap).length === 0) throw new Error('empty status');
}

const mb = (b: number): number => b / 2 ** 20;
const samples: { passes: number; rss: number; heap: number; contexts: number; ms: number; cpuMs: number }[] = [];
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 250));
// V8 sweeps and gives freed pages back from background threads, and releases what
// one collection swept at the next: without a few rounds and a wait, RSS shows
// pages about to be released (tens of MB, different at every sample).
const sample = async (passes: number, ms: number, cpuMs: number): Promise<void> => {
  for (let k = 0; k < 3; k++) {
    gc!();
    await settle();
  }
  const m = process.memoryUsage();
  // Every template print makes a vm context (src/render/render-configs.ts): they must not pile up.
  const { number_of_native_contexts: contexts, number_of_detached_contexts: detached } = getHeapStatistics();
  samples.push({ passes, rss: mb(m.rss), heap: mb(m.heapUsed), contexts: contexts + detached, ms, cpuMs });
  const spaces = Object.fromEntries(getHeapSpaceStatistics().map((x) => [x.space_name, mb(x.physical_space_size).toFixed(1)]));
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (field: string) => (Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN) / 1024).toFixed(1);
  process.stderr.write(`${passes} passes: rss ${mb(m.rss).toFixed(1)} MB (anon ${kb('RssAnon')}, file ${kb('RssFile')}), heapUsed ${mb(m.heapUsed).toFixed(1)} MB, heapTotal ${mb(m.heapTotal).toFixed(1)}, external ${mb(m.external).toFixed(1)}, new ${spaces.new_space}, old ${spaces.old_space}\n`);
};

process.stdout.write(`node ${process.version}, ${BACKENDS} backends in ${SERVICES} services, ${PASSES} passes, gc before each sample\n\n`);
// Wall time per pass, and CPU time per pass (the whole process's, so V8's GC threads count
// too): on a shared machine the CPU time is the steadier of the two.
const cpuMsNow = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};
let started = performance.now();
let startedCpu = cpuMsNow();
for (let i = 0; i < PASSES; i++) {
  pass(i);
  // The first sample after one pass: templates compiled and every module warm.
  if (i === 0 || (i + 1) % EVERY === 0) {
    const n = i === 0 ? 1 : EVERY;
    const ms = (performance.now() - started) / n;
    const cpuMs = (cpuMsNow() - startedCpu) / n;
    await sample(i + 1, ms, cpuMs);
    started = performance.now();
    startedCpu = cpuMsNow();
  }
}

process.stdout.write('| passes | RSS MB | heapUsed MB | V8 contexts | ms per pass | CPU ms per pass |\n|---:|---:|---:|---:|---:|---:|\n');
for (const s of samples) process.stdout.write(`| ${s.passes} | ${s.rss.toFixed(1)} | ${s.heap.toFixed(1)} | ${s.contexts} | ${s.ms.toFixed(1)} | ${s.cpuMs.toFixed(1)} |\n`);
// Flat is judged from the first sample after EVERY passes: by then V8 has grown its young
// generation to what this allocation rate wants (the one-pass sample is before that).
const steady = samples.filter((s) => s.passes >= EVERY);
const first = steady[0] ?? samples[0]!;
const growth = (key: 'rss' | 'heap') => Math.max(...steady.map((s) => s[key])) - first[key];
const rssGrowth = growth('rss');
const heapGrowth = growth('heap');
const contextGrowth = Math.max(...steady.map((s) => s.contexts)) - first.contexts;
const flat = rssGrowth <= FLAT_MB && heapGrowth <= FLAT_MB && contextGrowth <= 0;
process.stdout.write(
  `\nlargest growth over the sample at ${first.passes} passes: RSS ${rssGrowth.toFixed(1)} MB, heapUsed ${heapGrowth.toFixed(1)} MB, V8 contexts ${contextGrowth}: ${flat ? 'flat' : 'NOT flat'} (within ${FLAT_MB} MB)\n`,
);
const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ? [`NODE_OPTIONS=${process.env.NODE_OPTIONS}`] : [])].filter((f) => f !== '--expose-gc').join(' ');
const steadyCpu = steady.map((s) => s.cpuMs).sort((a, b) => a - b);
writeFileSync(
  join(REPO, '.bench-build', 'memory-passes.json'),
  JSON.stringify({ node: process.version, flags, passes: PASSES, backends: BACKENDS, flatMb: FLAT_MB, rssGrowth, heapGrowth, contextGrowth, flat, rssMax: Math.max(...steady.map((s) => s.rss)), cpuMsPerPass: steadyCpu[Math.floor(steadyCpu.length / 2)] ?? NaN, samples }, null, 2),
);
process.exitCode = flat ? 0 : 1;
