import { NO_TIMING, type StageTiming } from '../agent/pass-timer.js';
import type { ConfigFiles } from '../files/config-store.js';

// keepalived.conf: checked by `keepalived -t`, swapped in, and keepalived
// reloaded (SIGHUP) only when its own file changed, since a reload can briefly
// flip MASTER to BACKUP. Nothing is reloaded on a node the role gate keeps out.

export interface KeepalivedApplierParts {
  readonly files: ConfigFiles;
  readonly validate: (file: string) => Promise<void>;
  /** SIGHUP to keepalived; false when it does not run. */
  readonly reload: () => boolean;
  /** This node takes part in VRRP (the node role gate). */
  readonly takesPart: () => boolean;
}

export class KeepalivedApplier {
  constructor(private readonly p: KeepalivedApplierParts) {}

  installInitial(text: string, timing: StageTiming = NO_TIMING): Promise<boolean> {
    return this.p.files.install('keepalived.conf', text, (f) => timing.time('validate', () => this.p.validate(f)));
  }

  /** True when the file changed (and keepalived was told). `timing`: the pass's stage timer. */
  async apply(appliedText: string, targetText: string, timing: StageTiming = NO_TIMING): Promise<boolean> {
    if (appliedText === targetText) return false;
    await this.p.files.install('keepalived.conf', targetText, (f) => timing.time('validate', () => this.p.validate(f)));
    if (this.p.takesPart()) this.p.reload();
    await this.p.files.markGood('keepalived.conf');
    return true;
  }
}
