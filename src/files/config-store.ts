import { copyFile, mkdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-write.js';

// The live config files at the top of the config directory, with beside each
// `NAME.bak` (the previous live file) and `NAME.last-good` (the last one that
// was applied and ran). Nothing reaches the live name without passing `check`.

export type ConfigName = 'haproxy.cfg' | 'keepalived.conf';

export class ConfigStore {
  constructor(readonly dir: string) {}

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
   * untouched) when `check` refuses it. Returns false when it was already live.
   */
  async install(name: ConfigName, content: string, check: (tempPath: string) => Promise<void>): Promise<boolean> {
    const current = await this.read(name);
    if (current === content) return false;
    await writeFileAtomic(this.dir, name, content, async (temp) => {
      await check(temp);
      if (current !== null) await copyFile(this.path(name), join(this.dir, `${name}.bak`));
    });
    return true;
  }

  /** Records the live file as the last one that was applied and ran. */
  async markGood(name: ConfigName): Promise<void> {
    const temp = join(this.dir, `.${name}.last-good.tmp`);
    await copyFile(this.path(name), temp);
    await rename(temp, join(this.dir, `${name}.last-good`));
  }
}
