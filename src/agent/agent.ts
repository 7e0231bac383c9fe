import { watch, type FSWatcher } from 'chokidar';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import type { Server as HttpServer } from 'node:http';
import type { Config } from '../config/env.js';
import { ENV } from '../config/env-schema.js';
import { parseEnvironment } from '../config/env.js';
import type { HostFacts } from '../config/host-facts.js';
import { type RuntimePaths, runtimePaths } from '../config/paths.js';
import { connectDocker, type DockerEngine } from '../docker/docker-engine.js';
import type { ContainerEvent } from '../docker/docker-events.js';
import { type EngineLink, engineLinks } from '../docker/engine-link.js';
import { readNodeRole } from '../docker/node-role.js';
import { VipkeeperError } from '../errors.js';
import { ConfigStore } from '../files/config-store.js';
import { HaproxyProcess } from '../haproxy/haproxy-process.js';
import { applyServerChanges, drainServer, type PendingDelete, tryDelete } from '../haproxy/runtime-apply.js';
import { runtimeCommand, showServersState } from '../haproxy/runtime-api.js';
import { findAdoptable } from '../supervisor/adopt.js';
import { diffServices, isEmpty } from '../haproxy/server-changes.js';
import { removeVips } from '../host/vip-addresses.js';
import { KeepalivedProcess } from '../keepalived/keepalived-process.js';
import { NotifyFifo } from '../keepalived/notify-fifo.js';
import { VrrpMonitor } from '../keepalived/vrrp-monitor.js';
import { type ServerHealth, serverHealth, type StatusSnapshot } from '../status/snapshot.js';
import { type DrillMode, type DrillRequest, startStatusServer } from '../status/status-server.js';
import type { Logger } from '../log.js';
import type { ContainerInfo } from '../model/container.js';
import type { DesiredState } from '../model/desired-state.js';
import { type Plan, planConfigs } from '../pipeline.js';
import { backendName } from '../render/haproxy-view.js';
import { loadTemplates, type Templates } from '../render/load-templates.js';
import { realValidator, type Validator } from '../validate/check-config.js';
import type { ApplyMethod, PassRecord } from './pass-record.js';
import { PassScheduler } from './pass-scheduler.js';

// The live agent: follows Docker, keeps haproxy and keepalived running and in
// step. Level-based: events only mark a pass pending; each pass lists the real
// state and computes the whole desired state, then applies the difference the
// cheapest safe way (Runtime API, else a validated seamless reload).

export interface AgentOptions {
  readonly config: Config;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly facts: HostFacts;
  readonly log: Logger;
  /** Debounce of event bursts: quiet time, and the most a pass may be delayed. */
  readonly quietMs?: number;
  readonly maxWaitMs?: number;
  /** Full resync even without events, a safety net for anything missed (default 60 s; 1 s with Swarm). */
  readonly resyncEveryMs?: number;
  readonly validator?: Validator;
}

export type { ApplyMethod, PassRecord } from './pass-record.js';

/** Signals that end a container: anything else (`docker kill -s HUP`) is not a stop. */
const TERMINATING_SIGNALS = new Set(['15', '9', '2', '3', 'SIGTERM', 'SIGKILL', 'SIGINT', 'SIGQUIT', 'TERM', 'KILL', 'INT', 'QUIT']);
const STOPPING_FORGET_MS = 120_000;
const DELETE_RETRY_MS = 250;
const DELETE_FORCE_AFTER_MS = 30_000;
/** With Swarm, a second look this long after an event, once the task's state caught up. */
const SWARM_SETTLE_MS = 250;
/** How long the start waits for every engine's first answer before it goes on with those that did. */
const FIRST_ATTEMPT_WAIT_MS = 2000;
/** A drill whose CLI vanished is undone by the agent itself after this long. */
const DRILL_SAFETY_MS = 300_000;

export class Agent {
  #config: Config;
  readonly #log: Logger;
  readonly #validate: Validator;
  readonly #store: ConfigStore;
  readonly #haproxy: HaproxyProcess;
  readonly #keepalived: KeepalivedProcess;
  /** Where backends come from: one link per engine, or one for the swarm. */
  #links: EngineLink[] = [];
  #scheduler: PassScheduler;
  #templates: Templates | null = null;
  #watcher: FSWatcher | null = null;
  #applied: Plan | null = null;
  /** Containers Docker is stopping: id -> when (engine clock, ms) and when we saw it (our clock). */
  #stopping = new Map<string, { eventAt: number; seenAt: number }>();
  #pendingDeletes: PendingDelete[] = [];
  #deleteTimer: NodeJS.Timeout | null = null;
  #resyncTimer: NodeJS.Timeout | null = null;
  #settleTimer: NodeJS.Timeout | null = null;
  #passes = 0;
  #lastPass: PassRecord | null = null;
  #warned = new Set<string>();
  #nodeRoleOk = true;
  #closed = false;
  readonly #paths: RuntimePaths;
  readonly #vrrp: VrrpMonitor;
  readonly #fifo: NotifyFifo;
  #statusServer: HttpServer | null = null;
  #passCounts: Record<string, number> = {};
  #passSeconds = 0;
  #passFailures = 0;
  #drill: { mode: DrillMode; since: number; safety: NodeJS.Timeout } | null = null;

  constructor(private readonly options: AgentOptions) {
    this.#config = options.config;
    this.#log = options.log;
    this.#validate = options.validator ?? realValidator();
    this.#store = new ConfigStore(this.#config.configDir);
    const paths = runtimePaths(this.#config);
    this.#paths = paths;
    this.#haproxy = new HaproxyProcess(paths, this.#log);
    this.#keepalived = new KeepalivedProcess(paths, this.#log);
    this.#vrrp = new VrrpMonitor(`vipkeeper_${this.#config.virtualRouterId}`, this.#config.interface, this.#config.virtualIps, this.#log);
    this.#fifo = new NotifyFifo(paths.notifyFifo, (t) => this.#vrrp.onTransition(t));
    this.#keepalived.process.on('exit', () => this.#vrrp.markStopped());
    this.#scheduler = new PassScheduler(
      { quietMs: options.quietMs ?? 50, maxWaitMs: options.maxWaitMs ?? 500 },
      (triggers) => this.#pass(triggers),
    );
  }

  children() {
    return [this.#haproxy.process.state(), this.#keepalived.process.state()];
  }

  /** Reads the whole initial state, applies it once, then follows changes. */
  async start(): Promise<void> {
    const c = this.#config;
    await this.#store.init();
    await mkdir(c.runDir, { recursive: true, mode: 0o700 });

    // An earlier agent that died alone may have left haproxy and keepalived running: keep them,
    // so restarting the agent never moves the VIP. Only VIPs without a keepalived are leftovers.
    const kept = {
      haproxy: await findAdoptable(this.#paths.haproxyPid, this.#paths.haproxyCfg),
      keepalived: await findAdoptable(this.#paths.keepalivedPid, this.#paths.keepalivedConf),
    };
    if (kept.keepalived === null) {
      const leftover = await removeVips(c.interface, c.virtualIps);
      if (leftover.length > 0) {
        this.#log.warn({ interface: c.interface, vips: leftover.map((v) => v.address) }, 'removed VIPs left on the interface by an earlier run');
      }
    }

    // Each link subscribes to its engine's events before anything is listed, so no change
    // between the two is missed. An engine that does not answer joins when it does.
    this.#links = engineLinks(c, this.#log);
    for (const link of this.#links) {
      link.on('event', (e: ContainerEvent) => this.#onEvent(e));
      link.on('changed', (why: string) => this.#scheduler.trigger(why));
    }
    // The first state should hold every engine that answers at once, but one that hangs
    // (a dead host: no answer until the request timeout) must not hold the start up.
    let firstAttempts: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(this.#links.map((l) => l.start())),
      new Promise((r) => (firstAttempts = setTimeout(r, FIRST_ATTEMPT_WAIT_MS))),
    ]);
    clearTimeout(firstAttempts);
    if (!(await this.#waitForAnEngine())) return; // stopped while waiting
    this.#templates = await loadTemplates(c.templatesDir);

    if (!(await this.#checkNodeRole())) return;
    await this.#fifo.open(kept.keepalived !== null);
    // Watch templates and the password file before the first render, so no edit falls between.
    await this.#watchFiles();
    await this.#initialApply(kept);
    // Anything that changed while the initial state was applied gets its pass now.
    this.#scheduler.trigger('started');
    this.#vrrp.start();
    this.#statusServer = await startStatusServer(this.#config.statusAddr, {
      snapshot: () => this.snapshot(),
      health: () => this.health(),
      drill: (r) => this.drill(r),
    }, this.#log);

    this.#haproxy.process.on('started', () => {
      // A restarted haproxy loads the file: the applied state is the file's. Re-check anyway.
      if (this.#applied) this.#scheduler.trigger('haproxy restarted');
    });
    // Swarm tasks on other nodes send no events to the manager we read: poll it every second.
    const every = this.options.resyncEveryMs ?? (c.swarm ? 1000 : 60_000);
    this.#resyncTimer = setInterval(() => this.#scheduler.trigger('periodic resync'), every);
    this.#resyncTimer.unref();
  }

  /**
   * Nothing is applied before at least one engine answered (a node that knows no backends
   * should not serve, let alone take the VIP); the others join later. False once stopped.
   */
  async #waitForAnEngine(): Promise<boolean> {
    let told = false;
    while (!this.#closed && !this.#links.some((l) => l.state === 'up' || l.state === 'gated')) {
      if (!told) this.#log.warn({ engines: this.#links.map((l) => l.status()) }, 'no Docker engine answers yet; waiting');
      told = true;
      await new Promise((r) => setTimeout(r, 250));
    }
    return !this.#closed;
  }

  /** This node's own engine: as long as it takes, as the node role depends on it. False once stopped. */
  async #connectLocal(): Promise<DockerEngine | null> {
    let delay = 250;
    for (;;) {
      if (this.#closed) return null;
      try {
        return await connectDocker(this.#config.dockerHost);
      } catch (err) {
        if (this.#closed) return null;
        this.#log.warn({ endpoint: this.#config.dockerHost, err: (err as Error).message, retryInMs: delay }, "this node's Docker engine does not answer yet");
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  /** The node role gate: engine labels, or with Swarm this node's node labels. False once stopped. */
  async #checkNodeRole(): Promise<boolean> {
    const { nodeRole, roleLabel, swarm } = this.#config;
    if (nodeRole === null) return true;
    const local = await this.#connectLocal();
    if (local === null) return false;
    const managers = this.#links.map((l) => l.engine).filter((e) => e !== null);
    const answer = await readNodeRole(local, { roleLabel, nodeRole, swarm }, managers);
    this.#nodeRoleOk = answer.present;
    if (!answer.present) {
      this.#log.error(
        { roleLabel, nodeRole, labels: answer.labels },
        `this node's ${answer.where} lacks ${roleLabel}=${nodeRole}: keepalived is not started and this node never holds the VIP`,
      );
    }
    return true;
  }

  async #list(): Promise<ContainerInfo[]> {
    return (await Promise.all(this.#links.map((l) => l.list()))).flat();
  }

  #plan(containers: readonly ContainerInfo[]): Plan {
    const now = Date.now();
    const live = new Map(containers.filter((c) => c.running).map((c) => [c.id, c]));
    for (const [id, mark] of this.#stopping) {
      const c = live.get(id);
      // Forget the mark once the container is gone, or started again after it (a restart
      // whose start event we missed, say while the event stream was reconnecting).
      if (!c || c.startedAt > mark.eventAt || now - mark.seenAt > STOPPING_FORGET_MS) this.#stopping.delete(id);
    }
    return planConfigs(this.#config, containers, this.#templates!, { stopping: new Set(this.#stopping.keys()) });
  }

  async #initialApply(kept: { haproxy: number | null; keepalived: number | null }): Promise<void> {
    const t0 = Date.now();
    const plan = this.#plan(await this.#list());
    this.#warnSkipped(plan.state);
    let haproxyChanged = false;
    try {
      haproxyChanged = await this.#store.install('haproxy.cfg', plan.rendered.haproxyCfg, (f) => this.#validate('haproxy', f));
    } catch (err) {
      // Never start worse than before: a previous run's live file (already checked once) still serves.
      const previous = await this.#store.read('haproxy.cfg');
      if (previous === null) throw err;
      this.#log.error({ code: (err as VipkeeperError).code, err: (err as Error).message }, 'the rendered haproxy.cfg was rejected; starting with the previous one');
    }
    const keepalivedChanged = await this.#store.install('keepalived.conf', plan.rendered.keepalivedConf, (f) => this.#validate('keepalived', f));

    if (kept.haproxy !== null) {
      this.#haproxy.process.adopt(kept.haproxy);
      if (haproxyChanged) await this.#haproxy.reload();
    } else {
      this.#haproxy.start();
    }
    await this.#haproxy.waitReady();
    await this.#store.markGood('haproxy.cfg');
    if (this.#nodeRoleOk) {
      if (kept.keepalived !== null) {
        this.#keepalived.process.adopt(kept.keepalived);
        if (keepalivedChanged) this.#keepalived.reload();
        await this.#vrrp.inferFromInterface();
      } else {
        this.#keepalived.start();
      }
      await this.#store.markGood('keepalived.conf');
    } else if (kept.keepalived !== null) {
      // The node lost its role while an earlier agent ran: give the VIP up.
      this.#keepalived.process.adopt(kept.keepalived);
      await this.#keepalived.stop();
    }
    this.#applied = plan;
    this.#record({
      triggers: ['initial state'],
      applied: 'start',
      added: plan.state.services.flatMap((s) => s.servers.map((x) => `${backendName(s.name)}/${x.name}`)),
      removed: [],
      updated: [],
      t0,
      error: null,
    });
  }

  #onEvent(e: ContainerEvent): void {
    const stoppingNow = e.action === 'stop' || (e.action === 'kill' && e.signal !== null && TERMINATING_SIGNALS.has(e.signal));
    if (stoppingNow && !this.#stopping.has(e.id)) {
      this.#stopping.set(e.id, { eventAt: e.time, seenAt: Date.now() });
      void this.#drainNow(e.id);
    }
    if (e.action === 'start') this.#stopping.delete(e.id);
    this.#scheduler.trigger(`${e.action}${e.name ? ` ${e.name}` : ''}`);
    // A task's container starts a moment before the swarm calls the task running: look again
    // shortly after, rather than at the next poll (measured: p90 990 ms -> see npm run bench -- engines).
    if (this.#config.swarm && !this.#settleTimer) {
      this.#settleTimer = setTimeout(() => {
        this.#settleTimer = null;
        this.#scheduler.trigger('swarm settle');
      }, SWARM_SETTLE_MS);
      this.#settleTimer.unref();
    }
  }

  /** Drains a stopping container's server at once, without waiting for the pass. */
  async #drainNow(containerId: string): Promise<void> {
    for (const service of this.#applied?.state.services ?? []) {
      const server = service.servers.find((s) => s.containerId === containerId);
      if (!server) continue;
      try {
        await drainServer(this.#haproxy.paths.adminSocket, backendName(service.name), server.name);
        this.#log.info({ server: `${backendName(service.name)}/${server.name}` }, 'container stopping: server drained');
      } catch (err) {
        this.#log.warn({ err: (err as Error).message }, 'could not drain a stopping container; the next pass removes it');
      }
    }
  }

  #warnSkipped(state: DesiredState): void {
    // Each skipped container is reported once per reason, not on every pass.
    const now = new Set<string>();
    for (const s of state.skipped) {
      const key = `${s.containerId}|${s.reason}`;
      now.add(key);
      if (this.#warned.has(key)) continue;
      const first = s.problems[0];
      this.#log.warn(
        { container: s.containerName, id: s.containerId.slice(0, 12), ...(first ? { label: first.label, value: first.shownValue, rule: first.rule } : {}) },
        `skipped container ${s.containerName}: ${s.reason}`,
      );
    }
    for (const n of state.notices) {
      const key = `${n.containerName}|${n.message}`;
      now.add(key);
      if (!this.#warned.has(key)) this.#log.warn({ container: n.containerName }, n.message);
    }
    this.#warned = now;
  }

  async #pass(triggers: readonly string[]): Promise<void> {
    if (this.#closed || !this.#applied) return;
    if (this.#drill?.mode === 'haproxy') {
      // haproxy is down on purpose; the restore triggers a pass.
      return;
    }
    const t0 = Date.now();
    // Never throws: an engine that does not answer keeps its last backends for the grace period.
    const containers = await this.#list();
    const plan = this.#plan(containers);
    this.#warnSkipped(plan.state);

    const previous = this.#applied;
    const changes = diffServices(previous.state.services, plan.state.services);
    const haproxyChanged = plan.rendered.haproxyCfg !== previous.rendered.haproxyCfg;
    const keepalivedChanged = plan.rendered.keepalivedConf !== previous.rendered.keepalivedConf;
    const names = {
      added: changes.add.map((a) => `${a.backend}/${a.server.name}`),
      removed: changes.remove.map((a) => `${a.backend}/${a.server.name}`),
      updated: changes.update.map((a) => `${a.backend}/${a.after.name}`),
    };
    if (!haproxyChanged && !keepalivedChanged) {
      this.#log.debug({ triggers }, 'pass: nothing to change');
      return;
    }

    let applied: ApplyMethod = 'none';
    let error: string | null = null;
    try {
      if (haproxyChanged) {
        await this.#store.install('haproxy.cfg', plan.rendered.haproxyCfg, (f) => this.#validate('haproxy', f));
        applied = await this.#applyHaproxy(changes);
        await this.#store.markGood('haproxy.cfg');
      }
      if (keepalivedChanged) {
        await this.#store.install('keepalived.conf', plan.rendered.keepalivedConf, (f) => this.#validate('keepalived', f));
        if (this.#nodeRoleOk) this.#keepalived.reload();
        await this.#store.markGood('keepalived.conf');
        if (applied === 'none') applied = 'reload';
      }
      this.#applied = plan;
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
      this.#log.error({ code: (err as VipkeeperError).code ?? 'E_APPLY', err: error }, 'pass failed; the last good config stays live');
    }
    this.#record({ triggers, applied, ...names, t0, error });
  }

  async #applyHaproxy(changes: ReturnType<typeof diffServices>): Promise<ApplyMethod> {
    if (changes.structural === null && !isEmpty(changes)) {
      try {
        const pending = await applyServerChanges(this.#haproxy.paths.adminSocket, changes, this.#log);
        this.#queueDeletes(pending);
        return 'runtime-api';
      } catch (err) {
        this.#log.warn({ err: (err as Error).message }, 'runtime API change failed; reloading instead');
      }
    }
    // A structural change, a template change, or a runtime failure: the file is already in place.
    await this.#haproxy.reload();
    return 'reload';
  }

  #queueDeletes(pending: readonly PendingDelete[]): void {
    this.#pendingDeletes.push(...pending);
    if (this.#pendingDeletes.length === 0 || this.#deleteTimer) return;
    const retry = async () => {
      this.#deleteTimer = null;
      const still: PendingDelete[] = [];
      for (const p of this.#pendingDeletes) {
        const socket = this.#haproxy.paths.adminSocket;
        let done = await tryDelete(socket, p.backend, p.server).catch(() => false);
        if (!done && Date.now() - p.since > DELETE_FORCE_AFTER_MS) {
          // Its container is gone; connections still attached to it can never finish.
          await runtimeCommand(socket, `shutdown sessions server ${p.backend}/${p.server}`).catch(() => '');
          done = await tryDelete(socket, p.backend, p.server).catch(() => false);
        }
        if (!done) still.push(p);
      }
      this.#pendingDeletes = still;
      if (still.length > 0 && !this.#closed) this.#deleteTimer = setTimeout(() => void retry(), DELETE_RETRY_MS);
    };
    this.#deleteTimer = setTimeout(() => void retry(), DELETE_RETRY_MS);
  }

  #record(r: { triggers: readonly string[]; applied: ApplyMethod; added: string[]; removed: string[]; updated: string[]; t0: number; error: string | null }): void {
    this.#passes += 1;
    const record: PassRecord = {
      id: this.#passes,
      at: new Date().toISOString(),
      triggers: r.triggers,
      applied: r.applied,
      added: r.added,
      removed: r.removed,
      updated: r.updated,
      durationMs: Date.now() - r.t0,
      error: r.error,
    };
    this.#lastPass = record;
    this.#passCounts[record.applied] = (this.#passCounts[record.applied] ?? 0) + 1;
    if (record.applied !== 'none') this.#passSeconds += record.durationMs / 1000;
    if (record.error) this.#passFailures += 1;
    this.#log.info({ pass: record.id, triggers: record.triggers, applied: record.applied, added: record.added, removed: record.removed, updated: record.updated, durationMs: record.durationMs, ...(record.error ? { error: record.error } : {}) }, 'pass');
  }

  async #watchFiles(): Promise<void> {
    const paths: string[] = [];
    if (this.#config.templatesDir) paths.push(this.#config.templatesDir);
    const passFile = this.options.env[ENV.authPassFile.name]?.trim();
    if (passFile) paths.push(passFile);
    // Renewed TLS certificates of the engines are used at once.
    const certDirs = [...new Set(this.#config.engines.map((e) => e.tlsCertPath).filter((d) => d !== null))];
    paths.push(...certDirs);
    if (paths.length === 0) return;
    const watcher = watch(paths, { ignoreInitial: true, awaitWriteFinish: { stabilityThreshold: 100, pollInterval: 50 } });
    this.#watcher = watcher;
    watcher.on('all', (_event, path) => {
      if (certDirs.some((d) => path.startsWith(`${d}/`))) {
        this.#log.info({ path }, 'a TLS certificate changed: reconnecting to the engines');
        for (const link of this.#links) link.reconnect();
        return;
      }
      void this.#onFileChange(path, passFile);
    });
    await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  }

  async #onFileChange(path: string, passFile: string | undefined): Promise<void> {
    try {
      if (passFile && path === passFile) {
        const content = await readFile(passFile, 'utf8').then((c) => ({ content: c }), (e: NodeJS.ErrnoException) => ({ error: e.code ?? String(e) }));
        this.#config = parseEnvironment(this.options.env, this.options.facts, content).config;
      } else {
        this.#templates = await loadTemplates(this.#config.templatesDir);
      }
      this.#scheduler.trigger(`file changed ${path}`);
    } catch (err) {
      this.#log.error({ path, err: (err as Error).message }, 'a watched file changed but cannot be used; the last good config stays live');
    }
  }

  health(): { ok: boolean; reason: string } {
    if (this.#closed) return { ok: false, reason: 'stopping' };
    if (!this.#applied) return { ok: false, reason: 'starting: the initial state is not applied yet' };
    const haproxy = this.#haproxy.process.state();
    if (!haproxy.running && this.#drill?.mode !== 'haproxy') return { ok: false, reason: 'haproxy is not running' };
    if (haproxy.crashLoop) return { ok: false, reason: 'haproxy is crash-looping' };
    return { ok: true, reason: 'ok' };
  }

  async snapshot(): Promise<StatusSnapshot> {
    const c = this.#config;
    const rows = await showServersState(this.#paths.adminSocket).catch(() => []);
    const health = (backend: string, server: string): ServerHealth => serverHealth(rows.find((r) => r.backend === backend && r.server === server));
    const engines = this.#links.map((l) => l.status());
    const lastEvent = engines.map((e) => e.lastEventAt).filter((t) => t !== null).sort().pop() ?? null;
    return {
      node: {
        routerId: c.routerId,
        interface: c.interface,
        vips: c.virtualIps.map((v) => `${v.address}/${v.prefix}`),
        frontendPort: c.frontendPort,
        nodeRole: { required: c.nodeRole, present: this.#nodeRoleOk },
        vrrpSettings: { virtualRouterId: c.virtualRouterId, priority: c.priority, nopreempt: c.nopreempt, advertInt: c.advertInt, version: c.vrrpVersion },
      },
      vrrp: this.#nodeRoleOk ? this.#vrrp.snapshot() : null,
      services: (this.#applied?.state.services ?? []).map((s) => ({
        name: s.name,
        backend: backendName(s.name),
        mode: s.mode,
        frontendPort: s.frontendPort,
        servers: s.servers.map((x) => ({
          name: x.name,
          container: x.containerId.slice(0, 12),
          address: `${x.address}:${x.port}`,
          health: health(backendName(s.name), x.name),
        })),
      })),
      lastPass: this.#lastPass,
      passes: { byMethod: { ...this.#passCounts }, secondsTotal: this.#passSeconds, failed: this.#passFailures },
      children: this.children(),
      docker: { endpoint: c.dockerHost, connected: engines.some((e) => e.state === 'up'), lastEventAt: lastEvent, engines },
      drill: this.#drill ? { mode: this.#drill.mode, since: new Date(this.#drill.since).toISOString() } : null,
    };
  }

  /** A failover drill, this node's half: give the VIP up in the chosen way, or take part again. */
  async drill(request: DrillRequest): Promise<{ ok: boolean; message: string }> {
    if (request.action === 'restore') {
      if (!this.#drill) return { ok: true, message: 'no drill running' };
      const { mode, safety } = this.#drill;
      clearTimeout(safety);
      if (mode === 'graceful') this.#keepalived.start();
      if (mode === 'haproxy') {
        this.#haproxy.start();
        await this.#haproxy.waitReady();
      }
      if (mode === 'fault') await writeFile(this.#paths.faultFile, '0\n');
      this.#drill = null;
      this.#scheduler.trigger('drill restored');
      this.#log.info({ mode }, 'drill: this node restored');
      return { ok: true, message: `restored after a ${mode} drill` };
    }
    if (this.#drill) return { ok: false, message: `a ${this.#drill.mode} drill is already running` };
    if (!this.#nodeRoleOk) return { ok: false, message: 'this node does not take part in VRRP (node role gate)' };
    const safety = setTimeout(() => {
      this.#log.warn('drill: not restored in time by its command; restoring now');
      void this.drill({ action: 'restore' });
    }, DRILL_SAFETY_MS);
    safety.unref();
    this.#drill = { mode: request.mode, since: Date.now(), safety };
    this.#log.warn({ mode: request.mode }, 'drill: this node gives the VIP up');
    // graceful: keepalived stops and sends priority 0; haproxy: track_process sees it die -> FAULT;
    // fault: the tracked file goes non-zero -> FAULT. Every path ends in priority 0 adverts.
    if (request.mode === 'graceful') await this.#keepalived.stop();
    if (request.mode === 'haproxy') await this.#haproxy.stop();
    if (request.mode === 'fault') await writeFile(this.#paths.faultFile, '1\n');
    return { ok: true, message: `${request.mode} drill started` };
  }

  /** Stops everything: no more passes, keepalived (gives the VIP up), haproxy, leftover VIPs. */
  async stop(): Promise<void> {
    this.#closed = true;
    if (this.#resyncTimer) clearInterval(this.#resyncTimer);
    if (this.#settleTimer) clearTimeout(this.#settleTimer);
    if (this.#deleteTimer) clearTimeout(this.#deleteTimer);
    await this.#watcher?.close();
    for (const link of this.#links) link.close();
    await this.#scheduler.close();
    if (this.#drill) clearTimeout(this.#drill.safety);
    this.#vrrp.stop();
    await new Promise<void>((resolve) => (this.#statusServer ? this.#statusServer.close(() => resolve()) : resolve()));
    await this.#keepalived.stop();
    await this.#fifo.close();
    await this.#haproxy.stop();
    const left = await removeVips(this.#config.interface, this.#config.virtualIps);
    if (left.length > 0) this.#log.warn({ vips: left.map((v) => v.address) }, 'removed VIPs keepalived left behind');
    this.#log.info('vipkeeper stopped');
  }
}
