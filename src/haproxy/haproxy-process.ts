import { haproxyArgs, type RuntimePaths } from '../config/paths.js';
import type { Logger } from '../log.js';
import { SupervisedProcess } from '../supervisor/supervised-process.js';
import { ReloadFailedError } from '../errors.js';
import { unboundPorts } from './haproxy-applier.js';
import { masterListsWorkers } from './master-cli.js';
import { runtimeCommand } from './runtime-api.js';

// haproxy in master-worker mode under our supervision. A reload is SIGUSR2 to
// the master: it re-reads the (already validated) file and hands the
// listening sockets to a new worker, so no connection attempt is refused.

export class HaproxyProcess {
  readonly process: SupervisedProcess;

  constructor(
    readonly paths: RuntimePaths,
    log: Logger,
    bin = 'haproxy',
  ) {
    this.process = new SupervisedProcess(
      {
        name: 'haproxy',
        command: bin,
        args: haproxyArgs(paths),
        // SIGUSR1: soft stop, connections in flight finish (bounded by hard-stop-after).
        stopSignal: 'SIGUSR1',
        stopGraceMs: 10_000,
        outputFile: paths.haproxyOutput,
      },
      log,
    );
  }

  start(): void {
    this.process.start();
  }

  stop(): Promise<void> {
    return this.process.stop();
  }

  /** On SIGTERM, before anything else: an exit from now on is not restarted (see SupervisedProcess). */
  beginShutdown(): void {
    this.process.beginShutdown();
  }

  /** Pid of the current worker, from the worker itself; null while none answers. */
  async workerPid(): Promise<number | null> {
    try {
      const info = await runtimeCommand(this.paths.adminSocket, 'show info', 2000);
      const m = /^Pid: (\d+)$/m.exec(info);
      return m ? Number(m[1]) : null;
    } catch {
      return null;
    }
  }

  async waitReady(timeoutMs = 15_000): Promise<number> {
    return this.#waitForWorker((pid) => pid !== null, timeoutMs);
  }

  /**
   * Seamless reload; resolves when a new worker answers on the admin socket.
   * The master says "Loading failure!" when the new file did not load (a port
   * in use, say): the old worker goes on serving, and this rejects at once with
   * a ReloadFailedError carrying the master's lines and the ports it could not bind.
   */
  async reload(timeoutMs = 15_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    // A master still starting, or still re-executing after the last reload, drops the signal.
    while (!(await masterListsWorkers(this.paths.masterSocket))) {
      if (Date.now() > deadline) throw new ReloadFailedError(`the haproxy master did not answer on ${this.paths.masterSocket} within ${timeoutMs} ms`, []);
      await new Promise((r) => setTimeout(r, 20));
    }
    const before = await this.workerPid();
    const lines: string[] = [];
    let failed = false;
    const onLine = (line: string) => {
      lines.push(line);
      if (/Loading failure!/.test(line)) failed = true;
    };
    this.process.on('line', onLine);
    try {
      if (!this.process.signal('SIGUSR2')) throw new ReloadFailedError('haproxy is not running', []);
      return await this.#waitForWorker((pid) => pid !== null && pid !== before, Math.max(0, deadline - Date.now()), () => {
        if (!failed) return;
        const output = lines.join('\n');
        throw new ReloadFailedError(output, unboundPorts(output));
      });
    } finally {
      this.process.off('line', onLine);
    }
  }

  async #waitForWorker(ok: (pid: number | null) => boolean, timeoutMs: number, check: () => void = () => undefined): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const pid = await this.workerPid();
      if (ok(pid)) return pid!;
      check();
      if (Date.now() > deadline) {
        const output = this.process.recentOutput.slice(-1000);
        throw new ReloadFailedError(`no new haproxy worker answered within ${timeoutMs} ms: ${output}`, unboundPorts(output));
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
