import { mkdirSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCa, type TestCa } from '../unit/support/test-certs.js';
import { AgentUnderTest, get, TEST_FRONTEND_PORT } from './support/agent.js';
import { APP_IMAGE, docker, removeTestContainers, runApp, TEST_LABEL, waitFor } from './support/lab.js';

// Conventions users bring (issue 16), against real dockerd and haproxy:
// nginx-proxy's VIRTUAL_HOST with VIPKEEPER_COMPAT=nginx-proxy (no role label),
// and Traefik-style named definitions serving a two-port container as two services.

/** One request through HAProxy's frontend with this Host header. */
const byHost = (host: string) => get('/', '127.0.0.1', { Host: host });

describe('conventions users bring', () => {
  let agent: AgentUnderTest;

  beforeAll(async () => {
    await removeTestContainers();
    agent = new AgentUnderTest({ VIPKEEPER_COMPAT: 'nginx-proxy' });
    agent.start();
    await agent.waitLog('the initial pass', (l) => l.msg === 'pass');
  });
  afterAll(async () => {
    await agent?.stop();
    await removeTestContainers();
  });

  it('serves a container with only VIRTUAL_HOST in its environment (no role label) by host name', async () => {
    // The agent also sees containers that are none of its business: never served.
    await runApp({ name: 'vkt-np-other', publish: ['80'] });
    await runApp({ name: 'vkt-np', publish: ['80'], extra: ['-e', 'VIRTUAL_HOST=np.example.test'] });
    await agent.waitServers(['vkt-np'], 'be_np_example_test');
    expect(await byHost('np.example.test')).toEqual({ status: 200, body: 'vkt-np' });
    // Another host name is not this service's.
    expect((await byHost('other.example.test')).status).not.toBe(200);

    // A second replica with the same VIRTUAL_HOST joins the same service, as in nginx-proxy's upstream.
    await runApp({ name: 'vkt-np-2', publish: ['80'], extra: ['-e', 'VIRTUAL_HOST=np.example.test'] });
    await agent.waitServers(['vkt-np', 'vkt-np-2'], 'be_np_example_test');
    const answers = new Set<string>();
    await waitFor('both replicas to answer', async () => {
      answers.add((await byHost('np.example.test')).body);
      return answers.size === 2;
    }, 10_000, 20);
  });

  it('refuses a bad nginx-proxy variable the way the label would, naming the container and the variable', async () => {
    await runApp({ name: 'vkt-np-bad', publish: ['80'], extra: ['-e', 'VIRTUAL_HOST=bad.example.test', '-e', 'VIRTUAL_PORT=70000'] });
    const line = await agent.waitLog('the skip warning', (l) => l.msg.startsWith('skipped container vkt-np-bad'));
    expect(line).toMatchObject({ container: 'vkt-np-bad', label: 'VIRTUAL_PORT', value: '"70000"' });
    expect(line.msg).toContain('environment variable VIRTUAL_PORT="70000" breaks the rule');
    // The others keep serving.
    expect(await byHost('np.example.test')).toMatchObject({ status: 200 });
  });

  it('serves a two-port container with named definitions as two services', async () => {
    // busybox httpd twice: the site on 80, an admin page on 9000.
    const script = 'mkdir -p /www /adm && echo vkt-two-web > /www/index.html && echo vkt-two-admin > /adm/index.html && httpd -p 9000 -h /adm && exec httpd -f -p 80 -h /www';
    const labels = {
      role: 'apps',
      'vipkeeper.web.port': '80',
      'vipkeeper.web.host': 'web.example.test',
      'vipkeeper.admin.port': '9000',
      'vipkeeper.admin.host': 'admin.example.test',
    };
    await docker(
      'run', '-d', '--name', 'vkt-two', '-l', `${TEST_LABEL}=1`,
      ...Object.entries(labels).flatMap(([k, v]) => ['-l', `${k}=${v}`]),
      '-p', '80', '-p', '9000',
      APP_IMAGE, 'sh', '-c', script,
    );
    await agent.waitServers(['vkt-two_web'], 'be_web');
    await agent.waitServers(['vkt-two_admin'], 'be_admin');
    expect(await byHost('web.example.test')).toEqual({ status: 200, body: 'vkt-two-web' });
    expect(await byHost('admin.example.test')).toEqual({ status: 200, body: 'vkt-two-admin' });
    // The nginx-proxy service on the same frontend port is untouched.
    expect(await byHost('np.example.test')).toMatchObject({ status: 200 });

    await docker('rm', '-f', 'vkt-two');
    await agent.waitServers([], 'be_web');
  });
});

describe("nginx-proxy's HTTPS defaults with a certificate loaded", () => {
  const HTTPS_PORT = 18443;
  let agent: AgentUnderTest;
  let ca: TestCa;

  /** Status and headers of one request, plain or HTTPS (SNI and Host `host`, verified against the test CA). */
  const ask = (tls: boolean, host: string) =>
    new Promise<{ status: number; headers: Record<string, unknown> }>((resolve, reject) => {
      const options = { host: '127.0.0.1', path: '/', headers: { host }, agent: false as const, timeout: 5000 };
      const done = (res: import('node:http').IncomingMessage) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, headers: res.headers });
      };
      const req = tls ? httpsRequest({ ...options, port: HTTPS_PORT, servername: host, ca: ca.certPem }, done) : httpRequest({ ...options, port: TEST_FRONTEND_PORT }, done);
      req.on('error', reject);
      req.end();
    });

  beforeAll(async () => {
    await removeTestContainers();
    ca = makeTestCa();
    agent = new AgentUnderTest({ VIPKEEPER_COMPAT: 'nginx-proxy', VIPKEEPER_HTTPS_PORT: String(HTTPS_PORT) });
    const certs = join(agent.configDir, 'certs');
    mkdirSync(certs, { recursive: true });
    const leaf = ca.leaf(['secure.example.test', 'plain.example.test']);
    writeFileSync(join(certs, 'test.pem'), leaf.chain + leaf.key, { mode: 0o600 });
    await runApp({ name: 'vkt-np-secure', publish: ['80'], extra: ['-e', 'VIRTUAL_HOST=secure.example.test'] });
    await runApp({ name: 'vkt-np-plain', publish: ['80'], extra: ['-e', 'VIRTUAL_HOST=plain.example.test', '-e', 'HTTPS_METHOD=noredirect'] });
    agent.start();
    await agent.waitLog('the initial pass', (l) => l.msg === 'pass');
    await waitFor('HTTPS to answer', async () => (await ask(true, 'secure.example.test').catch(() => null))?.status === 200);
  });
  afterAll(async () => {
    await agent?.stop();
    await removeTestContainers();
    ca?.cleanup();
  });

  it('VIRTUAL_HOST alone redirects to HTTPS and sends a year of HSTS, as nginx-proxy does; noredirect does neither', async () => {
    const secure = await ask(false, 'secure.example.test');
    expect(secure.status).toBe(308);
    expect(secure.headers.location).toBe(`https://secure.example.test:${HTTPS_PORT}/`);
    expect((await ask(true, 'secure.example.test')).headers['strict-transport-security']).toBe('max-age=31536000');

    expect((await ask(false, 'plain.example.test')).status).toBe(200);
    const plainTls = await ask(true, 'plain.example.test');
    expect(plainTls.status).toBe(200);
    expect(plainTls.headers['strict-transport-security']).toBeUndefined();
  });
});
