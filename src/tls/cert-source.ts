import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Logger } from '../log.js';
import { type CertEntry, type CertFileRead, inventoryCerts, judgeCert } from './cert-inventory.js';

// The certificates directory as the passes see it: read and judged again before
// every plan (a certificate that expired while the agent ran is refused then), a
// refusal warned once per change, naming the file and the reason. HTTPS is only
// offered once the default certificate is in place.

export interface CertSourceParts {
  readonly dir: string;
  readonly read: (dir: string) => Promise<CertFileRead[]>;
  readonly now?: () => Date;
  readonly log: Logger;
}

export class CertSource {
  #entries: CertEntry[] = [];
  #shown = '';
  #defaultReady = false;

  constructor(private readonly p: CertSourceParts) {}

  /** The judged files, or undefined while HTTPS cannot be offered (no default certificate). */
  get current(): readonly CertEntry[] | undefined {
    return this.#defaultReady ? this.#entries : undefined;
  }

  /** HTTPS may be offered: the default certificate is where the config says. */
  defaultReady(): void {
    this.#defaultReady = true;
  }

  async refresh(): Promise<void> {
    let files: CertFileRead[];
    try {
      files = await this.p.read(this.p.dir);
    } catch (err) {
      // The directory itself cannot be read: keep the certificates that serve now.
      this.p.log.warn({ err, dir: this.p.dir }, 'the certificates directory cannot be read; the certificates loaded before keep serving');
      return;
    }
    const entries = inventoryCerts(files, this.p.now?.() ?? new Date());
    const key = JSON.stringify(entries.map((e) => [e.file, e.state === 'ok' ? e.digest : e.reason]));
    if (key !== this.#shown) {
      this.#shown = key;
      for (const e of entries) {
        if (e.state === 'refused') this.p.log.warn({ file: e.file, reason: e.reason, dir: this.p.dir }, `certificate ${e.file} refused: ${e.reason}`);
        else this.p.log.info({ file: e.file, names: e.names, notAfter: e.notAfter.toISOString() }, `certificate ${e.file} accepted`);
      }
    }
    this.#entries = entries;
  }
}

/**
 * The default certificate's bytes: VIPKEEPER_DEFAULT_CERT when it is a good chain and
 * key, else the self-signed one kept from before, else a new self-signed one.
 */
export async function defaultCertPem(p: {
  readonly file: string | null;
  readonly installed: string;
  readonly makeSelfSigned: () => Promise<string>;
  readonly now?: Date;
  readonly log: Logger;
}): Promise<string> {
  const now = p.now ?? new Date();
  const judge = async (path: string) => {
    const read = await readFile(path, 'utf8').then((content) => ({ content }), (e: NodeJS.ErrnoException) => ({ error: e.code ?? String(e) }));
    // Judged under a safe name: the user's file name does not matter here.
    return judgeCert({ file: 'default.pem', ...read }, now);
  };
  if (p.file !== null) {
    const e = await judge(p.file);
    if (e.state === 'ok') return e.pem;
    p.log.warn({ file: p.file, reason: e.reason }, `VIPKEEPER_DEFAULT_CERT ${basename(p.file)} refused: ${e.reason}; a self-signed certificate answers instead`);
  }
  const kept = await judge(p.installed);
  if (kept.state === 'ok' && kept.names.includes('vipkeeper-default')) return kept.pem;
  return p.makeSelfSigned();
}
