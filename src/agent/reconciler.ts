import { ConfigRejectedError, ConfigWriteError, errorMessage, ReloadFailedError, TemplateError } from '../errors.js';
import type { HaproxyApplied, HaproxyApplier } from '../haproxy/haproxy-applier.js';
import type { PortGuard } from '../haproxy/port-guard.js';
import type { KeepalivedApplier } from '../keepalived/keepalived-applier.js';
import type { Logger } from '../log.js';
import type { ContainerInfo } from '../model/container.js';
import type { DesiredState } from '../model/desired-state.js';
import type { Plan, PlanContext } from '../pipeline.js';
import { backendName } from '../render/haproxy-view.js';
import { haproxyServers } from '../render/haproxy-servers.js';
import type { RenderedConfigs } from '../render/render-configs.js';
import type { ApplyMethod, PassRecord, PassTotals } from './pass-record.js';
import { PassTimer, RUNTIME_API_MARK } from './pass-timer.js';
import { accepted } from '../tls/tls-plan.js';
import { type Clock, errorCode, type RetryPolicy, systemClock } from './retry-policy.js';

// The reconcile loop's one step, level-based and idempotent: list the real
// state of every engine, plan the whole desired state, apply the difference,
// record what happened. A pass never throws: a failure keeps the last good
// config live, is recorded, and the retry policy says when to try again.
// Each pass times its stages (list, inspect, plan, render, validate, apply):
// the record carries them, the debug log shows them as 'pass breakdown'.

export interface ReconcilerParts {
  /** Every engine's containers; never throws (an engine that does not answer keeps its last ones for a grace period). */
  readonly list: () => Promise<readonly ContainerInfo[]>;
  /**
   * What the last list() cost each engine; `inspectMs` (their inspects, side by side) is
   * taken out of the list stage into the inspect stage.
   */
  readonly listStats?: () => readonly ({ readonly inspectMs?: number } | null)[];
  /** Reads what the plan needs besides containers (the certificates directory) before each plan. */
  readonly prepare?: () => Promise<void>;
  /** The pure core, first half: containers -> desired state. */
  readonly desire: (containers: readonly ContainerInfo[], context: PlanContext) => DesiredState;
  /** The pure core, second half: desired state -> both files; throws TemplateError when a template does not print. */
  readonly render: (state: DesiredState) => RenderedConfigs;
  /** Identity of the templates in use now. */
  readonly templatesKey: () => string;
  readonly haproxy: Pick<HaproxyApplier, 'apply' | 'installInitial' | 'restore'>;
  readonly keepalived: Pick<KeepalivedApplier, 'apply' | 'installInitial'>;
  /** The live files, as a previous run left them (null: none). */
  readonly readLive: () => Promise<{ haproxy: string | null; keepalived: string | null }>;
  readonly stopping: { current(containers: readonly ContainerInfo[]): ReadonlySet<string> };
  readonly ports: Pick<PortGuard, 'unavailable' | 'noteUnbound'>;
  /** The HTTPS port this state would serve on, or null (no HTTPS frontend): probed like a frontend port. */
  readonly httpsPortOf?: (state: DesiredState) => number | null;
  readonly retry: RetryPolicy;
  /** Asks for another pass after `delayMs`. */
  readonly retryLater: (delayMs: number, reason: string) => void;
  /** Skipped containers and label notices of each plan. */
  readonly warnings: (state: DesiredState) => void;
  readonly log: Logger;
  readonly clock?: Clock;
  /** Monotonic milliseconds for the stage times: performance.now with the system clock, else the injected clock's. */
  readonly stopwatch?: () => number;
}

/** What runs now, as far as the agent knows. */
export interface Applied {
  readonly haproxy: HaproxyApplied;
  readonly keepalivedText: string;
  /** The state of the last plan that went live (the services shown by /status). */
  readonly state: DesiredState;
}

/** Start-up's handle on the children, so the initial apply can bring them up on the files it wrote. */
export interface ChildrenStart {
  /** A haproxy of an earlier agent runs (and holds the live file's ports). */
  keptHaproxy(): boolean;
  startHaproxy(fileChanged: boolean): Promise<void>;
  startKeepalived(fileChanged: boolean): Promise<void>;
}

export const PASS = 'reconcile pass';

/** Ports a haproxy.cfg binds (`bind :80`, `bind 1.2.3.4:443 ssl ...`). Pure. */
export function boundPorts(cfg: string): number[] {
  return [...cfg.matchAll(/^\s*bind\s+\S*?:(\d+)(?=\s|$)/gm)].map((m) => Number(m[1]));
}
const HISTORY = 20;
/** How soon a plan that found the HTTPS port busy looks again. */
export const HTTPS_PORT_RECHECK_MS = 5_000;
interface PassStart {
  readonly t0: number;
  readonly timer: PassTimer;
  readonly waitedMs: number | null;
}

const round1 = (ms: number) => Math.round(ms * 10) / 10;
const rounded = <T extends Readonly<Record<string, number>>>(t: T): T => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, round1(v)])) as T;
const EMPTY_STATE: DesiredState = { services: [], skipped: [], notices: [] };

export class Reconciler {
  #applied: Applied | null = null;
  #paused: string | null = null;
  #passes = 0;
  #history: PassRecord[] = [];
  #byMethod: Record<string, number> = {};
  #seconds = 0;
  #failed = 0;
  /** Why the HTTPS port could not be used at the last plan (undefined: it could, or no HTTPS). */
  #httpsBlocked: string | undefined = undefined;
  readonly #clock: Clock;
  readonly #stopwatch: () => number;

  constructor(private readonly p: ReconcilerParts) {
    const clock = (this.#clock = p.clock ?? systemClock);
    // Date.now's whole milliseconds cannot tell a 0.4 ms stage from a 1.4 ms one.
    this.#stopwatch = p.stopwatch ?? (clock === systemClock ? () => performance.now() : () => clock.now());
  }

  get applied(): Applied | null {
    return this.#applied;
  }

  get lastPass(): PassRecord | null {
    return this.#history.at(-1) ?? null;
  }

  get history(): readonly PassRecord[] {
    return this.#history;
  }

  totals(): PassTotals {
    return { byMethod: { ...this.#byMethod }, secondsTotal: this.#seconds, failed: this.#failed };
  }

  /** No passes while haproxy is down on purpose (a drill); `resume` lets them run again. */
  pause(reason: string): void {
    this.#paused = reason;
  }

  resume(): void {
    this.#paused = null;
  }

  /**
   * The first apply, at start: writes both files and brings the children up
   * on them. A plan that fails (a broken template, a file the binary refuses)
   * starts on the previous live files when there are some, recorded as a failed
   * pass and retried; without them the start fails.
   */
  async initial(children: ChildrenStart): Promise<void> {
    const t0 = this.#clock.now();
    const timer = new PassTimer(this.#stopwatch);
    let failure: unknown = null;
    let plan: Plan | null = null;
    let haproxyChanged = false;
    let keepalivedChanged = false;
    const before = await this.p.readLive();
    // At start the ports a kept haproxy holds are ours; any other holder of a frontend port is not.
    const ours = children.keptHaproxy() && before.haproxy !== null ? boundPorts(before.haproxy) : [];
    try {
      plan = await this.#plan(await this.#list(timer), null, timer, ours);
      this.p.warnings(plan.state);
      const rendered = plan.rendered;
      haproxyChanged = await timer.time('apply', () => this.p.haproxy.installInitial(rendered.haproxyCfg, timer, accepted(plan!.state.certificates)));
      keepalivedChanged = await timer.time('apply', () => this.p.keepalived.installInitial(rendered.keepalivedConf, timer));
    } catch (err) {
      failure = err;
    }
    let live: { haproxy: string; keepalived: string } | null = null;
    if (failure !== null) {
      const files = await this.p.readLive();
      if (files.haproxy === null || files.keepalived === null) throw failure;
      live = { haproxy: files.haproxy, keepalived: files.keepalived };
      this.p.log.error({ err: failure, code: errorCode(failure) }, 'the new config cannot be used; starting with the previous one, and trying again');
    }
    try {
      await timer.time('apply', () => children.startHaproxy(haproxyChanged));
    } catch (err) {
      // A kept haproxy that did not load the new file still runs the old one: the file must say so too.
      if (haproxyChanged && before.haproxy !== null) await this.p.haproxy.restore(before.haproxy);
      throw err;
    }
    await timer.time('apply', () => children.startKeepalived(keepalivedChanged));

    if (plan !== null && failure === null) {
      this.#applied = {
        haproxy: { services: plan.state.services, text: plan.rendered.haproxyCfg, templatesKey: this.p.templatesKey(), stale: false, certificates: accepted(plan.state.certificates) },
        keepalivedText: plan.rendered.keepalivedConf,
        state: plan.state,
      };
      this.p.retry.succeeded(PASS);
      this.#record({
        triggers: ['initial state'],
        applied: 'start',
        added: plan.state.services.flatMap((s) => haproxyServers(s).map((x) => `${backendName(s.name)}/${x.name}`)),
        t0,
        timer,
      });
      return;
    }
    this.#applied = {
      haproxy: { services: [], text: live!.haproxy, templatesKey: '', stale: true },
      keepalivedText: live!.keepalived,
      state: EMPTY_STATE,
    };
    this.#failedPass(['initial state'], { t0, timer, waitedMs: null }, failure);
  }

  /**
   * One pass. Never throws; returns its record, or null when there was nothing to do.
   * `waitedMs`: how long its first trigger waited for it (the scheduler's debounce), if known.
   */
  async pass(triggers: readonly string[], waitedMs: number | null = null): Promise<PassRecord | null> {
    const applied = this.#applied;
    if (applied === null || this.#paused !== null) return null;
    const at = { t0: this.#clock.now(), timer: new PassTimer(this.#stopwatch), waitedMs };
    const timer = at.timer;
    let plan: Plan;
    try {
      plan = await this.#plan(await this.#list(timer), applied, timer);
      this.p.warnings(plan.state);
    } catch (err) {
      return this.#failedPass(triggers, at, err);
    }

    let method: ApplyMethod = 'none';
    let reloadReason: string | null = null;
    let names = { added: [] as string[], removed: [] as string[], updated: [] as string[] };
    try {
      const target = { services: plan.state.services, text: plan.rendered.haproxyCfg, templatesKey: this.p.templatesKey(), certificates: accepted(plan.state.certificates) };
      const result = await timer.time('apply', () => this.p.haproxy.apply(applied.haproxy, target, timer));
      method = result.method;
      reloadReason = result.reloadReason;
      names = {
        added: result.changes.add.map((a) => `${a.backend}/${a.server.name}`),
        removed: result.changes.remove.map((a) => `${a.backend}/${a.server.name}`),
        updated: [
          ...result.changes.update.map((a) => `${a.backend}/${a.after.name}`),
          ...(result.adminFixed ?? []),
          ...(result.certs ? [...result.certs.add, ...result.certs.update].map((c) => `certificate ${c.file}`) : []),
        ],
      };
      if (result.certs) names.removed = [...names.removed, ...result.certs.remove.map((f) => `certificate ${f}`)];
      this.#applied = {
        ...applied,
        haproxy: { services: plan.state.services, text: plan.rendered.haproxyCfg, templatesKey: this.p.templatesKey(), stale: false, certificates: target.certificates },
        state: plan.state,
      };
    } catch (err) {
      // Only a failure after HAProxy may have taken part of the change leaves its state unknown.
      const untouched = err instanceof TemplateError || err instanceof ConfigRejectedError || err instanceof ConfigWriteError;
      if (!untouched) this.#applied = { ...applied, haproxy: { ...applied.haproxy, stale: true } };
      if (err instanceof ReloadFailedError && err.unboundPorts.length > 0) {
        this.p.ports.noteUnbound(err.unboundPorts, 'haproxy could not bind it (another process holds it)');
      }
      return this.#failedPass(triggers, at, err, names);
    }
    try {
      const keepalivedConf = plan.rendered.keepalivedConf;
      if (await timer.time('apply', () => this.p.keepalived.apply(applied.keepalivedText, keepalivedConf, timer))) {
        this.#applied = { ...this.#applied!, keepalivedText: plan.rendered.keepalivedConf };
        if (method === 'none') method = 'reload';
      }
    } catch (err) {
      return this.#failedPass(triggers, at, err, names);
    }

    const wasFailing = this.p.retry.succeeded(PASS);
    if (method === 'none' && !wasFailing) {
      this.p.log.debug({ triggers, stagesMs: rounded(timer.times()) }, 'pass: nothing to change');
      return null;
    }
    return this.#record({ triggers, applied: method, ...names, ...at, reloadReason });
  }

  /** Every engine's containers; the engines' inspects are their own stage. */
  async #list(timer: PassTimer): Promise<readonly ContainerInfo[]> {
    const containers = await timer.time('list', () => this.p.list());
    const inspectMs = Math.max(0, ...(this.p.listStats?.() ?? []).map((s) => s?.inspectMs ?? 0));
    timer.move('list', 'inspect', inspectMs);
    return containers;
  }

  /**
   * Plans, leaving out services whose frontend port cannot be used. `applied` null: the first
   * plan, where `startPorts` are the ports a kept haproxy holds. HAProxy binds with SO_REUSEPORT,
   * so a port another process (another haproxy) holds would not fail: both would answer, each
   * with its own servers. Every port our haproxy does not hold yet is probed first.
   */
  async #plan(containers: readonly ContainerInfo[], applied: Applied | null, timer: PassTimer, startPorts: readonly number[] = []): Promise<Plan> {
    await this.p.prepare?.();
    const state = await timer.time('plan', async () => {
      const stopping = this.p.stopping.current(containers);
      const first = this.p.desire(containers, { stopping });
      const httpsPort = this.p.httpsPortOf?.(first) ?? null;
      const wanted = [...first.services.map((s) => s.frontendPort), ...(httpsPort === null ? [] : [httpsPort])];
      // A stale applied state (kept from before) knows no services: the live file says which ports our haproxy holds.
      const live = new Set(applied === null ? startPorts : [...applied.haproxy.services.map((s) => s.frontendPort), ...boundPorts(applied.haproxy.text)]);
      const unavailable = await this.p.ports.unavailable(wanted, live);
      const httpsBlocked = httpsPort === null ? undefined : unavailable.get(httpsPort);
      if (httpsBlocked !== this.#httpsBlocked) {
        if (httpsBlocked !== undefined) this.p.log.warn({ port: httpsPort, reason: httpsBlocked }, `HTTPS is off: port ${httpsPort} ${httpsBlocked}; HTTP keeps serving, and HTTPS comes back once the port is free`);
        else if (this.#httpsBlocked !== undefined) this.p.log.info({ port: httpsPort }, 'the HTTPS port is free again: HTTPS comes back');
        this.#httpsBlocked = httpsBlocked;
      }
      // Nothing else would trigger a pass when the port comes free: look again in a while.
      if (httpsBlocked !== undefined) this.p.retryLater(HTTPS_PORT_RECHECK_MS, `the HTTPS port ${httpsPort} was busy`);
      if (unavailable.size === 0) return first;
      return this.p.desire(containers, { stopping, unavailablePorts: unavailable, ...(httpsBlocked !== undefined ? { httpsBlocked } : {}) });
    });
    return { state, rendered: timer.timeSync('render', () => this.p.render(state)) };
  }

  #failedPass(triggers: readonly string[], at: PassStart, err: unknown, names?: { added: string[]; removed: string[]; updated: string[] }): PassRecord {
    const retry = this.p.retry.failed(PASS, err);
    this.p.log.error(
      { err, code: errorCode(err), kind: retry.kind, failures: retry.failures, retryInMs: retry.delayMs },
      retry.kind === 'needs-change'
        ? 'pass failed; the last good config stays live; waiting for the input to change'
        : 'pass failed; the last good config stays live; trying again',
    );
    this.p.retryLater(retry.delayMs, `retry after: ${errorMessage(err).split('\n')[0]}`);
    return this.#record({ triggers, applied: 'none', ...(names ?? {}), ...at, error: err, retryInMs: retry.delayMs });
  }

  #record(r: {
    triggers: readonly string[];
    applied: ApplyMethod;
    added?: readonly string[];
    removed?: readonly string[];
    updated?: readonly string[];
    t0: number;
    timer: PassTimer;
    waitedMs?: number | null;
    error?: unknown;
    reloadReason?: string | null;
    retryInMs?: number | null;
  }): PassRecord {
    this.#passes += 1;
    const failed = r.error !== undefined && r.error !== null;
    const stages = rounded(r.timer.times());
    const waitedMs = r.waitedMs ?? null;
    const apiAt = r.timer.markedAt(RUNTIME_API_MARK);
    const record: PassRecord = {
      id: this.#passes,
      at: new Date(this.#clock.now()).toISOString(),
      triggers: r.triggers,
      applied: r.applied,
      added: r.added ?? [],
      removed: r.removed ?? [],
      updated: r.updated ?? [],
      durationMs: this.#clock.now() - r.t0,
      error: failed ? errorMessage(r.error) : null,
      code: failed ? errorCode(r.error) : null,
      reloadReason: r.reloadReason ?? null,
      retryInMs: r.retryInMs ?? null,
      stages,
      waitedMs,
      triggerToRuntimeApiMs: apiAt === null || waitedMs === null ? null : round1(waitedMs + apiAt - r.timer.startedAt),
    };
    this.#history = [...this.#history, record].slice(-HISTORY);
    this.#byMethod[record.applied] = (this.#byMethod[record.applied] ?? 0) + 1;
    if (record.applied !== 'none') this.#seconds += record.durationMs / 1000;
    if (failed) this.#failed += 1;
    const { id, triggers, applied, added, removed, updated, durationMs, reloadReason } = record;
    this.p.log.info({ pass: id, triggers, applied, added, removed, updated, durationMs, ...(reloadReason ? { reloadReason } : {}), ...(failed ? { error: record.error, code: record.code } : {}) }, 'pass');
    if (this.p.log.isLevelEnabled('debug')) {
      // Each engine's list stats have their own line, 'pass: docker part', just before.
      const marksMs = rounded(r.timer.marks());
      this.p.log.debug({ pass: id, durationMs, stagesMs: stages, marksMs, waitedMs, triggerToRuntimeApiMs: record.triggerToRuntimeApiMs }, 'pass breakdown');
    }
    return record;
  }
}
