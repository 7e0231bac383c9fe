import { mkdir } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { writeFileAtomic } from '../files/atomic-write.js';
import type { RuntimeApi } from '../haproxy/runtime-api.js';
import { AcmeError, RuntimeApiError } from '../errors.js';

// HTTP-01 answers live in HAProxy: a map file token -> key authorization that
// the HTTP frontend returns from (haproxy-view.ts, acmeRules). A token goes into
// the file (so a reload or a restart of HAProxy keeps it) and into the running
// HAProxy through the Runtime API (`add map`, `del map`): no reload. Whichever
// node holds the VIP answers, and it relays tokens it does not know to its peers.

export interface ChallengeStore {
  put(token: string, keyAuthorization: string): Promise<void>;
  remove(token: string): Promise<void>;
}

/** RFC 8555 8.1/8.3: a token and a key authorization are base64url (the latter: token '.' thumbprint). */
export const ACME_TOKEN = /^[A-Za-z0-9_-]{16,128}$/;
export const KEY_AUTHORIZATION = /^[A-Za-z0-9_-]{16,128}\.[A-Za-z0-9_-]{43}$/;

/** The map file's text for these entries. Pure. */
export const challengeMapText = (entries: ReadonlyMap<string, string>): string =>
  [...entries].map(([token, keyAuth]) => `${token} ${keyAuth}\n`).join('');

export class MapChallengeStore implements ChallengeStore {
  readonly #entries = new Map<string, string>();

  constructor(private readonly mapPath: string, private readonly api: Pick<RuntimeApi, 'command'>) {}

  /** Writes the (empty) map file HAProxy's config names: it must exist before haproxy -c sees the config. */
  async init(): Promise<void> {
    await mkdir(dirname(this.mapPath), { recursive: true, mode: 0o700 });
    await this.#write();
  }

  async put(token: string, keyAuthorization: string): Promise<void> {
    // Both come from the ACME server: checked before they reach a file or a socket.
    if (!ACME_TOKEN.test(token) || !KEY_AUTHORIZATION.test(keyAuthorization) || !keyAuthorization.startsWith(`${token}.`)) {
      throw new AcmeError('(challenge)', 'the ACME server sent a token or key authorization that is not base64url');
    }
    this.#entries.set(token, keyAuthorization);
    await this.#write();
    await this.api.command(`del map ${this.mapPath} ${token}`).catch(() => undefined);
    const answer = await this.api.command(`add map ${this.mapPath} ${token} ${keyAuthorization}`);
    if (answer.trim() !== '') throw new RuntimeApiError(`add map ${this.mapPath} <token>`, answer);
  }

  async remove(token: string): Promise<void> {
    if (!this.#entries.delete(token)) return;
    await this.#write();
    await this.api.command(`del map ${this.mapPath} ${token}`).catch(() => undefined);
  }

  #write(): Promise<string> {
    return writeFileAtomic(dirname(this.mapPath), basename(this.mapPath), challengeMapText(this.#entries));
  }
}
