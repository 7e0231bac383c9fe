import { writeFile } from 'node:fs/promises';
import type { Config } from '../config/env.js';
import { runtimePaths } from '../config/paths.js';
import { AdvertWatch } from '../drill/advert-watch.js';
import type { RuntimeApi } from '../haproxy/runtime-api.js';
import { addressesOn } from '../host/vip-addresses.js';
import type { Logger } from '../log.js';
import type { DesiredState } from '../model/desired-state.js';
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
  readonly vrrpState: () => string;
  readonly takesPart: () => boolean;
  readonly log: Logger;
}

export function operatorController(w: OperatorWiring): OperatorController {
  const c = w.config;
  const paths = runtimePaths(c);
  return new OperatorController({
    file: new OperatorStore(c.configDir),
    served: w.served,
    applyNow: w.applyNow,
    serversState: () => w.api.serversState(0),
    sessions: async (backend, server) => parseSessions(await w.api.command(`show stat ${backend} 4 -1`), backend, server),
    maintenance: {
      writeTrack: (v) => writeFile(paths.maintenanceFile, `${v}\n`),
      vrrpState: w.vrrpState,
      takesPart: w.takesPart,
      watchAdverts: () => {
        const watch = new AdvertWatch(c.interface);
        watch.start();
        return watch;
      },
      ownAddresses: async () => (await addressesOn(c.interface)).map((a) => a.split('/')[0]!),
      virtualRouterId: c.virtualRouterId,
      advertIntMs: c.advertInt * 1000,
    },
    log: w.log,
  });
}
