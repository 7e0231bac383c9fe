import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDocker } from '../../src/docker/docker-engine.js';
import { Docker, UNUSED_BY_VIPKEEPER } from '../../src/docker/load-dockerode.js';
import { FAKE_CONTAINER_ID, FakeEngineServer } from './support/fake-engine-server.js';

// dockerode loads gRPC (BuildKit sessions) and ssh2 (ssh:// endpoints) at load
// time; src/docker/load-dockerode.ts keeps them out. Here every Docker call the
// agent makes runs against a fake engine on a unix socket, and afterwards none
// of those packages has a file of its own in the require cache: the one entry
// each has is the inert stand-in.

const require = createRequire(import.meta.url);
const cache = require.cache;

const dir = mkdtempSync(join(tmpdir(), 'vipkeeper-dockerode-'));
const socket = join(dir, 'engine.sock');
const engine = new FakeEngineServer({ unknown: 'not-found', firstEvents: [{ Type: 'container', Action: 'start', Actor: { ID: FAKE_CONTAINER_ID } }] });

/** Files in the require cache that belong to `pkg` (any copy of it under node_modules). */
const filesOf = (pkg: string): string[] => Object.keys(cache).filter((f) => f.includes(`${sep}node_modules${sep}${pkg.split('/').join(sep)}${sep}`));

describe('dockerode without gRPC and ssh2', () => {
  beforeAll(() => engine.listen(socket));
  afterAll(async () => {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs every call the agent makes, and loads none of them (nor protobufjs)', async () => {
    // The check looks at the right cache: dockerode itself is in it.
    expect(filesOf('dockerode').length).toBeGreaterThan(0);
    expect(filesOf('docker-modem').length).toBeGreaterThan(0);

    const e = await connectDocker(`unix://${socket}`);
    expect(e.apiVersion).toBe('1.45');
    await e.ping();
    expect(await e.listLabelled('role', 'apps')).toHaveLength(1);
    expect((await e.listSwarm('role', 'apps')).services).toHaveLength(1);
    expect(await e.engineLabels()).toEqual({ role: 'load-balancer' });
    expect(await e.swarmNodeId()).toBe('node1');
    expect(await e.api.getNode('node1').inspect()).toMatchObject({ ID: 'node1' });
    const events = (await e.streamApi.getEvents({ filters: { type: ['container'] } })) as unknown as Readable;
    const first = await new Promise<string>((resolve) => events.once('data', (c: Buffer) => resolve(String(c))));
    expect(JSON.parse(first)).toMatchObject({ Action: 'start' });
    events.destroy();

    for (const pkg of [...Object.keys(UNUSED_BY_VIPKEEPER), 'protobufjs']) {
      const files = filesOf(pkg);
      // At most the stand-in, at the file dockerode would load, and it is not the package.
      expect(files.length, `${pkg}: ${files.length} files, such as ${files.slice(0, 3).join(', ')}`).toBeLessThanOrEqual(1);
      for (const f of files) expect(typeof cache[f]!.exports, f).toBe('function');
      for (const f of files) expect(() => (cache[f]!.exports as () => void)(), f).toThrow(/vipkeeper does not load/);
    }
  });

  it('an explicit unix:// endpoint wins over a DOCKER_HOST in the environment', async () => {
    const saved = process.env.DOCKER_HOST;
    process.env.DOCKER_HOST = 'tcp://127.0.0.1:9';
    try {
      const e = await connectDocker(`unix://${socket}`);
      await e.ping();
      expect(await e.listLabelled('role', 'apps')).toHaveLength(1);
    } finally {
      if (saved === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = saved;
    }
  });

  it('the same dockerode: a plain import finds the one loaded after the stand-ins', async () => {
    const { default: imported } = await import('dockerode');
    expect(imported).toBe(Docker);
  });

  it('an ssh:// engine, should one get through, fails with an error that says why', async () => {
    const ssh = new Docker({ protocol: 'ssh', host: '127.0.0.1', port: 1, username: 'nobody' });
    await expect(ssh.ping()).rejects.toThrow(/ssh2\.Client was called, but vipkeeper does not load ssh2: .*ssh:\/\//);
  });
});
