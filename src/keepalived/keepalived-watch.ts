import type { Cidr } from '../config/env-schema.js';
import type { Logger } from '../log.js';
import type { VrrpMonitor } from './vrrp-monitor.js';

// What a keepalived exit means for this node. Whatever the reason, VRRP is
// stopped: keepalived holds nothing. A keepalived that died (kill -9) leaves its
// VIPs on the interface: without VRRP this node must not hold them, or the
// backup that takes over makes two holders. The restarted keepalived claims
// them again. Once the agent is closing, the stop sequence removes them itself.

export interface KeepalivedWatchParts {
  readonly process: { on(event: 'exit', listener: () => void): unknown };
  readonly vrrp: Pick<VrrpMonitor, 'markStopped'>;
  readonly iface: string;
  readonly vips: readonly Cidr[];
  readonly removeVips: (iface: string, vips: readonly Cidr[]) => Promise<Cidr[]>;
  readonly isClosed: () => boolean;
  readonly log: Logger;
}

export function watchKeepalivedExits(p: KeepalivedWatchParts): void {
  p.process.on('exit', () => {
    p.vrrp.markStopped();
    if (p.isClosed()) return;
    void p.removeVips(p.iface, p.vips).then(
      (left) => left.length > 0 && p.log.warn({ vips: left.map((v) => v.address) }, 'keepalived died: removed the VIPs it left'),
    );
  });
}
