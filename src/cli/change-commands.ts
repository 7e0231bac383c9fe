import { postControl } from '../control/control-client.js';
import type { ControlAnswer } from '../control/control-types.js';
import { Prober, type ProbeRecord } from '../drill/probe.js';
import { vipsPresent } from '../host/vip-addresses.js';
import { toYaml, type OutputFormat } from '../operate/format.js';
import type { StatusInstance, StatusSnapshot } from '../status/snapshot.js';
import { fetchStatus } from './status-client.js';

// `vipkeeper disable|enable|maintenance`: an operator's changes, asked of the
// agent on this host over its control socket (root only). Each prints one line
// (or the agent's answer as JSON or YAML) and returns an outcome; main.ts turns it
// into the exit code: ok 0, the answer is no 1, a bad request 2.

export type ChangeOutcome = 'ok' | 'no' | 'usage';

interface Common {
  /** The agent's control socket: <run dir>/control.sock. */
  readonly control: string;
  /** table: the agent's one-line message; json and yaml: the whole answer. */
  readonly format: OutputFormat;
}

type Out = (s: string) => void;

/** Prints the agent's answer as asked (the message on stderr too when it is a no) and maps it to an outcome. Exported for its unit test. */
export function report(answer: ControlAnswer, o: Pick<Common, 'format'>, print: Out, warn: Out, extra: Record<string, unknown> = {}): ChangeOutcome {
  const whole = { ok: answer.ok, message: answer.message, ...(answer.data ?? {}), ...extra };
  if (o.format === 'json') print(JSON.stringify(whole, null, 2));
  else if (o.format === 'yaml') print(toYaml(whole).trimEnd());
  else if (answer.ok) print(answer.message);
  if (!answer.ok) warn(answer.message);
  return answer.ok ? 'ok' : answer.bad ? 'usage' : 'no';
}

export async function disableCommand(o: Common & { target: string; drain: boolean; reason: string | null }, print: Out, warn: Out): Promise<ChangeOutcome> {
  const answer = await postControl(o.control, '/operator/disable', { target: o.target, drain: o.drain, reason: o.reason });
  return report(answer, o, print, warn);
}

export async function enableCommand(o: Common & { target: string }, print: Out, warn: Out): Promise<ChangeOutcome> {
  const answer = await postControl(o.control, '/operator/enable', { target: o.target });
  return report(answer, o, print, warn);
}

export interface MaintenanceOptions extends Common {
  readonly on: boolean;
  readonly force: boolean;
  readonly reason: string | null;
  /** Wait until a peer answers through every instance's VIPs, measuring it from here. */
  readonly wait: boolean;
  readonly addr: string;
  /** --probe, repeatable: `URL` (the first instance's) or `NAME=URL` (instance NAME's). */
  readonly probes?: readonly string[];
  readonly timeoutMs: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** What `--wait` saw: when the VIP left this node, when it answered again from elsewhere, and the probes that failed meanwhile. Pure. */
export function waitFigures(
  records: readonly { start: number; end: number; ok: boolean }[],
  startedAt: number,
  vipLeftAt: number | null,
): { answeredAgainMs: number | null; failed: number; probes: number } {
  const after = records.filter((r) => r.start >= startedAt);
  const answered = vipLeftAt === null ? undefined : after.find((r) => r.ok && r.start >= vipLeftAt);
  // Every probe that started until the service answered again (records come in the order they
  // ended, so `answered` is the first answer; a probe that waited through the gap, in ARP, and
  // was answered by the peer counts as ok). The figures are taken once the probes in flight ended.
  const until = answered?.end ?? Infinity;
  const during = after.filter((r) => r.start <= until);
  return { answeredAgainMs: answered ? answered.end - startedAt : null, failed: during.filter((r) => !r.ok).length, probes: during.length };
}

type Vip = { readonly address: string; readonly prefix: number };

/** What `--wait` watches for one VRRP instance: its VIPs leaving this node, and a URL through them answering. */
export interface WaitTarget {
  /** The instance's name; null with one instance (the output stays as it always was). */
  readonly name: string | null;
  readonly interface: string;
  readonly vips: readonly Vip[];
  readonly url: URL;
}

const INSTANCE_PROBE = /^([A-Za-z][A-Za-z0-9]{1,14})=(.+)$/;

/** What `--wait` reads of the agent's status. */
export interface WaitStatus {
  readonly node: Pick<StatusSnapshot['node'], 'interface' | 'vips' | 'frontendPort'>;
  readonly instances?: readonly Pick<StatusInstance, 'name' | 'interface' | 'vips'>[];
}

/**
 * The instances `--wait` waits for, from the agent's status: every one with VIPs (one without
 * VIPKEEPER_INSTANCES, or from an agent older than instances), each probed at its first IPv4 VIP
 * (else its first) on the frontend port, or at its `--probe`. A string: the probes are wrong. Pure.
 */
export function waitTargets(status: WaitStatus, probes: readonly string[] = []): WaitTarget[] | string {
  const listed = (status.instances ?? []).filter((i) => i.vips.length > 0);
  const several = listed.length > 1;
  const base = several
    ? listed.map((i) => ({ name: i.name as string | null, interface: i.interface, vips: i.vips }))
    : [{ name: listed[0]?.name ?? null, interface: status.node.interface, vips: status.node.vips }];
  const own = new Map<string | null, string>();
  for (const p of probes) {
    const m = INSTANCE_PROBE.exec(p);
    const name = m ? m[1]!.toLowerCase() : null;
    const url = m ? m[2]! : p;
    if (name !== null && !base.some((b) => b.name === name)) {
      return `--probe ${JSON.stringify(p)}: no VRRP instance ${name} on this node (it has: ${base.map((b) => b.name ?? 'one, unnamed').join(', ')})`;
    }
    // A URL without a name is the first instance's, as it was with one.
    const key = name ?? base[0]!.name;
    if (own.has(key)) return `--probe: two URLs for ${key === null ? 'the VIP' : `instance ${key}`}`;
    if (!URL.canParse(url)) return `--probe ${JSON.stringify(p)}: not a URL`;
    own.set(key, url);
  }
  return base.map((b) => {
    const vips = b.vips.map((v) => ({ address: v.slice(0, v.lastIndexOf('/')), prefix: Number(v.slice(v.lastIndexOf('/') + 1)) }));
    const first = vips.find((v) => !v.address.includes(':')) ?? vips[0]!;
    const host = first.address.includes(':') ? `[${first.address}]` : first.address;
    return { name: b.name, interface: b.interface, vips, url: new URL(own.get(b.name) ?? `http://${host}:${status.node.frontendPort}/`) };
  });
}

/** One instance's figures: when its VIPs left this node (ms after the command) and what its probes saw. */
export type TargetFigures = ReturnType<typeof waitFigures> & { readonly vipLeftMs: number | null };

/**
 * What `--wait` adds to the agent's answer: a line (one instance: as always) or a line per
 * instance, ok only when each answered from a peer, and the `wait` figures for JSON: the
 * slowest instance's times and the sums of the probes, each instance's own under `instances`. Pure.
 */
export function waitReport(
  targets: readonly WaitTarget[],
  figures: readonly TargetFigures[],
  timeoutMs: number,
): { ok: boolean; lines: string[]; headline: string | null; wait: Record<string, unknown> } {
  const rows = targets.map((t, i) => ({ t, f: figures[i]! }));
  const missing = rows.filter((r) => r.f.answeredAgainMs === null);
  const slowest = (pick: (f: TargetFigures) => number | null) => {
    const all = rows.map((r) => pick(r.f));
    return all.some((v) => v === null) ? null : Math.max(...(all as number[]));
  };
  const wait: Record<string, unknown> = {
    vipLeftMs: slowest((f) => f.vipLeftMs),
    answeredAgainMs: slowest((f) => f.answeredAgainMs),
    failed: rows.reduce((n, r) => n + r.f.failed, 0),
    probes: rows.reduce((n, r) => n + r.f.probes, 0),
    ...(targets.length > 1 ? { instances: rows.map((r) => ({ name: r.t.name, url: r.t.url.href, ...r.f })) } : {}),
  };
  const seconds = (ms: number) => (ms / 1000).toFixed(2);
  if (targets.length === 1) {
    const f = rows[0]!.f;
    return f.answeredAgainMs === null
      ? { ok: false, lines: [], headline: `but nothing answered through the VIP within ${timeoutMs / 1000} s (${f.failed} of ${f.probes} requests failed)`, wait }
      : { ok: true, lines: [`a peer answers through the VIP ${seconds(f.answeredAgainMs)} s after the command; ${f.failed} of ${f.probes} requests failed meanwhile`], headline: null, wait };
  }
  const width = Math.max(...rows.map((r) => (r.t.name ?? '').length));
  const lines = rows.map(({ t, f }) => {
    const what = `${`${t.name}:`.padEnd(width + 1)} `;
    return f.answeredAgainMs === null
      ? `${what}nothing answered through ${t.url.host} within ${timeoutMs / 1000} s (${f.failed} of ${f.probes} requests failed)`
      : `${what}a peer answers through ${t.url.host} ${seconds(f.answeredAgainMs)} s after the command; ${f.failed} of ${f.probes} requests failed meanwhile`;
  });
  const headline = missing.length === 0 ? null : `but nothing answered through the VIPs of instance${missing.length > 1 ? 's' : ''} ${missing.map((r) => r.t.name).join(', ')} within ${timeoutMs / 1000} s`;
  return { ok: missing.length === 0, lines, headline, wait };
}

/** A prober as `--wait` uses it: started, stopped once the probes in flight ended, its records read. */
export interface WaitProber {
  start(): void;
  stop(): Promise<void>;
  readonly records: readonly ProbeRecord[];
}

/** The edges of `maintenance on --wait`: the agent's status and control socket, this host's addresses, the probes, time. */
export interface MaintenanceEdges {
  readonly fetchStatus: (addr: string) => Promise<WaitStatus>;
  readonly postControl: (control: string, path: string, body: unknown, timeoutMs: number) => Promise<ControlAnswer>;
  readonly vipsPresent: (iface: string, vips: readonly Vip[]) => Promise<readonly Vip[]>;
  readonly prober: (url: URL) => WaitProber;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
}

const REAL_EDGES: MaintenanceEdges = {
  fetchStatus,
  postControl,
  vipsPresent,
  prober: (url) => new Prober(url, 50, 500),
  now: () => Date.now(),
  sleep,
};

interface InstanceLine {
  readonly name: string;
  readonly wasState: string;
  readonly peer: { readonly address: string; readonly priority: number } | null;
  readonly handoverMs: number | null;
}

/** One line per VRRP instance when the agent has several (data.instances), for the table output; none for one. Pure. */
export function instanceLines(data: Record<string, unknown> | undefined): string[] {
  const list = data?.instances;
  if (!Array.isArray(list) || list.length < 2) return [];
  const rows = list as InstanceLine[];
  const width = Math.max(...rows.map((r) => r.name.length));
  return rows.map((r) => {
    const held = r.peer
      ? `${r.peer.address} (priority ${r.peer.priority}) holds its VIPs${r.wasState === 'MASTER' && r.handoverMs !== null ? `, ${r.handoverMs} ms after this node stepped back` : ''}`
      : 'no peer seen';
    return `  ${r.name.padEnd(width)}  was ${r.wasState.padEnd(6)}  ${held}`;
  });
}

/** The agent's answer, with a line per instance under its message in the table output. Exported for its unit test. */
export function reportMaintenance(answer: ControlAnswer, o: Pick<Common, 'format'>, print: Out, warn: Out, extra: Record<string, unknown> = {}): ChangeOutcome {
  const lines = o.format === 'table' ? instanceLines(answer.data) : [];
  return report(lines.length > 0 ? { ...answer, message: [answer.message, ...lines].join('\n') } : answer, o, print, warn, extra);
}

export async function maintenanceCommand(o: MaintenanceOptions, print: Out, warn: Out, edges: MaintenanceEdges = REAL_EDGES): Promise<ChangeOutcome> {
  if (!o.on || !o.wait) {
    const answer = await edges.postControl(o.control, '/operator/maintenance', o.on ? { on: true, force: o.force, reason: o.reason } : { on: false }, 60_000);
    return reportMaintenance(answer, o, print, warn);
  }
  // --wait: probe the service through each instance's VIPs from here while the node steps back,
  // until, for every instance, a request that started after its VIPs left this node is answered (by a peer).
  const targets = waitTargets(await edges.fetchStatus(o.addr), o.probes);
  if (typeof targets === 'string') {
    warn(targets);
    return 'usage';
  }
  const probers = targets.map((t) => edges.prober(t.url));
  const startedAt = edges.now();
  const leftAt: (number | null)[] = targets.map(() => null);
  let watching = true;
  const watcher = (async () => {
    while (watching && leftAt.some((l) => l === null)) {
      for (const [i, t] of targets.entries()) {
        if (leftAt[i] === null && (await edges.vipsPresent(t.interface, t.vips)).length === 0) leftAt[i] = edges.now();
      }
      await edges.sleep(20);
    }
  })();
  const figuresNow = () => probers.map((p, i) => waitFigures(p.records, startedAt, leftAt[i]!));
  probers.forEach((p) => p.start());
  let answer: ControlAnswer;
  try {
    answer = await edges.postControl(o.control, '/operator/maintenance', { on: true, force: o.force, reason: o.reason }, 60_000);
    if (answer.ok) {
      const deadline = startedAt + o.timeoutMs;
      while (edges.now() < deadline && figuresNow().some((f) => f.answeredAgainMs === null)) await edges.sleep(20);
    }
  } finally {
    watching = false;
    await watcher;
    await Promise.all(probers.map((p) => p.stop()));
  }
  if (!answer.ok) return reportMaintenance(answer, o, print, warn);
  const figures = figuresNow().map((f, i) => ({ vipLeftMs: leftAt[i] === null ? null : leftAt[i]! - startedAt, ...f }));
  const r = waitReport(targets, figures, o.timeoutMs);
  const message = [`${answer.message}${r.headline ? `; ${r.headline}` : ''}`, ...r.lines].join('\n');
  return reportMaintenance({ ...answer, ok: r.ok, message }, o, print, warn, { wait: r.wait });
}
