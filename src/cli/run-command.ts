import { Agent } from '../agent/agent.js';
import { loadEnvironment } from '../config/load-environment.js';
import { readHostFacts } from '../host/read-host-facts.js';
import type { Logger } from '../log.js';

/** `vipkeeper run`: the long-running agent. Resolves with the exit code once stopped by a signal. */
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
  const stopped = new Promise<void>((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      log.info({ signal: sig }, 'stopping');
      stopping ??= agent.stop().finally(resolve);
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  try {
    await agent.start();
  } catch (err) {
    await agent.stop().catch(() => undefined);
    throw err;
  }
  await stopped;
  return 0;
}
