import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { basename, join } from 'node:path';
import { RunDirLockedError } from '../errors.js';

// One agent per run dir. A second agent on the same VIPKEEPER_RUN_DIR would take
// over the first one's notify FIFO, admin sockets and pid files, so the run dir
// carries a lock file naming its holder's pid. A lock whose pid is dead, or
// belongs to a program that is no node process (a pid reused after a restart),
// is stale and taken over.

export const RUN_LOCK_FILE = 'vipkeeper.lock';

export interface RunLock {
  /** The lock file. */
  readonly path: string;
  /** Removes the lock file if it still names us; safe to call more than once. */
  release(): Promise<void>;
}

/** Largest pid Linux hands out (PID_MAX_LIMIT on 64-bit). */
const PID_MAX = 4_194_304;
/** Enough for a stampede of agents on one stale lock; each round is a few milliseconds. */
const ATTEMPTS = 100;

/** Lock files this process holds, and acquisitions under way, per path: in one process they take turns. */
const heldHere = new Set<string>();
const queue = new Map<string, Promise<unknown>>();

export async function acquireRunLock(runDir: string): Promise<RunLock> {
  const path = join(runDir, RUN_LOCK_FILE);
  const previous = queue.get(path) ?? Promise.resolve();
  const attempt = previous.catch(() => undefined).then(() => acquire(runDir, path));
  queue.set(path, attempt);
  try {
    return await attempt;
  } finally {
    if (queue.get(path) === attempt) queue.delete(path);
  }
}

async function acquire(runDir: string, path: string): Promise<RunLock> {
  await mkdir(runDir, { recursive: true, mode: 0o700 });
  const mine = `${process.pid}\n`;
  const breaker = `${path}.break`;
  let lastHolder: number | null = null;
  for (let i = 0; i < ATTEMPTS; i++) {
    if (heldHere.has(path)) throw new RunDirLockedError(runDir, process.pid);
    if (await createExclusive(runDir, path, mine)) {
      heldHere.add(path);
      return lockAt(path, mine);
    }
    const seen = await readFile(path, 'utf8').catch(() => null);
    if (seen === null) continue; // released between our two looks: try again
    const holder = parsePid(seen);
    lastHolder = holder;
    // Our own pid, not held by this process: left by an earlier run (a restarted container reuses pids).
    if (holder !== null && holder !== process.pid && (await looksLikeAgent(holder))) {
      throw new RunDirLockedError(runDir, holder);
    }
    // Stale. Only the holder of the breaker lock may remove a lock file, and only the one it
    // judged: so two agents taking over at once cannot remove each other's fresh lock.
    if (await createExclusive(runDir, breaker, mine)) {
      try {
        if ((await readFile(path, 'utf8').catch(() => null)) === seen) await unlink(path).catch(() => undefined);
      } finally {
        await unlink(breaker).catch(() => undefined);
      }
      continue;
    }
    // Another agent is breaking it (a matter of milliseconds), or died doing so: only then
    // is its breaker removed (two agents finding one dead breaker is the one race left).
    const breakerText = await readFile(breaker, 'utf8').catch(() => null);
    if (breakerText === null) continue; // done meanwhile
    const breaking = parsePid(breakerText);
    if (breaking !== null && breaking !== process.pid && (await looksLikeAgent(breaking))) {
      await delay(5 + Math.random() * 20);
    } else {
      await unlink(breaker).catch(() => undefined);
    }
  }
  throw new RunDirLockedError(runDir, lastHolder);
}

/** The lock file appears whole or not at all: written aside, then hard-linked into place (fails if it exists). */
async function createExclusive(runDir: string, path: string, content: string): Promise<boolean> {
  const temp = join(runDir, `.${RUN_LOCK_FILE}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  await writeFile(temp, content, { mode: 0o644, flag: 'wx' });
  try {
    await link(temp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

function lockAt(path: string, mine: string): RunLock {
  let released = false;
  return {
    path,
    async release() {
      if (released) return;
      released = true;
      heldHere.delete(path);
      // Never remove a lock that names someone else by now.
      if ((await readFile(path, 'utf8').catch(() => null)) === mine) {
        await unlink(path).catch(() => undefined);
      }
    },
  };
}

function parsePid(text: string): number | null {
  const m = /^\s*(\d{1,7})\s*$/.exec(text);
  const pid = m ? Number(m[1]) : NaN;
  return pid >= 1 && pid <= PID_MAX ? pid : null;
}

/** Is `pid` alive and a node process (or anything called vipkeeper)? An agent we cannot look at counts as one. */
async function looksLikeAgent(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: alive, another user's; anything else (ESRCH): gone.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  let cmdline: string;
  try {
    cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
  } catch (err) {
    // Gone meanwhile, or hidden from us (hidepid): only the former is stale.
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
  const args = cmdline.split('\0').filter((a) => a.length > 0);
  // No command line: a zombie or a kernel thread.
  if (args.length === 0) return false;
  return /^node(js)?(\d+)?$/.test(basename(args[0]!)) || args.some((a) => a.includes('vipkeeper'));
}
