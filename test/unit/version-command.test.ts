import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { firstVersionLine, versionCommand, versionLines } from '../../src/cli/version-command.js';

// `vipkeeper --version` names this build and the haproxy and keepalived it would run, or says
// one is not found: an operator pastes it into a bug report.

const HAPROXY_V = 'HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/\nStatus: long-term supported branch\n';
const KEEPALIVED_V = 'Keepalived v2.2.7 (01/16,2022)\n\nCopyright(C) 2001-2022 Alexandre Cassen\n';

describe('vipkeeper --version', () => {
  it.each([
    ['both found', HAPROXY_V, KEEPALIVED_V, ['vipkeeper 1.2.3', 'haproxy: HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/', 'keepalived: Keepalived v2.2.7 (01/16,2022)']],
    ['neither installed', null, null, ['vipkeeper 1.2.3', 'haproxy: not found', 'keepalived: not found']],
    ['a tool that prints something else', 'command not found\n', '', ['vipkeeper 1.2.3', 'haproxy: not found', 'keepalived: not found']],
  ] as const)('%s', (_what, haproxy, keepalived, want) => {
    expect(versionLines('1.2.3', haproxy, keepalived)).toEqual(want);
  });

  it('finds the version line wherever the tool prints it', () => {
    expect(firstVersionLine('warning: x\nKeepalived v2.3.1 (11/05,2024)\n', /^Keepalived v/)).toBe('Keepalived v2.3.1 (11/05,2024)');
  });

  it("prints package.json's version and asks each tool for its own", async () => {
    const asked: string[] = [];
    const out: string[] = [];
    await versionCommand((s) => out.push(s), async (cmd, args) => {
      asked.push(`${cmd} ${args.join(' ')}`);
      return cmd === 'haproxy' ? HAPROXY_V : null;
    });
    const own = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
    expect(out).toEqual([`vipkeeper ${own}`, 'haproxy: HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/', 'keepalived: not found']);
    expect(asked.sort()).toEqual(['haproxy -v', 'keepalived --version']);
  });

  it('the built CLI answers --version with exit 0 (the real tools on this machine, when installed)', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['dist/main.js', '--version']);
    expect(stdout.split('\n')[0]).toMatch(/^vipkeeper \d+\.\d+\.\d+/);
    expect(stdout).toMatch(/^haproxy: /m);
    expect(stdout).toMatch(/^keepalived: /m);
  });
});
