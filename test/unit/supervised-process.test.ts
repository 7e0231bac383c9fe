import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChildProcessError } from '../../src/errors.js';
import { SupervisedProcess, type SupervisedSpec } from '../../src/supervisor/supervised-process.js';
import { recordingLog } from './support/fakes.js';

// Real small processes (sh, sleep), never fakes: what is tested is how they are
// spawned, grouped, followed and killed.

async function until<T>(what: string, check: () => T | null | undefined | false, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Fields of /proc/PID/stat after the command name: [state, ppid, pgrp, ...]; null once gone. */
function stat(pid: number): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}
const pgidOf = (pid: number) => Number(stat(pid)![2]);
/** Running, not merely a zombie waiting to be reaped. */
const running = (pid: number) => {
  const s = stat(pid);
  return s !== null && s[0] !== 'Z';
};

let dir: string;
/** Process groups (and pids) the tests started: killed whatever happens. */
const started = new Set<number>();

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vipkeeper-supervise-'));
});

afterEach(async () => {
  for (const pid of started) {
    for (const target of [-pid, pid]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
  started.clear();
  await rm(dir, { recursive: true, force: true });
});

function spec(over: Partial<SupervisedSpec> = {}): SupervisedSpec {
  return {
    name: 'child',
    command: 'sh',
    args: ['-c', 'exec sleep 100'],
    stopSignal: 'SIGTERM',
    stopGraceMs: 2000,
    outputFile: join(dir, 'child.log'),
    ...over,
  };
}

function startedPid(p: SupervisedProcess): number {
  const pid = p.pid;
  expect(pid).toBeTypeOf('number');
  started.add(pid!);
  return pid!;
}

describe('SupervisedProcess: process group', () => {
  it('runs the child in a process group of its own, so a signal to ours does not reach it', async () => {
    const p = new SupervisedProcess(spec(), recordingLog().log);
    p.start();
    const pid = startedPid(p);
    expect(pgidOf(pid)).toBe(pid);
    expect(pgidOf(pid)).not.toBe(pgidOf(process.pid));
    await p.stop();
  });
});

describe('SupervisedProcess: output that outlives the agent', () => {
  it('a new supervisor adopts a running child and logs the lines it prints afterwards', async () => {
    const go = join(dir, 'go');
    const script = `echo before the crash; while [ ! -e ${go} ]; do sleep 0.02; done; echo after adoption; exec sleep 100`;
    const first = recordingLog();
    const a = new SupervisedProcess(spec({ args: ['-c', script] }), first.log);
    a.start();
    const pid = startedPid(a);
    await until('the first supervisor logs the first line', () => first.output().includes('before the crash'));

    // The agent dies: the child is left running, nobody stops it.
    a.release();
    expect(a.pid).toBeNull();

    const second = recordingLog();
    const b = new SupervisedProcess(spec({ args: ['-c', script] }), second.log);
    b.adopt(pid);
    expect(b.adopted).toBe(true);
    expect(b.pid).toBe(pid);
    // What it printed before is there for error messages, not logged a second time.
    expect(b.recentOutput).toContain('before the crash');
    expect(second.output()).not.toContain('before the crash');

    await writeFile(go, '');
    await until('the new supervisor logs a line printed after adoption', () => second.output().includes('after adoption'));
    expect(b.recentOutput).toContain('after adoption');
    expect(first.output()).not.toContain('after adoption');

    await b.stop();
    await until('the adopted child is gone', () => !running(pid));
  });

  it('keeps following the output file across restarts of the child', async () => {
    const log = recordingLog();
    const p = new SupervisedProcess(spec({ args: ['-c', 'echo run; exit 1'], restartBackoffMs: [10] }), log.log);
    p.start();
    await until('three runs logged', () => log.output().filter((l) => l === 'run').length >= 3);
    await p.stop();
  });
});

describe('SupervisedProcess: shutdown', () => {
  it('restarts a child that dies unexpectedly (the control for the next test)', async () => {
    const p = new SupervisedProcess(spec({ restartBackoffMs: [20] }), recordingLog().log);
    p.start();
    const first = startedPid(p);
    process.kill(first, 'SIGKILL');
    const second = await until('a new child', () => p.pid !== null && p.pid !== first && p.pid);
    started.add(second);
    expect(p.state().restarts).toBe(1);
    await p.stop();
  });

  it('never restarts a child that dies once shutdown has begun, and starts none', async () => {
    const p = new SupervisedProcess(spec({ restartBackoffMs: [20] }), recordingLog().log);
    const starts: number[] = [];
    p.on('started', (pid: number) => starts.push(pid));
    p.start();
    const pid = startedPid(p);
    let exited = false;
    p.on('exit', () => (exited = true));

    p.beginShutdown();
    // The group's SIGTERM reached the child before the agent got to stop it.
    process.kill(pid, 'SIGKILL');
    await until('the exit is seen', () => exited);
    // Absence of a restart: wait many backoff periods.
    await new Promise((r) => setTimeout(r, 300));
    expect(p.pid).toBeNull();
    expect(p.state().running).toBe(false);
    expect(p.state().restarts).toBe(0);
    p.start();
    expect(p.pid).toBeNull();
    expect(starts).toEqual([pid]);
    await p.stop();
  });
});

describe('SupervisedProcess: crash loop and health', () => {
  it('reports a crash loop, and clears it once the child stayed up for the stable period', async () => {
    let now = 1_000_000;
    const flag = join(dir, 'healthy');
    const script = `if [ -e ${flag} ]; then echo up; exec sleep 100; fi; exit 3`;
    const log = recordingLog();
    const p = new SupervisedProcess(spec({ args: ['-c', script], restartBackoffMs: [10], stableAfterMs: 10_000, now: () => now }), log.log);
    p.start();
    await until('a crash loop', () => p.state().crashLoop);
    expect(p.state().healthySince).toBeNull();
    expect(log.lines.some((e) => e.level === 50 && /crash-looping/.test(e.msg))).toBe(true);

    await writeFile(flag, '');
    const pid = await until('a child that stays up', () => log.output().includes('up') && p.pid);
    started.add(pid);
    const up = p.state();
    expect(up.running).toBe(true);
    expect(up.lastStartAt).toBe(new Date(now).toISOString());
    expect(up.crashLoop).toBe(true);

    now += 9_999;
    expect(p.state().crashLoop).toBe(true);
    expect(p.state().healthySince).toBeNull();
    now += 1;
    expect(p.state().crashLoop).toBe(false);
    expect(p.state().healthySince).toBe(up.lastStartAt);
    await p.stop();
    expect(p.state().healthySince).toBeNull();
  });
});

describe('SupervisedProcess: stop', () => {
  // sh ignores SIGTERM, and sleep inherits the ignored signal: only SIGKILL ends them.
  const stubborn = 'trap "" TERM; sleep 100 & echo sleeper $!; wait';
  const sleeperOf = (output: () => string[]) => {
    const line = output().find((l) => l.startsWith('sleeper '));
    return line ? Number(line.split(' ')[1]) : null;
  };

  it('kills a child that ignores the stop signal after the grace period, with its whole group', async () => {
    const log = recordingLog();
    const p = new SupervisedProcess(spec({ args: ['-c', stubborn], stopGraceMs: 300 }), log.log);
    p.start();
    const pid = startedPid(p);
    const sleeper = await until('the sleeper pid', () => sleeperOf(log.output));
    expect(pgidOf(sleeper)).toBe(pid);

    const t0 = Date.now();
    await p.stop();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    expect(running(pid)).toBe(false);
    await until('the sleeper is gone too', () => !running(sleeper));
    expect(log.lines.some((e) => e.level === 40 && /did not stop within 300 ms/.test(e.msg))).toBe(true);
  });

  it('kills an adopted child the same way, with its whole group', async () => {
    const outputFile = join(dir, 'child.log');
    const fd = openSync(outputFile, 'a');
    const earlier = spawn('sh', ['-c', stubborn], { detached: true, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const pid = earlier.pid!;
    started.add(pid);
    const sleeper = await until('the sleeper pid', () => {
      const m = /sleeper (\d+)/.exec(readFileSync(outputFile, 'utf8'));
      return m ? Number(m[1]) : null;
    });

    const log = recordingLog();
    const p = new SupervisedProcess(spec({ args: ['-c', stubborn], stopGraceMs: 300 }), log.log);
    p.adopt(pid);
    const t0 = Date.now();
    await p.stop();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    await until('the adopted child and its sleeper are gone', () => !running(pid) && !running(sleeper));
    expect(log.lines.some((e) => e.level === 40 && /did not stop within 300 ms/.test(e.msg))).toBe(true);
  });

  it('a child that stops in time is not killed later: the grace timer is cleared', async () => {
    const log = recordingLog();
    const p = new SupervisedProcess(spec({ stopGraceMs: 300 }), log.log);
    p.start();
    startedPid(p);
    const t0 = Date.now();
    await p.stop();
    expect(Date.now() - t0).toBeLessThan(300);
    await new Promise((r) => setTimeout(r, 500));
    expect(log.lines.filter((e) => e.level >= 40)).toEqual([]);
  });
});

describe('SupervisedProcess: errors', () => {
  it('a missing binary is a ChildProcessError (E_CHILD) logged with its cause, and retried', async () => {
    const log = recordingLog();
    const p = new SupervisedProcess(spec({ command: join(dir, 'no-such-binary'), args: [], restartBackoffMs: [20] }), log.log);
    p.start();
    const entry = await until('the error is logged', () => log.lines.find((e) => e.level === 50 && e.err !== undefined));
    const err = entry.err as { type: string; code: string; message: string; stack: string };
    expect(err.type).toBe('ChildProcessError');
    expect(err.code).toBe('E_CHILD');
    expect(err.message).toMatch(/ENOENT/);
    expect(p.state().running).toBe(false);
    expect(p.lastError).toBeInstanceOf(ChildProcessError);
    expect((p.lastError!.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
    expect(p.recentOutput).toMatch(/ENOENT/);
    await until('retried with backoff', () => p.state().restarts >= 2);
    await p.stop();
  });
});
