import { randomBytes } from 'node:crypto';
import { link as fsLink, mkdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigRejectedError, ConfigWriteError, ToolMissingError } from '../errors.js';
import { writeFileAtomic } from './atomic-write.js';

// The live config files at the top of the config directory, with beside each
// `NAME.bak` (the previous live file) and `NAME.last-good` (the last one that
// was applied and ran). Nothing reaches the live name without passing `check`,
// and a file that went live but did not load is put back with `restore`.
//
// NAME.bak and NAME.last-good are hard links to a file that was live, not copies:
// a live file is only ever replaced (written whole under a temporary name, synced,
// renamed), never changed in place, so a link keeps exactly the bytes that were
// live, already on disk, without writing and syncing them again (two fsyncs of a
// 100 KB file per pass at 1000 backends, 2-20 ms on the lab's disk). Where links
// are refused (a filesystem without them) they are copied as before.

export type ConfigName = 'haproxy.cfg' | 'keepalived.conf';

/** What the appliers need of the config directory; a fake in unit tests. */
export interface ConfigFiles {
  path(name: ConfigName): string;
  read(name: ConfigName): Promise<string | null>;
  install(name: ConfigName, content: string, check: (tempPath: string) => Promise<void>): Promise<boolean>;
  markGood(name: ConfigName): Promise<void>;
  restore(name: ConfigName, content: string): Promise<void>;
}

/** Makes `newPath` a second name of `existing` (fs.link); a test hands in one that fails. */
export type LinkFile = (existing: string, newPath: string) => Promise<void>;

export class ConfigStore implements ConfigFiles {
  constructor(
    readonly dir: string,
    private readonly link: LinkFile = fsLink,
  ) {}

  path(name: ConfigName): string {
    return join(this.dir, name);
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o755 });
  }

  async read(name: ConfigName): Promise<string | null> {
    try {
      return await readFile(this.path(name), 'utf8');
    } catch {
      return null;
    }
  }

  /**
   * Validates `content` as a temporary file, keeps the current live file as
   * NAME.bak, then swaps the new one in atomically. Throws (live file
   * untouched) when `check` refuses it, or ConfigWriteError when the directory
   * cannot be written. Returns false when it was already live.
   */
  async install(name: ConfigName, content: string, check: (tempPath: string) => Promise<void>): Promise<boolean> {
    const current = await this.read(name);
    if (current === content) return false;
    await this.#write(name, content, async (temp) => {
      await check(temp);
      if (current !== null) await this.#keep(name, `${name}.bak`, current);
    });
    return true;
  }

  /** Puts `content` (a file that ran before) back under the live name, unchecked. */
  async restore(name: ConfigName, content: string): Promise<void> {
    await this.#write(name, content);
  }

  /** Records the live file as the last one that was applied and ran. */
  async markGood(name: ConfigName): Promise<void> {
    try {
      await this.#linkAs(name, `${name}.last-good`);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // no live file: nothing ran
    }
    const live = await this.read(name);
    if (live === null) return;
    await this.#write(`${name}.last-good`, live);
  }

  /** `copy` becomes what `name` is now: a link, or (links refused) a written copy of `content`. */
  async #keep(name: string, copy: string, content: string): Promise<void> {
    try {
      await this.#linkAs(name, copy);
    } catch {
      await writeFileAtomic(this.dir, copy, content);
    }
  }

  /** Links `name` to a temporary name, then renames that over `as`: readers see the old file or the new one. */
  async #linkAs(name: string, as: string): Promise<void> {
    const temp = join(this.dir, `.${as}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    await this.link(join(this.dir, name), temp);
    try {
      await rename(temp, join(this.dir, as));
    } catch (err) {
      await unlink(temp).catch(() => undefined);
      throw err;
    }
    // rename(2) of a link onto another name of the same file does nothing and succeeds
    // (markGood twice on an unchanged live file, as after an agent restart): the temporary
    // name would stay. After a real rename it is gone already.
    await unlink(temp).catch(() => undefined);
  }

  async #write(name: string, content: string, check?: (temp: string) => Promise<void>): Promise<void> {
    try {
      await writeFileAtomic(this.dir, name, content, check);
    } catch (err) {
      if (err instanceof ConfigRejectedError || err instanceof ToolMissingError) throw err;
      throw new ConfigWriteError(join(this.dir, name), err);
    }
  }
}
