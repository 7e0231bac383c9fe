// What the read-only operator commands (`vipkeeper show`, `check`, `verify`)
// answer: plain data, sent as JSON over the control socket and printed by the
// CLI as a table, JSON or YAML. Types only; shared by the agent and the CLI.

/** HAProxy's admin state of a server, in one word. */
export type AdminState = 'ready' | 'drain' | 'maint';

/**
 * Who put a server in drain or maint:
 * - docker: Docker is stopping its container, or the container is gone and the agent removes the server;
 * - label: a label of the container asks for it;
 * - operator: `vipkeeper disable`;
 * - class: the service's member class (`vipkeeper.class=single` keeps older members as backups);
 * - other: nothing vipkeeper knows of (the Runtime API or the stats page by hand, or a server being added).
 */
export type AdminSource = 'docker' | 'label' | 'operator' | 'class' | 'other';

/** A server takes traffic (active) or only when every active one is gone (backup). */
export type ServerRole = 'active' | 'backup';

/** HAProxy's own view of a server (its srv_op_state); absent: HAProxy has no such server. */
export type LiveHealth = 'up' | 'down' | 'starting' | 'stopping' | 'absent';

/** Who set an admin state on purpose, when vipkeeper did: filled by the parts that set one (operator overrides, member class). */
export interface AdminNote {
  readonly source: AdminSource;
  readonly reason: string | null;
}

export interface ContainerRef {
  /** The short id (12 hex digits). */
  readonly id: string;
  readonly name: string;
  /** The engine it runs on. */
  readonly engine: string | null;
}

export interface InventoryServer {
  readonly name: string;
  /** null: no container of vipkeeper's is behind it (added by hand, or its container is gone). */
  readonly container: ContainerRef | null;
  /** addr:port as HAProxy has it (as planned when HAProxy lacks the server). */
  readonly address: string;
  readonly weight: number;
  readonly health: LiveHealth;
  /** Health checks are on: without them HAProxy calls a server up as soon as it is enabled. */
  readonly checked: boolean;
  readonly admin: AdminState;
  /** Who set `admin`; null while ready. */
  readonly adminSource: AdminSource | null;
  readonly adminReason: string | null;
  readonly role: ServerRole;
}

export interface InventoryService {
  readonly name: string;
  readonly backend: string;
  readonly mode: 'http' | 'tcp';
  readonly frontend: { readonly port: number; readonly hosts: readonly string[]; readonly path: string | null };
  readonly balance: string;
  /** vipkeeper.allow, rate-limit, proxy-protocol, forwarded; absent when all are at their defaults. */
  readonly access?: { readonly allow: readonly string[] | null; readonly rateLimit: number | null; readonly proxyProtocol: 'v1' | 'v2' | null; readonly forwarded: boolean };
  readonly servers: readonly InventoryServer[];
}

export interface ShowAnswer {
  readonly services: readonly InventoryService[];
}

/** Why a container is or is not balanced. */
export type CheckVerdict =
  | 'balanced'
  | 'unknown'
  | 'ambiguous'
  | 'not-running'
  | 'no-role'
  | 'rejected'
  | 'skipped'
  | 'not-served'
  | 'down'
  | 'disabled';

export interface CheckResult {
  /** What was asked: a name or an id prefix. */
  readonly query: string;
  readonly ok: boolean;
  readonly verdict: CheckVerdict;
  /** One sentence. */
  readonly reason: string;
  readonly container: ContainerRef | null;
  readonly service: string | null;
  /** backend/server. */
  readonly server: string | null;
  readonly health: LiveHealth | null;
  readonly admin: AdminState | null;
  /** The containers an ambiguous query matches. */
  readonly matches: readonly ContainerRef[];
}

export interface EngineAnswer {
  readonly name: string;
  readonly ok: boolean;
  readonly error: string | null;
}

export interface CheckAnswer {
  readonly ok: boolean;
  readonly results: readonly CheckResult[];
  readonly engines: readonly EngineAnswer[];
}

export interface UnbackedServer {
  readonly backend: string;
  readonly server: string;
  readonly address: string;
  readonly admin: AdminState;
  /** The container vipkeeper put behind it, when there was one. */
  readonly container: ContainerRef | null;
  readonly reason: string;
}

export interface UnservedContainer {
  readonly container: ContainerRef;
  readonly service: string | null;
  readonly reason: string;
}

export interface VerifyAnswer {
  readonly ok: boolean;
  readonly engines: readonly EngineAnswer[];
  /** Servers HAProxy has in vipkeeper's backends. */
  readonly servers: number;
  /** Labelled running containers the engines list now. */
  readonly containers: number;
  readonly unbacked: readonly UnbackedServer[];
  readonly unserved: readonly UnservedContainer[];
}
