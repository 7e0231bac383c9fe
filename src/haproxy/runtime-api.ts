import { createConnection, type Socket } from 'node:net';
import { RuntimeApiError } from '../errors.js';

export { RuntimeApiError } from '../errors.js';

// HAProxy's Runtime API over its admin socket. Every exchange is one
// connection: HAProxy runs what we send and closes, and the answer is
// everything it wrote until then. Connections are never kept open between
// exchanges: after a reload an open connection would still talk to the old
// worker, whose state is about to be thrown away.
//
// - one command: non-interactive mode, `cmd\n`, the answer is all until close.
// - a batch: interactive mode, `prompt\ncmd1\ncmd2\n...\nquit\n`. HAProxy 2.6
//   ends every answer with the prompt "\n> " (also the empty ones, also `del
//   server`'s, whose answer in non-interactive mode lacks the blank line the
//   others end with, so `cmd1;cmd2` answers cannot be split reliably).

/**
 * Socket errors worth another try, all meaning "HAProxy is there but busy or
 * between workers": EAGAIN (the socket's accept backlog is full), ECONNREFUSED
 * (the socket file exists but nobody listens yet, e.g. a worker starting),
 * ECONNRESET and EPIPE (a worker went away mid-exchange, e.g. on reload).
 * Not ENOENT (wrong path or HAProxy not started: fail fast) and not a timeout
 * (a hung HAProxy: trying again only piles up).
 */
export const TRANSIENT_SOCKET_ERRORS: ReadonlySet<string> = new Set(['EAGAIN', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE']);

export const DEFAULT_TIMEOUT_MS = 5000;

/** Opens a connection to the admin socket; replaceable so tests can inject failures. */
export type Connect = (socket: string) => Socket;
export const connectUnix: Connect = (socket) => createConnection(socket);

/** Sends `payload` on a fresh connection and collects everything until HAProxy closes. */
export function exchange(socket: string, label: string, payload: string, timeoutMs = DEFAULT_TIMEOUT_MS, connect: Connect = connectUnix): Promise<string> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (err: RuntimeApiError | null, answer = '') => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      if (err) reject(err);
      else resolve(answer);
    };
    let conn: Socket;
    try {
      conn = connect(socket);
    } catch (err) {
      finish(new RuntimeApiError(label, (err as Error).message, { cause: err, transient: isTransientSocketError(err) }));
      return;
    }
    let answer = '';
    timer = setTimeout(() => {
      conn.destroy();
      finish(new RuntimeApiError(label, `timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    conn.setEncoding('utf8');
    conn.on('connect', () => conn.write(payload));
    conn.on('data', (d: string) => (answer += d));
    conn.on('error', (err) => {
      conn.destroy();
      finish(new RuntimeApiError(label, err.message, { cause: err, transient: isTransientSocketError(err) }));
    });
    conn.on('close', () => finish(null, answer));
  });
}

export function isTransientSocketError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && TRANSIENT_SOCKET_ERRORS.has(code);
}

/** A command must be one line: a line feed would make it two commands. */
function assertOneLine(command: string): void {
  if (/[\r\n]/.test(command)) throw new RuntimeApiError(JSON.stringify(command), 'a command must be one line');
}

export function runtimeCommand(socket: string, command: string, timeoutMs = DEFAULT_TIMEOUT_MS, connect: Connect = connectUnix): Promise<string> {
  try {
    assertOneLine(command);
  } catch (err) {
    return Promise.reject(err);
  }
  return exchange(socket, command, `${command}\n`, timeoutMs, connect);
}

/** The prompt HAProxy prints after every answer in interactive mode. */
const PROMPT = '\n> ';

/** What a batch is called in errors: its first commands. */
export function batchLabel(commands: readonly string[]): string {
  const shown = commands.slice(0, 3).join('; ');
  return commands.length > 3 ? `${shown}; ... (${commands.length} commands)` : shown;
}

/**
 * Checks a batch before it is sent: one line each, no `;` (HAProxy would run
 * it as two commands, one answer too many), no `prompt`/`quit` (they end or
 * change the exchange itself).
 */
export function assertBatchable(commands: readonly string[]): void {
  for (const c of commands) {
    assertOneLine(c);
    if (c.includes(';')) throw new RuntimeApiError(c, 'a batched command may not contain ";"');
    if (/^\s*(prompt|quit)\b/.test(c)) throw new RuntimeApiError(c, 'prompt and quit cannot be batched');
  }
}

/**
 * Interactive mode's output -> one answer per command, or null when it is not
 * `count` complete answers (HAProxy closed early). The output is the prompt
 * (HAProxy's answer to `prompt` itself), then each answer followed by the prompt.
 * Answers lose their trailing line feeds: "" for a command that printed nothing.
 */
export function splitPromptAnswers(output: string, count: number): string[] | null {
  const parts = output.split(PROMPT);
  if (parts.length !== count + 2 || parts[0] !== '' || parts[parts.length - 1] !== '') return null;
  return parts.slice(1, -1).map((a) => a.replace(/\n+$/, ''));
}

/** Several commands on one connection; resolves with one answer per command, in order. */
export async function runtimeBatch(socket: string, commands: readonly string[], timeoutMs = DEFAULT_TIMEOUT_MS, connect: Connect = connectUnix): Promise<string[]> {
  assertBatchable(commands);
  if (commands.length === 0) return [];
  const label = batchLabel(commands);
  const output = await exchange(socket, label, `prompt\n${commands.join('\n')}\nquit\n`, timeoutMs, connect);
  const answers = splitPromptAnswers(output, commands.length);
  if (answers === null) {
    // HAProxy went away mid-batch (a worker stopping): worth another try, like a reset.
    const got = Math.max(0, output.split(PROMPT).length - 2);
    throw new RuntimeApiError(label, `connection closed after ${got} of ${commands.length} answers`, { transient: true });
  }
  return answers;
}

/** How a caller says which answer means success: a pattern, or nothing at all. */
export type Expected = RegExp | 'empty';

export function answerOk(answer: string, ok: Expected): boolean {
  return ok === 'empty' ? answer.trim() === '' : ok.test(answer);
}

/** Runs a command and insists on an answer that says it worked. */
export async function runtimeExpect(socket: string, command: string, ok: Expected): Promise<string> {
  const answer = await runtimeCommand(socket, command);
  if (!answerOk(answer, ok)) throw new RuntimeApiError(command, answer);
  return answer;
}

/** A batch of commands that must all work: throws for the first answer that says otherwise (all were run). */
export async function expectBatch(api: RuntimeApi, steps: readonly { readonly command: string; readonly ok: Expected }[]): Promise<string[]> {
  const answers = await api.batch(steps.map((s) => s.command));
  steps.forEach((s, i) => {
    if (!answerOk(answers[i]!, s.ok)) throw new RuntimeApiError(s.command, answers[i]!);
  });
  return answers;
}

export interface ServerStateRow {
  readonly backend: string;
  readonly server: string;
  readonly address: string;
  readonly port: number;
  /** 0 stopped, 1 starting, 2 running, 3 stopping (srv_op_state). */
  readonly opState: number;
  /** Bit field: 0x01 forced maintenance, 0x08 drain, ... (srv_admin_state). */
  readonly adminState: number;
  readonly weight: number;
}

/** Parses `show servers state`. */
export function parseServersState(answer: string): ServerStateRow[] {
  const lines = answer.split('\n');
  const header = lines.find((l) => l.startsWith('# be_id'))?.slice(2).split(' ') ?? [];
  const col = (name: string) => header.indexOf(name);
  const rows: ServerStateRow[] = [];
  for (const line of lines) {
    if (!line || line.startsWith('#') || /^\d+$/.test(line.trim())) continue;
    const f = line.split(' ');
    if (f.length < header.length) continue;
    rows.push({
      backend: f[col('be_name')]!,
      server: f[col('srv_name')]!,
      address: f[col('srv_addr')]!,
      port: Number(f[col('srv_port')]),
      opState: Number(f[col('srv_op_state')]),
      adminState: Number(f[col('srv_admin_state')]),
      weight: Number(f[col('srv_uweight')]),
    });
  }
  return rows;
}

/** `show servers state`: what HAProxy really has, per backend and server. */
export async function showServersState(socket: string): Promise<ServerStateRow[]> {
  return parseServersState(await runtimeCommand(socket, 'show servers state'));
}

/**
 * The Runtime API as the rest of the agent uses it: one object per admin socket,
 * handed to the parts that talk to HAProxy, so each can be tested with a fake.
 */
export interface RuntimeApi {
  /** One command; resolves with HAProxy's whole answer. Rejects with RuntimeApiError when the socket fails. */
  command(command: string, timeoutMs?: number): Promise<string>;
  /** One command whose answer must say it worked; else rejects with RuntimeApiError. */
  expect(command: string, ok: Expected): Promise<string>;
  /**
   * Several commands on one connection, run in order; resolves with one answer per
   * command (trailing line feeds removed, "" for a command that printed nothing).
   * HAProxy runs every command even when an earlier one failed: check each answer
   * (expectBatch does). Rejects with RuntimeApiError when the socket fails, when
   * HAProxy closed before answering all, or when a command has a line feed, a `;`,
   * or is `prompt`/`quit`.
   */
  batch(commands: readonly string[], timeoutMs?: number): Promise<string[]>;
  /** `show servers state`, possibly cached for up to `maxAgeMs` (status readers pass a small age). */
  serversState(maxAgeMs?: number): Promise<ServerStateRow[]>;
}

/** The plain implementation: one connection per command, no queue, no retry, no cache. */
export function directRuntimeApi(socket: string): RuntimeApi {
  return {
    command: (c, t) => runtimeCommand(socket, c, t),
    expect: (c, ok) => runtimeExpect(socket, c, ok),
    batch: (cs, t) => runtimeBatch(socket, cs, t),
    serversState: () => showServersState(socket),
  };
}
