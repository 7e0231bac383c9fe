import { describe, expect, it } from 'vitest';
import { parseEnvironment } from '../../src/config/env.js';
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
