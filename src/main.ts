#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { readFile, writeFile } from 'node:fs/promises';
import { renderCommand } from './cli/render-command.js';
import { drillCommand } from './cli/drill-command.js';
import { runCommand } from './cli/run-command.js';
import { AgentUnreachableError, DEFAULT_STATUS_ADDR } from './cli/status-client.js';
import { checkCommand, type Outcome, showCommand, verifyCommand } from './cli/operate-commands.js';
import { type ChangeOutcome, disableCommand, enableCommand, maintenanceCommand } from './cli/change-commands.js';
import { statusCommand } from './cli/status-command.js';
import { versionCommand } from './cli/version-command.js';
import { controlSocketPath, DEFAULT_RUN_DIR } from './config/paths.js';
import { ControlUnreachableError } from './control/control-client.js';
import { ControlRefusedError } from './control/control-types.js';
import { envExampleBlock, envReference, labelReference, updateEnvExample, updateReferences } from './config/reference.js';
import { ConfigError, VipkeeperError } from './errors.js';
import { createLogger } from './log.js';

// The only place that decides exit codes and calls process.exit.

export const EXIT = {
  ok: 0,
  /** A failure, or the answer to an operator's question is "no" (check, verify). */
  failure: 1,
  badEnvironment: 2,
  /** Bad usage: an unknown option, a missing argument, options that exclude each other. */
  badUsage: 2,
  configRejected: 3,
  dockerUnavailable: 4,
} as const;

const EXIT_BY_CODE: Record<string, number> = {
  E_CONFIG: EXIT.badEnvironment,
  E_CONFIG_REJECTED: EXIT.configRejected,
  E_DOCKER: EXIT.dockerUnavailable,
  // Two agents configured on one VIPKEEPER_RUN_DIR: a bad environment.
  E_RUN_DIR_LOCKED: EXIT.badEnvironment,
  E_USAGE: EXIT.badUsage,
  // The agent could not answer as asked (no such service, still starting).
  E_CONTROL_REFUSED: EXIT.failure,
};

const EXIT_BY_OUTCOME: Record<Outcome, number> = { ok: EXIT.ok, no: EXIT.failure };
/** disable/enable/maintenance: done, the agent's answer is no (nothing changed), or the request was bad. */
const EXIT_BY_CHANGE: Record<ChangeOutcome, number> = { ok: EXIT.ok, no: EXIT.failure, usage: EXIT.badUsage };

class UsageError extends VipkeeperError {
  readonly code = 'E_USAGE';
}

function durationMs(value: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
  if (!m) throw new UsageError(`${option} must be a duration like 2s or 500ms, not ${JSON.stringify(value)}`);
  return Number(m[1]) * ({ ms: 1, s: 1000, m: 60_000 }[m[2] ?? 's'] ?? 1000);
}

function logLevel(): string {
  const v = process.env.VIPKEEPER_LOG_LEVEL?.trim().toLowerCase();
  return v && ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(v) ? v : 'info';
}

// Read before the environment is validated, so even that validation logs in the asked-for form.
function logFormat(): 'json' | 'pretty' {
  return process.env.VIPKEEPER_LOG_FORMAT?.trim() === 'pretty' ? 'pretty' : 'json';
}

async function main(argv: string[]): Promise<number> {
  const log = createLogger(logLevel(), logFormat());
  const print = (s: string) => process.stdout.write(`${s}\n`);
  let exitCode: number = EXIT.ok;
  const program = new Command()
    .name('vipkeeper')
    .description('Keeps a keepalived VIP and HAProxy in step with the containers Docker runs.')
    .showHelpAfterError()
    // Commander's usage errors are thrown (and mapped to EXIT.badUsage below), not exited on; set before any command, which inherit it.
    .exitOverride()
    .option('-V, --version', 'print the version, and those of the haproxy and keepalived found');

  program
    .command('render')
    .description('render haproxy.cfg and keepalived.conf from the environment and Docker, check them, write them to DIR')
    .requiredOption('-o, --out <dir>', 'directory to write the files into')
    .option('--json', 'print the report as JSON', false)
    .action(async (opts: { out: string; json: boolean }) => {
      exitCode = await renderCommand(opts, process.env, log, print);
    });

  program
    .command('run')
    .description('run the agent: follow Docker, supervise haproxy and keepalived, apply every change')
    .action(async () => {
      exitCode = await runCommand(process.env, log);
    });

  const statusAddr = process.env.VIPKEEPER_STATUS_ADDR?.trim() || DEFAULT_STATUS_ADDR;
  const controlSocket = controlSocketPath(process.env.VIPKEEPER_RUN_DIR?.trim() || DEFAULT_RUN_DIR);
  program
    .command('status')
    .description("show the running agent's state: VRRP, VIPs, backends with HAProxy's view, last pass, children")
    .option('--json', 'print JSON', false)
    .option('--addr <host:port>', 'status address of the agent', statusAddr)
    .action(async (opts: { json: boolean; addr: string }) => {
      exitCode = await statusCommand(opts, print);
    });

  program
    .command('drill')
    .description('failover drill, run on the MASTER: give the VIP up, measure the failover through the VIP, restore')
    .requiredOption('--mode <mode>', 'graceful (stop advertising), haproxy (stop haproxy) or fault (force FAULT)')
    .option('--probe <url>', 'URL to probe every 20 ms (default: http://<first VIP>:<frontend port>/)')
    .option('--hold <duration>', 'how long to keep this node out after the VIP answers elsewhere (e.g. 2s, 500ms)', '2s')
    .option('--timeout <duration>', 'give up waiting for the failover after this long', '30s')
    .option('--force', 'run even when this node is not MASTER', false)
    .option('--instance <name>', "one VRRP instance (VIPKEEPER_INSTANCES): its VIPs are drilled and measured; with --mode fault only they move")
    .option('--json', 'print the report as JSON', false)
    .option('--addr <host:port>', 'status address of the agent (its state is read there)', statusAddr)
    .option('--control <path>', "the agent's control socket (the drill is asked for there; root only)", controlSocket)
    .action(async (opts: { mode: string; probe?: string; hold: string; timeout: string; force: boolean; json: boolean; addr: string; control: string; instance?: string }) => {
      if (!['graceful', 'haproxy', 'fault'].includes(opts.mode)) throw new UsageError(`--mode must be graceful, haproxy or fault, not ${JSON.stringify(opts.mode)}`);
      exitCode = await drillCommand(
        {
          mode: opts.mode as 'graceful' | 'haproxy' | 'fault',
          ...(opts.probe ? { probe: opts.probe } : {}),
          holdMs: durationMs(opts.hold, '--hold'),
          timeoutMs: durationMs(opts.timeout, '--timeout'),
          force: opts.force,
          json: opts.json,
          addr: opts.addr,
          control: opts.control,
          ...(opts.instance !== undefined ? { instance: opts.instance } : {}),
        },
        print,
        (s) => process.stderr.write(`vipkeeper drill: ${s}\n`),
      );
    });

  // The operator's read-only questions, asked over the control socket (root only, like the drill).
  const format = (o: { json: boolean; yaml: boolean }) => {
    if (o.json && o.yaml) throw new UsageError('--json and --yaml exclude each other: give one');
    return o.json ? 'json' : o.yaml ? 'yaml' : 'table';
  };
  const warnAs = (command: string) => (s: string) => process.stderr.write(`vipkeeper ${command}: ${s}\n`);
  const readCommand = (name: string, description: string) =>
    program
      .command(name)
      .description(description)
      .option('--json', 'print JSON', false)
      .option('--yaml', 'print YAML', false)
      .option('--control <path>', "the agent's control socket (root only)", controlSocket)
      // Bad usage is one line on stderr (exit 2), not the whole help.
      .showHelpAfterError(false);
  type ReadOpts = { json: boolean; yaml: boolean; control: string };

  readCommand('show', "services, their frontends and every server: container, address, weight, HAProxy's health, admin state and who set it")
    .argument('[service]', 'only this service')
    .action(async (service: string | undefined, opts: ReadOpts) => {
      const outcome = await showCommand({ control: opts.control, format: format(opts), service: service ?? null }, print);
      exitCode = EXIT_BY_OUTCOME[outcome];
    });

  readCommand('check', 'exit 0 when every CONTAINER (a name, an id prefix, or ENGINE/NAME) is balanced and up; else 1, saying why')
    .argument('<container...>', 'containers to check')
    .action(async (containers: string[], opts: ReadOpts) => {
      if (containers.some((c) => c.trim() === '')) throw new UsageError('a container must be a name or an id prefix, not an empty string');
      const outcome = await checkCommand({ control: opts.control, format: format(opts), containers }, print, warnAs('check'));
      exitCode = EXIT_BY_OUTCOME[outcome];
    });

  readCommand('verify', "exit 0 when HAProxy's servers and the containers every engine runs now agree; else 1, listing each server with no running container and each labelled running container not served")
    .action(async (opts: ReadOpts) => {
      const outcome = await verifyCommand({ control: opts.control, format: format(opts) }, print, warnAs('verify'));
      exitCode = EXIT_BY_OUTCOME[outcome];
    });

  // The operator's changes, asked over the control socket (root only, like the drill).
  const reasonOf = (r: string | undefined) => {
    if (r === undefined) return null;
    if (r.length > 200 || /[\u0000-\u001f\u007f]/.test(r)) throw new UsageError('--reason must be one line of at most 200 characters');
    return r.trim() || null;
  };
  program
    .command('disable')
    .description('take a server out of balancing without a reload (maintenance, or --drain first); kept across restarts until enable')
    .argument('<target>', 'a container name or id (prefix), or SERVICE/SERVER')
    .option('--drain', 'drain first: no new requests, maintenance once its connections are done', false)
    .option('--reason <text>', 'why, kept with it and shown by status and show')
    .option('--json', 'print the answer as JSON', false)
    .option('--yaml', 'print the answer as YAML', false)
    .option('--control <path>', "the agent's control socket (root only)", controlSocket)
    .showHelpAfterError(false)
    .action(async (target: string, opts: { drain: boolean; reason?: string; json: boolean; yaml: boolean; control: string }) => {
      const outcome = await disableCommand({ target, drain: opts.drain, reason: reasonOf(opts.reason), format: format(opts), control: opts.control }, print, warnAs('disable'));
      exitCode = EXIT_BY_CHANGE[outcome];
    });

  program
    .command('enable')
    .description('bring a server an operator disabled back into balancing')
    .argument('<target>', 'a container name or id (prefix), or SERVICE/SERVER')
    .option('--json', 'print the answer as JSON', false)
    .option('--yaml', 'print the answer as YAML', false)
    .option('--control <path>', "the agent's control socket (root only)", controlSocket)
    .showHelpAfterError(false)
    .action(async (target: string, opts: { json: boolean; yaml: boolean; control: string }) => {
      exitCode = EXIT_BY_CHANGE[await enableCommand({ target, format: format(opts), control: opts.control }, print, warnAs('enable'))];
    });

  program
    .command('maintenance')
    .description('on: this node gives the VIP up to a peer and stays out of VRRP until off (kept across agent restarts)')
    .argument('<on|off>', 'on or off')
    .option('--force', 'give the VIP up even when no peer is seen taking it', false)
    .option('--wait', "wait until a peer answers through the VIP (each instance's); report how long it took and the requests that failed", false)
    .option('--reason <text>', 'why, shown by status')
    .option('--probe <[instance=]url>', 'URL --wait probes (default: http://<first VIP>:<frontend port>/ of each instance); NAME=URL for instance NAME, repeatable', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--timeout <duration>', 'how long --wait waits', '30s')
    .option('--json', 'print the answer as JSON', false)
    .option('--yaml', 'print the answer as YAML', false)
    .option('--addr <host:port>', 'status address of the agent (--wait reads the VIPs there)', statusAddr)
    .option('--control <path>', "the agent's control socket (root only)", controlSocket)
    .showHelpAfterError(false)
    .action(async (mode: string, opts: { force: boolean; wait: boolean; reason?: string; probe: string[]; timeout: string; json: boolean; yaml: boolean; addr: string; control: string }) => {
      if (mode !== 'on' && mode !== 'off') throw new UsageError(`maintenance takes on or off, not ${JSON.stringify(mode)}`);
      if (mode === 'off' && (opts.force || opts.wait)) throw new UsageError('--force and --wait go with maintenance on');
      const outcome = await maintenanceCommand(
        {
          on: mode === 'on',
          force: opts.force,
          wait: opts.wait,
          reason: reasonOf(opts.reason),
          probes: opts.probe,
          timeoutMs: durationMs(opts.timeout, '--timeout'),
          format: format(opts),
          addr: opts.addr,
          control: opts.control,
        },
        print,
        warnAs('maintenance'),
      );
      exitCode = EXIT_BY_CHANGE[outcome];
    });

  program
    .command('reference')
    .description('print the environment variable and label references (Markdown)')
    .option('--update <readme>', 'rewrite the reference blocks of this README instead')
    .option('--env-example', 'print the variable lines of an .env file, every variable with its meaning')
    .option('--update-env-example <file>', 'rewrite the variable lines of this .env example (its values are kept)')
    .action(async (opts: { update?: string; envExample?: boolean; updateEnvExample?: string }) => {
      if (opts.update) {
        await writeFile(opts.update, updateReferences(await readFile(opts.update, 'utf8')));
      }
      if (opts.updateEnvExample) {
        await writeFile(opts.updateEnvExample, updateEnvExample(await readFile(opts.updateEnvExample, 'utf8')));
      }
      if (opts.envExample) {
        print(envExampleBlock().trimStart());
      } else if (!opts.update && !opts.updateEnvExample) {
        print(`## Environment\n\n${envReference()}\n\n## Labels\n\n${labelReference()}`);
      }
    });

  try {
    // `--version` alone, before commander, which wants a command after its root options.
    const words = argv.slice(2);
    if (words.length === 1 && (words[0] === '--version' || words[0] === '-V')) {
      await versionCommand(print);
      return EXIT.ok;
    }
    await program.parseAsync(argv);
    return exitCode;
  } catch (err) {
    // Commander said what was wrong already (or printed the help asked for).
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.badUsage;
    if (err instanceof UsageError || err instanceof AgentUnreachableError || err instanceof ControlUnreachableError || err instanceof ControlRefusedError) {
      process.stderr.write(`vipkeeper: ${err.message}\n`);
      return EXIT_BY_CODE[err.code] ?? EXIT.failure;
    }
    if (err instanceof ConfigError) {
      // One message naming every bad variable; values of secrets are already masked.
      process.stderr.write(`vipkeeper: ${err.message}\n`);
      return EXIT.badEnvironment;
    }
    if (err instanceof VipkeeperError) {
      log.error({ code: err.code, ...(err.cause !== undefined ? { err } : {}) }, err.message);
      return EXIT_BY_CODE[err.code] ?? EXIT.failure;
    }
    log.fatal({ err }, 'unexpected failure');
    return EXIT.failure;
  }
}

main(process.argv).then(
  (code) => process.exit(code),
  () => process.exit(EXIT.failure),
);
