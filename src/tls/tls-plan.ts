import { join } from 'node:path';
import type { Config } from '../config/env.js';
import { runtimePaths } from '../config/paths.js';
import type { TlsPlan } from '../render/haproxy-view.js';
import type { AcceptedCert, CertEntry } from './cert-inventory.js';

// The judged certificates -> what HAProxy's files say about HTTPS: the plan the
// view prints, the crt-list's text and where each copy lives. Pure.

export const accepted = (entries: readonly CertEntry[] | undefined): AcceptedCert[] =>
  (entries ?? []).filter((e): e is AcceptedCert => e.state === 'ok');

/** HTTPS for this config and these certificates; null when the directory was not read. */
export function tlsPlan(config: Pick<Config, 'configDir' | 'runDir' | 'httpsPort' | 'frontendPort' | 'tlsCiphers' | 'tlsMinVersion'>, entries: readonly CertEntry[] | undefined): TlsPlan | null {
  if (entries === undefined) return null;
  const paths = runtimePaths(config);
  return {
    httpsPort: config.httpsPort,
    httpPort: config.frontendPort,
    defaultCertPath: paths.defaultCert,
    crtListPath: paths.crtList,
    ciphers: config.tlsCiphers,
    minVersion: config.tlsMinVersion,
    certificates: accepted(entries).length,
  };
}

/** Where HAProxy loads a certificate from: the agent's checked copy, named like the user's file (CERT_FILE). */
export const copyPath = (copiesDir: string, file: string): string => join(copiesDir, file);

/**
 * The crt-list: one line per accepted certificate, its copy's path alone, sorted by file.
 * Without SNI filters HAProxy takes the names from the certificate itself (its SANs,
 * else its CN), which the inventory already checked.
 */
export function crtListText(copiesDir: string, certs: readonly AcceptedCert[]): string {
  return certs.map((c) => `${copyPath(copiesDir, c.file)}\n`).join('');
}
