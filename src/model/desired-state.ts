import { DOCKER_NAME, IPV4 } from '../config/patterns.js';
import {
  type CheckSettings,
  type LabelProblem,
  type LabelResult,
  type MemberClass,
  parseLabels,
  type ServerLabels,
  type ServiceLabels,
  showUntrusted,
  type TlsLabels,
} from '../labels/parse-labels.js';
import type { CertEntry } from '../tls/cert-inventory.js';
import type { ContainerInfo } from './container.js';
import { chooseMembers, healthyEnough, type MemberRole } from './member-roles.js';

// Containers -> the whole desired state: which services exist, which servers
// they hold, and which containers were skipped and why. Pure and
// deterministic: the same containers in any order give the same state.

export interface SelectionSettings {
  readonly roleLabel: string;
  readonly backendRole: string;
  readonly frontendPort: number;
  readonly publishedHost: string | null;
}

/** A server's admin state in HAProxy: taking requests, draining (no new ones), or in maintenance. */
export type AdminState = 'ready' | 'drain' | 'maint';
/** Who wants a server in a state other than ready (the member class may add its own). */
export type AdminSource = 'operator';

/** An operator's wish for one container's server (`vipkeeper disable`), keyed by container id. */
export interface AdminOverride {
  readonly admin: Exclude<AdminState, 'ready'>;
  readonly reason: string | null;
}

export interface Server {
  /** HAProxy server name: the container name when it is a safe word, else c-<id>; unique across the whole state. */
  readonly name: string;
  readonly containerId: string;
  readonly containerName: string;
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  readonly maxconn: number | null;
  /** Absent: ready. Every pass brings HAProxy's admin state to this (a reload keeps maint and drain out too). */
  readonly admin?: AdminState;
  /** Who set `admin` when it is not ready, and why. */
  readonly adminSource?: AdminSource;
  readonly adminReason?: string | null;
  /** The engine its container runs on, when several engines are read (as ContainerInfo.engine). */
  readonly engine?: string;
  /**
   * `active`: it serves. `backup`: a single-class service's older container, kept as an
   * HAProxy backup. Every server of a `multiple` service is active.
   */
  readonly role: MemberRole;
  /** The backup HAProxy sends the traffic to at once when the active server fails (single class only). */
  readonly standby: boolean;
}

/** A server's wanted admin state (absent means ready). Pure. */
export const adminOf = (s: Pick<Server, 'admin'>): AdminState => s.admin ?? 'ready';

export interface Service {
  readonly name: string;
  readonly mode: 'http' | 'tcp';
  readonly frontendPort: number;
  readonly hosts: readonly string[];
  readonly path: string | null;
  readonly balance: ServiceLabels['balance'];
  /** vipkeeper.class: `single` serves one container at a time, the others are backups. */
  readonly memberClass: MemberClass;
  readonly check: CheckSettings;
  /** vipkeeper.tls, vipkeeper.tls.redirect, vipkeeper.tls.hsts. */
  readonly tls: TlsLabels;
  readonly servers: readonly Server[];
}

export interface SkippedContainer {
  readonly containerId: string;
  readonly containerName: string;
  /** One sentence naming the rule that was broken. */
  readonly reason: string;
  readonly problems: readonly LabelProblem[];
}

export interface LabelNotice {
  readonly containerName: string;
  readonly message: string;
}

export interface DesiredState {
  readonly services: readonly Service[];
  readonly skipped: readonly SkippedContainer[];
  /** Not fatal, worth a warning: unknown vipkeeper.* labels. */
  readonly notices: readonly LabelNotice[];
  /** The certificates directory as judged for this plan (absent: not read, no HTTPS). */
  readonly certificates?: readonly CertEntry[];
}

export const COMPOSE_ONEOFF_LABEL = 'com.docker.compose.oneoff';

/** Is this container one we should serve at all (before its labels are judged)? */
export function isCandidate(c: ContainerInfo, s: SelectionSettings): boolean {
  return c.running && c.labels[s.roleLabel] === s.backendRole && c.labels[COMPOSE_ONEOFF_LABEL] !== 'True';
}

interface Accepted {
  readonly container: ContainerInfo;
  readonly service: ServiceLabels;
  readonly server: Server;
}

const byAge = (a: ContainerInfo, b: ContainerInfo) => a.created - b.created || cmp(a.id, b.id);
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export interface SelectionContext {
  /** Containers Docker is stopping (kill/stop seen, not dead yet): drained, never served again. */
  readonly stopping?: ReadonlySet<string>;
  /** Operator overrides by container id: the server stays in the state, drained or in maintenance. */
  readonly operator?: ReadonlyMap<string, AdminOverride>;
  /** Containers an operator disabled: never the active or standby server of a single-class service. */
  readonly disabled?: ReadonlySet<string>;
}

export function buildDesiredState(
  containers: readonly ContainerInfo[],
  settings: SelectionSettings,
  context: SelectionContext = {},
): DesiredState {
  const skipped: SkippedContainer[] = [];
  const notices: LabelNotice[] = [];
  const accepted: Accepted[] = [];
  const names = new Map<string, ContainerInfo>();
  const skip = (c: ContainerInfo, reason: string, problems: readonly LabelProblem[] = []) =>
    skipped.push({ containerId: c.id, containerName: c.name, reason, problems });

  // Oldest first: when containers disagree, the one that was there first keeps its claim,
  // so a newcomer can never take a running service's port or settings away.
  for (const c of [...containers].filter((c) => isCandidate(c, settings)).sort(byAge)) {
    const parsed = parsedLabels(c.labels, settings);
    if (!parsed.ok) {
      skip(
        c,
        parsed.problems.map((p) => `label ${p.label}=${p.shownValue} breaks the rule: ${p.rule}`).join('; '),
        parsed.problems,
      );
      continue;
    }
    for (const u of parsed.labels.unknown) {
      notices.push({
        containerName: c.name,
        message: `unknown label ${showUntrusted(u.label)}${u.closest ? `; did you mean ${u.closest}?` : ''}`,
      });
    }
    const { server: serverLabels, service } = parsed.labels;
    if (context.stopping?.has(c.id) || c.stopping === true) {
      skip(c, 'Docker is stopping it: drained, requests in flight finish, no new ones');
      continue;
    }
    if (serverLabels.dockerHealth === 'respect' && (c.health === 'starting' || c.health === 'unhealthy')) {
      skip(c, `Docker healthcheck is ${c.health}: served once healthy (vipkeeper.docker-health=ignore serves it anyway)`);
      continue;
    }
    const endpoint = resolveEndpoint(c, serverLabels, settings);
    if ('problem' in endpoint) {
      skip(c, endpoint.problem);
      continue;
    }
    // Server names are unique across every backend by construction: a name is claimed
    // oldest first, so a newcomer can never rename or displace a running server. A clash
    // (a container named like another's c-<id> fallback, engine-qualified names that meet)
    // leaves out only the newer container; haproxy -c would refuse the whole file otherwise.
    const name = serverName(c);
    const holder = names.get(name);
    if (holder) {
      skip(c, `its server name ${name} is already taken by the older container ${who(holder)}, so ${who(c)} is left out: rename one of them`);
      continue;
    }
    names.set(name, c);
    const override = context.operator?.get(c.id);
    accepted.push({
      container: c,
      service,
      server: {
        name,
        containerId: c.id,
        containerName: c.name,
        address: endpoint.address,
        port: endpoint.port,
        weight: serverLabels.weight,
        maxconn: serverLabels.maxconn,
        role: 'active',
        standby: false,
        ...(override ? { admin: override.admin, adminSource: 'operator' as const, adminReason: override.reason } : {}),
        ...(c.engine ? { engine: c.engine } : {}),
      },
    });
  }

  // Group into services; the oldest container defines the service-level settings.
  const groups = new Map<string, { settings: ServiceLabels; owner: ContainerInfo; members: Accepted[] }>();
  for (const a of accepted) {
    const group = groups.get(a.service.service);
    if (!group) {
      groups.set(a.service.service, { settings: a.service, owner: a.container, members: [a] });
      continue;
    }
    const differs = serviceDifference(group.settings, a.service);
    if (differs) {
      skip(
        a.container,
        `its ${differs.label} (${differs.mine}) disagrees with ${differs.theirs} set by ${group.owner.name}, the oldest container of service ${a.service.service}`,
      );
      continue;
    }
    // The member class changes no HAProxy structure, so a container that disagrees is
    // still served (under the owner's class) rather than skipped: a blue/green switch to
    // a new class then never leaves the service without servers.
    if (a.service.memberClass !== group.settings.memberClass) {
      notices.push({
        containerName: a.container.name,
        message: `its vipkeeper.class (${a.service.memberClass}) disagrees with ${group.settings.memberClass} set by ${group.owner.name}, the oldest container of service ${a.service.service}: it is served as ${group.settings.memberClass}`,
      });
    }
    group.members.push(a);
  }

  // Frontend ports: services sharing one must be told apart by host/path rules (HTTP only).
  const services: Service[] = [];
  const claims = new Map<number, { service: ServiceLabels; owner: ContainerInfo }[]>();
  const ordered = [...groups.values()].sort((a, b) => byAge(a.owner, b.owner));
  for (const group of ordered) {
    const s = group.settings;
    const onPort = claims.get(s.frontendPort) ?? [];
    const clash = onPort.find((other) => conflictReason(other.service, s) !== null);
    if (clash) {
      const why = conflictReason(clash.service, s)!;
      for (const m of group.members) {
        skip(
          m.container,
          `service ${s.service} conflicts with service ${clash.service.service} (of ${clash.owner.name}) on frontend port ${s.frontendPort}: ${why}`,
        );
      }
      continue;
    }
    onPort.push({ service: s, owner: group.owner });
    claims.set(s.frontendPort, onPort);
    const members = withRoles(s, group.members, new Set([...(context.disabled ?? []), ...(context.operator?.keys() ?? [])]));
    notices.push(...members.notices);
    services.push(toService(s, members.servers));
  }

  // The default pool always exists, even empty, so its frontend answers (503) and
  // keepalived sees haproxy listening, unless another service took its port.
  if (!groups.has(settings.backendRole) && !claims.has(settings.frontendPort)) {
    const defaults = parseLabels({}, { service: settings.backendRole, frontendPort: settings.frontendPort });
    if (defaults.ok) services.push(toService(defaults.labels.service, []));
  }

  services.sort((a, b) => cmp(a.name, b.name));
  skipped.sort((a, b) => cmp(a.containerName, b.containerName) || cmp(a.containerId, b.containerId));
  notices.sort((a, b) => cmp(a.containerName, b.containerName) || cmp(a.message, b.message));
  return { services, skipped, notices };
}

/**
 * parseLabels, remembered per labels object: the engine link hands in the same container
 * objects pass after pass for containers without events, so at 1000 backends a pass parses
 * the labels of the one that changed, not all 1000 (a third of this function's time).
 * Results are never changed, so sharing them keeps this pure.
 */
const parsedByLabels = new WeakMap<object, { readonly service: string; readonly frontendPort: number; readonly result: LabelResult }>();

function parsedLabels(labels: ContainerInfo['labels'], settings: SelectionSettings): LabelResult {
  const known = parsedByLabels.get(labels);
  if (known && known.service === settings.backendRole && known.frontendPort === settings.frontendPort) return known.result;
  const result = parseLabels(labels, { service: settings.backendRole, frontendPort: settings.frontendPort });
  parsedByLabels.set(labels, { service: settings.backendRole, frontendPort: settings.frontendPort, result });
  return result;
}

/** A container in a reason: its name, quoted because it is untrusted, and its short id. */
const who = (c: ContainerInfo) => `${showUntrusted(c.name)} (${c.id.slice(0, 12)})`;

/** HAProxy server name: the container name (qualified by its engine when there are several), or c-<id> when that is no safe word. */
export function serverName(c: ContainerInfo): string {
  const qualified = c.engine ? `${c.engine}_${c.name}` : c.name;
  if (DOCKER_NAME.test(qualified) && qualified.length <= 64) return qualified;
  return c.engine && DOCKER_NAME.test(c.engine) && c.engine.length <= 48 ? `${c.engine}_c-${c.id.slice(0, 12)}` : `c-${c.id.slice(0, 12)}`;
}

/**
 * Roles of a service's servers: all active for `multiple`; for `single` the chosen
 * container is active, the others backups, the next in line the standby.
 */
function withRoles(s: ServiceLabels, members: readonly Accepted[], disabled: ReadonlySet<string> = new Set()): { servers: Server[]; notices: LabelNotice[] } {
  if (s.memberClass === 'multiple') return { servers: members.map((m) => m.server), notices: [] };
  const choice = chooseMembers(
    members.map((m) => m.container),
    disabled,
  );
  const notices: LabelNotice[] = [];
  const active = members.find((m) => m.container.id === choice.active);
  if (active && !healthyEnough(active.container)) {
    notices.push({
      containerName: active.container.name,
      message: `service ${s.service} (vipkeeper.class=single) has no healthy container: ${who(active.container)} serves although its Docker healthcheck is ${active.container.health} (vipkeeper.docker-health=ignore)`,
    });
  }
  if (!active && members.length > 0) {
    notices.push({
      containerName: members[0]!.container.name,
      message: `service ${s.service} (vipkeeper.class=single): every container is disabled by an operator, so none serves`,
    });
  }
  const servers = members.map((m): Server => ({
    ...m.server,
    role: m.container.id === choice.active ? 'active' : 'backup',
    standby: m.container.id === choice.standby,
  }));
  return { servers, notices };
}

function toService(s: ServiceLabels, servers: readonly Server[]): Service {
  return {
    name: s.service,
    mode: s.mode,
    frontendPort: s.frontendPort,
    hosts: s.hosts,
    path: s.path,
    balance: s.balance,
    memberClass: s.memberClass,
    check: s.check,
    tls: s.tls,
    servers: [...servers].sort((a, b) => cmp(a.name, b.name) || cmp(a.containerId, b.containerId)),
  };
}

/** Why two services cannot share a frontend port, or null when they can. */
export function conflictReason(a: ServiceLabels, b: ServiceLabels): string | null {
  if (a.frontendPort !== b.frontendPort) return null;
  if (a.mode === 'tcp' || b.mode === 'tcp') {
    return 'a TCP service needs a frontend port of its own (set vipkeeper.frontend.port)';
  }
  const sameHosts = a.hosts.join(',') === b.hosts.join(',');
  if (sameHosts && a.path === b.path) {
    return a.hosts.length === 0 && a.path === null
      ? 'neither has a vipkeeper.host or vipkeeper.path rule to tell their requests apart'
      : 'both have the same vipkeeper.host and vipkeeper.path rules';
  }
  return null;
}

function serviceDifference(
  owner: ServiceLabels,
  mine: ServiceLabels,
): { label: string; mine: string; theirs: string } | null {
  const fields: [string, unknown, unknown][] = [
    ['vipkeeper.mode', owner.mode, mine.mode],
    ['vipkeeper.frontend.port', owner.frontendPort, mine.frontendPort],
    ['vipkeeper.host', owner.hosts.join(','), mine.hosts.join(',')],
    ['vipkeeper.path', owner.path, mine.path],
    ['vipkeeper.balance', owner.balance, mine.balance],
    ['vipkeeper.check', owner.check.enabled, mine.check.enabled],
    ['vipkeeper.check.path', owner.check.path, mine.check.path],
    ['vipkeeper.check.interval', owner.check.interval, mine.check.interval],
    ['vipkeeper.check.rise', owner.check.rise, mine.check.rise],
    ['vipkeeper.check.fall', owner.check.fall, mine.check.fall],
    ['vipkeeper.tls', owner.tls.enabled, mine.tls.enabled],
    ['vipkeeper.tls.redirect', owner.tls.redirect, mine.tls.redirect],
    ['vipkeeper.tls.hsts', owner.tls.hsts, mine.tls.hsts],
    ['vipkeeper.acme', owner.tls.acme ?? null, mine.tls.acme ?? null],
  ];
  for (const [label, theirs, own] of fields) {
    if (theirs !== own) return { label, mine: show(own), theirs: show(theirs) };
  }
  return null;
}

const show = (v: unknown) => (v === null || v === '' ? '(unset)' : String(v));

const ANY_ADDRESS = new Set(['', '0.0.0.0', '::']);

/** Where HAProxy reaches a container: its network address, or a published port. */
export function resolveEndpoint(
  c: ContainerInfo,
  labels: ServerLabels,
  settings: SelectionSettings,
): { address: string; port: number } | { problem: string } {
  let port = labels.port;
  if (port === null) {
    const exposed = [...new Set(c.exposedTcpPorts)].sort((a, b) => a - b);
    if (exposed.length !== 1) {
      return {
        problem:
          exposed.length === 0
            ? 'it exposes no TCP port: set vipkeeper.port'
            : `it exposes ${exposed.length} TCP ports (${exposed.join(', ')}): set vipkeeper.port to choose one`,
      };
    }
    port = exposed[0]!;
  }

  if (labels.network !== null) {
    const net = c.networks.find((n) => n.network === labels.network);
    if (!net) {
      const names = c.networks.map((n) => n.network).join(', ') || 'none';
      return { problem: `vipkeeper.network=${showUntrusted(labels.network)}: the container is not in that network (it is in: ${names})` };
    }
    if (!IPV4.test(net.ip)) return { problem: `it has no IPv4 address in network ${labels.network}` };
    return { address: net.ip, port };
  }

  const bindings = c.bindings.filter((b) => b.privatePort === port && b.protocol === 'tcp' && b.hostPort > 0);
  // docker-proxy listens on both families for an unspecific binding; prefer the IPv4 entry.
  const binding = bindings.find((b) => IPV4.test(b.hostIp)) ?? bindings.find((b) => ANY_ADDRESS.has(b.hostIp));
  if (!binding) {
    return {
      problem:
        bindings.length > 0
          ? `port ${port}/tcp is published only on an IPv6 address, which is not supported yet`
          : `port ${port}/tcp is not published (docker run -p ${port}); publish it or set vipkeeper.network`,
    };
  }
  const specific = !ANY_ADDRESS.has(binding.hostIp);
  if (c.publishedHost) {
    // Another host's engine: a specific binding address is where the port listens there,
    // except loopback, which no other host reaches; else the engine's advertised address.
    if (binding.hostIp.startsWith('127.')) {
      return { problem: `port ${port}/tcp is published only on ${binding.hostIp} of its host, which the load balancer cannot reach` };
    }
    return { address: specific ? binding.hostIp : c.publishedHost, port: binding.hostPort };
  }
  const address = settings.publishedHost ?? (specific ? binding.hostIp : '127.0.0.1');
  return { address, port: binding.hostPort };
}
