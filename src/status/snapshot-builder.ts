import type { InstanceHealth } from '../health/instance-health.js';
import type { AcmeStatus } from '../acme/acme-manager.js';
import type { FailingItem } from '../agent/retry-policy.js';
import type { PassRecord, PassTotals } from '../agent/pass-record.js';
import type { Config } from '../config/env.js';
import type { EngineStatus } from '../docker/engine-link.js';
import type { ServerStateRow } from '../haproxy/runtime-api.js';
import type { ServerStatRow } from '../haproxy/server-stats.js';
import type { InstanceVrrpSnapshot, VrrpSnapshot } from '../keepalived/vrrp-monitor.js';
import type { Service, SkippedContainer } from '../model/desired-state.js';
import type { OperatorStatus } from '../operator/operator-state.js';
import { servingLine } from '../render/haproxy-servers.js';
import { backendName } from '../render/haproxy-view.js';
import type { SupervisedState } from '../supervisor/supervised-process.js';
import { serverHealth, type StatusCertificate, type StatusSnapshot } from './snapshot.js';
import { type CertEntry, secondsUntilExpiry } from '../tls/cert-inventory.js';
import { hostPort } from '../config/patterns.js';

// The agent's parts -> what /status, /metrics and `vipkeeper status` show, and
// whether /healthz says ok. Pure: the agent gathers the inputs.

export interface SnapshotInputs {
  readonly config: Config;
  readonly nodeRoleOk: boolean;
  readonly vrrp: VrrpSnapshot | null;
  /** Every instance's VRRP state; absent: only `vrrp`, the first instance's. */
  readonly vrrpInstances?: readonly InstanceVrrpSnapshot[];
  readonly services: readonly Service[];
  readonly rows: readonly ServerStateRow[];
  readonly lastPass: PassRecord | null;
  readonly totals: PassTotals;
  readonly children: readonly SupervisedState[];
  readonly engines: readonly EngineStatus[];
  readonly drill: { readonly mode: string; readonly since: string } | null;
  readonly failing: readonly FailingItem[];
  readonly health: Health;
  readonly operator?: OperatorStatus;
  readonly acme?: AcmeStatus;
  /** The live plan's judged certificates (absent: HTTPS is off). */
  readonly certificates?: readonly CertEntry[];
  readonly now?: Date;
  /** `show stat` rows: sessions and rates (absent or empty: the page shows none). */
  readonly stats?: readonly ServerStatRow[];
  /** The last passes, oldest first. */
  readonly history?: readonly PassRecord[];
  readonly skipped?: readonly SkippedContainer[];
  /** Each instance's health verdict (instance-health.ts), when judged. */
  readonly instanceHealth?: readonly InstanceHealth[];
}

/** Judged certificates -> what /status shows: names and expiry, or the reason; never the PEM. Pure. */
export function statusCertificates(entries: readonly CertEntry[], now: Date): StatusCertificate[] {
  return entries.map((e) =>
    e.state === 'ok'
      ? { file: e.file, state: 'ok', names: e.names, notAfter: e.notAfter.toISOString(), secondsLeft: secondsUntilExpiry(e, now) }
      : { file: e.file, state: 'refused', reason: e.reason },
  );
}

/** Passes /status lists in recentPasses. */
export const RECENT_PASSES = 10;

const healthOf = (all: readonly InstanceHealth[] | undefined, name: string) => {
  const h = all?.find((x) => x.instance === name);
  return h ? { health: { healthy: h.healthy, problems: h.problems } } : {};
};

export function buildSnapshot(i: SnapshotInputs): StatusSnapshot {
  const c = i.config;
  const rows = new Map(i.rows.map((r) => [`${r.backend}/${r.server}`, r]));
  const stats = new Map((i.stats ?? []).map((r) => [`${r.backend}/${r.server}`, r]));
  const lastEvent = i.engines.map((e) => e.lastEventAt).filter((t) => t !== null).sort().pop() ?? null;
  return {
    node: {
      routerId: c.routerId,
      interface: c.interface,
      vips: c.virtualIps.map((v) => `${v.address}/${v.prefix}`),
      frontendPort: c.frontendPort,
      nodeRole: { required: c.nodeRole, present: i.nodeRoleOk },
      vrrpSettings: { virtualRouterId: c.virtualRouterId, priority: c.priority, nopreempt: c.nopreempt, advertInt: c.advertInt, version: c.vrrpVersion },
    },
    vrrp: i.nodeRoleOk ? i.vrrp : null,
    instances: c.instances.map((inst, n) => ({
      name: inst.name,
      keepalivedName: inst.keepalivedName,
      interface: inst.interface,
      vips: inst.virtualIps.map((v) => `${v.address}/${v.prefix}`),
      virtualRouterId: inst.virtualRouterId,
      priority: inst.priority,
      nopreempt: inst.nopreempt,
      advertInt: inst.advertInt,
      vrrp: !i.nodeRoleOk ? null : (i.vrrpInstances?.find((v) => v.name === inst.name) ?? (n === 0 ? i.vrrp : null)),
      ...healthOf(i.instanceHealth, inst.name),
    })),
    services: i.services.map((s) => {
      const backend = backendName(s.name);
      return {
        name: s.name,
        backend,
        mode: s.mode,
        frontendPort: s.frontendPort,
        memberClass: s.memberClass,
        hosts: s.hosts,
        path: s.path,
        ...(s.bind ? { vip: { instances: s.bind.instances, addresses: s.bind.addresses } } : {}),
        servers: s.servers.map((x) => {
          const line = `${backend}/${servingLine(s, x)}`;
          const row = rows.get(line);
          const stat = stats.get(line);
          return {
            name: x.name,
            container: x.containerId.slice(0, 12),
            address: hostPort(x.address, x.port),
            // A single-class backup's health is that of the line that carries its role (NAME:backup).
            health: serverHealth(row),
            role: x.role,
            standby: x.standby,
            ...(x.adminSource ? { adminSource: x.adminSource, admin: x.admin ?? 'ready', adminReason: x.adminReason ?? null } : {}),
            containerName: x.containerName,
            ...(x.engine !== undefined ? { engine: x.engine } : {}),
            weight: row?.weight ?? x.weight,
            ...(stat ? { sessions: stat.sessions, rate: stat.rate } : {}),
          };
        }),
      };
    }),
    lastPass: i.lastPass,
    passes: i.totals,
    children: i.children,
    docker: { endpoint: c.dockerHost, connected: i.engines.some((e) => e.state === 'up'), lastEventAt: lastEvent, engines: i.engines },
    drill: i.drill,
    ...(i.operator ? { operator: i.operator } : {}),
    ...(i.acme ? { acme: i.acme } : {}),
    failing: i.failing,
    health: i.health,
    ...(i.certificates ? { certificates: statusCertificates(i.certificates, i.now ?? new Date()) } : {}),
    ...(i.history ? { recentPasses: i.history.slice(-RECENT_PASSES) } : {}),
    ...(i.skipped ? { skipped: i.skipped.map((k) => ({ containerName: k.containerName, container: k.containerId.slice(0, 12), reason: k.reason })) } : {}),
  };
}

export interface Health {
  readonly ok: boolean;
  readonly reason: string;
}

export interface HealthInputs {
  readonly closed: boolean;
  readonly started: boolean;
  readonly haproxy: SupervisedState;
  readonly haproxyDownOnPurpose: boolean;
  /** How long reconcile passes have failed in a row (0: the last one worked). */
  readonly passFailingForMs: number;
  readonly passError: string | null;
  readonly restoreProblem: string | null;
}

/** Passes may fail briefly (an engine restarting); this long in a row needs a human. */
export const PASS_FAILING_UNHEALTHY_MS = 30_000;

export function judgeHealth(h: HealthInputs): Health {
  if (h.closed) return { ok: false, reason: 'stopping' };
  if (!h.started) return { ok: false, reason: 'starting: the initial state is not applied yet' };
  if (!h.haproxy.running && !h.haproxyDownOnPurpose) return { ok: false, reason: 'haproxy is not running' };
  if (h.haproxy.crashLoop) return { ok: false, reason: 'haproxy is crash-looping' };
  if (h.restoreProblem) return { ok: false, reason: h.restoreProblem };
  if (h.passFailingForMs >= PASS_FAILING_UNHEALTHY_MS) {
    return { ok: false, reason: `reconcile passes have failed for ${Math.round(h.passFailingForMs / 1000)} s (the last good config serves): ${h.passError ?? 'unknown error'}` };
  }
  return { ok: true, reason: 'ok' };
}
