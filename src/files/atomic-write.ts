import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Writes `content` to `dir/name` so that readers see the old file or the new
 * one, never half of either: a temporary file in the same directory, fsync,
 * then rename. `check` runs on the temporary file first; if it throws, the
 * temporary file is removed and the live file is untouched. Whatever fails
 * (a full disk while writing, a refused check, a rename), no temporary file
 * is left behind.
 */
export async function writeFileAtomic(
  dir: string,
  name: string,
  content: string,
  check?: (tempPath: string) => Promise<void>,
): Promise<string> {
  const target = join(dir, name);
  const temp = join(dir, `.${name}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', 0o600);
  try {
    try {
      await handle.writeFile(content, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (check) await check(temp);
    await rename(temp, target);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  return target;
}
