import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runtimeCommand } from '../../src/haproxy/runtime-api.js';
import type { StatusSnapshot } from '../../src/status/snapshot.js';
import { makeTestCa, type TestCa } from '../unit/support/test-certs.js';
import { AgentUnderTest, get } from './support/agent.js';
import { httpGet, removeTestContainers, runApp, waitFor } from './support/lab.js';
import { getTlsOn, type TlsAnswer, tlsLoad } from './support/tls-load.js';

// HTTPS from files against the real agent, haproxy and dockerd: the right
// certificate by SNI (verified against the test CA), redirect, HSTS and h2; a
// certificate replaced, added and removed under a steady HTTPS load with 0
// failed requests and 0 reloads; bad files refused with a warning while the
// others keep serving.

const HTTPS_PORT = 18443;

/** One GET over a fresh TLS connection with SNI `host`, verified against `ca`; resolves with the served leaf too. */
function getTls(host: string, ca: string, path = '/'): Promise<TlsAnswer> {
  return getTlsOn(HTTPS_PORT, host, ca, path);
}

/** Closed-loop HTTPS load with a new TLS handshake per request. */
const load = (host: string, ca: string, workers = 4) => tlsLoad(HTTPS_PORT, host, ca, workers);

describe('HTTPS from the certificates directory', () => {
  let agent: AgentUnderTest;
  let ca: TestCa;
  let certsDir: string;
  const workerPid = async () => Number(/^Pid: (\d+)$/m.exec(await runtimeCommand(agent.adminSocket, 'show info'))?.[1]);
  /** Writes a file the way a careful tool does: a hidden temporary file, then a rename. */
  const put = (file: string, content: string) => {
    const tmp = join(certsDir, `.${file}.tmp`);
    writeFileSync(tmp, content, { mode: 0o600 });
    renameSync(tmp, join(certsDir, file));
  };
  const serialOf = (pem: string) => new X509Certificate(pem).serialNumber;

  beforeAll(async () => {
    await removeTestContainers();
    ca = makeTestCa();
    agent = new AgentUnderTest({ VIPKEEPER_HTTPS_PORT: String(HTTPS_PORT) });
    certsDir = join(agent.configDir, 'certs');
    mkdirSync(certsDir, { recursive: true });
    const www = ca.leaf(['www.example.test']);
    put('www.pem', www.chain + www.key);
    const old = ca.leaf(['old.example.test']);
    put('old.pem', old.chain + old.key);
    await runApp({ name: 'vkt-tls-www', labels: { role: 'apps', 'vipkeeper.service': 'www', 'vipkeeper.host': 'www.example.test,old.example.test', 'vipkeeper.tls.redirect': 'true', 'vipkeeper.tls.hsts': '600' }, publish: ['80'] });
    await runApp({ name: 'vkt-tls-shop', labels: { role: 'apps', 'vipkeeper.service': 'shop', 'vipkeeper.host': 'shop.example.test' }, publish: ['80'] });
    agent.start();
    await agent.waitLog('the initial pass', (l) => l.msg === 'pass');
    await waitFor('HTTPS to answer for www', async () => (await getTls('www.example.test', ca.certPem).catch(() => null))?.status === 200);
  });
  afterAll(async () => {
    await agent?.stop();
    await removeTestContainers();
    ca?.cleanup();
  });

  it('answers by SNI with the certificate naming the host, verified against the test CA, with HSTS', async () => {
    const r = await getTls('www.example.test', ca.certPem);
    expect(r).toMatchObject({ status: 200, body: 'vkt-tls-www', cn: 'www.example.test' });
    expect(r.headers['strict-transport-security']).toBe('max-age=600');
    expect((await getTls('old.example.test', ca.certPem)).cn).toBe('old.example.test');
  });

  it('redirects plain HTTP to HTTPS with 308 for a service that asks', async () => {
    const r = await new Promise<{ status: number; location: string | undefined }>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: 18080, path: '/x?y=1', headers: { host: 'www.example.test' }, agent: false }, (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, location: res.headers.location });
      });
      req.on('error', reject);
      req.end();
    });
    expect(r).toEqual({ status: 308, location: `https://www.example.test:${HTTPS_PORT}/x?y=1` });
    // A service without the label keeps answering on HTTP.
    expect(await get('/', '127.0.0.1', { host: 'shop.example.test' })).toEqual({ status: 200, body: 'vkt-tls-shop' });
  });

  it('offers h2 by ALPN', async () => {
    const alpn = await new Promise<string | false | null>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: HTTPS_PORT, servername: 'www.example.test', ca: ca.certPem, ALPNProtocols: ['h2', 'http/1.1'] }, () => {
        resolve(s.alpnProtocol);
        s.end();
      });
      s.on('error', reject);
    });
    expect(alpn).toBe('h2');
  });

  it('a certificate replaced, added and removed under HTTPS load: 0 failed requests, 0 reloads', async () => {
    const pid = await workerPid();
    const reloadsBefore = agent.passes().filter((p) => p.applied === 'reload').length;
    const running = load('www.example.test', ca.certPem);

    const www2 = ca.leaf(['www.example.test']);
    put('www.pem', www2.chain + www2.key);
    await waitFor('the replaced certificate to serve', async () => (await getTls('www.example.test', ca.certPem)).serial === serialOf(www2.cert));

    const shop = ca.leaf(['shop.example.test']);
    put('shop.pem', shop.chain + shop.key);
    await waitFor('the added certificate to serve', async () => (await getTls('shop.example.test', ca.certPem).catch(() => null))?.cn === 'shop.example.test');

    rmSync(join(certsDir, 'old.pem'));
    await waitFor('the removed certificate to be gone', async () => {
      const s = await new Promise<string>((resolve, reject) => {
        const c = connect({ host: '127.0.0.1', port: HTTPS_PORT, servername: 'old.example.test', rejectUnauthorized: false }, () => {
          resolve(String(c.getPeerCertificate().subject?.CN ?? ''));
          c.end();
        });
        c.on('error', reject);
      });
      return s === 'vipkeeper-default';
    });

    // Enough handshakes around the changes to mean something, counted rather than slept for.
    await waitFor('300 HTTPS requests through the changes', async () => running.answered() >= 300);
    const result = await running.stop();
    console.info(`HTTPS during the swaps: ${result.ok} requests answered 200, ${result.failed.length} failed`);
    expect(result.failed).toEqual([]);
    expect(result.ok).toBeGreaterThan(20);
    expect(await workerPid()).toBe(pid);
    expect(agent.passes().filter((p) => p.applied === 'reload').length).toBe(reloadsBefore);
    expect(agent.passes().some((p) => p.applied === 'runtime-api' && (p.updated as string[]).includes('certificate www.pem'))).toBe(true);
  });

  it('a garbage file and a key that does not match are refused with a warning naming the file; the others keep serving', async () => {
    put('garbage.pem', 'this is not a certificate\n');
    const a = ca.leaf(['mismatch.example.test']);
    const b = ca.leaf(['mismatch.example.test']);
    put('mismatch.pem', a.chain + b.key);
    const warned = (file: string, reason: RegExp) => agent.waitLog(`a warning for ${file}`, (l) => l.level === 40 && l.file === file && reason.test(String(l.reason)));
    await warned('garbage.pem', /no PEM certificate/);
    await warned('mismatch.pem', /does not match/);
    expect((await getTls('www.example.test', ca.certPem)).status).toBe(200);
    expect((await getTls('shop.example.test', ca.certPem)).cn).toBe('shop.example.test');
  });

  it('/status lists the certificates with names and expiry or the reason, /metrics the seconds left; no key material', async () => {
    const status = await waitFor('/status to show the refused files', async () => {
      const s = (await (await fetch('http://127.0.0.1:9321/status')).json()) as StatusSnapshot;
      return (s.certificates ?? []).some((c) => c.file === 'mismatch.pem') ? s : undefined;
    });
    const byFile = Object.fromEntries((status.certificates ?? []).map((c) => [c.file, c]));
    expect(byFile['www.pem']).toMatchObject({ state: 'ok', names: ['www.example.test'] });
    expect(byFile['www.pem']!.secondsLeft).toBeGreaterThan(29 * 86_400);
    expect(byFile['garbage.pem']).toMatchObject({ state: 'refused', reason: expect.stringContaining('no PEM certificate') });
    expect(JSON.stringify(status)).not.toMatch(/PRIVATE KEY|BEGIN/);
    const metrics = await (await fetch('http://127.0.0.1:9321/metrics')).text();
    expect(metrics).toMatch(/^vipkeeper_certificate_expiry_seconds\{file="shop\.pem"\} \d+$/m);
  });
});

describe('HTTPS while another process holds its port', () => {
  const BUSY_PORT = 18444;
  let agent: AgentUnderTest;
  let ca: TestCa;
  let holder: Server | null = null;

  beforeAll(async () => {
    await removeTestContainers();
    ca = makeTestCa();
    holder = createServer((s) => s.destroy());
    await new Promise<void>((resolve) => holder!.listen(BUSY_PORT, '0.0.0.0', resolve));
    agent = new AgentUnderTest({ VIPKEEPER_HTTPS_PORT: String(BUSY_PORT) });
    const certsDir = join(agent.configDir, 'certs');
    mkdirSync(certsDir, { recursive: true });
    const leaf = ca.leaf(['busy.example.test']);
    writeFileSync(join(certsDir, 'busy.pem'), leaf.chain + leaf.key, { mode: 0o600 });
    await runApp({ name: 'vkt-tls-busy', labels: { role: 'apps', 'vipkeeper.host': 'busy.example.test' }, publish: ['80'] });
    agent.start();
    await agent.waitLog('the initial pass', (l) => l.msg === 'pass');
  });
  afterAll(async () => {
    await new Promise((r) => (holder ? holder.close(r) : r(undefined)));
    await agent?.stop();
    await removeTestContainers();
    ca?.cleanup();
  });

  it('leaves HTTPS out and says why; HTTP serves; once the port is free HTTPS comes back by itself', async () => {
    await agent.waitServers(['vkt-tls-busy']);
    expect(await get('/', '127.0.0.1', { host: 'busy.example.test' })).toEqual({ status: 200, body: 'vkt-tls-busy' });
    await agent.waitLog('the warning', (l) => typeof l.msg === 'string' && l.msg.startsWith(`HTTPS is off: port ${BUSY_PORT}`));
    const status = JSON.parse((await httpGet({ host: '127.0.0.1', port: 9321, path: '/status' })).body) as { certificates?: { file: string; state: string; reason?: string }[] };
    expect(status.certificates).toEqual([{ file: 'busy.pem', state: 'refused', reason: expect.stringContaining(`not served: HTTPS port ${BUSY_PORT}`) }]);
    await new Promise((r) => holder!.close(r));
    holder = null;
    await waitFor('HTTPS to answer once the port is free', async () => (await getTlsOn(BUSY_PORT, 'busy.example.test', ca.certPem).catch(() => null))?.status === 200, 20_000, 250);
  });
});
