import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { STATUS_NODE } from './fixtures.js';
import type { DrillRequest } from '../../src/control/control-types.js';
import type { StatusSnapshot } from '../../src/status/snapshot.js';
import { PAGE_CSP, startStatusServer, statusExposureWarning } from '../../src/status/status-server.js';

const snapshot: StatusSnapshot = {
  node: STATUS_NODE,
  vrrp: { instance: 'vipkeeper_51', state: 'MASTER', since: null, transitions: [], transitionCounts: { MASTER: 1 }, vipsHeld: ['198.18.0.100/24'], consistent: true },
  services: [{ name: 'apps', backend: 'be_apps', mode: 'http', frontendPort: 80, servers: [{ name: 'web-1', container: 'abc', address: '127.0.0.1:1', health: 'up', role: 'active', standby: false }] }],
  lastPass: null,
  passes: { byMethod: { start: 1 }, secondsTotal: 0.1, failed: 0 },
  children: [],
  docker: { endpoint: 'unix:///var/run/docker.sock', connected: true, lastEventAt: null, engines: [] },
  drill: null,
};

function capturingLog() {
  const lines: { level: number; msg: string }[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) });
  return { log, lines };
}

describe('the status server', () => {
  let server: Server | null = null;
  let base = '';
  const drills: DrillRequest[] = [];

  async function start(host = '127.0.0.1') {
    const { log, lines } = capturingLog();
    // A source that still has a drill handler, as the agent had before drills moved to the
    // control socket: the status server must never call it.
    const source = {
      snapshot: async () => snapshot,
      health: () => ({ ok: true, reason: 'ok' }),
      drill: async (r: DrillRequest) => (drills.push(r), { ok: true, message: 'started' }),
    };
    server = await startStatusServer({ host, port: 0 }, source, log);
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return lines;
  }

  afterEach(async () => {
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = null;
    drills.length = 0;
  });

  it('answers GET /healthz, /status and /metrics, with nosniff', async () => {
    await start();
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.text()).toBe('ok\n');
    expect(health.headers.get('x-content-type-options')).toBe('nosniff');
    const status = await fetch(`${base}/status`);
    expect(status.headers.get('content-type')).toBe('application/json');
    expect(((await status.json()) as StatusSnapshot).node.routerId).toBe('lb1');
    expect(status.headers.get('x-content-type-options')).toBe('nosniff');
    const metrics = await fetch(`${base}/metrics`);
    expect(await metrics.text()).toMatch(/^vipkeeper_vrrp_state\{instance="vipkeeper_51",state="MASTER"\} 1$/m);
  });

  it('answers HEAD without a body', async () => {
    await start();
    const r = await fetch(`${base}/healthz`, { method: 'HEAD' });
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('');
  });

  it("refuses a web page's POST /drill (text/plain, a foreign Origin and Host) with 405, and never drills", async () => {
    await start();
    const r = await fetch(`${base}/drill`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', origin: 'http://evil.example', host: 'rebound.evil.example:9321' },
      body: JSON.stringify({ action: 'start', mode: 'fault' }),
    });
    expect(r.status).toBe(405);
    expect(r.headers.get('allow')).toBe('GET, HEAD');
    expect(await r.text()).toMatch(/control socket/);
    expect(drills).toEqual([]);
  });

  it.each([
    ['POST', '/drill', 'application/json'],
    ['PUT', '/drill', 'application/json'],
    ['DELETE', '/status', undefined],
    ['POST', '/healthz', undefined],
    ['OPTIONS', '/drill', undefined],
  ])('answers %s %s with 405 and never drills', async (method, path, contentType) => {
    await start();
    const r = await fetch(`${base}${path}`, {
      method,
      ...(contentType ? { headers: { 'content-type': contentType } } : {}),
      ...(method === 'POST' || method === 'PUT' ? { body: '{"action":"start","mode":"graceful"}' } : {}),
    });
    expect(r.status).toBe(405);
    expect(r.headers.get('allow')).toBe('GET, HEAD');
    expect(drills).toEqual([]);
  });

  it('has no /drill to GET either: 404, pointing to the control socket', async () => {
    await start();
    const r = await fetch(`${base}/drill`);
    expect(r.status).toBe(404);
    expect(await r.text()).toMatch(/control socket/);
  });

  it('serves the operator page at / with a strict CSP and nosniff, its script, style and fragment from itself', async () => {
    await start();
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toBe(PAGE_CSP);
    expect(PAGE_CSP).toContain("default-src 'none'");
    expect(PAGE_CSP).toContain("script-src 'self'");
    expect(PAGE_CSP).toContain("frame-ancestors 'none'");
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await page.text();
    expect(html).toContain('<script src="/page.js" defer></script>');
    expect(html).toContain('web-1');
    const fragment = await fetch(`${base}/fragment`);
    expect(fragment.headers.get('content-security-policy')).toBe(PAGE_CSP);
    const inner = await fragment.text();
    expect(inner).toContain('web-1');
    expect(inner).not.toContain('<html');
    const js = await fetch(`${base}/page.js`);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await js.text()).toContain("fetch('/fragment'");
    const css = await fetch(`${base}/page.css`);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
  });

  it('sends the page gzipped to a client that takes gzip, plain to one that does not', async () => {
    await start();
    const { request } = await import('node:http');
    const raw = (encoding: string | null) =>
      new Promise<{ headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
        request(`${base}/`, { headers: encoding ? { 'accept-encoding': encoding } : {} }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
        })
          .on('error', reject)
          .end();
      });
    const zipped = await raw('gzip, deflate');
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(zipped.headers['content-security-policy']).toBe(PAGE_CSP);
    expect(gunzipSync(zipped.body).toString()).toContain('web-1');
    const plain = await raw(null);
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body.toString()).toContain('web-1');
  });

  it('the page holds no control: no form, and POST / is 405', async () => {
    await start();
    expect(await (await fetch(`${base}/`)).text()).not.toMatch(/<form|<button|<input/);
    const r = await fetch(`${base}/`, { method: 'POST', body: 'x' });
    expect(r.status).toBe(405);
  });

  it('warns on a non-loopback address, and not on loopback', async () => {
    const quiet = await start();
    expect(quiet.filter((l) => l.level === 40)).toEqual([]);
    await new Promise<void>((r) => server!.close(() => r()));
    const loud = await start('0.0.0.0');
    const warnings = loud.filter((l) => l.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toContain('not on loopback');
  });
});

describe('statusExposureWarning', () => {
  it.each([
    ['127.0.0.1', 9321],
    ['127.0.0.53', 80],
  ])('%s:%d is loopback: no warning', (host, port) => {
    expect(statusExposureWarning({ host, port })).toBeNull();
  });

  it('names what a public address exposes', () => {
    const w = statusExposureWarning({ host: '10.0.0.5', port: 9321 });
    expect(w).toContain('10.0.0.5:9321');
    for (const what of ['/status', 'container names', 'backend addresses', '/metrics', 'read-only']) expect(w).toContain(what);
  });

  it('says every interface for 0.0.0.0', () => {
    expect(statusExposureWarning({ host: '0.0.0.0', port: 9321 })).toContain('0.0.0.0:9321 (every interface)');
  });
});
