import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { promisify } from 'node:util';

// Shared facts and helpers of the lab: real dockerd, haproxy and keepalived on
// this machine. Names are fixed so setup, tests and teardown agree.

export const APP_IMAGE = 'vipkeeper-testapp:1';
/** Every container a test starts carries this label, so cleanup finds them all. */
export const TEST_LABEL = 'vipkeeper-test';
/** A veth interface standing in for a load balancer's LAN: keepalived -t needs a real one. */
export const TEST_IFACE = 'vkt0';
export const TEST_IFACE_ADDRESS = '198.18.0.2/24';
export const TEST_VIP = '198.18.0.100/24';

const execFileP = promisify(execFile);

export async function sh(cmd: string, args: readonly string[], opts: { allowFail?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await execFileP(cmd, [...args], { maxBuffer: 16 << 20, env: opts.env ?? process.env });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number | string };
    if (!opts.allowFail) {
      throw new Error(`${cmd} ${args.join(' ')} failed (${e.code}): ${e.stderr ?? ''}${e.stdout ?? ''}`);
    }
    return { stdout: e.stdout ?? '', stderr: e.stderr ?? '', code: typeof e.code === 'number' ? e.code : 1 };
  }
}

export const docker = (...args: string[]) => sh('docker', args).then((r) => r.stdout.trim());

/** Polls `check` until it returns a value (not undefined/false) or the deadline passes. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface AppOptions {
  readonly name: string;
  readonly labels?: Record<string, string>;
  /** `-p` arguments, e.g. ['80'] publishes private port 80 on a random host port. */
  readonly publish?: readonly string[];
  readonly network?: string;
  readonly extra?: readonly string[];
  /**
   * Behave like a well-made app on SIGTERM: keep serving for `graceMs`, then exit.
   * Without it httpd is PID 1 with no handler, so Docker waits its stop timeout and SIGKILLs it.
   */
  readonly graceMs?: number;
}

/** The test app's shell command: serve its own name; with `graceMs`, finish gracefully on SIGTERM. */
export function appScript(name: string, graceMs?: number): string {
  // -v: one log line per request, so the benchmark can see when a container first served.
  const serve = `mkdir -p /www && echo ${name} > /www/index.html && `;
  return graceMs === undefined
    ? `${serve}exec httpd -f -v -p 80 -h /www`
    : `${serve}httpd -f -v -p 80 -h /www & P=$!; trap "sleep ${graceMs / 1000}; kill $P; exit 0" TERM; wait`;
}

/**
 * Starts a busybox httpd serving its own name at / (so a response says which backend answered),
 * on the root engine or on the engine at `host` (an app host of the namespace lab).
 */
export async function runApp(o: AppOptions, host?: string): Promise<string> {
  return docker(...(host ? ['-H', host] : []), 'run', '-d', ...appArgs(o));
}

/** The same app as runApp, created but not started (see startAtOnce). */
export async function createApp(o: AppOptions): Promise<string> {
  return docker('create', ...appArgs(o));
}

function appArgs(o: AppOptions): string[] {
  const args = ['--name', o.name, '-l', `${TEST_LABEL}=1`];
  for (const [k, v] of Object.entries(o.labels ?? {})) args.push('-l', `${k}=${v}`);
  for (const p of o.publish ?? []) args.push('-p', p);
  if (o.network) args.push('--network', o.network);
  args.push(...(o.extra ?? []));
  args.push(APP_IMAGE, 'sh', '-c', appScript(o.name, o.graceMs));
  return args;
}

/**
 * Starts created containers of the root engine with one Engine API request each, all sent at
 * once: a burst as dense as the engine itself makes it. Several `docker` commands at once spread
 * the starts over seconds on a loaded machine (each command is a process of its own).
 */
export async function startAtOnce(names: readonly string[]): Promise<void> {
  await Promise.all(
    names.map(
      (name) =>
        new Promise<void>((resolve, reject) => {
          const req = request({ socketPath: '/var/run/docker.sock', method: 'POST', path: `/containers/${encodeURIComponent(name)}/start` }, (res) => {
            let body = '';
            res.on('data', (d: Buffer) => (body += d.toString()));
            res.on('end', () => (res.statusCode === 204 ? resolve() : reject(new Error(`starting ${name}: HTTP ${res.statusCode} ${body}`))));
          });
          req.on('error', reject);
          req.end();
        }),
    ),
  );
}

/** Runs `task` on each item, at most `limit` at a time (docker commands: a few at once, not 50). */
export async function eachLimited<T>(items: readonly T[], limit: number, task: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await task(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export async function publishedPort(container: string, privatePort: number): Promise<number> {
  const out = await docker('port', container, `${privatePort}/tcp`);
  const first = out.split('\n').find((l) => l.startsWith('0.0.0.0:')) ?? out.split('\n')[0] ?? '';
  return Number(first.slice(first.lastIndexOf(':') + 1));
}

export async function removeTestContainers(): Promise<void> {
  const ids = (await docker('ps', '-aq', '--filter', `label=${TEST_LABEL}`)).split('\n').filter(Boolean);
  if (ids.length > 0) await sh('docker', ['rm', '-f', ...ids], { allowFail: true });
}

export async function dockerAnswers(): Promise<boolean> {
  return (await sh('docker', ['version', '--format', '{{.Server.Version}}'], { allowFail: true })).code === 0;
}

const DOCKERD_MARKER = '.lab/dockerd-started-by-tests';

/** Whether a process with exactly this command name runs (pgrep -x). */
async function running(name: string): Promise<boolean> {
  return (await sh('pgrep', ['-x', name], { allowFail: true })).code === 0;
}

/**
 * Clears the engine's runtime state as a reboot would, when no dockerd or containerd runs.
 * On these machines /run is a plain directory, not tmpfs, so it outlives the processes: a run
 * killed with 1000 containers up left 1000 task directories and netns mounts behind, and the next
 * containerd spent 13.6 s on them, past dockerd's own wait ("timeout waiting for containerd to
 * start"), so dockerd exited and never answered (measured here on 2026-12-01). The stopped
 * containers themselves stay in /var/lib/docker; setup removes the test's own afterwards.
 */
export async function clearStaleRuntimeState(): Promise<void> {
  if ((await running('dockerd')) || (await running('containerd'))) return;
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m.startsWith('/run/docker/') || m.startsWith('/var/run/docker/'));
  for (const m of mounts.reverse()) await sh('umount', ['-l', m], { allowFail: true });
  for (const p of ['/var/run/docker', '/var/run/docker.pid', '/var/run/docker.sock']) rmSync(p, { recursive: true, force: true });
}

function logTail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Starts dockerd in the background and waits until it answers; remembers that the tests own it.
 * A dockerd that exits before answering is a failure at once, with the end of its log; it gets
 * one more try after its runtime state is cleared again.
 */
export async function startDockerd(): Promise<void> {
  mkdirSync('.lab', { recursive: true });
  const logFile = '.lab/dockerd.log';
  for (let attempt = 1; ; attempt++) {
    await clearStaleRuntimeState();
    const log = openSync(logFile, 'a');
    const child = spawn('dockerd', [], { detached: true, stdio: ['ignore', log, log] });
    let exited: number | string | null | undefined;
    child.once('exit', (code, signal) => (exited = code ?? signal));
    child.unref();
    writeFileSync(DOCKERD_MARKER, String(child.pid));
    const deadline = Date.now() + 120_000;
    let failure = '';
    for (;;) {
      if (await dockerAnswers()) return;
      if (exited !== undefined) failure = `dockerd exited (${exited}) before it answered`;
      else if (Date.now() > deadline) failure = 'dockerd did not answer within 120 s';
      if (failure) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    if (exited === undefined) child.kill('SIGKILL');
    if (attempt >= 2) throw new Error(`${failure} (attempt ${attempt}); the end of ${logFile}:\n${logTail(logFile)}`);
  }
}

/** Stops the running dockerd (whoever started it) and waits until it is gone. */
export async function stopDockerd(): Promise<void> {
  let pid: number | null = null;
  try {
    pid = Number(readFileSync('/var/run/docker.pid', 'utf8').trim());
  } catch {
    return;
  }
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  await waitFor('dockerd to exit', async () => {
    try {
      process.kill(pid!, 0);
      return false;
    } catch {
      return true;
    }
  }, 60_000, 200);
}

export function dockerdStartedByTests(): boolean {
  return existsSync(DOCKERD_MARKER);
}

export function forgetDockerd(): void {
  rmSync(DOCKERD_MARKER, { force: true });
}

export interface HttpGet {
  readonly host: string;
  readonly port: number;
  readonly path?: string;
  readonly headers?: Record<string, string>;
  readonly timeoutMs?: number;
}

/** One GET on a fresh connection (no keep-alive, so every request is balanced anew). */
export function httpGet(o: HttpGet): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: o.host, port: o.port, path: o.path ?? '/', headers: o.headers ?? {}, agent: false, timeout: o.timeoutMs ?? 5000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim() }));
      // A response cut after its headers (a backend SIGKILLed mid-answer) never ends: without
      // this the promise hung for ever and the test with it.
      res.on('error', reject);
      res.on('close', () => {
        if (!res.complete) reject(new Error('response cut short'));
      });
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.end();
  });
}

/** The body of a 200 answer; anything else is an error. */
export async function httpBody(o: HttpGet): Promise<string> {
  const r = await httpGet(o);
  if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
  return r.body;
}
