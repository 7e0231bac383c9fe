import { postControl } from '../control/control-client.js';
import type { ControlAnswer } from '../control/control-types.js';
import { Prober } from '../drill/probe.js';
import { vipsPresent } from '../host/vip-addresses.js';
import { toYaml, type OutputFormat } from '../operate/format.js';
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
  /** Wait until a peer answers through the VIP, measuring it from here. */
  readonly wait: boolean;
  readonly addr: string;
  readonly probe?: string;
  readonly timeoutMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

export async function maintenanceCommand(o: MaintenanceOptions, print: Out, warn: Out): Promise<ChangeOutcome> {
  if (!o.on || !o.wait) {
    const answer = await postControl(o.control, '/operator/maintenance', o.on ? { on: true, force: o.force, reason: o.reason } : { on: false }, 60_000);
    return reportMaintenance(answer, o, print, warn);
  }
  // --wait: probe the service through the VIP from here while the node steps back, until a
  // request that started after the VIP left this node is answered (by a peer).
  const status = await fetchStatus(o.addr);
  const vips = status.node.vips.map((v) => ({ address: v.split('/')[0]!, prefix: Number(v.split('/')[1]) }));
  const prober = new Prober(new URL(o.probe ?? `http://${vips[0]!.address}:${status.node.frontendPort}/`), 50, 500);
  const startedAt = Date.now();
  let vipLeftAt: number | null = null;
  let watching = true;
  const watcher = (async () => {
    while (watching && vipLeftAt === null) {
      if ((await vipsPresent(status.node.interface, vips)).length === 0) vipLeftAt = Date.now();
      else await sleep(20);
    }
  })();
  prober.start();
  let answer: ControlAnswer;
  let figures: ReturnType<typeof waitFigures> = { answeredAgainMs: null, failed: 0, probes: 0 };
  try {
    answer = await postControl(o.control, '/operator/maintenance', { on: true, force: o.force, reason: o.reason }, 60_000);
    if (answer.ok) {
      const deadline = startedAt + o.timeoutMs;
      while (Date.now() < deadline) {
        figures = waitFigures(prober.records, startedAt, vipLeftAt);
        if (figures.answeredAgainMs !== null) break;
        await sleep(20);
      }
    }
  } finally {
    watching = false;
    await watcher;
    await prober.stop();
  }
  figures = waitFigures(prober.records, startedAt, vipLeftAt);
  if (!answer.ok) return reportMaintenance(answer, o, print, warn);
  const extra = { wait: { vipLeftMs: vipLeftAt === null ? null : vipLeftAt - startedAt, ...figures } };
  if (figures.answeredAgainMs === null) {
    return reportMaintenance({ ...answer, ok: false, message: `${answer.message}; but nothing answered through the VIP within ${o.timeoutMs / 1000} s (${figures.failed} of ${figures.probes} requests failed)` }, o, print, warn, extra);
  }
  const waited = `a peer answers through the VIP ${(figures.answeredAgainMs / 1000).toFixed(2)} s after the command; ${figures.failed} of ${figures.probes} requests failed meanwhile`;
  return reportMaintenance({ ...answer, message: `${answer.message}\n${waited}` }, o, print, warn, extra);
}
