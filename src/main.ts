#!/usr/bin/env node
import { Command } from 'commander';
import { readFile, writeFile } from 'node:fs/promises';
import { renderCommand } from './cli/render-command.js';
import { runCommand } from './cli/run-command.js';
import { envReference, labelReference, updateReferences } from './config/reference.js';
import { ConfigError, VipkeeperError } from './errors.js';
import { createLogger } from './log.js';

// The only place that decides exit codes and calls process.exit.

export const EXIT = {
  ok: 0,
  failure: 1,
  badEnvironment: 2,
  configRejected: 3,
  dockerUnavailable: 4,
} as const;

const EXIT_BY_CODE: Record<string, number> = {
  E_CONFIG: EXIT.badEnvironment,
  E_CONFIG_REJECTED: EXIT.configRejected,
  E_DOCKER: EXIT.dockerUnavailable,
};

function logLevel(): string {
  const v = process.env.VIPKEEPER_LOG_LEVEL?.trim().toLowerCase();
  return v && ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(v) ? v : 'info';
}

async function main(argv: string[]): Promise<number> {
  const log = createLogger(logLevel());
  const print = (s: string) => process.stdout.write(`${s}\n`);
  let exitCode: number = EXIT.ok;
  const program = new Command()
    .name('vipkeeper')
    .description('Keeps a keepalived VIP and HAProxy in step with the containers Docker runs.')
    .showHelpAfterError();

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

  program
    .command('reference')
    .description('print the environment variable and label references (Markdown)')
    .option('--update <readme>', 'rewrite the reference blocks of this README instead')
    .action(async (opts: { update?: string }) => {
      if (opts.update) {
        await writeFile(opts.update, updateReferences(await readFile(opts.update, 'utf8')));
      } else {
        print(`## Environment\n\n${envReference()}\n\n## Labels\n\n${labelReference()}`);
      }
    });

  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (err) {
    if (err instanceof ConfigError) {
      // One message naming every bad variable; values of secrets are already masked.
      process.stderr.write(`vipkeeper: ${err.message}\n`);
      return EXIT.badEnvironment;
    }
    if (err instanceof VipkeeperError) {
      log.error({ code: err.code }, err.message);
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
