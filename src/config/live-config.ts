import { type Config, parseEnvironment, type PassFileReads, passFilePaths } from './env.js';
import type { HostFacts } from './host-facts.js';

// The config the agent runs on now. It changes only when a VRRP password
// file (VIPKEEPER_AUTH_PASS_FILE or an instance's VIPKEEPER_INSTANCE_<NAME>_AUTH_PASS_FILE)
// changes: the environment is parsed again with the files' new contents. A
// content that cannot be used throws, and the last good config stays.

export class LiveConfig {
  #current: Config;

  constructor(
    initial: Config,
    private readonly env: Readonly<Record<string, string | undefined>>,
    private readonly facts: HostFacts,
  ) {
    this.#current = initial;
  }

  get current(): Config {
    return this.#current;
  }

  /** The password files the environment names, each once; empty without any. */
  get passFiles(): readonly string[] {
    return passFilePaths(this.env);
  }

  /** Every password file's content (or the error reading it) by path. */
  passwordChanged(reads: PassFileReads): void {
    this.#current = parseEnvironment(this.env, this.facts, reads).config;
  }
}
