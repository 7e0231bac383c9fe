import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { promisify } from 'node:util';
import { writeFileAtomic } from '../files/atomic-write.js';
import type { RuntimePaths } from '../config/paths.js';
import type { AcceptedCert, CertFileRead } from './cert-inventory.js';
import { CERT_FILE } from './cert-inventory.js';
import { copyPath, crtListText } from './tls-plan.js';

// The edges of HTTPS on disk: reading the certificates directory, and writing
// the checked copies HAProxy loads (mode 0600), the crt-list, and the default
// certificate. HAProxy never reads a user's file: only what the inventory accepted.

const MAX_FILES = 1000;

/** Every regular file of the directory (no subdirectories); a missing directory reads as empty. */
export async function readCertsDir(dir: string): Promise<CertFileRead[]> {
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true })).filter((d) => d.isFile() || d.isSymbolicLink()).map((d) => d.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const files = names.filter((n) => !n.startsWith('.')).sort().slice(0, MAX_FILES);
  return Promise.all(
    files.map(async (file): Promise<CertFileRead> => {
      // Names that would be refused are not read at all.
      if (!CERT_FILE.test(file)) return { file, content: '' };
      try {
        return { file, content: await readFile(`${dir}/${file}`, 'utf8') };
      } catch (err) {
        return { file, error: (err as NodeJS.ErrnoException).code ?? String(err) };
      }
    }),
  );
}

/** What is on disk for HAProxy now: the copies by file name with their bytes, and the crt-list text. */
export interface TlsOnDisk {
  readonly copies: ReadonlyMap<string, string>;
  readonly crtList: string | null;
}

export async function readTlsOnDisk(paths: Pick<RuntimePaths, 'certCopiesDir' | 'crtList'>): Promise<TlsOnDisk> {
  const copies = new Map<string, string>();
  for (const name of await readdir(paths.certCopiesDir).catch(() => [] as string[])) {
    if (!CERT_FILE.test(name)) continue;
    const text = await readFile(copyPath(paths.certCopiesDir, name), 'utf8').catch(() => null);
    if (text !== null) copies.set(name, text);
  }
  return { copies, crtList: await readFile(paths.crtList, 'utf8').catch(() => null) };
}

/** Writes one certificate's copy (0600). */
export async function writeCopy(paths: Pick<RuntimePaths, 'certCopiesDir'>, cert: AcceptedCert): Promise<void> {
  await mkdir(paths.certCopiesDir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(paths.certCopiesDir, cert.file, cert.pem);
}

export async function removeCopy(paths: Pick<RuntimePaths, 'certCopiesDir'>, file: string): Promise<void> {
  await unlink(copyPath(paths.certCopiesDir, file)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

export async function writeCrtList(paths: Pick<RuntimePaths, 'certCopiesDir' | 'crtList'>, certs: readonly AcceptedCert[]): Promise<void> {
  await mkdir(dirname(paths.crtList), { recursive: true, mode: 0o700 });
  await writeFileAtomic(dirname(paths.crtList), basename(paths.crtList), crtListText(paths.certCopiesDir, certs));
}

/**
 * Brings the files to exactly these certificates: copies written where their bytes differ,
 * copies of certificates no longer served removed, the crt-list rewritten. What a reload
 * or a restart of HAProxy then loads is what the Runtime API made live. True when a file changed.
 */
export async function syncTlsFiles(paths: Pick<RuntimePaths, 'certCopiesDir' | 'crtList'>, certs: readonly AcceptedCert[]): Promise<boolean> {
  const disk = await readTlsOnDisk(paths);
  let changed = false;
  for (const c of certs) {
    if (disk.copies.get(c.file) !== c.pem) (await writeCopy(paths, c), (changed = true));
  }
  const wanted = new Set(certs.map((c) => c.file));
  for (const name of disk.copies.keys()) {
    if (!wanted.has(name)) (await removeCopy(paths, name), (changed = true));
  }
  if (disk.crtList !== crtListText(paths.certCopiesDir, certs)) (await writeCrtList(paths, certs), (changed = true));
  return changed;
}

const run = promisify(execFile);

/**
 * A self-signed certificate and key for names no certificate covers, made with the openssl
 * CLI (node:crypto cannot make certificates): P-256, CN `vipkeeper-default`, ten years.
 */
export async function makeSelfSigned(): Promise<string> {
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const dir = await mkdtemp(`${tmpdir()}/vipkeeper-selfsigned-`);
  try {
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${dir}/key.pem`, '-out', `${dir}/cert.pem`, '-days', '3650', '-subj', '/CN=vipkeeper-default', '-addext', 'subjectAltName=DNS:vipkeeper-default'], { timeout: 10_000 });
    return (await readFile(`${dir}/cert.pem`, 'utf8')) + (await readFile(`${dir}/key.pem`, 'utf8'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Writes the default certificate's bytes where HAProxy loads it (0600), unless they are there already. */
export async function installDefaultCert(paths: Pick<RuntimePaths, 'defaultCert'>, pem: string): Promise<void> {
  if ((await readFile(paths.defaultCert, 'utf8').catch(() => null)) === pem) return;
  await mkdir(dirname(paths.defaultCert), { recursive: true, mode: 0o700 });
  await writeFileAtomic(dirname(paths.defaultCert), basename(paths.defaultCert), pem);
}
