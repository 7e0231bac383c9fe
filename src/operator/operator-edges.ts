import { writeFile } from 'node:fs/promises';
import type { Config } from '../config/env.js';
import { runtimePaths } from '../config/paths.js';
import { AdvertWatch } from '../drill/advert-watch.js';
import type { RuntimeApi } from '../haproxy/runtime-api.js';
import { addressesOn } from '../host/vip-addresses.js';
import type { Logger } from '../log.js';
import type { DesiredState } from '../model/desired-state.js';
import type { AdvertSource } from './maintenance.js';
import { OperatorController, parseSessions } from './operator-controller.js';
import { OperatorStore } from './operator-store.js';

// The operator controller on the real edges: the state file in the config
// directory, the maintenance track file in the run directory, HAProxy's admin
// socket, tcpdump for VRRP adverts. The agent hands in what only it knows.

export interface OperatorWiring {
  readonly config: Config;
  readonly api: RuntimeApi;
  readonly served: () => DesiredState | null;
  readonly applyNow: (why: string) => Promise<void>;
  /** The named VRRP instance's state (MASTER, BACKUP, FAULT...). */
  readonly vrrpStateOf: (instance: string) => string;
  readonly takesPart: () => boolean;
  readonly log: Logger;
}

export function operatorController(w: OperatorWiring): OperatorController {
  const c = w.config;
  const paths = runtimePaths(c);
  const interfaces = [...new Set(c.instances.map((i) => i.interface))];
  return new OperatorController({
    file: new OperatorStore(c.configDir),
    served: w.served,
    applyNow: w.applyNow,
    serversState: () => w.api.serversState(0),
    sessions: async (backend, server) => parseSessions(await w.api.command(`show stat ${backend} 4 -1`), backend, server),
    maintenance: {
      writeTrack: (v) => writeFile(paths.maintenanceFile, `${v}\n`),
      takesPart: w.takesPart,
      instances: c.instances.map((i) => ({ name: i.name, virtualRouterId: i.virtualRouterId, vrrpState: () => w.vrrpStateOf(i.name), advertIntMs: i.advertInt * 1000 })),
      watchAdverts: () => watchAll(interfaces),
      ownAddresses: async () => (await Promise.all(interfaces.map((i) => addressesOn(i)))).flat().map((a) => a.split('/')[0]!),
    },
    log: w.log,
  });
}

/** One tcpdump per interface the instances use, seen as one source: available only when every one is. */
function watchAll(interfaces: readonly string[]): AdvertSource {
  const watches = interfaces.map((i) => {
    const watch = new AdvertWatch(i);
    watch.start();
    return watch;
  });
  if (watches.length === 1) return watches[0]!;
  return {
    get adverts() {
      return watches.flatMap((w) => w.adverts);
    },
    get available() {
      return watches.every((w) => w.available);
    },
    ready: async () => {
      await Promise.all(watches.map((w) => w.ready()));
    },
    stop: () => {
      for (const w of watches) w.stop();
    },
  };
}
