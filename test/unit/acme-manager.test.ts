import { describe, expect, it } from 'vitest';
import type { AcmeCa } from '../../src/acme/acme-ca.js';
import { AcmeManager, type AcmeManagerParts } from '../../src/acme/acme-manager.js';
import type { ChallengeStore } from '../../src/acme/challenge-store.js';
import { AcmeError } from '../../src/errors.js';
import type { AcceptedCert } from '../../src/tls/cert-inventory.js';
import { recordingLog } from './support/fakes.js';

// The orchestrator over fakes of its edges: it orders what the plan says, writes the
// issued file, backs off on failure with the reason in its status, and never logs keys.

const DAY = 86_400_000;
const HOST = { host: 'www.example.com', service: 'www', containerName: 'www-1', instances: [] };

function setup(answers: (string | Error)[], extra: Partial<AcmeManagerParts> = {}) {
  let now = Date.parse('2026-12-01T00:00:00Z');
  const files = new Map<string, string>();
  const certs: AcceptedCert[] = [];
  const orders: string[] = [];
  const issued: string[] = [];
  const ca: AcmeCa = {
    issue: async (host, challenges) => {
      orders.push(host);
      await challenges.put('t', 'k');
      const a = answers.shift() ?? new AcmeError(host, 'no more answers');
      if (a instanceof Error) throw a;
      return a;
    },
  };
  const challenges: ChallengeStore & { puts: number } = { puts: 0, put: async () => void challenges.puts++, remove: async () => undefined };
  const { log, lines } = recordingLog();
  const m = new AcmeManager({
    ca,
    challenges,
    readCerts: async () => certs,
    writeCert: async (file, pem) => {
      files.set(file, pem);
      certs.push({ file, state: 'ok', names: ['www.example.com'], notBefore: new Date(now), notAfter: new Date(now + 90 * DAY), digest: file, pem });
    },
    issued: (f) => issued.push(f),
    retryMinMs: 60_000,
    log,
    now: () => new Date(now),
    ...extra,
  });
  const shared = (file: string) => certs.push({ file, state: 'ok', names: ['www.example.com'], notBefore: new Date(now), notAfter: new Date(now + 90 * DAY), digest: file, pem: 'P' });
  return { m, files, orders, issued, lines, shared, advance: (ms: number) => (now += ms) };
}

describe('AcmeManager', () => {
  it('orders a new host once it may start, writes the file, asks for a pass, and then rests', async () => {
    const t = setup(['CHAIN\n-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n']);
    t.m.want({ hosts: [HOST], refused: [] });
    await t.m.idle();
    expect(t.orders).toEqual([]); // not before start(): HAProxy may not run yet
    t.m.start();
    await t.m.idle();
    expect(t.orders).toEqual(['www.example.com']);
    expect([...t.files.keys()]).toEqual(['acme_www.example.com.pem']);
    expect(t.issued).toEqual(['acme_www.example.com.pem']);
    expect(t.m.status().hosts[0]).toMatchObject({ state: 'valid', failures: 0, lastError: null });
    t.m.want({ hosts: [HOST], refused: [] });
    t.m.wake();
    await t.m.idle();
    expect(t.orders).toHaveLength(1);
    expect(JSON.stringify(t.lines)).not.toContain('PRIVATE KEY');
    t.m.stop();
  });

  it('a failure backs off (1 min, then 2) with the reason in status and a warning; a later success clears it', async () => {
    const t = setup([new AcmeError('www.example.com', 'connect ECONNREFUSED'), new AcmeError('www.example.com', 'urn:ietf:params:acme:error:connection'), 'CHAIN\n']);
    t.m.start();
    t.m.want({ hosts: [HOST], refused: [] });
    await t.m.idle();
    expect(t.m.status().hosts[0]).toMatchObject({ state: 'backoff', failures: 1, lastError: expect.stringContaining('ECONNREFUSED') });
    expect(t.lines.some((l) => l.level === 40 && l.host === 'www.example.com' && /next try in 60 s/.test(l.msg))).toBe(true);
    t.m.wake();
    await t.m.idle();
    expect(t.orders).toHaveLength(1); // still backing off
    t.advance(60_000);
    t.m.wake();
    await t.m.idle();
    expect(t.m.status().hosts[0]).toMatchObject({ state: 'backoff', failures: 2 });
    expect(t.lines.some((l) => /next try in 120 s/.test(l.msg))).toBe(true);
    t.advance(120_000);
    t.m.wake();
    await t.m.idle();
    expect(t.m.status().hosts[0]).toMatchObject({ state: 'valid', failures: 0, lastError: null });
    t.m.stop();
  });

  it('renews at two thirds of the lifetime; a host within 14 days of its end is an error in the log', async () => {
    const t = setup(['A\n', new AcmeError('www.example.com', 'down'), new AcmeError('www.example.com', 'down')]);
    t.m.start();
    t.m.want({ hosts: [HOST], refused: [] });
    await t.m.idle();
    t.advance(60 * DAY);
    t.m.wake();
    await t.m.idle();
    expect(t.orders).toHaveLength(2);
    t.advance(17 * DAY);
    t.m.wake();
    await t.m.idle();
    expect(t.m.status().hosts[0]).toMatchObject({ expiringSoon: true });
    expect(t.lines.some((l) => l.level === 50 && /within 14 days/.test(l.msg))).toBe(true);
    t.m.stop();
  });

  it('warns once per change about refused names, naming the container', async () => {
    const t = setup([]);
    const refused = [{ host: 'intranet', containerName: 'intra-1', reason: 'needs two labels' }];
    t.m.want({ hosts: [], refused });
    t.m.want({ hosts: [], refused });
    expect(t.lines.filter((l) => l.level === 40 && l.container === 'intra-1')).toHaveLength(1);
    expect(t.m.status().refused).toEqual(refused);
  });

  it('without the VIP it waits for the holder: a certificate the holder put in a shared directory means no order here', async () => {
    const t = setup(['CHAIN\n'], { holds: () => false, backupDelayMs: 60_000 });
    t.m.start();
    t.m.want({ hosts: [HOST], refused: [] });
    await t.m.idle();
    expect(t.m.status().hosts[0]).toMatchObject({ state: 'wait' });
    t.advance(30_000);
    t.shared('acme_www.example.com.pem');
    t.m.wake();
    await t.m.idle();
    expect(t.orders).toEqual([]);
    expect(t.m.status().hosts[0]).toMatchObject({ state: 'valid' });
    t.m.stop();
  });

  it('without the VIP and without a shared directory it orders its own once the delay is over', async () => {
    const t = setup(['CHAIN\n'], { holds: () => false, backupDelayMs: 60_000 });
    t.m.start();
    t.m.want({ hosts: [HOST], refused: [] });
    await t.m.idle();
    t.advance(59_000);
    t.m.wake();
    await t.m.idle();
    expect(t.orders).toEqual([]);
    t.advance(1_000);
    t.m.wake();
    await t.m.idle();
    expect(t.orders).toEqual(['www.example.com']);
    t.m.stop();
  });
});
