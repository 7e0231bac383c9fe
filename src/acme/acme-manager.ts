import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { AcceptedCert } from '../tls/cert-inventory.js';
import type { AcmeCa } from './acme-ca.js';
import { type AcmeAttempt, type AcmeHost, type AcmePlan, backoffMs, planAcme, type RefusedAcmeHost } from './acme-plan.js';
import type { ChallengeStore } from './challenge-store.js';

// The orchestrator: the hosts the last pass wants, the certificates directory as
// judged now, and the plan (acme-plan.ts) -> orders, one at a time, through the
// injected ACME edge; an issued certificate is written into the certificates
// directory, where the file watch and the Runtime API swap serve it. A failure
// is logged with its reason, shown in /status and tried again after a backoff;
// HTTP and the certificates already served are never touched by it.

export interface AcmeManagerParts {
  readonly ca: AcmeCa;
  readonly challenges: ChallengeStore;
  /** The certificates directory's accepted certificates, judged now. */
  readonly readCerts: () => Promise<readonly AcceptedCert[]>;
  /** Writes `file` (chain and key) into the certificates directory, mode 0600. */
  readonly writeCert: (file: string, pem: string) => Promise<void>;
  /** A certificate was written: a pass should pick it up now. */
  readonly issued: (file: string) => void;
  readonly retryMinMs: number;
  /** Does this node hold the VIPs of these instances (empty: the first instance's)? Absent: it does. */
  readonly holds?: (instances: readonly string[]) => boolean;
  /** A node without the VIP waits this long before its own order (VIPKEEPER_ACME_BACKUP_DELAY). */
  readonly backupDelayMs?: number;
  readonly log: Logger;
  readonly now?: () => Date;
  /** Longest sleep without events (also how often an expiring certificate is warned about). */
  readonly maxSleepMs?: number;
}

export interface AcmeHostStatus {
  readonly host: string;
  readonly file: string;
  readonly state: string;
  readonly notAfter: string | null;
  readonly nextAt: string | null;
  readonly expiringSoon: boolean;
  readonly failures: number;
  readonly lastError: string | null;
}

export interface AcmeStatus {
  readonly hosts: readonly AcmeHostStatus[];
  readonly refused: readonly RefusedAcmeHost[];
}

export class AcmeManager {
  #hosts: readonly AcmeHost[] = [];
  #refused: readonly RefusedAcmeHost[] = [];
  #wantKey = '';
  #refusedKey = '';
  readonly #attempts = new Map<string, AcmeAttempt>();
  /** When this node first saw a host due while another node held its VIP. */
  readonly #dueSince = new Map<string, number>();
  /** Hosts being ordered right now. */
  readonly #ordering = new Set<string>();
  #plan: AcmePlan = { hosts: [], wakeAt: null };
  #started = false;
  #stopped = false;
  #running: Promise<void> | null = null;
  #again = false;
  #timer: NodeJS.Timeout | null = null;

  constructor(private readonly p: AcmeManagerParts) {}

  /** The hosts the latest pass serves. Level-based: only a change wakes the loop. */
  want(w: { readonly hosts: readonly AcmeHost[]; readonly refused: readonly RefusedAcmeHost[] }): void {
    const refusedKey = JSON.stringify(w.refused);
    if (refusedKey !== this.#refusedKey) {
      this.#refusedKey = refusedKey;
      for (const r of w.refused) {
        this.p.log.warn({ container: r.containerName, label: 'vipkeeper.host', host: r.host, reason: r.reason }, `container ${r.containerName}: no ACME certificate for ${r.host}: ${r.reason}`);
      }
    }
    this.#refused = w.refused;
    const key = JSON.stringify(w.hosts.map((h) => h.host));
    this.#hosts = w.hosts;
    if (key !== this.#wantKey) {
      this.#wantKey = key;
      this.wake();
    }
  }

  /** Orders may start (HAProxy runs with the challenge rules). */
  start(): void {
    this.#started = true;
    this.wake();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
  }

  /** Looks again now: after a change, a timer, or a certificate written by someone else. */
  wake(): void {
    if (!this.#started || this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#loop().finally(() => (this.#running = null));
  }

  /** Resolves once no round is running (tests). */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  status(): AcmeStatus {
    return {
      hosts: this.#plan.hosts.map((h) => {
        const a = this.#attempts.get(h.host);
        return {
          host: h.host,
          file: h.file,
          state: this.#ordering.has(h.host) ? 'ordering' : h.state,
          notAfter: h.notAfter?.toISOString() ?? null,
          nextAt: h.nextAt?.toISOString() ?? null,
          expiringSoon: h.expiringSoon,
          failures: a?.failures ?? 0,
          lastError: a?.lastError ?? null,
        };
      }),
      refused: this.#refused,
    };
  }

  async #loop(): Promise<void> {
    do {
      this.#again = false;
      await this.#round().catch((err: unknown) => this.p.log.error({ err }, 'an ACME round failed; the next one tries again'));
    } while (this.#again && !this.#stopped);
    this.#schedule();
  }

  #planNow(certs: readonly AcceptedCert[], now: Date): AcmePlan {
    const plan = planAcme({
      hosts: this.#hosts,
      certs,
      attempts: this.#attempts,
      now,
      dueSince: this.#dueSince,
      ...(this.p.holds ? { holds: this.p.holds } : {}),
      ...(this.p.backupDelayMs !== undefined ? { backupDelayMs: this.p.backupDelayMs } : {}),
    });
    // The wait starts when a host is first seen due here, and ends with it.
    for (const h of plan.hosts) {
      if (h.state === 'wait') {
        if (!this.#dueSince.has(h.host)) this.#dueSince.set(h.host, now.getTime());
      } else if (h.state !== 'order' && h.state !== 'renew') this.#dueSince.delete(h.host);
    }
    return plan;
  }

  async #round(): Promise<void> {
    const now = () => this.p.now?.() ?? new Date();
    this.#plan = this.#planNow(await this.p.readCerts(), now());
    this.#warnExpiring();
    for (const h of this.#plan.hosts) {
      if (this.#stopped) return;
      if (h.state !== 'order' && h.state !== 'renew') continue;
      // Still wanted? A pass may have dropped the host while an earlier order ran.
      if (!this.#hosts.some((x) => x.host === h.host)) continue;
      this.#ordering.add(h.host);
      const started = Date.now();
      this.p.log.info({ host: h.host, why: h.state }, `ACME: ordering a certificate for ${h.host} (${h.state === 'order' ? 'none yet' : 'renewal due'})`);
      try {
        const pem = await this.p.ca.issue(h.host, this.p.challenges);
        await this.p.writeCert(h.file, pem);
        this.#attempts.delete(h.host);
        this.#dueSince.delete(h.host);
        this.p.log.info({ host: h.host, file: h.file, ms: Date.now() - started }, `ACME: certificate for ${h.host} issued, written to ${h.file}`);
        this.p.issued(h.file);
      } catch (err) {
        const failures = (this.#attempts.get(h.host)?.failures ?? 0) + 1;
        const wait = backoffMs(failures, this.p.retryMinMs);
        const lastError = errorMessage(err);
        this.#attempts.set(h.host, { failures, nextAt: now().getTime() + wait, lastError });
        this.p.log.warn(
          { host: h.host, failures, retryInMs: wait, reason: lastError, code: (err as { code?: string }).code },
          `ACME: no certificate for ${h.host} (${failures} failure${failures === 1 ? '' : 's'} in a row), next try in ${Math.round(wait / 1000)} s; HTTPS keeps the certificate it has: ${lastError}`,
        );
      } finally {
        this.#ordering.delete(h.host);
      }
    }
    this.#plan = this.#planNow(await this.p.readCerts(), now());
  }

  #warned = new Map<string, number>();
  #warnExpiring(): void {
    const every = this.p.maxSleepMs ?? 3_600_000;
    for (const h of this.#plan.hosts) {
      if (!h.expiringSoon) continue;
      const last = this.#warned.get(h.host) ?? 0;
      if (Date.now() - last < every) continue;
      this.#warned.set(h.host, Date.now());
      this.p.log.error({ host: h.host, file: h.file, notAfter: h.notAfter?.toISOString() }, `ACME: the certificate for ${h.host} expires at ${h.notAfter?.toISOString()}, within 14 days, and is not renewed yet`);
    }
  }

  #schedule(): void {
    if (this.#stopped) return;
    if (this.#timer) clearTimeout(this.#timer);
    const max = this.p.maxSleepMs ?? 3_600_000;
    const wakeAt = this.#plan.wakeAt?.getTime();
    const inMs = wakeAt === undefined ? max : Math.max(1000, Math.min(max, wakeAt - (this.p.now?.() ?? new Date()).getTime()));
    this.#timer = setTimeout(() => this.wake(), inMs);
    this.#timer.unref();
  }
}
