import { createHash, createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { HOSTNAME, quoteUntrusted } from '../config/patterns.js';

// The certificates directory's files -> what may be served. Pure (given the
// files' bytes and the time): each file is judged on its own, so one bad file
// never costs another its place. Nothing of a file reaches haproxy.cfg unless
// it passed here: names are checked DNS names, and HAProxy only ever loads the
// copy the agent writes of a file that was accepted.

/** One file as the edge read it: its bytes, or why it could not be read. */
export interface CertFileRead {
  /** The file's name inside the certificates directory (no directory part). */
  readonly file: string;
  readonly content?: string;
  readonly error?: string;
}

export interface AcceptedCert {
  readonly file: string;
  readonly state: 'ok';
  /** DNS names from the leaf's SAN (its CN when it has no DNS SAN), lower case; `*.example.com` for wildcards. */
  readonly names: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** SHA-256 of the PEM as HAProxy gets it: tells a changed file from an unchanged one. */
  readonly digest: string;
  /** Chain and key, normalised to PEM (leaf first): the bytes HAProxy loads. Never logged or shown. */
  readonly pem: string;
}

export interface RefusedCert {
  readonly file: string;
  readonly state: 'refused';
  /** One sentence, safe to log: no key material. */
  readonly reason: string;
}

export type CertEntry = AcceptedCert | RefusedCert;

/** Files the inventory looks at: `NAME.pem`, a safe word, so its copy's path is safe in haproxy.cfg and the Runtime API. */
export const CERT_FILE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}\.pem$/;
/** Wildcard SAN as HAProxy's SNI filter takes it: one `*` as the whole left-most label. */
const WILDCARD = /^\*\.(.+)$/;
const MAX_CERT_BYTES = 1024 * 1024;

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n[A-Za-z0-9+/=\r\n]*?-----END \1-----/g;

/** Every file of the directory -> one entry each, sorted by file name. Pure. */
export function inventoryCerts(files: readonly CertFileRead[], now: Date): CertEntry[] {
  return [...files]
    .filter((f) => !f.file.startsWith('.'))
    .sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0))
    .map((f) => judgeCert(f, now));
}

/** One file -> accepted, or refused with the reason. Pure. */
export function judgeCert(f: CertFileRead, now: Date): CertEntry {
  const refuse = (reason: string): RefusedCert => ({ file: f.file, state: 'refused', reason });
  if (!CERT_FILE.test(f.file)) {
    return refuse(`its name ${quoteUntrusted(f.file, 60)} is not NAME.pem of letters, digits, '_', '.' or '-' (at most 100 characters)`);
  }
  if (f.content === undefined) return refuse(`cannot read it: ${f.error ?? 'unknown error'}`);
  if (f.content.length > MAX_CERT_BYTES) return refuse(`it is larger than ${MAX_CERT_BYTES} bytes`);

  const blocks = [...f.content.matchAll(BLOCK)].map((m) => ({ type: m[1]!, text: m[0] }));
  const certBlocks = blocks.filter((b) => b.type === 'CERTIFICATE');
  const keyBlocks = blocks.filter((b) => /PRIVATE KEY$/.test(b.type));
  if (certBlocks.length === 0) return refuse('it holds no PEM certificate');
  if (blocks.some((b) => b.type === 'ENCRYPTED PRIVATE KEY')) return refuse('its private key is encrypted: HAProxy needs it in clear');
  if (keyBlocks.length === 0) return refuse('it holds no private key: put the chain and its key in one file');
  if (keyBlocks.length > 1) return refuse(`it holds ${keyBlocks.length} private keys; one file is one chain and its key`);

  let chain: X509Certificate[];
  try {
    chain = certBlocks.map((b) => new X509Certificate(b.text));
  } catch {
    return refuse('a certificate in it is not valid X.509');
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyBlocks[0]!.text);
  } catch {
    return refuse('its private key cannot be read');
  }
  const leaf = chain[0]!;
  if (!leaf.checkPrivateKey(key)) return refuse('the private key does not match the first certificate of the chain');
  for (let i = 1; i < chain.length; i++) {
    const child = chain[i - 1]!;
    const issuer = chain[i]!;
    if (!child.checkIssued(issuer) || !child.verify(issuer.publicKey)) {
      return refuse(`certificate ${i + 1} of the chain did not issue certificate ${i}: put the leaf first, then each issuer in order`);
    }
  }

  const notBefore = new Date(leaf.validFrom);
  const notAfter = new Date(leaf.validTo);
  if (Number.isNaN(notBefore.getTime()) || Number.isNaN(notAfter.getTime())) return refuse('its validity dates cannot be read');
  if (now.getTime() < notBefore.getTime()) return refuse(`it is not valid yet (valid from ${notBefore.toISOString()})`);
  if (now.getTime() > notAfter.getTime()) return refuse(`it expired at ${notAfter.toISOString()}`);

  const names = certNames(leaf);
  if (names.length === 0) return refuse('it names no DNS name (no DNS subjectAltName, and its CN is no host name)');

  // What HAProxy loads: the chain, leaf first, then the key; nothing else of the file (comments, other blocks).
  // No empty line inside: the Runtime API's `set ssl cert <<` payload ends at the first one.
  const pem = `${[...certBlocks.map((b) => b.text), keyBlocks[0]!.text].map((t) => t.replace(/\r\n/g, '\n').replace(/\n{2,}/g, '\n')).join('\n')}\n`;
  return {
    file: f.file,
    state: 'ok',
    names,
    notBefore,
    notAfter,
    digest: createHash('sha256').update(pem).digest('hex'),
    pem,
  };
}

/** DNS names of a certificate: its DNS SANs; only without them, its CN. Names that break the host-name rule are left out. */
export function certNames(cert: X509Certificate): string[] {
  const sans = (cert.subjectAltName ?? '')
    .split(/,\s*/)
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4).toLowerCase());
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1]?.toLowerCase();
  const candidates = sans.length > 0 ? sans : cn ? [cn] : [];
  return [...new Set(candidates.filter(isCertName))].sort();
}

/** A name a certificate may serve: a host name, or `*.` and a host name with at least two labels. */
export function isCertName(name: string): boolean {
  const w = WILDCARD.exec(name);
  if (w) return HOSTNAME.test(w[1]!) && w[1]!.includes('.');
  return HOSTNAME.test(name);
}

/** Does a certificate name cover a host (exact, or a wildcard for exactly one more label)? Pure. */
export function nameCovers(certName: string, host: string): boolean {
  if (certName === host) return true;
  const w = WILDCARD.exec(certName);
  if (!w) return false;
  const dot = host.indexOf('.');
  return dot > 0 && host.slice(dot + 1) === w[1];
}

/** The accepted certificate that serves a host: an exact name wins over a wildcard, then the file name decides. */
export function certFor(certs: readonly AcceptedCert[], host: string): AcceptedCert | null {
  return (
    certs.find((c) => c.names.includes(host)) ??
    certs.find((c) => c.names.some((n) => nameCovers(n, host))) ??
    null
  );
}

/** Seconds until a certificate expires (negative once expired). */
export const secondsUntilExpiry = (c: AcceptedCert, now: Date): number => Math.floor((c.notAfter.getTime() - now.getTime()) / 1000);
