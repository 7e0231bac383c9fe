// HAProxy's `show stat` (CSV) -> what the operator page shows per server:
// current sessions and the session rate. Pure. Asked as `show stat -1 4 -1`
// (every proxy, servers only), so a big config costs one line per server.

export const SHOW_SERVER_STATS = 'show stat -1 4 -1';

export interface ServerStatRow {
  readonly backend: string;
  readonly server: string;
  /** scur: sessions now. */
  readonly sessions: number;
  /** rate: sessions per second over the last second (in HTTP mode one per request). */
  readonly rate: number;
}

/** Parses `show stat` CSV; rows without a number where one is expected are left out. */
export function parseServerStats(answer: string): ServerStatRow[] {
  const lines = answer.split('\n');
  const header = lines.find((l) => l.startsWith('# '))?.slice(2).split(',') ?? [];
  const col = (name: string) => header.indexOf(name);
  const [px, sv, scur, rate] = [col('pxname'), col('svname'), col('scur'), col('rate')];
  if (px < 0 || sv < 0 || scur < 0 || rate < 0) return [];
  const rows: ServerStatRow[] = [];
  for (const line of lines) {
    if (!line || line.startsWith('#')) continue;
    const f = line.split(',');
    const server = f[sv];
    if (server === undefined || server === 'FRONTEND' || server === 'BACKEND') continue;
    const sessions = Number(f[scur]);
    const r = Number(f[rate]);
    if (f[scur] === '' || f[rate] === '' || !Number.isFinite(sessions) || !Number.isFinite(r)) continue;
    rows.push({ backend: f[px]!, server, sessions, rate: r });
  }
  return rows;
}
