import type { ApplyMethod } from '../agent/pass-record.js';
import { ReloadFailedError } from '../errors.js';
import type { ConfigFiles } from '../files/config-store.js';
import type { Logger } from '../log.js';
import { adminOf, type Server, type Service } from '../model/desired-state.js';
import { linesOfContainer } from '../render/haproxy-servers.js';
import type { DeleteQueue } from './delete-queue.js';
import { expectBatch, type RuntimeApi } from './runtime-api.js';
import { adminDrift, type ChangeSet, diffServices, isEmpty, type ServerRef } from './server-changes.js';

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
}

export interface HaproxyTarget {
  readonly services: readonly Service[];
  readonly text: string;
  readonly templatesKey: string;
}

export interface HaproxyApplierParts {
  readonly files: ConfigFiles;
  readonly validate: (file: string) => Promise<void>;
  readonly control: HaproxyControl;
  readonly api: RuntimeApi;
  readonly deletes: DeleteQueue;
  /** Server changes through the Runtime API; returns removed servers that still had connections. */
  readonly applyServers: (changes: ChangeSet) => Promise<readonly { backend: string; server: string }[]>;
  readonly log: Logger;
  readonly now?: () => number;
}

export interface HaproxyApplyResult {
  readonly method: ApplyMethod;
  readonly changes: ChangeSet;
  /** Why a reload was needed, when one was. */
  readonly reloadReason: string | null;
  /** Servers whose admin state HAProxy had wrong and that were set right (`be/server: was -> want`). */
  readonly adminFixed?: readonly string[];
}

const RELOAD_PORT = /cannot bind socket[^[\n]*\[[^\]\n]*:(\d+)\]/g;

/** Frontend ports HAProxy's output says it could not bind. Pure. */
export function unboundPorts(output: string): number[] {
  return [...new Set([...output.matchAll(RELOAD_PORT)].map((m) => Number(m[1])))].sort((a, b) => a - b);
}

export class HaproxyApplier {
  constructor(private readonly p: HaproxyApplierParts) {}

  /** At start: the first file, checked and swapped in; true when it differs from the live one. */
  installInitial(text: string): Promise<boolean> {
    return this.p.files.install('haproxy.cfg', text, this.p.validate);
  }

  /** Puts back a file that ran before (the new one did not load). */
  restore(text: string): Promise<void> {
    return this.p.files.restore('haproxy.cfg', text);
  }

  /** After the children came up on the live file: it ran. */
  markGood(): Promise<void> {
    return this.p.files.markGood('haproxy.cfg');
  }

  async apply(applied: HaproxyApplied, target: HaproxyTarget): Promise<HaproxyApplyResult> {
    const result = await this.#apply(applied, target);
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

  async #apply(applied: HaproxyApplied, target: HaproxyTarget): Promise<HaproxyApplyResult> {
    let changes = diffServices(applied.services, target.services);
    if (target.text === applied.text && !applied.stale) return { method: 'none', changes, reloadReason: null };

    const reloadReason = applied.stale
      ? 'the live config may not match the last plan'
      : applied.templatesKey !== target.templatesKey
        ? 'a template changed'
        : (changes.structural ?? (isEmpty(changes) ? 'the file changed beyond its servers' : null));

    const before = await this.p.files.read('haproxy.cfg');
    // Server-only changes skip the `haproxy -c` fork: their lines come from validated values in a
    // structure the last check proved, and HAProxy itself accepts each `add server`. A file that
    // is reloaded after all (the Runtime API failed) is checked first, below.
    const checked = reloadReason !== null;
    await this.p.files.install('haproxy.cfg', target.text, checked ? this.p.validate : async () => undefined);

    if (reloadReason === null) {
      try {
        changes = await this.#reviveReadded(changes);
        const waiting = await this.p.applyServers(changes);
        this.#queueDeletes(changes, waiting);
        await this.p.files.markGood('haproxy.cfg');
        return { method: 'runtime-api', changes, reloadReason: null };
      } catch (err) {
        this.p.log.warn({ err }, 'runtime API change failed; reloading instead');
      }
    }
    if (!checked) {
      try {
        await this.p.validate(this.p.files.path('haproxy.cfg'));
      } catch (err) {
        if (before !== null) await this.p.files.restore('haproxy.cfg', before);
        throw err;
      }
    }
    await this.#reload(before);
    await this.p.files.markGood('haproxy.cfg');
    return { method: 'reload', changes, reloadReason: reloadReason ?? 'the runtime API change failed' };
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
      if (!this.p.deletes.cancel(ref.backend, ref.server.name)) {
        add.push(ref);
        continue;
      }
      await this.p.deletes.idle();
      const id = `${ref.backend}/${ref.server.name}`;
      const answer = await this.p.api.command(`del server ${id}`);
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
      this.p.deletes.add({ backend: w.backend, server: w.server, address: `${ref.server.address}:${ref.server.port}`, since: now });
    }
  }

  /** Drains a stopping container's servers at once, without waiting for a pass. */
  async drainContainer(services: readonly Service[], backendOf: (service: string) => string, containerId: string): Promise<string[]> {
    // Every line of it: a single-class container's backup line too, so its standby role ends here.
    const ids = services.flatMap((service) => linesOfContainer(service, containerId).map((server) => `${backendOf(service.name)}/${server.name}`));
    if (ids.length === 0) return [];
    // One connection for all of them: a burst of stops must not flood the admin socket.
    const answers = await this.p.api.batch(ids.map((id) => `set server ${id} state drain`));
    const bad = answers.findIndex((a) => a.trim() !== '');
    if (bad >= 0) throw new Error(`set server ${ids[bad]} state drain: ${answers[bad]!.trim()}`);
    return ids;
  }
}
