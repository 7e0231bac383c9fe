import { type ChildProcess, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acmeFile } from '../../src/acme/acme-plan.js';
import type { StatusSnapshot } from '../../src/status/snapshot.js';
import { get, TEST_FRONTEND_PORT } from './support/agent.js';
import { CLI } from './support/cli.js';
import { removeTestContainers, runApp, waitFor } from './support/lab.js';
import { type LbNode, NetnsLab } from './support/netns-lab.js';
import { makeEngineCerts } from './support/tls.js';

// ACME for real: pebble (validation on) as the ACME server, pebble-challtestsrv as
// its DNS (the test hosts -> the VIP), two load-balancer nodes in namespaces with
// the VIP between them. Pebble's VA reaches the agents' HTTP frontend through the
// VIP only, so the backup's own order validates through the master's HAProxy,
// which relays the token it does not know to its peer.

const lab = new NetnsLab(2, 'vkac');
const [lb1, lb2] = lab.nodes as [LbNode, LbNode];
const HTTPS_PORT = 18443;
const ACME_PORT = 14000;
const MGMT_PORT = 15000;
const DNS_PORT = 18053;
const DNS_MGMT_PORT = 18055;
const DOWN_HOST = 'down.acme.test';
const HOST = 'www.acme.test';
const dir = mkdtempSync(join(tmpdir(), 'vipkeeper-acme-lab-'));
const children: ChildProcess[] = [];
let caFile = '';

function startChild(cmd: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  child.on('exit', (code) => code && code !== 0 && console.error(`${cmd} exited ${code}: ${err}`));
  children.push(child);
  return child;
}

function startPebble(): ChildProcess {
  return startChild('pebble', ['-config', join(dir, 'pebble.json'), '-dnsserver', `127.0.0.1:${DNS_PORT}`], {
    PEBBLE_VA_NOSLEEP: '1',
    PEBBLE_WFE_NONCEREJECT: '0',
    // Every order validates: the second node's too, which goes through the relay.
    PEBBLE_AUTHZREUSE: '0',
  });
}

/** GET over TLS to an address with SNI `host`, verified against `ca`. */
function getTls(address: string, host: string, ca: string): Promise<{ status: number; body: string; serial: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: address, port: HTTPS_PORT, path: '/', servername: host, headers: { host }, ca, agent: false, timeout: 5000 }, (res) => {
      const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber;
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim(), serial }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.end();
  });
}

async function pebbleRoot(): Promise<string> {
  const res = await fetchWithCa(`https://${lab.hostAddress}:${MGMT_PORT}/roots/0`);
  return res;
}

function fetchWithCa(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca: readFileSync(caFile, 'utf8'), agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

async function status(n: LbNode): Promise<StatusSnapshot> {
  const r = await lab.exec(n, process.execPath, [CLI, 'status', '--json']);
  return JSON.parse(r.stdout) as StatusSnapshot;
}

const acmeHost = async (n: LbNode, host: string) => (await status(n)).acme?.hosts.find((h) => h.host === host);

/** The node's own ACME file for the host: its leaf, once it is a chain that verifies against pebble's root. */
function issuedLeaf(n: LbNode, host: string, root: X509Certificate): X509Certificate | undefined {
  const file = join(n.agent!.configDir, 'certs', acmeFile(host));
  if (!existsSync(file)) return undefined;
  const pem = readFileSync(file, 'utf8');
  const certs = [...pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)].map((m) => new X509Certificate(m[0]));
  const leaf = certs[0]!;
  const top = certs[certs.length - 1]!;
  if (!top.verify(root.publicKey) || !leaf.checkHost(host)) return undefined;
  expect(statSync(file).mode & 0o777).toBe(0o600);
  return leaf;
}

describe('ACME by HTTP-01 through the VIP, two nodes, pebble with validation on', () => {
  beforeAll(async () => {
    await removeTestContainers();
    await lab.up();
    const certs = await makeEngineCerts(join(dir, 'tls'), lab.hostAddress);
    caFile = join(dir, 'tls', 'ca.pem');
    writeFileSync(
      join(dir, 'pebble.json'),
      JSON.stringify({
        pebble: {
          listenAddress: `0.0.0.0:${ACME_PORT}`,
          managementListenAddress: `0.0.0.0:${MGMT_PORT}`,
          certificate: join(certs.server, 'server-cert.pem'),
          privateKey: join(certs.server, 'server-key.pem'),
          httpPort: TEST_FRONTEND_PORT,
          tlsPort: 18444,
          ocspResponderURL: '',
          externalAccountBindingRequired: false,
        },
      }),
    );
    startChild('pebble-challtestsrv', ['-dns01', `127.0.0.1:${DNS_PORT}`, '-http01', '', '-https01', '', '-tlsalpn01', '', '-management', `127.0.0.1:${DNS_MGMT_PORT}`, '-defaultIPv4', '', '-defaultIPv6', '']);
    await waitFor('challtestsrv', async () => {
      for (const host of [HOST, DOWN_HOST]) {
        const r = await fetch(`http://127.0.0.1:${DNS_MGMT_PORT}/add-a`, { method: 'POST', body: JSON.stringify({ host, addresses: [lab.vip] }) });
        if (!r.ok) return false;
      }
      return true;
    });
    const env = (priority: string) => ({
      VIPKEEPER_PRIORITY: priority,
      VIPKEEPER_NODE_ROLE: '',
      VIPKEEPER_UNICAST_PEERS: `${lb1.address},${lb2.address}`,
      VIPKEEPER_HTTPS_PORT: String(HTTPS_PORT),
      VIPKEEPER_ACME_EMAIL: 'ops@acme.test',
      VIPKEEPER_ACME_DIRECTORY: `https://${lab.hostAddress}:${ACME_PORT}/dir`,
      VIPKEEPER_ACME_CA_FILE: caFile,
      VIPKEEPER_ACME_RETRY_MIN: '2s',
      // The backup waits this long for the VIP holder's order before its own.
      VIPKEEPER_ACME_BACKUP_DELAY: '3s',
    });
    lab.startAgent(lb1, env('150'));
    await lab.waitHolder(lb1.name, 30_000);
    lab.startAgent(lb2, env('100'));
    await lb2.agent!.waitLog('lb2 BACKUP', (l) => l.msg === 'VRRP vipkeeper_51 is now BACKUP');
  }, 180_000);

  afterAll(async () => {
    await lab.down();
    await removeTestContainers();
    for (const c of children) c.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

  it('with the ACME server down: HTTP keeps serving, orders back off, the reason is in the logs and /status', async () => {
    await runApp({ name: 'vkt-acme-down', labels: { role: 'apps', 'vipkeeper.service': 'down', 'vipkeeper.host': DOWN_HOST, 'vipkeeper.acme': 'true' }, publish: ['80'] });
    await waitFor('HTTP through the VIP', async () => (await get('/', lab.vip, { host: DOWN_HOST }).catch(() => null))?.status === 200);
    const h = await waitFor('two failures on lb1', async () => {
      const x = await acmeHost(lb1, DOWN_HOST);
      return x && x.failures >= 2 ? x : undefined;
    }, 60_000, 500);
    expect(h.lastError).toMatch(/ECONNREFUSED|connect/);
    expect(h.state).toBe('backoff');
    expect(lb1.agent!.logs.some((l) => l.level === 40 && l.host === DOWN_HOST && String(l.msg).includes('next try in'))).toBe(true);
    expect(await get('/', lab.vip, { host: DOWN_HOST })).toEqual({ status: 200, body: 'vkt-acme-down' });
  });

  it('a host label that is not a public DNS name is refused with a warning naming the container', async () => {
    await runApp({ name: 'vkt-acme-bad', labels: { role: 'apps', 'vipkeeper.service': 'bad', 'vipkeeper.host': 'intranet', 'vipkeeper.acme': 'true' }, publish: ['80'] });
    await lb1.agent!.waitLog('the refusal', (l) => l.level === 40 && l.container === 'vkt-acme-bad' && l.host === 'intranet');
  });

  it('once the ACME server is up, both nodes end with valid certificates; label -> served certificate measured', async () => {
    startPebble();
    await waitFor('pebble', async () => (await pebbleRoot().catch(() => null)) !== null, 20_000, 200);
    const root = new X509Certificate(await pebbleRoot());
    // The backed-off host recovers by itself.
    await waitFor('the down host certified on both nodes', async () => issuedLeaf(lb1, DOWN_HOST, root) && issuedLeaf(lb2, DOWN_HOST, root), 90_000, 500);

    const labelledAt = Date.now();
    await runApp({ name: 'vkt-acme-www', labels: { role: 'apps', 'vipkeeper.service': 'www', 'vipkeeper.host': HOST, 'vipkeeper.acme': 'true' }, publish: ['80'] });
    const rootPem = root.toString();
    await waitFor('HTTPS through the VIP with the ACME certificate', async () => {
      const r = await getTls(lab.vip, HOST, rootPem).catch(() => null);
      return r?.status === 200 && r.body === 'vkt-acme-www';
    }, 90_000, 200);
    const servedMs = Date.now() - labelledAt;
    const leaf1 = await waitFor('lb1 certificate', async () => issuedLeaf(lb1, HOST, root), 60_000, 500);
    const leaf2 = await waitFor('lb2 certificate (validated through lb1 and the relay)', async () => issuedLeaf(lb2, HOST, root), 60_000, 500);
    console.info(`ACME: new host label -> certificate served through the VIP in ${servedMs} ms`);
    expect(leaf1.serialNumber).not.toBe(leaf2.serialNumber);
    // The VIP holder (lb1) ordered first; the backup waited VIPKEEPER_ACME_BACKUP_DELAY before its own.
    const orderedAt = (n: typeof lb1) => Date.parse(String((n.agent!.logs as { msg?: string; time?: string }[]).find((l) => l.msg === `ACME: ordering a certificate for ${HOST} (none yet)`)?.time));
    expect(orderedAt(lb2) - orderedAt(lb1)).toBeGreaterThanOrEqual(2500);
    expect((await getTls(lab.vip, HOST, rootPem)).serial).toBe(leaf1.serialNumber);
    expect(await acmeHost(lb2, HOST)).toMatchObject({ state: 'valid', failures: 0, expiringSoon: false });
    // Keys never reach logs or /status.
    for (const n of [lb1, lb2]) {
      expect(JSON.stringify(n.agent!.logs)).not.toMatch(/PRIVATE KEY/);
      expect(JSON.stringify(await status(n))).not.toMatch(/PRIVATE KEY|BEGIN/);
    }
    const metrics = (await lab.exec(lb1, 'curl', ['-s', 'http://127.0.0.1:9321/metrics'])).stdout;
    expect(metrics).toMatch(new RegExp(`^vipkeeper_acme_certificate_expiring\\{host="${HOST.replace(/\./g, '\\.')}"\\} 0$`, 'm'));

    // The backup takes the VIP and serves HTTPS with its own certificate.
    await lb1.agent!.stop();
    await lab.waitHolder(lb2.name);
    await waitFor('HTTPS through the VIP from lb2', async () => {
      const r = await getTls(lab.vip, HOST, rootPem).catch(() => null);
      return r?.status === 200 && r.serial === leaf2.serialNumber;
    }, 30_000, 200);
  }, 300_000);
});
