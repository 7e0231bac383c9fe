import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Logger } from '../log.js';
import { lineSplitter } from '../util/lines.js';
import { isAlive } from './adopt.js';

// One child process kept alive: restarted with backoff when it dies, a crash
// loop reported loudly, and on stop a grace period before SIGKILL.

export interface SupervisedSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** Signal that asks the child to finish gracefully. */
  readonly stopSignal: NodeJS.Signals;
  readonly stopGraceMs: number;
}

export interface SupervisedState {
  readonly name: string;
  readonly running: boolean;
  readonly pid: number | null;
  readonly restarts: number;
  readonly lastExit: { code: number | null; signal: string | null; at: string } | null;
  readonly crashLoop: boolean;
}

const BACKOFF_MS = [250, 500, 1000, 2000, 5000, 10_000, 30_000];
/** A child that stayed up this long is healthy again: its backoff starts over. */
const STABLE_AFTER_MS = 60_000;
const CRASH_LOOP_WINDOW_MS = 120_000;
const CRASH_LOOP_RESTARTS = 5;

export class SupervisedProcess extends EventEmitter {
  #child: ChildProcess | null = null;
  #stopping = false;
  #restarts = 0;
  #recentExits: number[] = [];
  #attempt = 0;
  #startedAt = 0;
  #restartTimer: NodeJS.Timeout | null = null;
  #lastExit: SupervisedState['lastExit'] = null;
  #output: string[] = [];
  /** A process an earlier agent started, watched by polling instead of owned. */
  #adopted: { pid: number; poll: NodeJS.Timeout } | null = null;

  constructor(
    readonly spec: SupervisedSpec,
    private readonly log: Logger,
  ) {
    super();
  }

  get pid(): number | null {
    return this.#child?.pid ?? this.#adopted?.pid ?? null;
  }

  get adopted(): boolean {
    return this.#adopted !== null;
  }

  /** Last lines the child printed, for error messages. */
  get recentOutput(): string {
    return this.#output.join('\n');
  }

  state(): SupervisedState {
    const now = Date.now();
    return {
      name: this.spec.name,
      running: this.#child !== null || this.#adopted !== null,
      pid: this.pid,
      restarts: this.#restarts,
      lastExit: this.#lastExit,
      crashLoop: this.#recentExits.filter((t) => now - t < CRASH_LOOP_WINDOW_MS).length >= CRASH_LOOP_RESTARTS,
    };
  }

  start(): void {
    this.#stopping = false;
    this.#spawn();
  }

  /**
   * Takes over a process an earlier agent started. It is not our child, so its
   * exit is noticed by polling; then it is restarted like any child.
   */
  adopt(pid: number): void {
    this.#stopping = false;
    this.#startedAt = Date.now();
    const poll = setInterval(() => {
      if (isAlive(pid)) return;
      clearInterval(poll);
      this.#adopted = null;
      this.#handleExit(null, null);
    }, 250);
    this.#adopted = { pid, poll };
    this.log.info({ child: this.spec.name, pid }, `${this.spec.name} kept running from an earlier agent`);
  }

  #spawn(): void {
    const child = spawn(this.spec.command, [...this.spec.args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    this.#startedAt = Date.now();
    const onLine = (stream: string) =>
      lineSplitter((line) => {
        if (!line.trim()) return;
        this.#output.push(line);
        if (this.#output.length > 50) this.#output.shift();
        this.log.debug({ child: this.spec.name, stream }, line);
      });
    child.stdout?.on('data', onLine('stdout'));
    child.stderr?.on('data', onLine('stderr'));
    child.on('error', (err) => this.log.error({ child: this.spec.name, err: err.message }, `cannot start ${this.spec.name}`));
    child.on('exit', (code, signal) => this.#onExit(child, code, signal));
    this.log.info({ child: this.spec.name, pid: child.pid }, `${this.spec.name} started`);
    this.emit('started', child.pid);
  }

  #onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#child !== child) return;
    this.#child = null;
    this.#handleExit(code, signal);
  }

  #handleExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.#lastExit = { code, signal, at: new Date().toISOString() };
    this.emit('exit', code, signal);
    if (this.#stopping) return;

    const now = Date.now();
    if (now - this.#startedAt > STABLE_AFTER_MS) this.#attempt = 0;
    this.#recentExits = [...this.#recentExits.filter((t) => now - t < CRASH_LOOP_WINDOW_MS), now];
    const delay = BACKOFF_MS[Math.min(this.#attempt, BACKOFF_MS.length - 1)]!;
    this.#attempt += 1;
    this.#restarts += 1;
    const details = { child: this.spec.name, code, signal, restartInMs: delay, restarts: this.#restarts, output: this.recentOutput.slice(-2000) };
    if (this.state().crashLoop) {
      this.log.error(details, `${this.spec.name} is crash-looping: ${this.#recentExits.length} exits in ${CRASH_LOOP_WINDOW_MS / 1000}s`);
    } else {
      this.log.warn(details, `${this.spec.name} exited unexpectedly; restarting`);
    }
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = null;
      if (!this.#stopping) this.#spawn();
    }, delay);
  }

  signal(sig: NodeJS.Signals): boolean {
    if (this.#adopted) {
      try {
        process.kill(this.#adopted.pid, sig);
        return true;
      } catch {
        return false;
      }
    }
    return this.#child?.kill(sig) ?? false;
  }

  /** Asks the child to stop, then kills it after the grace period. Resolves once it is gone. */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    if (this.#adopted) {
      const { pid, poll } = this.#adopted;
      clearInterval(poll);
      this.#adopted = null;
      try {
        process.kill(pid, this.spec.stopSignal);
      } catch {
        /* already gone */
      }
      const deadline = Date.now() + this.spec.stopGraceMs;
      while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
      this.log.info({ child: this.spec.name }, `${this.spec.name} stopped`);
      return;
    }
    const child = this.#child;
    if (!child) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(this.spec.stopSignal);
    const timer = setTimeout(() => {
      this.log.warn({ child: this.spec.name }, `${this.spec.name} did not stop within ${this.spec.stopGraceMs} ms; killing it`);
      child.kill('SIGKILL');
    }, this.spec.stopGraceMs);
    await gone;
    clearTimeout(timer);
    this.log.info({ child: this.spec.name }, `${this.spec.name} stopped`);
  }

  /**
   * Lets the child go without stopping it: a start that failed leaves a child
   * an earlier agent started running (a kept keepalived is a VIP that stays).
   */
  release(): void {
    this.#stopping = true;
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    if (this.#adopted) {
      clearInterval(this.#adopted.poll);
      this.#adopted = null;
    }
  }
}
