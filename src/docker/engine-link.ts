import { EventEmitter } from 'node:events';
import type { EngineConfig } from '../config/env.js';
import type { Logger } from '../log.js';
import type { ContainerInfo, ContainerSummary } from '../model/container.js';
import { mapBounded } from './bounded.js';
import { connectDocker, type DockerEngine, INSPECT_CONCURRENCY } from './docker-engine.js';
import { type ContainerEvent, DockerEvents } from './docker-events.js';
import { mapSwarm } from './map-task.js';
import { wantsNginxProxy } from '../labels/nginx-proxy.js';

// One source of backends kept connected: a Docker engine (its labelled
// containers) or a Swarm (the tasks of labelled services, through the first
// manager that answers). A heartbeat notices an engine that went away even when
// its event stream just hangs (a dead host sends no FIN); its backends then stay
// for a grace period and leave after it; they come back when it answers again.
// Every change of state is reported as 'changed', which only marks a pass pending.
//
// A pass costs what changed (containers mode): the link keeps its engine's
// containers by id. It lists and inspects them all at start, after every
// (re)connect or resync of the event stream, and when told the cache is stale
// (markStale: the agent's periodic resync, the safety net); between those an
// event for a container re-inspects that one only at the next list(). Swarm is
// always listed in full: tasks on other nodes send no events here.
//
// A slow engine is not a lost one: it is down only after several pings in a
// row fail with nothing on its event stream meanwhile.

export type EngineState = 'connecting' | 'up' | 'down' | 'gated';

export interface EngineStatus {
  readonly name: string;
  readonly endpoint: string;
  readonly mode: 'containers' | 'swarm';
  readonly state: EngineState;
  /** When the current state began. */
  readonly since: string;
  readonly lastEventAt: string | null;
  /** Containers (or tasks) it contributes to the desired state right now. */
  readonly backends: number;
  /** Why it is down or gated. */
  readonly reason: string | null;
}

export interface EngineLinkOptions {
  readonly name: string;
  /** Its endpoints in order of preference: one engine, or a swarm's managers. */
  readonly targets: readonly EngineConfig[];
  readonly mode: 'containers' | 'swarm';
  readonly roleLabel: string;
  readonly backendRole: string;
  readonly appNodeRole: string | null;
  /**
   * VIPKEEPER_COMPAT=nginx-proxy (containers mode): containers with VIRTUAL_HOST are ours
   * too, role label or not. Docker filters neither lists nor events by environment, so the
   * link lists every container and inspects each running one without the role label once:
   * a container's environment never changes, so one found without VIRTUAL_HOST is
   * remembered by id and never inspected again.
   */
  readonly compat?: 'nginx-proxy' | null;
  readonly graceMs: number;
  /** Several engines: qualify server names with this engine's name. */
  readonly qualify: boolean;
  readonly log: Logger;
  readonly heartbeatMs?: number;
  /** Follow the event stream (the agent); a one-shot reader (render) only lists. Default true. */
  readonly follow?: boolean;
  /** The Docker edge; a fake in unit tests. */
  readonly connect?: (target: EngineConfig) => Promise<DockerEngine>;
  /** Pings that must fail in a row (with a silent event stream) before the engine is down. Default 3. */
  readonly pingFailuresBeforeDown?: number;
}

/** What the Docker part of the last list() cost, for a pass breakdown. */
export interface ListStats {
  /** A full list + inspect of every labelled container (always with Swarm); else only the containers with events. */
  readonly full: boolean;
  /** Why it was full: 'start', 'event stream resync', 'periodic resync', 'an inspect failed', ... */
  readonly reason: string | null;
  /** The list request (the Swarm listing with Swarm); 0 when not full. */
  readonly listMs: number;
  readonly inspects: number;
  /** Wall time of the inspects (they run side by side). */
  readonly inspectMs: number;
  /** Containers (or tasks) it returned. */
  readonly containers: number;
}

/** What an event asks of the next list(): inspect the container again, or drop it (destroyed). */
/** What an event asks of the cache: inspect the container, forget it, or mark it not running (no inspect). */
type Pending = 'inspect' | 'remove' | 'dead';

const DEFAULT_PING_FAILURES = 3;

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

export class EngineLink extends EventEmitter {
  #engine: DockerEngine | null = null;
  #target: EngineConfig;
  #events: DockerEvents | null = null;
  #state: EngineState = 'connecting';
  #since = Date.now();
  #reason: string | null = null;
  /** What list() last returned while up: kept through a reconnect and a loss's grace period. */
  #cache: ContainerInfo[] = [];
  /** Containers mode: our containers by id, as last inspected (undecorated). */
  #known = new Map<string, ContainerInfo>();
  /** Containers with events since they were last inspected. */
  readonly #pending = new Map<string, Pending>();
  /** Why the next list() must list everything, or null. */
  #stale: string | null = 'start';
  /** Compat: containers inspected once and found without the role label or VIRTUAL_HOST (their environment is fixed). */
  #notOurs = new Set<string>();
  #listing: Promise<unknown> = Promise.resolve();
  #stats: ListStats | null = null;
  #pingFailures = 0;
  #contributed = 0;
  #timer: NodeJS.Timeout | null = null;
  #graceTimer: NodeJS.Timeout | null = null;
  #beating: Promise<void> | null = null;
  #closed = false;
  #lastEventAt: number | null = null;
  #firstAttempt: Promise<void>;
  #firstAttemptDone!: () => void;

  constructor(private readonly o: EngineLinkOptions) {
    super();
    this.#target = o.targets[0]!;
    this.#firstAttempt = new Promise((resolve) => (this.#firstAttemptDone = resolve));
  }

  get name(): string {
    return this.o.name;
  }

  get state(): EngineState {
    return this.#state;
  }

  /** The engine while it answers (for the swarm node role gate). */
  get engine(): DockerEngine | null {
    return this.#state === 'up' ? this.#engine : null;
  }

  /** Starts connecting; resolves after the first attempt, answered or not. Never throws. */
  start(): Promise<void> {
    void this.#beat();
    return this.#firstAttempt;
  }

  #schedule(): void {
    if (this.#closed || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#beat();
    }, this.o.heartbeatMs ?? 2000);
  }

  /** One heartbeat: connect when not connected, else ping. Never overlaps itself. */
  #beat(): Promise<void> {
    this.#beating ??= (this.#engine ? this.#ping() : this.#connect()).finally(() => {
      this.#beating = null;
      this.#firstAttemptDone();
      this.#schedule();
    });
    return this.#beating;
  }

  async #connect(): Promise<void> {
    let lastError = '';
    for (const target of this.o.targets) {
      if (this.#closed) return;
      try {
        const engine = await (this.o.connect ?? connectDocker)(target);
        if (this.#closed) return;
        this.#engine = engine;
        this.#target = target;
        break;
      } catch (err) {
        lastError = (err as Error).message;
      }
    }
    if (!this.#engine) {
      this.#enter(this.#state === 'connecting' ? 'connecting' : 'down', lastError);
      return;
    }
    if (this.o.follow !== false) await this.#follow(this.#engine);
    await this.#checkRole();
  }

  async #follow(engine: DockerEngine): Promise<void> {
    const swarm = this.o.mode === 'swarm';
    // Containers mode: only our containers' events (Swarm takes service and node events, which carry no such label).
    const events = swarm
      ? new DockerEvents(engine, this.o.log, ['container', 'service', 'node'])
      : new DockerEvents(engine, this.o.log, ['container'], { label: this.#compat ? null : `${this.o.roleLabel}=${this.o.backendRole}` });
    this.#events = events;
    // Events missed before the stream opened (or while it reconnects) are in no cache: list everything again.
    this.markStale('event stream (re)opened');
    events.on('data', () => this.#answered());
    events.on('event', (e: ContainerEvent) => {
      this.#lastEventAt = Date.now();
      // Compat follows every container: one already known to be none of ours asks for nothing.
      if (!swarm && e.type === 'container' && e.id && this.#notOurs.has(e.id)) {
        if (e.action === 'destroy') this.#notOurs.delete(e.id);
        return;
      }
      if (!swarm && e.type === 'container' && e.id) {
        // Before 'event' goes out: the pass it triggers must see the container pending.
        // Docker holds a container's lock while it stops it, so an inspect then can block for
        // seconds, and with it the pass that would add the new containers of a rolling update while
        // the old ones drain (measured: 500-600 ms passes and 503 bursts). A kill or stop needs no
        // inspect (the stop tracker drains the container), a die only marks it not running.
        const was = this.#pending.get(e.id);
        if (e.action === 'destroy') this.#pending.set(e.id, 'remove');
        else if (e.action === 'die') {
          if (was !== 'remove') this.#pending.set(e.id, 'dead');
        } else if (e.action !== 'kill' && e.action !== 'stop' && was !== 'remove') this.#pending.set(e.id, 'inspect');
      }
      this.emit('event', e);
    });
    events.on('resync', () => {
      this.markStale('event stream resync');
      this.emit('changed', `engine ${this.o.name} resync`);
    });
    events.on('lost', () => {
      this.markStale('event stream lost');
      // A lost stream may be a dead engine: ask at once rather than at the next heartbeat.
      void this.#beat();
    });
    await events.start();
  }

  async #ping(): Promise<void> {
    const engine = this.#engine!;
    try {
      await engine.ping();
      this.#answered();
      if (this.#state !== 'up' && this.#state !== 'gated') await this.#checkRole();
    } catch (err) {
      if (this.#engine !== engine) return; // reconnected meanwhile: this answer is about the old connection
      const why = (err as Error).message;
      this.#pingFailures += 1;
      const limit = this.o.pingFailuresBeforeDown ?? DEFAULT_PING_FAILURES;
      // Slow is not lost: the stream and backends stay until `limit` pings in a row fail (stream data resets the count).
      // An engine that refuses (dockerd stopped) or cannot be routed to is not slow: it is gone now.
      if (this.#pingFailures < limit && !isGone(err)) {
        this.o.log.warn({ engine: this.o.name, endpoint: this.#target.endpoint, failures: this.#pingFailures, of: limit, why }, `engine ${this.o.name} did not answer a ping`);
        return;
      }
      this.#lost(why);
    }
  }

  /** The engine answered (a ping, data on its event stream, a list): it is not lost. */
  #answered(): void {
    if (this.#pingFailures > 0) this.o.log.info({ engine: this.o.name, after: this.#pingFailures }, `engine ${this.o.name} answers again`);
    this.#pingFailures = 0;
  }

  /** Engine labels gate an app engine; with Swarm the gate is per node, in the mapping. */
  async #checkRole(): Promise<void> {
    const { appNodeRole, roleLabel, mode } = this.o;
    if (appNodeRole === null || mode === 'swarm') {
      this.#enter('up', null);
      return;
    }
    try {
      const labels = await this.#engine!.engineLabels();
      if (labels[roleLabel] === appNodeRole) this.#enter('up', null);
      else this.#enter('gated', `the engine lacks the label ${roleLabel}=${appNodeRole} (dockerd --label): its containers are not served`);
    } catch (err) {
      this.#lost((err as Error).message);
    }
  }

  #lost(why: string): void {
    this.#events?.close();
    this.#events = null;
    this.#engine = null;
    this.#pingFailures = 0;
    this.markStale('engine lost');
    this.#enter('down', why);
  }

  #enter(state: EngineState, reason: string | null): void {
    const was = this.#state;
    this.#reason = reason;
    if (was === state) return;
    this.#state = state;
    this.#since = Date.now();
    const log = state === 'up' ? this.o.log.info.bind(this.o.log) : this.o.log.warn.bind(this.o.log);
    log({ engine: this.o.name, endpoint: this.#target.endpoint, state, ...(reason ? { reason } : {}) }, `engine ${this.o.name} is ${state}`);
    if (this.#graceTimer) clearTimeout(this.#graceTimer);
    this.#graceTimer = null;
    if (state === 'down' && this.#cache.length > 0) {
      // Its backends stay for the grace period (HAProxy's checks judge them meanwhile); then a pass takes them out.
      this.#graceTimer = setTimeout(() => this.emit('changed', `engine ${this.o.name} grace over`), this.o.graceMs);
      this.#graceTimer.unref();
    }
    this.emit('changed', `engine ${this.o.name} ${state}`);
  }

  /**
   * The next list() lists and inspects every container (containers mode; Swarm always does).
   * The agent calls it on its periodic resync, the safety net for anything the events missed.
   */
  markStale(why = 'periodic resync'): void {
    this.#stale ??= why;
  }

  /** What the Docker part of the last list() cost (null before the first). */
  lastListStats(): ListStats | null {
    return this.#stats;
  }

  /** This source's part of the desired state's input: never throws. Calls run one at a time. */
  list(): Promise<ContainerInfo[]> {
    const run = this.#listing.then(() => this.#list());
    this.#listing = run.catch(() => undefined);
    return run;
  }

  async #list(): Promise<ContainerInfo[]> {
    this.#stats = null; // what this list costs, not an earlier one (an engine that is down lists nothing)
    if (this.#state === 'up' && this.#engine) {
      try {
        this.#cache = this.o.mode === 'swarm' ? await this.#listSwarm(this.#engine) : await this.#listContainers(this.#engine);
        this.#answered();
        this.#contributed = this.#cache.length;
        return this.#cache;
      } catch (err) {
        this.#lost((err as Error).message);
      }
    }
    // Reconnecting (new TLS certificates): its backends stay, as for a short loss; so do a lost engine's, for the grace period.
    const reconnecting = this.#state === 'up' && this.#engine === null;
    const keep = reconnecting || (this.#state === 'down' && Date.now() - this.#since < this.o.graceMs) ? this.#cache : [];
    if (keep.length === 0) {
      this.#cache = [];
      this.#known.clear();
      this.markStale('cache dropped'); // gated, or gone past its grace: nothing known is kept
    }
    this.#contributed = keep.length;
    return keep;
  }

  /** Everything when stale, else only the containers with events since their last inspect. */
  async #listContainers(engine: DockerEngine): Promise<ContainerInfo[]> {
    let full = false;
    let reason: string | null = null;
    let listMs = 0;
    let inspects = 0;
    let inspectMs = 0;
    // A one-shot reader follows no events: its cache would never learn anything.
    if (this.o.follow === false) this.markStale('one-shot');
    for (let round = 0; round < 2; round += 1) {
      if (this.#stale !== null) {
        full = true;
        reason ??= this.#stale;
        this.#stale = null;
        // The list below covers every event so far; events while it runs stay pending and are inspected after it.
        this.#pending.clear();
        const t0 = Date.now();
        const ids = this.#compat ? await this.#compatIds(engine) : await engine.listLabelledIds(this.o.roleLabel, this.o.backendRole);
        const t1 = Date.now();
        listMs += t1 - t0;
        const found = await mapBounded(ids, INSPECT_CONCURRENCY, (id) => engine.inspectContainer(id));
        inspects += ids.length;
        inspectMs += Date.now() - t1;
        const known = new Map<string, ContainerInfo>();
        for (const c of found) if (c !== null && this.#ours(c)) known.set(c.id, c);
        for (const c of found) if (c !== null && !this.#ours(c)) this.#notOurs.add(c.id);
        this.#known = known;
      }
      if (this.#pending.size === 0) break;
      const batch = [...this.#pending];
      this.#pending.clear();
      const ids: string[] = [];
      for (const [id, what] of batch) {
        if (what === 'remove') this.#known.delete(id);
        else if (what === 'dead') {
          const known = this.#known.get(id);
          if (known) this.#known.set(id, { ...known, running: false });
        } else ids.push(id);
      }
      const t2 = Date.now();
      const results = await mapBounded(ids, INSPECT_CONCURRENCY, (id) =>
        engine.inspectContainer(id).then(
          (c) => ({ id, c, failed: null }),
          (err: unknown) => ({ id, c: null, failed: (err as Error).message }),
        ),
      );
      inspects += ids.length;
      inspectMs += Date.now() - t2;
      let failed: string | null = null;
      for (const r of results) {
        if (r.failed !== null) {
          failed ??= `${r.id.slice(0, 12)}: ${r.failed}`;
          continue;
        }
        // Destroyed while we asked: that wins, whatever the inspect said. (An event while inspecting keeps it pending.)
        if (this.#pending.get(r.id) === 'remove' || r.c === null || !this.#ours(r.c)) this.#known.delete(r.id);
        else this.#known.set(r.id, r.c);
        if (this.#compat && r.c !== null && !this.#ours(r.c)) this.#notOurs.add(r.id);
      }
      if (failed === null) break;
      // Not a 404: the cache cannot be trusted for that container; list everything (once) rather than guess.
      this.o.log.warn({ engine: this.o.name, err: failed }, 'a container inspect failed; listing every container');
      this.markStale('an inspect failed');
      if (round === 1) throw new Error(`inspect failed after a full relist: ${failed}`);
    }
    const containers = this.#decorate([...this.#known.values()]);
    this.#stats = { full, reason, listMs, inspects, inspectMs, containers: containers.length };
    return containers;
  }

  /** Our role label (or, with compat, VIRTUAL_HOST), checked again: an event or inspect may name a container that is none of ours. */
  #ours(c: ContainerInfo): boolean {
    return c.labels[this.o.roleLabel] === this.o.backendRole || (this.#compat && wantsNginxProxy(c.env));
  }

  get #compat(): boolean {
    return this.o.compat === 'nginx-proxy' && this.o.mode === 'containers';
  }

  /**
   * Compat: the containers worth an inspect, from one list of all of them: those with the
   * role label, and running ones not yet known to be none of ours. Forgets ids the engine no
   * longer has, so the memory stays as large as the engine's container list.
   */
  async #compatIds(engine: DockerEngine): Promise<string[]> {
    const all = await engine.listAll(this.o.name);
    const present = new Set(all.map((c) => c.id));
    for (const id of this.#notOurs) if (!present.has(id)) this.#notOurs.delete(id);
    return all
      .filter((c) => c.labels[this.o.roleLabel] === this.o.backendRole || (c.running && !this.#notOurs.has(c.id)))
      .map((c) => c.id);
  }

  async #listSwarm(engine: DockerEngine): Promise<ContainerInfo[]> {
    const t0 = Date.now();
    const listing = await engine.listSwarm(this.o.roleLabel, this.o.backendRole);
    const listMs = Date.now() - t0;
    const mapped = mapSwarm(listing, { roleLabel: this.o.roleLabel, appNodeRole: this.o.appNodeRole });
    for (const l of mapped.leftOut) this.o.log.debug({ engine: this.o.name, task: l.task }, `task left out: ${l.reason}`);
    this.#stale = null;
    this.#stats = { full: true, reason: 'swarm', listMs, inspects: 0, inspectMs: 0, containers: mapped.containers.length };
    return mapped.containers;
  }

  #decorate(containers: ContainerInfo[]): ContainerInfo[] {
    const { qualify, name } = this.o;
    const advertise = this.#target.advertise;
    if (!qualify && advertise === null) return containers;
    return containers.map((c) => ({ ...c, ...(qualify ? { engine: name } : {}), ...(advertise !== null ? { publishedHost: advertise } : {}) }));
  }

  /**
   * This source's labelled containers listed and inspected afresh, right now,
   * bypassing and leaving alone the cache passes use (`vipkeeper verify`).
   * Throws when the engine is not up: what it runs cannot be told.
   */
  async listNow(): Promise<ContainerInfo[]> {
    const engine = this.#upEngine();
    if (this.o.mode === 'swarm') return mapSwarm(await engine.listSwarm(this.o.roleLabel, this.o.backendRole), this.o).containers;
    const found = this.#compat
      ? (await mapBounded(await this.#compatIds(engine), INSPECT_CONCURRENCY, (id) => engine.inspectContainer(id))).filter((c) => c !== null)
      : await engine.listLabelled(this.o.roleLabel, this.o.backendRole);
    return this.#decorate(found.filter((c) => this.#ours(c)));
  }

  /**
   * Every container of the engine, labelled or not, running or not, from one list request
   * (`vipkeeper check` finds containers by name or id prefix). With Swarm: the running
   * tasks of labelled services, the only containers a swarm listing names.
   */
  async listEverything(): Promise<ContainerSummary[]> {
    const engine = this.#upEngine();
    if (this.o.mode === 'swarm') {
      return (await this.listNow()).map((c) => ({ id: c.id, name: c.name, running: c.running, state: 'running', labels: c.labels, engine: this.o.name }));
    }
    return engine.listAll(this.o.name);
  }

  #upEngine(): DockerEngine {
    if (this.#state !== 'up' || this.#engine === null) {
      throw new Error(`engine ${this.o.name} (${this.#target.endpoint}) is ${this.#state === 'up' ? 'reconnecting' : this.#state}${this.#reason ? `: ${this.#reason}` : ''}`);
    }
    return this.#engine;
  }

  /** Connects afresh (new TLS certificates, say); its backends stay meanwhile, as for a short loss. */
  reconnect(): void {
    if (!this.#engine) return;
    this.#events?.close();
    this.#events = null;
    this.#engine = null;
    this.#pingFailures = 0;
    this.markStale('reconnect');
    void this.#beat();
  }

  status(): EngineStatus {
    return {
      name: this.o.name,
      endpoint: this.#target.endpoint,
      mode: this.o.mode,
      state: this.#state,
      since: iso(this.#since)!,
      lastEventAt: iso(this.#lastEventAt),
      backends: this.#contributed,
      reason: this.#reason,
    };
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#graceTimer) clearTimeout(this.#graceTimer);
    this.#events?.close();
    this.#events = null;
  }
}

/** The sources a config names: one per engine, or one for the whole swarm. */
export function engineLinks(
  config: {
    readonly engines: readonly EngineConfig[];
    readonly swarm: boolean;
    readonly roleLabel: string;
    readonly backendRole: string;
    readonly appNodeRole: string | null;
    readonly engineGraceMs: number;
    readonly compat?: 'nginx-proxy' | null;
  },
  log: Logger,
  follow = true,
): EngineLink[] {
  const common = {
    roleLabel: config.roleLabel,
    backendRole: config.backendRole,
    appNodeRole: config.appNodeRole,
    compat: config.compat ?? null,
    graceMs: config.engineGraceMs,
    log,
    follow,
  };
  if (config.swarm) return [new EngineLink({ ...common, name: 'swarm', targets: config.engines, mode: 'swarm', qualify: false })];
  return config.engines.map((e) => new EngineLink({ ...common, name: e.name, targets: [e], mode: 'containers', qualify: config.engines.length > 1 }));
}

/** Every engine's containers as one list (a pass's docker part); what each engine's list cost is logged at debug. */
export async function listEngines(links: readonly Pick<EngineLink, 'name' | 'list' | 'lastListStats'>[], log: Logger): Promise<ContainerInfo[]> {
  const lists = await Promise.all(links.map((l) => l.list()));
  log.debug({ docker: links.map((l) => ({ engine: l.name, ...l.lastListStats() })) }, 'pass: docker part');
  return lists.flat();
}

const GONE = /ECONNREFUSED|ENOENT|EHOSTUNREACH|ENETUNREACH/;

/** A ping error that says the engine is not there at all (as opposed to slow: a timeout, a hang-up). */
export function isGone(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && GONE.test(code)) return true;
    if (e instanceof Error && GONE.test(e.message)) return true;
  }
  return false;
}
