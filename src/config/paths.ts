import { join } from 'node:path';
import type { Config } from './env.js';

// Every file and socket the agent and its children share, in one place, so the
// keepalived config, the supervisor and the status server agree on them.

/** VIPKEEPER_RUN_DIR's default (env-schema.ts says the same; a unit test keeps them equal). */
export const DEFAULT_RUN_DIR = '/run/vipkeeper';

/** The agent's control socket (drills) in a run directory: HTTP, mode 0600. */
export function controlSocketPath(runDir: string): string {
  return join(runDir, 'control.sock');
}

export interface RuntimePaths {
  readonly haproxyCfg: string;
  readonly keepalivedConf: string;
  /** HAProxy worker's admin socket (Runtime API). */
  readonly adminSocket: string;
  /** HAProxy master CLI. */
  readonly masterSocket: string;
  /** keepalived writes its state transitions here. */
  readonly notifyFifo: string;
  /** A drill writes a non-zero value here to force keepalived into FAULT. */
  readonly faultFile: string;
  /** `vipkeeper maintenance on` writes 1 here (FAULT until off); the agent rewrites it from its state file at start. */
  readonly maintenanceFile: string;
  readonly keepalivedPid: string;
  /** haproxy's master pid, so a restarted agent can find and keep it. */
  readonly haproxyPid: string;
  readonly keepalivedVrrpPid: string;
  /** haproxy's stdout and stderr, appended; the agent follows it (it outlives the agent, see output-file.ts). */
  readonly haproxyOutput: string;
  /** keepalived's console log, the same way. */
  readonly keepalivedOutput: string;
  /** The agent's control socket (drills), root only. */
  readonly controlSocket: string;
  /** HTTPS: the checked copies HAProxy loads (never the user's files), in VIPKEEPER_CONFIG_DIR/tls. */
  readonly tlsDir: string;
  /** One line per served certificate: its copy's path. */
  readonly crtList: string;
  /** The certificate for names no other one covers: a checked copy of VIPKEEPER_DEFAULT_CERT, or a self-signed one. */
  readonly defaultCert: string;
  /** Where the copy of a certificates-directory file lives. */
  readonly certCopiesDir: string;
  /** ACME HTTP-01: token -> key authorization, the map HAProxy answers challenges from (filled through the Runtime API too). */
  readonly acmeMap: string;
}

export function runtimePaths(config: Pick<Config, 'configDir' | 'runDir'>): RuntimePaths {
  return {
    haproxyCfg: join(config.configDir, 'haproxy.cfg'),
    keepalivedConf: join(config.configDir, 'keepalived.conf'),
    adminSocket: join(config.runDir, 'haproxy.sock'),
    masterSocket: join(config.runDir, 'haproxy-master.sock'),
    notifyFifo: join(config.runDir, 'keepalived.fifo'),
    faultFile: join(config.runDir, 'drill-fault'),
    maintenanceFile: join(config.runDir, 'maintenance'),
    keepalivedPid: join(config.runDir, 'keepalived.pid'),
    haproxyPid: join(config.runDir, 'haproxy.pid'),
    keepalivedVrrpPid: join(config.runDir, 'keepalived-vrrp.pid'),
    haproxyOutput: join(config.runDir, 'haproxy.log'),
    keepalivedOutput: join(config.runDir, 'keepalived.log'),
    controlSocket: controlSocketPath(config.runDir),
    tlsDir: join(config.configDir, 'tls'),
    crtList: join(config.configDir, 'tls', 'crt-list'),
    acmeMap: join(config.configDir, 'tls', 'acme-challenges.map'),
    defaultCert: join(config.configDir, 'tls', 'default.pem'),
    certCopiesDir: join(config.configDir, 'tls', 'certs'),
  };
}

/**
 * One instance's own track file (several instances only): non-zero puts that instance alone
 * in FAULT, so its VIPs move while the node keeps the others (drill --instance, instance health).
 */
export function instanceDownFile(config: Pick<Config, 'runDir'>, instance: string): string {
  return join(config.runDir, `instance-${instance}.down`);
}

/**
 * One instance's health (several instances only): the agent writes 1 while the instance's
 * vipkeeper.vip services have no healthy server here or their frontends do not listen, and
 * keepalived, tracking it with a negative weight, lowers that instance's priority alone.
 */
export function instanceHealthFile(config: Pick<Config, 'runDir'>, instance: string): string {
  return join(config.runDir, `instance-${instance}.health`);
}

/**
 * The listener check keepalived runs every second: succeeds while something
 * (haproxy) listens on the frontend port. Inline, not a script file, so that
 * `keepalived -t` can check the config anywhere and no file of ours has to
 * pass keepalived's script security.
 */
export function listenerCheckCommand(frontendPort: number): string {
  return `/bin/sh -c 'ss -Hltn \\"sport = :${frontendPort}\\" | grep -q .'`;
}

/**
 * haproxy's command line. keepalived's track_process matches its beginning, so
 * on a host running several haproxies (a lab, a second stack) it follows ours.
 */
/** The part of haproxy's command line keepalived matches: stable across reloads (which append -sf ...). */
export function haproxyTrackedArgs(paths: RuntimePaths): string[] {
  return haproxyArgs(paths).slice(0, 6);
}

export function haproxyArgs(paths: RuntimePaths): string[] {
  return ['-W', '-db', '-S', `${paths.masterSocket},mode,600`, '-f', paths.haproxyCfg, '-p', paths.haproxyPid];
}
