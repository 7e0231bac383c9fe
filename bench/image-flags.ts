import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO } from '../test/lab/support/cli.js';

// How the image runs node, read from docker/Dockerfile so the memory benches measure the agent
// as it ships: the node flags of its ENTRYPOINT (those NODE_OPTIONS does not accept) and its
// NODE_OPTIONS. Run directly, prints them as one line of shell words (scripts/bench-memory.sh).

export interface ImageNode {
  /** Flags between `node` and main.js in the ENTRYPOINT. */
  readonly args: string[];
  /** The ENV NODE_OPTIONS value, '' for none. */
  readonly nodeOptions: string;
}

export function imageNodeFlags(dockerfile: string = readFileSync(join(REPO, 'docker/Dockerfile'), 'utf8')): ImageNode {
  const entry = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(dockerfile)?.[1];
  const argv = entry ? (JSON.parse(entry) as string[]) : [];
  const node = argv.findIndex((a) => a === 'node' || a.endsWith('/node'));
  const main = argv.findIndex((a, i) => i > node && !a.startsWith('-'));
  const args = node < 0 ? [] : argv.slice(node + 1, main < 0 ? undefined : main);
  const nodeOptions = /NODE_OPTIONS=("[^"]*"|\S+)/.exec(dockerfile)?.[1]?.replace(/^"|"$/g, '') ?? '';
  return { args, nodeOptions };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { args, nodeOptions } = imageNodeFlags();
  process.stdout.write(`${[...args, ...nodeOptions.split(/\s+/)].filter(Boolean).join(' ')}\n`);
}
