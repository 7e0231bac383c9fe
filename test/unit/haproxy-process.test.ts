import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runtimePaths } from '../../src/config/paths.js';
import { HaproxyProcess } from '../../src/haproxy/haproxy-process.js';
import { findAdoptable, groupMembers } from '../../src/supervisor/adopt.js';
import { recordingLog } from './support/fakes.js';

// The real haproxy (master-worker, -W -db), on a temp dir and a loopback port:
// its workers share the master's own process group, its stderr reaches a new
// agent's logger after adoption, and a stop takes the whole group.

async function until<T>(what: string, check: () => T | null | undefined | false, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const pgidOf = (pid: number) => {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[2]);
};

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

let dir: string;
let master: number | null = null;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vipkeeper-haproxy-'));
  master = null;
});

afterEach(async () => {
  if (master !== null) {
    for (const target of [-master, master]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
  await rm(dir, { recursive: true, force: true });
});

async function writeConfig(): Promise<ReturnType<typeof runtimePaths>> {
  const paths = runtimePaths({ configDir: dir, runDir: dir });
  const port = await freePort();
  await writeFile(
    paths.haproxyCfg,
    [
      'global',
      `    stats socket ${paths.adminSocket} mode 600 level admin`,
      'defaults',
      '    mode tcp',
      '    timeout connect 1s',
      '    timeout client 5s',
      '    timeout server 5s',
      'frontend fe',
      `    bind 127.0.0.1:${port}`,
      '    default_backend be',
      'backend be',
      '    server s1 127.0.0.1:9 disabled',
      '',
    ].join('\n'),
  );
  return paths;
}

describe('HaproxyProcess with the real haproxy', () => {
  it('a reload asked the moment the worker answers, and another right after it, both happen', async () => {
    // The master drops a SIGUSR2 while it is still starting or re-executing (2.6: always lost
    // when sent as the first worker answered). reload() waits for the master's own CLI first.
    const paths = await writeConfig();
    const h = new HaproxyProcess(paths, recordingLog().log);
    h.start();
    master = h.process.pid!;
    const first = await h.waitReady(10_000);
    const second = await h.reload(10_000);
    const third = await h.reload(10_000);
    expect(new Set([first, second, third]).size).toBe(3);
    await h.stop();
  }, 60_000);

  it('a new agent adopts haproxy, logs what it prints after, reloads it, and stop takes master and workers', async () => {
    const paths = await writeConfig();

    const first = new HaproxyProcess(paths, recordingLog().log);
    first.start();
    master = first.process.pid!;
    const worker = await first.waitReady(10_000);
    expect(pgidOf(master)).toBe(master);
    expect(pgidOf(master)).not.toBe(pgidOf(process.pid));
    expect(pgidOf(worker)).toBe(master);

    // The agent dies; a new one finds haproxy by its pid file and command line, and keeps it.
    first.process.release();
    expect(await findAdoptable(paths.haproxyPid, paths.haproxyCfg)).toBe(master);

    const log = recordingLog();
    const second = new HaproxyProcess(paths, log.log);
    second.process.adopt(master);
    const newWorker = await second.reload(10_000);
    expect(newWorker).not.toBe(worker);
    // haproxy -db prints its reload notices on stderr: they reach the new agent's log.
    await until('a reload notice in the new log', () => log.output().some((l) => /Reloading HAProxy|New worker/.test(l)));

    await second.stop();
    await until('no process left in the group', () => groupMembers(master!).length === 0);
  }, 60_000);
});
