import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseEnvironment } from '../../src/config/env.js';
import type { HostFacts } from '../../src/config/host-facts.js';
import { readHostFacts } from '../../src/host/read-host-facts.js';
import { buildDesiredState } from '../../src/model/desired-state.js';
import { keepalivedView } from '../../src/render/keepalived-view.js';
import { loadTemplates } from '../../src/render/load-templates.js';
import { renderConfigs } from '../../src/render/render-configs.js';
import { binding, container, FACTS } from './fixtures.js';

// Several VRRP instances: one vrrp_instance each, IPv6 VIPs beside IPv4 ones in
// virtual_ipaddress_excluded (keepalived 2.2.7 refuses mixed families in one
// virtual_ipaddress: "address family must match VRRP instance", exit 5), and a
// track file per instance so each can drop on its own.

const TWO = {
  VIPKEEPER_INSTANCES: 'web,api',
  VIPKEEPER_VRRP_VERSION: '3',
  VIPKEEPER_ADVERT_INT: '0.1',
  VIPKEEPER_INSTANCE_WEB_VIRTUAL_IPS: '198.18.0.10/24 fd00::10/64',
  VIPKEEPER_INSTANCE_WEB_VIRTUAL_ROUTER_ID: '61',
  VIPKEEPER_INSTANCE_WEB_PRIORITY: '150',
  VIPKEEPER_INSTANCE_API_VIRTUAL_IPS: '198.18.0.20/24',
  VIPKEEPER_INSTANCE_API_VIRTUAL_ROUTER_ID: '62',
  VIPKEEPER_INSTANCE_API_NOPREEMPT: 'false',
  VIPKEEPER_RUN_DIR: '/run/vk',
};
const viewOf = (env: Record<string, string>, facts: HostFacts = FACTS) => keepalivedView(parseEnvironment(env, facts).config);

describe('keepalivedView: one vrrp_instance per instance', () => {
  const view = viewOf(TWO);
  const [web, api] = view.instances;

  it.each([
    ['instance names', view.instances.map((i) => i.instanceName), ['vipkeeper_web', 'vipkeeper_api']],
    ['router ids', view.instances.map((i) => i.virtualRouterId), [61, 62]],
    ['priorities (api inherits the global default)', view.instances.map((i) => i.priority), [150, 100]],
    ['nopreempt per instance', view.instances.map((i) => i.nopreempt), [true, false]],
    ["web's advertised VIPs: its IPv4 family", web!.virtualIps, ['198.18.0.10/24 dev eth1']],
    ["web's IPv6 VIP moves with it, excluded from adverts", web!.excludedIps, ['fd00::10/64 dev eth1']],
    ['api has no excluded VIPs', api!.excludedIps, []],
    ["web tracks the node's fault and maintenance files and its own down and health files", web!.trackFiles, ['vipkeeper_fault', 'vipkeeper_maintenance', 'vipkeeper_web_down', 'vipkeeper_web_health']],
    ['each instance has its own track files in the run dir: down (FAULT) and health (a priority drop)', view.instanceTrackFiles, [
      { name: 'vipkeeper_web_down', file: '/run/vk/instance-web.down', overwrite: true, weight: 0 },
      { name: 'vipkeeper_web_health', file: '/run/vk/instance-web.health', overwrite: true, weight: -100 },
      { name: 'vipkeeper_api_down', file: '/run/vk/instance-api.down', overwrite: true, weight: 0 },
      { name: 'vipkeeper_api_health', file: '/run/vk/instance-api.health', overwrite: true, weight: -100 },
    ]],
  ])('%s', (_what, got, expected) => {
    expect(got).toEqual(expected);
  });

  it('an instance of IPv6 VIPs only advertises them (VRRP over IPv6), on the default route\'s interface unless told', () => {
    const v6 = viewOf({ VIPKEEPER_INSTANCES: 'six', VIPKEEPER_VRRP_VERSION: '3', VIPKEEPER_INSTANCE_SIX_VIRTUAL_IPS: 'fd00::10/64' }).instances[0]!;
    expect([v6.virtualIps, v6.excludedIps]).toEqual([['fd00::10/64 dev eth0'], []]);
  });

  it('without VIPKEEPER_INSTANCES: one instance, no per-instance track file (the file is as before)', () => {
    const one = viewOf({ VIPKEEPER_VIRTUAL_IPS: '198.18.0.10/24' });
    expect(one.instances.map((i) => [i.instanceName, i.trackFiles])).toEqual([['vipkeeper_51', ['vipkeeper_fault', 'vipkeeper_maintenance']]]);
    expect(one.instanceTrackFiles).toEqual([]);
  });
});

const keepalivedInstalled = spawnSync('keepalived', ['--version']).status === 0;

describe.skipIf(!keepalivedInstalled)('the rendered keepalived.conf passes the real keepalived -t', async () => {
  // keepalived -t refuses an interface that does not exist: use one this host has.
  const host = await readHostFacts();
  const iface = host.defaultInterface ?? host.interfaces.find((i) => i.name !== 'lo')?.name ?? 'eth0';
  const facts: HostFacts = { ...FACTS, interfaces: [...FACTS.interfaces, { name: iface, addresses: [] }] };
  const templates = await loadTemplates(null);
  const dir = mkdtempSync(join(tmpdir(), 'vk-keepalived-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const PASS_FILES: Record<string, { content: string }> = { '/run/secrets/vrrp': { content: 'glob-pw\n' }, '/run/secrets/web': { content: 'web-pw\n' } };
  const check = (env: Record<string, string>) => {
    const config = parseEnvironment({ ...env, VIPKEEPER_INTERFACE: iface }, facts, (path) => PASS_FILES[path]).config;
    const text = renderConfigs(config, buildDesiredState([], config), templates).keepalivedConf;
    const file = join(dir, 'keepalived.conf');
    writeFileSync(file, text);
    const r = spawnSync('keepalived', ['--config-test', '-f', file], { encoding: 'utf8' });
    return { text, code: r.status, output: `${r.stdout}${r.stderr}` };
  };

  it.each([
    ['two instances, one with IPv4 and IPv6 VIPs', TWO],
    ['two instances with VRRP version 2 and a password each', {
      VIPKEEPER_INSTANCES: 'web,api', VIPKEEPER_AUTH_PASS: 'pw-1', VIPKEEPER_INSTANCE_API_AUTH_PASS: 'pw-2',
      VIPKEEPER_INSTANCE_WEB_VIRTUAL_IPS: '198.18.0.10/24', VIPKEEPER_INSTANCE_WEB_VIRTUAL_ROUTER_ID: '61',
      VIPKEEPER_INSTANCE_API_VIRTUAL_IPS: '198.18.0.20/24', VIPKEEPER_INSTANCE_API_VIRTUAL_ROUTER_ID: '62',
      VIPKEEPER_UNICAST_PEERS: '198.18.0.6',
    }],
    ['two instances with VRRP version 2 and a password file each', {
      VIPKEEPER_INSTANCES: 'web,api', VIPKEEPER_AUTH_PASS_FILE: '/run/secrets/vrrp', VIPKEEPER_INSTANCE_WEB_AUTH_PASS_FILE: '/run/secrets/web',
      VIPKEEPER_INSTANCE_WEB_VIRTUAL_IPS: '198.18.0.10/24', VIPKEEPER_INSTANCE_WEB_VIRTUAL_ROUTER_ID: '61',
      VIPKEEPER_INSTANCE_API_VIRTUAL_IPS: '198.18.0.20/24', VIPKEEPER_INSTANCE_API_VIRTUAL_ROUTER_ID: '62',
      VIPKEEPER_UNICAST_PEERS: '198.18.0.6',
    }],
    ['an instance of IPv6 VIPs only', { VIPKEEPER_INSTANCES: 'six', VIPKEEPER_VRRP_VERSION: '3', VIPKEEPER_INSTANCE_SIX_VIRTUAL_IPS: 'fd00::10/64 fd00::11/64' }],
    ['the one-instance case with an IPv6 VIP', { VIPKEEPER_VIRTUAL_IPS: '198.18.0.10/24 fd00::10/64', VIPKEEPER_VRRP_VERSION: '3' }],
  ])('%s: exit 0', (_what, env) => {
    const r = check(env);
    expect(r.text).toMatch(/vrrp_instance/); // keepalived -t passes an empty file too
    expect(r.code, r.output).toBe(0);
  });

  it('each instance carries its own file\'s password, else the global file\'s', () => {
    const r = check({
      VIPKEEPER_INSTANCES: 'web,api', VIPKEEPER_AUTH_PASS_FILE: '/run/secrets/vrrp', VIPKEEPER_INSTANCE_WEB_AUTH_PASS_FILE: '/run/secrets/web',
      VIPKEEPER_INSTANCE_WEB_VIRTUAL_IPS: '198.18.0.10/24', VIPKEEPER_INSTANCE_WEB_VIRTUAL_ROUTER_ID: '61',
      VIPKEEPER_INSTANCE_API_VIRTUAL_IPS: '198.18.0.20/24', VIPKEEPER_INSTANCE_API_VIRTUAL_ROUTER_ID: '62',
    });
    expect([...r.text.matchAll(/auth_pass\s+(\S+)/g)].map((m) => m[1])).toEqual(['web-pw', 'glob-pw']);
  });
});

describe('HAProxy frontends with an IPv6 VIP', () => {
  const frontendLines = async (env: Record<string, string>) => {
    const config = parseEnvironment(env, FACTS).config;
    const apps = [container({ name: 'web-1', created: 1000, bindings: [binding(80, 32001)] })];
    const cfg = renderConfigs(config, buildDesiredState(apps, config), await loadTemplates(null)).haproxyCfg;
    return cfg.split('\n').filter((l) => l.trim().startsWith('bind ') && !l.includes('.sock'));
  };

  it.each([
    ['IPv4 VIPs only: as before', { VIPKEEPER_VIRTUAL_IPS: '198.18.0.10/24' }, ['    bind :80']],
    ['an IPv6 VIP: both families on one socket', { VIPKEEPER_VIRTUAL_IPS: '198.18.0.10/24 fd00::10/64', VIPKEEPER_VRRP_VERSION: '3' }, ['    bind :::80 v4v6']],
  ])('%s', async (_what, env, expected) => {
    expect(await frontendLines(env)).toEqual(expected);
  });
});
