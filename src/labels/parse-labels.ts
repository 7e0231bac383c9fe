import { quoteUntrusted } from '../config/patterns.js';
import { closestName } from '../util/closest-name.js';
import { LABEL_PREFIX, LABEL_SPECS, LABELS, type LabelSpec, MAX_LABEL_VALUE, type VipLabel } from './label-schema.js';

export type { VipLabel } from './label-schema.js';

/** One label that broke its rule. `shownValue` is quoted and cut, safe to log. */
export interface LabelProblem {
  /** The label key as the container spells it (with its prefix), or the environment variable's name. */
  readonly label: string;
  /** Where the value came from: a label, or an environment variable read for VIPKEEPER_COMPAT. Absent: a label. */
  readonly source?: 'label' | 'env';
  readonly shownValue: string;
  readonly rule: string;
}

export interface CheckSettings {
  readonly enabled: boolean;
  readonly path: string | null;
  readonly interval: string;
  readonly rise: number;
  readonly fall: number;
}

/** Labels that shape the whole backend; they must agree across a service's containers. */
export interface ServiceLabels {
  readonly service: string;
  readonly mode: 'http' | 'tcp';
  readonly frontendPort: number;
  /** vipkeeper.vip as written (checked against the instances by the desired state), or null: every address. */
  readonly vip: VipLabel | null;
  readonly hosts: readonly string[];
  readonly path: string | null;
  readonly balance: 'roundrobin' | 'leastconn' | 'random';
  /** `single`: one container serves, the others are backups (member-roles.ts). */
  readonly memberClass: MemberClass;
  readonly check: CheckSettings;
  readonly tls: TlsLabels;
  /** vipkeeper.sticky: keep a client on one server by a cookie or its source address; null: none. */
  readonly sticky: Sticky | null;
  readonly clients: ClientLabels;
}

/** vipkeeper.proxy-protocol, vipkeeper.forwarded, vipkeeper.allow, vipkeeper.rate-limit (issue 17). */
export interface ClientLabels {
  readonly proxyProtocol: 'v1' | 'v2' | null;
  /** HTTP: X-Forwarded-For/-Proto/-Host on requests (always false for TCP). */
  readonly forwarded: boolean;
  /** Canonical CIDRs (`198.18.0.0/15`), sorted; null: every client. */
  readonly allow: readonly string[] | null;
  /** Requests (TCP: connections) per second per client address; null: no limit. */
  readonly rateLimit: number | null;
}

export type Sticky = 'cookie' | 'source';

/** vipkeeper.tls*: whether HTTPS serves the service (null: the default), the redirect, HSTS seconds. */
export interface TlsLabels {
  readonly enabled: boolean | null;
  readonly redirect: boolean;
  readonly hsts: number | null;
  /** vipkeeper.acme: null when unset (VIPKEEPER_ACME_ALL_HOSTS decides). */
  readonly acme?: boolean | null;
}

export type MemberClass = 'single' | 'multiple';

export interface ServerLabels {
  readonly port: number | null;
  readonly network: string | null;
  readonly weight: number;
  readonly maxconn: number | null;
  readonly dockerHealth: 'respect' | 'ignore';
}

export interface ParsedLabels {
  readonly service: ServiceLabels;
  readonly server: ServerLabels;
  /** Labels under vipkeeper.* that we do not know: probably typos, reported but not fatal. */
  readonly unknown: readonly { label: string; closest: string | null }[];
}

export interface LabelDefaults {
  readonly service: string;
  readonly frontendPort: number;
}

export type LabelResult = { ok: true; labels: ParsedLabels } | { ok: false; problems: readonly LabelProblem[] };

/** Untrusted text for a log line: JSON-quoted (control characters escaped) and cut. */
export function showUntrusted(value: string, max = 64): string {
  return quoteUntrusted(value, max);
}

/** How a problem names a canonical key (`vipkeeper.port`): the container's own spelling and where it came from. */
export interface KeyOrigin {
  readonly name: string;
  readonly source: 'label' | 'env';
}

/**
 * A container's labels -> validated settings, or every problem found. Pure.
 * `labels` are in canonical form (`vipkeeper.port`); `origin` says how each key is
 * named in a warning (its real prefix, a named definition, an environment variable).
 */
export function parseLabels(
  labels: Readonly<Record<string, string>>,
  defaults: LabelDefaults,
  origin: (key: string) => KeyOrigin = (key) => ({ name: key, source: 'label' }),
): LabelResult {
  const problems: LabelProblem[] = [];
  const problem = (key: string, shownValue: string, rule: string) => {
    const o = origin(key);
    problems.push({ label: o.name, ...(o.source === 'env' ? { source: 'env' as const } : {}), shownValue, rule });
  };

  const get = <T>(spec: LabelSpec<T>): T | undefined => {
    const raw = labels[spec.key];
    if (raw === undefined) return undefined;
    if (raw.length > MAX_LABEL_VALUE) {
      problem(spec.key, showUntrusted(raw), `${spec.rule} (and at most ${MAX_LABEL_VALUE} characters)`);
      return undefined;
    }
    const result = spec.schema.safeParse(raw);
    if (result.success) return result.data;
    problem(spec.key, showUntrusted(raw), spec.rule);
    return undefined;
  };

  const mode = get(LABELS.mode) ?? 'http';
  const hosts = get(LABELS.host) ?? [];
  // `path_beg /` matches every request: the same as no path rule, and judged so in conflicts
  // (else a newer service with path `/` would take all of an older one's requests).
  const pathLabel = get(LABELS.path) ?? null;
  const path = pathLabel === '/' ? null : pathLabel;
  const checkPath = get(LABELS.checkPath) ?? null;
  const acme = get(LABELS.acme);
  const tls: TlsLabels = {
    enabled: get(LABELS.tls) ?? null,
    redirect: get(LABELS.tlsRedirect) ?? false,
    hsts: get(LABELS.tlsHsts) ?? null,
    // Only when set, so services without it compare equal to what they were before ACME.
    ...(acme !== undefined ? { acme } : {}),
  };
  const sticky = get(LABELS.sticky) ?? null;
  const forwarded = get(LABELS.forwarded);
  const clients: ClientLabels = {
    proxyProtocol: get(LABELS.proxyProtocol) ?? null,
    forwarded: mode === 'http' && forwarded !== false,
    allow: get(LABELS.allow) ?? null,
    rateLimit: get(LABELS.rateLimit) ?? null,
  };
  if (mode === 'tcp') {
    for (const [spec, present] of [
      [LABELS.forwarded, forwarded !== undefined],
      [LABELS.host, hosts.length > 0],
      [LABELS.path, path !== null],
      [LABELS.checkPath, checkPath !== null],
      [LABELS.tls, tls.enabled !== null],
      [LABELS.tlsRedirect, labels[LABELS.tlsRedirect.key] !== undefined],
      [LABELS.tlsHsts, tls.hsts !== null],
      [LABELS.sticky, sticky === 'cookie'],
      [LABELS.acme, tls.acme !== undefined],
    ] as const) {
      if (present) {
        problem(spec.key, showUntrusted(labels[spec.key] ?? ''), `only with ${origin(LABELS.mode.key).name}=http`);
      }
    }
  }

  const service: ServiceLabels = {
    service: get(LABELS.service) ?? defaults.service,
    mode,
    frontendPort: get(LABELS.frontendPort) ?? defaults.frontendPort,
    vip: get(LABELS.vip) ?? null,
    hosts,
    path,
    balance: get(LABELS.balance) ?? 'roundrobin',
    memberClass: get(LABELS.memberClass) ?? 'multiple',
    check: {
      enabled: get(LABELS.check) ?? true,
      path: checkPath,
      interval: get(LABELS.checkInterval) ?? '2s',
      rise: get(LABELS.checkRise) ?? 2,
      fall: get(LABELS.checkFall) ?? 5,
    },
    tls,
    sticky,
    clients,
  };
  const server: ServerLabels = {
    port: get(LABELS.port) ?? null,
    network: get(LABELS.network) ?? null,
    weight: get(LABELS.weight) ?? 100,
    maxconn: get(LABELS.maxconn) ?? null,
    dockerHealth: get(LABELS.dockerHealth) ?? 'respect',
  };

  if (problems.length > 0) return { ok: false, problems };

  const known = new Set(LABEL_SPECS.map((s) => s.key));
  const unknown = Object.keys(labels)
    .filter((k) => k.startsWith(LABEL_PREFIX) && !known.has(k as `vipkeeper.${string}`))
    .sort()
    .map((label) => {
      const closest = closestName(label, LABEL_SPECS.map((l) => l.key), 3);
      return { label: origin(label).name, closest: closest === null ? null : origin(closest).name };
    });
  return { ok: true, labels: { service, server, unknown } };
}
