import type { RunLock } from '../files/run-lock.js';
import type { Logger } from '../log.js';
import type { StartUp } from './start-up.js';

// The agent's run from its lock to its stop. First of all it takes the run
// dir's lock: a second agent on a live agent's run dir must not take over its
// FIFO and sockets. A start that fails closes the parts and lets the lock go; a
// start the agent was stopped during closes the parts and keeps the lock until
// stop(). Stopping: no child is restarted from then on, the parts close in the
// order given, the children stop (keepalived gives the VIP up first), then what
// the children needed to the end, and last the lock.

export interface Closable {
  close(): unknown;
}

export interface LifecycleParts {
  readonly acquireLock: () => Promise<RunLock>;
  /** What runs beside the children, closed in this order; null: not opened (yet). */
  readonly parts: () => readonly (Closable | null)[];
  readonly children: Pick<StartUp, 'freeze' | 'stopChildren'>;
  /** Closed once the children are down (the admin socket's client). */
  readonly afterChildren: readonly (Closable | null)[];
  readonly log: Logger;
}

/** An http or net server as a part: closing resolves once it stopped listening. */
export const serverPart = (server: { close(done: () => void): unknown }): Closable => ({
  close: () => new Promise<void>((resolve) => server.close(() => resolve())),
});

export class AgentLifecycle {
  #closed = false;
  #lock: RunLock | null = null;

  constructor(private readonly p: LifecycleParts) {}

  /** The parts are closing or closed: nothing new may start, and health says stopping. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Takes the lock, then runs the start; resolves whether the agent started (false: stopped meanwhile). */
  async start(run: () => Promise<boolean>): Promise<boolean> {
    this.#lock = await this.p.acquireLock();
    let ok: boolean;
    try {
      ok = await run();
    } catch (err) {
      await this.#closeParts();
      await this.#releaseLock();
      throw err;
    }
    if (!ok) await this.#closeParts();
    return ok;
  }

  /** Stops everything: no more passes, keepalived (gives the VIP up), haproxy, leftover VIPs. */
  async stop(): Promise<void> {
    if (this.#lock === null) return; // never started (or refused): nothing here is ours to stop
    this.p.children.freeze();
    await this.#closeParts();
    await this.p.children.stopChildren();
    for (const part of this.p.afterChildren) await part?.close();
    await this.#releaseLock();
    this.p.log.info('vipkeeper stopped');
  }

  async #closeParts(): Promise<void> {
    this.#closed = true;
    for (const part of this.p.parts()) await part?.close();
  }

  async #releaseLock(): Promise<void> {
    await this.#lock?.release().catch((err: unknown) => this.p.log.warn({ err }, 'could not remove the run dir lock'));
    this.#lock = null;
  }
}
