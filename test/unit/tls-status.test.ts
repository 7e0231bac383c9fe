import { describe, expect, it } from 'vitest';
import { formatStatus } from '../../src/cli/status-command.js';
import { statusCertificates } from '../../src/status/snapshot-builder.js';
import { renderMetrics } from '../../src/status/metrics.js';
import type { StatusSnapshot } from '../../src/status/snapshot.js';
import type { CertEntry } from '../../src/tls/cert-inventory.js';

// /status, /metrics and `vipkeeper status` list the certificates: names and
// expiry, or the reason for a refusal; never key material.

const NOW = new Date('2026-12-01T00:00:00Z');
const ENTRIES: CertEntry[] = [
  { file: 'www.pem', state: 'ok', names: ['example.test', 'www.example.test'], notBefore: new Date('2026-11-01T00:00:00Z'), notAfter: new Date('2026-12-31T00:00:00Z'), digest: 'd', pem: '-----BEGIN PRIVATE KEY-----\nSECRET\n-----END PRIVATE KEY-----\n' },
  { file: 'bad.pem', state: 'refused', reason: 'the private key does not match the first certificate of the chain' },
];

describe('certificates in the status', () => {
  it('shows names, expiry and seconds left, or the reason, and never the PEM', () => {
    const shown = statusCertificates(ENTRIES, NOW);
    expect(shown).toEqual([
      { file: 'www.pem', state: 'ok', names: ['example.test', 'www.example.test'], notAfter: '2026-12-31T00:00:00.000Z', secondsLeft: 30 * 86_400 },
      { file: 'bad.pem', state: 'refused', reason: 'the private key does not match the first certificate of the chain' },
    ]);
    expect(JSON.stringify(shown)).not.toMatch(/SECRET|PRIVATE|digest/);
  });

  const snapshot = (certificates?: StatusSnapshot['certificates']) =>
    ({
      node: { routerId: 'lb1', interface: 'eth1', vips: [], frontendPort: 80, nodeRole: { required: null, present: true }, vrrpSettings: { virtualRouterId: 51, priority: 100, nopreempt: true, advertInt: 1, version: 2 } },
      vrrp: null, services: [], lastPass: null, passes: { byMethod: {}, secondsTotal: 0, failed: 0 }, children: [],
      docker: { endpoint: 'unix:///var/run/docker.sock', connected: true, lastEventAt: null, engines: [] }, drill: null,
      ...(certificates ? { certificates } : {}),
    }) as StatusSnapshot;

  it('/metrics exports the seconds until each served certificate expires, and how many are refused', () => {
    const text = renderMetrics(snapshot(statusCertificates(ENTRIES, NOW)));
    expect(text).toContain('vipkeeper_certificate_expiry_seconds{file="www.pem"} 2592000');
    expect(text).toContain('vipkeeper_certificates{state="refused"} 1');
    expect(renderMetrics(snapshot())).not.toContain('vipkeeper_certificate');
  });

  it('vipkeeper status prints one line per certificate', () => {
    const text = formatStatus(snapshot(statusCertificates(ENTRIES, NOW)));
    expect(text).toContain('cert      www.pem: example.test, www.example.test, expires 2026-12-31T00:00:00.000Z (in 30 days)');
    expect(text).toContain('cert      bad.pem: REFUSED, the private key does not match the first certificate of the chain');
  });
});
