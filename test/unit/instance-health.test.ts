import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { InstanceHealthWatch } from '../../src/health/instance-health-watch.js';
import { judgeInstances, parseProxyStats, type ProxyStatus } from '../../src/health/instance-health.js';
import type { FrontendBind, Service } from '../../src/model/desired-state.js';
import { server, service } from './fixtures.js';

// Health per VRRP instance: only services bound to an instance (vipkeeper.vip)
// count for it; its frontends must be OPEN and its backends UP in HAProxy here.

const bind = (name: string, addresses: string[]): FrontendBind => ({ name, instances: [name], addresses });
const site = service([server('s1')], { name: 'site', frontendPort: 8080, bind: bind('web', ['198.18.0.10']) });
const api = service([server('a1')], { name: 'api', frontendPort: 8080, bind: bind('api', ['198.18.0.20']) });
const plain = service([server('p1')]);
const SERVICES: Service[] = [plain, site, api];

const fe = (proxy: string, status = 'OPEN'): ProxyStatus => ({ proxy, kind: 'frontend', status });
const be = (proxy: string, status = 'UP'): ProxyStatus => ({ proxy, kind: 'backend', status });
const ALL_WELL = [fe('fe_80'), fe('fe_8080_web'), fe('fe_8080_api'), be('be_apps'), be('be_site'), be('be_api')];

describe('judgeInstances', () => {
  it.each<[string, readonly ProxyStatus[], Record<string, string[]>]>([
    ['all well', ALL_WELL, { web: [], api: [] }],
    ["web's backend DOWN: web alone drops", ALL_WELL.map((r) => (r.proxy === 'be_site' ? be('be_site', 'DOWN') : r)), { web: ['service site has no healthy server on this node (backend DOWN)'], api: [] }],
    ["api's frontend missing from the running haproxy (a config not applied)", ALL_WELL.filter((r) => r.proxy !== 'fe_8080_api'), { web: [], api: ['frontend fe_8080_api does not listen here (not in the running haproxy)'] }],
    ["api's frontend STOP", ALL_WELL.map((r) => (r.proxy === 'fe_8080_api' ? fe('fe_8080_api', 'STOP') : r)), { web: [], api: ['frontend fe_8080_api does not listen here (STOP)'] }],
    ['a service on every address DOWN counts for no instance', ALL_WELL.map((r) => (r.proxy === 'be_apps' ? be('be_apps', 'DOWN') : r)), { web: [], api: [] }],
  ])('%s', (_, stats, expected) => {
    const verdicts = judgeInstances(['web', 'api', 'idle'], SERVICES, stats);
    expect(Object.fromEntries(verdicts.map((v) => [v.instance, v.problems]))).toEqual({ ...expected, idle: [] });
    expect(verdicts.map((v) => v.healthy)).toEqual(verdicts.map((v) => v.problems.length === 0));
  });

  it('an address bound to two instances counts for both', () => {
    const shared = service([server('x1')], { name: 'x', frontendPort: 9000, bind: { name: '198_18_0_30', instances: ['api', 'web'], addresses: ['198.18.0.30'] } });
    const v = judgeInstances(['web', 'api'], [shared], [fe('fe_9000_198_18_0_30'), be('be_x', 'DOWN')]);
    expect(v.map((x) => x.healthy)).toEqual([false, false]);
  });
});

describe('parseProxyStats', () => {
  it('reads frontend and backend rows of show stat, nothing else', () => {
    const csv = [
      '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight',
      'fe_8080_web,FRONTEND,,,0,0,262120,0,0,0,0,0,0,,,,,OPEN,',
      'be_site,s1,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,100',
      'be_site,BACKEND,0,0,0,0,26212,0,0,0,0,0,,0,0,0,0,DOWN,0',
      '',
    ].join('\n');
    expect(parseProxyStats(csv)).toEqual([
      { proxy: 'fe_8080_web', kind: 'frontend', status: 'OPEN' },
      { proxy: 'be_site', kind: 'backend', status: 'DOWN' },
    ]);
  });
  it('an answer without the header gives nothing', () => {
    expect(parseProxyStats('Unknown command\n')).toEqual([]);
  });
});

describe('InstanceHealthWatch', () => {
  const csvOf = (rows: ProxyStatus[]) =>
    ['# pxname,svname,status', ...rows.map((r) => `${r.proxy},${r.kind === 'frontend' ? 'FRONTEND' : 'BACKEND'},${r.status}`)].join('\n');

  function watch(answer: () => Promise<string>, services: Service[] | null = SERVICES) {
    const writes: [string, string][] = [];
    const w = new InstanceHealthWatch({
      instances: ['web', 'api'],
      services: () => services,
      ask: answer,
      write: async (i, v) => void writes.push([i, v]),
      log: pino({ level: 'silent' }),
    });
    return { w, writes };
  }

  it('writes each verdict once when healthy, and a drop again at every look', async () => {
    let rows = ALL_WELL;
    const { w, writes } = watch(async () => csvOf(rows));
    await w.check();
    await w.check();
    expect(writes).toEqual([['web', '0'], ['api', '0']]);
    rows = ALL_WELL.map((r) => (r.proxy === 'be_site' ? be('be_site', 'DOWN') : r));
    await w.check();
    await w.check();
    rows = ALL_WELL;
    await w.check();
    expect(writes.slice(2)).toEqual([['web', '1'], ['web', '1'], ['web', '0']]);
  });

  it('writes nothing when HAProxy does not answer, or before anything is applied', async () => {
    const down = watch(async () => Promise.reject(new Error('ECONNREFUSED')));
    await down.w.check();
    expect(down.writes).toEqual([]);
    const early = watch(async () => csvOf(ALL_WELL), null);
    await early.w.check();
    expect(early.writes).toEqual([]);
  });
});
