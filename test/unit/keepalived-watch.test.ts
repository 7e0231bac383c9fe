import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { Cidr } from '../../src/config/env-schema.js';
import { watchKeepalivedExits } from '../../src/keepalived/keepalived-watch.js';
import { recordingLog } from './support/fakes.js';

// A keepalived that dies must not leave this node holding the VIPs while the
// backup takes over (two holders); once the agent is closing, its own stop
// sequence removes them, so the watch leaves them alone.

const VIPS: Cidr[] = [{ address: '198.18.0.10', prefix: 24 }, { address: '198.18.0.11', prefix: 24 }];

function rig(held: readonly Cidr[]) {
  const process = new EventEmitter();
  const calls: string[] = [];
  /** The last removal asked for: awaiting it runs after the watch's own handler of it. */
  let removal: Promise<Cidr[]> = Promise.resolve([]);
  let closed = false;
  const { log, lines } = recordingLog();
  watchKeepalivedExits({
    process,
    vrrp: { markStopped: () => void calls.push('markStopped') },
    iface: 'eth1',
    vips: VIPS,
    removeVips: (iface, vips) => {
      calls.push(`remove ${iface} ${vips.map((v) => v.address).join(',')}`);
      return (removal = Promise.resolve([...held]));
    },
    isClosed: () => closed,
    log,
  });
  return { process, calls, lines, removal: () => removal, close: () => (closed = true) };
}

describe('keepalived watch: a dead keepalived leaves no VIP behind', () => {
  it('an exit marks VRRP stopped and removes the VIPs it left, saying which', async () => {
    const r = rig([VIPS[0]!]);
    r.process.emit('exit', null, 'SIGKILL');
    expect(r.calls).toEqual(['markStopped', 'remove eth1 198.18.0.10,198.18.0.11']);
    await r.removal();
    expect(r.lines).toMatchObject([{ level: 40, msg: 'keepalived died: removed the VIPs it left', vips: ['198.18.0.10'] }]);
  });

  it('an exit that left no VIP logs nothing', async () => {
    const r = rig([]);
    r.process.emit('exit', 0, null);
    await r.removal();
    expect(r.calls).toHaveLength(2);
    expect(r.lines).toEqual([]);
  });

  it('once the agent is closing, an exit only marks VRRP stopped: the stop sequence owns the VIPs', () => {
    const r = rig([VIPS[0]!]);
    r.close();
    r.process.emit('exit', 0, null);
    expect(r.calls).toEqual(['markStopped']);
  });
});
