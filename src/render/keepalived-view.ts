import { isIpv6Cidr } from '../config/env-schema.js';
import type { Config, VrrpInstanceConfig } from '../config/env.js';
import { haproxyTrackedArgs, instanceDownFile, instanceHealthFile, listenerCheckCommand, runtimePaths } from '../config/paths.js';
import { INSTANCE_HEALTH_DROP } from '../health/instance-health.js';

// Config -> exactly what keepalived.conf.ejs prints.

/** One vrrp_instance block, as the template prints it. */
export interface KeepalivedInstanceView {
  readonly instanceName: string;
  readonly state: 'BACKUP' | 'MASTER';
  readonly interface: string;
  readonly virtualRouterId: number;
  readonly priority: number;
  readonly advertInt: string;
  readonly nopreempt: boolean;
  /** The real password: the one place a secret is revealed, straight into the file. */
  readonly authPass: string | null;
  /** The VIPs VRRP advertises: one address family (IPv4 when the instance has any). */
  readonly virtualIps: readonly string[];
  /**
   * The other family's VIPs (`virtual_ipaddress_excluded`): keepalived adds and removes them
   * with the instance's state but leaves them out of adverts, since VRRP speaks one family
   * per instance (keepalived >= 1.2.20 refuses mixed families in virtual_ipaddress).
   */
  readonly excludedIps: readonly string[];
  /** track_file names in the instance's block: the node's fault and maintenance files, then its own down and health files. */
  readonly trackFiles: readonly string[];
}

/** A track_file block: non-zero content puts the instances that track it in FAULT. */
export interface KeepalivedTrackFileView {
  readonly name: string;
  readonly file: string;
  /** `init_file 0 overwrite` (reset at start) or `init_file 0` (kept: maintenance survives restarts). */
  readonly overwrite: boolean;
  /**
   * 0: non-zero content puts the instance in FAULT (the drill's down file). Negative: the
   * content times this is added to the priority (the health file: 1 drops it by INSTANCE_HEALTH_DROP).
   */
  readonly weight: number;
}

/** The first instance's fields, kept at the top: what a user template written for one instance prints. */
type FirstInstanceFields = Pick<KeepalivedInstanceView, 'instanceName' | 'state' | 'interface' | 'virtualRouterId' | 'priority' | 'advertInt' | 'nopreempt' | 'authPass' | 'virtualIps'>;

export interface KeepalivedView extends FirstInstanceFields {
  /** One per VRRP instance, in the order VIPKEEPER_INSTANCES names them. */
  readonly instances: readonly KeepalivedInstanceView[];
  /** Per-instance track files (empty with one instance): each instance can drop on its own. */
  readonly instanceTrackFiles: readonly KeepalivedTrackFileView[];
  readonly routerId: string;
  readonly vrrpVersion: 2 | 3;
  readonly unicastPeers: readonly string[];
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

function vipLine(v: { address: string; prefix: number }, iface: string): string {
  return `${v.address}/${v.prefix} dev ${iface}`;
}

export function keepalivedView(config: Config): KeepalivedView {
  const paths = runtimePaths(config);
  const several = config.instances.length > 1 || config.instances.some((i) => i.name !== 'default');
  const ownTrack = (i: VrrpInstanceConfig) => `vipkeeper_${i.name}_down`;
  const healthTrack = (i: VrrpInstanceConfig) => `vipkeeper_${i.name}_health`;
  const instanceView = (i: VrrpInstanceConfig): KeepalivedInstanceView => {
    const v4 = i.virtualIps.filter((v) => !isIpv6Cidr(v));
    const v6 = i.virtualIps.filter(isIpv6Cidr);
    const [advertised, excluded] = v4.length > 0 ? [v4, v6] : [v6, []];
    return {
      instanceName: i.keepalivedName,
      state: i.state,
      interface: i.interface,
      virtualRouterId: i.virtualRouterId,
      priority: i.priority,
      advertInt: String(i.advertInt),
      nopreempt: i.nopreempt,
      authPass: i.authPass?.reveal() ?? null,
      virtualIps: advertised.map((v) => vipLine(v, i.interface)),
      excludedIps: excluded.map((v) => vipLine(v, i.interface)),
      trackFiles: ['vipkeeper_fault', 'vipkeeper_maintenance', ...(several ? [ownTrack(i), healthTrack(i)] : [])],
    };
  };
  return {
    instances: config.instances.map(instanceView),
    instanceTrackFiles: several
      ? config.instances.flatMap((i) => [
          { name: ownTrack(i), file: instanceDownFile(config, i.name), overwrite: true, weight: 0 },
          { name: healthTrack(i), file: instanceHealthFile(config, i.name), overwrite: true, weight: -INSTANCE_HEALTH_DROP },
        ])
      : [],
    routerId: config.routerId,
    instanceName: config.instances[0]?.keepalivedName ?? `vipkeeper_${config.virtualRouterId}`,
    state: config.state,
    interface: config.interface,
    virtualRouterId: config.virtualRouterId,
    priority: config.priority,
    advertInt: String(config.advertInt),
    vrrpVersion: config.vrrpVersion,
    nopreempt: config.nopreempt,
    authPass: config.authPass?.reveal() ?? null,
    unicastPeers: [...config.unicastPeers],
    virtualIps: config.virtualIps.map((v) => vipLine(v, config.interface)),
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
