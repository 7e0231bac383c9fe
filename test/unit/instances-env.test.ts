import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { type AuthPassFileRead, parseEnvironment, passFilePaths } from '../../src/config/env.js';
import { configError, FACTS } from './fixtures.js';

// VIPKEEPER_INSTANCES: several VRRP instances, each inheriting the global value it does not set.

type Env = Record<string, string>;
const TWO: Env = {
  VIPKEEPER_INSTANCES: 'web,api',
  VIPKEEPER_INSTANCE_WEB_VIRTUAL_IPS: '198.18.0.10/24',
  VIPKEEPER_INSTANCE_WEB_VIRTUAL_ROUTER_ID: '61',
  VIPKEEPER_INSTANCE_API_VIRTUAL_IPS: '198.18.0.20/24',
  VIPKEEPER_INSTANCE_API_VIRTUAL_ROUTER_ID: '62',
};
const parse = (env: Env) => parseEnvironment(env, FACTS);
const problemsOf = (env: Env) => configError(() => parse(env)).problems.map((p) => [p.variable, p.rule]);

describe('instances: without VIPKEEPER_INSTANCES the global variables are the one instance', () => {
  it('one instance named default, keepalived name vipkeeper_<router id>, the global values', () => {
    const { config } = parse({ VIPKEEPER_VIRTUAL_IPS: '198.18.0.10/24', VIPKEEPER_PRIORITY: '120', VIPKEEPER_VIRTUAL_ROUTER_ID: '7' });
    expect(config.instances).toHaveLength(1);
    expect(config.instances[0]).toMatchObject({
      name: 'default', keepalivedName: 'vipkeeper_7', virtualRouterId: 7, priority: 120, interface: 'eth1',
      virtualIps: [{ address: '198.18.0.10', prefix: 24 }], state: 'BACKUP', nopreempt: true, advertInt: 1, authPass: null,
    });
  });
});

describe('instances: each instance takes its own variables, else the global ones', () => {
  const { config, warnings } = parse({
    ...TWO,
    VIPKEEPER_PRIORITY: '110',
    VIPKEEPER_INSTANCE_API_PRIORITY: '90',
    VIPKEEPER_NOPREEMPT: 'false',
    VIPKEEPER_INSTANCE_WEB_NOPREEMPT: 'true',
    VIPKEEPER_INSTANCE_API_INTERFACE: 'eth0',
  });
  const byName = Object.fromEntries(config.instances.map((i) => [i.name, i]));

  it.each([
    ['web', 'priority', 110],
    ['api', 'priority', 90],
    ['web', 'nopreempt', true],
    ['api', 'nopreempt', false],
    ['web', 'interface', 'eth1'],
    ['api', 'interface', 'eth0'],
    ['web', 'virtualRouterId', 61],
    ['api', 'virtualRouterId', 62],
    ['web', 'keepalivedName', 'vipkeeper_web'],
    ['api', 'keepalivedName', 'vipkeeper_api'],
  ] as const)('%s: %s is %j', (name, field, value) => {
    expect(byName[name]![field]).toEqual(value);
  });

  it('the instances keep the order they are named in; Config.virtualIps holds every VIP', () => {
    expect(config.instances.map((i) => i.name)).toEqual(['web', 'api']);
    expect(config.virtualIps.map((v) => v.address)).toEqual(['198.18.0.10', '198.18.0.20']);
  });

  it('instance variables of named instances are not "unknown variables"', () => {
    expect(warnings).toEqual([]);
  });

  it('a variable of an instance that is not named is warned about', () => {
    const w = parse({ ...TWO, VIPKEEPER_INSTANCE_DB_PRIORITY: '5' }).warnings;
    expect(w.map((x) => x.variable)).toEqual(['VIPKEEPER_INSTANCE_DB_PRIORITY']);
  });

  it('names are case-insensitive: WEB reads VIPKEEPER_INSTANCE_WEB_*', () => {
    expect(parse({ ...TWO, VIPKEEPER_INSTANCES: 'WEB,Api' }).config.instances.map((i) => i.name)).toEqual(['web', 'api']);
  });
});

describe('instances: IPv4 and IPv6 VIPs in one instance', () => {
  it('an IPv6 VIP is accepted with VRRP version 3 and written canonically', () => {
    const { config } = parse({ ...TWO, VIPKEEPER_VRRP_VERSION: '3', VIPKEEPER_INSTANCE_WEB_VIRTUAL_IPS: '198.18.0.10/24,FD00:0:0::0010/64' });
    expect(config.instances[0]!.virtualIps).toEqual([{ address: '198.18.0.10', prefix: 24 }, { address: 'fd00::10', prefix: 64 }]);
  });
});

describe('instances: bad input is refused at start, each problem named (exit 2)', () => {
  it.each<[string, Env, [string, RegExp][]]>([
    ['the same VIP in two instances', { ...TWO, VIPKEEPER_INSTANCE_API_VIRTUAL_IPS: '198.18.0.20/24 198.18.0.10/24' },
      [['VIPKEEPER_INSTANCE_API_VIRTUAL_IPS', /198\.18\.0\.10 is already a VIP of instance web/]]],
    ['the same IPv6 VIP spelled two ways', { ...TWO, VIPKEEPER_VRRP_VERSION: '3', VIPKEEPER_INSTANCE_WEB_VIRTUAL_IPS: '198.18.0.10/24 fd00::10/64', VIPKEEPER_INSTANCE_API_VIRTUAL_IPS: '198.18.0.20/24 fd00:0::0:10/64' },
      [['VIPKEEPER_INSTANCE_API_VIRTUAL_IPS', /fd00::10 is already a VIP of instance web/]]],
    ['a router id used twice', { ...TWO, VIPKEEPER_INSTANCE_API_VIRTUAL_ROUTER_ID: '61' },
      [['VIPKEEPER_INSTANCE_API_VIRTUAL_ROUTER_ID', /61 is already instance web's/]]],
    ['a router id inherited by two instances', { ...TWO, VIPKEEPER_INSTANCE_WEB_VIRTUAL_ROUTER_ID: '', VIPKEEPER_INSTANCE_API_VIRTUAL_ROUTER_ID: '' },
      [['VIPKEEPER_VIRTUAL_ROUTER_ID', /51 is already instance web's/]]],
    ['IPv6 VIPs with VRRP version 2', { ...TWO, VIPKEEPER_INSTANCE_WEB_VIRTUAL_IPS: '198.18.0.10/24 fd00::10/64' },
      [['VIPKEEPER_INSTANCE_WEB_VIRTUAL_IPS', /IPv6 addresses \(fd00::10\) need VIPKEEPER_VRRP_VERSION=3/]]],
    ['IPv6 VIPs with version 2 in the one-instance case', { VIPKEEPER_VIRTUAL_IPS: '198.18.0.10/24 fd00::10/64' },
      [['VIPKEEPER_VIRTUAL_IPS', /need VIPKEEPER_VRRP_VERSION=3/]]],
    ['an instance name that is not a safe word', { ...TWO, VIPKEEPER_INSTANCES: 'web,api,../x' },
      [['VIPKEEPER_INSTANCES', /"\.\.\/x" is not an instance name/]]],
    ['an instance name with an underscore (it would blur the variable names)', { ...TWO, VIPKEEPER_INSTANCES: 'web,api,my_db' },
      [['VIPKEEPER_INSTANCES', /"my_db" is not an instance name/]]],
    ['an instance named twice', { ...TWO, VIPKEEPER_INSTANCES: 'web,api,WEB' },
      [['VIPKEEPER_INSTANCES', /names web twice/]]],
    ['an instance without VIPs', { ...TWO, VIPKEEPER_INSTANCES: 'web,api,db' },
      [['VIPKEEPER_INSTANCE_DB_VIRTUAL_IPS', /instance db has no VIPs/]]],
    ['a link-local IPv6 VIP', { ...TWO, VIPKEEPER_VRRP_VERSION: '3', VIPKEEPER_INSTANCE_WEB_VIRTUAL_IPS: 'fe80::1/64' },
      [['VIPKEEPER_INSTANCE_WEB_VIRTUAL_IPS', /link-local/]]],
    ['an instance variable breaking the global rule', { ...TWO, VIPKEEPER_INSTANCE_API_PRIORITY: '255' },
      [['VIPKEEPER_INSTANCE_API_PRIORITY', /from 1 to 254/]]],
    ['MASTER with nopreempt in one instance', { ...TWO, VIPKEEPER_INSTANCE_WEB_STATE: 'master' },
      [['VIPKEEPER_INSTANCE_WEB_STATE', /MASTER contradicts nopreempt/]]],
    ['an instance interface that does not exist', { ...TWO, VIPKEEPER_INSTANCE_WEB_INTERFACE: 'eth9' },
      [['VIPKEEPER_INSTANCE_WEB_INTERFACE', /no interface eth9/]]],
  ])('%s', (_what, env, expected) => {
    const problems = problemsOf(env);
    for (const [variable, rule] of expected) {
      expect(problems.filter(([v, r]) => v === variable && rule.test(r!)), JSON.stringify(problems)).toHaveLength(1);
    }
    expect(problems).toHaveLength(expected.length);
  });

  it('several problems at once are all named', () => {
    const problems = problemsOf({ ...TWO, VIPKEEPER_INSTANCE_API_VIRTUAL_ROUTER_ID: '61', VIPKEEPER_INSTANCE_API_VIRTUAL_IPS: '198.18.0.10/24', VIPKEEPER_INSTANCES: 'web,api,x' });
    expect(problems.map(([v]) => v).sort()).toEqual(['VIPKEEPER_INSTANCES', 'VIPKEEPER_INSTANCE_API_VIRTUAL_IPS', 'VIPKEEPER_INSTANCE_API_VIRTUAL_ROUTER_ID']);
  });
});

describe('instances: VIPKEEPER_INSTANCE_<NAME>_AUTH_PASS_FILE, as VIPKEEPER_AUTH_PASS_FILE', () => {
  const WEB_FILE = '/run/secrets/web';
  const API_FILE = '/run/secrets/api';
  const GLOBAL_FILE = '/run/secrets/vrrp';
  type Reads = Record<string, AuthPassFileRead>;
  const withFiles = (env: Env, reads: Reads) => parseEnvironment({ ...TWO, ...env }, FACTS, (path) => reads[path]);
  const passwords = (env: Env, reads: Reads) => withFiles(env, reads).config.instances.map((i) => [i.name, i.authPass?.reveal() ?? null]);

  it.each<[string, Env, Reads, [string, string | null][]]>([
    ['one instance from its file, the other without a password', { VIPKEEPER_INSTANCE_WEB_AUTH_PASS_FILE: WEB_FILE }, { [WEB_FILE]: { content: 'web-pw\n' } },
      [['web', 'web-pw'], ['api', null]]],
    ['each from its own file (CRLF, no newline)', { VIPKEEPER_INSTANCE_WEB_AUTH_PASS_FILE: WEB_FILE, VIPKEEPER_INSTANCE_API_AUTH_PASS_FILE: API_FILE },
      { [WEB_FILE]: { content: 'web-pw\r\n' }, [API_FILE]: { content: 'api-pw' } }, [['web', 'web-pw'], ['api', 'api-pw']]],
    ['an instance without its own takes the global inline password', { VIPKEEPER_AUTH_PASS: 'glob-pw', VIPKEEPER_INSTANCE_WEB_AUTH_PASS_FILE: WEB_FILE },
      { [WEB_FILE]: { content: 'web-pw\n' } }, [['web', 'web-pw'], ['api', 'glob-pw']]],
    ['an instance without its own takes the global file\'s password', { VIPKEEPER_AUTH_PASS_FILE: GLOBAL_FILE, VIPKEEPER_INSTANCE_API_AUTH_PASS_FILE: API_FILE },
      { [GLOBAL_FILE]: { content: 'glob-pw\n' }, [API_FILE]: { content: 'api-pw\n' } }, [['web', 'glob-pw'], ['api', 'api-pw']]],
    ['an instance file beside the global file: the instance\'s wins', { VIPKEEPER_AUTH_PASS_FILE: GLOBAL_FILE, VIPKEEPER_INSTANCE_WEB_AUTH_PASS_FILE: WEB_FILE },
      { [GLOBAL_FILE]: { content: 'glob-pw' }, [WEB_FILE]: { content: 'web-pw' } }, [['web', 'web-pw'], ['api', 'glob-pw']]],
    ['two instances naming one file', { VIPKEEPER_INSTANCE_WEB_AUTH_PASS_FILE: WEB_FILE, VIPKEEPER_INSTANCE_API_AUTH_PASS_FILE: ` ${WEB_FILE} ` },
      { [WEB_FILE]: { content: 'same-pw\n' } }, [['web', 'same-pw'], ['api', 'same-pw']]],
    ['an empty instance AUTH_PASS beside its file', { VIPKEEPER_INSTANCE_WEB_AUTH_PASS: '', VIPKEEPER_INSTANCE_WEB_AUTH_PASS_FILE: WEB_FILE },
      { [WEB_FILE]: { content: 'web-pw' } }, [['web', 'web-pw'], ['api', null]]],
    ['12 characters: cut to 8', { VIPKEEPER_INSTANCE_WEB_AUTH_PASS_FILE: WEB_FILE }, { [WEB_FILE]: { content: '123456789012\n' } }, [['web', '12345678'], ['api', null]]],
  ])('%s', (_what, env, reads, expected) => {
    expect(passwords(env, reads)).toEqual(expected);
  });

  it('a cut password is a warning naming the instance file variable; the file variable is not "unknown"', () => {
    const { warnings } = withFiles({ VIPKEEPER_INSTANCE_WEB_AUTH_PASS_FILE: WEB_FILE }, { [WEB_FILE]: { content: '123456789012\n' } });
    expect(warnings).toEqual([{ variable: 'VIPKEEPER_INSTANCE_WEB_AUTH_PASS_FILE', message: expect.stringContaining('has 12 characters; only the first 8 are used') }]);
  });

  it.each<[string, Env, Reads, [string, RegExp][]]>([
    ['its AUTH_PASS and AUTH_PASS_FILE together', { VIPKEEPER_INSTANCE_WEB_AUTH_PASS: 'pw-1', VIPKEEPER_INSTANCE_WEB_AUTH_PASS_FILE: WEB_FILE },
      { [WEB_FILE]: { content: 'web-pw' } }, [['VIPKEEPER_INSTANCE_WEB_AUTH_PASS_FILE', /set either VIPKEEPER_INSTANCE_WEB_AUTH_PASS or VIPKEEPER_INSTANCE_WEB_AUTH_PASS_FILE, not both/]]],
    ['the file cannot be read', { VIPKEEPER_INSTANCE_API_AUTH_PASS_FILE: API_FILE }, { [API_FILE]: { error: 'EACCES' } },
      [['VIPKEEPER_INSTANCE_API_AUTH_PASS_FILE', /cannot read the file: EACCES/]]],
    ['the file was not read by the caller', { VIPKEEPER_INSTANCE_API_AUTH_PASS_FILE: API_FILE }, {},
      [['VIPKEEPER_INSTANCE_API_AUTH_PASS_FILE', /the file was not read/]]],
    ['the file holds an invalid password', { VIPKEEPER_INSTANCE_WEB_AUTH_PASS_FILE: WEB_FILE }, { [WEB_FILE]: { content: 'two words\n' } },
      [['VIPKEEPER_INSTANCE_WEB_AUTH_PASS_FILE', /the password in the file must be 1-64 characters/]]],
    ['the file is empty', { VIPKEEPER_INSTANCE_WEB_AUTH_PASS_FILE: WEB_FILE }, { [WEB_FILE]: { content: '\n' } },
      [['VIPKEEPER_INSTANCE_WEB_AUTH_PASS_FILE', /the password in the file must be 1-64 characters/]]],
    ['a relative path', { VIPKEEPER_INSTANCE_WEB_AUTH_PASS_FILE: 'run/secrets/web' }, {},
      [['VIPKEEPER_INSTANCE_WEB_AUTH_PASS_FILE', /must be an absolute path/]]],
    ['with VRRP version 3', { VIPKEEPER_VRRP_VERSION: '3', VIPKEEPER_INSTANCE_WEB_AUTH_PASS_FILE: WEB_FILE }, { [WEB_FILE]: { content: 'web-pw' } },
      [['VIPKEEPER_INSTANCE_WEB_AUTH_PASS_FILE', /VRRP version 3 has no authentication/]]],
    ['both instances unreadable: each named', { VIPKEEPER_INSTANCE_WEB_AUTH_PASS_FILE: WEB_FILE, VIPKEEPER_INSTANCE_API_AUTH_PASS_FILE: API_FILE },
      { [WEB_FILE]: { error: 'ENOENT' }, [API_FILE]: { error: 'ENOENT' } },
      [['VIPKEEPER_INSTANCE_WEB_AUTH_PASS_FILE', /ENOENT/], ['VIPKEEPER_INSTANCE_API_AUTH_PASS_FILE', /ENOENT/]]],
  ])('%s: exit 2 naming the variable', (_what, env, reads, expected) => {
    const problems = configError(() => withFiles(env, reads)).problems.map((p) => [p.variable, p.rule]);
    for (const [variable, rule] of expected) {
      expect(problems.filter(([v, r]) => v === variable && rule.test(r!)), JSON.stringify(problems)).toHaveLength(1);
    }
    expect(problems).toHaveLength(expected.length);
  });

  const SECRET = 'Zq7-Secret-Value';
  it.each<[string, Env, Reads]>([
    ['a file password breaking the rule', { VIPKEEPER_INSTANCE_WEB_AUTH_PASS_FILE: WEB_FILE }, { [WEB_FILE]: { content: `${SECRET} x\n` } }],
    ['a file password with version 3', { VIPKEEPER_VRRP_VERSION: '3', VIPKEEPER_INSTANCE_WEB_AUTH_PASS_FILE: WEB_FILE }, { [WEB_FILE]: { content: SECRET } }],
    ['a file beside the inline one', { VIPKEEPER_INSTANCE_WEB_AUTH_PASS: SECRET, VIPKEEPER_INSTANCE_WEB_AUTH_PASS_FILE: WEB_FILE }, { [WEB_FILE]: { content: SECRET } }],
  ])('the secret never appears in the ConfigError: %s', (_what, env, reads) => {
    const err = configError(() => withFiles(env, reads));
    for (const text of [err.message, String(err), err.stack ?? '', JSON.stringify(err), inspect(err, { depth: 10 })]) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(SECRET.slice(0, 8));
    }
  });

  it('the secret never appears when the parsed config or its warnings are printed', () => {
    const { config, warnings } = withFiles({ VIPKEEPER_INSTANCE_WEB_AUTH_PASS_FILE: WEB_FILE }, { [WEB_FILE]: { content: `${SECRET}\n` } });
    expect(config.instances[0]!.authPass?.reveal()).toBe(SECRET.slice(0, 8));
    for (const text of [JSON.stringify(config), inspect(config, { depth: 10, showHidden: true }), JSON.stringify(warnings)]) {
      expect(text).not.toContain(SECRET.slice(0, 8));
    }
  });
});

describe('passFilePaths: the password files the edge reads and follows', () => {
  it.each<[string, Env, string[]]>([
    ['none', {}, []],
    ['the global one, trimmed', { VIPKEEPER_AUTH_PASS_FILE: ' /run/secrets/vrrp ' }, ['/run/secrets/vrrp']],
    ['the global one and each named instance\'s, each path once', {
      VIPKEEPER_INSTANCES: 'WEB api', VIPKEEPER_AUTH_PASS_FILE: '/s/vrrp', VIPKEEPER_INSTANCE_WEB_AUTH_PASS_FILE: '/s/web', VIPKEEPER_INSTANCE_API_AUTH_PASS_FILE: '/s/vrrp',
    }, ['/s/vrrp', '/s/web']],
    ['not an instance that is not named', { VIPKEEPER_INSTANCES: 'web', VIPKEEPER_INSTANCE_DB_AUTH_PASS_FILE: '/s/db' }, []],
    ['an empty one is none', { VIPKEEPER_INSTANCES: 'web', VIPKEEPER_INSTANCE_WEB_AUTH_PASS_FILE: ' ' }, []],
  ])('%s', (_what, env, expected) => {
    expect(passFilePaths(env)).toEqual(expected);
  });
});
