import { backend6AddressProblem, canonicalIpv6, DOCKER_NAME, IPV4, isIpv6Address, isIpv6Loopback } from '../config/patterns.js';
import {
  type CheckSettings,
  type ClientLabels,
  type LabelProblem,
  type MemberClass,
  parseLabels,
  type ServerLabels,
  type ServiceLabels,
  showUntrusted,
  type Sticky,
  type TlsLabels,
  type VipLabel,
} from '../labels/parse-labels.js';
import { type DefinitionsResult, parseDefinitions } from '../labels/definitions.js';
import { nginxProxyLabels, wantsNginxProxy } from '../labels/nginx-proxy.js';
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
  /** The VRRP instances and their VIPs: what vipkeeper.vip may name (none: every such label is refused). */
  readonly instances?: readonly InstanceVips[];
  /** VIPKEEPER_LABEL_PREFIX without the dot; absent: `vipkeeper`. */
  readonly labelPrefix?: string;
  /** VIPKEEPER_COMPAT: also serve containers by nginx-proxy's variables; absent or null: off. */
  readonly compat?: 'nginx-proxy' | null;
}

/** One VRRP instance as vipkeeper.vip sees it: its name and its VIPs (IPv6 written canonically). */
export interface InstanceVips {
  readonly name: string;
  readonly virtualIps: readonly { readonly address: string }[];
}

/**
 * Where a service's frontend listens when vipkeeper.vip names an instance or an address:
 * checked against the instances before anything else sees it.
 */
export interface FrontendBind {
  /** The frontend's name part: the instance's name, or the address with `_` for `.` and `:` when it is one of several VIPs. */
  readonly name: string;
  /** Instances whose VIPs it listens on (the named one, or the one holding the address). */
  readonly instances: readonly string[];
  /** The addresses to listen on, sorted: one frontend per port and address set. */
  readonly addresses: readonly string[];
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
  /** The named definition it serves (`vipkeeper.NAME.port`); absent: the unnamed one. */
  readonly definition?: string;
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
  /** vipkeeper.vip, resolved: the addresses its frontend binds; null: every address. */
  readonly bind: FrontendBind | null;
  readonly hosts: readonly string[];
  readonly path: string | null;
  readonly balance: ServiceLabels['balance'];
  /** vipkeeper.class: `single` serves one container at a time, the others are backups. */
  readonly memberClass: MemberClass;
  readonly check: CheckSettings;
  /** vipkeeper.tls, vipkeeper.tls.redirect, vipkeeper.tls.hsts. */
  readonly tls: TlsLabels;
  /** vipkeeper.sticky: a stick table by cookie or source address (absent: none). */
  readonly sticky?: Sticky;
  /** Client address and access: PROXY protocol, X-Forwarded-*, allow list, rate limit. */
  readonly clients: ClientLabels;
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
  if (!c.running || c.labels[COMPOSE_ONEOFF_LABEL] === 'True') return false;
  // nginx-proxy needs no role label: VIRTUAL_HOST is the whole contract.
  return c.labels[s.roleLabel] === s.backendRole || (s.compat === 'nginx-proxy' && wantsNginxProxy(c.env));
}

interface Accepted {
  readonly container: ContainerInfo;
  readonly definition: string | null;
  readonly service: ServiceLabels;
  readonly bind: FrontendBind | null;
  readonly server: Server;
}

/** The label's text as written (canonical for IPv6), for reasons and comparisons. */
export const vipText = (v: VipLabel | null): string | null => (v === null ? null : v.kind === 'instance' ? v.name : v.address);

/** The frontend's name part for an address: `198_18_0_10`, `2001_db8__10`. */
const addressName = (address: string) => address.replace(/[.:]/g, '_');

/**
 * vipkeeper.vip against the instances: the addresses to bind, or the problem (an instance
 * that does not exist, an address that is no instance's VIP). Pure.
 */
export function resolveVip(vip: VipLabel, instances: readonly InstanceVips[], prefix = 'vipkeeper'): { bind: FrontendBind } | { problem: LabelProblem } {
  const known = instances.map((i) => i.name).join(', ') || 'none';
  if (vip.kind === 'instance') {
    const inst = instances.find((i) => i.name === vip.name);
    if (!inst) return { problem: { label: `${prefix}.vip`, shownValue: showUntrusted(vip.name), rule: `an instance of VIPKEEPER_INSTANCES (here: ${known})` } };
    const addresses = [...new Set(inst.virtualIps.map((v) => v.address))].sort();
    return { bind: { name: inst.name, instances: [inst.name], addresses } };
  }
  const holders = instances.filter((i) => i.virtualIps.some((v) => v.address === vip.address));
  if (holders.length === 0) {
    const vips = instances.flatMap((i) => i.virtualIps.map((v) => v.address));
    return {
      problem: {
        label: `${prefix}.vip`,
        shownValue: showUntrusted(vip.address),
        rule: `a VIP of an instance (here: ${vips.join(', ') || 'none'}); other addresses are refused, not bound`,
      },
    };
  }
  // The one VIP of an instance is that instance: both spellings make the same frontend.
  const only = holders.length === 1 && new Set(holders[0]!.virtualIps.map((v) => v.address)).size === 1;
  return { bind: { name: only ? holders[0]!.name : addressName(vip.address), instances: holders.map((h) => h.name).sort(), addresses: [vip.address] } };
}

/** One frontend per port and address set: `*` is every address. */
export const bindKey = (b: FrontendBind | null): string => (b === null ? '*' : b.addresses.join(','));

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
  const services: Service[] = [];
  const accepted: Accepted[] = [];
  const names = new Map<string, ContainerInfo>();
  const skip = (c: ContainerInfo, reason: string, problems: readonly LabelProblem[] = []) =>
    skipped.push({ containerId: c.id, containerName: c.name, reason, problems });

  // Oldest first: when containers disagree, the one that was there first keeps its claim,
  // so a newcomer can never take a running service's port or settings away.
  candidates: for (const c of [...containers].filter((c) => isCandidate(c, settings)).sort(byAge)) {
    const parsed = parsedDefinitions(c, settings);
    if (!parsed.ok) {
      skip(
        c,
        parsed.problems
          .map((p) => `${p.source === 'env' ? 'environment variable' : 'label'} ${p.label}=${p.shownValue} breaks the rule: ${p.rule}`)
          .join('; '),
        parsed.problems,
      );
      continue;
    }
    for (const u of parsed.unknown) {
      notices.push({
        containerName: c.name,
        message: `unknown label ${showUntrusted(u.label)}${u.closest ? `; did you mean ${u.closest}?` : ''}`,
      });
    }
    for (const message of parsed.notices) notices.push({ containerName: c.name, message });
    if (context.stopping?.has(c.id) || c.stopping === true) {
      skip(c, 'Docker is stopping it: drained, requests in flight finish, no new ones');
      continue;
    }
    // All of a container's definitions, or none: one that cannot be served leaves the container out.
    const mine: Accepted[] = [];
    const claimed: string[] = [];
    for (const def of parsed.definitions) {
      const { server: serverLabels, service } = def.labels;
      const of = def.name === null ? '' : `definition ${def.name}: `;
      let bind: FrontendBind | null = null;
      if (service.vip !== null) {
        const resolved = resolveVip(service.vip, settings.instances ?? [], settings.labelPrefix);
        if ('problem' in resolved) {
          const p = resolved.problem;
          skip(c, `${of}label ${p.label}=${p.shownValue} breaks the rule: ${p.rule}`, [p]);
          continue candidates;
        }
        bind = resolved.bind;
      }
      if (serverLabels.dockerHealth === 'respect' && (c.health === 'starting' || c.health === 'unhealthy')) {
        skip(c, `Docker healthcheck is ${c.health}: served once healthy (${labelKey(settings, 'docker-health')}=ignore serves it anyway)`);
        continue candidates;
      }
      const endpoint = resolveEndpoint(c, serverLabels, settings);
      if ('problem' in endpoint) {
        skip(c, `${of}${endpoint.problem}`);
        continue candidates;
      }
      // Server names are unique across every backend by construction: a name is claimed
      // oldest first, so a newcomer can never rename or displace a running server. A clash
      // (a container named like another's c-<id> fallback, engine-qualified names that meet)
      // leaves out only the newer container; haproxy -c would refuse the whole file otherwise.
      const name = serverName(c, def.name);
      const holder = names.get(name);
      if (holder || claimed.includes(name)) {
        skip(c, `its server name ${name} is already taken by the older container ${who(holder ?? c)}, so ${who(c)} is left out: rename one of them`);
        continue candidates;
      }
      claimed.push(name);
      const override = context.operator?.get(c.id);
      mine.push({
        container: c,
        definition: def.name,
        service,
        bind,
        server: {
          name,
          containerId: c.id,
          containerName: c.name,
          ...(def.name !== null ? { definition: def.name } : {}),
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
    for (const n of claimed) names.set(n, c);
    accepted.push(...mine);
  }

  // A container's definitions are served all or none ("never half-applied"): when one of
  // them collides with another service, the container is left out and the services are
  // formed again without it, until no container is half in.
  let pool = accepted;
  const leftOut = new Map<string, string[]>();
  for (;;) {
    const round = formServices(pool, settings, context);
    const served = new Set(round.services.flatMap((s) => s.servers.map((v) => v.containerId)));
    const half = new Set(round.skipped.filter((k) => served.has(k.containerId)).map((k) => k.containerId));
    if (half.size === 0) {
      skipped.push(...round.skipped);
      notices.push(...round.notices);
      for (const [id, reasons] of leftOut) {
        const c = accepted.find((a) => a.container.id === id)!.container;
        skip(c, `${reasons.join('; ')}; so none of its definitions is served`);
      }
      services.push(...round.services);
      break;
    }
    for (const k of round.skipped) if (half.has(k.containerId)) leftOut.set(k.containerId, [...(leftOut.get(k.containerId) ?? []), k.reason]);
    pool = pool.filter((a) => !half.has(a.container.id));
  }

  services.sort((a, b) => cmp(a.name, b.name));
  // One entry per container: a container whose definitions were refused for several reasons gets them all.
  const merged = new Map<string, SkippedContainer>();
  for (const k of skipped) {
    const was = merged.get(k.containerId);
    merged.set(k.containerId, was ? { ...was, reason: `${was.reason}; ${k.reason}`, problems: [...was.problems, ...k.problems] } : k);
  }
  const skippedOnce = [...merged.values()].sort((a, b) => cmp(a.containerName, b.containerName) || cmp(a.containerId, b.containerId));
  notices.sort((a, b) => cmp(a.containerName, b.containerName) || cmp(a.message, b.message));
  return { services, skipped: skippedOnce, notices };
}

/** Accepted definitions -> services, and the definitions left out by service or frontend-port conflicts. Pure. */
function formServices(
  accepted: readonly Accepted[],
  settings: SelectionSettings,
  context: SelectionContext,
): { services: Service[]; skipped: SkippedContainer[]; notices: LabelNotice[] } {
  const skipped: SkippedContainer[] = [];
  const notices: LabelNotice[] = [];
  const skip = (a: Accepted, reason: string) =>
    skipped.push({ containerId: a.container.id, containerName: a.container.name, reason: `${a.definition === null ? '' : `definition ${a.definition}: `}${reason}`, problems: [] });

  // Group into services; the oldest container defines the service-level settings.
  const groups = new Map<string, { settings: ServiceLabels; bind: FrontendBind | null; owner: ContainerInfo; members: Accepted[] }>();
  for (const a of accepted) {
    const group = groups.get(a.service.service);
    if (!group) {
      groups.set(a.service.service, { settings: a.service, bind: a.bind, owner: a.container, members: [a] });
      continue;
    }
    const differs = serviceDifference({ labels: group.settings, bind: group.bind }, { labels: a.service, bind: a.bind }, settings.labelPrefix);
    if (differs) {
      skip(
        a,
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
        message: `its ${labelKey(settings, 'class')} (${a.service.memberClass}) disagrees with ${group.settings.memberClass} set by ${group.owner.name}, the oldest container of service ${a.service.service}: it is served as ${group.settings.memberClass}`,
      });
    }
    group.members.push(a);
  }

  // Frontend ports: services sharing one frontend (a port and its addresses) must be told
  // apart by host/path rules (HTTP only); frontends on one port must not share an address.
  const services: Service[] = [];
  const claims = new Map<number, { service: ServiceLabels; bind: FrontendBind | null; owner: ContainerInfo }[]>();
  const ordered = [...groups.values()].sort((a, b) => byAge(a.owner, b.owner));
  for (const group of ordered) {
    const s = group.settings;
    const onPort = claims.get(s.frontendPort) ?? [];
    const clash = onPort.find((other) => bindConflict(other, group, settings.labelPrefix) !== null);
    if (clash) {
      const why = bindConflict(clash, group, settings.labelPrefix)!;
      for (const m of group.members) {
        skip(
          m,
          `service ${s.service} conflicts with service ${clash.service.service} (of ${clash.owner.name}) on frontend port ${s.frontendPort}: ${why}`,
        );
      }
      continue;
    }
    onPort.push({ service: s, bind: group.bind, owner: group.owner });
    claims.set(s.frontendPort, onPort);
    const members = withRoles(s, group.members, new Set([...(context.disabled ?? []), ...(context.operator?.keys() ?? [])]));
    notices.push(...members.notices);
    services.push(toService(s, members.servers, group.bind));
  }

  // The default pool always exists, even empty, so its frontend answers (503) and
  // keepalived sees haproxy listening, unless another service took its port on every address.
  if (!groups.has(settings.backendRole) && !(claims.get(settings.frontendPort) ?? []).some((c) => c.bind === null)) {
    const defaults = parseLabels({}, { service: settings.backendRole, frontendPort: settings.frontendPort });
    if (defaults.ok) services.push(toService(defaults.labels.service, [], null));
  }

  return { services, skipped, notices };
}

/**
 * parseDefinitions, remembered per labels object: the engine link hands in the same container
 * objects pass after pass for containers without events, so at 1000 backends a pass parses
 * the labels of the one that changed, not all 1000 (a third of this function's time).
 * Results are never changed, so sharing them keeps this pure.
 */
interface ParsedEntry {
  readonly service: string;
  readonly frontendPort: number;
  readonly prefix: string;
  readonly env: ContainerInfo['env'] | null;
  readonly result: DefinitionsResult;
}
const parsedByLabels = new WeakMap<object, ParsedEntry>();

function parsedDefinitions(c: ContainerInfo, settings: SelectionSettings): DefinitionsResult {
  const prefix = settings.labelPrefix ?? 'vipkeeper';
  // Compat variables count only with compat on, and only for a container nginx-proxy would serve.
  const env = settings.compat === 'nginx-proxy' && c.env !== undefined && wantsNginxProxy(c.env) ? c.env : null;
  const known = parsedByLabels.get(c.labels);
  if (known && known.service === settings.backendRole && known.frontendPort === settings.frontendPort && known.prefix === prefix && known.env === env) {
    return known.result;
  }
  const result = parseDefinitions(
    c.labels,
    { service: settings.backendRole, frontendPort: settings.frontendPort },
    { prefix, implied: env === null ? null : nginxProxyLabels(env, c.exposedTcpPorts) },
  );
  parsedByLabels.set(c.labels, { service: settings.backendRole, frontendPort: settings.frontendPort, prefix, env, result });
  return result;
}

/** A label key as containers spell it under VIPKEEPER_LABEL_PREFIX, for reasons: `vipkeeper.port`. */
const labelKey = (settings: Pick<SelectionSettings, 'labelPrefix'>, rest: string) => `${settings.labelPrefix ?? 'vipkeeper'}.${rest}`;

/** A container in a reason: its name, quoted because it is untrusted, and its short id. */
const who = (c: ContainerInfo) => `${showUntrusted(c.name)} (${c.id.slice(0, 12)})`;

/**
 * HAProxy server name: the container name (qualified by its engine when there are several),
 * or c-<id> when that is no safe word; a named definition's server adds `_<name>`.
 */
export function serverName(c: ContainerInfo, definition: string | null = null): string {
  const suffix = definition === null ? '' : `_${definition}`;
  const qualified = `${c.engine ? `${c.engine}_${c.name}` : c.name}${suffix}`;
  if (DOCKER_NAME.test(qualified) && qualified.length <= 64) return qualified;
  return c.engine && DOCKER_NAME.test(c.engine) && c.engine.length <= 48 ? `${c.engine}_c-${c.id.slice(0, 12)}${suffix}` : `c-${c.id.slice(0, 12)}${suffix}`;
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

function toService(s: ServiceLabels, servers: readonly Server[], bind: FrontendBind | null): Service {
  return {
    name: s.service,
    mode: s.mode,
    frontendPort: s.frontendPort,
    bind,
    hosts: s.hosts,
    path: s.path,
    balance: s.balance,
    memberClass: s.memberClass,
    check: s.check,
    tls: s.tls,
    ...(s.sticky ? { sticky: s.sticky } : {}),
    clients: s.clients,
    servers: [...servers].sort((a, b) => cmp(a.name, b.name) || cmp(a.containerId, b.containerId)),
  };
}

/**
 * Why a service cannot take its place on a port another one holds, or null: the same
 * addresses make one frontend (conflictReason); different address sets must not overlap,
 * or the kernel would share one address's connections between two frontends. Every
 * address (`*`) beside specific ones is fine: the kernel prefers the specific socket.
 */
function bindConflict(
  held: { service: ServiceLabels; bind: FrontendBind | null },
  mine: { settings: ServiceLabels; bind: FrontendBind | null },
  prefix = 'vipkeeper',
): string | null {
  if (bindKey(held.bind) === bindKey(mine.bind)) return conflictReason(held.service, mine.settings, prefix);
  if (held.bind === null || mine.bind === null) return null;
  const shared = mine.bind.addresses.filter((a) => held.bind!.addresses.includes(a));
  if (shared.length === 0) return null;
  return `both listen on ${shared.join(', ')} (${prefix}.vip ${vipText(held.service.vip)} and ${vipText(mine.settings.vip)}): use the same ${prefix}.vip, or addresses that do not overlap`;
}

/** Why two services cannot share a frontend port, or null when they can. */
export function conflictReason(a: ServiceLabels, b: ServiceLabels, prefix = 'vipkeeper'): string | null {
  if (a.frontendPort !== b.frontendPort) return null;
  if (a.mode === 'tcp' || b.mode === 'tcp') {
    return `a TCP service needs a frontend port of its own (set ${prefix}.frontend.port)`;
  }
  const sameHosts = a.hosts.join(',') === b.hosts.join(',');
  if (sameHosts && a.path === b.path) {
    return a.hosts.length === 0 && a.path === null
      ? `neither has a ${prefix}.host or ${prefix}.path rule to tell their requests apart`
      : `both have the same ${prefix}.host and ${prefix}.path rules`;
  }
  // Routes of one rank are tried in service-name order, so a host both serve on one path would go
  // to whichever is named first: a newcomer could take a running service's host away.
  const shared = a.path === b.path ? a.hosts.filter((h) => b.hosts.includes(h)) : [];
  if (shared.length > 0) return `both serve ${shared.join(', ')} with the same ${prefix}.path rule`;
  return null;
}

/**
 * The first service label two containers of one service set differently, or null. vipkeeper.vip
 * is compared by the addresses it binds, not as written: `web` and web's only VIP are one frontend.
 */
function serviceDifference(
  ownerSide: { readonly labels: ServiceLabels; readonly bind: FrontendBind | null },
  mineSide: { readonly labels: ServiceLabels; readonly bind: FrontendBind | null },
  prefix = 'vipkeeper',
): { label: string; mine: string; theirs: string } | null {
  const owner = ownerSide.labels;
  const mine = mineSide.labels;
  // [label, theirs, mine, and how each reads when it is not the compared value itself]
  const fields: [string, unknown, unknown, string?, string?][] = [
    [`${prefix}.mode`, owner.mode, mine.mode],
    [`${prefix}.frontend.port`, owner.frontendPort, mine.frontendPort],
    [`${prefix}.vip`, bindKey(ownerSide.bind), bindKey(mineSide.bind), show(vipText(owner.vip)), show(vipText(mine.vip))],
    [`${prefix}.host`, owner.hosts.join(','), mine.hosts.join(',')],
    [`${prefix}.path`, owner.path, mine.path],
    [`${prefix}.balance`, owner.balance, mine.balance],
    [`${prefix}.check`, owner.check.enabled, mine.check.enabled],
    [`${prefix}.check.path`, owner.check.path, mine.check.path],
    [`${prefix}.check.interval`, owner.check.interval, mine.check.interval],
    [`${prefix}.check.rise`, owner.check.rise, mine.check.rise],
    [`${prefix}.check.fall`, owner.check.fall, mine.check.fall],
    [`${prefix}.tls`, owner.tls.enabled, mine.tls.enabled],
    [`${prefix}.tls.redirect`, owner.tls.redirect, mine.tls.redirect],
    [`${prefix}.tls.hsts`, owner.tls.hsts, mine.tls.hsts],
    [`${prefix}.acme`, owner.tls.acme ?? null, mine.tls.acme ?? null],
    [`${prefix}.sticky`, owner.sticky, mine.sticky],
    [`${prefix}.proxy-protocol`, owner.clients.proxyProtocol, mine.clients.proxyProtocol],
    [`${prefix}.forwarded`, owner.clients.forwarded, mine.clients.forwarded],
    [`${prefix}.allow`, owner.clients.allow?.join(',') ?? null, mine.clients.allow?.join(',') ?? null],
    [`${prefix}.rate-limit`, owner.clients.rateLimit, mine.clients.rateLimit],
  ];
  for (const [label, theirs, own, theirsShown, ownShown] of fields) {
    if (theirs !== own) return { label, mine: ownShown ?? show(own), theirs: theirsShown ?? show(theirs) };
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
            ? `it exposes no TCP port: set ${labelKey(settings, 'port')}`
            : `it exposes ${exposed.length} TCP ports (${exposed.join(', ')}): set ${labelKey(settings, 'port')} to choose one`,
      };
    }
    port = exposed[0]!;
  }

  if (labels.network !== null) {
    const net = c.networks.find((n) => n.network === labels.network);
    if (!net) {
      const names = c.networks.map((n) => n.network).join(', ') || 'none';
      return { problem: `${labelKey(settings, 'network')}=${showUntrusted(labels.network)}: the container is not in that network (it is in: ${names})` };
    }
    // IPv4 when the network gives one (as before); else its IPv6 address (an IPv6-only network).
    if (IPV4.test(net.ip)) return { address: net.ip, port };
    const ip6 = net.ip6 !== undefined && isIpv6Address(net.ip6) ? canonicalIpv6(net.ip6) : null;
    if (ip6 !== null && backend6AddressProblem(ip6) === null) return { address: ip6, port };
    return { problem: `it has no IPv4 or global IPv6 address in network ${labels.network}` };
  }

  const bindings = c.bindings.filter((b) => b.privatePort === port && b.protocol === 'tcp' && b.hostPort > 0);
  // docker-proxy listens on both families for an unspecific binding. Prefer an IPv4 entry,
  // then every address, then an IPv6 one (`-p [2001:db8::5]:8080:80`), reached over IPv6.
  const binding =
    bindings.find((b) => IPV4.test(b.hostIp)) ??
    bindings.find((b) => ANY_ADDRESS.has(b.hostIp)) ??
    bindings.find((b) => isIpv6Address(b.hostIp));
  if (!binding) {
    return {
      problem:
        bindings.length > 0
          ? `port ${port}/tcp is published only on ${showUntrusted(bindings[0]!.hostIp)}, which is no IPv4 or IPv6 address`
          : `port ${port}/tcp is not published (docker run -p ${port}); publish it or set ${labelKey(settings, 'network')}`,
    };
  }
  const specific = !ANY_ADDRESS.has(binding.hostIp);
  const hostIp = isIpv6Address(binding.hostIp) ? canonicalIpv6(binding.hostIp) : binding.hostIp;
  const v6Problem = hostIp.includes(':') && specific ? backend6AddressProblem(hostIp) : null;
  if (v6Problem !== null) return { problem: `port ${port}/tcp is published only on ${hostIp}, which ${v6Problem}` };
  if (c.publishedHost) {
    // Another host's engine: a specific binding address is where the port listens there,
    // except loopback, which no other host reaches; else the engine's advertised address.
    if (hostIp.startsWith('127.') || isIpv6Loopback(hostIp)) {
      return { problem: `port ${port}/tcp is published only on ${hostIp} of its host, which the load balancer cannot reach` };
    }
    return { address: specific ? hostIp : c.publishedHost, port: binding.hostPort };
  }
  const address = settings.publishedHost ?? (specific ? hostIp : '127.0.0.1');
  return { address, port: binding.hostPort };
}
