import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';

// `vipkeeper --version`: this build's version and the haproxy and keepalived it would run
// (the first line each prints of its own version), or "not found". The tools are asked
// through an injected runner, so the formatting has a fast unit test.

/** Runs a command; resolves with what it printed (stdout and stderr) or null when it cannot run. */
export type RunTool = (cmd: string, args: readonly string[]) => Promise<string | null>;

export const runTool: RunTool = (cmd, args) =>
  new Promise((resolve) => {
    execFile(cmd, [...args], { timeout: 5000 }, (err, stdout, stderr) => {
      const out = `${stdout}${stderr}`;
      // keepalived --version exits 0; an old one printed to stderr and exited non-zero: the text is what counts.
      resolve(err && out.trim() === '' ? null : out);
    });
  });

/** The first line that names the tool, e.g. "HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/". Pure. */
export function firstVersionLine(output: string | null, tool: RegExp): string {
  if (output === null) return 'not found';
  return output.split('\n').map((l) => l.trim()).find((l) => tool.test(l)) ?? 'not found';
}

/** The three lines `--version` prints. Pure. */
export function versionLines(own: string, haproxy: string | null, keepalived: string | null): string[] {
  return [`vipkeeper ${own}`, `haproxy: ${firstVersionLine(haproxy, /^HAProxy version /i)}`, `keepalived: ${firstVersionLine(keepalived, /^Keepalived v/i)}`];
}

/** This build's version, from the package.json beside dist/ (the image keeps it there). */
export async function ownVersion(): Promise<string> {
  try {
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

export async function versionCommand(print: (s: string) => void, run: RunTool = runTool): Promise<void> {
  const [own, haproxy, keepalived] = await Promise.all([ownVersion(), run('haproxy', ['-v']), run('keepalived', ['--version'])]);
  for (const line of versionLines(own, haproxy, keepalived)) print(line);
}
