import { createHash } from 'node:crypto';
import { HOSTNAME } from '../config/patterns.js';
import type { Service } from '../model/desired-state.js';
import { type AcceptedCert, CERT_FILE, nameCovers } from '../tls/cert-inventory.js';

// Which hosts want an ACME certificate, and which of them need an order now:
// pure functions of the served services, the certificates directory as judged,
// the failures so far and the time. The orchestrator (acme-manager.ts) does
// what this says; the table tests in test/unit/acme-plan.test.ts pin it.

/** A host an HTTPS service asks a certificate for, and the container that asked (for warnings). */
export interface AcmeHost {
  readonly host: string;
  readonly service: string;
  readonly containerName: string;
  /** The VRRP instances whose VIPs serve it (vipkeeper.vip); empty: every address, the first instance decides. */
  readonly instances: readonly string[];
}

export interface RefusedAcmeHost {
  readonly host: string;
  readonly containerName: string;
  readonly reason: string;
}

/** Renew once two thirds of a certificate's lifetime have passed. */
export const RENEW_AT_FRACTION = 2 / 3;
/** A certificate this close to its end is warned about loudly (logs, /status, /metrics). */
export const EXPIRY_WARNING_MS = 14 * 86_400_000;
/** Backoff after failed orders doubles up to this. */
export const MAX_BACKOFF_MS = 3_600_000;

/** Files the agent's ACME part owns in the certificates directory. */
export const ACME_FILE_PREFIX = 'acme_';

/** The certificates-directory file of a host's ACME certificate: `acme_HOST.pem`, or a digest of the name when that is too long. */
export function acmeFile(host: string): string {
  const plain = `${ACME_FILE_PREFIX}${host}.pem`;
  return CERT_FILE.test(plain) ? plain : `${ACME_FILE_PREFIX}${createHash('sha256').update(host).digest('hex').slice(0, 40)}.pem`;
}

export const isAcmeFile = (file: string): boolean => file.startsWith(ACME_FILE_PREFIX);

/** Why an HTTP-01 order for this name cannot work, or null. Pure. */
export function acmeNameProblem(host: string): string | null {
  if (host.includes('*')) return 'a wildcard name cannot be validated by HTTP-01 (it needs DNS-01)';
  if (!HOSTNAME.test(host)) return 'it is not a DNS name';
  const labels = host.split('.');
  if (labels.length < 2) return 'a public certificate needs a name of at least two labels (like www.example.com)';
  if (/^\d+$/.test(labels[labels.length - 1]!)) return 'it looks like an IP address, not a DNS name';
  return null;
}

/**
 * HTTPS services' hosts that ACME serves: HTTP services on the HTTPS-served port with hosts,
 * `vipkeeper.tls` not false, and `vipkeeper.acme=true` (or unset with allHosts). Each name
 * once, the first service (by name) claiming it wins. Names HTTP-01 cannot serve are refused. Pure.
 */
export function acmeHosts(services: readonly Service[], opts: { readonly allHosts: boolean; readonly httpPort: number }): { hosts: AcmeHost[]; refused: RefusedAcmeHost[] } {
  const hosts = new Map<string, AcmeHost>();
  const refused: RefusedAcmeHost[] = [];
  for (const s of [...services].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const wanted = s.tls.acme ?? opts.allHosts;
    if (!wanted || s.mode !== 'http' || s.frontendPort !== opts.httpPort || s.tls.enabled === false) continue;
    const containerName = s.servers[0]?.containerName ?? s.name;
    for (const host of s.hosts) {
      const problem = acmeNameProblem(host);
      if (problem) refused.push({ host, containerName, reason: problem });
      else if (!hosts.has(host)) hosts.set(host, { host, service: s.name, containerName, instances: s.bind?.instances ?? [] });
    }
  }
  return { hosts: [...hosts.values()].sort((a, b) => (a.host < b.host ? -1 : 1)), refused };
}

/** Failed orders of one host so far. */
export interface AcmeAttempt {
  readonly failures: number;
  /** No new order before this time (ms since the epoch). */
  readonly nextAt: number;
  /** Safe to show: the ACME server's or the network's answer, no key material. */
  readonly lastError: string;
}

/** The wait after the n-th failure in a row: min, 2 min, 4 min ... up to an hour. */
export const backoffMs = (failures: number, minMs: number): number => Math.min(MAX_BACKOFF_MS, minMs * 2 ** Math.max(0, failures - 1));

export type AcmeHostState =
  /** Served by its ACME certificate, renewal not due. */
  | 'valid'
  /** No certificate yet (or it was refused): order now. */
  | 'order'
  /** Two thirds of its lifetime passed: order a new one now. */
  | 'renew'
  /** An order is due but the last one failed: wait for the backoff. */
  | 'backoff'
  /** An order is due, but this node does not hold the host's VIP: the holder orders first (VIPKEEPER_ACME_BACKUP_DELAY). */
  | 'wait'
  /** A certificate of the certificates directory that is not ACME's covers the name: no order. */
  | 'covered';

export interface AcmeHostPlan {
  readonly host: string;
  readonly file: string;
  readonly state: AcmeHostState;
  /** When something happens next for it (renewal due, backoff over), or null. */
  readonly nextAt: Date | null;
  readonly notAfter: Date | null;
  /** Within EXPIRY_WARNING_MS of its end. */
  readonly expiringSoon: boolean;
}

export interface AcmePlan {
  readonly hosts: readonly AcmeHostPlan[];
  /** The earliest nextAt: when to look again without any other event. */
  readonly wakeAt: Date | null;
}

/**
 * Hosts + judged certificates + failures + time -> what each host needs. Pure.
 *
 * The VIP holder orders a due host at once; another node waits `backupDelayMs` from the
 * moment it first saw the host due (`dueSince`, kept by the caller). With a certificates
 * directory shared between the nodes the holder's certificate shows up in `certs` meanwhile
 * and the host is valid here too: one order for the group. Otherwise this node then orders
 * its own (validated through the holder's relay), so it holds one before it takes the VIP.
 */
export function planAcme(input: {
  readonly hosts: readonly AcmeHost[];
  readonly certs: readonly AcceptedCert[];
  readonly attempts: ReadonlyMap<string, AcmeAttempt>;
  readonly now: Date;
  /** Does this node hold the VIPs of these instances (empty: the first instance's)? Absent: it does. */
  readonly holds?: (instances: readonly string[]) => boolean;
  /** When this node first saw each host due without holding its VIP (ms since the epoch). */
  readonly dueSince?: ReadonlyMap<string, number>;
  readonly backupDelayMs?: number;
}): AcmePlan {
  const now = input.now.getTime();
  const hosts = input.hosts.map((h): AcmeHostPlan => {
    const file = acmeFile(h.host);
    const own = input.certs.find((c) => c.file === file && c.names.includes(h.host));
    const other = input.certs.find((c) => !isAcmeFile(c.file) && c.names.some((n) => nameCovers(n, h.host)));
    if (other) return { host: h.host, file, state: 'covered', nextAt: null, notAfter: other.notAfter, expiringSoon: false };
    const notAfter = own?.notAfter ?? null;
    const expiringSoon = notAfter !== null && notAfter.getTime() - now < EXPIRY_WARNING_MS;
    if (own) {
      const renewAt = own.notBefore.getTime() + RENEW_AT_FRACTION * (own.notAfter.getTime() - own.notBefore.getTime());
      if (now < renewAt) return { host: h.host, file, state: 'valid', nextAt: new Date(renewAt), notAfter, expiringSoon };
    }
    const attempt = input.attempts.get(h.host);
    if (attempt && attempt.nextAt > now) return { host: h.host, file, state: 'backoff', nextAt: new Date(attempt.nextAt), notAfter, expiringSoon };
    const delay = input.backupDelayMs ?? 0;
    if (delay > 0 && input.holds && !input.holds(h.instances)) {
      const until = (input.dueSince?.get(h.host) ?? now) + delay;
      if (now < until) return { host: h.host, file, state: 'wait', nextAt: new Date(until), notAfter, expiringSoon };
    }
    return { host: h.host, file, state: own ? 'renew' : 'order', nextAt: null, notAfter, expiringSoon };
  });
  const times = hosts.map((h) => h.nextAt?.getTime()).filter((t): t is number => t !== undefined);
  return { hosts, wakeAt: times.length > 0 ? new Date(Math.min(...times)) : null };
}
