import { describe, expect, it } from 'vitest';
import { STATUS_NODE } from './fixtures.js';
import { parseServerStats } from '../../src/haproxy/server-stats.js';
import { age, alarms, esc, renderFragment, renderPage, type PageSnapshot } from '../../src/status/page.js';

// The operator page is rendered from the snapshot by a pure function. Names
// come from containers and labels: nothing in them may become markup.

const NOW = Date.parse('2026-12-01T08:00:00.000Z');

function snap(over: Partial<PageSnapshot> = {}): PageSnapshot {
  return {
    node: STATUS_NODE,
    vrrp: {
      instance: 'vipkeeper_51',
      state: 'MASTER',
      since: '2026-12-01T07:59:00.000Z',
      transitions: [
        { state: 'BACKUP', priority: 100, at: '2026-12-01T07:58:00.000Z' },
        { state: 'MASTER', priority: 100, at: '2026-12-01T07:59:00.000Z' },
      ],
      transitionCounts: { MASTER: 1, BACKUP: 1 },
      vipsHeld: ['198.18.0.100/24'],
      consistent: true,
    },
    services: [
      {
        name: 'apps',
        backend: 'be_apps',
        mode: 'http',
        frontendPort: 80,
        hosts: ['app.example'],
        servers: [{ name: 'web-1', container: 'abc', containerName: 'web-1', address: '172.17.0.2:80', health: 'up', role: 'active', standby: false, weight: 100, sessions: 3, rate: 12 }],
      },
    ],
    lastPass: null,
    recentPasses: [
      { id: 1, at: '2026-12-01T07:58:00.000Z', triggers: ['start'], applied: 'start', added: ['web-1'], removed: [], updated: [], durationMs: 40, error: null },
      { id: 2, at: '2026-12-01T07:59:50.000Z', triggers: ['event die web-0'], applied: 'runtime-api', added: [], removed: ['web-0'], updated: [], durationMs: 3.5, error: null },
    ],
    passes: { byMethod: { start: 1, 'runtime-api': 1 }, secondsTotal: 0.04, failed: 0 },
    children: [{ name: 'haproxy', running: true, pid: 10, restarts: 0, lastExit: null, crashLoop: false, lastStartAt: '2026-12-01T07:58:00.000Z', healthySince: null }],
    docker: {
      endpoint: 'unix:///var/run/docker.sock',
      connected: true,
      lastEventAt: null,
      engines: [{ name: 'local', endpoint: 'unix:///var/run/docker.sock', mode: 'containers', state: 'up', since: '2026-12-01T07:58:00.000Z', lastEventAt: null, backends: 1, reason: null }],
    },
    drill: null,
    failing: [],
    health: { ok: true, reason: 'ok' },
    skipped: [],
    ...over,
  };
}

const HOSTILE = [
  ['a script tag', '<script>alert(1)</script>', '&lt;script&gt;alert(1)&lt;/script&gt;'],
  ['an attribute break-out', '" onmouseover="x', '&quot; onmouseover=&quot;x'],
  ['single quotes', "x' onload='y", 'x&#39; onload=&#39;y'],
  ['an entity', '&lt;b&gt;', '&amp;lt;b&amp;gt;'],
  ['control characters', 'a\u0000b\u001bc\u007f', 'a\\x00b\\x1bc\\x7f'],
  ['a line separator', 'a\u2028b', 'a\\x2028b'],
] as const;

describe('esc: any value -> text that is never markup', () => {
  it.each(HOSTILE)('%s', (_, raw, shown) => {
    expect(esc(raw)).toBe(shown);
  });
  it('null and numbers', () => {
    expect(esc(null)).toBe('');
    expect(esc(42)).toBe('42');
  });
});

describe('the page with hostile names from containers and labels', () => {
  it.each(HOSTILE)('%s in a container name, a server, a host, a skip reason and an engine error shows as text', (_, raw, shown) => {
    const s = snap({
      services: [
        {
          name: `svc${raw}`,
          backend: 'be_x',
          mode: 'http',
          frontendPort: 80,
          hosts: [raw],
          servers: [{ name: raw, container: 'abc', containerName: raw, address: raw, health: 'up', role: 'active', standby: false }],
        },
      ],
      skipped: [{ containerName: raw, container: 'def', reason: raw }],
      docker: { endpoint: 'x', connected: false, lastEventAt: null, engines: [{ name: raw, endpoint: raw, mode: 'containers', state: 'down', since: raw, lastEventAt: null, backends: 0, reason: raw }] },
    });
    const html = renderPage(s, NOW);
    expect(html).toContain(shown);
    expect(html).not.toContain(raw.length > 3 ? raw : '\u0000');
    // The only tags are ours: one script element, with a src, and no inline handler.
    expect(html.match(/<script/g)).toHaveLength(1);
    const attributeNames = (html.match(/<[a-z][^>]*>/gi) ?? []).map((tag) => tag.replace(/"[^"]*"/g, '""'));
    expect(attributeNames.filter((tag) => /\son[a-z]+=|'/i.test(tag))).toEqual([]);
    expect(html).not.toMatch(/<style|style=/);
  });
});

describe('what the page shows', () => {
  it('VRRP state, since when, priority, VIPs held and the transitions, newest first', () => {
    const html = renderFragment(snap(), NOW);
    expect(html).toMatch(/vipkeeper_51.*MASTER.*60 s ago.*100.*198\.18\.0\.100\/24/s);
    expect(html.indexOf('priority 100</span></li>')).toBeGreaterThan(0);
    const timeline = html.slice(html.indexOf('<ol class="timeline">'));
    expect(timeline.indexOf('MASTER')).toBeLessThan(timeline.indexOf('BACKUP'));
  });

  it('one row per VRRP instance when the snapshot lists instances', () => {
    const vrrp = snap().vrrp!;
    // As an agent with VIPKEEPER_INSTANCES sends them (the page reads only some of the fields).
    const settings = { interface: 'eth0', nopreempt: true, advertInt: 1 };
    const instances = [
      { name: 'web', keepalivedName: 'vipkeeper_web', vips: ['198.18.0.100/24'], virtualRouterId: 51, priority: 150, ...settings, vrrp },
      { name: 'db', keepalivedName: 'vipkeeper_db', vips: ['198.18.0.101/24'], virtualRouterId: 52, priority: 50, ...settings, vrrp: { ...vrrp, instance: 'vipkeeper_db', state: 'BACKUP' as const, vipsHeld: [] } },
    ];
    const html = renderFragment(snap({ instances }), NOW);
    expect(html).toMatch(/<td>web<\/td>.*MASTER.*<td>150<\/td>/s);
    expect(html).toMatch(/<td>db<\/td>.*BACKUP.*<td>50<\/td>/s);
  });

  it('every server with container, engine, address, health, admin state, weight, sessions and rate', () => {
    const html = renderFragment(snap(), NOW);
    expect(html).toContain('<h3>apps ');
    expect(html).toMatch(/web-1.*local.*172\.17\.0\.2:80.*up.*ready.*<td>100<\/td><td>3<\/td><td>12<\/td>/s);
  });

  it('the last passes newest first: trigger, how applied, what changed, how long', () => {
    const html = renderFragment(snap(), NOW);
    const passes = html.slice(html.indexOf('id="passes"'));
    expect(passes.indexOf('event die web-0')).toBeLessThan(passes.indexOf('>start<'));
    expect(passes).toMatch(/runtime-api.*−web-0.*3\.5 ms/s);
  });

  it('skipped containers with the reason', () => {
    const html = renderFragment(snap({ skipped: [{ containerName: 'bad-1', container: 'c0ffee', reason: 'vipkeeper.port is not a port' }] }), NOW);
    expect(html).toMatch(/Skipped containers \(1\).*bad-1.*vipkeeper\.port is not a port/s);
  });

  it('a drill in progress, naming its instance', () => {
    const html = renderFragment(snap({ drill: { mode: 'graceful', since: '2026-12-01T07:59:55.000Z', instance: 'web<1>' } }), NOW);
    expect(html).toContain('drill in progress: graceful of instance web&lt;1&gt; since');
  });

  it('no banner when all is well, only the health line', () => {
    expect(alarms(snap(), NOW)).toEqual([]);
    expect(renderFragment(snap(), NOW)).toContain('<div id="banner" class="banner ok">ok</div>');
  });
});

describe('the banner: what needs a human', () => {
  const base = snap();
  const cases: [string, Partial<PageSnapshot>, RegExp][] = [
    ['VIPs held while BACKUP: two holders possible', { vrrp: { ...base.vrrp!, state: 'BACKUP', consistent: false } }, /BACKUP but VIPs are on the interface.*two holders/],
    ['MASTER without its VIPs', { vrrp: { ...base.vrrp!, consistent: false, vipsHeld: [] } }, /MASTER but the VIPs are not all on the interface/],
    ['an engine down', { docker: { ...base.docker, engines: [{ ...base.docker.engines[0]!, state: 'down', reason: 'connect ECONNREFUSED' }] } }, /engine local .* is down: connect ECONNREFUSED/],
    ['a child in a crash loop', { children: [{ ...base.children[0]!, crashLoop: true, restarts: 6 }] }, /haproxy is in a crash loop \(6 restarts\)/],
    ['a child not running', { children: [{ ...base.children[0]!, running: false }] }, /haproxy is not running/],
    [
      'a failing retry',
      { failing: [{ what: 'reconcile pass', kind: 'transient', code: 'DOCKER_UNAVAILABLE', failures: 3, since: '2026-12-01T07:59:30.000Z', lastError: 'docker says no', nextTryAt: '' }] },
      /reconcile pass failing 3x since 30 s ago \[DOCKER_UNAVAILABLE\]: docker says no/,
    ],
    ['a certificate close to expiry', { certificates: [{ file: 'a.pem', state: 'ok', secondsLeft: 3 * 86400 + 3600 }] }, /certificate a\.pem expires in 3 d 1 h/],
    ['an expired certificate', { certificates: [{ file: 'a.pem', state: 'ok', secondsLeft: -5 }] }, /certificate a\.pem has expired/],
    ['unhealthy for another reason', { health: { ok: false, reason: 'starting: the initial state is not applied yet' } }, /unhealthy: starting/],
  ];
  it.each(cases)('%s', (_, over, want) => {
    const a = alarms(snap(over), NOW);
    expect(a.join('\n')).toMatch(want);
    expect(renderFragment(snap(over), NOW)).toContain('class="banner bad" role="alert"');
  });

  it('a certificate far from expiry and a child down during a drill need no one', () => {
    expect(alarms(snap({ certificates: [{ file: 'a.pem', state: 'ok', secondsLeft: 90 * 86400 }] }), NOW)).toEqual([]);
    expect(alarms(snap({ children: [{ ...base.children[0]!, running: false }], drill: { mode: 'haproxy', since: '2026-12-01T07:59:00.000Z' } }), NOW)).toEqual([]);
  });
});

describe('age', () => {
  it.each([
    [5_000, '5 s'],
    [300_000, '5 min'],
    [3 * 3600_000, '3 h'],
    [3 * 86400_000, '3 d'],
  ])('%i ms -> %s', (ms, want) => {
    expect(age(new Date(NOW - ms).toISOString(), NOW)).toBe(want);
  });
  it('unknown or unreadable -> empty', () => {
    expect(age(null, NOW)).toBe('');
    expect(age('yesterday', NOW)).toBe('');
  });
});

describe("HAProxy's show stat -> sessions and rate per server", () => {
  it('reads scur and rate by column name and leaves out FRONTEND, BACKEND and unreadable lines', () => {
    const csv = [
      '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate',
      'be_apps,BACKEND,0,0,5,5,,9,0,0,0,0,,0,0,0,0,UP,200,2,0,,0,10,0,,1,3,0,,9,,1,4',
      'be_apps,web-1,0,0,2,3,,5,0,0,,0,,0,0,0,0,UP,100,1,0,0,0,10,0,,1,3,1,,5,,2,3',
      'be_apps,web-2,0,0,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,',
      '',
    ].join('\n');
    expect(parseServerStats(csv)).toEqual([{ backend: 'be_apps', server: 'web-1', sessions: 2, rate: 3 }]);
  });
  it('an answer without the columns -> nothing', () => {
    expect(parseServerStats('Unknown command\n')).toEqual([]);
  });
});
