import { describe, expect, it } from 'vitest';
import { report } from '../../src/cli/change-commands.js';
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
