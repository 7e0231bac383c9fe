import { describe, expect, it } from 'vitest';
import { acmeFile, acmeHosts, acmeNameProblem, backoffMs, planAcme, type AcmeAttempt } from '../../src/acme/acme-plan.js';
import type { AcceptedCert } from '../../src/tls/cert-inventory.js';
import { server, service } from './fixtures.js';

// Which hosts want ACME certificates, and which need an order now: pure, by table.

const DAY = 86_400_000;
const T0 = Date.parse('2026-12-01T00:00:00Z');
const cert = (file: string, names: string[], fromDay: number, days: number): AcceptedCert => ({
  file, state: 'ok', names, notBefore: new Date(T0 + fromDay * DAY), notAfter: new Date(T0 + (fromDay + days) * DAY), digest: file, pem: '',
});
const host = (h: string, instances: readonly string[] = []) => ({ host: h, service: 'web', containerName: 'web-1', instances });

describe('acmeNameProblem: what HTTP-01 can serve', () => {
  it.each([
    ['www.example.com', null],
    ['a.b.example.co.uk', null],
    ['*.example.com', /wildcard/],
    ['intranet', /two labels/],
    ['10.0.0.1', /IP address/],
    ['Bad_Name.com', /not a DNS name/],
  ])('%s', (name, problem) => {
    const p = acmeNameProblem(name);
    if (problem === null) expect(p).toBeNull();
    else expect(p).toMatch(problem);
  });
});

describe('acmeHosts: which services ask', () => {
  const web = (over: Parameters<typeof service>[1]) => service([server('web-1')], { name: 'web', hosts: ['www.example.com'], ...over });
  it.each([
    ['vipkeeper.acme=true', web({ tls: { enabled: null, redirect: false, hsts: null, acme: true } }), false, ['www.example.com']],
    ['unset without the global switch', web({}), false, []],
    ['unset with the global switch', web({}), true, ['www.example.com']],
    ['false opts out of the global switch', web({ tls: { enabled: null, redirect: false, hsts: null, acme: false } }), true, []],
    ['vipkeeper.tls=false', web({ tls: { enabled: false, redirect: false, hsts: null, acme: true } }), true, []],
    ['another frontend port', web({ frontendPort: 8080 }), true, []],
    ['tcp', web({ mode: 'tcp', hosts: [] }), true, []],
  ])('%s', (_what, s, allHosts, hosts) => {
    expect(acmeHosts([s], { allHosts, httpPort: 80 }).hosts.map((h) => h.host)).toEqual(hosts);
  });
  it('refuses a single-label name naming the container, serves the others', () => {
    const s = service([server('intra-1')], { name: 'intra', hosts: ['intranet', 'www.example.com'] });
    expect(acmeHosts([s], { allHosts: true, httpPort: 80 })).toEqual({
      hosts: [{ host: 'www.example.com', service: 'intra', containerName: 'intra-1', instances: [] }],
      refused: [{ host: 'intranet', containerName: 'intra-1', reason: expect.stringMatching(/two labels/) }],
    });
  });
});

describe('planAcme: order, renew at two thirds, back off, warn near the end', () => {
  const www = 'www.example.com';
  const f = acmeFile(www);
  const failed = (nextAtDay: number, failures = 1): Map<string, AcmeAttempt> => new Map([[www, { failures, nextAt: T0 + nextAtDay * DAY, lastError: 'ECONNREFUSED' }]]);
  it.each<[string, AcceptedCert[], Map<string, AcmeAttempt>, number, string, boolean, number | null]>([
    //  what, certs, attempts, now (days from T0), state, expiringSoon, nextAt (days)
    ['no certificate: order', [], new Map(), 0, 'order', false, null],
    ['fresh 90-day certificate: valid until day 60', [cert(f, [www], 0, 90)], new Map(), 1, 'valid', false, 60],
    ['at two thirds: renew', [cert(f, [www], 0, 90)], new Map(), 60, 'renew', false, null],
    ['renewal failed: back off', [cert(f, [www], 0, 90)], failed(61), 60.5, 'backoff', false, 61],
    ['backoff over: renew again', [cert(f, [www], 0, 90)], failed(61), 61, 'renew', false, null],
    ['within 14 days of the end: warned', [cert(f, [www], 0, 90)], failed(80), 77, 'backoff', true, 80],
    ['order failed, no certificate: back off', [], failed(0.01), 0, 'backoff', false, 0.01],
    ['a user certificate covers it: no order', [cert('mine.pem', ['*.example.com'], 0, 10)], new Map(), 9, 'covered', false, null],
    ['an ACME file for other names does not count', [cert(f, ['other.example.com'], 0, 90)], new Map(), 1, 'order', false, null],
  ])('%s', (_what, certs, attempts, day, state, expiringSoon, nextAtDay) => {
    const plan = planAcme({ hosts: [host(www)], certs, attempts, now: new Date(T0 + day * DAY) });
    expect(plan.hosts[0]).toMatchObject({ host: www, file: f, state, expiringSoon, nextAt: nextAtDay === null ? null : new Date(T0 + nextAtDay * DAY) });
    expect(plan.wakeAt).toEqual(nextAtDay === null ? null : new Date(T0 + nextAtDay * DAY));
  });
  // The VIP holder orders first; the others wait from when they first saw the host due.
  const MIN = 60_000;
  it.each<[string, boolean, number | undefined, number, string, number | null]>([
    //  what, holds the VIP, due since (ms from T0), now (ms from T0), state, nextAt (ms from T0)
    ['the holder orders at once', true, undefined, 0, 'order', null],
    ['a backup first seeing it due waits a delay from now', false, undefined, 0, 'wait', MIN],
    ['a backup inside the delay keeps waiting', false, 0, 30_000, 'wait', MIN],
    ['a backup after the delay orders its own', false, 0, MIN, 'order', null],
  ])('%s', (_what, holder, since, at, state, nextAt) => {
    const plan = planAcme({
      hosts: [host(www)],
      certs: [],
      attempts: new Map(),
      now: new Date(T0 + at),
      holds: () => holder,
      dueSince: new Map(since === undefined ? [] : [[www, T0 + since]]),
      backupDelayMs: MIN,
    });
    expect(plan.hosts[0]).toMatchObject({ state, nextAt: nextAt === null ? null : new Date(T0 + nextAt) });
  });
  it('a backup that finds the holder\'s certificate in a shared directory orders nothing; the holder is asked for the host\'s instances', () => {
    const asked: string[][] = [];
    const plan = planAcme({
      hosts: [host(www, ['web'])],
      certs: [cert(f, [www], 0, 90)],
      attempts: new Map(),
      now: new Date(T0 + DAY),
      holds: (i) => (asked.push([...i]), false),
      dueSince: new Map([[www, T0]]),
      backupDelayMs: MIN,
    });
    expect(plan.hosts[0]!.state).toBe('valid');
    const due = planAcme({ hosts: [host(www, ['web'])], certs: [], attempts: new Map(), now: new Date(T0), holds: (i) => (asked.push([...i]), true), backupDelayMs: MIN });
    expect(due.hosts[0]!.state).toBe('order');
    expect(asked).toEqual([['web']]);
  });
  it('wakes at the earliest of the hosts', () => {
    const a = 'a.example.com';
    const b = 'b.example.com';
    const plan = planAcme({ hosts: [host(a), host(b)], certs: [cert(acmeFile(a), [a], 0, 90), cert(acmeFile(b), [b], 0, 30)], attempts: new Map(), now: new Date(T0) });
    expect(plan.wakeAt).toEqual(new Date(T0 + 20 * DAY));
  });
});

describe('acmeFile and backoffMs', () => {
  it('names the file after the host, or a digest when too long for a certificate file name', () => {
    expect(acmeFile('www.example.com')).toBe('acme_www.example.com.pem');
    const long = `${'a'.repeat(60)}.${'b'.repeat(60)}.example.com`;
    expect(acmeFile(long)).toMatch(/^acme_[0-9a-f]{40}\.pem$/);
  });
  it.each([[1, 60_000], [2, 120_000], [3, 240_000], [10, 3_600_000]])('failure %i waits %i ms', (n, ms) => {
    expect(backoffMs(n, 60_000)).toBe(ms);
  });
});
