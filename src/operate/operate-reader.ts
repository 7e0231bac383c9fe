import { ControlRefusedError, type ReadHandlers } from '../control/control-types.js';
import type { ServerStateRow } from '../haproxy/runtime-api.js';
import type { ContainerInfo, ContainerSummary } from '../model/container.js';
import { buildDesiredState, type DesiredState, type SelectionSettings } from '../model/desired-state.js';
import { closestName } from '../util/closest-name.js';
import { checkContainers } from './check.js';
import { buildInventory } from './inventory.js';
import type { AdminNote, CheckAnswer, EngineAnswer, ServerRole, ShowAnswer, VerifyAnswer } from './operate-types.js';
import { verifyLive } from './verify.js';

// The agent's side of `vipkeeper show`, `check` and `verify`: gathers what the
// pure parts need (the applied state, HAProxy's servers read now, the engines'
// containers listed now) from the edges it is handed, and lets them judge.
// Reads only: nothing here changes what the agent or HAProxy does.

/** One source of containers (an EngineLink). */
export interface ContainerSource {
  readonly name: string;
  /** Labelled containers, listed and inspected now (not a cache). */
  listNow(): Promise<ContainerInfo[]>;
  /** Every container, labelled or not, running or not: one list request. */
  listEverything(): Promise<ContainerSummary[]>;
}

export interface OperateParts {
  readonly settings: () => SelectionSettings;
  /** The applied desired state; null before the first pass went live. */
  readonly applied: () => DesiredState | null;
  /** HAProxy's `show servers state`, read now. */
  readonly serversState: () => Promise<readonly ServerStateRow[]>;
  /** Containers Docker is stopping. */
  readonly stopping: () => ReadonlySet<string>;
  /** Servers drained for removal, not deleted yet. */
  readonly leaving: () => readonly { readonly backend: string; readonly server: string }[];
  readonly sources: readonly ContainerSource[];
  /** Admin states set on purpose by vipkeeper (operator overrides, the member class), by backend/server. */
  readonly notes?: () => ReadonlyMap<string, AdminNote>;
  /** Server roles (the member class), by backend/server. */
  readonly roles?: () => ReadonlyMap<string, ServerRole>;
}

export class OperateReader implements ReadHandlers {
  constructor(private readonly p: OperateParts) {}

  get #defaultEngine(): string | null {
    return this.p.sources.length === 1 ? this.p.sources[0]!.name : null;
  }

  #applied(): DesiredState {
    const applied = this.p.applied();
    if (applied === null) throw new ControlRefusedError('the agent is starting: its first pass has not gone live yet; ask again in a moment', 503);
    return applied;
  }

  async #rows(): Promise<readonly ServerStateRow[]> {
    try {
      return await this.p.serversState();
    } catch (err) {
      throw new ControlRefusedError(`HAProxy's Runtime API does not answer: ${(err as Error).message}`, 503);
    }
  }

  async #inventory(applied: DesiredState) {
    return buildInventory({
      services: applied.services,
      rows: await this.#rows(),
      stopping: this.p.stopping(),
      leaving: this.p.leaving(),
      defaultEngine: this.#defaultEngine,
      ...(this.p.notes ? { notes: this.p.notes() } : {}),
      ...(this.p.roles ? { roles: this.p.roles() } : {}),
    });
  }

  async show(service: string | null): Promise<ShowAnswer> {
    const applied = this.#applied();
    if (service !== null && !applied.services.some((s) => s.name === service)) {
      const names = applied.services.map((s) => s.name);
      const near = closestName(service, names, 2);
      throw new ControlRefusedError(
        `no service named ${JSON.stringify(service)}${near ? `; did you mean ${near}?` : ''} (services: ${names.join(', ') || 'none'})`,
        404,
      );
    }
    const services = await this.#inventory(applied);
    return { services: service === null ? services : services.filter((s) => s.name === service) };
  }

  async check(queries: readonly string[]): Promise<CheckAnswer> {
    const applied = this.#applied();
    const [inventory, listed] = await Promise.all([this.#inventory(applied), this.#ask((s) => s.listEverything())]);
    return checkContainers({
      queries,
      containers: listed.found.flat(),
      engines: listed.engines,
      settings: this.p.settings(),
      state: applied,
      inventory,
    });
  }

  async verify(): Promise<VerifyAnswer> {
    const applied = this.#applied();
    // The engines first, then HAProxy: a server added meanwhile has its container listed already.
    const listed = await this.#ask((s) => s.listNow());
    const rows = await this.#rows();
    const fresh = listed.found.flat();
    const settings = this.p.settings();
    return verifyLive({
      rows,
      fresh,
      engines: listed.engines,
      expected: buildDesiredState(fresh, settings, { stopping: this.p.stopping() }),
      applied,
      leaving: this.p.leaving(),
      settings,
      defaultEngine: this.#defaultEngine,
    });
  }

  /** Asks every source at once; one that fails is named, the others still count. */
  async #ask<T>(fn: (s: ContainerSource) => Promise<T[]>): Promise<{ found: T[][]; engines: EngineAnswer[] }> {
    const settled = await Promise.allSettled(this.p.sources.map(fn));
    return {
      found: settled.map((r) => (r.status === 'fulfilled' ? r.value : [])),
      engines: settled.map((r, i) => ({
        name: this.p.sources[i]!.name,
        ok: r.status === 'fulfilled',
        error: r.status === 'rejected' ? (r.reason instanceof Error ? r.reason.message : String(r.reason)) : null,
      })),
    };
  }
}

/** The control server's read handlers, bound to one reader. */
export function readHandlers(parts: OperateParts): ReadHandlers {
  const r = new OperateReader(parts);
  return { show: (s) => r.show(s), check: (q) => r.check(q), verify: () => r.verify() };
}
