import { describe, expect, it } from 'vitest';
import { AgentLifecycle, type Closable, serverPart } from '../../src/agent/lifecycle.js';
import { RunDirLockedError } from '../../src/errors.js';
import { recordingLog } from './support/fakes.js';

// The run from lock to stop: a refused agent touches nothing; a failed start
// closes its parts and lets the lock go; a stop freezes the children, closes
// the parts in order, stops the children (keepalived gives the VIP up), and
// lets the lock go last, so no second agent starts while children still run.

function rig(opts: { lockFails?: boolean } = {}) {
  const calls: string[] = [];
  const { log, lines } = recordingLog();
  const part = (name: string): Closable => ({
    close: async () => {
      await Promise.resolve();
      calls.push(`close ${name}`);
    },
  });
  let late: Closable | null = null;
  const life: AgentLifecycle = new AgentLifecycle({
    acquireLock: async () => {
      if (opts.lockFails) throw new RunDirLockedError('/run/vipkeeper', 4242);
      calls.push('lock');
      return { path: '/run/vipkeeper/vipkeeper.lock', release: async () => void calls.push('unlock') };
    },
    parts: () => [part('resync'), null, part('links'), { close: () => void calls.push(`close scheduler (closed: ${life.closed})`) }, late],
    children: { freeze: () => void calls.push('freeze'), stopChildren: async () => void calls.push('stop children') },
    afterChildren: [part('admin socket client')],
    log,
  });
  return { life, calls, lines, open: (name: string) => (late = part(name)) };
}

describe('AgentLifecycle', () => {
  it('an agent refused the run dir lock runs nothing, and its stop touches nothing', async () => {
    const r = rig({ lockFails: true });
    let ran = false;
    await expect(r.life.start(async () => (ran = true))).rejects.toThrow(RunDirLockedError);
    await r.life.stop();
    expect(ran).toBe(false);
    expect(r.calls).toEqual([]);
    expect(r.life.closed).toBe(false);
  });

  it('a start that throws closes the parts (closed first), lets the lock go, and rethrows', async () => {
    const r = rig();
    await expect(r.life.start(async () => {
      throw new Error('first apply failed');
    })).rejects.toThrow('first apply failed');
    expect(r.calls).toEqual(['lock', 'close resync', 'close links', 'close scheduler (closed: true)', 'unlock']);
    await r.life.stop();
    expect(r.calls.at(-1)).toBe('unlock'); // nothing more: the lock is gone
  });

  it('a start the agent was stopped during closes the parts but keeps the lock until stop', async () => {
    const r = rig();
    expect(await r.life.start(async () => false)).toBe(false);
    expect(r.calls).toEqual(['lock', 'close resync', 'close links', 'close scheduler (closed: true)']);
    await r.life.stop();
    expect(r.calls.slice(4)).toEqual(['freeze', 'close resync', 'close links', 'close scheduler (closed: true)', 'stop children', 'close admin socket client', 'unlock']);
  });

  it('stop: freeze, the parts in order (those opened after start too), the children, what they needed, the lock', async () => {
    const r = rig();
    expect(await r.life.start(async () => true)).toBe(true);
    expect(r.life.closed).toBe(false);
    r.open('status server');
    await r.life.stop();
    expect(r.calls).toEqual([
      'lock',
      'freeze',
      'close resync',
      'close links',
      'close scheduler (closed: true)',
      'close status server',
      'stop children',
      'close admin socket client',
      'unlock',
    ]);
    expect(r.lines.at(-1)?.msg).toBe('vipkeeper stopped');
    expect(r.life.closed).toBe(true);
  });

  it('a lock that cannot be removed is logged; the stop still ends', async () => {
    const { log, lines } = recordingLog();
    const life = new AgentLifecycle({
      acquireLock: async () => ({ path: '/x', release: async () => Promise.reject(new Error('EROFS')) }),
      parts: () => [],
      children: { freeze: () => undefined, stopChildren: async () => undefined },
      afterChildren: [],
      log,
    });
    await life.start(async () => true);
    await life.stop();
    expect(lines.map((l) => l.msg)).toEqual(['could not remove the run dir lock', 'vipkeeper stopped']);
  });

  it('a server part resolves once the server has stopped listening', async () => {
    let done: (() => void) | null = null;
    const closing = serverPart({ close: (cb) => (done = cb) }).close() as Promise<void>;
    let closed = false;
    void closing.then(() => (closed = true));
    await Promise.resolve();
    expect(closed).toBe(false);
    done!();
    await closing;
    expect(closed).toBe(true);
  });
});
