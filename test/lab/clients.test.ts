import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runtimeCommand } from '../../src/haproxy/runtime-api.js';
import { AgentUnderTest, get, TEST_FRONTEND_PORT } from './support/agent.js';
import { runCli } from './support/cli.js';
import { APP_IMAGE, docker, removeTestContainers, sh, TEST_LABEL, waitFor } from './support/lab.js';

// Issue 17 against real dockerd and haproxy: X-Forwarded-* headers an app sees, PROXY
// protocol v2 bytes a container receives (also from a server added through the Runtime
// API), an allow list (403), a rate limit (429), and PROXY protocol accepted from a front
// load balancer (127.0.0.2 here) but not from a direct client (127.0.0.1).

const FRONT_LB = '127.0.0.2';
const PROXY_V2_SIGNATURE = '\r\n\r\n\0\r\nQUIT\n';

/** A busybox container of the test image running `script`, with /www bind-mounted from the host. */
async function runContainer(name: string, labels: Record<string, string>, script: string, www?: string): Promise<void> {
  const args = ['run', '-d', '--name', name, '-l', `${TEST_LABEL}=1`, '-l', 'role=apps', '-p', '80'];
  for (const [k, v] of Object.entries(labels)) args.push('-l', `${k}=${v}`);
  if (www) args.push('-v', `${www}:/www:ro`);
  await docker(...args, APP_IMAGE, 'sh', '-c', script);
}

/** A raw HTTP/1.0 exchange from `from` (a loopback address), optionally after a PROXY v1 line: the status and body. */
function rawExchange(from: string, text: string, port = TEST_FRONTEND_PORT): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress: from });
    let answer = '';
    socket.setTimeout(5000, () => socket.destroy(new Error('timed out')));
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    // A refused TCP client may see a reset rather than a clean close: both mean "closed, no answer".
    socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? undefined : reject(err)));
    socket.on('close', () => {
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1] ?? 0);
      resolve({ status, body: answer.slice(answer.indexOf('\r\n\r\n') + 4).trim() });
    });
    socket.end(text);
  });
}

const request = (host: string, path = '/') => `GET ${path} HTTP/1.0\r\nHost: ${host}\r\n\r\n`;
const proxyV1 = (client: string, port = TEST_FRONTEND_PORT) => `PROXY TCP4 ${client} 127.0.0.1 40000 ${port}\r\n`;
const TCP_ALLOW_PORT = 18091;
const TCP_LIMIT_PORT = 18092;

describe('client address and access (issue 17)', () => {
  let agent: AgentUnderTest;
  let www: string;

  beforeAll(async () => {
    await removeTestContainers();
    // A CGI that echoes the forwarded headers, served by busybox httpd.
    www = mkdtempSync(join(tmpdir(), 'vkt-clients-'));
    mkdirSync(join(www, 'cgi-bin'));
    writeFileSync(join(www, 'index.html'), 'ok\n');
    const cgi = join(www, 'cgi-bin', 'env');
    writeFileSync(cgi, '#!/bin/sh\necho "Content-Type: text/plain"\necho\necho "xff=$HTTP_X_FORWARDED_FOR proto=$HTTP_X_FORWARDED_PROTO host=$HTTP_X_FORWARDED_HOST"\n');
    chmodSync(cgi, 0o755);
    chmodSync(www, 0o755);

    agent = new AgentUnderTest({ VIPKEEPER_ACCEPT_PROXY: `${FRONT_LB}/32` });
    agent.start();
    await agent.waitLog('the initial pass', (l) => l.msg === 'pass');
    const httpd = 'exec httpd -f -p 80 -h /www';
    await runContainer('vkt-cl-echo', { 'vipkeeper.service': 'echo', 'vipkeeper.host': 'echo.test' }, httpd, www);
    await runContainer('vkt-cl-closed', { 'vipkeeper.service': 'closed', 'vipkeeper.host': 'closed.test', 'vipkeeper.allow': '198.18.0.0/15,2001:db8::/32' }, httpd, www);
    await runContainer('vkt-cl-limited', { 'vipkeeper.service': 'limited', 'vipkeeper.host': 'limited.test', 'vipkeeper.rate-limit': '5/s' }, httpd, www);
    const tcp = { 'vipkeeper.mode': 'tcp' };
    await runContainer('vkt-cl-tcp-allow', { ...tcp, 'vipkeeper.service': 'tcpallow', 'vipkeeper.frontend.port': String(TCP_ALLOW_PORT), 'vipkeeper.allow': '198.18.0.0/15' }, httpd, www);
    await runContainer('vkt-cl-tcp-limit', { ...tcp, 'vipkeeper.service': 'tcplimit', 'vipkeeper.frontend.port': String(TCP_LIMIT_PORT), 'vipkeeper.rate-limit': '3/s' }, httpd, www);
    await agent.waitServers(['vkt-cl-tcp-allow'], 'be_tcpallow');
    await agent.waitServers(['vkt-cl-tcp-limit'], 'be_tcplimit');
    await agent.waitServers(['vkt-cl-echo'], 'be_echo');
    await agent.waitServers(['vkt-cl-closed'], 'be_closed');
    await agent.waitServers(['vkt-cl-limited'], 'be_limited');
  });

  afterAll(async () => {
    await agent?.stop();
    await removeTestContainers();
    if (www) rmSync(www, { recursive: true, force: true });
  });

  it('an HTTP service sees X-Forwarded-For, -Proto and -Host', async () => {
    const r = await get('/cgi-bin/env', '127.0.0.1', { host: 'echo.test' });
    expect(r).toEqual({ status: 200, body: 'xff=127.0.0.1 proto=http host=echo.test' });
  });

  it('VIPKEEPER_ACCEPT_PROXY: the front load balancer reports the client; a direct client cannot', async () => {
    const viaLb = await rawExchange(FRONT_LB, proxyV1('203.0.113.7') + request('echo.test', '/cgi-bin/env'));
    expect(viaLb).toEqual({ status: 200, body: 'xff=203.0.113.7 proto=http host=echo.test' });
    // Direct clients still work without a header...
    expect(await rawExchange('127.0.0.1', request('echo.test', '/cgi-bin/env'))).toEqual({ status: 200, body: 'xff=127.0.0.1 proto=http host=echo.test' });
    // ...and a header from them is no address claim: HAProxy takes it for a bad request.
    expect((await rawExchange('127.0.0.1', proxyV1('203.0.113.7') + request('echo.test', '/cgi-bin/env'))).status).toBe(400);
  });

  it('vipkeeper.allow: 403 for others, on that service only; the reported address of the front LB counts', async () => {
    expect((await get('/', '127.0.0.1', { host: 'closed.test' })).status).toBe(403);
    expect(await get('/', '127.0.0.1', { host: 'echo.test' })).toEqual({ status: 200, body: 'ok' });
    expect(await rawExchange(FRONT_LB, proxyV1('198.18.5.5') + request('closed.test'))).toEqual({ status: 200, body: 'ok' });
    expect((await rawExchange(FRONT_LB, proxyV1('203.0.113.7') + request('closed.test'))).status).toBe(403);
  });

  it('vipkeeper.rate-limit=5/s: 429 beyond five requests in a second, per client address and per service', async () => {
    // Over a sliding second: fire 20 at once, so they all fall in one second.
    const burst = await Promise.all(Array.from({ length: 20 }, () => get('/', '127.0.0.1', { host: 'limited.test' })));
    const statuses = burst.map((r) => r.status);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(1);
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(5);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(15);
    // Another client address (reported by the front LB) has its own count.
    expect(await rawExchange(FRONT_LB, proxyV1('198.18.7.7') + request('limited.test'))).toEqual({ status: 200, body: 'ok' });
    // Another service has no limit.
    const other = await Promise.all(Array.from({ length: 20 }, () => get('/', '127.0.0.1', { host: 'echo.test' })));
    expect(other.every((r) => r.status === 200)).toBe(true);
    // The count falls again: the same client is served after a while.
    await waitFor('the limited client to be served again', async () => (await get('/', '127.0.0.1', { host: 'limited.test' })).status === 200, 10_000, 250);
  });

  it('vipkeeper show names the access settings of a service', async () => {
    const r = await runCli(['show', 'closed', '--control', agent.controlSocket], {});
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ {2}access: allow 198\.18\.0\.0\/15,2001:db8::\/32, rate-limit none, proxy-protocol off, forwarded on$/m);
  });

  it('TCP: vipkeeper.allow closes the connection of others; the front LB reports an allowed client', async () => {
    expect(await rawExchange('127.0.0.1', request('any'), TCP_ALLOW_PORT)).toEqual({ status: 0, body: '' });
    expect(await rawExchange(FRONT_LB, proxyV1('198.18.5.5', TCP_ALLOW_PORT) + request('any'), TCP_ALLOW_PORT)).toEqual({ status: 200, body: 'ok' });
  });

  it('TCP: vipkeeper.rate-limit=3/s closes new connections beyond three a second', async () => {
    const burst = await Promise.all(Array.from({ length: 12 }, () => rawExchange('127.0.0.1', request('any'), TCP_LIMIT_PORT)));
    const served = burst.filter((r) => r.status === 200).length;
    expect(served).toBeGreaterThanOrEqual(1);
    expect(served).toBeLessThanOrEqual(3);
    expect(burst.filter((r) => r.status === 0).length).toBeGreaterThanOrEqual(9);
  });

  it('vipkeeper.proxy-protocol=v2: containers receive the binary header, also one added through the Runtime API', async () => {
    // busybox nc keeps every byte HAProxy sends in /raw and answers each connection with "pp"; it
    // holds the connection a moment after answering, or it could close before the request reached it.
    const nc = `while true; do { echo -e 'HTTP/1.0 200 OK\\r\\nContent-Length: 3\\r\\n\\r\\npp'; sleep 1; } | nc -l -p 80 >> /raw; done`;
    const labels = { 'vipkeeper.service': 'pp', 'vipkeeper.host': 'pp.test', 'vipkeeper.proxy-protocol': 'v2', 'vipkeeper.check': 'false' };
    await runContainer('vkt-cl-pp1', labels, nc);
    await agent.waitServers(['vkt-cl-pp1'], 'be_pp');
    const workerPid = async () => Number(/^Pid: (\d+)$/m.exec(await runtimeCommand(agent.adminSocket, 'show info'))?.[1]);
    const worker = await workerPid();

    await runContainer('vkt-cl-pp2', labels, nc);
    await agent.waitServers(['vkt-cl-pp1', 'vkt-cl-pp2'], 'be_pp');
    // A server-only change: `add server ... send-proxy-v2` on the running worker, no reload.
    expect(await workerPid()).toBe(worker);
    expect(readFileSync(join(agent.configDir, 'haproxy.cfg'), 'utf8')).toMatch(/server vkt-cl-pp2 \S+ weight 100 send-proxy-v2\n/);

    // Not docker(): it trims, and the signature starts with \r\n.
    const raw = async (name: string) => (await sh('docker', ['exec', name, 'cat', '/raw'])).stdout;
    const first = await get('/', '127.0.0.1', { host: 'pp.test' });
    expect(first).toEqual({ status: 200, body: 'pp' });
    // Round robin: the next requests reach the other container too (a toy server may miss one).
    await waitFor('both containers to have received a request', async () => {
      await get('/', '127.0.0.1', { host: 'pp.test' }).catch(() => null);
      return (await raw('vkt-cl-pp1')).includes('GET / ') && (await raw('vkt-cl-pp2')).includes('GET / ');
    }, 20_000, 200);
    for (const name of ['vkt-cl-pp1', 'vkt-cl-pp2']) {
      const bytes = await raw(name);
      expect(bytes.startsWith(PROXY_V2_SIGNATURE), `${name} got ${JSON.stringify(bytes.slice(0, 40))}`).toBe(true);
      // Version 2, PROXY command (0x21), TCP over IPv4 (0x11), then the request itself.
      expect(bytes.charCodeAt(12)).toBe(0x21);
      expect(bytes.charCodeAt(13)).toBe(0x11);
      expect(bytes).toContain('GET / HTTP/1.1');
    }
  });
});
