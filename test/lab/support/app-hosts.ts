import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './cli.js';
import { APP_IMAGE, type AppOptions, runApp, sh, waitFor } from './lab.js';
import { LAB_BRIDGE, LAB_NET, plugHost } from './netns-lab.js';

// App hosts of the namespace lab: each a network namespace on the lab bridge
// with its own dockerd listening on tcp://ADDRESS:2375, so a load balancer
// reads containers from engines on other hosts. Their data roots live on after
// a run (the app image stays loaded there, which saves a save|load per run);
// anything else a run left inside is removed at start.

const DATA = '/var/lib/vipkeeper-lab';
const RUN = '/run/vipkeeper-lab';

export class AppHost {
  readonly ns: string;
  readonly hostLink: string;
  readonly endpoint: string;
  /** The engine's own socket: the test drives it there, whatever its tcp listener demands. */
  readonly socket: string;
  readonly #exec: string;
  readonly #pidFile: string;

  constructor(
    readonly name: string,
    /** Last octet on the lab network; also picks the engine's own bridge subnet. */
    readonly octet: number,
    /** Engine labels (`dockerd --label`), Rancher-style host roles. */
    readonly labels: readonly string[] = [],
    /** A directory with ca.pem, server-cert.pem, server-key.pem: listen with TLS on 2376 only. */
    readonly tlsDir: string | null = null,
  ) {
    this.ns = name;
    this.hostLink = `${name}h`;
    this.endpoint = `tcp://${this.address}:${tlsDir ? 2376 : 2375}`;
    this.#exec = join(RUN, name);
    this.socket = `unix://${this.#exec}/docker.sock`;
    this.#pidFile = join(this.#exec, 'docker.pid');
  }

  get address(): string {
    return `${LAB_NET}.${this.octet}`;
  }

  /** Joins the lab bridge (made by NetnsLab.up) and starts the engine with the app image loaded. */
  async up(): Promise<void> {
    await this.down();
    await plugHost(this, LAB_BRIDGE);
    await this.startDockerd();
    // Leftovers of an earlier run in the kept data root.
    await this.docker('swarm', 'leave', '--force').catch(() => undefined);
    const ids = (await this.docker('ps', '-aq')).split('\n').filter(Boolean);
    if (ids.length > 0) await this.docker('rm', '-f', ...ids);
    if ((await sh('docker', ['-H', this.socket, 'image', 'inspect', APP_IMAGE], { allowFail: true })).code !== 0) {
      await sh('sh', ['-c', `docker save ${APP_IMAGE} | docker -H ${this.socket} load -q`]);
    }
  }

  /**
   * dockerd inside the namespace through nsenter --net (ip netns exec would remount /sys and
   * hide the cgroup mounts), with its own data and exec roots and bridge subnet.
   */
  async startDockerd(): Promise<void> {
    mkdirSync(this.#exec, { recursive: true });
    mkdirSync(join(DATA, this.name), { recursive: true });
    mkdirSync(join(REPO, '.lab'), { recursive: true });
    const log = openSync(join(REPO, '.lab', `dockerd-${this.name}.log`), 'a');
    const args = [
      `--net=/var/run/netns/${this.ns}`,
      'dockerd',
      '-H', this.endpoint,
      '-H', this.socket,
      // Plain TCP: say --tls=false outright, or dockerd 20.10 warns and then sleeps 15 s before it
      // listens ("Startup is intentionally being slowed down"): 15 of each start's ~20 s here.
      ...(this.tlsDir
        ? ['--tlsverify', '--tlscacert', join(this.tlsDir, 'ca.pem'), '--tlscert', join(this.tlsDir, 'server-cert.pem'), '--tlskey', join(this.tlsDir, 'server-key.pem')]
        : ['--tls=false']),
      '--data-root', join(DATA, this.name),
      '--exec-root', join(this.#exec, 'exec'),
      '--pidfile', this.#pidFile,
      '--bip', `172.30.${this.octet}.1/24`,
      ...this.labels.flatMap((l) => ['--label', l]),
    ];
    const child = spawn('nsenter', args, { detached: true, stdio: ['ignore', log, log] });
    child.unref();
    await waitFor(`dockerd of ${this.name} to answer`, async () => (await sh('docker', ['-H', this.socket, 'version'], { allowFail: true })).code === 0, 60_000, 200);
  }

  /** Stops the engine the way a host shutdown does (SIGTERM: it stops its containers first). */
  async stopDockerd(): Promise<void> {
    let pid: number;
    try {
      pid = Number(readFileSync(this.#pidFile, 'utf8').trim());
      // A stale pid file of a crashed run must not kill whatever reuses the pid.
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('dockerd')) return;
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
    await waitFor(`dockerd of ${this.name} to exit`, async () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    }, 60_000, 100);
  }

  docker(...args: string[]): Promise<string> {
    return sh('docker', ['-H', this.socket, ...args]).then((r) => r.stdout.trim());
  }

  /** The lab's test app, on this host's engine. */
  runApp(o: AppOptions): Promise<string> {
    return runApp(o, this.socket);
  }

  async down(): Promise<void> {
    if (existsSync(this.#pidFile)) {
      await this.docker('swarm', 'leave', '--force').catch(() => undefined);
      // The run is over: remove what runs first. Stopping the engine would stop each container
      // and wait out the stop timeout (10 s) of an app that ignores SIGTERM (httpd as PID 1).
      const ids = (await this.docker('ps', '-aq').catch(() => '')).split('\n').filter(Boolean);
      if (ids.length > 0) await this.docker('rm', '-f', ...ids).catch(() => undefined);
      await this.stopDockerd();
    }
    await sh('ip', ['netns', 'del', this.ns], { allowFail: true });
    await sh('ip', ['link', 'del', this.hostLink], { allowFail: true });
    rmSync(this.#exec, { recursive: true, force: true });
  }
}
