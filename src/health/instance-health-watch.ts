import type { Logger } from '../log.js';
import type { Service } from '../model/desired-state.js';
import { type InstanceHealth, judgeInstances, parseProxyStats, SHOW_PROXY_STATS } from './instance-health.js';

// The thin shell around judgeInstances: once a second it asks HAProxy for its
// frontends and backends, judges each instance against the applied services, and
// writes `1` (drop) or `0` into the instance's health file, which keepalived
// tracks with a negative weight. A changed verdict is written and logged.
// When HAProxy does not answer, nothing is written: a dead haproxy is the
// node-wide track_process's and the listener check's business, not one instance's.

export const INSTANCE_HEALTH_EVERY_MS = 1000;

export interface InstanceHealthParts {
  readonly instances: readonly string[];
  /** The services HAProxy runs now (the last applied state), or null before the first apply. */
  readonly services: () => readonly Service[] | null;
  /** `show stat` on the admin socket. */
  readonly ask: (command: string) => Promise<string>;
  /** Writes the instance's health file ("0" or "1"). */
  readonly write: (instance: string, value: '0' | '1') => Promise<void>;
  readonly log: Logger;
  readonly everyMs?: number;
}

export class InstanceHealthWatch {
  #timer: NodeJS.Timeout | null = null;
  #busy = false;
  readonly #written = new Map<string, '0' | '1'>();
  #last: readonly InstanceHealth[] = [];

  constructor(private readonly p: InstanceHealthParts) {}

  start(): void {
    if (this.#timer || this.p.instances.length === 0) return;
    this.#timer = setInterval(() => void this.check(), this.p.everyMs ?? INSTANCE_HEALTH_EVERY_MS);
    this.#timer.unref();
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** The last verdicts (for status). */
  snapshot(): readonly InstanceHealth[] {
    return this.#last;
  }

  /** One look: judge every instance, write the files whose verdict changed. Never throws. */
  async check(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const services = this.p.services();
      if (services === null) return;
      let answer: string;
      try {
        answer = await this.p.ask(SHOW_PROXY_STATS);
      } catch {
        return;
      }
      const stats = parseProxyStats(answer);
      if (stats.length === 0) return;
      this.#last = judgeInstances(this.p.instances, services, stats);
      for (const h of this.#last) {
        const value = h.healthy ? '0' : '1';
        // A drop is written again each time: keepalived resets the file to 0 when it starts
        // (init_file ... overwrite), and a restarted keepalived must not forget it.
        const changed = this.#written.get(h.instance) !== value;
        if (!changed && value === '0') continue;
        try {
          await this.p.write(h.instance, value);
        } catch (err) {
          this.p.log.error({ err, instance: h.instance }, 'the instance health file cannot be written');
          continue;
        }
        const first = !this.#written.has(h.instance);
        this.#written.set(h.instance, value);
        if (!changed) continue;
        if (!h.healthy) this.p.log.warn({ instance: h.instance, problems: h.problems }, `instance ${h.instance} drops its priority on this node: ${h.problems.join('; ')}`);
        else if (!first) this.p.log.info({ instance: h.instance }, `instance ${h.instance} is healthy again on this node: its priority is back`);
      }
    } finally {
      this.#busy = false;
    }
  }
}
