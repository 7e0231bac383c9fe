import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { controlSocketPath } from '../../../src/config/paths.js';
import { showServersState, type ServerStateRow } from '../../../src/haproxy/runtime-api.js';
import { CLI, REPO } from './cli.js';
import { httpGet, TEST_IFACE, TEST_VIP, waitFor } from './lab.js';

// Runs the real `vipkeeper run` as a child process, as an operator would,
// and reads its JSON log lines.

export const TEST_FRONTEND_PORT = 18080;

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [key: string]: unknown;
}

export class AgentUnderTest {
  readonly configDir: string;
  readonly runDir: string;
  readonly logs: LogLine[] = [];
  #child: ChildProcess | null = null;
  #exit: Promise<number | null> | null = null;

  /**
   * `command` is the whole argv, `node dist/main.js run` by default; the benchmark runs its
   * baseline through this, and the namespace lab prefixes nsenter.
   */
  constructor(
    private readonly extraEnv: Record<string, string> = {},
    private readonly command: readonly string[] = [process.execPath, CLI, 'run'],
    /** Start where an earlier agent ran (its config and run dirs), as a restart does. */
    previous?: AgentUnderTest,
  ) {
    this.configDir = previous?.configDir ?? join(mkdtempSync(join(tmpdir(), 'vipkeeper-agent-')), 'etc');
    this.runDir = previous?.runDir ?? mkdtempSync('/run/vipkeeper-test-');
  }

  get adminSocket(): string {
    return join(this.runDir, 'haproxy.sock');
  }

  /** The agent's control socket (drills); `vipkeeper drill --control` takes it. */
  get controlSocket(): string {
    return controlSocketPath(this.runDir);
  }

  start(): void {
    const env = {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      VIPKEEPER_VIRTUAL_IPS: TEST_VIP,
      VIPKEEPER_INTERFACE: TEST_IFACE,
      VIPKEEPER_CONFIG_DIR: this.configDir,
      VIPKEEPER_RUN_DIR: this.runDir,
      VIPKEEPER_FRONTEND_PORT: String(TEST_FRONTEND_PORT),
      // The lab's engine carries no role labels; the node role gate has its own tests.
      VIPKEEPER_NODE_ROLE: '',
      VIPKEEPER_VIRTUAL_ROUTER_ID: '210',
      VIPKEEPER_LOG_LEVEL: 'debug',
      ...this.extraEnv,
    };
    const [bin, ...args] = this.command;
    const child = spawn(bin!, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    let buffer = '';
    child.stderr!.on('data', (d: Buffer) => {
      buffer += d.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        try {
          this.logs.push(JSON.parse(line) as LogLine);
        } catch {
          this.logs.push({ level: 50, msg: line });
        }
      }
    });
    this.#exit = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** `SIGKILL` simulates a crash: the agent's children and its run dir are left behind. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (!this.#child || !this.#exit) return null;
    this.#child.kill(signal);
    const code = await this.#exit;
    this.saveLog();
    if (signal !== 'SIGKILL') rmSync(this.runDir, { recursive: true, force: true });
    return code;
  }

  /** Keeps the agent's log under .lab/ for a look after a failed run (CI prints where). */
  saveLog(): string {
    mkdirSync(join(REPO, '.lab', 'logs'), { recursive: true });
    const file = join(REPO, '.lab', 'logs', `agent-${this.pid ?? 'none'}.log`);
    writeFileSync(file, this.logs.map((l) => JSON.stringify(l)).join('\n'));
    return file;
  }

  passes(): LogLine[] {
    return this.logs.filter((l) => l.msg === 'pass');
  }

  async waitLog(what: string, match: (l: LogLine) => boolean, timeoutMs = 30_000): Promise<LogLine> {
    return waitFor(`log line: ${what}`, async () => this.logs.find(match), timeoutMs);
  }

  async servers(backend = 'be_apps'): Promise<ServerStateRow[]> {
    return (await showServersState(this.adminSocket)).filter((r) => r.backend === backend);
  }

  /** Servers HAProxy has up and ready (not drained, not in maintenance), by name. */
  async readyServers(backend = 'be_apps'): Promise<string[]> {
    return (await this.servers(backend))
      .filter((r) => r.opState === 2 && r.adminState === 0)
      .map((r) => r.server)
      .sort();
  }

  async waitServers(names: readonly string[], backend = 'be_apps', timeoutMs = 30_000): Promise<void> {
    const want = [...names].sort().join(',');
    let seen = '';
    await waitFor(`HAProxy backend ${backend} to hold exactly [${want}] (last seen [${seen}])`, async () => {
      seen = (await this.readyServers(backend)).join(',');
      return seen === want;
    }, timeoutMs);
  }
}

/** One HTTP GET through HAProxy; the test app answers with its container name. */
export function get(path = '/', host = '127.0.0.1', headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return httpGet({ host, port: TEST_FRONTEND_PORT, path, headers });
}

/** Which backends answer, over enough requests to see each of `expected` at least once. */
export async function answeringBackends(count: number, host?: string, headers?: Record<string, string>): Promise<string[]> {
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    const r = await get('/', host, headers);
    if (r.status === 200) seen.add(r.body);
  }
  return [...seen].sort();
}
