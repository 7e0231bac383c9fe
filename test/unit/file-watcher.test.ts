import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { watchFiles, type FileWatch } from '../../src/files/file-watcher.js';
import { silentLog } from './support/fakes.js';

// chokidar is loaded only when there is a file to follow (issue 12): both ways must still work.

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('watchFiles', () => {
  const dirs: string[] = [];
  const watches: FileWatch[] = [];
  afterEach(async () => {
    for (const w of watches.splice(0)) await w.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('with nothing to follow, returns a watch that closes', async () => {
    const w = await watchFiles({ paths: [], onChange: () => undefined, log: silentLog() });
    await expect(w.close()).resolves.toBeUndefined();
  });

  it('reports a change of a followed file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vipkeeper-watch-'));
    dirs.push(dir);
    const file = join(dir, 'vrrp.pass');
    writeFileSync(file, 'one');
    const changed: string[] = [];
    watches.push(await watchFiles({ paths: [file], onChange: (p) => changed.push(p), log: silentLog(), stabilityMs: 20 }));
    writeFileSync(file, 'two');
    await until('the change to be reported', () => changed.includes(file));
  });
});
