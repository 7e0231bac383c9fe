import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, readlinkSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import { resolve } from 'node:path';
import { ChildProcessError } from '../errors.js';
import type { Logger } from '../log.js';
import { groupMembers, isRunning, ownGroup } from './adopt.js';
import { openForChild, OutputFile } from './output-file.js';

// One child process kept alive: restarted with backoff when it dies, a crash
// loop reported loudly, and on stop a grace period before SIGKILL.
//
// The child runs in a process group (and session) of its own, and writes its
// stdout and stderr to a file in the run dir (see output-file.ts). Both so that
// it outlives the agent and a restarted agent can adopt it, logs included; and
// so that a signal to the agent's process group (Ctrl-C, `kill -TERM -PGID`, an
// init that signals the group) never reaches it: the agent alone decides when
// and how it stops (keepalived first, so the VIP moves; then haproxy).

export interface SupervisedSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** Signal that asks the child to finish gracefully. Sent to the child alone: it stops its own workers. */
  readonly stopSignal: NodeJS.Signals;
  /** After this long, SIGKILL to the child's whole process group. */
  readonly stopGraceMs: number;
  /** The child's stdout and stderr are appended here; the file outlives the agent. */
  readonly outputFile: string;
  /** Up this long since its (re)start, the child counts as healthy: crash loop cleared, backoff reset. Default 10 s. */
  readonly stableAfterMs?: number;
  /** Delays before successive restarts; the last one repeats. */
  readonly restartBackoffMs?: readonly number[];
  /** How often an adopted child (not ours to wait for) is looked at. Default 250 ms. */
  readonly adoptPollMs?: number;
  /** The clock of the crash-loop and health bookkeeping (tests move it). */
  readonly now?: () => number;
}

export interface SupervisedState {
  readonly name: string;
  readonly running: boolean;
  readonly pid: number | null;
  readonly restarts: number;
  readonly lastExit: { code: number | null; signal: string | null; at: string } | null;
  /** Many exits lately, and the child has not stayed up for the stable period since the last one. */
  readonly crashLoop: boolean;
  /** When the current (or last) child was started or adopted. */
  readonly lastStartAt: string | null;
  /** When the running child started, once it has stayed up for the stable period; else null. */
  readonly healthySince: string | null;
}

const BACKOFF_MS = [250, 500, 1000, 2000, 5000, 10_000, 30_000];
const STABLE_AFTER_MS = 10_000;
const CRASH_LOOP_WINDOW_MS = 120_000;
const CRASH_LOOP_RESTARTS = 5;
const ADOPT_POLL_MS = 250;
/** How long a SIGKILLed child may take to be gone before we give up waiting. */
const KILL_WAIT_MS = 5000;
const OUTPUT_LINES = 50;

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** One running child, spawned by us or adopted: what stopping and watching it needs. */
interface Run {
  readonly pid: number;
  /** The process group it leads, killed whole; null if it shares another's (adopted from an older agent). */
  readonly group: number | null;
  readonly adopted: boolean;
  readonly startedAt: number;
  /** Settles once it is gone; with its exit status when it was our child. */
  readonly exited: Promise<Exit>;
  /** Stops watching it, leaving it running. */
  readonly forget: () => void;
}

export class SupervisedProcess extends EventEmitter {
  #run: Run | null = null;
  /** A spawn whose failure (pid undefined) is yet to be reported by its 'error' event. */
  #spawning: ChildProcess | null = null;
  /** A stop is under way or done: an exit is expected and not restarted. `start()` clears it. */
  #stopping = false;
  /** The agent is shutting down: nothing is restarted or started again, ever. */
  #shutdown = false;
  #restarts = 0;
  #recentExits: number[] = [];
  #attempt = 0;
  #lastStartAt: number | null = null;
  #restartTimer: NodeJS.Timeout | null = null;
  #lastExit: SupervisedState['lastExit'] = null;
  #lastError: ChildProcessError | null = null;
  #lines: string[] = [];
  #output: OutputFile | null = null;
  readonly #now: () => number;

  constructor(
    readonly spec: SupervisedSpec,
    private readonly log: Logger,
  ) {
    super();
    this.#now = spec.now ?? Date.now;
  }

  get pid(): number | null {
    return this.#run?.pid ?? null;
  }

  /** The running child was started by an earlier agent. */
  get adopted(): boolean {
    return this.#run?.adopted ?? false;
  }

  /** Last lines the child printed, for error messages. */
  get recentOutput(): string {
    return this.#lines.join('\n');
  }

  /** Why the last start failed (missing binary, ...), until a start succeeds. */
  get lastError(): ChildProcessError | null {
    return this.#lastError;
  }

  state(): SupervisedState {
    const now = this.#now();
    const run = this.#run;
    const stable = run !== null && now - run.startedAt >= this.#stableAfterMs;
    const exits = this.#recentExits.filter((t) => now - t < CRASH_LOOP_WINDOW_MS).length;
    return {
      name: this.spec.name,
      running: run !== null,
      pid: this.pid,
      restarts: this.#restarts,
      lastExit: this.#lastExit,
      crashLoop: exits >= CRASH_LOOP_RESTARTS && !stable,
      lastStartAt: this.#lastStartAt === null ? null : new Date(this.#lastStartAt).toISOString(),
      healthySince: run !== null && stable ? new Date(run.startedAt).toISOString() : null,
    };
  }

  get #stableAfterMs(): number {
    return this.spec.stableAfterMs ?? STABLE_AFTER_MS;
  }

  /** Starts the child, unless it runs already. Never throws: a failure is logged and retried. */
  start(): void {
    if (this.#shutdown) {
      this.log.warn({ child: this.spec.name }, `${this.spec.name} not started: shutting down`);
      return;
    }
    this.#stopping = false;
    if (this.#run || this.#spawning) return;
    // An explicit start does not wait out a pending restart's backoff.
    this.#clearRestart();
    this.#spawn();
  }

  /**
   * Takes over a process an earlier agent started. It is not our child, so its
   * exit is noticed by polling; then it is restarted like any child. Its output
   * is followed from the file it writes to.
   */
  adopt(pid: number): void {
    if (this.#shutdown) {
      this.log.warn({ child: this.spec.name, pid }, `${this.spec.name} not adopted: shutting down`);
      return;
    }
    if (this.#run) throw new Error(`${this.spec.name} already runs (pid ${this.#run.pid}): cannot adopt pid ${pid}`);
    this.#stopping = false;
    this.#clearRestart();
    this.#followOutput(false);
    const writesTo = this.#outputTarget(pid);
    if (writesTo !== null && writesTo !== resolve(this.spec.outputFile)) {
      this.log.warn({ child: this.spec.name, pid, output: writesTo }, `${this.spec.name} writes its output elsewhere (started by an older agent?): it is not followed`);
    }
    const group = ownGroup(pid);
    let poll: NodeJS.Timeout | undefined;
    const exited = new Promise<Exit>((resolveExit) => {
      poll = setInterval(() => {
        if (isRunning(pid)) return;
        clearInterval(poll);
        resolveExit({ code: null, signal: null });
      }, this.spec.adoptPollMs ?? ADOPT_POLL_MS);
    });
    this.#watch({ pid, group, adopted: true, startedAt: this.#now(), exited, forget: () => clearInterval(poll) });
    this.log.info(
      { child: this.spec.name, pid, ownProcessGroup: group !== null },
      `${this.spec.name} kept running from an earlier agent`,
    );
  }

  /** Sends `sig` to the child alone (a reload). False when none runs. */
  signal(sig: NodeJS.Signals): boolean {
    const run = this.#run;
    return run !== null && this.#kill(run.pid, sig);
  }

  /**
   * The first thing to call on SIGTERM: from now on an exit of the child is
   * final (it may already be dying from a signal sent to the whole group), and
   * start() does nothing. Kills nothing; stop() does that.
   */
  beginShutdown(): void {
    this.#shutdown = true;
    this.#stopping = true;
    this.#clearRestart();
  }

  /**
   * Forgets the child and leaves it running, as an agent that crashes does; a
   * later agent adopts it (by pid). No restart follows.
   */
  release(): void {
    this.#stopping = true;
    this.#clearRestart();
    const run = this.#run;
    this.#run = null;
    run?.forget();
    this.#closeOutput();
    if (run) this.log.info({ child: this.spec.name, pid: run.pid }, `${this.spec.name} left running for a later agent`);
  }

  /**
   * Asks the child to stop (stopSignal to it alone), then after the grace
   * period kills its whole process group. Owned and adopted children alike.
   * Resolves once it is gone.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#clearRestart();
    const run = this.#run;
    if (run) await this.#terminate(run);
    this.#closeOutput();
    if (run) this.log.info({ child: this.spec.name, pid: run.pid }, `${this.spec.name} stopped`);
  }

  async #terminate(run: Run): Promise<void> {
    const { name, stopSignal, stopGraceMs } = this.spec;
    // The child alone: haproxy's master and keepalived's parent stop their own workers, in order.
    this.#kill(run.pid, stopSignal);
    if ((await this.#exitWithin(run, stopGraceMs)) === 'gone') {
      // Whatever is left in its group (a worker that outlived its master) would run unsupervised.
      const left = run.group === null ? [] : groupMembers(run.group);
      if (left.length > 0) {
        this.log.warn({ child: name, pids: left }, `${name} left processes behind in its group; killing them`);
        this.#kill(-run.group!, 'SIGKILL');
      }
      return;
    }
    this.log.warn({ child: name, pid: run.pid }, `${name} did not stop within ${stopGraceMs} ms; killing it`);
    // Its whole group: haproxy's workers go with the master.
    if (run.group === null || !this.#kill(-run.group, 'SIGKILL')) this.#kill(run.pid, 'SIGKILL');
    if ((await this.#exitWithin(run, KILL_WAIT_MS)) === 'late') {
      this.log.error({ child: name, pid: run.pid }, `${name} still runs ${KILL_WAIT_MS} ms after SIGKILL; giving up on it`);
    }
  }

  /** Waits for the run to end, at most `ms`; the timer never outlives the wait. */
  async #exitWithin(run: Run, ms: number): Promise<'gone' | 'late'> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), ms)));
    try {
      return await Promise.race([run.exited.then(() => 'gone' as const), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  #spawn(): void {
    const { name, command, args } = this.spec;
    let child: ChildProcess;
    let fd: number | null = null;
    try {
      this.#followOutput(true);
      fd = openForChild(this.spec.outputFile);
      // detached: setsid(), so the child leads a process group (and session) of its own.
      child = spawn(command, [...args], { stdio: ['ignore', fd, fd], detached: true });
    } catch (err) {
      this.#spawnFailed(err);
      return;
    } finally {
      if (fd !== null) closeSync(fd);
    }
    const pid = child.pid;
    if (pid === undefined) {
      // Not started (ENOENT, EACCES): the reason comes with the 'error' event.
      this.#spawning = child;
      child.once('error', (err) => {
        this.#spawning = null;
        this.#spawnFailed(err);
      });
      return;
    }
    child.on('error', (err) => this.log.warn({ child: name, pid, err }, `${name}: child process error`));
    const exited = new Promise<Exit>((r) => child.once('exit', (code, signal) => r({ code, signal })));
    this.#lastError = null;
    this.#watch({
      pid,
      group: pid,
      adopted: false,
      startedAt: this.#now(),
      exited,
      forget: () => child.unref(),
    });
    this.log.info({ child: name, pid }, `${name} started`);
    this.emit('started', pid);
  }

  #watch(run: Run): void {
    this.#run = run;
    this.#lastStartAt = run.startedAt;
    void run.exited.then(({ code, signal }) => this.#onExit(run, code, signal));
  }

  #onExit(run: Run, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#run !== run) return; // released
    this.#run = null;
    this.#output?.drain(); // its last words, for the log below
    this.#lastExit = { code, signal, at: new Date(this.#now()).toISOString() };
    this.emit('exit', code, signal);
    if (this.#stopping) return;

    const { delay, crashLoop } = this.#countFailure(run.startedAt);
    const details = { child: this.spec.name, pid: run.pid, code, signal, restartInMs: delay, restarts: this.#restarts, output: this.recentOutput.slice(-2000) };
    if (crashLoop) {
      this.log.error(details, `${this.spec.name} is crash-looping: ${this.#recentExits.length} exits in ${CRASH_LOOP_WINDOW_MS / 1000}s`);
    } else {
      this.log.warn(details, `${this.spec.name} exited unexpectedly; restarting`);
    }
    this.#armRestart(delay);
  }

  #spawnFailed(cause: unknown): void {
    const err = new ChildProcessError(this.spec.name, this.spec.command, cause);
    this.#lastError = err;
    this.#remember(err.message);
    if (this.#stopping) {
      this.log.error({ child: this.spec.name, err }, err.message);
      return;
    }
    const { delay } = this.#countFailure(null);
    this.log.error({ child: this.spec.name, err, restartInMs: delay, restarts: this.#restarts }, err.message);
    this.#armRestart(delay);
  }

  /** Books one failure (an exit, or a start that failed): the backoff and the crash-loop window. */
  #countFailure(startedAt: number | null): { delay: number; crashLoop: boolean } {
    const now = this.#now();
    // A child that had been up for the stable period failed once, not repeatedly.
    if (startedAt !== null && now - startedAt >= this.#stableAfterMs) this.#attempt = 0;
    this.#recentExits = [...this.#recentExits.filter((t) => now - t < CRASH_LOOP_WINDOW_MS), now];
    const backoff = this.spec.restartBackoffMs ?? BACKOFF_MS;
    const delay = backoff[Math.min(this.#attempt, backoff.length - 1)] ?? 0;
    this.#attempt += 1;
    this.#restarts += 1;
    return { delay, crashLoop: this.#recentExits.length >= CRASH_LOOP_RESTARTS };
  }

  #armRestart(delay: number): void {
    this.#clearRestart();
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = null;
      if (!this.#stopping && !this.#run) this.#spawn();
    }, delay);
  }

  #clearRestart(): void {
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    this.#restartTimer = null;
  }

  /** Follows the output file. `fresh`: a new child, so what an earlier one wrote is dropped. */
  #followOutput(fresh: boolean): void {
    if (this.#output) return;
    if (fresh) {
      this.#output = new OutputFile(this.spec.outputFile, (line) => this.#onLine(line), true);
      return;
    }
    try {
      this.#output = new OutputFile(this.spec.outputFile, (line) => this.#onLine(line), false);
      // What it printed before (while no agent ran, say): there for error messages, not logged again.
      this.#lines = this.#output.history(OUTPUT_LINES);
    } catch (err) {
      this.log.warn({ child: this.spec.name, path: this.spec.outputFile, err }, `cannot follow ${this.spec.name}'s output`);
    }
  }

  #closeOutput(): void {
    this.#output?.close();
    this.#output = null;
  }

  #onLine(line: string): void {
    if (!line.trim()) return;
    this.#remember(line);
    this.log.debug({ child: this.spec.name, stream: 'output' }, line);
    this.emit('line', line);
  }

  #remember(line: string): void {
    this.#lines.push(line);
    if (this.#lines.length > OUTPUT_LINES) this.#lines.shift();
  }

  /** Where the process's stdout goes, or null when that cannot be read. */
  #outputTarget(pid: number): string | null {
    try {
      return readlinkSync(`/proc/${pid}/fd/1`);
    } catch {
      return null;
    }
  }

  /** process.kill without the throw: false when there is nothing (left) to signal. */
  #kill(target: number, sig: NodeJS.Signals): boolean {
    try {
      process.kill(target, sig);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') {
        this.log.warn({ child: this.spec.name, target, signal: sig, err }, `cannot signal ${this.spec.name}`);
      }
      return false;
    }
  }
}
