import { writeFile } from 'node:fs/promises';
import type { Server as HttpServer } from 'node:http';
import type { Config } from '../config/env.js';
import { ENV } from '../config/env-schema.js';
import { parseEnvironment } from '../config/env.js';
import type { HostFacts } from '../config/host-facts.js';
import { runtimePaths } from '../config/paths.js';
import { type EngineLink, engineLinks } from '../docker/engine-link.js';
import { type ControlServer, startControlServer } from '../control/control-server.js';
import { DrillController } from '../drill/drill-controller.js';
import { ConfigStore } from '../files/config-store.js';
import { acquireRunLock, type RunLock } from '../files/run-lock.js';
import type { FileWatch } from '../files/file-watcher.js';
import { DeleteQueue } from '../haproxy/delete-queue.js';
import { HaproxyApplier } from '../haproxy/haproxy-applier.js';
import { HaproxyProcess } from '../haproxy/haproxy-process.js';
import { PortGuard } from '../haproxy/port-guard.js';
import type { RuntimeApi } from '../haproxy/runtime-api.js';
import { RuntimeClient } from '../haproxy/runtime-client.js';
import { applyServerChanges } from '../haproxy/runtime-apply.js';
import { removeVips } from '../host/vip-addresses.js';
import { KeepalivedApplier } from '../keepalived/keepalived-applier.js';
import { KeepalivedProcess } from '../keepalived/keepalived-process.js';
import { NotifyFifo } from '../keepalived/notify-fifo.js';
import { VrrpMonitor } from '../keepalived/vrrp-monitor.js';
import type { Logger } from '../log.js';
import { readHandlers } from '../operate/operate-reader.js';
import { planConfigs } from '../pipeline.js';
import { backendName } from '../render/haproxy-view.js';
import { buildSnapshot, judgeHealth, type Health } from '../status/snapshot-builder.js';
import type { StatusSnapshot } from '../status/snapshot.js';
import { startStatusServer } from '../status/status-server.js';
import { findAdoptable } from '../supervisor/adopt.js';
import { realValidator, type Validator } from '../validate/check-config.js';
import { PassScheduler } from './pass-scheduler.js';
import { Reconciler } from './reconciler.js';
import { RetryPolicy, type Clock, systemClock } from './retry-policy.js';
import { SkipWarnings } from './skip-warnings.js';
import { StartUp } from './start-up.js';
import { StopTracker } from './stop-tracker.js';
import { TemplateSource } from './template-source.js';
import { followFiles } from './watched-files.js';

// The composition root: builds each part from the edges it is given (or the
// real ones) and wires them. The parts do the work:
//   StartUp      adopt or start the children, first apply, undo on failure
//   Reconciler   list -> plan -> apply -> record, one pass at a time
//   HaproxyApplier / DeleteQueue / KeepalivedApplier   the apply step
//   StopTracker  drain a container the moment Docker stops it
//   DrillController, the status edge, the file watcher.

export interface AgentOptions {
  readonly config: Config;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly facts: HostFacts;
  readonly log: Logger;
  /** Debounce of event bursts: quiet time, and the most a pass may be delayed. */
  readonly quietMs?: number;
  readonly maxWaitMs?: number;
  /** Full resync even without events (default 60 s; 1 s with Swarm). */
  readonly resyncEveryMs?: number;
  /** Edges, for tests: the real ones by default. */
  readonly validator?: Validator;
  readonly links?: EngineLink[];
  readonly haproxy?: HaproxyProcess;
  readonly keepalived?: KeepalivedProcess;
  readonly api?: RuntimeApi;
  readonly store?: ConfigStore;
  readonly clock?: Clock;
}

export class Agent {
  readonly #log: Logger;
  readonly #haproxy: HaproxyProcess;
  readonly #keepalived: KeepalivedProcess;
  readonly #api: RuntimeApi;
  readonly #links: EngineLink[];
  readonly #retry: RetryPolicy;
  readonly #deletes: DeleteQueue;
  readonly #templates: TemplateSource;
  readonly #reconciler: Reconciler;
  readonly #scheduler: PassScheduler;
  readonly #stops: StopTracker;
  readonly #drill: DrillController;
  readonly #vrrp: VrrpMonitor;
  readonly #startUp: StartUp;
  #config: Config;
  #watch: FileWatch | null = null;
  #statusServer: HttpServer | null = null;
  #control: ControlServer | null = null;
  #resyncTimer: NodeJS.Timeout | null = null;
  #closed = false;
  #runLock: RunLock | null = null;

  constructor(private readonly o: AgentOptions) {
    const log = (this.#log = o.log);
    const c = (this.#config = o.config);
    const paths = runtimePaths(c);
    const validate = o.validator ?? realValidator();
    const store = o.store ?? new ConfigStore(c.configDir);
    this.#haproxy = o.haproxy ?? new HaproxyProcess(paths, log);
    this.#keepalived = o.keepalived ?? new KeepalivedProcess(paths, log);
    const api = (this.#api = o.api ?? new RuntimeClient(paths.adminSocket));
    this.#links = o.links ?? engineLinks(c, log);
    const clock = o.clock ?? systemClock;
    this.#retry = new RetryPolicy(undefined, clock);
    this.#vrrp = new VrrpMonitor(`vipkeeper_${c.virtualRouterId}`, c.interface, c.virtualIps, log);
    this.#keepalived.process.on('exit', () => {
      this.#vrrp.markStopped();
      // A keepalived that died (kill -9) leaves its VIPs: without VRRP this node must not hold them,
      // or the backup that takes over makes two holders. The restarted keepalived claims them again.
      if (!this.#closed) void removeVips(c.interface, c.virtualIps).then(
        (left) => left.length > 0 && log.warn({ vips: left.map((v) => v.address) }, 'keepalived died: removed the VIPs it left'),
      );
    });
    this.#deletes = new DeleteQueue(api, log, undefined, clock);
    this.#templates = new TemplateSource(c.templatesDir);
    this.#scheduler = new PassScheduler({
      quietMs: o.quietMs ?? 50,
      maxWaitMs: o.maxWaitMs ?? 500,
      onError: (err) => log.error({ err }, 'a pass threw; the loop goes on'),
    }, (triggers) => this.#reconciler.pass(triggers).then(() => undefined));
    const haproxyApplier = new HaproxyApplier({
      files: store,
      validate: (f) => validate('haproxy', f),
      control: this.#haproxy,
      api,
      deletes: this.#deletes,
      applyServers: (changes) => applyServerChanges(api, changes, log),
      log,
    });
    const keepalivedApplier = new KeepalivedApplier({
      files: store,
      validate: (f) => validate('keepalived', f),
      reload: () => this.#keepalived.reload(),
      takesPart: () => this.#startUp.nodeRoleOk,
    });
    this.#stops = new StopTracker((id) => {
      const services = this.#reconciler.applied?.state.services ?? [];
      haproxyApplier.drainContainer(services, backendName, id).then(
        (drained) => drained.length > 0 && log.info({ servers: drained }, 'container stopping: server drained'),
        (err: unknown) => log.warn({ err }, 'could not drain a stopping container; the next pass removes it'),
      );
    }, clock);
    const warnings = new SkipWarnings(log);
    this.#reconciler = new Reconciler({
      list: async () => {
        const lists = await Promise.all(this.#links.map((l) => l.list()));
        log.debug({ docker: this.#links.map((l) => ({ engine: l.name, ...l.lastListStats() })) }, 'pass: docker part');
        return lists.flat();
      },
      plan: (containers, context) => planConfigs(this.#config, containers, this.#templates.current(), context),
      templatesKey: () => this.#templates.key(),
      haproxy: haproxyApplier,
      keepalived: keepalivedApplier,
      readLive: async () => ({ haproxy: await store.read('haproxy.cfg'), keepalived: await store.read('keepalived.conf') }),
      stopping: this.#stops,
      ports: new PortGuard(new Map([[c.statusAddr.port, `vipkeeper's status address (VIPKEEPER_STATUS_ADDR)`]])),
      retry: this.#retry,
      retryLater: (ms, why) => this.#scheduler.triggerAfter(ms, why),
      warnings: (state) => warnings.report(state),
      log,
      clock,
    });
    this.#drill = new DrillController({
      stopKeepalived: () => this.#keepalived.stop(),
      startKeepalived: () => this.#keepalived.start(),
      stopHaproxy: () => this.#haproxy.stop(),
      startHaproxy: async () => {
        this.#haproxy.start();
        await this.#haproxy.waitReady();
      },
      writeFault: (v) => writeFile(paths.faultFile, `${v}\n`),
      takesPart: () => this.#startUp.nodeRoleOk,
      pausePasses: (why) => this.#reconciler.pause(why),
      resumePasses: (why) => {
        this.#reconciler.resume();
        this.#scheduler.trigger(why);
      },
      retry: this.#retry,
      log,
    });
    this.#startUp = new StartUp({
      config: c,
      paths,
      store,
      haproxy: this.#haproxy,
      keepalived: this.#keepalived,
      haproxyApplier,
      vrrp: this.#vrrp,
      fifo: new NotifyFifo(paths.notifyFifo, (t) => this.#vrrp.onTransition(t)),
      links: this.#links,
      findAdoptable,
      removeVips,
      log,
      isClosed: () => this.#closed,
    });
  }

  /** Reads the whole initial state, applies it once, then follows changes. On failure it leaves what it did not start alone. */
  async start(): Promise<void> {
    const c = this.#config;
    // First: a second agent on a live agent's run dir must not take over its FIFO and sockets.
    this.#runLock = await acquireRunLock(c.runDir);
    for (const link of this.#links) {
      link.on('event', (e) => {
        this.#stops.onEvent(e);
        this.#scheduler.trigger(`${e.action}${e.name ? ` ${e.name}` : ''}`);
        if (c.swarm) this.#scheduler.triggerAfter(250, 'swarm settle', 'swarm settle'); // a task is called running a moment after its container starts
      });
      link.on('changed', (why: string) => this.#scheduler.trigger(why));
    }
    let ok: boolean;
    try {
      ok = await this.#startUp.run(async () => {
        await this.#templates.load().catch((err: unknown) => this.#log.error({ err }, 'templates cannot be loaded'));
        this.#watch = await this.#watchFiles();
        await this.#reconciler.initial(this.#startUp.children());
      });
    } catch (err) {
      await this.#closeParts();
      await this.#releaseLock();
      throw err;
    }
    if (!ok) return this.#closeParts();
    this.#scheduler.trigger('started');
    this.#vrrp.start();
    this.#statusServer = await startStatusServer(c.statusAddr, { snapshot: () => this.snapshot(), health: () => this.health() }, this.#log);
    // Changes (drills) only over a unix socket in the run dir, mode 0600: never over TCP. The operator's reads (show, check, verify) too.
    const reads = readHandlers({
      settings: () => this.#config,
      applied: () => this.#reconciler.applied?.state ?? null,
      serversState: () => this.#api.serversState(0),
      stopping: () => this.#stops.ids(),
      leaving: () => this.#deletes.pending(),
      sources: this.#links,
    });
    this.#control = await startControlServer(runtimePaths(c).controlSocket, { drill: (r) => this.#drill.handle(r), ...reads }, this.#log);
    this.#haproxy.process.on('started', () => this.#scheduler.trigger('haproxy restarted'));
    // The safety net: every engine lists everything again, whatever events said.
    this.#resyncTimer = setInterval(() => {
      for (const l of this.#links) l.markStale('periodic resync');
      this.#scheduler.trigger('periodic resync');
    }, this.o.resyncEveryMs ?? (c.swarm ? 1000 : 60_000));
    this.#resyncTimer.unref();
    this.#log.info({ status: `${c.statusAddr.host}:${c.statusAddr.port}`, control: runtimePaths(c).controlSocket }, 'vipkeeper started');
  }

  #watchFiles(): Promise<FileWatch> {
    const passFile = this.o.env[ENV.authPassFile.name]?.trim() || null;
    return followFiles({
      templatesDir: this.#config.templatesDir,
      passFile,
      certDirs: [...new Set(this.#config.engines.map((e) => e.tlsCertPath).filter((d) => d !== null))],
      reconnectEngines: () => this.#links.forEach((l) => l.reconnect()),
      passwordChanged: (content) => (this.#config = parseEnvironment(this.o.env, this.o.facts, content).config),
      reloadTemplates: () => this.#templates.load(),
      trigger: (why) => this.#scheduler.trigger(why),
      log: this.#log,
    });
  }

  health(): Health {
    const pass = this.#retry.get('reconcile pass');
    return judgeHealth({
      closed: this.#closed,
      started: this.#reconciler.applied !== null,
      haproxy: this.#haproxy.process.state(),
      haproxyDownOnPurpose: this.#drill.haproxyDownOnPurpose(),
      passFailingForMs: this.#retry.failingForMs('reconcile pass'),
      passError: pass?.lastError ?? null,
      restoreProblem: this.#drill.restoreProblem(),
    });
  }

  async snapshot(): Promise<StatusSnapshot> {
    return buildSnapshot({
      config: this.#config,
      nodeRoleOk: this.#startUp.nodeRoleOk,
      vrrp: this.#vrrp.snapshot(),
      services: this.#reconciler.applied?.state.services ?? [],
      rows: await this.#api.serversState(500).catch(() => []),
      lastPass: this.#reconciler.lastPass,
      totals: this.#reconciler.totals(),
      children: [this.#haproxy.process.state(), this.#keepalived.process.state()],
      engines: this.#links.map((l) => l.status()),
      drill: this.#drill.active(),
      failing: this.#retry.failing(),
      health: this.health(),
    });
  }

  async #closeParts(): Promise<void> {
    this.#closed = true;
    if (this.#resyncTimer) clearInterval(this.#resyncTimer);
    await this.#watch?.close();
    for (const link of this.#links) link.close();
    await this.#scheduler.close();
    this.#deletes.close();
    this.#drill.close();
    this.#vrrp.stop();
    await this.#control?.close();
    await new Promise<void>((resolve) => (this.#statusServer ? this.#statusServer.close(() => resolve()) : resolve()));
  }

  /** Stops everything: no more passes, keepalived (gives the VIP up), haproxy, leftover VIPs. */
  async stop(): Promise<void> {
    if (this.#runLock === null) return; // never started (or refused): nothing here is ours to stop
    this.#startUp.freeze();
    await this.#closeParts();
    await this.#startUp.stopChildren();
    if (this.#api instanceof RuntimeClient) this.#api.close();
    await this.#releaseLock();
    this.#log.info('vipkeeper stopped');
  }

  async #releaseLock(): Promise<void> {
    await this.#runLock?.release().catch((err: unknown) => this.#log.warn({ err }, 'could not remove the run dir lock'));
    this.#runLock = null;
  }
}
