import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Certificates made by the test itself with the openssl CLI: a CA and leaves
// it signs, valid from now for `days`. No private key is ever committed.
// Times before or after the validity are tested by judging at another `now`.

export interface TestCa {
  readonly dir: string;
  readonly certPem: string;
  readonly keyPem: string;
  /** A leaf for these DNS names, signed by this CA: { chain (leaf then CA), key }. */
  leaf(names: readonly string[], opts?: { days?: number; cn?: string }): { cert: string; key: string; chain: string };
  cleanup(): void;
}

const openssl = (args: readonly string[], cwd: string) => execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });

export function makeTestCa(name = 'vipkeeper test CA'): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'vk-certs-'));
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '30', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  const certPem = readFileSync(join(dir, 'ca.crt'), 'utf8');
  const keyPem = readFileSync(join(dir, 'ca.key'), 'utf8');
  let n = 0;
  return {
    dir,
    certPem,
    keyPem,
    leaf(names, opts = {}) {
      n += 1;
      const base = `leaf${n}`;
      const cn = opts.cn ?? names[0] ?? 'leaf';
      openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${cn}`], dir);
      const ext = names.length > 0 ? `subjectAltName=${names.map((x) => `DNS:${x}`).join(',')}\n` : '';
      writeFileSync(join(dir, `${base}.ext`), `${ext}basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
      openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${base}.crt`, '-days', String(opts.days ?? 30), '-extfile', `${base}.ext`], dir);
      const cert = readFileSync(join(dir, `${base}.crt`), 'utf8');
      const key = readFileSync(join(dir, `${base}.key`), 'utf8');
      return { cert, key, chain: cert + certPem };
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
