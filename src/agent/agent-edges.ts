import type { Config } from '../config/env.js';
import type { HostFacts } from '../config/host-facts.js';
import { runtimePaths } from '../config/paths.js';
import { type EngineLink, engineLinks } from '../docker/engine-link.js';
import { ConfigStore } from '../files/config-store.js';
import { HaproxyProcess } from '../haproxy/haproxy-process.js';
import type { RuntimeApi } from '../haproxy/runtime-api.js';
import { RuntimeClient } from '../haproxy/runtime-client.js';
import { KeepalivedProcess } from '../keepalived/keepalived-process.js';
import type { Logger } from '../log.js';
import { realValidator, type Validator } from '../validate/check-config.js';
import { type Clock, systemClock } from './retry-policy.js';

// What the agent is built from: the config, and its edges to the world. Each
// edge a test hands in is used as it is; every other one is the real one, made
// from the config.

export interface AgentOptions {
  readonly config: Config;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly facts: HostFacts;
  readonly log: Logger;
  /** Debounce of event bursts: quiet time, and the most a pass may be delayed. */
  readonly quietMs?: number;
  readonly maxWaitMs?: number;
  /** Full resync even without events (default 60 s; 1 s with Swarm). */
  readonly resyncEveryMs?: number;
  /** Edges, for tests: the real ones by default. */
  readonly validator?: Validator;
  readonly links?: EngineLink[];
  readonly haproxy?: HaproxyProcess;
  readonly keepalived?: KeepalivedProcess;
  readonly api?: RuntimeApi;
  readonly store?: ConfigStore;
  readonly clock?: Clock;
}

export type AgentEdges = Required<Pick<AgentOptions, 'validator' | 'links' | 'haproxy' | 'keepalived' | 'api' | 'store' | 'clock'>>;

export function agentEdges(o: AgentOptions): AgentEdges {
  const paths = runtimePaths(o.config);
  return {
    validator: o.validator ?? realValidator(),
    store: o.store ?? new ConfigStore(o.config.configDir),
    haproxy: o.haproxy ?? new HaproxyProcess(paths, o.log),
    keepalived: o.keepalived ?? new KeepalivedProcess(paths, o.log),
    api: o.api ?? new RuntimeClient(paths.adminSocket),
    links: o.links ?? engineLinks(o.config, o.log),
    clock: o.clock ?? systemClock,
  };
}
