import { describe, expect, it } from 'vitest';
import { instanceLines, type MaintenanceEdges, maintenanceCommand, report, reportMaintenance, type TargetFigures, type WaitStatus, type WaitTarget, waitReport, waitTargets } from '../../src/cli/change-commands.js';
import { toYaml } from '../../src/operate/format.js';
import type { ControlAnswer } from '../../src/control/control-types.js';

// disable, enable and maintenance print the agent's answer as asked: its one-line message by
// default, the whole answer with --json or --yaml; a "no" also goes to stderr, and the outcome
// (ok, no, usage) is what main.ts maps to the exit code.

function run(answer: ControlAnswer, format: 'table' | 'json' | 'yaml', extra?: Record<string, unknown>) {
  const out: string[] = [];
  const err: string[] = [];
  const outcome = report(answer, { format }, (s) => out.push(s), (s) => err.push(s), extra);
  return { outcome, out, err };
}

const disabled: ControlAnswer = { ok: true, message: 'disabled be_apps/web-1 (maintenance)', data: { server: 'be_apps/web-1', admin: 'maint' } };
const refused: ControlAnswer = { ok: false, message: 'no peer is seen: refused (use --force)' };
const unknown: ControlAnswer = { ok: false, bad: true, message: 'no container or server "nope"' };

describe('change commands print the answer as asked', () => {
  it.each([
    ['an ok answer, table: the message on stdout', disabled, 'table', 'ok', ['disabled be_apps/web-1 (maintenance)'], []],
    ['a no, table: the message on stderr only', refused, 'table', 'no', [], ['no peer is seen: refused (use --force)']],
    ['a bad request is usage (exit 2)', unknown, 'table', 'usage', [], ['no container or server "nope"']],
  ] as const)('%s', (_what, answer, format, outcome, out, err) => {
    const r = run(answer, format);
    expect(r.outcome).toBe(outcome);
    expect(r.out).toEqual(out);
    expect(r.err).toEqual(err);
  });

  it('--json prints the whole answer with its data and what --wait measured', () => {
    const r = run(disabled, 'json', { wait: { vipLeftMs: 12 } });
    expect(JSON.parse(r.out[0]!)).toEqual({ ok: true, message: disabled.message, server: 'be_apps/web-1', admin: 'maint', wait: { vipLeftMs: 12 } });
  });

  it('--yaml prints the same answer as YAML, and a no still reaches stderr', () => {
    const r = run(refused, 'yaml');
    expect(r.outcome).toBe('no');
    expect(r.out).toEqual([toYaml({ ok: false, message: refused.message }).trimEnd()]);
    expect(r.out[0]).toBe('ok: false\nmessage: "no peer is seen: refused (use --force)"');
    expect(r.err).toEqual([refused.message]);
  });
});

describe('maintenance on with several VRRP instances', () => {
  const instances = [
    { name: 'web', wasState: 'MASTER', peer: { address: '198.18.0.12', priority: 100 }, handoverMs: 300 },
    { name: 'api', wasState: 'BACKUP', peer: { address: '198.18.0.13', priority: 120 }, handoverMs: 0 },
    { name: 'db', wasState: 'MASTER', peer: null, handoverMs: null },
  ];

  it.each([
    ['one instance (no data.instances): no lines', undefined, []],
    ['one instance listed: no lines', { instances: instances.slice(0, 1) }, []],
    [
      'several: a line each, names aligned',
      { instances },
      [
        '  web  was MASTER  198.18.0.12 (priority 100) holds its VIPs, 300 ms after this node stepped back',
        '  api  was BACKUP  198.18.0.13 (priority 120) holds its VIPs',
        '  db   was MASTER  no peer seen',
      ],
    ],
  ] as const)('%s', (_what, data, lines) => {
    expect(instanceLines(data as Record<string, unknown> | undefined)).toEqual(lines);
  });

  it('the table output puts them under the message (stdout when ok, stderr when refused); JSON keeps the answer as it is', () => {
    const ok: ControlAnswer = { ok: true, message: 'maintenance on: every instance handed over', data: { instances: instances.slice(0, 2) } };
    const out: string[] = [];
    expect(reportMaintenance(ok, { format: 'table' }, (s) => out.push(s), () => undefined)).toBe('ok');
    expect(out[0]!.split('\n')).toEqual(['maintenance on: every instance handed over', ...instanceLines(ok.data)]);

    const no: ControlAnswer = { ok: false, message: 'no other node advertised for instance db', data: { instances } };
    const err: string[] = [];
    expect(reportMaintenance(no, { format: 'table' }, () => undefined, (s) => err.push(s))).toBe('no');
    expect(err[0]!.split('\n')).toHaveLength(4);

    const json: string[] = [];
    reportMaintenance(ok, { format: 'json' }, (s) => json.push(s), () => undefined);
    expect(JSON.parse(json[0]!)).toMatchObject({ message: ok.message, instances: ok.data!.instances });
  });
});

describe('maintenance on --wait: the instances it waits for (waitTargets)', () => {
  const node = { interface: 'eth1', vips: ['198.18.0.10/24', '198.18.0.20/24'], frontendPort: 80 };
  const inst = (name: string, vips: string[], iface = 'eth1') => ({ name, interface: iface, vips });
  const TWO = { node, instances: [inst('web', ['2001:db8::10/64', '198.18.0.10/24']), inst('api', ['198.18.0.20/24'], 'eth2')] };
  const shape = (t: ReturnType<typeof waitTargets>) => (typeof t === 'string' ? t : t.map((x) => [x.name, x.interface, x.vips.map((v) => `${v.address}/${v.prefix}`), x.url.href]));

  it.each<[string, WaitStatus, string[], unknown]>([
    ['an agent before instances: the node\'s VIPs, the first probed', { node }, [],
      [[null, 'eth1', ['198.18.0.10/24', '198.18.0.20/24'], 'http://198.18.0.10/']]],
    ['one instance: as before, named', { node, instances: [inst('default', node.vips)] }, [],
      [['default', 'eth1', ['198.18.0.10/24', '198.18.0.20/24'], 'http://198.18.0.10/']]],
    ['two instances: each, at its first IPv4 VIP, on its interface', TWO, [],
      [['web', 'eth1', ['2001:db8::10/64', '198.18.0.10/24'], 'http://198.18.0.10/'], ['api', 'eth2', ['198.18.0.20/24'], 'http://198.18.0.20/']]],
    ['an instance of IPv6 VIPs only: bracketed', { node, instances: [inst('six', ['2001:db8::10/64']), inst('api', ['198.18.0.20/24'])] }, [],
      [['six', 'eth1', ['2001:db8::10/64'], 'http://[2001:db8::10]/'], ['api', 'eth1', ['198.18.0.20/24'], 'http://198.18.0.20/']]],
    ['--probe URL: the first instance\'s', TWO, ['http://web.example:8080/health'],
      [['web', 'eth1', ['2001:db8::10/64', '198.18.0.10/24'], 'http://web.example:8080/health'], ['api', 'eth2', ['198.18.0.20/24'], 'http://198.18.0.20/']]],
    ['--probe NAME=URL, any case; a query with = stays in the URL', TWO, ['API=http://api.example/?a=b'],
      [['web', 'eth1', ['2001:db8::10/64', '198.18.0.10/24'], 'http://198.18.0.10/'], ['api', 'eth2', ['198.18.0.20/24'], 'http://api.example/?a=b']]],
    ['--probe for an instance that is not there', TWO, ['db=http://db.example/'], '--probe "db=http://db.example/": no VRRP instance db on this node (it has: web, api)'],
    ['two URLs for one instance', TWO, ['http://a.example/', 'web=http://b.example/'], '--probe: two URLs for instance web'],
    ['not a URL', TWO, ['web=nope'], '--probe "web=nope": not a URL'],
  ])('%s', (_what, status, probes, expected) => {
    expect(shape(waitTargets(status, probes))).toEqual(expected);
  });
});

describe('maintenance on --wait: the report (waitReport)', () => {
  const target = (name: string | null, url: string) => ({ name, interface: 'eth1', vips: [], url: new URL(url) });
  const answered = (left: number, at: number, failed: number, probes: number) => ({ vipLeftMs: left, answeredAgainMs: at, failed, probes });
  const silent = (probes: number) => ({ vipLeftMs: 300, answeredAgainMs: null, failed: probes, probes });

  it.each<[string, WaitTarget[], TargetFigures[], { ok: boolean; lines: string[]; headline: string | null }]>([
    ['one instance answered: the line it always printed', [target(null, 'http://198.18.0.10/')], [answered(300, 740, 2, 13)],
      { ok: true, lines: ['a peer answers through the VIP 0.74 s after the command; 2 of 13 requests failed meanwhile'], headline: null }],
    ['one instance silent: no, as always', [target(null, 'http://198.18.0.10/')], [silent(40)],
      { ok: false, lines: [], headline: 'but nothing answered through the VIP within 30 s (40 of 40 requests failed)' }],
    ['two instances answered: a line each, naming it and its address', [target('web', 'http://198.18.0.10/'), target('api', 'http://198.18.0.20:8080/')], [answered(300, 740, 2, 13), answered(0, 120, 0, 3)],
      { ok: true, lines: [
        'web: a peer answers through 198.18.0.10 0.74 s after the command; 2 of 13 requests failed meanwhile',
        'api: a peer answers through 198.18.0.20:8080 0.12 s after the command; 0 of 3 requests failed meanwhile',
      ], headline: null }],
    ['one of three silent: no, naming it', [target('web', 'http://198.18.0.10/'), target('api', 'http://198.18.0.20/'), target('db', 'http://198.18.0.30/')], [answered(300, 740, 2, 13), silent(40), answered(0, 50, 0, 1)],
      { ok: false, lines: [
        'web: a peer answers through 198.18.0.10 0.74 s after the command; 2 of 13 requests failed meanwhile',
        'api: nothing answered through 198.18.0.20 within 30 s (40 of 40 requests failed)',
        'db:  a peer answers through 198.18.0.30 0.05 s after the command; 0 of 1 requests failed meanwhile',
      ], headline: 'but nothing answered through the VIPs of instance api within 30 s' }],
  ])('%s', (_what, targets, figures, expected) => {
    expect(waitReport(targets, figures, 30_000)).toMatchObject(expected);
  });

  it('the JSON figures: the slowest instance\'s times, the probes summed, each instance under instances', () => {
    const targets = [target('web', 'http://198.18.0.10/'), target('api', 'http://198.18.0.20/')];
    expect(waitReport(targets, [answered(300, 740, 2, 13), answered(400, 600, 1, 9)], 30_000).wait).toEqual({
      vipLeftMs: 400, answeredAgainMs: 740, failed: 3, probes: 22,
      instances: [
        { name: 'web', url: 'http://198.18.0.10/', vipLeftMs: 300, answeredAgainMs: 740, failed: 2, probes: 13 },
        { name: 'api', url: 'http://198.18.0.20/', vipLeftMs: 400, answeredAgainMs: 600, failed: 1, probes: 9 },
      ],
    });
    expect(waitReport(targets, [answered(300, 740, 2, 13), silent(5)], 30_000).wait).toMatchObject({ answeredAgainMs: null });
    expect(waitReport(targets.slice(0, 1), [answered(300, 740, 2, 13)], 30_000).wait).toEqual({ vipLeftMs: 300, answeredAgainMs: 740, failed: 2, probes: 13 });
  });
});

describe('maintenance on --wait with several instances, through injected edges', () => {
  // Virtual time: each sleep moves the clock. Each instance's VIPs leave this node at `leaves`
  // ms, and a peer answers its URL from `answers` ms on (never: null); a probe every 50 ms takes 5 ms.
  function rig(plan: Record<string, { leaves: number; answers: number | null }>, answer: ControlAnswer = { ok: true, message: 'maintenance on: every instance handed over' }) {
    let now = 1_000_000;
    const t0 = now;
    const byAddress = new Map(Object.entries(plan).map(([address, p]) => [address, p]));
    const posted: unknown[] = [];
    const edges: MaintenanceEdges = {
      fetchStatus: async () => ({
        node: { interface: 'eth1', vips: Object.keys(plan).map((a) => `${a}/24`), frontendPort: 80 },
        instances: Object.keys(plan).map((a, i) => ({ name: ['web', 'api', 'db'][i]!, interface: 'eth1', vips: [`${a}/24`] })),
      }),
      postControl: async (_c, path, body) => (posted.push([path, body]), answer),
      vipsPresent: async (_iface, vips) => vips.filter((v) => now - t0 < byAddress.get(v.address)!.leaves),
      prober: (url) => {
        const p = byAddress.get(url.hostname)!;
        let startedAt: number | null = null;
        return {
          start: () => void (startedAt = now),
          stop: async () => undefined,
          get records() {
            const out = [];
            for (let s = startedAt ?? now; s + 5 <= now; s += 50) out.push({ start: s, end: s + 5, ok: p.answers !== null && s - t0 >= p.answers });
            return out;
          },
        };
      },
      now: () => now,
      sleep: async (ms) => void (now += ms),
    };
    return { edges, posted };
  }
  const run = async (r: ReturnType<typeof rig>, format: 'table' | 'json' = 'table', timeoutMs = 5000) => {
    const out: string[] = [];
    const err: string[] = [];
    const o = { on: true, force: false, reason: null, wait: true, addr: '127.0.0.1:9321', control: '/run/vk/control.sock', timeoutMs, format } as const;
    const outcome = await maintenanceCommand(o, (s) => out.push(s), (s) => err.push(s), r.edges);
    return { outcome, out, err };
  };

  it('waits for every instance, not only the first, and names each', async () => {
    const r = rig({ '198.18.0.10': { leaves: 300, answers: 600 }, '198.18.0.20': { leaves: 400, answers: 2000 } });
    const { outcome, out } = await run(r);
    expect(outcome).toBe('ok');
    const lines = out[0]!.split('\n');
    expect(lines[0]).toBe('maintenance on: every instance handed over');
    expect(lines[1]).toMatch(/^web: a peer answers through 198\.18\.0\.10 0\.\d\d s after the command; \d+ of \d+ requests failed meanwhile$/);
    expect(lines[2]).toMatch(/^api: a peer answers through 198\.18\.0\.20 2\.\d\d s after the command; \d+ of \d+ requests failed meanwhile$/);
    expect(r.posted).toEqual([['/operator/maintenance', { on: true, force: false, reason: null }]]);
  });

  it('--json: each instance\'s figures; the slowest answer is the one in wait.answeredAgainMs', async () => {
    const { out } = await run(rig({ '198.18.0.10': { leaves: 300, answers: 600 }, '198.18.0.20': { leaves: 400, answers: 2000 } }), 'json');
    const wait = (JSON.parse(out[0]!) as { wait: { answeredAgainMs: number; instances: { name: string; answeredAgainMs: number; vipLeftMs: number }[] } }).wait;
    expect(wait.instances.map((i) => i.name)).toEqual(['web', 'api']);
    const [web, api] = wait.instances;
    expect(web!.vipLeftMs).toBeGreaterThanOrEqual(300);
    expect(api!.vipLeftMs).toBeGreaterThanOrEqual(400);
    expect(web!.answeredAgainMs).toBeGreaterThanOrEqual(600);
    expect(web!.answeredAgainMs).toBeLessThan(800);
    expect(api!.answeredAgainMs).toBeGreaterThanOrEqual(2000);
    expect(wait.answeredAgainMs).toBe(api!.answeredAgainMs);
  });

  it('one instance never answers from a peer: no (exit 1) after the timeout, naming it; the other is reported', async () => {
    const { outcome, err } = await run(rig({ '198.18.0.10': { leaves: 300, answers: 600 }, '198.18.0.20': { leaves: 400, answers: null } }), 'table', 3000);
    expect(outcome).toBe('no');
    const lines = err[0]!.split('\n');
    expect(lines[0]).toBe('maintenance on: every instance handed over; but nothing answered through the VIPs of instance api within 3 s');
    expect(lines[1]).toMatch(/^web: a peer answers through 198\.18\.0\.10/);
    expect(lines[2]).toMatch(/^api: nothing answered through 198\.18\.0\.20 within 3 s \(\d+ of \d+ requests failed\)$/);
  });

  it('an answer before the VIPs left this node (this node answered) does not count', async () => {
    // api's URL answers all along, but its VIPs stay here until 1500 ms: only a probe started after counts.
    const { outcome, out } = await run(rig({ '198.18.0.10': { leaves: 300, answers: 600 }, '198.18.0.20': { leaves: 1500, answers: 0 } }), 'json');
    expect(outcome).toBe('ok');
    const api = (JSON.parse(out[0]!) as { wait: { instances: { answeredAgainMs: number }[] } }).wait.instances[1]!;
    expect(api.answeredAgainMs).toBeGreaterThanOrEqual(1500);
  });

  it('a refused maintenance is printed as the agent said it, without waiting', async () => {
    const { outcome, err } = await run(rig({ '198.18.0.10': { leaves: 300, answers: 600 }, '198.18.0.20': { leaves: 400, answers: 600 } }, { ok: false, message: 'no other node advertised for instance api' }));
    expect(outcome).toBe('no');
    expect(err).toEqual(['no other node advertised for instance api']);
  });

  it('a --probe for an unknown instance is a usage error before anything changes', async () => {
    const r = rig({ '198.18.0.10': { leaves: 300, answers: 600 }, '198.18.0.20': { leaves: 400, answers: 600 } });
    const err: string[] = [];
    const o = { on: true, force: false, reason: null, wait: true, addr: 'x', control: 'y', timeoutMs: 1000, format: 'table', probes: ['db=http://db/'] } as const;
    expect(await maintenanceCommand(o, () => undefined, (s) => err.push(s), r.edges)).toBe('usage');
    expect(err[0]).toMatch(/no VRRP instance db on this node \(it has: web, api\)/);
    expect(r.posted).toEqual([]);
  });
});
