import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sh } from './lab.js';

// A throwaway certificate authority for an engine that demands TLS: the
// engine's server certificate (for its IP) and a client certificate, laid out
// the way DOCKER_CERT_PATH expects (ca.pem, cert.pem, key.pem).

export async function makeEngineCerts(dir: string, serverIp: string): Promise<{ server: string; client: string }> {
  const server = join(dir, 'server');
  const client = join(dir, 'client');
  mkdirSync(server, { recursive: true });
  mkdirSync(client, { recursive: true });
  const ssl = (...args: string[]) => sh('openssl', args);
  const ca = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca-key.pem');
  await ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=vipkeeper-lab-ca', '-keyout', caKey, '-out', ca);
  const sign = async (keyOut: string, certOut: string, cn: string, ext: string) => {
    const csr = `${certOut}.csr`;
    const extFile = `${certOut}.ext`;
    writeFileSync(extFile, `${ext}\n`);
    await ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', keyOut, '-out', csr);
    await ssl('x509', '-req', '-days', '2', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-extfile', extFile, '-out', certOut);
  };
  await sign(join(server, 'server-key.pem'), join(server, 'server-cert.pem'), serverIp, `subjectAltName=IP:${serverIp}\nextendedKeyUsage=serverAuth`);
  await sign(join(client, 'key.pem'), join(client, 'cert.pem'), 'vipkeeper', 'extendedKeyUsage=clientAuth');
  await sh('cp', [ca, join(server, 'ca.pem')]);
  await sh('cp', [ca, join(client, 'ca.pem')]);
  return { server, client };
}
