import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseEnvironment } from '../../src/config/env.js';
import { buildDesiredState, type InstanceVips, resolveVip, type SelectionSettings } from '../../src/model/desired-state.js';
import type { VipLabel } from '../../src/labels/parse-labels.js';
import { haproxyView, type TlsPlan } from '../../src/render/haproxy-view.js';
import { loadTemplates } from '../../src/render/load-templates.js';
import { renderConfigs } from '../../src/render/render-configs.js';
import { container, FACTS, SETTINGS, TWO_INSTANCES_ENV } from './fixtures.js';

// vipkeeper.vip: a service's frontend on one instance's VIPs or one VIP address.
// The label is checked against the instances before anything renders; a name that
// is no instance, or an address that is no VIP, leaves that container out.

const INSTANCES: InstanceVips[] = [
  { name: 'web', virtualIps: [{ address: '198.18.0.10' }, { address: '2001:db8::10' }] },
  { name: 'api', virtualIps: [{ address: '198.18.0.20' }] },
];
const WITH: SelectionSettings = { ...SETTINGS, instances: INSTANCES };
const inst = (name: string): VipLabel => ({ kind: 'instance', name });
const addr = (address: string): VipLabel => ({ kind: 'address', address });

describe('resolveVip', () => {
  it.each<[string, VipLabel, unknown]>([
    ['an instance: all its VIPs, sorted', inst('web'), { bind: { name: 'web', instances: ['web'], addresses: ['198.18.0.10', '2001:db8::10'] } }],
    ['an instance with one VIP', inst('api'), { bind: { name: 'api', instances: ['api'], addresses: ['198.18.0.20'] } }],
    ['one of several VIPs of an instance: named by the address', addr('198.18.0.10'), { bind: { name: '198_18_0_10', instances: ['web'], addresses: ['198.18.0.10'] } }],
    ['an IPv6 VIP', addr('2001:db8::10'), { bind: { name: '2001_db8__10', instances: ['web'], addresses: ['2001:db8::10'] } }],
    ["an instance's only VIP is that instance", addr('198.18.0.20'), { bind: { name: 'api', instances: ['api'], addresses: ['198.18.0.20'] } }],
  ])('%s', (_, vip, expected) => {
    expect(resolveVip(vip, INSTANCES)).toEqual(expected);
  });

  it.each<[string, VipLabel, InstanceVips[], RegExp]>([
    ['an instance that does not exist', inst('db'), INSTANCES, /^an instance of VIPKEEPER_INSTANCES \(here: web, api\)$/],
    ['an address that is no VIP is refused, not bound', addr('198.18.0.99'), INSTANCES, /^a VIP of an instance \(here: 198\.18\.0\.10, 2001:db8::10, 198\.18\.0\.20\); other addresses are refused/],
    ['a host address is no VIP either', addr('198.18.0.5'), INSTANCES, /^a VIP of an instance/],
    ['no instances known', inst('web'), [], /\(here: none\)/],
  ])('refused: %s', (_, vip, instances, rule) => {
    const r = resolveVip(vip, instances);
    expect(r).toMatchObject({ problem: { label: 'vipkeeper.vip' } });
    expect('problem' in r && r.problem.rule).toMatch(rule);
  });
});

const c = (name: string, labels: Record<string, string>, created = 1_700_000_000) => container({ name, created, extraLabels: labels });

describe('buildDesiredState with vipkeeper.vip', () => {
  it('a labelled service carries its bind; unlabelled ones bind every address', () => {
    const state = buildDesiredState(
      [c('w1', { 'vipkeeper.service': 'site', 'vipkeeper.vip': 'web' }), c('plain', { 'vipkeeper.service': 'plain', 'vipkeeper.frontend.port': '81' })],
      WITH,
    );
    expect(state.skipped).toEqual([]);
    expect(state.services.map((s) => [s.name, s.bind?.addresses ?? null])).toEqual([
      ['apps', null],
      ['plain', null],
      ['site', ['198.18.0.10', '2001:db8::10']],
    ]);
  });

  it.each([
    ['an unknown instance', 'db', /label vipkeeper\.vip="db" breaks the rule: an instance of VIPKEEPER_INSTANCES \(here: web, api\)/],
    ['an address that is no VIP', '203.0.113.7', /label vipkeeper\.vip="203\.0\.113\.7" breaks the rule: a VIP of an instance/],
    ['a malformed value', 'web;api', /label vipkeeper\.vip="web;api" breaks the rule/],
  ])('%s: that container is skipped, naming the label; the others are served', (_, value, reason) => {
    const state = buildDesiredState([c('bad', { 'vipkeeper.service': 'site', 'vipkeeper.vip': value }), c('good', { 'vipkeeper.service': 'other', 'vipkeeper.vip': 'api' })], WITH);
    expect(state.skipped.map((s) => [s.containerName, s.problems.map((p) => p.label)])).toEqual([['bad', ['vipkeeper.vip']]]);
    expect(state.skipped[0]!.reason).toMatch(reason);
    expect(state.services.map((s) => s.name)).toEqual(['apps', 'other']);
  });

  it('a service whose only container has a bad vipkeeper.vip does not exist at all: nothing half-applied', () => {
    const state = buildDesiredState([c('bad', { 'vipkeeper.service': 'site', 'vipkeeper.vip': 'nope', 'vipkeeper.frontend.port': '8080' })], WITH);
    expect(state.services.map((s) => s.name)).toEqual(['apps']);
  });

  it('without instances in the settings every vipkeeper.vip is refused', () => {
    const state = buildDesiredState([c('w1', { 'vipkeeper.vip': 'web' })], SETTINGS);
    expect(state.skipped.map((s) => s.containerName)).toEqual(['w1']);
  });

  it('two services on one port and different VIPs are two frontends, neither skipped', () => {
    const state = buildDesiredState([c('w1', { 'vipkeeper.service': 'site', 'vipkeeper.vip': 'web' }), c('a1', { 'vipkeeper.service': 'api', 'vipkeeper.vip': 'api' }, 1_700_000_001)], WITH);
    expect(state.skipped).toEqual([]);
    const view = haproxyView(state.services, { adminSocket: '/run/admin.sock' });
    expect(view.frontends.map((f) => [f.name, f.bind, f.defaultBackend])).toEqual([
      ['fe_80', ':80', 'be_apps'],
      ['fe_80_api', '198.18.0.20:80 transparent', 'be_api'],
      ['fe_80_web', '198.18.0.10:80,[2001:db8::10]:80 transparent', 'be_site'],
    ]);
  });

  it('the same VIP on one port: one frontend, told apart by host rules like any shared port', () => {
    const state = buildDesiredState(
      [
        c('a', { 'vipkeeper.service': 'a', 'vipkeeper.vip': 'api', 'vipkeeper.host': 'a.example' }),
        c('b', { 'vipkeeper.service': 'b', 'vipkeeper.vip': '198.18.0.20', 'vipkeeper.host': 'b.example' }, 1_700_000_001),
      ],
      WITH,
    );
    expect(state.skipped).toEqual([]);
    const fe = haproxyView(state.services, { adminSocket: '/s' }).frontends.filter((f) => f.name === 'fe_80_api');
    expect(fe.map((f) => f.routes.map((r) => r.backend))).toEqual([['be_a', 'be_b']]);
  });

  it('the same VIP and port without rules to tell them apart: the newer service is skipped', () => {
    const state = buildDesiredState(
      [c('a', { 'vipkeeper.service': 'a', 'vipkeeper.vip': 'api' }), c('b', { 'vipkeeper.service': 'b', 'vipkeeper.vip': 'api' }, 1_700_000_001)],
      WITH,
    );
    expect(state.skipped.map((s) => s.containerName)).toEqual(['b']);
    expect(state.skipped[0]!.reason).toMatch(/conflicts with service a .* neither has a vipkeeper\.host/);
  });

  it('overlapping address sets on one port would split connections: the newer service is skipped', () => {
    const state = buildDesiredState(
      [c('a', { 'vipkeeper.service': 'a', 'vipkeeper.vip': 'web' }), c('b', { 'vipkeeper.service': 'b', 'vipkeeper.vip': '198.18.0.10', 'vipkeeper.host': 'b.example' }, 1_700_000_001)],
      WITH,
    );
    expect(state.skipped.map((s) => s.containerName)).toEqual(['b']);
    expect(state.skipped[0]!.reason).toMatch(/both listen on 198\.18\.0\.10 \(vipkeeper\.vip web and 198\.18\.0\.10\)/);
  });

  it('a TCP service on a VIP beside a TCP service on every address, same port: both served', () => {
    const state = buildDesiredState(
      [
        c('pg', { 'vipkeeper.service': 'pg', 'vipkeeper.mode': 'tcp', 'vipkeeper.frontend.port': '5432' }),
        c('pg2', { 'vipkeeper.service': 'pg2', 'vipkeeper.mode': 'tcp', 'vipkeeper.frontend.port': '5432', 'vipkeeper.vip': 'api' }, 1_700_000_001),
      ],
      WITH,
    );
    expect(state.skipped).toEqual([]);
  });

  it('containers of one service must agree on vipkeeper.vip; the oldest wins', () => {
    const state = buildDesiredState(
      [c('w1', { 'vipkeeper.service': 'site', 'vipkeeper.vip': 'web' }), c('w2', { 'vipkeeper.service': 'site', 'vipkeeper.vip': 'api' }, 1_700_000_001)],
      WITH,
    );
    expect(state.skipped.map((s) => [s.containerName, s.reason])).toEqual([['w2', expect.stringMatching(/its vipkeeper\.vip \(api\) disagrees with web set by w1/)]]);
  });

  // Compared by the addresses each binds, not as written: two spellings of one frontend agree.
  it.each<[string, string | null, string | null, RegExp | null]>([
    ['the same instance', 'web', 'web', null],
    ["an instance and its only VIP", 'api', '198.18.0.20', null],
    ["an instance's only VIP and the instance", '198.18.0.20', 'api', null],
    ['two spellings of one IPv6 VIP', '2001:db8::10', '2001:DB8:0:0::0010', null],
    ['an instance of two VIPs and one of them', 'web', '198.18.0.10', /its vipkeeper\.vip \(198\.18\.0\.10\) disagrees with web set by w1/],
    ['one VIP and the instance of two', '2001:db8::10', 'web', /its vipkeeper\.vip \(web\) disagrees with 2001:db8::10 set by w1/],
    ['two instances', 'web', 'api', /its vipkeeper\.vip \(api\) disagrees with web set by w1/],
    ['every address and an instance', null, 'api', /its vipkeeper\.vip \(api\) disagrees with \(unset\) set by w1/],
    ['an instance and every address', 'api', null, /its vipkeeper\.vip \(\(unset\)\) disagrees with api set by w1/],
  ])('vipkeeper.vip across one service\'s containers: %s', (_what, oldest, newer, disagreement) => {
    const labels = (vip: string | null) => ({ 'vipkeeper.service': 'site', ...(vip === null ? {} : { 'vipkeeper.vip': vip }) });
    const state = buildDesiredState([c('w1', labels(oldest)), c('w2', labels(newer), 1_700_000_001)], WITH);
    const site = state.services.find((s) => s.name === 'site');
    if (disagreement === null) {
      expect(state.skipped).toEqual([]);
      expect(site?.servers.map((sv) => sv.containerName ?? sv.name).length).toBe(2);
    } else {
      expect(state.skipped.map((s) => [s.containerName, s.reason])).toEqual([['w2', expect.stringMatching(disagreement)]]);
      expect(site?.servers).toHaveLength(1);
    }
  });

  it('the default pool keeps every address on its port when a VIP-bound service takes the port on its VIP', () => {
    const state = buildDesiredState([c('w1', { 'vipkeeper.service': 'site', 'vipkeeper.vip': 'web' })], WITH);
    expect(state.services.map((s) => [s.name, s.frontendPort, s.bind === null])).toEqual([
      ['apps', 80, true],
      ['site', 80, false],
    ]);
  });
});

describe('HTTPS with vipkeeper.vip', () => {
  const tls: TlsPlan = { httpsPort: 443, httpPort: 80, defaultCertPath: '/etc/vk/default.pem', crtListPath: '/etc/vk/crt-list', ciphers: 'ECDHE', minVersion: 'TLSv1.2', certificates: 1 };
  it('a bound service is served on HTTPS on its own addresses only; an unbound one on every address', () => {
    const state = buildDesiredState(
      [c('w1', { 'vipkeeper.service': 'shop', 'vipkeeper.vip': 'web', 'vipkeeper.host': 'shop.example' }), c('p1', { 'vipkeeper.service': 'plain', 'vipkeeper.host': 'plain.example' }, 1_700_000_001)],
      WITH,
    );
    const https = haproxyView(state.services, { adminSocket: '/s' }, tls).frontends.filter((f) => f.name.startsWith('fe_https'));
    expect(https.map((f) => [f.name, f.bind.split(' ssl ')[0], f.routes.map((r) => r.backend)])).toEqual([
      ['fe_https_443', ':443', ['be_plain']],
      ['fe_https_443_web', '198.18.0.10:443,[2001:db8::10]:443 transparent', ['be_shop']],
    ]);
  });
});

describe('haproxy.cfg with vipkeeper.vip, from the environment to the file', () => {
  const env = TWO_INSTANCES_ENV;
  const config = parseEnvironment(env, FACTS).config;
  const dir = mkdtempSync(join(tmpdir(), 'vk-vip-binding-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the config carries the instances to the desired state, and haproxy -c accepts the binds', async () => {
    const state = buildDesiredState(
      [
        c('w1', { 'vipkeeper.service': 'site', 'vipkeeper.vip': 'web', 'vipkeeper.frontend.port': '8080' }),
        c('a1', { 'vipkeeper.service': 'api', 'vipkeeper.vip': 'api', 'vipkeeper.frontend.port': '8080' }, 1_700_000_001),
        c('x1', { 'vipkeeper.service': 'x', 'vipkeeper.vip': '2001:db8::10', 'vipkeeper.frontend.port': '9090', 'vipkeeper.mode': 'tcp' }, 1_700_000_002),
      ],
      config,
    );
    expect(state.skipped).toEqual([]);
    const cfg = renderConfigs(config, state, await loadTemplates(null)).haproxyCfg;
    expect(cfg).toContain('frontend fe_8080_web\n    bind 198.18.0.10:8080,[2001:db8::10]:8080 transparent\n');
    expect(cfg).toContain('frontend fe_8080_api\n    bind 198.18.0.20:8080 transparent\n');
    expect(cfg).toContain('frontend fe_9090_2001_db8__10\n    bind [2001:db8::10]:9090 transparent\n');
    // The default pool still listens on every address (both families, as there is an IPv6 VIP).
    expect(cfg).toContain('frontend fe_80\n    bind :::80 v4v6\n');
    const file = join(dir, 'haproxy.cfg');
    writeFileSync(file, cfg.replace(/stats socket \S+/, `stats socket ${join(dir, 'admin.sock')}`));
    const check = spawnSync('haproxy', ['-c', '-f', file], { encoding: 'utf8' });
    expect(check.status, check.stderr).toBe(0);
  });
});
