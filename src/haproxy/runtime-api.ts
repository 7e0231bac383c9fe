import { createConnection } from 'node:net';

// HAProxy's Runtime API over its admin socket: one connection per command
// (non-interactive mode), the answer is everything until HAProxy closes.

export class RuntimeApiError extends Error {
  readonly code = 'E_HAPROXY_API';
  constructor(
    readonly command: string,
    readonly answer: string,
  ) {
    super(`haproxy runtime API: ${command}: ${answer.trim() || 'no answer'}`);
    this.name = 'RuntimeApiError';
  }
}

export function runtimeCommand(socket: string, command: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const conn = createConnection(socket);
    let answer = '';
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new RuntimeApiError(command, `timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    conn.on('connect', () => conn.write(`${command}\n`));
    conn.on('data', (d) => (answer += d.toString()));
    conn.on('error', (err) => {
      clearTimeout(timer);
      reject(new RuntimeApiError(command, err.message));
    });
    conn.on('close', () => {
      clearTimeout(timer);
      resolve(answer);
    });
  });
}

/** Runs a command and insists on an answer that says it worked. */
export async function runtimeExpect(socket: string, command: string, ok: RegExp | 'empty'): Promise<string> {
  const answer = await runtimeCommand(socket, command);
  const good = ok === 'empty' ? answer.trim() === '' : ok.test(answer);
  if (!good) throw new RuntimeApiError(command, answer);
  return answer;
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

/** `show servers state`: what HAProxy really has, per backend and server. */
export async function showServersState(socket: string): Promise<ServerStateRow[]> {
  const answer = await runtimeCommand(socket, 'show servers state');
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

/**
 * The Runtime API as the rest of the agent uses it: one object per admin socket,
 * handed to the parts that talk to HAProxy, so each can be tested with a fake.
 */
export interface RuntimeApi {
  /** One command; resolves with HAProxy's whole answer. Rejects with RuntimeApiError when the socket fails. */
  command(command: string, timeoutMs?: number): Promise<string>;
  /** One command whose answer must say it worked; else rejects with RuntimeApiError. */
  expect(command: string, ok: RegExp | 'empty'): Promise<string>;
  /** `show servers state`, possibly cached for up to `maxAgeMs` (status readers pass a small age). */
  serversState(maxAgeMs?: number): Promise<ServerStateRow[]>;
}

/** The plain implementation: one connection per command, no queue. */
export function directRuntimeApi(socket: string): RuntimeApi {
  return {
    command: (c, t) => runtimeCommand(socket, c, t),
    expect: (c, ok) => runtimeExpect(socket, c, ok),
    serversState: () => showServersState(socket),
  };
}
