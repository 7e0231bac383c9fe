import { ENV } from './env-schema.js';
import { type Config, parseEnvironment } from './env.js';
import type { HostFacts } from './host-facts.js';

// The config the agent runs on now. It changes only when the VRRP password
// file (VIPKEEPER_AUTH_PASS_FILE) changes: the environment is parsed again with
// the file's new content. A content that cannot be used throws, and the last
// good config stays.

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

  /** The password file the environment names, or null. */
  get passFile(): string | null {
    return this.env[ENV.authPassFile.name]?.trim() || null;
  }

  /** The password file's new content, or the error reading it. */
  passwordChanged(content: { content: string } | { error: string }): void {
    this.#current = parseEnvironment(this.env, this.facts, content).config;
  }
}
