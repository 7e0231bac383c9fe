import type { AcmeStatus } from '../acme/acme-manager.js';
import type { PassRecord, PassTotals } from '../agent/pass-record.js';
import type { FailingItem } from '../agent/retry-policy.js';
import type { ServerStateRow } from '../haproxy/runtime-api.js';
import { haproxyAdmin } from '../haproxy/server-changes.js';
import type { EngineStatus } from '../docker/engine-link.js';
import type { VrrpSnapshot } from '../keepalived/vrrp-monitor.js';
import type { AdminSource, AdminState } from '../model/desired-state.js';
import type { OperatorStatus } from '../operator/operator-state.js';
import type { SupervisedState } from '../supervisor/supervised-process.js';

// What /status, /metrics and `vipkeeper status` show. Built from the agent's
// state; holds no secret by construction (no config value that is one).

export type ServerHealth = 'up' | 'down' | 'starting' | 'stopping' | 'drain' | 'maint' | 'unknown';

export interface StatusServer {
  readonly name: string;
  readonly container: string;
  readonly address: string;
  readonly health: ServerHealth;
  /** Set when something other than Docker wants it drained or in maintenance (an operator). */
  readonly adminSource?: AdminSource;
  readonly admin?: AdminState;
  readonly adminReason?: string | null;
  /** `active` serves; `backup` is a single-class service's older container (vipkeeper.class). */
  readonly role: 'active' | 'backup';
  /** The backup HAProxy switches to at once when the active server fails. */
  readonly standby: boolean;
  /** The container's name (untrusted: from Docker). Optional: older agents do not send it. */
  readonly containerName?: string;
  /** The engine its container runs on, when several engines are read. */
  readonly engine?: string;
  /** HAProxy's weight for it now (show servers state). */
  readonly weight?: number;
  /** Current sessions (show stat scur). */
  readonly sessions?: number;
  /** Sessions per second over the last second (show stat rate); in HTTP mode one per request. */
  readonly rate?: number;
}

export interface StatusService {
  readonly name: string;
  readonly backend: string;
  readonly mode: string;
  readonly frontendPort: number;
  /** vipkeeper.class. Optional: an agent from before it knew classes does not send it. */
  readonly memberClass?: 'single' | 'multiple';
  /** Host names and path its frontend routes by (http). */
  readonly hosts?: readonly string[];
  readonly path?: string | null;
  /** vipkeeper.vip: the addresses its frontend binds (absent: every address). */
  readonly vip?: { readonly instances: readonly string[]; readonly addresses: readonly string[] };
  readonly servers: readonly StatusServer[];
}

/** One file of the certificates directory as the live plan judged it. Never key material. */
export interface StatusCertificate {
  readonly file: string;
  readonly state: 'ok' | 'refused';
  readonly names?: readonly string[];
  readonly notAfter?: string;
  readonly secondsLeft?: number;
  readonly reason?: string;
}

/** One VRRP instance as /status shows it. */
export interface StatusInstance {
  /** The operator's name (`web`), `default` without VIPKEEPER_INSTANCES. */
  readonly name: string;
  /** keepalived's vrrp_instance name: the `instance` label of the metrics. */
  readonly keepalivedName: string;
  readonly interface: string;
  readonly vips: readonly string[];
  readonly virtualRouterId: number;
  readonly priority: number;
  readonly nopreempt: boolean;
  readonly advertInt: number;
  /** null while the node does not take part (node role missing). */
  readonly vrrp: VrrpSnapshot | null;
  /**
   * Its vipkeeper.vip services on this node (several instances only): unhealthy drops its
   * priority here. Optional: absent before the first look, and from older agents.
   */
  readonly health?: { readonly healthy: boolean; readonly problems: readonly string[] };
}

export interface StatusSnapshot {
  readonly node: {
    readonly routerId: string;
    readonly interface: string;
    readonly vips: readonly string[];
    readonly frontendPort: number;
    readonly nodeRole: { readonly required: string | null; readonly present: boolean };
    readonly vrrpSettings: {
      readonly virtualRouterId: number;
      readonly priority: number;
      readonly nopreempt: boolean;
      readonly advertInt: number;
      readonly version: number;
    };
  };
  /** The first instance's VRRP state (the only one without VIPKEEPER_INSTANCES). */
  readonly vrrp: VrrpSnapshot | null;
  /** Every VRRP instance, settings and state. Optional: an agent from before instances does not send it. */
  readonly instances?: readonly StatusInstance[];
  readonly services: readonly StatusService[];
  readonly lastPass: PassRecord | null;
  readonly passes: PassTotals;
  readonly children: readonly SupervisedState[];
  readonly docker: {
    /** This node's own engine (the node role gate). */
    readonly endpoint: string;
    /** Some source of backends answers. */
    readonly connected: boolean;
    readonly lastEventAt: string | null;
    /** Every source of backends: an engine each, or the swarm. */
    readonly engines: readonly EngineStatus[];
  };
  /** `instance`: the VRRP instance a `drill --instance` gives up. */
  readonly drill: { readonly mode: string; readonly since: string; readonly instance?: string } | null;
  /** What operators asked of this node (vipkeeper disable, maintenance), and whether the state file could be read. */
  readonly operator?: OperatorStatus;
  /** What is failing now and retried with backoff: passes, a drill restore, ... */
  readonly failing?: readonly FailingItem[];
  /** What /healthz answers. */
  readonly health?: { readonly ok: boolean; readonly reason: string };
  /** HTTPS: the certificates directory as the live plan judged it (absent: HTTPS is off). */
  readonly certificates?: readonly StatusCertificate[];
  /** ACME (when on): each host's certificate state, failures and their reason, names refused. */
  readonly acme?: AcmeStatus;
  /** The last passes, oldest first (lastPass is the last of them). */
  readonly recentPasses?: readonly PassRecord[];
  /** Candidate containers not served, and why (their labels broke a rule). */
  readonly skipped?: readonly StatusSkipped[];
}

export interface StatusSkipped {
  readonly containerName: string;
  readonly container: string;
  readonly reason: string;
}

/** HAProxy's srv_op_state and srv_admin_state -> one word. Pure. */
export function serverHealth(row: ServerStateRow | undefined): ServerHealth {
  if (!row) return 'unknown';
  // 0x04 alone (disabled in the file, enabled since over the admin socket) serves: see haproxyAdmin.
  const admin = haproxyAdmin(row.adminState);
  if (admin !== 'ready') return admin;
  return (['down', 'starting', 'up', 'stopping'] as const)[row.opState] ?? 'unknown';
}
