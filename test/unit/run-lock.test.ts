import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { RunDirLockedError, VipkeeperError } from '../../src/errors.js';
import { acquireRunLock, type RunLock } from '../../src/files/run-lock.js';

// The run-dir lock against real processes: a live node process holding the
// lock keeps a second agent out; a dead or foreign holder is taken over.

const root = mkdtempSync(join(tmpdir(), 'vipkeeper-run-lock-'));
const children: ChildProcess[] = [];
const held: RunLock[] = [];

afterEach(async () => {
  for (const lock of held.splice(0)) await lock.release();
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
const runDir = () => join(root, `run-${++n}`);
const lockFile = (dir: string) => join(dir, 'vipkeeper.lock');

async function acquire(dir: string): Promise<RunLock> {
  const lock = await acquireRunLock(dir);
  held.push(lock);
  return lock;
}

/** A live process of the given command line; resolves once it runs. */
async function live(command: string, args: string[]): Promise<number> {
  const child = spawn(command, args, { stdio: 'ignore' });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  return child.pid!;
}

/** The pid of a process that has exited (and been reaped). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

async function lockedError(dir: string): Promise<RunDirLockedError> {
  const err: unknown = await acquireRunLock(dir).then(
    (lock) => {
      held.push(lock);
      return null;
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RunDirLockedError);
  return err as RunDirLockedError;
}

describe('acquireRunLock: a free run dir', () => {
  it('creates the run dir and vipkeeper.lock holding our pid; release removes it', async () => {
    const dir = runDir();
    const lock = await acquire(dir);
    expect(readFileSync(lockFile(dir), 'utf8')).toBe(`${process.pid}\n`);
    await lock.release();
    expect(existsSync(lockFile(dir))).toBe(false);
    await lock.release(); // twice is harmless
    // Only the lock file was ever there: no temporary file is left behind.
    expect(readdirSync(dir)).toEqual([]);
  });

  it('can be taken again after release', async () => {
    const dir = runDir();
    await (await acquireRunLock(dir)).release();
    await acquire(dir);
    expect(readFileSync(lockFile(dir), 'utf8')).toBe(`${process.pid}\n`);
  });
});

describe('acquireRunLock: a live agent holds the run dir', () => {
  it('a live node process named in the lock keeps a second agent out: RunDirLockedError naming the run dir and the pid', async () => {
    const dir = runDir();
    mkdirSync(dir);
    const pid = await live(process.execPath, ['-e', 'setTimeout(() => {}, 1e5)']);
    writeFileSync(lockFile(dir), `${pid}\n`);
    const err = await lockedError(dir);
    expect(err).toBeInstanceOf(VipkeeperError);
    expect(err.code).toBe('E_RUN_DIR_LOCKED');
    expect(err.runDir).toBe(dir);
    expect(err.pid).toBe(pid);
    expect(err.message).toContain(dir);
    expect(err.message).toContain(`pid ${pid}`);
    // The holder's lock is left as it was.
    expect(readFileSync(lockFile(dir), 'utf8')).toBe(`${pid}\n`);
  });

  it('a second lock in the same process while the first is held is refused', async () => {
    const dir = runDir();
    await acquire(dir);
    const err = await lockedError(dir);
    expect(err.pid).toBe(process.pid);
  });

  it('two agents racing for a stale lock: exactly one gets it', async () => {
    const dir = runDir();
    mkdirSync(dir);
    writeFileSync(lockFile(dir), `${await deadPid()}\n`);
    const results = await Promise.allSettled([acquireRunLock(dir), acquireRunLock(dir), acquireRunLock(dir)]);
    const won = results.filter((r) => r.status === 'fulfilled');
    for (const r of won) held.push(r.value);
    expect(won).toHaveLength(1);
    for (const r of results.filter((r) => r.status === 'rejected')) expect(r.reason).toBeInstanceOf(RunDirLockedError);
    expect(readFileSync(lockFile(dir), 'utf8')).toBe(`${process.pid}\n`);
  });
});

describe('acquireRunLock: a stale lock is taken over', () => {
  it.each<[string, () => Promise<string>]>([
    ['the pid is dead', async () => `${await deadPid()}\n`],
    ['the pid is alive but not node or vipkeeper (reused by another program)', async () => `${await live('sleep', ['100'])}\n`],
    ['the pid is our own, left by an earlier run (a restarted container reuses pids)', async () => `${process.pid}\n`],
    ['the file is empty', async () => ''],
    ['the file holds no pid', async () => 'not a pid\n'],
    ['the pid is 0', async () => '0\n'],
    ['the pid is out of range', async () => '99999999999\n'],
  ])('%s', async (_what, content) => {
    const dir = runDir();
    mkdirSync(dir);
    writeFileSync(lockFile(dir), await content());
    await acquire(dir);
    expect(readFileSync(lockFile(dir), 'utf8')).toBe(`${process.pid}\n`);
    expect(readdirSync(dir)).toEqual(['vipkeeper.lock']);
  });
});

describe('acquireRunLock: the breaker lock that guards a takeover', () => {
  it('a breaker left by an agent that died while taking over does not block', async () => {
    const dir = runDir();
    mkdirSync(dir);
    writeFileSync(lockFile(dir), `${await deadPid()}\n`);
    writeFileSync(`${lockFile(dir)}.break`, `${await deadPid()}\n`);
    await acquire(dir);
    expect(readFileSync(lockFile(dir), 'utf8')).toBe(`${process.pid}\n`);
    expect(readdirSync(dir)).toEqual(['vipkeeper.lock']);
  });

  it('while a live agent breaks a stale lock, the others wait for it instead of removing locks themselves', async () => {
    const dir = runDir();
    mkdirSync(dir);
    writeFileSync(lockFile(dir), `${await deadPid()}\n`);
    const breaker = await live(process.execPath, ['-e', 'setTimeout(() => {}, 1e5)']);
    writeFileSync(`${lockFile(dir)}.break`, `${breaker}\n`);
    const pending = acquireRunLock(dir);
    await new Promise((r) => setTimeout(r, 100));
    // Still waiting: the stale lock is the breaker's to remove.
    expect(readFileSync(lockFile(dir), 'utf8')).not.toBe(`${process.pid}\n`);
    // The breaker takes the lock over and finishes.
    writeFileSync(lockFile(dir), `${breaker}\n`);
    rmSync(`${lockFile(dir)}.break`);
    const err: unknown = await pending.then((l) => held.push(l), (e: unknown) => e);
    expect(err).toBeInstanceOf(RunDirLockedError);
    expect((err as RunDirLockedError).pid).toBe(breaker);
  });
});

describe('RunLock.release', () => {
  it('never removes a lock another agent holds now', async () => {
    const dir = runDir();
    const lock = await acquireRunLock(dir);
    const pid = await live(process.execPath, ['-e', 'setTimeout(() => {}, 1e5)']);
    writeFileSync(lockFile(dir), `${pid}\n`);
    await lock.release();
    expect(readFileSync(lockFile(dir), 'utf8')).toBe(`${pid}\n`);
  });

  it('a lock file already gone is fine', async () => {
    const dir = runDir();
    const lock = await acquireRunLock(dir);
    rmSync(lockFile(dir));
    await expect(lock.release()).resolves.toBeUndefined();
  });
});
