import { describe, expect, it } from 'vitest';
import { agentWatchedFiles } from '../../src/agent/watched-files.js';
import { type Config, parseEnvironment } from '../../src/config/env.js';
import { LiveConfig } from '../../src/config/live-config.js';
import { ConfigError } from '../../src/errors.js';
import { FACTS, MINIMAL_ENV } from './fixtures.js';
import { silentLog } from './support/fakes.js';

// The files the agent follows come from the config it starts on, and what a
// change does lands on the live parts: a new password file content becomes the
// config the next plan uses, or, unusable, leaves the last good one in force.

const ENV = { ...MINIMAL_ENV, VIPKEEPER_AUTH_PASS_FILE: ' /run/secrets/vrrp ' };
const initial = parseEnvironment(ENV, FACTS, () => ({ content: 'first-pw\n' })).config;

function rig(config: Config = initial, env: Record<string, string> = ENV) {
  const calls: string[] = [];
  const live = new LiveConfig(config, env, FACTS);
  const files = agentWatchedFiles({
    config: live,
    links: ['a', 'b'].map((name) => ({ reconnect: () => void calls.push(`reconnect ${name}`) })),
    templates: { load: async () => void calls.push('load templates') },
    trigger: (why) => void calls.push(`trigger ${why}`),
    log: silentLog(),
  });
  return { live, files, calls };
}

describe('the agent files followed', () => {
  it('the password file the environment names (trimmed), the templates dir, each engine certificate dir once', () => {
    const withCerts: Config = {
      ...initial,
      templatesDir: '/etc/vipkeeper/templates',
      engines: [
        { ...initial.engines[0]!, tlsCertPath: '/certs' },
        { ...initial.engines[0]!, name: 'b', tlsCertPath: '/certs' },
        { ...initial.engines[0]!, name: 'c', tlsCertPath: null },
      ],
    };
    const r = rig(withCerts);
    expect(r.files).toMatchObject({ templatesDir: '/etc/vipkeeper/templates', passFiles: ['/run/secrets/vrrp'], certDirs: ['/certs'] });
  });

  it('without a password file or templates dir, none is followed', () => {
    const config = parseEnvironment(MINIMAL_ENV, FACTS).config;
    expect(rig(config, MINIMAL_ENV).files).toMatchObject({ templatesDir: null, passFiles: [], certDirs: [] });
  });

  it('a renewed certificate reconnects every engine; a template change reloads the templates', async () => {
    const r = rig();
    r.files.reconnectEngines();
    await r.files.reloadTemplates();
    r.files.trigger('file changed x');
    expect(r.calls).toEqual(['reconnect a', 'reconnect b', 'load templates', 'trigger file changed x']);
  });

  it('a new password becomes the live config', () => {
    const r = rig();
    r.files.passwordChanged(() => ({ content: 'pw-2\n' }));
    expect(r.live.current.authPass?.reveal()).toBe('pw-2');
  });

  it('a password file that cannot be used throws, and the last good config stays live', () => {
    const r = rig();
    expect(() => r.files.passwordChanged(() => ({ content: 'two words\n' }))).toThrow(ConfigError);
    expect(() => r.files.passwordChanged(() => ({ error: 'ENOENT' }))).toThrow(ConfigError);
    expect(r.live.current).toBe(initial);
  });

  describe('with instance password files', () => {
    const INST_ENV = {
      VIPKEEPER_INSTANCES: 'web,api',
      VIPKEEPER_INSTANCE_WEB_VIRTUAL_IPS: '198.18.0.10/24',
      VIPKEEPER_INSTANCE_WEB_VIRTUAL_ROUTER_ID: '61',
      VIPKEEPER_INSTANCE_API_VIRTUAL_IPS: '198.18.0.20/24',
      VIPKEEPER_INSTANCE_API_VIRTUAL_ROUTER_ID: '62',
      VIPKEEPER_AUTH_PASS_FILE: '/run/secrets/vrrp',
      VIPKEEPER_INSTANCE_WEB_AUTH_PASS_FILE: '/run/secrets/web',
    };
    const files: Record<string, { content: string }> = { '/run/secrets/vrrp': { content: 'glob-pw\n' }, '/run/secrets/web': { content: 'web-pw\n' } };
    const start = parseEnvironment(INST_ENV, FACTS, (p) => files[p]).config;
    const passwords = (c: Config) => c.instances.map((i) => [i.name, i.authPass?.reveal()]);

    it('every one is followed, the global one and each instance\'s', () => {
      expect(rig(start, INST_ENV).files.passFiles).toEqual(['/run/secrets/vrrp', '/run/secrets/web']);
    });

    it('a new content of one becomes the live config, the others read with it', () => {
      const r = rig(start, INST_ENV);
      expect(passwords(r.live.current)).toEqual([['web', 'web-pw'], ['api', 'glob-pw']]);
      const after: Record<string, { content: string }> = { ...files, '/run/secrets/web': { content: 'web-pw2\n' } };
      r.files.passwordChanged((p) => after[p]);
      expect(passwords(r.live.current)).toEqual([['web', 'web-pw2'], ['api', 'glob-pw']]);
    });

    it('an instance file that cannot be used throws, and the last good config stays live', () => {
      const r = rig(start, INST_ENV);
      expect(() => r.files.passwordChanged((p) => (p === '/run/secrets/web' ? { error: 'ENOENT' } : files[p]))).toThrow(ConfigError);
      expect(r.live.current).toBe(start);
    });
  });
});
