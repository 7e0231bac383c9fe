import { Agent as HttpsAgent, get as httpsGet } from 'node:https';
import { mkdir, readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { AcmeError, errorMessage } from '../errors.js';
import { writeFileAtomic } from '../files/atomic-write.js';
import type { ChallengeStore } from './challenge-store.js';

// The ACME server, through acme-client (JOSE, nonces, account, order, polling):
// one call per certificate, HTTP-01 only, answers put in the challenge store.
// The account key lives in the certificates directory (0600) and is made once;
// a certificate's key is new for every order. Nothing here logs keys.

export interface AcmeCa {
  /** Orders a certificate for one name; resolves with its chain (leaf first) and its private key, PEM. */
  issue(host: string, challenges: ChallengeStore): Promise<string>;
}

export interface AcmeCaSettings {
  readonly directoryUrl: string;
  readonly email: string;
  /** PEM file of the CAs the ACME server's HTTPS is checked against, or null: the system's. */
  readonly caFile: string | null;
  /** Where the account key is kept (mode 0600). */
  readonly accountKeyFile: string;
}

/** The account key from its file, or a new P-256 key written there first. */
async function accountKey(file: string, make: () => Promise<Buffer>): Promise<string> {
  const kept = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (kept !== null && /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(kept)) return kept;
  const key = (await make()).toString();
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFileAtomic(dirname(file), basename(file), key);
  return key;
}

/** The real ACME server through acme-client, loaded only when ACME is on. */
export function acmeClientCa(s: AcmeCaSettings): AcmeCa {
  let ca: string | undefined;
  let client: Promise<{ client: import('acme-client').Client; acme: typeof import('acme-client') }> | null = null;
  const connect = async () => {
    const acme = (await import('acme-client')).default;
    if (s.caFile !== null) {
      ca = await readFile(s.caFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
        throw new Error(`VIPKEEPER_ACME_CA_FILE ${s.caFile} cannot be read: ${err.code ?? err.message}`);
      });
      acme.axios.defaults.httpsAgent = new HttpsAgent({ ca, keepAlive: false });
    }
    // acme-client retries a request that found no server 5 times over 75 s; the manager's own
    // backoff retries orders, so fail fast here (a Retry-After from the server is still honoured).
    const defaults = acme.axios.defaults as { acmeSettings?: Record<string, number> };
    defaults.acmeSettings = { ...defaults.acmeSettings, retryMaxAttempts: 2, retryDefaultDelay: 2 };
    acme.axios.defaults.timeout = 30_000;
    // acme-client's own log would name URLs and tokens only, but it is not ours to print.
    acme.setLogger(() => undefined);
    const key = await accountKey(s.accountKeyFile, () => acme.crypto.createPrivateEcdsaKey('P-256'));
    return { acme, client: new acme.Client({ directoryUrl: s.directoryUrl, accountKey: key, backoffMin: 500, backoffMax: 10_000, backoffAttempts: 12 }) };
  };
  return {
    async issue(host, challenges) {
      try {
        client ??= connect().catch((err: unknown) => {
          client = null;
          throw err;
        });
        const { acme, client: c } = await client;
        const [key, csr] = await acme.crypto.createCsr({ commonName: host, altNames: [host] }, await acme.crypto.createPrivateEcdsaKey('P-256'));
        const chain = await c.auto({
          csr,
          email: s.email,
          termsOfServiceAgreed: true,
          challengePriority: ['http-01'],
          // The ACME server validates through the VIP; this node may not resolve the name to it.
          skipChallengeVerification: true,
          challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
            if (challenge.type !== 'http-01') throw new Error(`challenge ${challenge.type} is not HTTP-01`);
            await challenges.put(challenge.token, keyAuthorization);
          },
          challengeRemoveFn: async (_authz, challenge) => {
            if (challenge.type === 'http-01') await challenges.remove(challenge.token);
          },
        });
        return `${chain.trim()}\n${key.toString().trim()}\n`;
      } catch (err) {
        if (err instanceof AcmeError) throw err;
        // acme-client 5.4 turns a request that found no server into a TypeError about
        // `config`: ask the directory once more ourselves for the network's own reason.
        if (err instanceof TypeError && /reading 'config'/.test(err.message)) {
          throw new AcmeError(host, `the ACME server ${s.directoryUrl} did not answer: ${await probe(s.directoryUrl, ca)}`);
        }
        throw new AcmeError(host, safeReason(err));
      }
    },
  };
}

/** One GET of the directory: `answers HTTP n`, or the socket's error code. */
function probe(url: string, ca: string | undefined): Promise<string> {
  return new Promise((resolve) => {
    const req = httpsGet(url, { ...(ca ? { ca } : {}), agent: false, timeout: 10_000 }, (res) => {
      res.resume();
      resolve(`it answers HTTP ${res.statusCode ?? 0} now`);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

/** One line about what went wrong, without anything that could be a key (PEM blocks are cut out). */
export function safeReason(err: unknown): string {
  const text = errorMessage(err).replace(/-----BEGIN[\s\S]*?-----END[^-]*-----/g, '[PEM]').replace(/\s+/g, ' ').trim();
  return text.length > 300 ? `${text.slice(0, 300)}...` : text || 'unknown error';
}
