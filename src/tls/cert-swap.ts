import { exchange } from '../haproxy/runtime-api.js';
import { RuntimeApiError } from '../errors.js';
import type { AcceptedCert } from './cert-inventory.js';
import { copyPath } from './tls-plan.js';

// Certificates changed while HAProxy runs -> the same change through its Runtime
// API, no reload (HAProxy 2.6 management.txt: "new ssl cert", "set ssl cert
// <payload>", "commit ssl cert", "add ssl crt-list", "del ssl crt-list", "del ssl
// cert"). The copies on disk are written first, so a reload or a restart after
// it loads exactly what is live.

export interface CertChanges {
  readonly add: readonly AcceptedCert[];
  readonly update: readonly AcceptedCert[];
  /** Files no longer served. */
  readonly remove: readonly string[];
}

/** What differs between two sets of served certificates, by file and bytes. Pure. */
export function diffCerts(before: readonly AcceptedCert[], after: readonly AcceptedCert[]): CertChanges {
  const was = new Map(before.map((c) => [c.file, c.digest]));
  const now = new Set(after.map((c) => c.file));
  return {
    add: after.filter((c) => !was.has(c.file)),
    update: after.filter((c) => was.has(c.file) && was.get(c.file) !== c.digest),
    remove: before.filter((c) => !now.has(c.file)).map((c) => c.file),
  };
}

export const noCertChanges = (c: CertChanges): boolean => c.add.length === 0 && c.update.length === 0 && c.remove.length === 0;

/** The Runtime API as certificate changes need it: one-line commands, and a command with a PEM payload. */
export interface CertRuntime {
  command(line: string): Promise<string>;
  /** `line <<`, the body, then the empty line that ends a payload. */
  payload(line: string, body: string): Promise<string>;
}

/** A CertRuntime on an admin socket: one connection per command, as HAProxy closes after each. */
export function socketCertRuntime(socket: string, command: (line: string) => Promise<string>, timeoutMs = 10_000): CertRuntime {
  return {
    command,
    payload: (line, body) => {
      if (/[\r\n]/.test(line) || /\n\n/.test(body) || body.includes('\r')) return Promise.reject(new RuntimeApiError(line, 'a payload may not hold an empty line'));
      return exchange(socket, `${line} <<`, `${line} <<\n${body.endsWith('\n') ? body : `${body}\n`}\n`, timeoutMs);
    },
  };
}

export interface SwapPaths {
  readonly crtList: string;
  readonly certCopiesDir: string;
}

const expect = async (answer: Promise<string>, line: string, ok: RegExp): Promise<void> => {
  const text = await answer;
  if (!ok.test(text)) throw new RuntimeApiError(line, text.trim() || '(no answer)');
};

/**
 * Applies the changes through the Runtime API: an updated certificate is replaced in one
 * transaction (every SNI it serves switches at once), a new one is made, filled, committed
 * and added to the crt-list, a removed one leaves the crt-list and then HAProxy's memory.
 * Throws RuntimeApiError at the first answer that is not success (an open transaction is
 * aborted first); the caller then reloads, and the files on disk already say the new state.
 */
export async function swapCerts(rt: CertRuntime, paths: SwapPaths, changes: CertChanges): Promise<void> {
  const fill = async (c: AcceptedCert) => {
    const path = copyPath(paths.certCopiesDir, c.file);
    try {
      await expect(rt.payload(`set ssl cert ${path}`, c.pem), `set ssl cert ${path}`, /Transaction (created|updated) for certificate/);
      await expect(rt.command(`commit ssl cert ${path}`), `commit ssl cert ${path}`, /Success!/);
    } catch (err) {
      await rt.command(`abort ssl cert ${path}`).catch(() => undefined);
      throw err;
    }
  };
  for (const c of changes.update) await fill(c);
  for (const c of changes.add) {
    const path = copyPath(paths.certCopiesDir, c.file);
    await expect(rt.command(`new ssl cert ${path}`), `new ssl cert ${path}`, /New empty certificate store|already exists/);
    await fill(c);
    await expect(rt.command(`add ssl crt-list ${paths.crtList} ${path}`), `add ssl crt-list ${paths.crtList} ${path}`, /Success!/);
  }
  for (const file of changes.remove) {
    const path = copyPath(paths.certCopiesDir, file);
    await expect(rt.command(`del ssl crt-list ${paths.crtList} ${path}`), `del ssl crt-list ${paths.crtList} ${path}`, /deleted in crtlist|not found/i);
    await expect(rt.command(`del ssl cert ${path}`), `del ssl cert ${path}`, /deleted!|not found|doesn't exist/i);
  }
}
