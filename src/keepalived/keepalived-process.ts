import { join } from 'node:path';
import type { Logger } from '../log.js';
import { SupervisedProcess } from '../supervisor/supervised-process.js';

// keepalived under our supervision, VRRP only (-P: we need no LVS checkers).
// Reloaded (SIGHUP) only when its own file changed: a reload can briefly
// flip MASTER to BACKUP.

export class KeepalivedProcess {
  readonly process: SupervisedProcess;

  constructor(configFile: string, runDir: string, log: Logger, bin = 'keepalived') {
    this.process = new SupervisedProcess(
      {
        name: 'keepalived',
        command: bin,
        args: [
          '--dont-fork',
          '--log-console',
          '--log-detail',
          '--vrrp',
          '-f', configFile,
          '-p', join(runDir, 'keepalived.pid'),
          '-r', join(runDir, 'keepalived-vrrp.pid'),
        ],
        // SIGTERM: keepalived sends priority 0 adverts and removes the VIPs.
        stopSignal: 'SIGTERM',
        stopGraceMs: 10_000,
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

  reload(): boolean {
    return this.process.signal('SIGHUP');
  }
}
