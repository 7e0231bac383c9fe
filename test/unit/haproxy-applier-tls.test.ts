import { describe, expect, it } from 'vitest';
import { HaproxyApplier, type TlsApplier } from '../../src/haproxy/haproxy-applier.js';
import type { AcceptedCert } from '../../src/tls/cert-inventory.js';
import type { CertChanges } from '../../src/tls/cert-swap.js';
import { server, service } from './fixtures.js';
import { fakeHaproxyEdges } from './support/fakes.js';

// Certificates in the apply step: a certificate-only change goes live through
// the Runtime API with no reload; the files are synced before any check or reload.

const cert = (file: string, digest: string): AcceptedCert => ({ file, state: 'ok', names: [`${file}.test`], notBefore: new Date(0), notAfter: new Date(1e13), digest, pem: '' });

function rig(failSwap = false, syncChanges = true) {
  const { log, files, api, control, deletes } = fakeHaproxyEdges();
  const steps: string[] = [];
  const tls: TlsApplier = {
    syncFiles: async (certs) => (steps.push(`sync ${certs.map((c) => `${c.file}@${c.digest}`).join(',')}`), syncChanges),
    swap: async (c: CertChanges) => {
      steps.push(`swap +${c.add.map((x) => x.file).join(',')} ~${c.update.map((x) => x.file).join(',')} -${c.remove.join(',')}`);
      if (failSwap) throw new Error('commit refused');
    },
  };
  const applier = new HaproxyApplier({
    files, validate: async () => void steps.push('validate'), control, api, deletes,
    applyServers: async () => (steps.push('servers'), []), log, tls,
  });
  return { applier, control, steps };
}

const S = [service([server('a')])];

describe('HaproxyApplier with certificates', () => {
  it('a replaced, an added and a removed certificate go live by the Runtime API: files first, no reload, no check', async () => {
    const r = rig();
    const result = await r.applier.apply(
      { services: S, text: 'same', templatesKey: 'k', stale: false, certificates: [cert('a.pem', '1'), cert('b.pem', '1')] },
      { services: S, text: 'same', templatesKey: 'k', certificates: [cert('a.pem', '2'), cert('c.pem', '1')] },
    );
    expect(result.method).toBe('runtime-api');
    expect(result.certs?.remove).toEqual(['b.pem']);
    expect(r.control.reloads).toBe(0);
    expect(r.steps).toEqual(['sync a.pem@2,c.pem@1', 'swap +c.pem ~a.pem -b.pem']);
  });

  it('at start, certificates that changed while the agent was away count as a change (a kept haproxy reloads)', async () => {
    const r = rig(false, true);
    expect(await r.applier.installInitial('same text', undefined, [cert('a.pem', '2')])).toBe(true);
    const unchanged = rig(false, false);
    await unchanged.applier.installInitial('same text', undefined, [cert('a.pem', '2')]);
    expect(await unchanged.applier.installInitial('same text', undefined, [cert('a.pem', '2')])).toBe(false);
    expect(r.steps[0]).toBe('sync a.pem@2');
  });

  it('unchanged certificates and text: nothing at all', async () => {
    const r = rig();
    const certs = [cert('a.pem', '1')];
    const result = await r.applier.apply({ services: S, text: 't', templatesKey: 'k', stale: false, certificates: certs }, { services: S, text: 't', templatesKey: 'k', certificates: [cert('a.pem', '1')] });
    expect(result.method).toBe('none');
    expect(r.steps).toEqual([]);
  });

  it('the first certificate (the HTTPS frontend appears) reloads, on files synced before the check', async () => {
    const r = rig();
    const result = await r.applier.apply(
      { services: S, text: 'http only', templatesKey: 'k', stale: false, certificates: [] },
      { services: S, text: 'http and https', templatesKey: 'k', certificates: [cert('a.pem', '1')] },
    );
    expect(result.method).toBe('reload');
    expect(r.control.reloads).toBe(1);
    expect(r.steps).toEqual(['sync a.pem@1', 'validate']);
  });

  it('a swap HAProxy refuses falls back to a reload of the synced files', async () => {
    const r = rig(true);
    const result = await r.applier.apply(
      { services: S, text: 'same', templatesKey: 'k', stale: false, certificates: [cert('a.pem', '1')] },
      { services: S, text: 'same', templatesKey: 'k', certificates: [cert('a.pem', '2')] },
    );
    expect(result.method).toBe('reload');
    expect(r.control.reloads).toBe(1);
    expect(r.steps).toEqual(['sync a.pem@2', 'swap + ~a.pem -', 'validate']);
  });
});
