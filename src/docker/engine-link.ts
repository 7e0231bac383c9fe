import { EventEmitter } from 'node:events';
import type { EngineConfig } from '../config/env.js';
import type { Logger } from '../log.js';
import type { ContainerInfo } from '../model/container.js';
import { connectDocker, type DockerEngine } from './docker-engine.js';
import { type ContainerEvent, DockerEvents } from './docker-events.js';
import { mapSwarm } from './map-task.js';

// One source of backends kept connected: a Docker engine (its labelled
// containers) or a Swarm (the tasks of labelled services, through the first
// manager that answers). A heartbeat notices an engine that went away even when
// its event stream just hangs (a dead host sends no FIN); its backends then stay
// for a grace period and leave after it; they come back when it answers again.
// Every change of state is reported as 'changed', which only marks a pass pending.

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
  readonly graceMs: number;
  /** Several engines: qualify server names with this engine's name. */
  readonly qualify: boolean;
  readonly log: Logger;
  readonly heartbeatMs?: number;
  /** Follow the event stream (the agent); a one-shot reader (render) only lists. Default true. */
  readonly follow?: boolean;
  /** The Docker edge; a fake in unit tests. */
  readonly connect?: (target: EngineConfig) => Promise<DockerEngine>;
}

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

export class EngineLink extends EventEmitter {
  #engine: DockerEngine | null = null;
  #target: EngineConfig;
  #events: DockerEvents | null = null;
  #state: EngineState = 'connecting';
  #since = Date.now();
  #reason: string | null = null;
  #cache: ContainerInfo[] = [];
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
    const events = new DockerEvents(engine, this.o.log, this.o.mode === 'swarm' ? ['container', 'service', 'node'] : ['container']);
    this.#events = events;
    events.on('event', (e: ContainerEvent) => {
      this.#lastEventAt = Date.now();
      this.emit('event', e);
    });
    events.on('resync', () => this.emit('changed', `engine ${this.o.name} resync`));
    // A lost stream may be a dead engine: ask at once rather than at the next heartbeat.
    events.on('lost', () => void this.#beat());
    await events.start();
  }

  async #ping(): Promise<void> {
    try {
      await this.#engine!.ping();
      if (this.#state !== 'up' && this.#state !== 'gated') await this.#checkRole();
    } catch (err) {
      this.#lost((err as Error).message);
    }
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

  /** This source's part of the desired state's input: never throws. */
  async list(): Promise<ContainerInfo[]> {
    if (this.#state === 'up' && this.#engine) {
      try {
        this.#cache = this.o.mode === 'swarm' ? await this.#listSwarm(this.#engine) : this.#decorate(await this.#engine.listLabelled(this.o.roleLabel, this.o.backendRole));
        this.#contributed = this.#cache.length;
        return this.#cache;
      } catch (err) {
        this.#lost((err as Error).message);
      }
    }
    // Reconnecting (new TLS certificates): its backends stay, as for a short loss; so do a lost engine's, for the grace period.
    const reconnecting = this.#state === 'up' && this.#engine === null;
    const keep = reconnecting || (this.#state === 'down' && Date.now() - this.#since < this.o.graceMs) ? this.#cache : [];
    if (keep.length === 0) this.#cache = [];
    this.#contributed = keep.length;
    return keep;
  }

  async #listSwarm(engine: DockerEngine): Promise<ContainerInfo[]> {
    const listing = await engine.listSwarm(this.o.roleLabel, this.o.backendRole);
    const mapped = mapSwarm(listing, { roleLabel: this.o.roleLabel, appNodeRole: this.o.appNodeRole });
    for (const l of mapped.leftOut) this.o.log.debug({ engine: this.o.name, task: l.task }, `task left out: ${l.reason}`);
    return mapped.containers;
  }

  #decorate(containers: ContainerInfo[]): ContainerInfo[] {
    const { qualify, name } = this.o;
    const advertise = this.#target.advertise;
    if (!qualify && advertise === null) return containers;
    return containers.map((c) => ({ ...c, ...(qualify ? { engine: name } : {}), ...(advertise !== null ? { publishedHost: advertise } : {}) }));
  }

  /** Connects afresh (new TLS certificates, say); its backends stay meanwhile, as for a short loss. */
  reconnect(): void {
    if (!this.#engine) return;
    this.#events?.close();
    this.#events = null;
    this.#engine = null;
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
  },
  log: Logger,
  follow = true,
): EngineLink[] {
  const common = { roleLabel: config.roleLabel, backendRole: config.backendRole, appNodeRole: config.appNodeRole, graceMs: config.engineGraceMs, log, follow };
  if (config.swarm) return [new EngineLink({ ...common, name: 'swarm', targets: config.engines, mode: 'swarm', qualify: false })];
  return config.engines.map((e) => new EngineLink({ ...common, name: e.name, targets: [e], mode: 'containers', qualify: config.engines.length > 1 }));
}
