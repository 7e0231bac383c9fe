import type { Server, Service } from '../model/desired-state.js';

// Model servers -> the HAProxy `server` lines that carry them. Pure.
//
// HAProxy 2.6 cannot turn a server into a backup (or back) at run time, so a
// container of a single-class service has two lines whose flags never change,
// NAME (a normal server) and NAME:backup (an HAProxy `backup` server), and its
// role is only their weights:
//
//   role              NAME        NAME:backup
//   active            weight W    weight 0
//   backup, standby   weight 0    weight W    <- HAProxy switches here by itself
//   backup            weight 0    weight 0       (checked; promoted by the agent)
//
// so a switch-over or a rollback is a few `set server ... weight` commands, no
// reload. Only one backup line has a weight: without `option allbackups` HAProxy
// sends everything to the first usable backup in its own list, and a server added
// at run time is appended to that list, so its order cannot say which backup is the
// previous container. ':' is never in a model server name (they are Docker-name
// words or c-<id>), so a NAME:backup line never meets another server's name.

export const BACKUP_SUFFIX = ':backup';

export interface HaproxyServer extends Server {
  /** The model server this line carries (its own name for a normal line). */
  readonly carries: string;
  /** Printed as HAProxy's `backup` keyword; fixed for the life of the line. */
  readonly backup: boolean;
}

export function haproxyServers(service: Service): HaproxyServer[] {
  if (service.memberClass !== 'single') return service.servers.map((s) => ({ ...s, carries: s.name, backup: false }));
  return service.servers.flatMap((s): HaproxyServer[] => [
    { ...s, carries: s.name, backup: false, weight: s.role === 'active' ? s.weight : 0 },
    { ...s, name: `${s.name}${BACKUP_SUFFIX}`, carries: s.name, backup: true, weight: s.standby ? s.weight : 0 },
  ]);
}

/** The line that carries a server's role now (its backup line for a single-class backup); for status. */
export function servingLine(service: Service, server: Server): string {
  return service.memberClass === 'single' && server.role === 'backup' ? `${server.name}${BACKUP_SUFFIX}` : server.name;
}

/** Every line of one container in a service (two for single class): drains, disables and verify use them all. */
export function linesOfContainer(service: Service, containerId: string): HaproxyServer[] {
  return haproxyServers(service).filter((s) => s.containerId === containerId);
}
