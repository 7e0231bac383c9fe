import { Agent } from '../agent/agent.js';
import { loadEnvironment } from '../config/load-environment.js';
import { FatalError } from '../errors.js';
import { readHostFacts } from '../host/read-host-facts.js';
import type { Logger } from '../log.js';

/**
 * `vipkeeper run`: the long-running agent. Resolves with the exit code once
 * stopped: 0 after SIGTERM/SIGINT; a fault nothing handled (an unhandled
 * rejection, an uncaught exception) is logged with its stack, the children are
 * stopped cleanly (never orphans holding the VIP), and it rejects with a
 * FatalError so that main exits non-zero and a supervisor restarts the agent.
 */
export async function runCommand(env: NodeJS.ProcessEnv, log: Logger): Promise<number> {
  const facts = await readHostFacts();
  const { config, warnings } = await loadEnvironment(env, facts);
  log.level = config.logLevel;
  for (const w of warnings) log.warn({ variable: w.variable }, w.message);
  log.info(
    { interface: config.interface, vips: config.virtualIps.map((v) => `${v.address}/${v.prefix}`), configDir: config.configDir, docker: config.dockerHost, engines: config.engines.map((e) => e.endpoint), swarm: config.swarm },
    'vipkeeper starting',
  );

  const agent = new Agent({ config, env, facts, log });
  let stopping: Promise<void> | null = null;
  let fatal: unknown = null;
  let stopped!: () => void;
  const done = new Promise<void>((resolve) => (stopped = resolve));
  const stop = () => (stopping ??= agent.stop().catch((err: unknown) => log.error({ err }, 'stopping failed')).finally(stopped));
  const onSignal = (signal: NodeJS.Signals) => {
    log.info({ signal }, 'stopping');
    void stop();
  };
  const onFault = (kind: string) => (err: unknown) => {
    log.fatal({ err, kind }, `${kind}: stopping haproxy and keepalived, then exiting so that a supervisor restarts the agent`);
    fatal ??= err;
    void stop();
  };
  const onRejection = onFault('unhandled rejection');
  const onException = onFault('uncaught exception');
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  try {
    // A start that fails undoes its own steps (and leaves children it kept running).
    await agent.start();
    await done;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  }
  if (fatal !== null) throw new FatalError(`the agent stopped after a fault: ${(fatal as Error)?.message ?? String(fatal)}`, fatal);
  return 0;
}
