import { describe, expect, it } from 'vitest';
import { prettyLine } from '../../src/log.js';

describe('pretty log lines', () => {
  it.each([
    [
      'a pass',
      { level: 30, time: '2026-11-23T23:00:01.123Z', name: 'vipkeeper', msg: 'pass', pass: 3, applied: 'runtime-api', added: ['be_apps/web-1'] },
      '23:00:01.123 INFO  pass  pass=3 applied=runtime-api added=["be_apps/web-1"]',
    ],
    [
      'a warning with a quoted value',
      { level: 40, time: '2026-11-23T23:00:01.123Z', msg: 'skipped container x', label: 'vipkeeper.port', value: '"80 x"' },
      '23:00:01.123 WARN  skipped container x  label=vipkeeper.port value="\\"80 x\\""',
    ],
    ['no fields', { level: 50, time: '2026-11-23T23:00:01.123Z', msg: 'boom' }, '23:00:01.123 ERROR boom'],
  ])('%s', (_name, entry, expected) => {
    expect(prettyLine(JSON.stringify(entry))).toBe(expected);
  });

  it('passes a line that is not JSON through unchanged', () => {
    expect(prettyLine('plain text')).toBe('plain text');
  });
});
