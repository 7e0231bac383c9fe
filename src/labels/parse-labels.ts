import { quoteUntrusted } from '../config/patterns.js';
import { closestName } from '../util/closest-name.js';
import { LABEL_PREFIX, LABEL_SPECS, LABELS, type LabelSpec, MAX_LABEL_VALUE } from './label-schema.js';

/** One label that broke its rule. `shownValue` is quoted and cut, safe to log. */
export interface LabelProblem {
  readonly label: string;
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
  readonly hosts: readonly string[];
  readonly path: string | null;
  readonly balance: 'roundrobin' | 'leastconn' | 'random';
  /** `single`: one container serves, the others are backups (member-roles.ts). */
  readonly memberClass: MemberClass;
  readonly check: CheckSettings;
  readonly tls: TlsLabels;
}

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

/** A container's labels -> validated settings, or every problem found. Pure. */
export function parseLabels(labels: Readonly<Record<string, string>>, defaults: LabelDefaults): LabelResult {
  const problems: LabelProblem[] = [];

  const get = <T>(spec: LabelSpec<T>): T | undefined => {
    const raw = labels[spec.key];
    if (raw === undefined) return undefined;
    if (raw.length > MAX_LABEL_VALUE) {
      problems.push({ label: spec.key, shownValue: showUntrusted(raw), rule: `${spec.rule} (and at most ${MAX_LABEL_VALUE} characters)` });
      return undefined;
    }
    const result = spec.schema.safeParse(raw);
    if (result.success) return result.data;
    problems.push({ label: spec.key, shownValue: showUntrusted(raw), rule: spec.rule });
    return undefined;
  };

  const mode = get(LABELS.mode) ?? 'http';
  const hosts = get(LABELS.host) ?? [];
  const path = get(LABELS.path) ?? null;
  const checkPath = get(LABELS.checkPath) ?? null;
  const acme = get(LABELS.acme);
  const tls: TlsLabels = {
    enabled: get(LABELS.tls) ?? null,
    redirect: get(LABELS.tlsRedirect) ?? false,
    hsts: get(LABELS.tlsHsts) ?? null,
    // Only when set, so services without it compare equal to what they were before ACME.
    ...(acme !== undefined ? { acme } : {}),
  };
  if (mode === 'tcp') {
    for (const [spec, present] of [
      [LABELS.host, hosts.length > 0],
      [LABELS.path, path !== null],
      [LABELS.checkPath, checkPath !== null],
      [LABELS.tls, tls.enabled !== null],
      [LABELS.tlsRedirect, labels[LABELS.tlsRedirect.key] !== undefined],
      [LABELS.tlsHsts, tls.hsts !== null],
      [LABELS.acme, tls.acme !== undefined],
    ] as const) {
      if (present) {
        problems.push({ label: spec.key, shownValue: showUntrusted(labels[spec.key] ?? ''), rule: 'only with vipkeeper.mode=http' });
      }
    }
  }

  const service: ServiceLabels = {
    service: get(LABELS.service) ?? defaults.service,
    mode,
    frontendPort: get(LABELS.frontendPort) ?? defaults.frontendPort,
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
    .map((label) => ({ label, closest: closestName(label, LABEL_SPECS.map((l) => l.key), 3) }));
  return { ok: true, labels: { service, server, unknown } };
}
