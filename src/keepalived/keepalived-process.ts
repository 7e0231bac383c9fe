import type { RuntimePaths } from '../config/paths.js';
import type { Logger } from '../log.js';
import { SupervisedProcess } from '../supervisor/supervised-process.js';

// keepalived under our supervision, VRRP only (-P: we need no LVS checkers).
// Reloaded (SIGHUP) only when its own file changed: a reload can briefly
// flip MASTER to BACKUP.

export class KeepalivedProcess {
  readonly process: SupervisedProcess;

  constructor(paths: RuntimePaths, log: Logger, bin = 'keepalived') {
    this.process = new SupervisedProcess(
      {
        name: 'keepalived',
        command: bin,
        args: [
          '--dont-fork',
          '--log-console',
          '--log-detail',
          '--vrrp',
          '-f', paths.keepalivedConf,
          '-p', paths.keepalivedPid,
          '-r', paths.keepalivedVrrpPid,
        ],
        // SIGTERM: keepalived sends priority 0 adverts and removes the VIPs.
        stopSignal: 'SIGTERM',
        stopGraceMs: 10_000,
        outputFile: paths.keepalivedOutput,
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

  reload(): boolean {
    return this.process.signal('SIGHUP');
  }
}
