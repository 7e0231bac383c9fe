import type { ServerStateRow } from '../haproxy/runtime-api.js';
import type { ContainerInfo } from '../model/container.js';
import { type DesiredState, isCandidate, type SelectionSettings, type Server, type Service, type SkippedContainer } from '../model/desired-state.js';
import { haproxyServers } from '../render/haproxy-servers.js';
import { backendName } from '../render/haproxy-view.js';
import { adminState, containerRef, serverKey, shortId } from './inventory.js';
import type { ContainerRef, EngineAnswer, UnbackedServer, UnservedContainer, VerifyAnswer } from './operate-types.js';
import { hostPort } from '../config/patterns.js';

// `vipkeeper verify`: HAProxy's live servers against what runs on every engine
// right now. Every server must have a running container behind it, at the
// address HAProxy sends to; every labelled running container must be served.
// Pure: the agent lists the engines afresh (not its cache), reads HAProxy, and
// plans `expected` from that fresh list with its own settings.

export interface VerifyInputs {
  /** HAProxy's `show servers state`, read just now. */
  readonly rows: readonly ServerStateRow[];
  /** Labelled containers of the engines that answered, listed and inspected just now. */
  readonly fresh: readonly ContainerInfo[];
  readonly engines: readonly EngineAnswer[];
  /** The desired state planned from `fresh` (with the agent's settings and stopping set). */
  readonly expected: DesiredState;
  /** The agent's applied state: names the container it put behind a server, and its own reasons for skipping one. */
  readonly applied: DesiredState;
  /** Servers the agent drained for removal and has not deleted yet. */
  readonly leaving: readonly { readonly backend: string; readonly server: string }[];
  readonly settings: SelectionSettings;
  readonly defaultEngine: string | null;
}

const at = (x: { address: string; port: number }) => hostPort(x.address, x.port);

export function verifyLive(i: VerifyInputs): VerifyAnswer {
  const expected = new Map<string, { service: Service; server: Server }>();
  for (const service of i.expected.services) {
    // Every HAProxy line: a single-class container has two (NAME, NAME:backup).
    for (const server of haproxyServers(service)) expected.set(serverKey(backendName(service.name), server.name), { service, server });
  }
  const applied = new Map<string, Server>();
  for (const s of i.applied.services) for (const x of haproxyServers(s)) applied.set(serverKey(backendName(s.name), x.name), x);
  // vipkeeper's backends: those it planned before and plans now. Others (a template's own) are not its to judge.
  const backends = new Set([...i.applied.services, ...i.expected.services].map((s) => backendName(s.name)));
  const rows = i.rows.filter((r) => backends.has(r.backend));
  const live = new Map(rows.map((r) => [serverKey(r.backend, r.server), r]));
  const fresh = new Map(i.fresh.map((c) => [c.id, c]));
  const freshSkip = new Map(i.expected.skipped.map((s) => [s.containerId, s]));
  const appliedSkip = new Map(i.applied.skipped.map((s) => [s.containerId, s]));
  const leaving = new Set(i.leaving.map((l) => serverKey(l.backend, l.server)));
  const silent = new Set(i.engines.filter((e) => !e.ok).map((e) => e.name));
  const engineOf = (x: Server) => x.engine ?? i.defaultEngine;

  const unbacked: UnbackedServer[] = [];
  for (const row of rows) {
    const key = serverKey(row.backend, row.server);
    const want = expected.get(key);
    if (want && want.server.address === row.address && want.server.port === row.port) continue;
    const base = { backend: row.backend, server: row.server, address: at(row), admin: adminState(row) };
    if (want) {
      unbacked.push({
        ...base,
        container: containerRef(want.server, i.defaultEngine),
        reason: `HAProxy sends to ${at(row)}, but its container ${want.server.containerName} is at ${at(want.server)} now`,
      });
      continue;
    }
    const removing = leaving.has(key) ? ' (the agent is removing it: drained, deleted once its connections end)' : '';
    const put = applied.get(key);
    if (!put) {
      unbacked.push({
        ...base,
        container: null,
        reason: leaving.has(key)
          ? `its container stopped or is gone${removing}`
          : 'no container behind it: vipkeeper did not put it there (added by hand over the Runtime API?)',
      });
      continue;
    }
    const c = fresh.get(put.containerId);
    const engine = engineOf(put);
    const name = put.containerName;
    let why: string;
    if (engine !== null && silent.has(engine)) why = `its container ${name} is on engine ${engine}, which does not answer`;
    else if (!c) why = `its container ${name} (${shortId(put.containerId)}) is gone`;
    else if (!c.running) why = `its container ${name} is not running`;
    else why = `its container ${name} is not served any more: ${skipReason(freshSkip.get(c.id) ?? appliedSkip.get(c.id)) ?? 'it is not in the plan'}`;
    unbacked.push({ ...base, container: containerRef(put, i.defaultEngine), reason: `${why}${removing}` });
  }

  const unserved: UnservedContainer[] = [];
  const running = i.fresh.filter((c) => c.running && isCandidate(c, i.settings));
  const ref = (c: ContainerInfo): ContainerRef => ({ id: shortId(c.id), name: c.name, engine: c.engine ?? i.defaultEngine });
  for (const [key, { service, server }] of expected) {
    const c = fresh.get(server.containerId);
    if (!c) continue;
    const row = live.get(key);
    if (row && row.address === server.address && row.port === server.port) continue;
    // The agent's own reason wins (a frontend port it could not use, say): HAProxy lacks the server on purpose.
    const agentSkip = skipReason(appliedSkip.get(c.id));
    unserved.push({
      container: ref(c),
      service: service.name,
      reason: agentSkip
        ? `not served: ${agentSkip}`
        : row
          ? `HAProxy's ${key} sends to ${at(row)}, not to its address ${at(server)}`
          : `HAProxy has no server ${key} for it`,
    });
  }
  for (const skip of i.expected.skipped) {
    const c = fresh.get(skip.containerId);
    if (!c || !c.running || !isCandidate(c, i.settings)) continue;
    unserved.push({ container: ref(c), service: null, reason: `not served: ${skipReason(skip)}` });
  }
  unbacked.sort((a, b) => cmp(serverKey(a.backend, a.server), serverKey(b.backend, b.server)));
  unserved.sort((a, b) => cmp(a.container.name, b.container.name) || cmp(a.container.id, b.container.id));
  return {
    ok: silent.size === 0 && unbacked.length === 0 && unserved.length === 0,
    engines: i.engines,
    servers: rows.length,
    containers: running.length,
    unbacked,
    unserved,
  };
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function skipReason(s: SkippedContainer | undefined): string | null {
  if (!s) return null;
  return s.problems.length > 0 ? `a label is rejected: ${s.reason}` : s.reason;
}
