import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO } from './support/cli.js';
import { VIPKEEPER_IMAGE, ensureVipkeeperImage } from './support/image.js';
import { docker, sh } from './support/lab.js';

// docker/Dockerfile, built here the way users without a registry build it
// (scripts/image/build.sh). The compose test runs it; this one checks its contents.

const inImage = (...cmd: string[]) => docker('run', '--rm', '--entrypoint', cmd[0]!, VIPKEEPER_IMAGE, ...cmd.slice(1));

describe('the vipkeeper image', () => {
  beforeAll(async () => {
    await ensureVipkeeperImage();
  }, 900_000);

  it('is rebuilt only when its inputs change', async () => {
    const r = await sh('bash', [join(REPO, 'scripts/image/build.sh'), VIPKEEPER_IMAGE]);
    expect(r.stderr).toContain('is up to date');
  });

  it('holds Node 20, haproxy 2.6+, keepalived 2.2+, and the agent without its dev dependencies', async () => {
    expect(await inImage('node', '--version')).toMatch(/^v20\./);
    const [, hMajor, hMinor] = /HAProxy version (\d+)\.(\d+)/.exec(await inImage('haproxy', '-v')) ?? [];
    expect(Number(hMajor) * 100 + Number(hMinor)).toBeGreaterThanOrEqual(206);
    const [, kMajor, kMinor] = /Keepalived v(\d+)\.(\d+)/.exec(await inImage('sh', '-c', 'keepalived --version 2>&1')) ?? [];
    expect(Number(kMajor) * 100 + Number(kMinor)).toBeGreaterThanOrEqual(202);
    expect(await inImage('vipkeeper', '--help')).toContain('Usage: vipkeeper');
    const files = await inImage('sh', '-c', 'ls /opt/vipkeeper /opt/vipkeeper/node_modules');
    expect(files).toContain('dist');
    for (const dev of ['typescript', 'vitest', 'src', 'test']) expect(files.split(/\s+/)).not.toContain(dev);
  });

  it("carries the Docker socket proxy's config, valid for its haproxy", async () => {
    const out = await inImage('haproxy', '-c', '-f', '/opt/vipkeeper/docker-socket-proxy/haproxy.cfg');
    expect(out).toContain('Configuration file is valid');
  });

  it('runs the agent under tini with a /healthz HEALTHCHECK, and reports its size', async () => {
    const config = JSON.parse(await docker('image', 'inspect', '-f', '{{json .Config}}', VIPKEEPER_IMAGE)) as {
      Entrypoint: string[];
      Cmd: string[];
      Healthcheck: { Test: string[] };
    };
    expect(config.Entrypoint).toEqual(['/usr/bin/tini', '--', 'node', '--interrupt-budget=1048576', '/opt/vipkeeper/dist/main.js']);
    expect(config.Cmd).toEqual(['run']);
    expect(config.Healthcheck.Test.join(' ')).toContain('/healthz');
    const bytes = Number(await docker('image', 'inspect', '-f', '{{.Size}}', VIPKEEPER_IMAGE));
    console.log(`image ${VIPKEEPER_IMAGE}: ${(bytes / 1e6).toFixed(0)} MB (${bytes} bytes)`);
    expect(bytes).toBeGreaterThan(0);
  });
});
