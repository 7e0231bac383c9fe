import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../files/atomic-write.js';
import { EMPTY_OPERATOR_STATE, OPERATOR_STATE_FILE, type OperatorState, parseOperatorState, serializeOperatorState } from './operator-state.js';

// operator-state.json in the config directory: read once at start, written
// atomically (temporary file, fsync, rename) on every change, so a crash leaves
// the old state or the new one. A file that cannot be parsed is kept beside it
// (operator-state.json.corrupt-<time>) and the agent starts with no overrides.

export interface OperatorFile {
  readonly path: string;
  load(): Promise<{ state: OperatorState; problem: string | null }>;
  save(state: OperatorState): Promise<void>;
}

export class OperatorStore implements OperatorFile {
  readonly path: string;

  constructor(
    readonly dir: string,
    private readonly now: () => number = Date.now,
  ) {
    this.path = join(dir, OPERATOR_STATE_FILE);
  }

  async load(): Promise<{ state: OperatorState; problem: string | null }> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: EMPTY_OPERATOR_STATE, problem: null };
      return { state: EMPTY_OPERATOR_STATE, problem: `cannot read ${this.path}: ${(err as Error).message}; started with no operator overrides` };
    }
    const parsed = parseOperatorState(text);
    if (parsed.ok) return { state: parsed.state, problem: null };
    const copy = `${this.path}.corrupt-${new Date(this.now()).toISOString().replace(/[:.]/g, '-')}`;
    const kept = await copyFile(this.path, copy).then(
      () => `kept as ${copy}`,
      (err: Error) => `could not keep a copy (${err.message})`,
    );
    return { state: EMPTY_OPERATOR_STATE, problem: `${this.path} is corrupt (${parsed.problem}); ${kept}; started with no operator overrides and no maintenance` };
  }

  async save(state: OperatorState): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await writeFileAtomic(this.dir, OPERATOR_STATE_FILE, serializeOperatorState(state));
  }
}
