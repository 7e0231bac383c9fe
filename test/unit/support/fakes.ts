import type { ConfigFiles, ConfigName } from '../../../src/files/config-store.js';
import { ConfigRejectedError } from '../../../src/errors.js';
import { DeleteQueue } from '../../../src/haproxy/delete-queue.js';
import type { RuntimeApi, ServerStateRow } from '../../../src/haproxy/runtime-api.js';
import { pino } from 'pino';

// Small fakes of the agent's edges, for unit tests of one part at a time.
// Each records what was asked of it; the real edges have their own tests.

export const silentLog = () => pino({ level: 'silent' });

/** A log that keeps its lines (level, msg, fields) for assertions. */
export function recordingLog() {
  const lines: { level: number; msg: string; [k: string]: unknown }[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => lines.push(JSON.parse(s) as never) });
  /** What a supervised child printed, as it reached this log. */
  const output = () => lines.filter((l) => l.stream === 'output').map((l) => l.msg);
  return { log, lines, output };
}

/** The config directory in memory; `reject` makes the validator refuse text containing it. */
export class FakeFiles implements ConfigFiles {
  readonly live = new Map<ConfigName, string>();
  readonly good = new Map<ConfigName, string>();
  readonly writes: string[] = [];
  failWrites: Error | null = null;

  path(name: ConfigName): string {
    return `/fake/${name}`;
  }
  async read(name: ConfigName): Promise<string | null> {
    return this.live.get(name) ?? null;
  }
  async install(name: ConfigName, content: string, check: (temp: string) => Promise<void>): Promise<boolean> {
    if (this.live.get(name) === content) return false;
    if (this.failWrites) throw this.failWrites;
    this.pendingCheck = content;
    await check(`/fake/.${name}.tmp`);
    this.live.set(name, content);
    this.writes.push(`install ${name}`);
    return true;
  }
  async markGood(name: ConfigName): Promise<void> {
    const v = this.live.get(name);
    if (v !== undefined) this.good.set(name, v);
  }
  async restore(name: ConfigName, content: string): Promise<void> {
    this.live.set(name, content);
    this.writes.push(`restore ${name}`);
  }
  /** The content being checked right now (what validate sees). */
  pendingCheck = '';
}

/** A validator that refuses any text containing `marker`, as `haproxy -c` would refuse a bad line. */
export const validatorRefusing = (files: FakeFiles, marker: string) => async (file: string) => {
  if (files.pendingCheck.includes(marker)) throw new ConfigRejectedError(file, 'haproxy -c', 1, `[ALERT] unknown keyword '${marker}'`);
};

/** HAProxy's admin socket: answers like 2.6 does, records every command. */
export class FakeRuntimeApi implements RuntimeApi {
  readonly commands: string[] = [];
  rows: ServerStateRow[] = [];
  /** Answers for `del server` (default: deleted). */
  deleteAnswer = 'Server deleted.\n';
  /** `del server be/x` answers for one server, over `deleteAnswer`. */
  readonly delAnswers = new Map<string, string>();
  failOn: RegExp | null = null;
  /** Runs while a command is being answered, to act "meanwhile". */
  onCommand: (command: string) => void = () => undefined;

  async command(command: string): Promise<string> {
    this.commands.push(command);
    this.onCommand(command);
    if (this.failOn?.test(command)) throw new Error(`socket failed on ${command}`);
    if (command.startsWith('add server')) return 'New server registered.\n';
    if (command.startsWith('del server')) return this.delAnswers.get(command.slice('del server '.length)) ?? this.deleteAnswer;
    if (/^set server \S+ addr/.test(command)) return 'IP changed from a to b\n';
    return '';
  }
  async expect(command: string, ok: RegExp | 'empty'): Promise<string> {
    const answer = await this.command(command);
    if (ok === 'empty' ? answer.trim() !== '' : !ok.test(answer)) throw new Error(`unexpected answer to ${command}: ${answer}`);
    return answer;
  }
  async serversState(): Promise<ServerStateRow[]> {
    return this.rows;
  }
  /** As HAProxy's interactive mode: each command in turn, one answer each, trailing line feeds removed. */
  async batch(commands: readonly string[]): Promise<string[]> {
    const answers: string[] = [];
    for (const c of commands) answers.push((await this.command(c)).replace(/\n+$/, ''));
    return answers;
  }
  /** Commands that name this server (`be/name`). */
  about(id: string): string[] {
    return this.commands.filter((c) => c.endsWith(` ${id}`));
  }
}

/** haproxy's reload: resolves, or fails like a port in use. */
export class FakeHaproxyControl {
  reloads = 0;
  failWith: string | null = null;
  async reload(): Promise<void> {
    this.reloads += 1;
    if (this.failWith !== null) throw new Error(`haproxy worker did not answer: ${this.failWith}`);
  }
}

export class FakeClock {
  constructor(public t = 1_000_000) {}
  now(): number {
    return this.t;
  }
  set(t: number): void {
    this.t = t;
  }
}

/**
 * The edges of HAProxy's apply step, all fakes: files, admin socket, reload, and a
 * delete queue on the fake clock that only retries when a test moves the clock.
 */
export function fakeHaproxyEdges() {
  const log = silentLog();
  const clock = new FakeClock();
  const files = new FakeFiles();
  const api = new FakeRuntimeApi();
  const control = new FakeHaproxyControl();
  const deletes = new DeleteQueue(api, log, { retryMs: 1_000_000, forceAfterMs: 30_000 }, clock);
  return { log, clock, files, api, control, deletes };
}
