import type { Config } from '../config/env.js';
import type { Cidr } from '../config/env-schema.js';
import type { RuntimePaths } from '../config/paths.js';
import { connectDocker, type DockerEngine } from '../docker/docker-engine.js';
import type { EngineLink } from '../docker/engine-link.js';
import { readNodeRole } from '../docker/node-role.js';
import type { ConfigStore } from '../files/config-store.js';
import type { HaproxyApplier } from '../haproxy/haproxy-applier.js';
import type { HaproxyProcess } from '../haproxy/haproxy-process.js';
import type { KeepalivedProcess } from '../keepalived/keepalived-process.js';
import type { NotifyFifo } from '../keepalived/notify-fifo.js';
import type { VrrpMonitor } from '../keepalived/vrrp-monitor.js';
import type { Logger } from '../log.js';
import type { ChildrenStart } from './reconciler.js';

// Start-up order, and its undoing. An earlier agent that died alone may have
// left haproxy and keepalived running: they are kept, so restarting the agent
// never moves the VIP. A start that fails undoes only what it did itself: a
// child it started is stopped, a child it kept is let go still running (its
// VIP stays where it is), and VIPs are only removed when no keepalived is left.

export interface StartUpParts {
  readonly config: Config;
  readonly paths: RuntimePaths;
  readonly store: Pick<ConfigStore, 'init'>;
  readonly haproxy: HaproxyProcess;
  readonly keepalived: KeepalivedProcess;
  readonly haproxyApplier: Pick<HaproxyApplier, 'markGood'>;
  readonly vrrp: Pick<VrrpMonitor, 'inferFromInterface'>;
  readonly fifo: Pick<NotifyFifo, 'open' | 'close'>;
  readonly links: readonly EngineLink[];
  readonly findAdoptable: (pidFile: string, mustMention: string) => Promise<number | null>;
  readonly removeVips: (iface: string, vips: readonly Cidr[]) => Promise<Cidr[]>;
  readonly connectLocal?: () => Promise<DockerEngine>;
  readonly log: Logger;
  readonly isClosed: () => boolean;
  /** How long the start waits for every engine's first answer before it goes on with those that did. */
  readonly firstAttemptWaitMs?: number;
}

type Origin = 'none' | 'kept' | 'started';

export class StartUp {
  #nodeRoleOk = true;
  #kept = { haproxy: null as number | null, keepalived: null as number | null };
  #origin: { haproxy: Origin; keepalived: Origin } = { haproxy: 'none', keepalived: 'none' };

  constructor(private readonly p: StartUpParts) {}

  get nodeRoleOk(): boolean {
    return this.#nodeRoleOk;
  }

  /**
   * Runs the start-up steps around `firstApply`. Resolves true when started,
   * false when the agent was stopped meanwhile; on failure it undoes its own
   * steps and rethrows.
   */
  async run(firstApply: () => Promise<void>): Promise<boolean> {
    const { config: c, paths, log } = this.p;
    try {
      await this.p.store.init();
      this.#kept = {
        haproxy: await this.p.findAdoptable(paths.haproxyPid, paths.haproxyCfg),
        keepalived: await this.p.findAdoptable(paths.keepalivedPid, paths.keepalivedConf),
      };
      if (this.#kept.keepalived === null) {
        const leftover = await this.p.removeVips(c.interface, c.virtualIps);
        if (leftover.length > 0) log.warn({ interface: c.interface, vips: leftover.map((v) => v.address) }, 'removed VIPs left on the interface by an earlier run');
      }
      // Each link subscribes to its engine's events before anything is listed, so no change
      // between the two is missed. One that hangs (a dead host) must not hold the start up.
      let firstAttempts: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(this.p.links.map((l) => l.start())),
        new Promise((r) => (firstAttempts = setTimeout(r, this.p.firstAttemptWaitMs ?? 2000))),
      ]);
      clearTimeout(firstAttempts);
      if (!(await this.#waitForAnEngine())) return false;
      if (!(await this.#checkNodeRole())) return false;
      await this.p.fifo.open(this.#kept.keepalived !== null);
      await firstApply();
      return !this.p.isClosed();
    } catch (err) {
      await this.releaseChildren();
      throw err;
    }
  }

  /** Nothing is applied before one engine answered: a node that knows no backends should not take the VIP. */
  async #waitForAnEngine(): Promise<boolean> {
    let told = false;
    while (!this.p.isClosed() && !this.p.links.some((l) => l.state === 'up' || l.state === 'gated')) {
      if (!told) this.p.log.warn({ engines: this.p.links.map((l) => l.status()) }, 'no Docker engine answers yet; waiting');
      told = true;
      await new Promise((r) => setTimeout(r, 250));
    }
    return !this.p.isClosed();
  }

  async #checkNodeRole(): Promise<boolean> {
    const { nodeRole, roleLabel, swarm, dockerHost } = this.p.config;
    if (nodeRole === null) return true;
    let delay = 250;
    let local: DockerEngine | null = null;
    while (local === null) {
      if (this.p.isClosed()) return false;
      try {
        local = await (this.p.connectLocal ?? (() => connectDocker(dockerHost)))();
      } catch (err) {
        this.p.log.warn({ endpoint: dockerHost, err, retryInMs: delay }, "this node's Docker engine does not answer yet");
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 5000);
      }
    }
    const managers = this.p.links.map((l) => l.engine).filter((e) => e !== null);
    const answer = await readNodeRole(local, { roleLabel, nodeRole, swarm }, managers);
    this.#nodeRoleOk = answer.present;
    if (!answer.present) {
      this.p.log.error({ roleLabel, nodeRole, labels: answer.labels }, `this node's ${answer.where} lacks ${roleLabel}=${nodeRole}: keepalived is not started and this node never holds the VIP`);
    }
    return true;
  }

  /** How the first apply brings the children up on the files it wrote. */
  children(): ChildrenStart {
    const { haproxy, keepalived } = this.p;
    return {
      keptHaproxy: () => this.#kept.haproxy !== null,
      startHaproxy: async (fileChanged) => {
        if (this.#kept.haproxy !== null) {
          haproxy.process.adopt(this.#kept.haproxy);
          this.#origin.haproxy = 'kept';
          if (fileChanged) await haproxy.reload();
        } else {
          haproxy.start();
          this.#origin.haproxy = 'started';
        }
        await haproxy.waitReady();
        await this.p.haproxyApplier.markGood();
      },
      startKeepalived: async (fileChanged) => {
        const kept = this.#kept.keepalived;
        if (this.#nodeRoleOk) {
          if (kept !== null) {
            keepalived.process.adopt(kept);
            this.#origin.keepalived = 'kept';
            if (fileChanged) keepalived.reload();
            await this.p.vrrp.inferFromInterface();
          } else {
            keepalived.start();
            this.#origin.keepalived = 'started';
          }
        } else if (kept !== null) {
          // The node lost its role while an earlier agent ran: give the VIP up.
          keepalived.process.adopt(kept);
          await keepalived.stop();
        }
      },
    };
  }

  /** A failed start: stop what it started, let go (running) what it kept. */
  async releaseChildren(): Promise<void> {
    const { haproxy, keepalived, config: c, log } = this.p;
    for (const [name, child, origin] of [['keepalived', keepalived, this.#origin.keepalived], ['haproxy', haproxy, this.#origin.haproxy]] as const) {
      if (origin === 'started') await child.stop().catch((err: unknown) => log.error({ err }, `could not stop ${name}`));
      else child.process.release();
    }
    await this.p.fifo.close().catch(() => undefined);
    const keptKeepalived = this.#kept.keepalived !== null && this.#origin.keepalived !== 'started';
    if (!keptKeepalived) await this.p.removeVips(c.interface, c.virtualIps).catch(() => []);
    if (keptKeepalived || this.#kept.haproxy !== null) log.warn('the start failed: haproxy and keepalived kept from the earlier agent still run, untouched');
  }

  /** No child is restarted from now on: the agent is going down. */
  freeze(): void {
    // Children run in process groups of their own, so a signal to the agent's group does not reach
    // them; a child that dies anyway from now on is not restarted mid-shutdown.
    this.p.haproxy.beginShutdown();
    this.p.keepalived.beginShutdown();
  }

  /** Stops keepalived (gives the VIP up), haproxy, and removes VIPs keepalived left. */
  async stopChildren(): Promise<void> {
    const { haproxy, keepalived, config: c, log } = this.p;
    await keepalived.stop();
    await this.p.fifo.close();
    await haproxy.stop();
    const left = await this.p.removeVips(c.interface, c.virtualIps);
    if (left.length > 0) log.warn({ vips: left.map((v) => v.address) }, 'removed VIPs keepalived left behind');
  }
}
