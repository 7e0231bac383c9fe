import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { checkSummary, checkTable, formatAnswer, formatTable, printable, showTable, toYaml, verifySummary, verifyTable, yamlString } from '../../src/operate/format.js';
import type { CheckAnswer, ShowAnswer, VerifyAnswer } from '../../src/operate/operate-types.js';

// The operator commands' output: tables for people, JSON and YAML for tools. The YAML is
// written by hand, so every string that YAML could read as anything else must be quoted.

/** Strings a container name, label value or reason could carry that YAML would misread. */
const HOSTILE: readonly [string, string][] = [
  ['true', '"true"'],
  ['No', '"No"'],
  ['off', '"off"'],
  ['y', '"y"'],
  ['null', '"null"'],
  ['~', '"~"'],
  ['', '""'],
  ['123', '"123"'],
  ['1e3', '"1e3"'],
  ['0x1F', '"0x1F"'],
  ['1:20', '"1:20"'],
  ['.inf', '".inf"'],
  ['a: b', '"a: b"'],
  ['key:', '"key:"'],
  ['- item', '"- item"'],
  ['#comment', '"#comment"'],
  ['x #y', '"x #y"'],
  ['[a, b]', '"[a, b]"'],
  ['{a: 1}', '"{a: 1}"'],
  ['&anchor', '"&anchor"'],
  ['*alias', '"*alias"'],
  ['!!python/object', '"!!python/object"'],
  ['|', '"|"'],
  ['>-', '">-"'],
  ['%YAML', '"%YAML"'],
  ['@at', '"@at"'],
  ['`tick', '"`tick"'],
  ["it's", '"it\'s"'],
  ['say "hi"', '"say \\"hi\\""'],
  ['back\\slash', '"back\\\\slash"'],
  ['two\nlines', '"two\\nlines"'],
  ['tab\there', '"tab\\there"'],
  ['cr\rhere', '"cr\\rhere"'],
  ['\u001b[31mred', '"\\x1B[31mred"'],
  ['nul\u0000', '"nul\\x00"'],
  ['del\u007f', '"del\\x7F"'],
  ['nel\u0085', '"nel\\x85"'],
  ['ls\u2028ps\u2029', '"ls\\u2028ps\\u2029"'],
  ['\ufeffbom', '"\\uFEFFbom"'],
  ['lone\ud800', '"lone\\uD800"'],
  [' lead', '" lead"'],
  ['trail ', '"trail "'],
  ['éclair', '"éclair"'],
  ['🐳', '"🐳"'],
  ['---', '"---"'],
  ['...', '"..."'],
  ['=', '"="'],
  ['<<', '"<<"'],
];

const PLAIN = ['web-1', 'be_apps/x', 'vkt.s1', 'balanced', 'maint', 'A'];

describe('yamlString', () => {
  it.each(HOSTILE)('quotes %j as %s', (value, quoted) => {
    expect(yamlString(value)).toBe(quoted);
  });

  it.each(PLAIN)('leaves %s plain', (value) => {
    expect(yamlString(value)).toBe(value);
  });
});

describe('toYaml', () => {
  it('writes nested objects and lists in block style, empty ones inline, null and booleans as such', () => {
    const doc = {
      services: [{ name: 'apps', frontend: { port: 80, hosts: [], path: null }, servers: [{ name: 'web-1', weight: 1, ok: true }, { name: 'x', weight: 0, ok: false }] }],
      matrix: [[1, 2], []],
      empty: {},
      skipped: undefined,
    };
    expect(toYaml(doc)).toBe(
      [
        'services:',
        '  - name: apps',
        '    frontend:',
        '      port: 80',
        '      hosts: []',
        '      path: null',
        '    servers:',
        '      - name: web-1',
        '        weight: 1',
        '        ok: true',
        '      - name: x',
        '        weight: 0',
        '        ok: false',
        'matrix:',
        '  - - 1',
        '    - 2',
        '  - []',
        'empty: {}',
        '',
      ].join('\n'),
    );
  });

  it('quotes hostile keys too', () => {
    expect(toYaml({ 'a: b': 1, true: 2, 'x\ny': 3 })).toBe('"a: b": 1\n"true": 2\n"x\\ny": 3\n');
  });

  it('writes numbers YAML 1.1 reads as numbers', () => {
    expect(toYaml([0, -3, 0.5, 1e-7, 1e21, Number.NaN, Infinity, -Infinity])).toBe('- 0\n- -3\n- 0.5\n- 1.0e-7\n- 1.0e+21\n- .nan\n- .inf\n- -.inf\n');
  });

  it('a scalar document is one line', () => {
    expect(toYaml('a: b')).toBe('"a: b"\n');
    expect(toYaml([])).toBe('[]\n');
  });

  // An independent reader: PyYAML (YAML 1.1, the strictest about plain words) must read back exactly the JSON value.
  const python = ['python3', '/usr/bin/python3'].find((p) => spawnSync(p, ['-c', 'import yaml'], { stdio: 'ignore' }).status === 0);
  it.skipIf(python === undefined)('PyYAML reads every hostile string and a whole answer back as the same data', () => {
    const docs: unknown[] = [
      HOSTILE.map(([v]) => v),
      Object.fromEntries(HOSTILE.map(([v], i) => [v, i])),
      { nested: [{ a: [{ b: HOSTILE.map(([v]) => ({ v })) }] }], n: [0, -3, 0.5, 1e-7, 1e21], t: true, f: false, z: null },
    ];
    const script = [
      'import json, sys, yaml',
      'pairs = json.load(sys.stdin)',
      'bad = [i for i, (y, j) in enumerate(pairs) if yaml.safe_load(y) != json.loads(j)]',
      'print(json.dumps(bad))',
    ].join('\n');
    const input = JSON.stringify(docs.map((d) => [toYaml(d), JSON.stringify(d)]));
    const r = spawnSync(python!, ['-c', script], { input, encoding: 'utf8', env: { ...process.env, PYTHONIOENCODING: 'utf-8:surrogatepass' } });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual([]);
  });
});

describe('tables', () => {
  it('pads columns to the widest cell and leaves the last unpadded', () => {
    expect(formatTable(['A', 'LONGER', 'LAST'], [['x', 'y', 'z'], ['wide cell', '', 'end']], '  ')).toEqual([
      '  A          LONGER  LAST',
      '  x          y       z',
      '  wide cell          end',
    ]);
  });

  it('shows control characters escaped, so a hostile name cannot fake a line or move the cursor', () => {
    expect(printable('a\nb\u001b[2J\u2028c')).toBe('a\\x0Ab\\x1B[2J\\u2028c');
    expect(formatTable(['NAME'], [['evil\nserver x']])).toEqual(['NAME', 'evil\\x0Aserver x']);
  });

  const show: ShowAnswer = {
    services: [
      {
        name: 'apps',
        backend: 'be_apps',
        mode: 'http',
        frontend: { port: 80, hosts: ['a.example'], path: null },
        balance: 'roundrobin',
        servers: [
          { name: 'web-1', container: { id: 'abcdef012345', name: 'web-1', engine: 'local' }, address: '127.0.0.1:32768', weight: 1, health: 'up', checked: true, admin: 'ready', adminSource: null, adminReason: null, role: 'active' },
          { name: 'x', container: null, address: '127.0.0.1:9', weight: 1, health: 'down', checked: true, admin: 'maint', adminSource: 'other', adminReason: 'not set by vipkeeper', role: 'active' },
        ],
      },
      { name: 'api', backend: 'be_api', mode: 'tcp', frontend: { port: 5432, hosts: [], path: null }, balance: 'leastconn', servers: [] },
    ],
  };

  it('show: one table per service, and why a server is drained or in maintenance', () => {
    expect(showTable(show)).toBe(
      [
        'apps: http on :80 (host a.example), balance roundrobin, backend be_apps',
        '  SERVER  CONTAINER             ENGINE  ADDRESS          WEIGHT  HEALTH  ADMIN  SET BY  ROLE',
        '  web-1   web-1 (abcdef012345)  local   127.0.0.1:32768  1       up      ready  -       active',
        '  x       (none)                -       127.0.0.1:9      1       down    maint  other   active',
        '  x: maint: not set by vipkeeper',
        '',
        'api: tcp on :5432, balance leastconn, backend be_api',
        '  (no servers)',
      ].join('\n'),
    );
    expect(showTable({ services: [] })).toBe('no services');
  });

  const check: CheckAnswer = {
    ok: false,
    engines: [{ name: 'local', ok: true, error: null }],
    results: [
      { query: 'web-1', ok: true, verdict: 'balanced', reason: 'balanced and up', container: { id: 'abcdef012345', name: 'web-1', engine: 'local' }, service: 'apps', server: 'be_apps/web-1', health: 'up', admin: 'ready', matches: [] },
      { query: 'nope', ok: false, verdict: 'unknown', reason: 'no container is named "nope"', container: null, service: null, server: null, health: null, admin: null, matches: [] },
    ],
  };

  it('check: one line per container asked about; the one-line summary names each one that is not balanced', () => {
    expect(checkTable(check)).toBe(
      [
        'CONTAINER  FOUND                 ENGINE  RESULT   SERVER         REASON',
        'web-1      web-1 (abcdef012345)  local   ok       be_apps/web-1  balanced and up',
        'nope       -                     -       unknown  -              no container is named "nope"',
      ].join('\n'),
    );
    expect(checkSummary(check)).toBe('1 of 2 not balanced and up: nope: no container is named "nope"');
  });

  const verify: VerifyAnswer = {
    ok: false,
    engines: [{ name: 'local', ok: true, error: null }],
    servers: 2,
    containers: 2,
    unbacked: [{ backend: 'be_apps', server: 'x', address: '127.0.0.1:9', admin: 'maint', container: null, reason: 'no container behind it' }],
    unserved: [{ container: { id: '0123456789ab', name: 'evil', engine: 'local' }, service: null, reason: 'not served: a label is rejected' }],
  };

  it('verify: the counts compared, then every server nothing backs and every container not served', () => {
    expect(verifyTable(verify)).toBe(
      [
        'compared 2 HAProxy servers with 2 labelled running containers on 1 engine (local answered)',
        '',
        '1 server with no running container behind it:',
        '  SERVER     ADDRESS      ADMIN  CONTAINER  REASON',
        '  be_apps/x  127.0.0.1:9  maint  -          no container behind it',
        '',
        '1 labelled running container not served:',
        '  CONTAINER            ENGINE  SERVICE  REASON',
        '  evil (0123456789ab)  local   -        not served: a label is rejected',
      ].join('\n'),
    );
    expect(verifySummary(verify)).toBe('HAProxy and the engines disagree: 1 server with no running container (be_apps/x), 1 labelled running container not served (evil)');
    expect(verifyTable({ ...verify, ok: true, unbacked: [], unserved: [] })).toMatch(/\nthey agree: every server has a running container behind it/);
  });

  it('--json and --yaml print the answer itself', () => {
    expect(JSON.parse(formatAnswer(check, 'json', checkTable))).toEqual(check);
    expect(formatAnswer(check, 'yaml', checkTable)).toBe(toYaml(check).slice(0, -1));
  });
});
