import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigRejectedError, type VipkeeperError } from '../../src/errors.js';
import { writeFileAtomic } from '../../src/files/atomic-write.js';
import { ConfigStore } from '../../src/files/config-store.js';

// Nothing reaches a live config name unchecked or half-written, and whatever
// fails leaves no temporary file behind.

const accept = async () => undefined;
const refuse = async () => {
  throw new ConfigRejectedError('haproxy.cfg', 'haproxy', 1, '[ALERT] parsing [haproxy.cfg:3]: unknown keyword');
};
const tempFiles = async (dir: string) => (await readdir(dir)).filter((f) => f.endsWith('.tmp'));
/** A filesystem without hard links. */
const noLinks = async () => {
  throw Object.assign(new Error('EPERM: operation not permitted, link'), { code: 'EPERM' });
};

/** Rejects with whatever `p` rejects with, or fails the test when it resolves. */
async function rejection(p: Promise<unknown>): Promise<VipkeeperError> {
  try {
    await p;
  } catch (err) {
    return err as VipkeeperError;
  }
  throw new Error('expected a rejection, but it resolved');
}

describe('on an ordinary directory', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vipkeeper-atomic-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('writeFileAtomic', () => {
    it('a refused check leaves the live file untouched and no temporary file', async () => {
      await writeFile(join(dir, 'haproxy.cfg'), 'old\n');
      const err = await rejection(writeFileAtomic(dir, 'haproxy.cfg', 'new\n', refuse));
      expect(err).toBeInstanceOf(ConfigRejectedError);
      expect(await readFile(join(dir, 'haproxy.cfg'), 'utf8')).toBe('old\n');
      expect(await readdir(dir)).toEqual(['haproxy.cfg']);
    });

    it('checks the new content under a temporary name in the same directory, then puts it live', async () => {
      await writeFile(join(dir, 'haproxy.cfg'), 'old\n');
      const seen: { path: string; content: string; live: string }[] = [];
      const target = await writeFileAtomic(dir, 'haproxy.cfg', 'new\n', async (temp) => {
        seen.push({ path: temp, content: await readFile(temp, 'utf8'), live: await readFile(join(dir, 'haproxy.cfg'), 'utf8') });
      });
      expect(target).toBe(join(dir, 'haproxy.cfg'));
      expect(seen).toHaveLength(1);
      expect(seen[0]!.path.startsWith(`${dir}/`)).toBe(true);
      expect(seen[0]!.path.endsWith('.tmp')).toBe(true);
      expect(seen[0]!.content).toBe('new\n');
      expect(seen[0]!.live).toBe('old\n'); // not live while being checked
      expect(await readFile(target, 'utf8')).toBe('new\n');
      expect(await tempFiles(dir)).toEqual([]);
    });

    it('rejects when the directory does not exist, leaving nothing', async () => {
      await expect(writeFileAtomic(join(dir, 'missing'), 'haproxy.cfg', 'x')).rejects.toMatchObject({ code: 'ENOENT' });
      expect(await readdir(dir)).toEqual([]);
    });
  });

  describe('ConfigStore', () => {
    it('install keeps the previous live file as NAME.bak', async () => {
      const store = new ConfigStore(dir);
      await store.init();
      expect(await store.install('haproxy.cfg', 'one\n', accept)).toBe(true);
      expect(await readdir(dir)).toEqual(['haproxy.cfg']); // nothing to keep the first time
      expect(await store.install('haproxy.cfg', 'two\n', accept)).toBe(true);
      expect(await store.read('haproxy.cfg')).toBe('two\n');
      expect(await readFile(join(dir, 'haproxy.cfg.bak'), 'utf8')).toBe('one\n');
      expect(await tempFiles(dir)).toEqual([]);
    });

    it('install returns false for content already live, and neither checks nor writes', async () => {
      const store = new ConfigStore(dir);
      await store.install('haproxy.cfg', 'one\n', accept);
      await store.install('haproxy.cfg', 'two\n', accept);
      let checked = 0;
      expect(
        await store.install('haproxy.cfg', 'two\n', async () => {
          checked += 1;
        }),
      ).toBe(false);
      expect(checked).toBe(0);
      expect(await readFile(join(dir, 'haproxy.cfg.bak'), 'utf8')).toBe('one\n');
    });

    it('a refused install throws the refusal itself and changes neither the live file nor NAME.bak', async () => {
      const store = new ConfigStore(dir);
      await store.install('haproxy.cfg', 'one\n', accept);
      await store.install('haproxy.cfg', 'two\n', accept);
      const err = await rejection(store.install('haproxy.cfg', 'three\n', refuse));
      expect(err).toBeInstanceOf(ConfigRejectedError);
      expect(err.code).toBe('E_CONFIG_REJECTED');
      expect(await store.read('haproxy.cfg')).toBe('two\n');
      expect(await readFile(join(dir, 'haproxy.cfg.bak'), 'utf8')).toBe('one\n');
      expect(await tempFiles(dir)).toEqual([]);
    });

    it('restore() puts content back under the live name, unchecked', async () => {
      const store = new ConfigStore(dir);
      await store.install('keepalived.conf', 'bad\n', accept);
      await store.restore('keepalived.conf', 'good\n');
      expect(await store.read('keepalived.conf')).toBe('good\n');
      expect(await tempFiles(dir)).toEqual([]);
    });

    it('markGood() twice on an unchanged live file leaves no temporary name (rename onto the same file does nothing)', async () => {
      const store = new ConfigStore(dir);
      await store.install('haproxy.cfg', 'ran fine\n', accept);
      await store.markGood('haproxy.cfg');
      await store.markGood('haproxy.cfg'); // an agent restarted on the same file
      expect(await readFile(join(dir, 'haproxy.cfg.last-good'), 'utf8')).toBe('ran fine\n');
      expect(await tempFiles(dir)).toEqual([]);
    });

    it('markGood() copies the live file to NAME.last-good', async () => {
      const store = new ConfigStore(dir);
      await store.install('haproxy.cfg', 'ran fine\n', accept);
      await store.markGood('haproxy.cfg');
      expect(await readFile(join(dir, 'haproxy.cfg.last-good'), 'utf8')).toBe('ran fine\n');
      await store.install('haproxy.cfg', 'not yet known\n', accept);
      expect(await readFile(join(dir, 'haproxy.cfg.last-good'), 'utf8')).toBe('ran fine\n');
    });

    it('NAME.bak and NAME.last-good are the very file that was live (a link: its bytes are not written and synced again)', async () => {
      const store = new ConfigStore(dir);
      await store.install('haproxy.cfg', 'one\n', accept);
      const first = (await stat(join(dir, 'haproxy.cfg'))).ino;
      await store.markGood('haproxy.cfg');
      expect((await stat(join(dir, 'haproxy.cfg.last-good'))).ino).toBe(first);
      await store.install('haproxy.cfg', 'two\n', accept);
      expect((await stat(join(dir, 'haproxy.cfg.bak'))).ino).toBe(first);
      expect(await readFile(join(dir, 'haproxy.cfg.bak'), 'utf8')).toBe('one\n');
      expect(await readFile(join(dir, 'haproxy.cfg.last-good'), 'utf8')).toBe('one\n');
      expect(await store.read('haproxy.cfg')).toBe('two\n');
      // A restore replaces the live file too, never the linked one in place.
      await store.restore('haproxy.cfg', 'one again\n');
      expect(await readFile(join(dir, 'haproxy.cfg.bak'), 'utf8')).toBe('one\n');
      expect(await tempFiles(dir)).toEqual([]);
    });

    it('where links are refused, NAME.bak and NAME.last-good are copies', async () => {
      const store = new ConfigStore(dir, noLinks);
      await store.install('haproxy.cfg', 'one\n', accept);
      await store.markGood('haproxy.cfg');
      await store.install('haproxy.cfg', 'two\n', accept);
      expect(await readFile(join(dir, 'haproxy.cfg.bak'), 'utf8')).toBe('one\n');
      expect(await readFile(join(dir, 'haproxy.cfg.last-good'), 'utf8')).toBe('one\n');
      expect((await stat(join(dir, 'haproxy.cfg.bak'))).ino).not.toBe((await stat(join(dir, 'haproxy.cfg.last-good'))).ino);
      expect(await tempFiles(dir)).toEqual([]);
    });

    it('markGood() without a live file writes nothing', async () => {
      const store = new ConfigStore(dir);
      await store.markGood('haproxy.cfg');
      expect(await readdir(dir)).toEqual([]);
    });

    it('read() of a missing file is null', async () => {
      expect(await new ConfigStore(dir).read('keepalived.conf')).toBeNull();
    });
  });
});

// A full disk and a read-only mount, for real: a tiny tmpfs. Needs root (and
// the right to mount, which a container may not have).
function canMount(): boolean {
  if (process.getuid?.() !== 0) return false;
  let probe: string | null = null;
  try {
    probe = execFileSync('mktemp', ['-d', join(tmpdir(), 'vipkeeper-mount-probe-XXXXXX')], { encoding: 'utf8' }).trim();
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    if (probe) execFileSync('rmdir', [probe], { stdio: 'ignore' });
  }
}

const KiB = 1024;
const text = (bytes: number) => 'x'.repeat(bytes - 1) + '\n';

describe.skipIf(!canMount())('on a 64 KiB tmpfs', () => {
  let parent: string;
  let dir: string;
  beforeEach(async () => {
    parent = await mkdtemp(join(tmpdir(), 'vipkeeper-tmpfs-'));
    dir = join(parent, 'config');
    await mkdir(dir);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0755', 'tmpfs', dir]);
  });
  afterEach(async () => {
    try {
      execFileSync('umount', [dir]);
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });

  it('a full disk: install rejects with E_CONFIG_WRITE, the live file is untouched, no temporary file remains', async () => {
    const store = new ConfigStore(dir);
    await store.install('haproxy.cfg', 'small\n', accept);
    const err = await rejection(store.install('haproxy.cfg', text(100 * KiB), accept));
    expect(err.code).toBe('E_CONFIG_WRITE');
    expect(err.message).toContain(join(dir, 'haproxy.cfg'));
    expect(err.message).toMatch(/ENOSPC/);
    expect(await store.read('haproxy.cfg')).toBe('small\n');
    expect(await tempFiles(dir)).toEqual([]);
  });

  it('keeping NAME.bak takes no room: a new file that fits goes live even where a copy of the old one would not', async () => {
    const store = new ConfigStore(dir);
    const live = text(16 * KiB);
    await store.install('haproxy.cfg', live, accept);
    expect(await store.install('haproxy.cfg', text(40 * KiB), accept)).toBe(true);
    expect(await readFile(join(dir, 'haproxy.cfg.bak'), 'utf8')).toBe(live);
    expect(await tempFiles(dir)).toEqual([]);
  });

  it('links refused, and a disk that fills while copying NAME.bak: E_CONFIG_WRITE, live untouched, no temporary file', async () => {
    const store = new ConfigStore(dir, noLinks);
    const live = text(16 * KiB);
    await store.install('haproxy.cfg', live, accept);
    // The new file fits (16 + 40 KiB), keeping the old one as .bak (16 KiB more) does not.
    let checked = 0;
    const err = await rejection(
      store.install('haproxy.cfg', text(40 * KiB), async () => {
        checked += 1;
      }),
    );
    expect(checked).toBe(1); // the new file was written whole; keeping the .bak is what failed
    expect(err.code).toBe('E_CONFIG_WRITE');
    expect(await store.read('haproxy.cfg')).toBe(live);
    expect(await tempFiles(dir)).toEqual([]);
    // And once there is room again, it goes through.
    expect(await store.install('haproxy.cfg', 'small\n', accept)).toBe(true);
    expect(await store.read('haproxy.cfg')).toBe('small\n');
  });

  it('a read-only directory: install, restore and markGood reject with E_CONFIG_WRITE, the live file is untouched', async () => {
    const store = new ConfigStore(dir);
    await store.install('haproxy.cfg', 'live\n', accept);
    execFileSync('mount', ['-o', 'remount,ro', dir]);
    try {
      const installed = await rejection(store.install('haproxy.cfg', 'new\n', accept));
      expect(installed.code).toBe('E_CONFIG_WRITE');
      expect(installed.message).toMatch(/EROFS/);
      expect((await rejection(store.restore('haproxy.cfg', 'old\n'))).code).toBe('E_CONFIG_WRITE');
      expect((await rejection(store.markGood('haproxy.cfg'))).code).toBe('E_CONFIG_WRITE');
      expect(await store.read('haproxy.cfg')).toBe('live\n');
      expect(await readdir(dir)).toEqual(['haproxy.cfg']);
    } finally {
      execFileSync('mount', ['-o', 'remount,rw', dir]);
    }
  });
});
