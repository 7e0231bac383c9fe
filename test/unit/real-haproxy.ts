import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ejs from 'ejs';
import type { Server as ModelServer, Service } from '../../src/model/desired-state.js';
import { runtimeCommand } from '../../src/haproxy/runtime-api.js';
import { haproxyView } from '../../src/render/haproxy-view.js';
import { loadTemplates } from '../../src/render/load-templates.js';
import { server } from './fixtures.js';

// The real haproxy (2.6, master-worker) on a temp dir, loopback ports and a
// temp admin socket, for tests that must see what HAProxy really answers.
// Everything started here is stopped by the returned stop().

export const haproxyInstalled = spawnSync('haproxy', ['-v']).status === 0;

export interface RealHaproxy {
  readonly dir: string;
  readonly adminSocket: string;
  readonly cfgPath: string;
  readonly output: () => string;
  stop(): Promise<void>;
}

export async function startHaproxy(cfg: (adminSocket: string) => string | Promise<string>): Promise<RealHaproxy> {
  const dir = mkdtempSync(join(tmpdir(), 'vk-haproxy-'));
  const adminSocket = join(dir, 'admin.sock');
  const cfgPath = join(dir, 'haproxy.cfg');
  writeFileSync(cfgPath, await cfg(adminSocket));
  let output = '';
  const child: ChildProcess = spawn('haproxy', ['-W', '-db', '-S', join(dir, 'master.sock'), '-f', cfgPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const late = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(late);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await pollUntil('haproxy to answer on its admin socket', async () => /^Pid: \d+$/m.test(await runtimeCommand(adminSocket, 'show info', 1000).catch(() => '')), 10_000, () => output);
  } catch (err) {
    await stop();
    throw err;
  }
  return { dir, adminSocket, cfgPath, output: () => output, stop };
}

/** Polls `ok` with a deadline; never a fixed sleep. */
export async function pollUntil(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 5000, detail: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} ${detail()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A plain HTTP backend on 127.0.0.1 that answers 200 with its name. */
export async function httpBackend(name: string, port = 0): Promise<{ port: number; server: HttpServer; close: () => Promise<void> }> {
  const server = createHttpServer((_req, res) => res.end(`${name}\n`));
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return {
    port: (server.address() as { port: number }).port,
    server,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A server of the model on loopback, where these tests' backends listen. */
export const modelServer = (name: string, port: number, address = '127.0.0.1'): ModelServer => server(name, address, port);

/** The shipped template, printed for these services (the agent's own file). */
export async function shippedConfig(services: readonly Service[], adminSocket: string): Promise<string> {
  const templates = await loadTemplates(null);
  return ejs.render(templates['haproxy.cfg.ejs'].text, haproxyView(services, { adminSocket }) as unknown as ejs.Data, { async: false });
}

/**
 * A unix-socket relay in front of the admin socket that counts the connections
 * open at once, as HAProxy sees them (from accept until HAProxy closes).
 */
export async function countingRelay(target: string, path: string): Promise<{ path: string; peak: () => number; total: () => number; close: () => Promise<void> }> {
  let open = 0;
  let peak = 0;
  let total = 0;
  const server: Server = createServer((down) => {
    total += 1;
    open += 1;
    peak = Math.max(peak, open);
    let counted = true;
    const uncount = () => {
      if (counted) open -= 1;
      counted = false;
    };
    const up = createConnection(target);
    up.on('end', uncount);
    up.on('close', uncount);
    up.on('error', () => down.destroy());
    down.on('error', () => up.destroy());
    down.pipe(up);
    up.pipe(down);
  });
  await new Promise<void>((r) => server.listen(path, () => r()));
  return { path, peak: () => peak, total: () => total, close: () => new Promise<void>((r) => server.close(() => r())) };
}
