import { describe, expect, it } from 'vitest';
import { StartUp, type StartUpParts } from '../../src/agent/start-up.js';
import { parseEnvironment } from '../../src/config/env.js';
import { runtimePaths } from '../../src/config/paths.js';
import type { EngineLink } from '../../src/docker/engine-link.js';
import type { HaproxyProcess } from '../../src/haproxy/haproxy-process.js';
import type { KeepalivedProcess } from '../../src/keepalived/keepalived-process.js';
import { FACTS, MINIMAL_ENV } from './fixtures.js';
import { silentLog } from './support/fakes.js';

// Start-up and its undoing: a start that fails leaves the children it did not
// start alone. A kept keepalived that is MASTER keeps its VIP.

const config = parseEnvironment({ ...MINIMAL_ENV, VIPKEEPER_NODE_ROLE: '' }, FACTS).config;

class FakeChild {
  readonly calls: string[] = [];
  readonly process = {
    adopt: (pid: number) => this.calls.push(`adopt ${pid}`),
    release: () => this.calls.push('release'),
  };
  start() {
    this.calls.push('start');
  }
  async stop() {
    this.calls.push('stop');
  }
  async reload() {
    this.calls.push('reload');
    return 1;
  }
  async waitReady() {
    return 1;
  }
  beginShutdown() {
    this.calls.push('beginShutdown');
  }
}

function rig(kept: { haproxy: number | null; keepalived: number | null }) {
  const haproxy = new FakeChild();
  const keepalived = new FakeChild();
  const removed: string[] = [];
  const paths = runtimePaths(config);
  const link = { state: 'up', start: async () => undefined, status: () => ({}), engine: null } as unknown as EngineLink;
  const parts: StartUpParts = {
    config,
    paths,
    store: { init: async () => undefined },
    haproxy: haproxy as unknown as HaproxyProcess,
    keepalived: keepalived as unknown as KeepalivedProcess,
    haproxyApplier: { markGood: async () => undefined },
    vrrp: { inferFromInterface: async () => undefined },
    fifo: { open: async () => undefined, close: async () => undefined },
    links: [link],
    findAdoptable: async (pidFile) => (pidFile === paths.haproxyPid ? kept.haproxy : kept.keepalived),
    removeVips: async (_i, vips) => {
      removed.push(...vips.map((v) => v.address));
      return [...vips];
    },
    log: silentLog(),
    isClosed: () => false,
  };
  return { startUp: new StartUp(parts), haproxy, keepalived, removed };
}

describe('StartUp: a failed start leaves what it did not start alone', () => {
  it('kept haproxy and keepalived (an earlier agent died): a first apply that fails lets them go running, and no VIP is removed', async () => {
    const r = rig({ haproxy: 101, keepalived: 102 });
    await expect(r.startUp.run(async () => {
      throw new Error('template broken');
    })).rejects.toThrow('template broken');
    expect(r.keepalived.calls).not.toContain('stop');
    expect(r.haproxy.calls).not.toContain('stop');
    expect(r.removed).toEqual([]);
  });

  it('kept children adopted before the failure are released, not stopped', async () => {
    const r = rig({ haproxy: 101, keepalived: 102 });
    await expect(r.startUp.run(async () => {
      const c = r.startUp.children();
      await c.startHaproxy(false);
      await c.startKeepalived(false);
      throw new Error('later step failed');
    })).rejects.toThrow('later step failed');
    expect(r.keepalived.calls).toEqual(['adopt 102', 'release']);
    expect(r.haproxy.calls).toEqual(['adopt 101', 'release']);
    expect(r.removed).toEqual([]);
  });

  it('children this start started itself are stopped, and VIPs cleaned, when it fails', async () => {
    const r = rig({ haproxy: null, keepalived: null });
    await expect(r.startUp.run(async () => {
      const c = r.startUp.children();
      await c.startHaproxy(true);
      await c.startKeepalived(true);
      throw new Error('later step failed');
    })).rejects.toThrow();
    expect(r.keepalived.calls).toEqual(['start', 'stop']);
    expect(r.haproxy.calls).toEqual(['start', 'stop']);
    expect(r.removed.length).toBeGreaterThan(0);
  });

  it('a kept haproxy whose file changed is reloaded, not restarted', async () => {
    const r = rig({ haproxy: 101, keepalived: 102 });
    expect(await r.startUp.run(async () => {
      const c = r.startUp.children();
      await c.startHaproxy(true);
      await c.startKeepalived(false);
    })).toBe(true);
    expect(r.haproxy.calls).toEqual(['adopt 101', 'reload']);
    expect(r.keepalived.calls).toEqual(['adopt 102']);
  });
});
