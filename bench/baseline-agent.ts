import { mkdir } from 'node:fs/promises';
import { loadEnvironment } from '../src/config/load-environment.js';
import { runtimePaths } from '../src/config/paths.js';
import { connectDocker } from '../src/docker/docker-engine.js';
import { DockerEvents } from '../src/docker/docker-events.js';
import { ConfigStore } from '../src/files/config-store.js';
import { HaproxyProcess } from '../src/haproxy/haproxy-process.js';
import { createLogger } from '../src/log.js';
import { planConfigs } from '../src/pipeline.js';
import { loadTemplates } from '../src/render/load-templates.js';
import { realValidator } from '../src/validate/check-config.js';

// The benchmark's baseline: what the seed projects do. On every Docker event
// that changes the backend list: list, render, write, reload haproxy. No
// Runtime API, no drain on stop, no debounce. Same renderer and same haproxy
// binary as vipkeeper, so the comparison isolates the way changes are applied.

const log = createLogger('info');
const { config } = await loadEnvironment(process.env);
const store = new ConfigStore(config.configDir);
await store.init();
await mkdir(config.runDir, { recursive: true });
const docker = await connectDocker(config.dockerHost);
const templates = await loadTemplates(config.templatesDir);
const haproxy = new HaproxyProcess(runtimePaths(config), log);
const validate = realValidator();

async function render(): Promise<boolean> {
  const { rendered } = planConfigs(config, await docker.listLabelled(config.roleLabel, config.backendRole), templates);
  return store.install('haproxy.cfg', rendered.haproxyCfg, (f) => validate('haproxy', f));
}

await render();
haproxy.start();
await haproxy.waitReady();
log.info('baseline ready');

let queue = Promise.resolve();
const events = new DockerEvents(docker, log);
events.on('event', (e: { action: string }) => {
  if (!['start', 'die', 'stop', 'destroy'].includes(e.action)) return;
  queue = queue.then(async () => {
    if (await render()) {
      await haproxy.reload();
      log.info({ reason: e.action }, 'reload');
    }
  }).catch((err: unknown) => log.error({ err: String(err) }, 'baseline apply failed'));
});
await events.start();

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    events.close();
    void queue.then(() => haproxy.stop()).then(() => process.exit(0));
  });
}
