import { join } from 'node:path';
import { REPO } from './cli.js';
import { sh } from './lab.js';

// vipkeeper's own image, built here by the same script users run (no registry:
// it makes the base image locally the first time). Cached in the engine.

export const VIPKEEPER_IMAGE = 'vipkeeper:local';
/** The app image the demo and the compose example run: it serves `hello from <hostname>` by itself. */
export const DEMO_APP_IMAGE = 'vipkeeper-demoapp:2';

/** Builds the image when missing or stale; minutes on a machine that has neither image yet. */
export async function ensureVipkeeperImage(): Promise<string> {
  const r = await sh('bash', [join(REPO, 'scripts/image/build.sh'), VIPKEEPER_IMAGE]);
  return r.stdout.trim();
}
