import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runtimeCommand } from '../src/haproxy/runtime-api.js';
import { AgentUnderTest, TEST_FRONTEND_PORT } from '../test/lab/support/agent.js';
import { removeTestContainers, runApp, waitFor } from '../test/lab/support/lab.js';
import { contextFor, tlsLoad } from '../test/lab/support/tls-load.js';
import { makeTestCa } from '../test/unit/support/test-certs.js';
import { median } from './churn-bench.js';

// The HTTPS edge, measured side by side in one run against the real agent,
// haproxy and an app container:
// - handshakes: a new connection per request, plain HTTP next to TLS
//   (http/1.1), with wrk; and keep-alive throughput for http/1.1, TLS
//   http/1.1 (wrk) and h2 (h2load), so the cost of TLS itself is visible.
//   h2load's HTTP/1.1 keep-alive over TLS stalled here at 70% of a run
//   (connections idle with bytes unread), so HTTP/1.1 rows use wrk;
// - certificate swaps under load: the served certificate replaced again and
//   again through the Runtime API while h2load makes a new TLS connection per
//   request (node's TLS client, 8 workers); failed requests, reloads and
//   whether the worker stayed the same.
// The clients use one thread, so haproxy has the other core of these machines.

const run = promisify(execFile);
const HTTPS_PORT = 18443;
const HOST = 'www.example.test';
const ROUNDS = Number(process.env.BENCH_TLS_ROUNDS ?? 3);
const SWAPS = Number(process.env.BENCH_TLS_SWAPS ?? 20);
const SECONDS = Number(process.env.BENCH_TLS_SECONDS ?? 5);

interface H2loadResult {
  readonly reqPerSec: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly errored: number;
  readonly non2xx: number;
}

/** Reads h2load's summary: "finished in 2.00s, 1234.50 req/s", "requests: N total, ... N succeeded, N failed, N errored", "status codes: a 2xx, b 3xx, c 4xx, d 5xx". */
export function parseH2load(out: string): H2loadResult {
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  return {
    reqPerSec: num(/finished in [\d.]+\w*, ([\d.]+) req\/s/),
    succeeded: num(/(\d+) succeeded/),
    failed: num(/(\d+) failed/),
    errored: num(/(\d+) errored/),
    non2xx: codes ? Number(codes[2]) + Number(codes[3]) + Number(codes[4]) : NaN,
  };
}

async function h2load(url: string, port: number, args: readonly string[]): Promise<H2loadResult> {
  // -N: a connection that stays silent that long is given up and counted, so a stall cannot hang the bench.
  const { stdout } = await run('h2load', ['-t', '1', '-N', '5s', `--connect-to=127.0.0.1:${port}`, ...args, url], { maxBuffer: 16 * 1024 * 1024 });
  return parseH2load(stdout);
}

/** Reads wrk's summary: "Requests/sec: N", "Non-2xx or 3xx responses: N", "Socket errors: connect a, read b, write c, timeout d". */
export function parseWrk(out: string): H2loadResult {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const total = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errored = sock ? sock.slice(1).reduce((n, x) => n + Number(x), 0) : 0;
  return { reqPerSec: rps, succeeded: total - non2xx, failed: 0, errored, non2xx };
}

/** wrk for HTTP/1.1 (it reconnects cleanly after `Connection: close`); it sends no SNI for an address, so HTTPS answers with the default certificate, made by the same CA with the same key type. */
async function wrk(url: string, args: readonly string[]): Promise<H2loadResult> {
  const { stdout } = await run('wrk', ['-t', '1', '-c', '8', '-d', `${SECONDS}s`, '-H', `Host: ${HOST}`, ...args, url], { maxBuffer: 16 * 1024 * 1024 });
  return parseWrk(stdout);
}

interface Mode {
  readonly name: string;
  readonly go: () => Promise<H2loadResult>;
}

/**
 * Connections opened and closed as fast as 8 workers can, for SECONDS: a TCP
 * connect to the HTTP port, or a full TLS handshake (SNI, verified against the
 * CA) to the HTTPS port; no request, so neither the app nor docker-proxy limits
 * it. The client shares the machine with haproxy.
 */
async function connectRate(tls: null | { ca: string }): Promise<H2loadResult> {
  const until = Date.now() + SECONDS * 1000;
  let ok = 0;
  let errored = 0;
  const once = () =>
    new Promise<void>((resolve, reject) => {
      const s = tls
        ? tlsConnect({ host: '127.0.0.1', port: HTTPS_PORT, servername: HOST, secureContext: contextFor(tls.ca) }, () => (s.destroy(), resolve()))
        : netConnect({ host: '127.0.0.1', port: TEST_FRONTEND_PORT }, () => (s.destroy(), resolve()));
      s.setTimeout(5000, () => s.destroy(new Error('timed out')));
      s.on('error', reject);
    });
  const worker = async () => {
    while (Date.now() < until) {
      await once().then(() => (ok += 1), () => (errored += 1));
    }
  };
  const t0 = Date.now();
  await Promise.all(Array.from({ length: 8 }, worker));
  return { reqPerSec: ok / ((Date.now() - t0) / 1000), succeeded: ok, failed: 0, errored, non2xx: 0 };
}

/** The handshake and throughput rows: modes alternate round by round, medians of ROUNDS. */
async function rates(caPem: string): Promise<string> {
  const http = `http://127.0.0.1:${TEST_FRONTEND_PORT}/`;
  const https = `https://127.0.0.1:${HTTPS_PORT}/`;
  const close = ['-H', 'Connection: close'];
  const modes: Mode[] = [
    { name: 'TCP connect and close, HTTP port (no request)', go: () => connectRate(null) },
    { name: 'TLS 1.3 handshake and close, HTTPS port (no request)', go: () => connectRate({ ca: caPem }) },
    { name: 'new connection per request, plain HTTP/1.1 (wrk)', go: () => wrk(http, close) },
    { name: 'new connection per request, TLS 1.3 handshake each (wrk)', go: () => wrk(https, close) },
    { name: 'keep-alive, plain HTTP/1.1 (wrk)', go: () => wrk(http, []) },
    { name: 'keep-alive, TLS HTTP/1.1 (wrk)', go: () => wrk(https, []) },
    { name: 'keep-alive, TLS h2 by ALPN, 8 streams each (h2load)', go: () => h2load(`https://${HOST}:${HTTPS_PORT}/`, HTTPS_PORT, ['-c', '8', '-m', '8', '-D', String(SECONDS)]) },
  ];
  const seen = new Map<string, H2loadResult[]>(modes.map((m) => [m.name, []]));
  for (let r = 0; r < ROUNDS; r += 1) {
    for (const m of modes) seen.get(m.name)!.push(await m.go());
  }
  // Ratios against the same kind of row: handshakes against TCP connects, requests against plain new-connection requests.
  const baseOf = (i: number) => median(seen.get(modes[i < 2 ? 0 : 2]!.name)!.map((x) => x.reqPerSec));
  const rows = modes.map((m, i) => {
    const xs = seen.get(m.name)!;
    const rps = median(xs.map((x) => x.reqPerSec));
    const bad = xs.reduce((n, x) => n + x.failed + x.errored + x.non2xx, 0);
    return `| ${m.name} | ${rps.toFixed(0)} | ${(rps / baseOf(i)).toFixed(2)} | ${bad} |`;
  });
  return [
    `TLS next to plain HTTP (8 connections, ${SECONDS} s per run; median of ${ROUNDS} rounds, modes alternating). The first two rows are connections without a request; the others are requests through the app container (busybox httpd behind docker-proxy), which bounds them all.`,
    '',
    '| mode | per second | vs. its plain row | failed or non-2xx |',
    '| --- | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
}

/** Certificates replaced again and again under a closed loop of new TLS connections (8 workers, SNI, verified against the CA). */
async function swaps(agent: AgentUnderTest, caPem: string, put: (pem: string) => void, leaf: () => string): Promise<string> {
  const workerPid = async () => Number(/^Pid: (\d+)$/m.exec(await runtimeCommand(agent.adminSocket, 'show info'))?.[1]);
  const swapped = () => agent.passes().filter((p) => p.applied === 'runtime-api' && ((p.updated as string[] | undefined) ?? []).includes('certificate www.pem')).length;
  const pid = await workerPid();
  const reloadsBefore = agent.passes().filter((p) => p.applied === 'reload').length;
  const swapsBefore = swapped();
  const started = Date.now();
  const load = tlsLoad(HTTPS_PORT, HOST, caPem, 8);
  const swapMs: number[] = [];
  const swapping = (async () => {
    for (let i = 0; i < SWAPS; i += 1) {
      const t0 = Date.now();
      put(leaf());
      await waitFor(`certificate swap ${i + 1} to be applied`, async () => swapped() >= swapsBefore + i + 1);
      swapMs.push(Date.now() - t0);
    }
  })();
  // The load stops in every case, so a failed swap never leaves it running.
  const [outcome, result] = await Promise.all([swapping.then(() => null, (err: unknown) => err), swapping.catch(() => undefined).then(() => load.stop())]);
  if (outcome) throw outcome;
  const reloads = agent.passes().filter((p) => p.applied === 'reload').length - reloadsBefore;
  const samePid = (await workerPid()) === pid;
  const secs = (Date.now() - started) / 1000;
  return [
    `Certificate swaps under load (8 workers, a new TLS connection per request, verified; ${secs.toFixed(1)} s)`,
    '',
    '| swaps | requests answered | handshakes/s | failed or non-200 | reloads | same haproxy worker | file written -> swap applied, median |',
    '| ---: | ---: | ---: | ---: | ---: | --- | ---: |',
    `| ${SWAPS} | ${result.ok} | ${(result.ok / secs).toFixed(0)} | ${result.failed.length} | ${reloads} | ${samePid ? 'yes' : 'no'} | ${median(swapMs).toFixed(0)} ms |`,
    ...(result.failed.length > 0 ? ['', `First failures: ${result.failed.slice(0, 3).join('; ')}`] : []),
  ].join('\n');
}

/** The tls section: runs, then returns its Markdown tables. Expects the lab to be set up. */
export async function tlsSection(): Promise<string> {
  await removeTestContainers();
  const ca = makeTestCa();
  // The default certificate (what a client without SNI, like wrk, gets) comes from the same CA with the same key type.
  const defaultDir = mkdtempSync(join(tmpdir(), 'vkb-tls-'));
  const defaultCert = join(defaultDir, 'default.pem');
  const d = ca.leaf([HOST]);
  writeFileSync(defaultCert, d.chain + d.key, { mode: 0o600 });
  const agent = new AgentUnderTest({ VIPKEEPER_HTTPS_PORT: String(HTTPS_PORT), VIPKEEPER_DEFAULT_CERT: defaultCert });
  const certsDir = join(agent.configDir, 'certs');
  mkdirSync(certsDir, { recursive: true });
  const put = (pem: string) => {
    const tmp = join(certsDir, '.www.pem.tmp');
    writeFileSync(tmp, pem, { mode: 0o600 });
    renameSync(tmp, join(certsDir, 'www.pem'));
  };
  const leaf = () => {
    const l = ca.leaf([HOST]);
    return l.chain + l.key;
  };
  try {
    put(leaf());
    await runApp({ name: 'vkb-tls-www', labels: { role: 'apps', 'vipkeeper.service': 'www', 'vipkeeper.host': HOST }, publish: ['80'] });
    agent.start();
    await agent.waitLog('the initial pass', (l) => l.msg === 'pass');
    await waitFor('HTTPS to answer', async () => (await h2load(`https://${HOST}:${HTTPS_PORT}/`, HTTPS_PORT, ['--h1', '-n', '1', '-c', '1']).catch(() => null))?.succeeded === 1);
    // Certificates made before the load, so openssl's key generation does not share the CPU with it.
    const leaves = Array.from({ length: SWAPS }, leaf);
    return `${await rates(ca.certPem)}\n\n${await swaps(agent, ca.certPem, put, () => leaves.shift()!)}`;
  } finally {
    await agent.stop();
    await removeTestContainers();
    ca.cleanup();
    rmSync(defaultDir, { recursive: true, force: true });
  }
}
