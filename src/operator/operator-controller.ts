import type { ControlHandlers } from '../control/control-server.js';
import type { ControlAnswer, DisableRequest, EnableRequest, MaintenanceRequest } from '../control/control-types.js';
import type { ServerStateRow } from '../haproxy/runtime-api.js';
import { haproxyAdmin } from '../haproxy/server-changes.js';
import type { Logger } from '../log.js';
import type { AdminOverride, AdminState, DesiredState } from '../model/desired-state.js';
import { backendName } from '../render/haproxy-view.js';
import { type StepBackParts, stepBack } from './maintenance.js';
import type { OperatorFile } from './operator-store.js';
import {
  type Actor,
  EMPTY_OPERATOR_STATE,
  findOverride,
  type Maintenance,
  type OperatorState,
  type OperatorStatus,
  overridesOf,
  pruneRemoved,
  type ServerOverride,
  withMaintenance,
  withOverride,
  withoutOverride,
} from './operator-state.js';
import { type Candidate, candidatesOf, resolveTarget } from './resolve-target.js';

// An operator's hands on this node, through the control socket: take a server
// out (disable, at once or draining first) and bring it back (enable), and put
// the whole node in maintenance. Each change is written to the state file
// first, then applied by a pass like any other change (the wanted admin state
// is part of the desired state), so a re-render, a reload, a restart of haproxy
// or of the agent never undoes it. One operator action at a time.

export interface OperatorParts {
  readonly file: OperatorFile;
  /** The desired state that went live last (null before the first apply). */
  readonly served: () => DesiredState | null;
  /** Runs a pass now and resolves once no pass is pending or running. */
  readonly applyNow: (why: string) => Promise<void>;
  /** HAProxy's servers, fresh. */
  readonly serversState: () => Promise<readonly ServerStateRow[]>;
  /** Sessions a server holds now (`show stat`), null when HAProxy does not say. */
  readonly sessions: (backend: string, server: string) => Promise<number | null>;
  readonly maintenance: StepBackParts & { readonly takesPart: () => boolean };
  readonly log: Logger;
  readonly now?: () => number;
  /** How often a draining server's sessions are counted. */
  readonly drainPollMs?: number;
}


export class OperatorController {
  #state: OperatorState = EMPTY_OPERATOR_STATE;
  #problem: string | null = null;
  #serial: Promise<unknown> = Promise.resolve();
  #drainTimer: NodeJS.Timeout | null = null;
  #closed = false;
  readonly #now: () => number;

  constructor(private readonly p: OperatorParts) {
    this.#now = p.now ?? Date.now;
  }

  /** At start, before keepalived runs: the state file, and the maintenance track file set from it. */
  async load(): Promise<void> {
    const { state, problem } = await this.p.file.load();
    this.#state = state;
    this.#problem = problem;
    if (problem) this.p.log.error({ file: this.p.file.path }, problem);
    else if (state.servers.length > 0 || state.maintenance) {
      this.p.log.info({ overrides: state.servers.length, maintenance: state.maintenance !== null }, 'operator state loaded');
    }
    await this.p.maintenance.writeTrack(state.maintenance ? '1' : '0');
    if (state.maintenance) this.p.log.warn({ since: state.maintenance.since, reason: state.maintenance.reason }, 'this node is in maintenance: it stays out of VRRP until `vipkeeper maintenance off`');
    this.#watchDrains();
  }

  /** Each overridden container's wanted admin state, for the plan. */
  overrides(): ReadonlyMap<string, AdminOverride> {
    return overridesOf(this.#state);
  }

  /**
   * Forgets overrides of containers that are gone. `complete`: every engine answered the
   * list (a down engine's containers are not known to be gone).
   */
  prune(containers: readonly { id: string }[], complete: boolean): void {
    if (!complete || this.#state.servers.length === 0) return;
    const existing = new Set(containers.map((c) => c.id));
    if (this.#state.servers.every((s) => existing.has(s.containerId))) return;
    void this.#exclusive(async () => {
      const { state, removed } = pruneRemoved(this.#state, existing);
      if (removed.length === 0) return;
      await this.#save(state);
      this.p.log.info({ servers: removed.map((r) => `${r.service}/${r.server}`), containers: removed.map((r) => r.containerId.slice(0, 12)) }, 'operator override dropped: its container was removed');
    }).catch((err: unknown) => this.p.log.warn({ err }, 'could not drop the override of a removed container; trying again on the next pass'));
  }

  /** The control socket's routes for operators. */
  handlers(): Required<Pick<ControlHandlers, 'disable' | 'enable' | 'maintenance'>> {
    return { disable: (r, who) => this.disable(r, who), enable: (r, who) => this.enable(r, who), maintenance: (r, who) => this.maintenance(r, who) };
  }

  status(): OperatorStatus {
    return { stateFile: this.p.file.path, problem: this.#problem, maintenance: this.#state.maintenance, overrides: this.#state.servers };
  }

  disable(r: DisableRequest, who: Actor): Promise<ControlAnswer> {
    return this.#exclusive(async () => {
      const served = this.p.served();
      if (!served) return { ok: false, message: 'the agent has not applied its first state yet: try again in a moment' };
      const found = resolveTarget(r.target, candidatesOf(served), served.skipped);
      if (!found.ok) return { ok: false, message: found.message, ...(found.kind === 'bad' ? { bad: true } : {}) };
      const c = found.candidate;
      const want: 'drain' | 'maint' = r.drain ? 'drain' : 'maint';
      const had = findOverride(this.#state, c.containerId);
      if (had && (had.admin === 'maint' || want === 'drain')) {
        return { ok: false, message: `${describe(c)} is already ${had.admin === 'maint' ? 'in maintenance' : 'draining'} by an operator since ${had.since}${by(had.by)}: nothing changed` };
      }
      const entry: ServerOverride = {
        containerId: c.containerId,
        containerName: c.containerName,
        service: c.service,
        server: c.server,
        admin: want,
        drainFirst: r.drain,
        reason: r.reason,
        since: new Date(this.#now()).toISOString(),
        by: who,
      };
      await this.#save(withOverride(this.#state, entry));
      this.p.log.warn({ server: `${backendName(c.service)}/${c.server}`, container: c.containerId.slice(0, 12), admin: want, reason: r.reason, who }, `operator: ${c.service}/${c.server} ${want === 'drain' ? 'draining, then maintenance' : 'in maintenance'}`);
      await this.p.applyNow(`operator disabled ${c.service}/${c.server}`);
      if (want === 'drain') this.#watchDrains();
      const live = await this.#liveAdmin(c);
      const sessions = await this.p.sessions(backendName(c.service), c.server).catch(() => null);
      const inFlight = sessions === null ? '' : `, ${sessions} connection${sessions === 1 ? '' : 's'} in flight`;
      const applied = live === want || (want === 'drain' && live === 'maint');
      const message = applied
        ? want === 'drain'
          ? `${describe(c)} drains: no new requests${inFlight}; maintenance once they are done`
          : `${describe(c)} is in maintenance: no new requests${inFlight}`
        : `${describe(c)} is disabled (kept in ${this.p.file.path}), but HAProxy shows it ${live ?? 'unknown'} yet: the agent applies it on its next pass (see vipkeeper status)`;
      return { ok: true, message, data: { server: `${c.service}/${c.server}`, container: c.containerId, admin: want, haproxy: live, sessions, reason: r.reason } };
    });
  }

  enable(r: EnableRequest, who: Actor): Promise<ControlAnswer> {
    return this.#exclusive(async () => {
      const served = this.p.served();
      // A stopped container keeps its override: it is found in the state file, not among the servers.
      const candidates: Candidate[] = [
        ...this.#state.servers.map((s) => ({ containerId: s.containerId, containerName: s.containerName, service: s.service, server: s.server })),
        ...(served ? candidatesOf(served) : []),
      ];
      const found = resolveTarget(r.target, candidates, served?.skipped ?? []);
      if (!found.ok) return { ok: false, message: found.message, ...(found.kind === 'bad' ? { bad: true } : {}) };
      const c = found.candidate;
      const had = findOverride(this.#state, c.containerId);
      if (!had) return { ok: false, message: `${describe(c)} is not disabled by an operator: nothing changed` };
      await this.#save(withoutOverride(this.#state, c.containerId));
      this.p.log.warn({ server: `${backendName(c.service)}/${c.server}`, container: c.containerId.slice(0, 12), was: had.admin, who }, `operator: ${c.service}/${c.server} enabled`);
      await this.p.applyNow(`operator enabled ${c.service}/${c.server}`);
      const servedNow = this.p.served() ? candidatesOf(this.p.served()!).some((x) => x.containerId === c.containerId) : false;
      if (!servedNow) return { ok: true, message: `${describe(c)} is enabled: it serves again once its container runs`, data: { server: `${c.service}/${c.server}`, container: c.containerId, admin: 'ready', haproxy: null } };
      const live = await this.#liveAdmin(c);
      return {
        ok: true,
        message: live === 'ready' ? `${describe(c)} is ready: it takes requests again` : `${describe(c)} is enabled, but HAProxy shows it ${live ?? 'unknown'} yet: the agent applies it on its next pass`,
        data: { server: `${c.service}/${c.server}`, container: c.containerId, admin: 'ready', haproxy: live },
      };
    });
  }

  maintenance(r: MaintenanceRequest, who: Actor): Promise<ControlAnswer> {
    return this.#exclusive(async () => {
      const m = this.#state.maintenance;
      if (!r.on) {
        if (!m) return { ok: false, message: 'this node is not in maintenance: nothing changed' };
        await this.p.maintenance.writeTrack('0');
        await this.#save(withMaintenance(this.#state, null));
        this.p.log.warn({ who, since: m.since }, 'operator: maintenance off; this node takes part in VRRP again');
        return { ok: true, message: `maintenance off: this node takes part in VRRP again (in maintenance since ${m.since})`, data: { maintenance: null } };
      }
      if (m) return { ok: false, message: `this node is already in maintenance since ${m.since}${by(m.by)}${m.reason ? ` (${m.reason})` : ''}: nothing changed` };
      if (!this.p.maintenance.takesPart()) return { ok: false, message: 'this node does not take part in VRRP (node role gate): it holds no VIP to give up' };
      const result = await stepBack(this.p.maintenance, r.force);
      // Several instances: each one's peer and handover too (the top-level fields are the first instance's).
      const perInstance = result.instances.length > 1 ? { instances: result.instances } : {};
      if (!result.ok) return { ok: false, message: result.message, data: { wasState: result.wasState, ...perInstance } };
      const forced = r.force && result.instances.some((i) => i.peer === null);
      const entry: Maintenance = { since: new Date(this.#now()).toISOString(), reason: r.reason, forced, by: who };
      try {
        await this.#save(withMaintenance(this.#state, entry));
      } catch (err) {
        // Not kept, so not in maintenance: an agent restart would bring the node back without a word.
        await this.p.maintenance.writeTrack('0');
        throw err;
      }
      this.p.log.warn({ who, reason: r.reason, wasState: result.wasState, peer: result.peer, handoverMs: result.handoverMs, ...perInstance, forced: entry.forced }, `operator: maintenance on: ${result.message}`);
      return {
        ok: true,
        message: `maintenance on: ${result.message}; this node stays out of VRRP until \`vipkeeper maintenance off\``,
        data: { maintenance: entry, wasState: result.wasState, peer: result.peer, handoverMs: result.handoverMs, ...perInstance },
      };
    });
  }

  close(): void {
    this.#closed = true;
    if (this.#drainTimer) clearTimeout(this.#drainTimer);
  }

  /** One operator change at a time; a failure is an answer, not a crash. */
  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#serial.then(work);
    this.#serial = run.catch(() => undefined);
    return run;
  }

  async #save(state: OperatorState): Promise<void> {
    await this.p.file.save(state);
    this.#state = state;
  }

  async #liveAdmin(c: Candidate): Promise<AdminState | null> {
    const rows = await this.p.serversState().catch(() => []);
    const row = rows.find((x) => x.backend === backendName(c.service) && x.server === c.server);
    return row ? haproxyAdmin(row.adminState) : null;
  }

  /** While a server drains, its sessions are counted; at 0 it goes to maintenance (kept in the file). */
  #watchDrains(): void {
    if (this.#closed || this.#drainTimer || !this.#state.servers.some((s) => s.admin === 'drain')) return;
    this.#drainTimer = setTimeout(() => {
      this.#drainTimer = null;
      void this.#exclusive(() => this.#checkDrains())
        .catch((err: unknown) => this.p.log.warn({ err }, 'could not check a draining server'))
        .finally(() => this.#watchDrains());
    }, this.p.drainPollMs ?? 1000);
    this.#drainTimer.unref();
  }

  async #checkDrains(): Promise<void> {
    const draining = this.#state.servers.filter((s) => s.admin === 'drain');
    if (draining.length === 0) return;
    const rows = await this.p.serversState();
    const done: ServerOverride[] = [];
    for (const s of draining) {
      const backend = backendName(s.service);
      const row = rows.find((r) => r.backend === backend && r.server === s.server);
      // Only once HAProxy drains it (a pass applied it); a server not there now (container stopped) is done too.
      if (row && haproxyAdmin(row.adminState) !== 'drain') continue;
      if (row && (await this.p.sessions(backend, s.server)) !== 0) continue;
      done.push(s);
    }
    if (done.length === 0) return;
    let state = this.#state;
    for (const s of done) state = withOverride(state, { ...s, admin: 'maint' });
    await this.#save(state);
    this.p.log.info({ servers: done.map((s) => `${s.service}/${s.server}`) }, 'operator: drained, now in maintenance');
    await this.p.applyNow('operator drain done');
  }
}

const describe = (c: Candidate) => `${c.service}/${c.server} (container ${c.containerName}, ${c.containerId.slice(0, 12)})`;
const by = (a: Actor | null) => (a ? ` by uid ${a.uid ?? 'unknown'}${a.command ? ` (${a.command})` : ''}` : '');

/** `show stat BACKEND 4 -1` -> the server's current sessions (scur), or null. Pure. */
export function parseSessions(answer: string, backend: string, server: string): number | null {
  const lines = answer.split('\n');
  const header = lines[0]?.replace(/^# /, '').split(',') ?? [];
  const px = header.indexOf('pxname');
  const sv = header.indexOf('svname');
  const scur = header.indexOf('scur');
  if (px < 0 || sv < 0 || scur < 0) return null;
  for (const line of lines.slice(1)) {
    const f = line.split(',');
    if (f[px] === backend && f[sv] === server) {
      const n = Number(f[scur]);
      return Number.isInteger(n) ? n : null;
    }
  }
  return null;
}
