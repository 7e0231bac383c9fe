import type { Logger } from '../log.js';
import type { DesiredState } from '../model/desired-state.js';

// Skipped containers and label notices, each logged once per reason rather
// than on every pass; a reason that went away and comes back is logged again.

export class SkipWarnings {
  #warned = new Set<string>();

  constructor(private readonly log: Logger) {}

  report(state: DesiredState): void {
    const now = new Set<string>();
    for (const s of state.skipped) {
      const key = `${s.containerId}|${s.reason}`;
      now.add(key);
      if (this.#warned.has(key)) continue;
      const first = s.problems[0];
      this.log.warn(
        { container: s.containerName, id: s.containerId.slice(0, 12), ...(first ? { label: first.label, value: first.shownValue, rule: first.rule } : {}) },
        `skipped container ${s.containerName}: ${s.reason}`,
      );
    }
    for (const n of state.notices) {
      const key = `${n.containerName}|${n.message}`;
      now.add(key);
      if (!this.#warned.has(key)) this.log.warn({ container: n.containerName }, n.message);
    }
    this.#warned = now;
  }
}
