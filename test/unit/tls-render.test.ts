import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, parseEnvironment } from '../../src/config/env.js';
import { runtimePaths } from '../../src/config/paths.js';
import { parseLabels, type TlsLabels } from '../../src/labels/parse-labels.js';
import { buildDesiredState, type DesiredState } from '../../src/model/desired-state.js';
import { haproxyView, type TlsPlan } from '../../src/render/haproxy-view.js';
import { loadTemplates } from '../../src/render/load-templates.js';
import { renderConfigs } from '../../src/render/render-configs.js';
import { type CertEntry, inventoryCerts } from '../../src/tls/cert-inventory.js';
import { accepted } from '../../src/tls/tls-plan.js';
import { installDefaultCert, makeSelfSigned, syncTlsFiles } from '../../src/tls/tls-files.js';
import { binding, container, FACTS, MINIMAL_ENV, NO_TLS_LABELS, service } from './fixtures.js';
import { freePort, haproxyInstalled, httpBackend, startHaproxy } from './real-haproxy.js';
import { makeTestCa, type TestCa } from './support/test-certs.js';

// HTTPS in haproxy.cfg: which services HTTPS serves, redirects and HSTS, and a
// file the real haproxy 2.6 accepts and serves by SNI.

const PLAN: TlsPlan = {
  httpsPort: 443,
  httpPort: 80,
  defaultCertPath: '/etc/vipkeeper/tls/default.pem',
  crtListPath: '/etc/vipkeeper/tls/crt-list',
  ciphers: 'ECDHE-RSA-AES128-GCM-SHA256',
  minVersion: 'TLSv1.2',
  certificates: 1,
};
const PATHS = { adminSocket: '/run/vipkeeper/haproxy.sock' };
const tls = (over: Partial<TlsLabels> = {}): TlsLabels => ({ ...NO_TLS_LABELS, ...over });

describe('vipkeeper.tls* labels are checked like every label', () => {
  it.each([
    ['vipkeeper.tls', 'yes', 'true or false'],
    ['vipkeeper.tls', 'TRUE', 'true or false'],
    ['vipkeeper.tls.redirect', '1', 'true or false'],
    ['vipkeeper.tls.hsts', '1e6', 'a whole number of seconds'],
    ['vipkeeper.tls.hsts', '-1', 'a whole number of seconds'],
    ['vipkeeper.tls.hsts', '31536000 ', 'a whole number of seconds'],
    ['vipkeeper.tls.hsts', '63072001', 'a whole number of seconds'],
    ['vipkeeper.tls.hsts', '300; includeSubDomains', 'a whole number of seconds'],
  ])('%s=%j is refused: %s', (label, value, rule) => {
    const r = parseLabels({ [label]: value }, { service: 'apps', frontendPort: 80 });
    expect(r).toMatchObject({ ok: false, problems: [{ label, rule: expect.stringContaining(rule) }] });
  });

  it('accepts the three and keeps them on the service', () => {
    const r = parseLabels({ 'vipkeeper.tls': 'false', 'vipkeeper.tls.redirect': 'true', 'vipkeeper.tls.hsts': '31536000' }, { service: 'apps', frontendPort: 80 });
    expect(r.ok && r.labels.service.tls).toEqual({ enabled: false, redirect: true, hsts: 31536000 });
  });

  it.each(['vipkeeper.tls', 'vipkeeper.tls.redirect', 'vipkeeper.tls.hsts'])('%s is refused on a TCP service', (label) => {
    const r = parseLabels({ 'vipkeeper.mode': 'tcp', [label]: label.endsWith('hsts') ? '60' : 'true' }, { service: 'apps', frontendPort: 80 });
    expect(r).toMatchObject({ ok: false, problems: [{ label, rule: 'only with vipkeeper.mode=http' }] });
  });

  it('a container whose tls labels disagree with the oldest of its service is skipped, naming the label', () => {
    const a = container({ name: 'a', created: 1, bindings: [binding(80, 32001)], extraLabels: { 'vipkeeper.host': 'a.test', 'vipkeeper.tls.hsts': '60' } });
    const b = container({ name: 'b', created: 2, bindings: [binding(80, 32002)], extraLabels: { 'vipkeeper.host': 'a.test', 'vipkeeper.tls.hsts': '61' } });
    const state = buildDesiredState([a, b], { roleLabel: 'role', backendRole: 'apps', frontendPort: 80, publishedHost: null });
    expect(state.skipped).toMatchObject([{ containerName: 'b', reason: expect.stringContaining('vipkeeper.tls.hsts (61) disagrees with 60') }]);
  });
});

describe('haproxyView: which services HTTPS serves', () => {
  const web = service([], { name: 'web', hosts: ['www.example.test'] });
  const api = service([], { name: 'api', hosts: ['api.example.test'], path: '/v1', tls: tls({ redirect: true, hsts: 600 }) });
  const off = service([], { name: 'off', hosts: ['off.example.test'], tls: tls({ enabled: false, redirect: true, hsts: 600 }) });
  const nohost = service([], { name: 'apps' });
  const other = service([], { name: 'other', hosts: ['o.example.test'], frontendPort: 8080 });
  const all = [api, nohost, off, other, web];

  it('serves every HTTP service of the main port with a host, unless vipkeeper.tls=false', () => {
    const https = haproxyView(all, PATHS, PLAN).frontends.find((f) => f.name === 'fe_https_443')!;
    expect(https.bind).toBe(':443 ssl crt /etc/vipkeeper/tls/default.pem crt-list /etc/vipkeeper/tls/crt-list alpn h2,http/1.1');
    expect(https.routes).toEqual([
      { backend: 'be_api', condition: '{ hdr(host),field(1,:) -i api.example.test } { path_beg /v1 }' },
      { backend: 'be_web', condition: '{ hdr(host),field(1,:) -i www.example.test }' },
    ]);
    expect(https.defaultBackend).toBeNull();
  });

  it('redirects to HTTPS with 308 only where asked and HTTPS serves the service', () => {
    const view = haproxyView(all, PATHS, PLAN);
    expect(view.frontends.find((f) => f.name === 'fe_80')!.requestRules).toEqual([
      'http-request redirect location https://%[hdr(host),field(1,:)]%[capture.req.uri] code 308 if { hdr(host),field(1,:) -i api.example.test } { path_beg /v1 }',
    ]);
    const onOtherPort = haproxyView(all, PATHS, { ...PLAN, httpsPort: 8443 }).frontends.find((f) => f.name === 'fe_80')!;
    expect(onOtherPort.requestRules[0]).toContain('https://%[hdr(host),field(1,:)]:8443%[capture.req.uri]');
  });

  it('adds HSTS to HTTPS responses of the services that ask, only over TLS', () => {
    const view = haproxyView(all, PATHS, PLAN);
    expect(view.backends.find((b) => b.name === 'be_api')!.responseRules).toEqual(['http-response set-header Strict-Transport-Security max-age=600 if { ssl_fc }']);
    expect(view.backends.find((b) => b.name === 'be_off')!.responseRules).toEqual([]);
  });

  it('prints TLS defaults in global: the ciphers, the TLS 1.3 suites and the minimum version', () => {
    expect(haproxyView(all, PATHS, PLAN).tlsGlobal).toEqual([
      'ssl-default-bind-ciphers ECDHE-RSA-AES128-GCM-SHA256',
      'ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256',
      'ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets',
    ]);
  });

  it.each<[string, TlsPlan | null]>([
    ['no certificates directory read', null],
    ['no accepted certificate', { ...PLAN, certificates: 0 }],
  ])('with %s there is no HTTPS at all: no frontend, redirect, HSTS or TLS globals', (_what, plan) => {
    const view = haproxyView(all, PATHS, plan);
    expect(view.frontends.map((f) => f.name)).toEqual(['fe_80', 'fe_8080']);
    expect(view.frontends.flatMap((f) => f.requestRules)).toEqual([]);
    expect(view.backends.flatMap((b) => b.responseRules)).toEqual([]);
    expect(view.tlsGlobal).toEqual([]);
  });
});

describe.skipIf(!haproxyInstalled)('the rendered HTTPS config on the real haproxy 2.6', () => {
  let ca: TestCa;
  let dir: string;
  let config: Config;
  let entries: CertEntry[];
  const templatesP = loadTemplates(null);

  beforeAll(async () => {
    ca = makeTestCa();
    dir = mkdtempSync(join(tmpdir(), 'vk-tls-render-'));
    const www = ca.leaf(['www.example.test']);
    const wild = ca.leaf(['*.apps.example.test']);
    entries = inventoryCerts(
      [
        { file: 'www.pem', content: www.chain + www.key },
        { file: 'wild.pem', content: wild.chain + wild.key },
        { file: 'garbage.pem', content: 'junk' },
      ],
      new Date(Date.now() + 60_000),
    );
    const [fe, https] = [await freePort(), await freePort()];
    config = parseEnvironment(
      { ...MINIMAL_ENV, VIPKEEPER_CONFIG_DIR: dir, VIPKEEPER_RUN_DIR: dir, VIPKEEPER_FRONTEND_PORT: String(fe), VIPKEEPER_HTTPS_PORT: String(https) },
      FACTS,
    ).config;
    const paths = runtimePaths(config);
    await syncTlsFiles(paths, accepted(entries));
    await installDefaultCert(paths, await makeSelfSigned());
  }, 30_000);
  afterAll(() => {
    ca?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const stateFor = (backendPort: number): DesiredState => {
    const c = (name: string, host: string, labels: Record<string, string>) =>
      container({ name, created: 1, bindings: [binding(80, backendPort, '127.0.0.1')], extraLabels: { 'vipkeeper.service': name, 'vipkeeper.host': host, 'vipkeeper.check': 'false', ...labels } });
    const state = buildDesiredState(
      [c('www', 'www.example.test', { 'vipkeeper.tls.redirect': 'true', 'vipkeeper.tls.hsts': '31536000' }), c('shop', 'shop.apps.example.test', {}), c('plain', 'plain.example.test', { 'vipkeeper.tls': 'false' })],
      config,
    );
    return { ...state, certificates: entries };
  };

  it('haproxy -c accepts the file with real certificate files', async () => {
    const cfg = renderConfigs(config, stateFor(1), await templatesP).haproxyCfg;
    const file = join(dir, 'check.cfg');
    writeFileSync(file, cfg);
    const r = spawnSync('haproxy', ['-c', '-f', file], { encoding: 'utf8' });
    expect(r.stderr + r.stdout).not.toMatch(/ALERT|WARNING/);
    expect(r.status).toBe(0);
  }, 30_000);

  it('serves by SNI with the right certificate, h2 by ALPN, the default one for unknown names, a redirect and HSTS', async () => {
    const backend = await httpBackend('app');
    const cfgText = renderConfigs(config, stateFor(backend.port), await templatesP).haproxyCfg;
    const h = await startHaproxy((sock) => cfgText.replace(runtimePaths(config).adminSocket, sock));
    try {
      const get = (servername: string, path = '/') =>
        new Promise<{ status: number; subject: string; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
          const req = httpsRequest(
            { host: '127.0.0.1', port: config.httpsPort, path, servername, headers: { host: servername }, ca: ca.certPem, rejectUnauthorized: servername !== 'unknown.example.test', agent: false },
            (res) => {
              let body = '';
              res.on('data', (d: Buffer) => (body += d.toString()));
              res.on('end', () => resolve({ status: res.statusCode!, subject: String((res.socket as TLSSocket).getPeerCertificate().subject?.CN ?? ''), headers: res.headers, body }));
            },
          );
          req.on('error', reject);
          req.end();
        });
      const www = await get('www.example.test');
      expect(www).toMatchObject({ status: 200, subject: 'www.example.test', body: 'app\n' });
      expect(www.headers['strict-transport-security']).toBe('max-age=31536000');
      const shop = await get('shop.apps.example.test');
      expect(shop).toMatchObject({ status: 200, subject: '*.apps.example.test' });
      expect(shop.headers['strict-transport-security']).toBeUndefined();
      expect((await get('unknown.example.test')).subject).toBe('vipkeeper-default');

      // h2 through ALPN: node's https client speaks http/1.1 only, so ask the TLS layer alone.
      const { connect } = await import('node:tls');
      const alpn = await new Promise<string | false | null>((resolve, reject) => {
        const s = connect({ host: '127.0.0.1', port: config.httpsPort, servername: 'www.example.test', ca: ca.certPem, ALPNProtocols: ['h2', 'http/1.1'] }, () => {
          resolve(s.alpnProtocol);
          s.end();
        });
        s.on('error', reject);
      });
      expect(alpn).toBe('h2');

      const redirect = await new Promise<{ status: number; location: string | undefined }>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: config.frontendPort, path: '/a/b?c=1', headers: { host: `www.example.test:${config.frontendPort}` }, agent: false }, (res) => {
          res.resume();
          resolve({ status: res.statusCode!, location: res.headers.location });
        });
        req.on('error', reject);
        req.end();
      });
      expect(redirect).toEqual({ status: 308, location: `https://www.example.test:${config.httpsPort}/a/b?c=1` });
    } finally {
      await h.stop();
      await backend.close();
    }
  }, 30_000);
});

describe('the HTTPS port while a certificate is loaded', () => {
  it('a service claiming it is skipped, naming the variable; without certificates it may use it', async () => {
    const { desiredState } = await import('../../src/pipeline.js');
    const config = parseEnvironment({ ...MINIMAL_ENV }, FACTS).config;
    const passthrough = container({ name: 'tls-passthrough', created: 1, bindings: [binding(443, 32443)], exposedTcpPorts: [443], extraLabels: { 'vipkeeper.service': 'pt', 'vipkeeper.mode': 'tcp', 'vipkeeper.frontend.port': '443' } });
    const cert: CertEntry = { file: 'a.pem', state: 'ok', names: ['a.test'], notBefore: new Date(0), notAfter: new Date(1e13), digest: 'd', pem: '' };
    const withCert = desiredState(config, [passthrough], { certificates: [cert] });
    expect(withCert.services.map((s) => s.name)).toEqual(['apps']);
    expect(withCert.skipped).toMatchObject([{ containerName: 'tls-passthrough', reason: expect.stringContaining('VIPKEEPER_HTTPS_PORT') }]);
    const without = desiredState(config, [passthrough], { certificates: [{ file: 'x.pem', state: 'refused', reason: 'junk' }] });
    expect(without.services.map((s) => s.name)).toEqual(['apps', 'pt']);
  });
});
