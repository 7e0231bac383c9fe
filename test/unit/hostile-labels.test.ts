import { describe, expect, it } from 'vitest';
import { parseEnvironment } from '../../src/config/env.js';
import { LABEL_SPECS } from '../../src/labels/label-schema.js';
import { buildDesiredState } from '../../src/model/desired-state.js';
import { loadTemplates } from '../../src/render/load-templates.js';
import { renderConfigs } from '../../src/render/render-configs.js';
import { container, FACTS } from './fixtures.js';

// Review: hostile values in every label (and named-definition and compat spellings) are
// refused with a warning naming the container; none of their bytes reach haproxy.cfg.

const HOSTILE = [
  'x\nfrontend evil',
  'a b',
  '"q"',
  "'q'",
  '}',
  '#c',
  'x'.repeat(5000),
  'ünï',
  '\u2028',
  'be_x',
  'http-request deny',
  '%[src]',
  '$HOME',
  '1\r\n',
  '',
  ' ',
  '10/s ',
  '0x10',
  '-1',
  '1e3',
  '198.18.0.0/15 #',
  'web\u0000',
];

const config = parseEnvironment(
  {
    VIPKEEPER_VRRP_VERSION: '3',
    VIPKEEPER_INSTANCES: 'web',
    VIPKEEPER_INSTANCE_WEB_VIRTUAL_IPS: '198.18.0.10/24 2001:db8::10/64',
    VIPKEEPER_INSTANCE_WEB_VIRTUAL_ROUTER_ID: '61',
    VIPKEEPER_COMPAT: 'nginx-proxy',
  },
  FACTS,
).config;

const good = container({ name: 'good', created: 1, extraLabels: { 'vipkeeper.service': 'good', 'vipkeeper.host': 'good.example.test' } });

describe('hostile label values never reach haproxy.cfg', async () => {
  const templates = await loadTemplates(null);
  const base = renderConfigs(config, buildDesiredState([good], config), templates).haproxyCfg;
  const cases: [string, Record<string, string>, Record<string, string> | undefined][] = [];
  for (const spec of LABEL_SPECS) {
    for (const v of HOSTILE) {
      cases.push([`${spec.key}=${JSON.stringify(v.slice(0, 20))}`, { [spec.key]: v }, undefined]);
      cases.push([`definition web: ${spec.key}=${JSON.stringify(v.slice(0, 20))}`, { 'vipkeeper.web.port': '80', [`vipkeeper.web.${spec.key.slice(10)}`]: v }, undefined]);
    }
  }
  for (const variable of ['VIRTUAL_HOST', 'VIRTUAL_PORT', 'VIRTUAL_PATH', 'HTTPS_METHOD', 'HSTS', 'VIRTUAL_PROTO', 'NETWORK_ACCESS']) {
    for (const v of HOSTILE) cases.push([`${variable}=${JSON.stringify(v.slice(0, 20))}`, {}, { VIRTUAL_HOST: 'evil.example.test', [variable]: v }]);
  }
  for (const name of ['port', 'host', 'vip', 'sticky', 'allow', 'rate-limit', 'Web', 'w b', 'w\nb', 'a'.repeat(40), 'x_y', '-x', 'x-', 'ü']) {
    cases.push([`definition name ${JSON.stringify(name)}`, { [`vipkeeper.${name}.port`]: '80' }, undefined]);
  }

  it.each(cases)('%s', (_name, labels, env) => {
    const bad = container({ name: 'bad', created: 2, extraLabels: { 'vipkeeper.frontend.port': '8080', ...labels }, ...(env ? { labels: {}, env } : {}) });
    const state = buildDesiredState([good, bad], config);
    expect(state.services.find((s) => s.name === 'good')?.servers.map((s) => s.containerName)).toEqual(['good']);
    const cfg = renderConfigs(config, state, templates).haproxyCfg;
    const skipped = state.skipped.find((s) => s.containerName === 'bad');
    if (skipped) {
      // Refused: named, and the file is exactly what it is without that container.
      expect(skipped.reason).not.toMatch(/[\n\r\u2028]/);
      expect(cfg).toBe(base);
    } else {
      // Taken: then it is one of the few values a rule allows; no hostile byte is in the file.
      for (const line of cfg.split('\n')) expect(line).toMatch(/^[\x20-\x7e]*$/);
      expect(cfg).not.toMatch(/frontend evil|\$HOME|%\[src\]\s|#c/);
    }
  });
});
