import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, parseEnvironment } from '../../src/config/env.js';
import { runtimePaths } from '../../src/config/paths.js';
import { buildDesiredState, type DesiredState } from '../../src/model/desired-state.js';
import type { ContainerInfo } from '../../src/model/container.js';
import { loadTemplates } from '../../src/render/load-templates.js';
import { renderConfigs } from '../../src/render/render-configs.js';
import { type CertEntry, inventoryCerts } from '../../src/tls/cert-inventory.js';
import { accepted } from '../../src/tls/tls-plan.js';
import { installDefaultCert, makeSelfSigned, syncTlsFiles } from '../../src/tls/tls-files.js';
import { container, FACTS, TWO_INSTANCES_ENV } from './fixtures.js';
import { haproxyInstalled } from './real-haproxy.js';
import { makeTestCa, type TestCa } from './support/test-certs.js';

// Review: every feature at once (sticky, rate limits, allow lists, vip-bound services,
// named definitions, TLS with certificates, ACME, ACCEPT_PROXY, IPv6 VIPs, peers, compat)
// through the real functions, and the real haproxy -c on the file.

const ENV = {
  ...TWO_INSTANCES_ENV,
  VIPKEEPER_UNICAST_PEERS: '198.18.0.6',
  VIPKEEPER_ACCEPT_PROXY: '198.18.1.0/24,2001:db8:1::/48',
  VIPKEEPER_ACME_EMAIL: 'ops@example.test',
  VIPKEEPER_COMPAT: 'nginx-proxy',
};

let n = 0;
const c = (labels: Record<string, string>, over: Partial<ContainerInfo> = {}) => {
  n += 1;
  return container({ name: `c${n}`, created: 1_700_000_000 + n, extraLabels: labels, ...over });
};

const label63 = (ch: string) => ch.repeat(63);
/** 16 distinct host names of 253 characters each (four labels of 63 and one of 1). */
/** 16 host names in the 256 characters a label may have; 32 allow entries likewise. */
const HOSTS16 = Array.from({ length: 16 }, (_, i) => `${'abcdefghijklmnop'[i]!}${label63('h').slice(0, 4)}.test`);
const ALLOW32 = Array.from({ length: 32 }, (_, i) => `10.0.${i}.0/24`).slice(0, 20);

export const COMBOS: [string, () => ContainerInfo[]][] = [
  ['sticky cookie + rate limit + allow + host (TLS) + vip instance', () => [c({ 'vipkeeper.service': 'shop', 'vipkeeper.host': 'www.example.test', 'vipkeeper.sticky': 'cookie', 'vipkeeper.rate-limit': '10/s', 'vipkeeper.allow': '198.18.0.0/15,2001:db8::/32', 'vipkeeper.vip': 'web', 'vipkeeper.tls.redirect': 'true', 'vipkeeper.tls.hsts': '600' })]],
  ['sticky source tcp + rate limit + allow + proxy-protocol v2 on an IPv6 VIP', () => [c({ 'vipkeeper.service': 'db', 'vipkeeper.mode': 'tcp', 'vipkeeper.frontend.port': '5432', 'vipkeeper.sticky': 'source', 'vipkeeper.rate-limit': '5/s', 'vipkeeper.allow': '2001:db8::/32', 'vipkeeper.vip': '2001:db8::10', 'vipkeeper.proxy-protocol': 'v2' })]],
  ['named definitions with sticky, rate limit and vip', () => [c({ 'vipkeeper.web.port': '80', 'vipkeeper.web.host': 'a.example.test', 'vipkeeper.web.sticky': 'cookie', 'vipkeeper.admin.port': '80', 'vipkeeper.admin.frontend.port': '8081', 'vipkeeper.admin.vip': 'api', 'vipkeeper.admin.rate-limit': '1/s', 'vipkeeper.admin.allow': '198.18.0.7' })]],
  ['two sticky services (cookie and source) + acme label + path routes', () => [c({ 'vipkeeper.service': 'p1', 'vipkeeper.host': 'x.example.test', 'vipkeeper.path': '/a', 'vipkeeper.sticky': 'cookie', 'vipkeeper.acme': 'true' }), c({ 'vipkeeper.service': 'p2', 'vipkeeper.host': 'x.example.test', 'vipkeeper.path': '/b', 'vipkeeper.sticky': 'source', 'vipkeeper.forwarded': 'false', 'vipkeeper.proxy-protocol': 'v1' })]],
  ['compat containers, same VIRTUAL_HOST, different VIRTUAL_PORT, with a labelled sticky one', () => [
    c({}, { labels: {}, env: { VIRTUAL_HOST: 'nx.example.test', VIRTUAL_PORT: '80' } }),
    c({}, { labels: {}, env: { VIRTUAL_HOST: 'nx.example.test', VIRTUAL_PORT: '8080' }, exposedTcpPorts: [8080], bindings: [{ privatePort: 8080, protocol: 'tcp', hostIp: '0.0.0.0', hostPort: 41000 }] }),
    c({}, { labels: {}, env: { VIRTUAL_HOST: 'a.example.test,b.example.test', VIRTUAL_PATH: '/api', HTTPS_METHOD: 'noredirect' } }),
    c({ 'vipkeeper.service': 'stick', 'vipkeeper.host': 'nx2.example.test', 'vipkeeper.sticky': 'source' }),
  ]],
  ['the longest values: 16 hosts, 20 allow entries, a 255-character path, a 48-character service', () => [
    c({ 'vipkeeper.service': 'x'.repeat(48), 'vipkeeper.host': HOSTS16.join(','), 'vipkeeper.allow': ALLOW32.join(','), 'vipkeeper.path': `/${'p'.repeat(254)}`, 'vipkeeper.sticky': 'cookie', 'vipkeeper.rate-limit': '1000000/s', 'vipkeeper.tls.redirect': 'true' }),
  ]],
  ['a vip address + the same port on every address + a single-class service', () => [c({ 'vipkeeper.frontend.port': '82', 'vipkeeper.service': 'v4', 'vipkeeper.vip': '198.18.0.10', 'vipkeeper.class': 'single', 'vipkeeper.rate-limit': '1000000/s' }), c({ 'vipkeeper.frontend.port': '82', 'vipkeeper.service': 'v6', 'vipkeeper.vip': '2001:db8::10', 'vipkeeper.sticky': 'source' })]],
  ['IPv6 backends: published on an IPv6 address, an IPv6-only network, beside an IPv4 one, sticky by source', () => [
    c({ 'vipkeeper.service': 'six', 'vipkeeper.sticky': 'source' }, { bindings: [{ privatePort: 80, protocol: 'tcp', hostIp: '2001:db8::7', hostPort: 41001 }] }),
    c({ 'vipkeeper.service': 'six', 'vipkeeper.sticky': 'source', 'vipkeeper.network': 'v6only' }, { networks: [{ network: 'v6only', ip: '', ip6: '2001:db8:6::5' }] }),
    c({ 'vipkeeper.service': 'six', 'vipkeeper.sticky': 'source' }),
  ]],
  ['everything together', () => COMBOS.filter(([name]) => name !== 'everything together').flatMap(([, make]) => make())],
];

describe.skipIf(!haproxyInstalled)('every combination of features passes the real haproxy -c', () => {
  let ca: TestCa;
  let dir: string;
  let config: Config;
  let entries: CertEntry[];
  const templatesP = loadTemplates(null);

  beforeAll(async () => {
    ca = makeTestCa();
    dir = mkdtempSync(join(tmpdir(), 'vk-combined-'));
    const www = ca.leaf(['www.example.test', 'x.example.test']);
    entries = inventoryCerts([{ file: 'www.pem', content: www.chain + www.key }], new Date(Date.now() + 60_000));
    const parsed = parseEnvironment({ ...ENV, VIPKEEPER_CONFIG_DIR: dir, VIPKEEPER_RUN_DIR: dir }, FACTS);
    config = parsed.config;
    const paths = runtimePaths(config);
    await syncTlsFiles(paths, accepted(entries));
    await installDefaultCert(paths, await makeSelfSigned());
    writeFileSync(paths.acmeMap, '');
  }, 30_000);
  afterAll(() => {
    ca?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const check = async (state: DesiredState) => {
    const cfg = renderConfigs(config, { ...state, certificates: entries }, await templatesP).haproxyCfg;
    const file = join(dir, 'check.cfg');
    writeFileSync(file, cfg);
    const r = spawnSync('haproxy', ['-c', '-f', file], { encoding: 'utf8' });
    return { cfg, status: r.status, out: r.stderr + r.stdout };
  };

  it.each(COMBOS)('%s', async (_name, make) => {
    const state = buildDesiredState(make(), config);
    expect(state.skipped.map((s) => s.reason)).toEqual([]);
    const r = await check(state);
    expect(r.out).not.toMatch(/ALERT/);
    expect(r.status, `${r.out}\n${r.cfg}`).toBe(0);
  }, 30_000);

  it('IPv6 backends are written in brackets, which haproxy -c reads as address and port', async () => {
    const make = COMBOS.find(([name]) => name.startsWith('IPv6 backends'))![1];
    const r = await check(buildDesiredState(make(), config));
    expect(r.status, r.out).toBe(0);
    expect(r.cfg).toMatch(/server \S+ \[2001:db8::7\]:41001 /);
    expect(r.cfg).toMatch(/server \S+ \[2001:db8:6::5\]:80 /);
    expect(r.cfg).toMatch(/server \S+ 127\.0\.0\.1:\d+ /);
  }, 30_000);
});

describe.skipIf(!haproxyInstalled)('hostile environment values the env parser takes reach haproxy -c intact', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vk-combined-env-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('VIPKEEPER_ACCEPT_PROXY with 100 blocks: HAProxy takes at most 64 words a line, so the rule is split, every block kept', async () => {
    const blocks = Array.from({ length: 100 }, (_, i) => `10.${i}.0.0/16`);
    const config = parseEnvironment({ VIPKEEPER_VIRTUAL_IPS: '198.18.0.10/24', VIPKEEPER_CONFIG_DIR: dir, VIPKEEPER_RUN_DIR: dir, VIPKEEPER_ACCEPT_PROXY: blocks.join(',') }, FACTS).config;
    expect(config.acceptProxy).toHaveLength(100);
    const cfg = renderConfigs(config, buildDesiredState([c({ 'vipkeeper.service': 'ap' })], config), await loadTemplates(null)).haproxyCfg;
    const file = join(dir, 'check.cfg');
    writeFileSync(file, cfg);
    const r = spawnSync('haproxy', ['-c', '-f', file], { encoding: 'utf8' });
    expect(r.stderr + r.stdout).not.toMatch(/ALERT/);
    expect(r.status).toBe(0);
    const printed = cfg.split('\n').filter((l) => l.includes('expect-proxy')).flatMap((l) => /\{ src (.*) \}/.exec(l)![1]!.split(' '));
    expect(new Set(printed)).toEqual(new Set(config.acceptProxy));
  });
});

describe('a frontend port that is HAProxy peers port (VIPKEEPER_PEERS_PORT)', () => {
  it('is refused with the reason, since the peers section of sticky services listens there', async () => {
    const { desiredState } = await import('../../src/pipeline.js');
    const config = parseEnvironment({ VIPKEEPER_VIRTUAL_IPS: '198.18.0.10/24', VIPKEEPER_UNICAST_PEERS: '198.18.0.6', VIPKEEPER_PEERS_PORT: '10001' }, FACTS).config;
    const state = desiredState(config, [
      container({ name: 'sticky', created: 1, extraLabels: { 'vipkeeper.service': 's', 'vipkeeper.sticky': 'source' } }),
      container({ name: 'onpeers', created: 2, extraLabels: { 'vipkeeper.service': 'p', 'vipkeeper.frontend.port': '10001' } }),
    ]);
    expect(state.services.map((s) => s.name)).toEqual(['s']);
    expect(state.skipped.map((s) => [s.containerName, s.reason])).toEqual([['onpeers', expect.stringMatching(/frontend port 10001: .*VIPKEEPER_PEERS_PORT/)]]);
  });
});
