import { mkdirSync, mkdtempSync, writeFileSync, copyFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  APP_IMAGE,
  TEST_IFACE,
  TEST_IFACE_ADDRESS,
  dockerAnswers,
  dockerdStartedByTests,
  forgetDockerd,
  removeTestContainers,
  sh,
  startDockerd,
  stopDockerd,
} from './lab.js';

// Sets up the lab once for all lab tests (and the benchmark) and tears down
// what it made, even when tests fail: dockerd (only if none answers), the app image (cached in
// the engine, rebuilt only when missing) and a test interface.

async function ensureDockerd(): Promise<void> {
  forgetDockerd();
  if (await dockerAnswers()) return;
  await startDockerd();
}

/**
 * A tiny app image made here, no registry needed: busybox-static gives sh and httpd. With no
 * command it answers `hello from <container hostname>` on port 80, as the demo and the compose
 * example use it; the tests give their own command. Built only when missing.
 */
export async function ensureAppImage(image: string = APP_IMAGE): Promise<void> {
  if ((await sh('docker', ['image', 'inspect', image], { allowFail: true })).code === 0) return;
  const root = mkdtempSync(join(tmpdir(), 'vipkeeper-app-'));
  mkdirSync(join(root, 'bin'));
  mkdirSync(join(root, 'www'));
  mkdirSync(join(root, 'tmp'));
  copyFileSync('/bin/busybox', join(root, 'bin/busybox'));
  for (const tool of ['sh', 'httpd', 'echo', 'mkdir', 'cat', 'sleep', 'wget', 'nc', 'ls', 'true', 'hostname']) {
    symlinkSync('busybox', join(root, 'bin', tool));
  }
  writeFileSync(join(root, 'www/index.html'), 'vipkeeper test app\n');
  // httpd as PID 1 would ignore SIGTERM and make every `docker stop` wait 10 s.
  const serve =
    'CMD ["sh", "-c", "echo hello from $(hostname) > /www/index.html; httpd -f -v -p 80 -h /www & trap \\"kill $!; exit 0\\" TERM; wait"]';
  await sh('sh', ['-c', `tar -C ${root} -c . | docker import -c 'EXPOSE 80' -c 'ENV PATH=/bin' -c '${serve}' - ${image}`]);
  await sh('rm', ['-rf', root]);
}

async function ensureTestInterface(): Promise<void> {
  await sh('ip', ['link', 'del', TEST_IFACE], { allowFail: true });
  // A veth pair (this kernel has no dummy driver); only our end carries the address.
  await sh('ip', ['link', 'add', TEST_IFACE, 'type', 'veth', 'peer', 'name', `${TEST_IFACE}p`]);
  await sh('ip', ['link', 'set', `${TEST_IFACE}p`, 'up']);
  await sh('ip', ['addr', 'add', TEST_IFACE_ADDRESS, 'dev', TEST_IFACE]);
  await sh('ip', ['link', 'set', TEST_IFACE, 'up']);
}

export async function setupLab(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the lab tests need root (dockerd, interfaces); run them as root');
  await ensureDockerd();
  await ensureAppImage();
  await removeTestContainers();
  await ensureTestInterface();
}

export async function teardownLab(): Promise<void> {
  await removeTestContainers().catch(() => undefined);
  await sh('ip', ['link', 'del', TEST_IFACE], { allowFail: true });
  // Only a dockerd the tests started (here or in a restart test) is stopped again.
  if (dockerdStartedByTests()) {
    await stopDockerd().catch(() => undefined);
    forgetDockerd();
  }
}

