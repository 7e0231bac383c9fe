import type { PassRecord, PassTotals } from '../agent/pass-record.js';
import type { FailingItem } from '../agent/retry-policy.js';
import type { ServerStateRow } from '../haproxy/runtime-api.js';
import type { EngineStatus } from '../docker/engine-link.js';
import type { VrrpSnapshot } from '../keepalived/vrrp-monitor.js';
import type { SupervisedState } from '../supervisor/supervised-process.js';

// What /status, /metrics and `vipkeeper status` show. Built from the agent's
// state; holds no secret by construction (no config value that is one).

export type ServerHealth = 'up' | 'down' | 'starting' | 'stopping' | 'drain' | 'maint' | 'unknown';

export interface StatusServer {
  readonly name: string;
  readonly container: string;
  readonly address: string;
  readonly health: ServerHealth;
  /** `active` serves; `backup` is a single-class service's older container (vipkeeper.class). */
  readonly role: 'active' | 'backup';
  /** The backup HAProxy switches to at once when the active server fails. */
  readonly standby: boolean;
}

export interface StatusService {
  readonly name: string;
  readonly backend: string;
  readonly mode: string;
  readonly frontendPort: number;
  /** vipkeeper.class. Optional: an agent from before it knew classes does not send it. */
  readonly memberClass?: 'single' | 'multiple';
  readonly servers: readonly StatusServer[];
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
  readonly vrrp: VrrpSnapshot | null;
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
  readonly drill: { readonly mode: string; readonly since: string } | null;
  /** What is failing now and retried with backoff: passes, a drill restore, ... */
  readonly failing?: readonly FailingItem[];
  /** What /healthz answers. */
  readonly health?: { readonly ok: boolean; readonly reason: string };
}

/** HAProxy's srv_op_state and srv_admin_state -> one word. Pure. */
export function serverHealth(row: ServerStateRow | undefined): ServerHealth {
  if (!row) return 'unknown';
  // Admin bits: 0x01 forced, 0x02 inherited, 0x04 config, 0x20 resolution, 0x40 health maintenance.
  if (row.adminState & 0x67) return 'maint';
  // 0x08 forced drain, 0x10 inherited drain.
  if (row.adminState & 0x18) return 'drain';
  return (['down', 'starting', 'up', 'stopping'] as const)[row.opState] ?? 'unknown';
}
