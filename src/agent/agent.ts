import { LiveConfig } from '../config/live-config.js';
import { instanceDownFile, instanceHealthFile, runtimePaths } from '../config/paths.js';
import { type ControlServer, startControlServer } from '../control/control-server.js';
import { listEngines } from '../docker/engine-link.js';
import { childSteps, DrillController } from '../drill/drill-controller.js';
import type { FileWatch } from '../files/file-watcher.js';
import { acquireRunLock } from '../files/run-lock.js';
import { DeleteQueue } from '../haproxy/delete-queue.js';
import { HaproxyApplier } from '../haproxy/haproxy-applier.js';
import { PortGuard } from '../haproxy/port-guard.js';
import { applyServerChanges } from '../haproxy/runtime-apply.js';
import { RuntimeClient } from '../haproxy/runtime-client.js';
import { removeVips } from '../host/vip-addresses.js';
import { KeepalivedApplier } from '../keepalived/keepalived-applier.js';
import { watchKeepalivedExits } from '../keepalived/keepalived-watch.js';
import { NotifyFifo } from '../keepalived/notify-fifo.js';
import { VrrpInstances } from '../keepalived/vrrp-monitor.js';
import { readHandlers } from '../operate/operate-reader.js';
import { operatorController } from '../operator/operator-edges.js';
import { desiredState } from '../pipeline.js';
import { type RenderedConfigs, renderConfigs } from '../render/render-configs.js';
import { startStatusServer } from '../status/status-server.js';
import { AgentStatus } from '../status/status-source.js';
import { findAdoptable } from '../supervisor/adopt.js';
import { type AgentOptions, agentEdges } from './agent-edges.js';
import { routeEngineEvents, routeHaproxyRestarts } from './event-router.js';
import { AgentLifecycle, type Closable, serverPart } from './lifecycle.js';
import { PassScheduler } from './pass-scheduler.js';
import { Reconciler } from './reconciler.js';
import { ResyncTimer, resyncEveryMs } from './resync-timer.js';
import { RetryPolicy } from './retry-policy.js';
import { SkipWarnings } from './skip-warnings.js';
import { StartUp } from './start-up.js';
import { drainStopping, StopTracker } from './stop-tracker.js';
import { TemplateSource } from './template-source.js';
import { agentWatchedFiles, followFiles } from './watched-files.js';
import { stat, writeFile } from 'node:fs/promises';
import { InstanceHealthWatch } from '../health/instance-health-watch.js';
import { CertSource, defaultCertPem } from '../tls/cert-source.js';
import { socketCertRuntime, swapCerts } from '../tls/cert-swap.js';
import { installDefaultCert, makeSelfSigned, readCertsDir, syncTlsFiles } from '../tls/tls-files.js';
import { tlsPlan } from '../tls/tls-plan.js';
import { servedOnHttps } from '../render/haproxy-view.js';
import { acmeParts } from '../acme/acme-edges.js';

// The composition root: builds each part from the edges it is given (or the
// real ones) and wires them; the parts do the work. AgentLifecycle: the run lock
// and the stop order; StartUp: adopt or start the children, first apply, undo
// on failure; Reconciler: list -> plan -> apply -> record; the appliers and the
// DeleteQueue; StopTracker; the event routes and ResyncTimer; the keepalived
// exit watch; DrillController; AgentStatus; the file watch.

export type { AgentOptions } from './agent-edges.js';

export class Agent {
  readonly #life: AgentLifecycle;
  readonly #start: () => Promise<void>;
  /** What /healthz, /status and /metrics show. */
  readonly status: AgentStatus;

  constructor(o: AgentOptions) {
    const { log, config: c } = o;
    const config = new LiveConfig(c, o.env, o.facts);
    const paths = runtimePaths(c);
    const { validator: validate, store, haproxy, keepalived, api, links, clock } = agentEdges(o);
    const retry = new RetryPolicy(undefined, clock);
    const vrrp = new VrrpInstances(c.instances, log);
    const deletes = new DeleteQueue(api, log, undefined, clock);
    const templates = new TemplateSource(c.templatesDir);
    const scheduler = new PassScheduler({
      quietMs: o.quietMs ?? 50,
      maxWaitMs: o.maxWaitMs ?? 500,
      onError: (err) => log.error({ err }, 'a pass threw; the loop goes on'),
    }, (triggers, waitedMs) => reconciler.pass(triggers, waitedMs).then(() => undefined));
    const trigger = (why: string) => scheduler.trigger(why);
    const certs = new CertSource({ dir: c.certsDir, read: readCertsDir, log });
    // ACME (VIPKEEPER_ACME_EMAIL): orders through the VIP, challenges in HAProxy's map; null when off.
    // The VIP holder of a host's instance orders first; the others wait (VIPKEEPER_ACME_BACKUP_DELAY).
    const holds = (instances: readonly string[]) => {
      const mine = vrrp.snapshots();
      const wanted = instances.length > 0 ? instances : [mine[0]?.name];
      return mine.some((i) => wanted.includes(i.name) && i.state === 'MASTER');
    };
    const acme = c.acme ? acmeParts({ config: c, acme: c.acme, paths, api, log, trigger: (why) => trigger(why), holds }) : null;
    const haproxyApplier = new HaproxyApplier({
      files: store, validate: (f) => validate('haproxy', f), control: haproxy, api, deletes,
      applyServers: (changes) => applyServerChanges(api, changes, log), log,
      tls: {
        syncFiles: (list) => syncTlsFiles(paths, list),
        swap: (changes) => swapCerts(socketCertRuntime(paths.adminSocket, (l) => api.command(l)), paths, changes),
      },
    });
    const keepalivedApplier = new KeepalivedApplier({
      files: store, validate: (f) => validate('keepalived', f), reload: () => keepalived.reload(), takesPart: () => startUp.nodeRoleOk,
    });
    const stops = new StopTracker(drainStopping({ haproxy: haproxyApplier, services: () => reconciler.applied?.state.services ?? [], log }), clock);
    const warnings = new SkipWarnings(log);
    // Once per distinct set: a user's template that leaves access rules out (issue 17) leaves services open.
    let unprintedSeen = '';
    const warnUnprinted = (r: RenderedConfigs): RenderedConfigs => {
      const now = (r.unprintedAccessRules ?? []).join('\n');
      if (now !== unprintedSeen && now !== '') log.warn({ rules: r.unprintedAccessRules }, 'the haproxy.cfg template does not print these access rules, so they are not enforced: update the template (see the shipped one)');
      unprintedSeen = now;
      return r;
    };
    const reconciler: Reconciler = new Reconciler({
      list: () => listEngines(links, log).then((all) => (operator.prune(all, links.every((l) => l.state === 'up')), all)),
      listStats: () => links.map((l) => ({ engine: l.name, ...l.lastListStats() })),
      prepare: () => certs.refresh(),
      desire: (containers, context) => {
        const state = desiredState(config.current, containers, { ...context, operator: operator.overrides(), ...(certs.current ? { certificates: certs.current } : {}) });
        acme?.want(state.services);
        return state;
      },
      render: (state) => warnUnprinted(renderConfigs(config.current, state, templates.current())),
      httpsPortOf: (state) => {
        const tls = tlsPlan(config.current, state.certificates);
        return state.services.some((s) => servedOnHttps(s, tls)) ? config.current.httpsPort : null;
      },
      templatesKey: () => templates.key(),
      haproxy: haproxyApplier,
      keepalived: keepalivedApplier,
      readLive: async () => ({ haproxy: await store.read('haproxy.cfg'), keepalived: await store.read('keepalived.conf') }),
      stopping: stops,
      ports: new PortGuard(
        new Map([
          [c.statusAddr.port, `vipkeeper's status address (VIPKEEPER_STATUS_ADDR)`],
          ...(c.haproxyMetricsAddr ? [[c.haproxyMetricsAddr.port, `HAProxy's metrics address (VIPKEEPER_HAPROXY_METRICS_ADDR)`] as const] : []),
        ]),
      ),
      retry,
      retryLater: (ms, why) => scheduler.triggerAfter(ms, why),
      warnings: (state) => warnings.report(state),
      log,
      clock,
    });
    const namedInstances = c.instances.length > 1 || c.instances[0]?.name !== 'default' ? c.instances.map((i) => i.name) : [];
    const drill = new DrillController({
      ...childSteps(haproxy, keepalived, paths.faultFile, (name) => instanceDownFile(c, name)),
      instances: namedInstances,
      takesPart: () => startUp.nodeRoleOk,
      pausePasses: (why) => reconciler.pause(why),
      resumePasses: (why) => {
        reconciler.resume();
        trigger(why);
      },
      retry,
      log,
    });
    // disable/enable and maintenance: kept in the config dir, applied by passes like any change.
    const operator = operatorController({
      config: c, api, served: () => reconciler.applied?.state ?? null, applyNow: (why) => (trigger(why), scheduler.idle()),
      vrrpStateOf: (name) => vrrp.snapshotOf(name)?.state ?? 'UNKNOWN', takesPart: () => startUp.nodeRoleOk, log,
    });
    // Each instance's health file, judged every second against the applied services (several instances only).
    const instanceHealth = new InstanceHealthWatch({
      instances: namedInstances,
      services: () => reconciler.applied?.state.services ?? null,
      ask: (command) => api.command(command),
      write: (name, value) => writeFile(instanceHealthFile(c, name), `${value}\n`),
      log,
    });
    const isClosed = () => this.#life.closed;
    // Leftover VIPs are looked for on each instance's own interface (the parts below know one).
    const removeInstanceVips = async () => (await Promise.all(c.instances.map((i) => removeVips(i.interface, i.virtualIps)))).flat();
    const startUp: StartUp = new StartUp({
      config: c, paths, store, haproxy, keepalived, haproxyApplier, vrrp, links, findAdoptable, removeVips: removeInstanceVips, log, isClosed,
      fifo: new NotifyFifo(paths.notifyFifo, (t) => vrrp.onTransition(t)),
    });
    watchKeepalivedExits({ process: keepalived.process, vrrp, iface: c.interface, vips: c.virtualIps, removeVips: removeInstanceVips, isClosed, log });
    this.status = new AgentStatus({
      config: () => config.current, isClosed, nodeRoleOk: () => startUp.nodeRoleOk, vrrp, reconciler, api, haproxy, keepalived, links, drill, retry, operator, instanceHealth,
      acme: acme?.manager ?? null,
    });
    // The default certificate, before the first plan: HTTPS is offered only once it is in place.
    const prepareDefaultCert = async () => {
      try {
        await installDefaultCert(paths, await defaultCertPem({ file: c.defaultCert, installed: paths.defaultCert, makeSelfSigned, log }));
        certs.defaultReady();
      } catch (err) {
        log.error({ err }, 'no default TLS certificate could be made (is openssl installed?): HTTPS is off');
      }
    };
    const resync = new ResyncTimer({ everyMs: resyncEveryMs(c.swarm, o.resyncEveryMs), links, trigger });
    let watch: FileWatch | null = null;
    let control: ControlServer | null = null;
    let statusServer: Closable | null = null;
    this.#life = new AgentLifecycle({
      acquireLock: () => acquireRunLock(c.runDir),
      parts: () => [resync, watch, ...links, scheduler, deletes, drill, operator, instanceHealth, { close: () => vrrp.stop() }, { close: () => acme?.manager.stop() }, control, statusServer],
      children: startUp,
      afterChildren: [api instanceof RuntimeClient ? api : null],
      log,
    });
    this.#start = async () => {
      const started = await this.#life.start(async () => {
        routeEngineEvents({ links, stops, scheduler, swarm: c.swarm });
        await operator.load(); // before keepalived starts: a node in maintenance never takes the VIP
        return startUp.run(async () => {
          await templates.load().catch((err: unknown) => log.error({ err }, 'templates cannot be loaded'));
          // The challenge map must exist before haproxy -c reads a config naming it; the certificates dir before it is watched.
          await acme?.prepare();
          await prepareDefaultCert();
          const httpsCertsDir = (await stat(c.certsDir).then((st) => st.isDirectory(), () => false)) ? c.certsDir : null;
          watch = await followFiles(agentWatchedFiles({ config, links, templates, trigger, log, httpsCertsDir }));
          await reconciler.initial(startUp.children());
        });
      });
      if (!started) return;
      trigger('started');
      vrrp.start();
      instanceHealth.start();
      acme?.manager.start();
      statusServer = serverPart(await startStatusServer(c.statusAddr, this.status, log));
      // Changes (drills) only over a unix socket in the run dir, mode 0600: never over TCP. The operator's reads (show, check, verify) too.
      const reads = readHandlers({
        settings: () => config.current, applied: () => reconciler.applied?.state ?? null, serversState: () => api.serversState(0),
        stopping: () => stops.ids(), leaving: () => deletes.pending(), sources: links,
      });
      control = await startControlServer(paths.controlSocket, { drill: (r) => drill.handle(r), ...reads, ...operator.handlers() }, log);
      routeHaproxyRestarts(haproxy.process, scheduler);
      resync.start();
      log.info({ status: `${c.statusAddr.host}:${c.statusAddr.port}`, control: paths.controlSocket }, 'vipkeeper started');
    };
  }

  /** Reads the whole initial state, applies it once, then follows changes. On failure it leaves what it did not start alone. */
  start(): Promise<void> {
    return this.#start();
  }

  /** Stops everything: no more passes, keepalived (gives the VIP up), haproxy, leftover VIPs. */
  stop(): Promise<void> {
    return this.#life.stop();
  }
}
