import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO } from '../test/lab/support/cli.js';

// What each import costs in resident memory: every row is a fresh node that
// imports one module, collects garbage and reports its RSS; median of RUNS.
// Run after `npm run build` (the dist/ rows import the built agent):
//   npm run bench:memory        or   node .bench-build/bench/memory-imports.js [RUNS]
// Bare names resolve from the repository root, like the agent's own imports.
// Reading it: +RSS does not add up across rows (each row also pays for the module
// loaders and node internals the others share), and RSS varies by about 3 MB from
// one process to the next (malloc), so compare medians; heapUsed is exact.

const RUNS = Number(process.argv[2] ?? 5);

const dist = (p: string): string => pathToFileURL(join(REPO, 'dist', p)).href;

const ROWS: readonly (readonly [label: string, specifier: string | null])[] = [
  ['nothing (bare node)', null],
  ['pino', 'pino'],
  ['zod', 'zod'],
  ['zod/mini', 'zod/mini'],
  ['commander', 'commander'],
  ['dockerode', 'dockerode'],
  ['  docker-modem', 'docker-modem'],
  ['  @grpc/grpc-js', '@grpc/grpc-js'],
  ['  @grpc/proto-loader', '@grpc/proto-loader'],
  ['  ssh2', 'ssh2'],
  ['  tar-fs', 'tar-fs'],
  ['chokidar', 'chokidar'],
  ['ejs', 'ejs'],
  ['systeminformation', 'systeminformation'],
  ['  its network module alone (what the agent loads)', 'systeminformation/lib/network.js'],
  ['dist/docker/docker-engine.js', dist('docker/docker-engine.js')],
  ['dist/config/env.js', dist('config/env.js')],
  ['dist/pipeline.js', dist('pipeline.js')],
  ['dist/host/read-host-facts.js', dist('host/read-host-facts.js')],
  ['dist/agent/agent.js', dist('agent/agent.js')],
  ['dist/cli/run-command.js', dist('cli/run-command.js')],
];

// The child: import, let anything scheduled at load run, collect twice, report.
const CHILD = `
const spec = process.argv[1];
if (spec) await import(spec);
await new Promise((r) => setTimeout(r, 100));
globalThis.gc(); globalThis.gc();
const m = process.memoryUsage();
const names = Object.keys((await import('node:module')).createRequire(process.cwd() + '/').cache);
process.stdout.write(JSON.stringify({ rss: m.rss, heapUsed: m.heapUsed, cjs: names.length }));
`;

interface Sample {
  readonly rss: number;
  readonly heapUsed: number;
  readonly cjs: number;
}

function sample(specifier: string | null): Sample {
  const args = ['--expose-gc', '--input-type=module', '-e', CHILD];
  if (specifier !== null) args.push(specifier);
  const out = execFileSync(process.execPath, args, { cwd: REPO, encoding: 'utf8' });
  return JSON.parse(out) as Sample;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};
const mb = (b: number): string => (b / 2 ** 20).toFixed(1);

if (!existsSync(join(REPO, 'dist/main.js'))) {
  process.stderr.write('dist/ is missing: run `npm run build` first\n');
  process.exit(1);
}

process.stdout.write(`node ${process.version}, median of ${RUNS} fresh processes, after gc\n\n`);
process.stdout.write('| import | RSS MB | +RSS MB | heapUsed MB | CJS modules |\n|---|---:|---:|---:|---:|\n');
let bare = 0;
for (const [label, specifier] of ROWS) {
  const samples = Array.from({ length: RUNS }, () => sample(specifier));
  const rss = median(samples.map((s) => s.rss));
  if (specifier === null) bare = rss;
  const heap = median(samples.map((s) => s.heapUsed));
  const cjs = median(samples.map((s) => s.cjs));
  process.stdout.write(`| ${label} | ${mb(rss)} | ${specifier === null ? '' : mb(rss - bare)} | ${mb(heap)} | ${cjs} |\n`);
}
