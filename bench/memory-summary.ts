import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../test/lab/support/cli.js';

// The last step of `npm run bench:memory`: issue 12's three targets next to what the steps
// before it measured (.bench-build/memory-idle.json, .bench-build/memory-passes.json).

interface IdleRow {
  readonly variant: string;
  readonly backends: number;
  readonly servers: number;
  readonly rss: number;
  readonly anon: number;
  readonly file: number;
}
interface Idle {
  readonly runs: number;
  readonly results: readonly IdleRow[];
}
interface Passes {
  readonly flags: string;
  readonly passes: number;
  readonly backends: number;
  readonly flatMb: number;
  readonly rssGrowth: number;
  readonly heapGrowth: number;
  readonly flat: boolean;
  readonly rssMax: number;
  readonly cpuMsPerPass: number;
}

const read = <T>(name: string): T | null => {
  const file = join(REPO, '.bench-build', name);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T) : null;
};
const idle = read<Idle>('memory-idle.json');
const passes = read<Passes>('memory-passes.json');

const rows: string[] = [];
for (const [backends, target] of [[0, 64], [1000, 96]] as const) {
  // The image's row when there is one (memory-idle's default variants), else the last variant.
  const mine = idle?.results.filter((r) => r.backends === backends) ?? [];
  const r = mine.find((x) => x.variant.startsWith('as the image')) ?? mine[mine.length - 1];
  const where = backends === 0 ? "the lab's dockerd, no labelled container" : 'bench/fake-engine.ts';
  rows.push(
    r
      ? `| RSS idle, ${backends} backends (${r.variant}; ${where}; ${r.servers} servers in HAProxy) | ${r.rss.toFixed(1)} MB (anon ${r.anon.toFixed(1)}, file ${r.file.toFixed(1)}) | under ${target} MB | ${r.rss < target ? 'met' : 'NOT met'} |`
      : `| RSS idle, ${backends} backends | not measured (memory-idle needs root and the lab) | under ${target} MB | ? |`,
  );
}
rows.push(
  passes
    ? `| flatness over ${passes.passes} passes, ${passes.backends} backends (pure core; ${passes.flags || 'no flags'}) | RSS +${passes.rssGrowth.toFixed(1)} MB, heapUsed +${passes.heapGrowth.toFixed(1)} MB (RSS at most ${passes.rssMax.toFixed(1)} MB, ${passes.cpuMsPerPass.toFixed(1)} CPU ms per pass) | within ${passes.flatMb} MB | ${passes.flat ? 'met' : 'NOT met'} |`
    : '| flatness over 10,000 passes | not measured | within 5 MB | ? |',
);
process.stdout.write(`\n## Issue 12's targets\n\n| what | measured | target | |\n|---|---|---|---|\n${rows.join('\n')}\n`);
