import type { InstanceHealthWatch } from '../health/instance-health-watch.js';
import type { AcmeStatus } from '../acme/acme-manager.js';
import { PASS, type Reconciler } from '../agent/reconciler.js';
import type { RetryPolicy } from '../agent/retry-policy.js';
import type { Config } from '../config/env.js';
import type { EngineLink } from '../docker/engine-link.js';
import type { DrillController } from '../drill/drill-controller.js';
import type { OperatorController } from '../operator/operator-controller.js';
import type { RuntimeApi } from '../haproxy/runtime-api.js';
import { parseServerStats, SHOW_SERVER_STATS, type ServerStatRow } from '../haproxy/server-stats.js';
import type { VrrpInstances, VrrpMonitor } from '../keepalived/vrrp-monitor.js';
import type { SupervisedProcess } from '../supervisor/supervised-process.js';
import { buildSnapshot, judgeHealth, type Health } from './snapshot-builder.js';
import type { StatusSnapshot } from './snapshot.js';
import type { StatusSource } from './status-server.js';

// What the status edge shows, gathered from the agent's parts at the moment it
// is asked: each part is read then, never cached, so /status follows a config
// the password file changed and a drill that just began. The judging and
// shaping are pure (snapshot-builder); this only collects their inputs.

type Child = { readonly process: Pick<SupervisedProcess, 'state'> };

export interface StatusParts {
  readonly config: () => Config;
  readonly isClosed: () => boolean;
  readonly nodeRoleOk: () => boolean;
  readonly vrrp: Pick<VrrpMonitor, 'snapshot'> & Partial<Pick<VrrpInstances, 'snapshots'>>;
  readonly reconciler: Pick<Reconciler, 'applied' | 'lastPass' | 'totals'> & Partial<Pick<Reconciler, 'history'>>;
  /** `command` (optional in fakes) asks `show stat` for sessions and rates. */
  readonly api: Pick<RuntimeApi, 'serversState'> & Partial<Pick<RuntimeApi, 'command'>>;
  /** Clock for the `show stat` cache (tests). */
  readonly now?: () => number;
  readonly haproxy: Child;
  readonly keepalived: Child;
  readonly links: readonly Pick<EngineLink, 'status'>[];
  readonly drill: Pick<DrillController, 'active' | 'haproxyDownOnPurpose' | 'restoreProblem'>;
  readonly retry: Pick<RetryPolicy, 'get' | 'failingForMs' | 'failing'>;
  /** Operator overrides and maintenance (absent in tests that have none). */
  readonly operator?: Pick<OperatorController, 'status'>;
  /** Each instance's health verdict (absent with one instance and in tests that have none). */
  readonly instanceHealth?: Pick<InstanceHealthWatch, 'snapshot'>;
  /** ACME orders and renewals, when ACME is on. */
  readonly acme?: { status(): AcmeStatus } | null;
}

/** Status readers share haproxy's server states up to this old: a flood of them costs one command. */
export const SERVERS_STATE_MAX_AGE_MS = 500;

export class AgentStatus implements StatusSource {
  #stats: { readonly rows: Promise<ServerStatRow[]>; at: number } | null = null;

  constructor(private readonly p: StatusParts) {}

  /**
   * Sessions and rates from one `show stat` per SERVERS_STATE_MAX_AGE_MS, shared by
   * every reader in between (a page open in ten browsers costs one); [] when it fails.
   */
  #serverStats(): Promise<ServerStatRow[]> {
    const { api } = this.p;
    if (!api.command) return Promise.resolve([]);
    const now = (this.p.now ?? Date.now)();
    if (this.#stats && now - this.#stats.at <= SERVERS_STATE_MAX_AGE_MS) return this.#stats.rows;
    const rows = api.command(SHOW_SERVER_STATS).then(parseServerStats, () => []);
    this.#stats = { rows, at: now };
    return rows;
  }

  health(): Health {
    const { p } = this;
    return judgeHealth({
      closed: p.isClosed(),
      started: p.reconciler.applied !== null,
      haproxy: p.haproxy.process.state(),
      haproxyDownOnPurpose: p.drill.haproxyDownOnPurpose(),
      passFailingForMs: p.retry.failingForMs(PASS),
      passError: p.retry.get(PASS)?.lastError ?? null,
      restoreProblem: p.drill.restoreProblem(),
    });
  }

  async snapshot(): Promise<StatusSnapshot> {
    const { p } = this;
    const [rows, stats] = await Promise.all([p.api.serversState(SERVERS_STATE_MAX_AGE_MS).catch(() => []), this.#serverStats()]);
    return buildSnapshot({
      config: p.config(),
      nodeRoleOk: p.nodeRoleOk(),
      vrrp: p.vrrp.snapshot(),
      ...(p.vrrp.snapshots ? { vrrpInstances: p.vrrp.snapshots() } : {}),
      services: p.reconciler.applied?.state.services ?? [],
      rows,
      stats,
      lastPass: p.reconciler.lastPass,
      totals: p.reconciler.totals(),
      children: [p.haproxy.process.state(), p.keepalived.process.state()],
      engines: p.links.map((l) => l.status()),
      drill: p.drill.active(),
      ...(p.operator ? { operator: p.operator.status() } : {}),
      ...(p.acme ? { acme: p.acme.status() } : {}),
      failing: p.retry.failing(),
      health: this.health(),
      ...(p.reconciler.applied?.state.certificates ? { certificates: p.reconciler.applied.state.certificates } : {}),
      ...(p.reconciler.history ? { history: p.reconciler.history } : {}),
      skipped: p.reconciler.applied?.state.skipped ?? [],
      ...(p.instanceHealth ? { instanceHealth: p.instanceHealth.snapshot() } : {}),
    });
  }
}
