import type { Config } from '../config/env.js';
import { haproxyTrackedArgs, listenerCheckCommand, runtimePaths } from '../config/paths.js';

// Config -> exactly what keepalived.conf.ejs prints.

export interface KeepalivedView {
  readonly routerId: string;
  readonly instanceName: string;
  readonly state: 'BACKUP' | 'MASTER';
  readonly interface: string;
  readonly virtualRouterId: number;
  readonly priority: number;
  readonly advertInt: string;
  readonly vrrpVersion: 2 | 3;
  readonly nopreempt: boolean;
  /** The real password: the one place a secret is revealed, straight into the file. */
  readonly authPass: string | null;
  readonly unicastPeers: readonly string[];
  readonly virtualIps: readonly string[];
  readonly trackProcessName: string;
  readonly trackedProcess: string;
  /** The start of haproxy's command line, to tell our haproxy from any other. */
  readonly trackedParameters: string;
  readonly notifyFifo: string;
  readonly faultTrackName: string;
  readonly faultFile: string;
  readonly maintenanceTrackName: string;
  /** Node maintenance: non-zero puts the instance in FAULT; not reset by keepalived at start (the agent sets it). */
  readonly maintenanceFile: string;
  /** false outside the initial network namespace, where track_process cannot work. */
  readonly trackProcess: boolean;
  readonly listenerScriptName: string;
  /** The check's command line, as keepalived's `script` takes it (inside double quotes). */
  readonly listenerCommand: string;
  readonly garpMasterDelay: number;
  readonly garpMasterRefresh: number;
}

export function keepalivedView(config: Config): KeepalivedView {
  const paths = runtimePaths(config);
  return {
    routerId: config.routerId,
    instanceName: `vipkeeper_${config.virtualRouterId}`,
    state: config.state,
    interface: config.interface,
    virtualRouterId: config.virtualRouterId,
    priority: config.priority,
    advertInt: String(config.advertInt),
    vrrpVersion: config.vrrpVersion,
    nopreempt: config.nopreempt,
    authPass: config.authPass?.reveal() ?? null,
    unicastPeers: [...config.unicastPeers],
    virtualIps: config.virtualIps.map((v) => `${v.address}/${v.prefix} dev ${config.interface}`),
    trackProcessName: 'vipkeeper_haproxy',
    trackedProcess: 'haproxy',
    trackedParameters: haproxyTrackedArgs(paths).join(' '),
    notifyFifo: paths.notifyFifo,
    faultTrackName: 'vipkeeper_fault',
    faultFile: paths.faultFile,
    maintenanceTrackName: 'vipkeeper_maintenance',
    maintenanceFile: paths.maintenanceFile,
    trackProcess: config.trackProcess,
    listenerScriptName: 'vipkeeper_listener',
    listenerCommand: listenerCheckCommand(config.frontendPort),
    // Gratuitous ARP once a second after taking over, and again every minute so
    // switches that missed it learn the VIP's new place.
    garpMasterDelay: 1,
    garpMasterRefresh: 60,
  };
}
