import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ejs from 'ejs';
import { runtimeCommand } from '../src/haproxy/runtime-api.js';
import { applyServerChanges, drainServer, type PendingDelete, tryDelete } from '../src/haproxy/runtime-apply.js';
import { RuntimeClient } from '../src/haproxy/runtime-client.js';
import type { ChangeSet } from '../src/haproxy/server-changes.js';
import { createLogger } from '../src/log.js';
import type { Server, Service } from '../src/model/desired-state.js';
import { backendName, haproxyView } from '../src/render/haproxy-view.js';
import { loadTemplates } from '../src/render/load-templates.js';

// Backend churn under load without Docker (defect 13): the real haproxy 2.6
// with the shipped template, backends on loopback that come and go, the
// agent's Runtime API steps in the agent's order through RuntimeClient, and
// wrk's closed-loop load (4 keep-alive connections) as in the churn bench.
// Backends: busybox httpd, the lab app (one request per connection, a fork per
// request, headers and body in two writes), or a node keep-alive server.
// "Killed" is SIGKILL to the app's whole process group, like a container's
// cgroup; a graceful stop drains the server at once, keeps the app serving for
// its grace, then kills the group (the lab app's trap). Bounded: at most 19 s
// of load. Prints wrk's counts and HAProxy's log of every abnormal request
// (dontlog-normal: errors, retries, redispatches) by status, termination
// state, retries and what became of the server.
//
//   npx tsc -p bench/tsconfig.json && cp -r templates .bench-build/ \
//     && node .bench-build/bench/haproxy-churn.js [key=value ...]
//
// keys: seconds=15 mode=mixed|graceful|kill kill-every=3 period-ms=150 (one replacement)
//       grace-ms=300 event-ms=20 (Docker event -> agent) pass-ms=60 (event -> pass applied)
//       listen-delay-ms=0 (the app listens this long after it starts) app=busybox|node
//       stop-state=drain|maint|shutdown (what a graceful stop does to the server at once)
//       force-after-ms=30000 (pending delete -> shutdown sessions, as the agent)
//       templates=DIR trace=1 dump-log=FILE examples=1
//
// Findings (2.6.12, see the commit that added observe/mark-down): a response under way
// when its app is SIGKILLed is cut (wrk "read" error, HAProxy SD-- with status 200): no
// proxy can retry it. maint and drain cut nothing; `shutdown sessions` does (KD--).

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.split('=') as [string, string]));
const num = (k: string, d: number) => (args[k] === undefined ? d : Number(args[k]));
const SECONDS = Math.min(num('seconds', 15), 19);
const MODE = (args.mode ?? 'mixed') as 'mixed' | 'graceful' | 'kill';
const KILL_EVERY = num('kill-every', 3);
const PERIOD_MS = num('period-ms', 150);
const GRACE_MS = num('grace-ms', 300);
const EVENT_MS = num('event-ms', 20);
const PASS_MS = num('pass-ms', 60);
const LISTEN_DELAY_MS = num('listen-delay-ms', 0);
const FORCE_AFTER_MS = num('force-after-ms', 30_000);
/** busybox: the lab app (one request per connection, headers and body in two writes); node: keep-alive. */
const APP = (args.app ?? 'busybox') as 'busybox' | 'node';
/** What a graceful stop does to the server at once: drain (the agent), maint, or maint + shutdown sessions. */
const STOP_STATE = (args['stop-state'] ?? 'drain') as 'drain' | 'maint' | 'shutdown';
const DELETE_RETRY_MS = 250;

const log = createLogger('silent');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function listening(port: number): Promise<boolean> {
  const { createConnection } = await import('node:net');
  return new Promise((r) => {
    const c = createConnection(port, '127.0.0.1');
    c.on('connect', () => (c.destroy(), r(true)));
    c.on('error', () => r(false));
  });
}

async function until(what: string, ok: () => Promise<boolean> | boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(5);
  }
}

interface App {
  readonly name: string;
  readonly port: number;
  readonly proc: ChildProcess;
  readonly exited: Promise<void>;
}

const dir = mkdtempSync(join(tmpdir(), 'vk-churn-'));
const www = join(dir, 'www');
mkdirSync(www);
writeFileSync(join(www, 'index.html'), 'ok\n');
const children = new Set<ChildProcess>();

function startApp(name: string, port: number, delayMs: number): App {
  // Own process group: SIGKILL to the group also kills the per-request forks, like a container.
  const serve =
    APP === 'node'
      ? // Keep-alive (HAProxy reuses its connections), headers and body in one write.
        `exec ${process.execPath} -e "require('http').createServer((q, r) => r.end('ok\\n')).listen(${port}, '127.0.0.1')"`
      : `exec busybox httpd -f -p 127.0.0.1:${port} -h ${www}`;
  const cmd = `${delayMs > 0 ? `sleep ${delayMs / 1000}; ` : ''}${serve}`;
  const proc = spawn('sh', ['-c', cmd], { detached: true, stdio: 'ignore' });
  children.add(proc);
  const exited = new Promise<void>((r) => proc.once('exit', () => (children.delete(proc), r())));
  return { name, port, proc, exited };
}

const killGroup = (app: App, signal: NodeJS.Signals) => {
  try {
    process.kill(-app.proc.pid!, signal);
  } catch {
    /* already gone */
  }
};

function svc(frontendPort: number, servers: Server[]): Service {
  return { name: 'apps', mode: 'http', frontendPort, bind: null, hosts: [], path: null, balance: 'roundrobin', memberClass: 'multiple', tls: { enabled: null, redirect: false, hsts: null }, clients: { proxyProtocol: null, forwarded: true, allow: null, rateLimit: null }, check: { enabled: true, path: null, interval: '2s', rise: 2, fall: 5 }, servers };
}
const server = (a: App): Server => ({ name: a.name, containerId: a.name, containerName: a.name, address: '127.0.0.1', port: a.port, weight: 100, maxconn: null, role: 'active', standby: false });
const BE = backendName('apps');
const none: ChangeSet = { structural: null, add: [], remove: [], update: [] };

async function main(): Promise<void> {
  const frontendPort = await freePort();
  const adminSocket = join(dir, 'admin.sock');
  const live: App[] = [];
  let seq = 0;
  const newApp = async (delayMs: number) => startApp(`app-${seq++}`, await freePort(), delayMs);
  for (let i = 0; i < 3; i++) live.push(await newApp(0));
  for (const a of live) await until(`${a.name} listening`, () => listening(a.port));

  const templates = await loadTemplates(args.templates ?? null);
  let cfg = ejs.render(templates['haproxy.cfg.ejs'].text, haproxyView([svc(frontendPort, live.map(server))], { adminSocket }) as unknown as ejs.Data, { async: false });
  // Diagnostics only: log every abnormal request (error, retry, redispatch) with its termination state.
  cfg = cfg.replace(/log stdout format raw daemon notice/, 'log stdout format raw daemon info').replace(/^defaults\n/m, 'defaults\n    option dontlog-normal\n');
  writeFileSync(join(dir, 'haproxy.cfg'), cfg);
  const haproxy = spawn('haproxy', ['-W', '-db', '-S', join(dir, 'master.sock'), '-f', join(dir, 'haproxy.cfg')], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(haproxy);
  let hlog = '';
  haproxy.stdout.on('data', (d: Buffer) => (hlog += d.toString()));
  haproxy.stderr.on('data', (d: Buffer) => (hlog += d.toString()));
  await until('haproxy admin socket', async () => /Pid:/.test(await runtimeCommand(adminSocket, 'show info', 500).catch(() => '')), 10_000);
  await until('haproxy serving', async () => (await fetch(`http://127.0.0.1:${frontendPort}/`).catch(() => null))?.status === 200, 10_000);

  const api = new RuntimeClient(adminSocket);
  /** What happened to each server's app, to attribute HAProxy's abnormal log lines. */
  const fate = new Map<string, 'killed' | 'stopped'>();
  const counts = { added: 0, graceful: 0, killed: 0, forcedShutdowns: 0, pendingMax: 0, apiErrors: 0 };
  let pending: PendingDelete[] = [];
  let deleting = false;
  const retryDeletes = async () => {
    if (deleting) return;
    deleting = true;
    const still: PendingDelete[] = [];
    for (const p of pending) {
      let done = await tryDelete(api, p.backend, p.server).catch(() => false);
      if (!done && Date.now() - p.since > FORCE_AFTER_MS) {
        counts.forcedShutdowns += 1;
        await api.command(`shutdown sessions server ${p.backend}/${p.server}`).catch(() => '');
        done = await tryDelete(api, p.backend, p.server).catch(() => false);
      }
      if (!done) still.push(p);
    }
    pending = still;
    deleting = false;
  };
  const deleteTimer = setInterval(() => void retryDeletes(), DELETE_RETRY_MS);
  const remove = async (a: App) => {
    const pend = await applyServerChanges(api, { ...none, remove: [{ backend: BE, service: svc(frontendPort, []), server: server(a) }] }, log);
    pending.push(...pend);
    counts.pendingMax = Math.max(counts.pendingMax, pending.length);
  };

  const wrk = spawn('wrk', ['-t1', '-c4', `-d${SECONDS}s`, '--timeout', '5s', `http://127.0.0.1:${frontendPort}/`], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(wrk);
  let wrkOut = '';
  wrk.stdout.on('data', (d: Buffer) => (wrkOut += d.toString()));
  const wrkDone = new Promise<void>((r) => wrk.once('exit', () => r()));

  // How many servers HAProxy had up and ready, sampled every 50 ms (with trace=1, the samples).
  const upSamples: number[] = [];
  const trace: string[] = [];
  const sampler = setInterval(() => {
    void api.serversState(0).then((rows) => {
      const ours = rows.filter((r) => r.backend === BE);
      upSamples.push(ours.filter((r) => r.opState === 2 && r.adminState === 0).length);
      if (args.trace) trace.push(`${Date.now() % 100000} ${ours.map((r) => `${r.server}:${r.opState}/${r.adminState}`).join(' ')}`);
    }, () => {});
  }, 50);
  const stopAt = Date.now() + (SECONDS - 1.5) * 1000;
  const removals: Promise<void>[] = [];
  for (let cycle = 0; Date.now() < stopAt; cycle++) {
    const t = Date.now();
    // A container starts; Docker's event reaches the agent, the pass adds it.
    const fresh = await newApp(LISTEN_DELAY_MS);
    await sleep(EVENT_MS + PASS_MS);
    await applyServerChanges(api, { ...none, add: [{ backend: BE, service: svc(frontendPort, []), server: server(fresh) }] }, log).catch(() => void counts.apiErrors++);
    counts.added += 1;
    live.push(fresh);
    // The oldest goes: graceful stop (drain at once, app exits after its grace) or SIGKILL.
    const victim = live.shift()!;
    const kill = MODE === 'kill' || (MODE === 'mixed' && KILL_EVERY > 0 && cycle % KILL_EVERY === KILL_EVERY - 1);
    fate.set(victim.name, kill ? 'killed' : 'stopped');
    removals.push(
      (async () => {
        if (kill) {
          counts.killed += 1;
          killGroup(victim, 'SIGKILL');
          await sleep(EVENT_MS);
          await drainServer(api, BE, victim.name).catch(() => void counts.apiErrors++);
          await victim.exited;
          await sleep(PASS_MS);
        } else {
          counts.graceful += 1;
          // docker stop: SIGTERM to the app's PID 1 only, which traps it and keeps serving for its grace.
          await sleep(EVENT_MS);
          if (STOP_STATE === 'drain') await drainServer(api, BE, victim.name).catch(() => void counts.apiErrors++);
          else await api.expect(`set server ${BE}/${victim.name} state maint`, 'empty').catch(() => void counts.apiErrors++);
          if (STOP_STATE === 'shutdown') await api.command(`shutdown sessions server ${BE}/${victim.name}`);
          await sleep(GRACE_MS - EVENT_MS);
          killGroup(victim, 'SIGKILL'); // PID 1 exits; the container's other processes die with it
          await victim.exited;
          await sleep(PASS_MS);
        }
        await remove(victim).catch(() => void counts.apiErrors++);
      })(),
    );
    while (removals.length > 4) await removals.shift();
    await sleep(Math.max(0, PERIOD_MS - (Date.now() - t)));
  }
  await Promise.all(removals);
  await wrkDone;
  clearInterval(deleteTimer);
  clearInterval(sampler);
  await until('pending deletes', async () => (await retryDeletes(), pending.length === 0), 5000).catch(() => {});

  const requests = Number(/(\d+) requests in/.exec(wrkOut)?.[1] ?? NaN);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(wrkOut)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(wrkOut);
  const [connect = 0, read = 0, write = 0, timeout = 0] = sock ? sock.slice(1).map(Number) : [];
  // httplog: ... be/srv Tq/Tw/Tc/Tr/Ta status bytes - - TERM actconn/feconn/beconn/srvconn/retries ...
  const byState = new Map<string, number>();
  const examples = new Map<string, string>();
  for (const line of hlog.split('\n')) {
    const m = / (\S+)\/(\S+) (-?\d+)\/(-?\d+)\/(-?\d+)\/(-?\d+)\/(\+?-?\d+) (-?\d+) \+?\d+ \S+ \S+ (\S{4}) \d+\/\d+\/\d+\/\d+\/(\+?\d+) /.exec(line);
    if (!m) continue;
    const key = `status=${m[8]} term=${m[9]} retries=${m[10]} server=${fate.get(m[2]!) ?? (m[2] === '<NOSRV>' ? 'none' : 'live')}`;
    byState.set(key, (byState.get(key) ?? 0) + 1);
    if (!examples.has(key)) examples.set(key, line.trim());
  }
  const result = {
    settings: { SECONDS, MODE, APP, STOP_STATE, KILL_EVERY, PERIOD_MS, GRACE_MS, EVENT_MS, PASS_MS, LISTEN_DELAY_MS, FORCE_AFTER_MS, templates: args.templates ?? 'shipped' },
    counts,
    client: api.stats(),
    wrk: { requests, non2xx, connect, read, write, timeout, failed: non2xx + connect + read + write + timeout },
    haproxyAbnormal: Object.fromEntries([...byState].sort((a, b) => b[1] - a[1])),
    upServers: { min: Math.min(...upSamples), samplesWithNone: upSamples.filter((n) => n === 0).length, samples: upSamples.length },
  };
  if (args.trace) process.stdout.write(`${trace.join('\n')}\n`);
  if (args['dump-log']) writeFileSync(args['dump-log'], hlog);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  if (args.examples) for (const [k, l] of examples) process.stdout.write(`${k}\n  ${l}\n`);
  api.close();
  haproxy.kill('SIGTERM');
  await new Promise((r) => haproxy.once('exit', r));
}

try {
  await main();
} finally {
  for (const c of children) {
    try {
      if (c.pid) process.kill(c.spawnfile === 'sh' ? -c.pid : c.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  rmSync(dir, { recursive: true, force: true });
}
