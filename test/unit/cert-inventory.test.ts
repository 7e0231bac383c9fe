import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AcceptedCert, certFor, type CertEntry, inventoryCerts, isCertName, judgeCert, nameCovers } from '../../src/tls/cert-inventory.js';
import { makeTestCa, type TestCa } from './support/test-certs.js';

// The certificate inventory decides, file by file, what may be served.

let ca: TestCa;
let other: TestCa;
let good: { cert: string; key: string; chain: string };
let wildcard: { cert: string; key: string; chain: string };
let foreign: { cert: string; key: string; chain: string };
// A minute on: openssl dates a new certificate from the current whole second, which may be after a `now` taken earlier.
const NOW = new Date(Date.now() + 60_000);
const DAY = 86_400_000;

beforeAll(() => {
  ca = makeTestCa();
  other = makeTestCa('another CA');
  good = ca.leaf(['www.example.test', 'example.test']);
  wildcard = ca.leaf(['*.apps.example.test']);
  foreign = other.leaf(['www.example.test']);
});
afterAll(() => {
  ca?.cleanup();
  other?.cleanup();
});

const refusedReason = (e: CertEntry) => (e.state === 'refused' ? e.reason : `accepted: ${e.names.join(',')}`);

describe('judgeCert: every file is accepted with its names and dates, or refused with the reason', () => {
  it('accepts a chain with its key, names from the SAN, dates from the leaf', () => {
    const e = judgeCert({ file: 'www.pem', content: good.chain + good.key }, NOW);
    expect(e.state).toBe('ok');
    const ok = e as AcceptedCert;
    expect(ok.names).toEqual(['example.test', 'www.example.test']);
    expect(ok.notAfter.getTime()).toBeGreaterThan(NOW.getTime() + 29 * DAY);
    expect(ok.notBefore.getTime()).toBeLessThanOrEqual(NOW.getTime() + 1000);
    expect(ok.pem).toContain('PRIVATE KEY');
    expect(ok.digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('accepts the key before the chain too, and loads the leaf first', () => {
    const e = judgeCert({ file: 'k.pem', content: good.key + good.chain }, NOW) as AcceptedCert;
    expect(e.state).toBe('ok');
    expect(e.pem.indexOf('CERTIFICATE')).toBeLessThan(e.pem.indexOf('PRIVATE KEY'));
  });

  it('takes the CN when the certificate has no DNS SAN', () => {
    const noSan = ca.leaf([], { cn: 'legacy.example.test' });
    expect(judgeCert({ file: 'l.pem', content: noSan.cert + noSan.key }, NOW)).toMatchObject({ state: 'ok', names: ['legacy.example.test'] });
  });

  it.each([
    ['garbage', () => 'hello, not a certificate\n', /no PEM certificate/],
    ['an empty file', () => '', /no PEM certificate/],
    ['a chain without its key', () => good.chain, /no private key/],
    ['a key that does not match the chain', () => good.chain + foreign.key, /does not match/],
    ['two keys', () => good.chain + good.key + foreign.key, /2 private keys/],
    ['a chain out of order', () => ca.certPem + good.cert + good.key, /does not match|did not issue/],
    ['a chain with a foreign issuer', () => good.cert + other.certPem + good.key, /did not issue/],
    ['a broken certificate body', () => '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' + good.key, /not valid X.509/],
    ['an encrypted key', () => good.chain + '-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n', /encrypted/],
  ])('refuses %s', (_what, content, reason) => {
    expect(refusedReason(judgeCert({ file: 'bad.pem', content: content() }, NOW))).toMatch(reason);
  });

  it('refuses an expired certificate and one not valid yet, saying when', () => {
    const content = good.chain + good.key;
    expect(refusedReason(judgeCert({ file: 'x.pem', content }, new Date(NOW.getTime() + 40 * DAY)))).toMatch(/^it expired at \d{4}-/);
    expect(refusedReason(judgeCert({ file: 'x.pem', content }, new Date(NOW.getTime() - 2 * DAY)))).toMatch(/^it is not valid yet \(valid from \d{4}-/);
  });

  it('refuses a file name that is not a safe NAME.pem, quoting it', () => {
    const content = good.chain + good.key;
    for (const file of ['a b.pem', 'x.crt', '-x.pem', 'x\n.pem', `${'a'.repeat(100)}.pem`]) {
      expect(refusedReason(judgeCert({ file, content }, NOW))).toMatch(/is not NAME\.pem/);
    }
  });

  it('refuses a file it cannot read, with the error', () => {
    expect(refusedReason(judgeCert({ file: 'r.pem', error: 'EACCES' }, NOW))).toBe('cannot read it: EACCES');
  });

  it('never puts key material in a reason', () => {
    const e = judgeCert({ file: 'm.pem', content: good.chain + foreign.key }, NOW);
    expect(refusedReason(e)).not.toMatch(/BEGIN|[A-Za-z0-9+/]{40}/);
  });
});

describe('inventoryCerts: one bad file never affects the others', () => {
  it('judges each file alone, sorted by name, and skips hidden files', () => {
    const entries = inventoryCerts(
      [
        { file: 'b-garbage.pem', content: 'junk' },
        { file: 'a-www.pem', content: good.chain + good.key },
        { file: '.hidden.pem', content: 'junk' },
        { file: 'c-mismatch.pem', content: good.chain + foreign.key },
        { file: 'd-wild.pem', content: wildcard.chain + wildcard.key },
      ],
      NOW,
    );
    expect(entries.map((e) => [e.file, e.state])).toEqual([
      ['a-www.pem', 'ok'],
      ['b-garbage.pem', 'refused'],
      ['c-mismatch.pem', 'refused'],
      ['d-wild.pem', 'ok'],
    ]);
  });
});

describe('coverage: exact names and one-label wildcards', () => {
  it.each([
    ['www.example.test', 'www.example.test', true],
    ['*.example.test', 'www.example.test', true],
    ['*.example.test', 'example.test', false],
    ['*.example.test', 'a.b.example.test', false],
    ['*.example.test', 'wwwexample.test', false],
    ['example.test', 'www.example.test', false],
  ])('%s covers %s: %s', (name, host, covers) => {
    expect(nameCovers(name, host)).toBe(covers);
  });

  it.each([
    ['www.example.test', true],
    ['*.example.test', true],
    ['*.test', false],
    ['w*.example.test', false],
    ['*.*.example.test', false],
    ['Example.test', false],
    ['exa mple.test', false],
  ])('%s is a name a certificate may serve: %s', (name, ok) => {
    expect(isCertName(name)).toBe(ok);
  });

  it('prefers an exact name over a wildcard', () => {
    const entries = inventoryCerts(
      [
        { file: 'a-wild.pem', content: ca.leaf(['*.example.test']).chain + '' },
        { file: 'a-wild2.pem', content: wildcard.chain + wildcard.key },
        { file: 'z-www.pem', content: good.chain + good.key },
      ],
      NOW,
    ).filter((e): e is AcceptedCert => e.state === 'ok');
    expect(certFor(entries, 'www.example.test')?.file).toBe('z-www.pem');
    expect(certFor(entries, 'x.apps.example.test')?.file).toBe('a-wild2.pem');
    expect(certFor(entries, 'nothing.test')).toBeNull();
  });
});
