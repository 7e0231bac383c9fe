import type { ApplyMethod } from '../agent/pass-record.js';
import { NO_TIMING, RUNTIME_API_MARK, type StageTiming } from '../agent/pass-timer.js';
import { ReloadFailedError } from '../errors.js';
import type { ConfigFiles } from '../files/config-store.js';
import type { Logger } from '../log.js';
import { adminOf, type Server, type Service } from '../model/desired-state.js';
import { linesOfContainer } from '../render/haproxy-servers.js';
import type { DeleteQueue } from './delete-queue.js';
import { expectBatch, type RuntimeApi, type ServerStateRow } from './runtime-api.js';
import { adminDrift, type ChangeSet, diffServices, isEmpty, type ServerRef } from './server-changes.js';
import type { AcceptedCert } from '../tls/cert-inventory.js';
import { type CertChanges, diffCerts, noCertChanges } from '../tls/cert-swap.js';
import { hostPort } from '../config/patterns.js';

// Brings HAProxy from what it runs to a new plan, the cheapest safe way:
// - server-only changes through the Runtime API, no reload;
// - anything else (a service or frontend changed, a template changed, a live
//   file we do not know) by a seamless reload of a file the real binary checked.
// A file only stays live if HAProxy loaded it: a reload that fails (a port in
// use, say) puts the previous file back, so a restart never meets a file that
// did not load.

/** What the applier needs of the haproxy process. */
export interface HaproxyControl {
  /** Seamless reload of the live file; rejects when no new worker took it. */
  reload(): Promise<unknown>;
}

/** The half of an applied plan the applier compares against. */
export interface HaproxyApplied {
  readonly services: readonly Service[];
  readonly text: string;
  /** The templates that printed `text`: another set changes the file's structure. */
  readonly templatesKey: string;
  /** The live file is not known to match `services` (it was kept from before, or a pass failed midway). */
  readonly stale: boolean;
  /** The certificates HAProxy serves (absent: none known). */
  readonly certificates?: readonly AcceptedCert[];
}

export interface HaproxyTarget {
  readonly services: readonly Service[];
  readonly text: string;
  readonly templatesKey: string;
  readonly certificates?: readonly AcceptedCert[];
}

/** HTTPS files and their live swap: handed in, so the applier is tested with a fake. */
export interface TlsApplier {
  /** Brings the copies and the crt-list on disk to these certificates (before a check or a reload reads them); true when a file changed. */
  syncFiles(certs: readonly AcceptedCert[]): Promise<boolean>;
  /** The same change through the Runtime API, no reload; throws when HAProxy refuses a step. */
  swap(changes: CertChanges): Promise<void>;
}

export interface HaproxyApplierParts {
  readonly files: ConfigFiles;
  readonly validate: (file: string) => Promise<void>;
  readonly control: HaproxyControl;
  readonly api: RuntimeApi;
  readonly deletes: DeleteQueue;
  /** Server changes through the Runtime API; returns removed servers (in maintenance) still to be deleted. */
  readonly applyServers: (changes: ChangeSet) => Promise<readonly { backend: string; server: string }[]>;
  readonly log: Logger;
  readonly now?: () => number;
  readonly tls?: TlsApplier;
}

export interface HaproxyApplyResult {
  readonly method: ApplyMethod;
  readonly changes: ChangeSet;
  /** Why a reload was needed, when one was. */
  readonly reloadReason: string | null;
  /** Servers whose admin state HAProxy had wrong and that were set right (`be/server: was -> want`). */
  readonly adminFixed?: readonly string[];
  /** Certificates that changed (file names), however they went live. */
  readonly certs?: CertChanges;
}

const RELOAD_PORT = /cannot bind socket[^[\n]*\[[^\]\n]*:(\d+)\]/g;

/** Frontend ports HAProxy's output says it could not bind. Pure. */
export function unboundPorts(output: string): number[] {
  return [...new Set([...output.matchAll(RELOAD_PORT)].map((m) => Number(m[1])))].sort((a, b) => a - b);
}

export class HaproxyApplier {
  /** Stop-event drains, one after another: each decision sees the drains before it. */
  #drains: Promise<unknown> = Promise.resolve();

  constructor(private readonly p: HaproxyApplierParts) {}

  /** At start: the first file, checked and swapped in; true when it differs from the live one. */
  async installInitial(text: string, timing: StageTiming = NO_TIMING, certificates: readonly AcceptedCert[] = []): Promise<boolean> {
    // The certificate files first: the check reads them, and HAProxy starts on them. A kept
    // haproxy (an agent restart) whose certificates changed meanwhile must load them: changed.
    const certsChanged = this.p.tls ? await this.p.tls.syncFiles(certificates) : false;
    const fileChanged = await this.p.files.install('haproxy.cfg', text, (f) => timing.time('validate', () => this.p.validate(f)));
    return fileChanged || certsChanged;
  }

  /** Puts back a file that ran before (the new one did not load). */
  restore(text: string): Promise<void> {
    return this.p.files.restore('haproxy.cfg', text);
  }

  /** After the children came up on the live file: it ran. */
  markGood(): Promise<void> {
    return this.p.files.markGood('haproxy.cfg');
  }

  /** `timing`: the pass's stage timer (the `haproxy -c` check is its validate stage). */
  async apply(applied: HaproxyApplied, target: HaproxyTarget, timing: StageTiming = NO_TIMING): Promise<HaproxyApplyResult> {
    const result = await this.#apply(applied, target, timing);
    const adminFixed = await this.#syncAdmin(target.services);
    if (adminFixed.length === 0) return result;
    return { ...result, method: result.method === 'none' ? 'runtime-api' : result.method, adminFixed };
  }

  /**
   * Level-based admin states: every server the plan wants drained or in maintenance is set so,
   * whatever HAProxy has now (a reload put a drained server in maintenance, a hand enabled it
   * on the admin socket). Only while some server is meant so: else a pass costs no `show servers
   * state`. A failure is logged and tried again on the next pass: the pass itself went through.
   */
  async #syncAdmin(services: readonly Service[]): Promise<string[]> {
    if (!services.some((s) => s.servers.some((x) => adminOf(x) !== 'ready'))) return [];
    try {
      const fixes = adminDrift(services, await this.p.api.serversState(0));
      if (fixes.length > 0) await expectBatch(this.p.api, fixes.map((f) => ({ command: `set server ${f.id} state ${f.want}`, ok: 'empty' as const })));
      if (fixes.length > 0) this.p.log.info({ servers: fixes.map((f) => `${f.id}: ${f.was} -> ${f.want}`) }, 'admin state set right');
      return fixes.map((f) => `${f.id}: ${f.was} -> ${f.want}`);
    } catch (err) {
      this.p.log.warn({ err }, 'could not compare admin states with HAProxy; trying again on the next pass');
      return [];
    }
  }

  async #apply(applied: HaproxyApplied, target: HaproxyTarget, timing: StageTiming): Promise<HaproxyApplyResult> {
    const validate = (file: string) => timing.time('validate', () => this.p.validate(file));
    let changes = diffServices(applied.services, target.services);
    const certs = diffCerts(applied.certificates ?? [], target.certificates ?? []);
    const certsChanged = this.p.tls !== undefined && !noCertChanges(certs);
    const withCerts = (r: HaproxyApplyResult): HaproxyApplyResult => (certsChanged ? { ...r, certs } : r);
    if (target.text === applied.text && !applied.stale && !certsChanged) return { method: 'none', changes, reloadReason: null };
    // The files first: `haproxy -c` and any reload read the crt-list and the copies.
    if (this.p.tls && (certsChanged || applied.stale)) await this.p.tls.syncFiles(target.certificates ?? []);

    const reloadReason = applied.stale
      ? 'the live config may not match the last plan'
      : applied.templatesKey !== target.templatesKey
        ? 'a template changed'
        : (changes.structural ?? (isEmpty(changes) && target.text !== applied.text ? 'the file changed beyond its servers' : null));

    const before = await this.p.files.read('haproxy.cfg');
    // Server-only changes skip the `haproxy -c` fork: their lines come from validated values in a
    // structure the last check proved, and HAProxy itself accepts each `add server`. A file that
    // is reloaded after all (the Runtime API failed) is checked first, below.
    const checked = reloadReason !== null;
    await this.p.files.install('haproxy.cfg', target.text, checked ? validate : async () => undefined);
    timing.mark('file installed');

    if (reloadReason === null) {
      try {
        if (certsChanged) await this.p.tls!.swap(certs);
        changes = await this.#reviveReadded(changes);
        const waiting = isEmpty(changes) ? [] : await this.p.applyServers(changes);
        timing.mark(RUNTIME_API_MARK);
        this.#queueDeletes(changes, waiting);
        await this.p.files.markGood('haproxy.cfg');
        return withCerts({ method: 'runtime-api', changes, reloadReason: null });
      } catch (err) {
        this.p.log.warn({ err }, 'runtime API change failed; reloading instead');
      }
    }
    if (!checked) {
      try {
        await validate(this.p.files.path('haproxy.cfg'));
      } catch (err) {
        if (before !== null) await this.p.files.restore('haproxy.cfg', before);
        throw err;
      }
    }
    await this.#reload(before);
    timing.mark('reloaded');
    await this.p.files.markGood('haproxy.cfg');
    return withCerts({ method: 'reload', changes, reloadReason: reloadReason ?? 'the runtime API change failed' });
  }

  async #reload(before: string | null): Promise<void> {
    try {
      await this.p.control.reload();
    } catch (err) {
      // Never leave a live file that did not load: the next restart would crash-loop on it.
      if (before !== null) await this.p.files.restore('haproxy.cfg', before);
      const output = err instanceof ReloadFailedError ? err.output : (err as Error)?.message ?? String(err);
      throw err instanceof ReloadFailedError ? err : new ReloadFailedError(output, unboundPorts(output), err);
    }
  }

  /**
   * A server added under the name of one whose delete is still pending (its
   * container came back): the old delete is cancelled, and the server is deleted
   * now or, when connections still hold it, brought back at its new address.
   */
  async #reviveReadded(changes: ChangeSet): Promise<ChangeSet> {
    const add: ServerRef[] = [];
    for (const ref of changes.add) {
      const pending = this.p.deletes.pending().find((p) => p.backend === ref.backend && p.server === ref.server.name);
      if (!pending || !this.p.deletes.cancel(ref.backend, ref.server.name)) {
        add.push(ref);
        continue;
      }
      await this.p.deletes.idle();
      const id = `${ref.backend}/${ref.server.name}`;
      // Not settled in maintenance yet: a delete could free it under a retrying stream (delete-queue.ts).
      const answer = this.p.deletes.settled(pending) ? await this.p.api.command(`del server ${id}`) : 'not settled';
      if (/Server deleted|No such server/i.test(answer)) {
        add.push(ref);
        continue;
      }
      await this.#revive(ref.backend, ref.service, ref.server);
      this.p.log.info({ server: id }, 'a drained server came back: its pending delete was cancelled');
    }
    return { ...changes, add };
  }

  async #revive(backend: string, service: Service, server: Server): Promise<void> {
    const id = `${backend}/${server.name}`;
    await this.p.api.expect(`set server ${id} addr ${server.address} port ${server.port}`, /changed|no need to change/i);
    await this.p.api.expect(`set server ${id} weight ${server.weight}`, 'empty');
    await this.p.api.expect(`set maxconn server ${id} ${server.maxconn ?? 0}`, 'empty');
    if (service.check.enabled) await this.p.api.expect(`enable health ${id}`, 'empty');
    await this.p.api.expect(`set server ${id} state ${adminOf(server)}`, 'empty');
  }

  #queueDeletes(changes: ChangeSet, waiting: readonly { backend: string; server: string }[]): void {
    const now = this.p.now?.() ?? Date.now();
    for (const w of waiting) {
      const ref = changes.remove.find((r) => r.backend === w.backend && r.server.name === w.server);
      if (!ref) continue;
      this.p.deletes.add({ backend: w.backend, server: w.server, address: hostPort(ref.server.address, ref.server.port), since: now });
    }
  }

  /**
   * Drains a stopping container's servers at once, without waiting for a pass; returns
   * the servers drained. A server that is its backend's last ready one is left serving
   * (see `drainNow`): the pass that removes it adds its replacement first.
   */
  drainContainer(services: readonly Service[], backendOf: (service: string) => string, containerId: string): Promise<string[]> {
    // Serialized: with three stop events at once, each must see the others' drains, or
    // all three would find the other two still ready and the backend would end up empty.
    const run = this.#drains.then(() => this.#drainContainer(services, backendOf, containerId));
    this.#drains = run.catch(() => undefined);
    return run;
  }

  async #drainContainer(services: readonly Service[], backendOf: (service: string) => string, containerId: string): Promise<string[]> {
    // Every line of it: a single-class container's backup line too, so its standby role ends here.
    const targets = services.flatMap((service) => linesOfContainer(service, containerId).map((server) => ({ backend: backendOf(service.name), server: server.name })));
    if (targets.length === 0) return [];
    const { drain, keep } = drainNow(targets, await this.p.api.serversState(0));
    if (keep.length > 0) {
      this.p.log.info({ servers: keep.map((k) => `${k.backend}/${k.server}`) }, 'container stopping: not drained yet, it is the last ready server of its backend');
    }
    if (drain.length === 0) return [];
    const ids = drain.map((d) => `${d.backend}/${d.server}`);
    // One connection for all of them: a burst of stops must not flood the admin socket.
    const answers = await this.p.api.batch(ids.map((id) => `set server ${id} state drain`));
    const bad = answers.findIndex((a) => a.trim() !== '');
    if (bad >= 0) throw new Error(`set server ${ids[bad]} state drain: ${answers[bad]!.trim()}`);
    return ids;
  }
}

export interface ServerId {
  readonly backend: string;
  readonly server: string;
}

/** Up (srv_op_state 2), and not in maintenance or drain (srv_admin_state 0): HAProxy sends it new requests. */
const isReady = (r: ServerStateRow) => r.opState === 2 && r.adminState === 0 && r.weight > 0;

/**
 * Which of a stopping container's servers to drain now. Pure. A drain that would
 * leave a backend with no ready server is deferred for that backend: a container
 * in its stop grace period still answers, a backend with no ready server answers
 * 503 to every request at once. The case is a start-first replacement (the new
 * container started, the old one stopped) where Docker's stop event arrives
 * before the pass that adds the new server (measured: a single replica under
 * the churn bench had no ready server ~100-200 ms per replacement). The pass that
 * follows the stop removes the old server anyway, after adding the new one.
 */
export function drainNow(targets: readonly ServerId[], live: readonly ServerStateRow[]): { drain: ServerId[]; keep: ServerId[] } {
  const drain: ServerId[] = [];
  const keep: ServerId[] = [];
  for (const backend of new Set(targets.map((t) => t.backend))) {
    const mine = targets.filter((t) => t.backend === backend);
    const names = new Set(mine.map((t) => t.server));
    const ready = live.filter((r) => r.backend === backend && isReady(r));
    const last = ready.length > 0 && ready.every((r) => names.has(r.server));
    (last ? keep : drain).push(...mine);
  }
  return { drain, keep };
}
