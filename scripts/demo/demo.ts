import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { controlSocketPath } from '../../src/config/paths.js';
import { CLI, REPO } from '../../test/lab/support/cli.js';
import { ensureAppImage } from '../../test/lab/support/lab-setup.js';
import { docker, dockerAnswers, forgetDockerd, httpBody, sh, startDockerd, waitFor } from '../../test/lab/support/lab.js';
import { type LbNode, NetnsLab } from '../../test/lab/support/netns-lab.js';

// `bash scripts/demo.sh`: two load-balancer hosts (network namespaces on one
// bridge), each running the real `vipkeeper run`, in front of app containers on
// the local engine; a request through the VIP, a graceful drill, and how to look
// around. The agents outlive this command; `bash scripts/demo.sh down` ends them.
// Names and addresses are the demo's own, apart from the tests' lab.

const lab = new NetnsLab(2, 'vkdemo', { net: '198.18.7', bridge: 'vkdemo0' });
const [first, second] = lab.nodes as [LbNode, LbNode];
const STATE = join(REPO, '.demo');
const RUN = '/run/vipkeeper-demo';
const APP_IMAGE = 'vipkeeper-demoapp:2';
/** Every container the demo starts carries it, so `down` finds them. */
const DEMO_LABEL = 'vipkeeper-demo';
/**
 * The apps' role. Not the usual `apps`: an agent already running on this engine (a real
 * one, or a test's) keeps serving exactly what it served before the demo.
 */
const ROLE = 'demo';
const APPS = 3;
const PRIORITY: Record<string, string> = { [first.name]: '150', [second.name]: '100' };

const say = (s = '') => process.stdout.write(`${s}\n`);
/** A host's control socket: in its agent's run directory. */
const control = (n: LbNode) => controlSocketPath(join(RUN, n.name));
const node = process.execPath;

function startAgent(n: LbNode): void {
  const dir = join(STATE, n.name);
  mkdirSync(join(dir, 'etc'), { recursive: true });
  mkdirSync(join(RUN, n.name), { recursive: true });
  const log = openSync(join(dir, 'agent.log'), 'a');
  const env = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    VIPKEEPER_VIRTUAL_IPS: `${lab.vip}/24`,
    VIPKEEPER_INTERFACE: 'eth0',
    VIPKEEPER_PRIORITY: PRIORITY[n.name]!,
    VIPKEEPER_ROUTER_ID: n.name,
    VIPKEEPER_VIRTUAL_ROUTER_ID: '57',
    // Version 3 with 0.1 s adverts: failover in a fraction of a second.
    VIPKEEPER_VRRP_VERSION: '3',
    VIPKEEPER_ADVERT_INT: '0.1',
    VIPKEEPER_BACKEND_ROLE: ROLE,
    // This engine carries no role label; a real host would (dockerd --label role=load-balancer).
    VIPKEEPER_NODE_ROLE: '',
    // Published ports of the engine answer on the bridge's own address.
    VIPKEEPER_PUBLISHED_HOST: lab.hostAddress,
    VIPKEEPER_CONFIG_DIR: join(dir, 'etc'),
    VIPKEEPER_RUN_DIR: join(RUN, n.name),
    VIPKEEPER_LOG_FORMAT: 'pretty',
  };
  const child = spawn('nsenter', [`--net=/var/run/netns/${n.ns}`, node, CLI, 'run'], { env, detached: true, stdio: ['ignore', log, log] });
  child.unref();
  writeFileSync(join(dir, 'agent.pid'), String(child.pid));
}

const get = (host: string) => httpBody({ host, port: 80, timeoutMs: 2000 });

async function vrrpState(n: LbNode): Promise<string | null> {
  const r = await lab.exec(n, node, [CLI, 'status', '--json'], true);
  if (r.code !== 0) return null;
  return (JSON.parse(r.stdout) as { vrrp: { state: string } | null }).vrrp?.state ?? null;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function down(): Promise<void> {
  // The agents first: on SIGTERM each stops keepalived (priority 0) and haproxy itself.
  for (const n of lab.nodes) {
    const pidFile = join(STATE, n.name, 'agent.pid');
    if (!existsSync(pidFile)) continue;
    const pid = Number(readFileSync(pidFile, 'utf8'));
    if (!alive(pid)) continue;
    process.kill(pid, 'SIGTERM');
    await waitFor(`the agent of ${n.name} to stop`, async () => !alive(pid), 30_000, 100).catch(() => process.kill(pid, 'SIGKILL'));
  }
  // Anything still running in a namespace (after a crash, say) ends with it.
  for (const n of lab.nodes) {
    const pids = (await sh('ip', ['netns', 'pids', n.ns], { allowFail: true })).stdout.split('\n').filter(Boolean);
    for (const pid of pids) await sh('kill', ['-9', pid], { allowFail: true });
  }
  await lab.down();
  if (await dockerAnswers()) {
    const ids = (await docker('ps', '-aq', '--filter', `label=${DEMO_LABEL}`)).split('\n').filter(Boolean);
    if (ids.length > 0) await sh('docker', ['rm', '-f', ...ids]);
  }
  rmSync(RUN, { recursive: true, force: true });
  rmSync(STATE, { recursive: true, force: true });
}

async function up(): Promise<void> {
  await down();
  if (!(await dockerAnswers())) {
    say('demo: starting dockerd (it keeps running afterwards)');
    await startDockerd();
    // The demo does not own it: a later test run must not stop it either.
    forgetDockerd();
  }
  await ensureAppImage(APP_IMAGE);
  say(`demo: two load-balancer hosts, ${first.ns} (${first.address}) and ${second.ns} (${second.address}), on bridge ${lab.bridge}`);
  await lab.up();
  for (let i = 1; i <= APPS; i++) {
    await docker('run', '-d', '--name', `vkdemo-app-${i}`, '-l', `${DEMO_LABEL}=1`, '-l', `role=${ROLE}`, '-p', '80', APP_IMAGE);
  }
  say(`demo: ${APPS} app containers labelled role=${ROLE}, each publishing port 80 on a random host port`);
  // The first agent alone first, so the demo always starts with the same master.
  startAgent(first);
  await lab.waitHolder(first.name, 60_000);
  startAgent(second);
  await waitFor(`${second.name} to be BACKUP`, async () => (await vrrpState(second)) === 'BACKUP', 60_000, 200);
  say(`demo: vipkeeper runs in both; ${first.name} is MASTER and holds the VIP ${lab.vip}, ${second.name} is BACKUP`);

  await waitFor('an answer through the VIP', () => get(lab.vip).then(() => true), 30_000, 100);
  say('');
  say(`== Requests through the VIP (curl http://${lab.vip}/)`);
  for (let i = 0; i < APPS; i++) say(`  ${await get(lab.vip)}`);

  say('');
  // Each host's agent has its own run directory, and so its own control socket (a unix socket is
  // no network namespace's own): the drill names it.
  say(`== Failover drill on the master: ip netns exec ${first.ns} node dist/main.js drill --mode graceful --control ${control(first)}`);
  const drill = await lab.exec(first, node, [CLI, 'drill', '--mode', 'graceful', '--control', control(first)], true);
  say(drill.stdout.trimEnd());
  if (drill.code !== 0) {
    say(drill.stderr.trimEnd());
    throw new Error(`the drill failed (exit code ${drill.code})`);
  }
  const holders = await lab.holders();
  say('');
  say(`== After the drill: the VIP is on ${holders.join(', ')} (nopreempt: ${first.name} came back as BACKUP and leaves it there)`);
  say(`  ${await get(lab.vip)}`);

  const dir = (n: LbNode) => `.demo/${n.name}`;
  const tips: [string, string][] = [
    [`ip netns exec ${second.ns} node dist/main.js status`, 'VRRP state, VIPs, backends, last change'],
    [`ip netns exec ${second.ns} curl -s 127.0.0.1:9321/metrics`, 'Prometheus metrics (each host has its own status server)'],
    [`curl http://${lab.vip}/`, 'again and again: the apps take turns'],
    [`ip -n ${second.ns} addr show eth0`, "the VIP on the master's interface"],
    [`docker run -d -l ${DEMO_LABEL}=1 -l role=${ROLE} -p 80 ${APP_IMAGE}`, 'a new backend, served within a second'],
    ['docker stop vkdemo-app-1', 'drained at once, then gone from the backend'],
    [`ip netns exec ${second.ns} node dist/main.js drill --mode haproxy --control ${control(second)}`, "another drill, on the master, through its agent's control socket"],
    [`tail -f ${dir(first)}/agent.log ${dir(second)}/agent.log`, "the agents' logs"],
    [`cat ${dir(second)}/etc/haproxy.cfg ${dir(second)}/etc/keepalived.conf`, 'the rendered configs'],
  ];
  say('');
  say(`== Look around (in ${REPO})`);
  for (const [command, what] of tips) {
    say(`  ${command}`);
    say(`      ${what}`);
  }
  say('');
  say('== Tear down');
  say('  bash scripts/demo.sh down');
}

const action = process.argv[2] ?? 'up';
try {
  if (action === 'down') {
    await down();
    say('demo: removed');
  } else {
    await up();
  }
} catch (err) {
  process.stderr.write(`demo: ${(err as Error).message}\n(the logs are in .demo/*/agent.log; bash scripts/demo.sh down removes everything)\n`);
  process.exit(1);
}
