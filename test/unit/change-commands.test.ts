import { describe, expect, it } from 'vitest';
import { instanceLines, report, reportMaintenance } from '../../src/cli/change-commands.js';
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
