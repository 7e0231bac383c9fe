import { execFile } from 'node:child_process';
import { constants, openSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { Socket } from 'node:net';
import { promisify } from 'node:util';
import { lineSplitter } from '../util/lines.js';

// keepalived's notify_fifo: one line per state change, e.g.
//   INSTANCE "vipkeeper_51" MASTER 100
// The agent owns the FIFO and reads it; keepalived only writes.

const execFileP = promisify(execFile);

export type VrrpState = 'INIT' | 'BACKUP' | 'MASTER' | 'FAULT' | 'STOP' | 'DELETED';

export interface VrrpTransition {
  readonly instance: string;
  readonly state: VrrpState;
  readonly priority: number;
}

const STATES = new Set<VrrpState>(['INIT', 'BACKUP', 'MASTER', 'FAULT', 'STOP', 'DELETED']);

/** One FIFO line -> a transition of a VRRP instance, or null for anything else. Pure. */
export function parseNotifyLine(line: string): VrrpTransition | null {
  const m = /^INSTANCE "([^"]+)" ([A-Z]+) (\d+)$/.exec(line.trim());
  if (!m || !STATES.has(m[2] as VrrpState)) return null;
  return { instance: m[1]!, state: m[2] as VrrpState, priority: Number(m[3]) };
}

/**
 * Creates the FIFO (anew: a stale one could hold old lines) and reads it for
 * as long as the agent runs, across keepalived restarts.
 */
export class NotifyFifo {
  #socket: Socket | null = null;

  constructor(
    readonly path: string,
    private readonly onTransition: (t: VrrpTransition) => void,
  ) {}

  /** `reuse`: keep the FIFO a running keepalived (kept from an earlier agent) already writes to. */
  async open(reuse = false): Promise<void> {
    const isFifo = await stat(this.path).then((s) => s.isFIFO(), () => false);
    if (!reuse || !isFifo) {
      await rm(this.path, { force: true });
      await execFileP('mkfifo', ['-m', '600', this.path]);
    }
    // Read-write and non-blocking: the open never waits for keepalived, and since we
    // hold a writer ourselves the stream never ends when keepalived restarts. As a
    // socket it is read through epoll, never by a blocked thread-pool thread (which
    // would keep the process from exiting).
    const fd = openSync(this.path, constants.O_RDWR | constants.O_NONBLOCK);
    const socket = new Socket({ fd, readable: true, writable: false });
    this.#socket = socket;
    socket.on(
      'data',
      lineSplitter((line) => {
        const t = parseNotifyLine(line);
        if (t) this.onTransition(t);
      }),
    );
    socket.on('error', () => undefined);
  }

  async close(): Promise<void> {
    this.#socket?.destroy();
    await rm(this.path, { force: true });
  }
}
