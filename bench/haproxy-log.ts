import { createSocket, type Socket } from 'node:dgram';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// HAProxy's own account of the requests that went wrong during a bench run
// (defect 13): which server, which termination state, when. The production
// template logs only `notice` and above to stdout (no traffic); the bench runs a
// copy of it with two lines added, and nothing else changed:
// - a second log target, UDP on loopback at `info`, read by the bench itself,
//   so it sees each line the moment HAProxy emits it (its own clock stamps it);
// - `option dontlog-normal`: only requests with an error, a timeout, a retry,
//   a redispatch or a 5xx are logged. They stay at `info`, so the stdout target
//   (`notice`) and the agent that follows it see exactly what they see in
//   production. (`log-separate-errors` was tried first: it raises them to
//   `err`, which stdout passes, and a 503 storm of 500,000 lines then buried
//   the agent in its own haproxy's output.)

/** One `option httplog` line (the fields this bench needs). */
export interface HttpLogLine {
  readonly frontend: string;
  readonly backend: string;
  readonly server: string;
  /** Tr (ms to the response headers), -1 when no response came. */
  readonly tr: number;
  /** HTTP status sent to the client, -1 when none. */
  readonly status: number;
  /** Termination state, 4 characters (`----`, `SD--`, `SH--`, `sC--` ...). */
  readonly termination: string;
  /** Connection retries (the `rc` field), and whether the last one was redispatched (`+`). */
  readonly retries: number;
  readonly redispatched: boolean;
}

// 127.0.0.1:39430 [14/Dec/2026:10:00:00.123] fe_18080 be_apps/vkb-0-5 0/0/0/-1/2 502 209 - - SH-- 4/4/3/0/1 0/0 "GET / HTTP/1.1"
const HTTPLOG =
  /^\S+ \[[^\]]+\] (\S+) ([^/\s]+)\/(\S+) -?\d+\/-?\d+\/-?\d+\/(-?\d+)\/-?\+?\d+ (-?\d+) \+?\d+ \S+ \S+ (\S{4}) \d+\/\d+\/\d+\/\d+\/(\+?)(\d+) /;

/** Parses an `option httplog` line as HAProxy's `format raw` prints it; null for anything else. */
export function parseHttpLog(line: string): HttpLogLine | null {
  const m = HTTPLOG.exec(line.trim());
  if (!m) return null;
  return {
    frontend: m[1]!,
    backend: m[2]!,
    server: m[3]!,
    tr: Number(m[4]),
    status: Number(m[5]),
    termination: m[6]!,
    redispatched: m[7] === '+',
    retries: Number(m[8]),
  };
}

/** Did the client get less than a whole 2xx/3xx answer? (`C`: the client itself went away.) */
export function failedForClient(l: HttpLogLine): boolean {
  if (l.termination[0] === 'C') return false;
  return l.termination[0] !== '-' || l.status < 0 || l.status >= 500;
}

/** A SIGKILL the bench sent: to which container (= server name), between when and when (ms, bench clock). */
export interface KillMark {
  readonly server: string;
  readonly from: number;
  readonly to: number;
}

export interface StampedLine {
  readonly at: number;
  readonly text: string;
}

export interface Classified {
  /** Cut by a SIGKILLed backend after its response began: the client already has part of it, no proxy can replay. */
  readonly killedMidResponse: StampedLine[];
  /** Every other line that failed for its client. */
  readonly other: StampedLine[];
  /** Requests HAProxy saved: retried or redispatched, answered in full. */
  readonly saved: StampedLine[];
}

/** How long after `docker kill` returned a cut can still be that kill's (the kernel closing its sockets). */
export const KILL_SLACK_MS = 1000;

/**
 * Splits HAProxy's error lines. A line is "killed mid-response" only if HAProxy
 * says the server aborted in the DATA phase (`SD`: headers already went to the
 * client), on a server whose container this bench SIGKILLed, while that kill
 * was under way. Everything else that failed for a client is "other".
 */
export function classify(lines: readonly StampedLine[], kills: readonly KillMark[]): Classified {
  const out: Classified = { killedMidResponse: [], other: [], saved: [] };
  for (const s of lines) {
    const l = parseHttpLog(s.text);
    if (!l) continue;
    if (!failedForClient(l)) {
      if (l.retries > 0 || l.redispatched) out.saved.push(s);
      continue;
    }
    const killed = kills.some((k) => k.server === l.server && s.at >= k.from && s.at <= k.to + KILL_SLACK_MS);
    (killed && l.termination.startsWith('SD') ? out.killedMidResponse : out.other).push(s);
  }
  return out;
}

/**
 * The template text with the two logging lines added (and `option httplog` in `defaults` when the
 * template has none, as the seeds' baseline); throws when its `global` or `defaults` line is missing.
 */
export function withErrorLog(template: string, udpPort: number): string {
  const global = /^global[ \t]*$/m;
  const defaults = /^defaults[ \t]*$/m;
  if (!global.test(template) || !defaults.test(template)) throw new Error('haproxy.cfg.ejs has no `global` or `defaults` line: cannot add the bench error log');
  return template
    .replace(global, `global\n    log 127.0.0.1:${udpPort} format raw daemon info`)
    .replace(defaults, `defaults\n    option dontlog-normal${/option httplog/.test(template) ? '' : '\n    option httplog'}`);
}

/** A copy of `templatesDir` whose haproxy.cfg.ejs also logs errors to 127.0.0.1:udpPort. Returns the copy's path. */
export function templatesWithErrorLog(templatesDir: string, udpPort: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'vipkeeper-bench-templates-'));
  cpSync(templatesDir, dir, { recursive: true });
  const file = join(dir, 'haproxy.cfg.ejs');
  writeFileSync(file, withErrorLog(readFileSync(file, 'utf8'), udpPort));
  return dir;
}

/** Receives HAProxy's log lines over UDP on loopback, each stamped on arrival. */
export class LogReceiver {
  readonly lines: StampedLine[] = [];
  private constructor(private readonly socket: Socket) {}

  static async open(): Promise<LogReceiver> {
    const socket = createSocket('udp4');
    const r = new LogReceiver(socket);
    socket.on('message', (msg) => {
      const at = Date.now();
      for (const text of msg.toString().split('\n')) if (text.trim()) r.lines.push({ at, text });
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => resolve());
    });
    return r;
  }

  get port(): number {
    return this.socket.address().port;
  }

  close(): void {
    this.socket.close();
  }
}
