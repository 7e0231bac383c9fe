import { request as httpsRequest } from 'node:https';
import { createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';

// HTTPS from the client's side, for the lab tests and the TLS bench: one GET
// over a fresh TLS connection (a full handshake each time, SNI and CA given),
// and a closed loop of such GETs that counts every failure.

export interface TlsAnswer {
  readonly status: number;
  readonly body: string;
  /** The served leaf's serial number and CN. */
  readonly serial: string;
  readonly cn: string;
  readonly headers: Record<string, unknown>;
}

/** One TLS context per CA: making one per connection would cost the client more than the handshake it measures. */
const contexts = new Map<string, SecureContext>();
export const contextFor = (ca: string): SecureContext => contexts.get(ca) ?? contexts.set(ca, createSecureContext({ ca })).get(ca)!;

/** https.request hands its options to tls.connect, which takes a secureContext; its typings do not list it. */
const withContext = (ca: string): object => ({ secureContext: contextFor(ca) });

/** One GET to 127.0.0.1:port over a fresh TLS connection with SNI `host`, verified against `ca`. */

export function getTlsOn(port: number, host: string, ca: string, path = '/'): Promise<TlsAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, servername: host, headers: { host }, agent: false, timeout: 5000, ...withContext(ca) }, (res) => {
      const peer = (res.socket as TLSSocket).getPeerCertificate();
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim(), serial: peer.serialNumber, cn: String(peer.subject?.CN ?? ''), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.end();
  });
}

/** Closed-loop HTTPS load with a new TLS handshake per request. */
export function tlsLoad(port: number, host: string, ca: string, workers = 4) {
  const seen: string[] = [];
  let ok = 0;
  let stopped = false;
  const worker = async () => {
    while (!stopped) {
      try {
        const r = await getTlsOn(port, host, ca);
        if (r.status === 200) ok += 1;
        else seen.push(`${r.status} ${r.body}`);
      } catch (err) {
        seen.push((err as Error).message);
      }
    }
  };
  const done = Promise.all(Array.from({ length: workers }, worker));
  return {
    answered: () => ok + seen.length,
    async stop() {
      stopped = true;
      await done;
      return { ok, failed: seen };
    },
  };
}
