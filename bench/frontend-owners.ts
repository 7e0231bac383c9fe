import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { runtimeCommand } from '../src/haproxy/runtime-api.js';

// Who answered the bench's load (defect 13). HAProxy binds with SO_REUSEPORT,
// so a second haproxy on the same port (another lab run, a leftover worker)
// binds silently and the kernel spreads wrk's connections over both. A
// keep-alive connection that lands on one whose servers are gone gets 503s in
// microseconds, for as long as it lives: a "storm" of fast non-2xx that the
// agent's own HAProxy never served. These helpers let a bench see it.

const run = promisify(execFile);

export interface PortListener {
  /** Local address, e.g. 0.0.0.0:18080. */
  readonly local: string;
  /** Processes holding this socket (a master and its worker may share one). */
  readonly pids: readonly number[];
}

/**
 * The listening sockets on TCP `port`, from `ss`. More than one socket on the same
 * local address means SO_REUSEPORT sharing: another process takes part of the load.
 */
export async function listenersOn(port: number): Promise<PortListener[]> {
  const { stdout } = await run('ss', ['-ltnpH', `sport = :${port}`]);
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => ({ local: l.trim().split(/\s+/)[3] ?? '?', pids: [...l.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])) }));
}

/** Local addresses on `port` held by more than one listening socket. */
export function sharedAddresses(listeners: readonly PortListener[]): string[] {
  const n = new Map<string, number>();
  for (const l of listeners) n.set(l.local, (n.get(l.local) ?? 0) + 1);
  return [...n].filter(([, c]) => c > 1).map(([a]) => a);
}

export interface FrontendCounts {
  /** HTTP requests this HAProxy's frontends received (FRONTEND req_tot, summed). */
  readonly requests: number;
  /** 5xx it sent (FRONTEND hrsp_5xx, summed). */
  readonly errors5xx: number;
}

/** `show stat` of the agent's HAProxy: what it served itself, to compare with wrk's totals. */
export async function frontendCounts(adminSocket: string): Promise<FrontendCounts> {
  const lines = (await runtimeCommand(adminSocket, 'show stat')).split('\n');
  const header = (lines[0] ?? '').replace(/^# /, '').split(',');
  const col = (name: string) => header.indexOf(name);
  let requests = 0;
  let errors5xx = 0;
  for (const l of lines.slice(1)) {
    const f = l.split(',');
    if (f[1] !== 'FRONTEND') continue;
    requests += Number(f[col('req_tot')]) || 0;
    errors5xx += Number(f[col('hrsp_5xx')]) || 0;
  }
  return { requests, errors5xx };
}
