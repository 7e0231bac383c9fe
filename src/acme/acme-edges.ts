import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { AcmeConfig, Config } from '../config/env.js';
import type { RuntimePaths } from '../config/paths.js';
import { writeFileAtomic } from '../files/atomic-write.js';
import type { RuntimeApi } from '../haproxy/runtime-api.js';
import type { Logger } from '../log.js';
import type { Service } from '../model/desired-state.js';
import { inventoryCerts } from '../tls/cert-inventory.js';
import { readCertsDir } from '../tls/tls-files.js';
import { accepted } from '../tls/tls-plan.js';
import { acmeClientCa } from './acme-ca.js';
import { AcmeManager } from './acme-manager.js';
import { acmeHosts } from './acme-plan.js';
import { MapChallengeStore } from './challenge-store.js';

// ACME as the agent wires it: the real ACME server (acme-client), HAProxy's
// challenge map, the certificates directory; the manager gets them injected.

/** The account key's file in the certificates directory: hidden, so the inventory never reads it as a certificate. */
export const ACCOUNT_KEY_FILE = '.acme-account-key.pem';

export function acmeParts(p: {
  readonly config: Pick<Config, 'certsDir' | 'frontendPort'>;
  readonly acme: AcmeConfig;
  readonly paths: Pick<RuntimePaths, 'acmeMap'>;
  readonly api: Pick<RuntimeApi, 'command'>;
  readonly log: Logger;
  readonly trigger: (why: string) => void;
  /** Does this node hold the VIPs of these instances (empty: the first instance's)? */
  readonly holds: (instances: readonly string[]) => boolean;
}) {
  const dir = p.config.certsDir;
  const challenges = new MapChallengeStore(p.paths.acmeMap, p.api);
  const manager = new AcmeManager({
    ca: acmeClientCa({ directoryUrl: p.acme.directoryUrl, email: p.acme.email, caFile: p.acme.caFile, accountKeyFile: join(dir, ACCOUNT_KEY_FILE) }),
    challenges,
    readCerts: async () => accepted(inventoryCerts(await readCertsDir(dir), new Date())),
    writeCert: async (file, pem) => {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await writeFileAtomic(dir, file, pem);
    },
    issued: (file) => p.trigger(`ACME certificate ${file}`),
    retryMinMs: p.acme.retryMinMs,
    holds: p.holds,
    backupDelayMs: p.acme.backupDelayMs,
    log: p.log,
  });
  return {
    manager,
    want: (services: readonly Service[]) => manager.want(acmeHosts(services, { allHosts: p.acme.allHosts, httpPort: p.config.frontendPort })),
    async prepare(): Promise<void> {
      // A certificates dir that cannot be made costs ACME its orders (each fails with the reason), never the agent.
      await mkdir(dir, { recursive: true, mode: 0o700 }).catch((err: unknown) => p.log.error({ err, dir }, 'ACME: the certificates directory cannot be made; orders will fail until it can'));
      await challenges.init();
      p.log.info({ directory: p.acme.directoryUrl, certsDir: dir }, 'ACME on: HTTP-01 answered by HAProxy, certificates written to the certificates directory');
    },
  };
}
