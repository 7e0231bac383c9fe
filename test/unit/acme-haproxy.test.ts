import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ejs from 'ejs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MapChallengeStore } from '../../src/acme/challenge-store.js';
import { runtimeCommand } from '../../src/haproxy/runtime-api.js';
import { ACME_RELAY_BACKEND, haproxyView } from '../../src/render/haproxy-view.js';
import { loadTemplates } from '../../src/render/load-templates.js';
import { httpGet } from '../lab/support/lab.js';
import { freePort, haproxyInstalled, httpBackend, type RealHaproxy, startHaproxy } from './real-haproxy.js';
import { server, service } from './fixtures.js';

// HTTP-01 answered by HAProxy: the rules the view prints, and the real haproxy
// answering a token put in through the Runtime API, relaying an unknown one to a
// peer (with the loop guard header), and refusing to relay a relayed request.

const TOKEN = 'tok_0123456789abcdefghij';
const KEY_AUTH = `${TOKEN}.${'x'.repeat(43)}`;

describe('the view: ACME rules first on the HTTP frontend, a relay backend only with peers', () => {
  const web = service([server('web-1')], { name: 'web', hosts: ['www.example.com'], tls: { enabled: null, redirect: true, hsts: null } });
  it('puts the challenge rules before the redirects and the relay route before the services', () => {
    const v = haproxyView([web], { adminSocket: '/run/a.sock', acme: { port: 80, mapPath: '/etc/vk/tls/acme.map', peers: ['198.18.0.12'] } });
    const fe = v.frontends[0]!;
    expect(fe.requestRules[0]).toBe('http-request set-var(txn.vk_acme) path,field(4,/),map(/etc/vk/tls/acme.map) if { path_beg /.well-known/acme-challenge/ }');
    expect(fe.requestRules[2]).toContain('req.hdr(x-vipkeeper-acme-relay) -m found');
    expect(fe.routes[0]).toEqual({ backend: ACME_RELAY_BACKEND, condition: '{ path_beg /.well-known/acme-challenge/ }' });
    expect(v.backends.find((b) => b.name === ACME_RELAY_BACKEND)?.servers).toEqual([{ name: 'peer1', address: '198.18.0.12:80', options: 'weight 1' }]);
  });
  it('without peers: unknown tokens answer 404 here, no relay backend', () => {
    const v = haproxyView([web], { adminSocket: '/run/a.sock', acme: { port: 80, mapPath: '/m', peers: [] } });
    expect(v.frontends[0]!.requestRules[2]).toBe('http-request return status 404 if { path_beg /.well-known/acme-challenge/ }');
    expect(v.backends.map((b) => b.name)).toEqual(['be_web']);
  });
  it('no ACME: nothing of it', () => {
    const v = haproxyView([web], { adminSocket: '/run/a.sock' });
    expect(JSON.stringify(v)).not.toContain('acme');
  });
});

describe.skipIf(!haproxyInstalled)('real haproxy answers HTTP-01 from its map and relays unknown tokens', () => {
  let h: RealHaproxy;
  let dir: string;
  let port: number;
  let store: MapChallengeStore;
  const peerSeen: { token: string; header: string | undefined }[] = [];
  let closePeer: () => Promise<void>;
  let closeApp: () => Promise<void>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vk-acme-'));
    port = await freePort();
    const app = await httpBackend('app');
    closeApp = app.close;
    // The peer: knows one token of its own.
    const peer = createServer((req, res) => {
      const token = req.url!.split('/')[3]!;
      peerSeen.push({ token, header: req.headers['x-vipkeeper-acme-relay'] as string | undefined });
      if (token === 'peer_token_0123456789ab') res.end('peer_token_0123456789ab.peerkey');
      else (res.statusCode = 404), res.end();
    });
    await new Promise<void>((r) => peer.listen(0, '127.0.0.1', r));
    const peerPort = (peer.address() as { port: number }).port;
    closePeer = () => new Promise((r) => peer.close(() => r()));
    const mapPath = join(dir, 'acme.map');
    const templates = await loadTemplates(null);
    h = await startHaproxy(async (adminSocket) => {
      store = new MapChallengeStore(mapPath, { command: (c) => runtimeCommand(adminSocket, c) });
      await store.init();
      const view = haproxyView([service([server('app', '127.0.0.1', app.port)], { frontendPort: port, hosts: ['www.example.com'] })], {
        adminSocket,
        acme: { port, mapPath, peers: ['127.0.0.9'] },
      });
      // One peer on this machine: point the relay at the fake peer's own port.
      return ejs.render(templates['haproxy.cfg.ejs'].text, view as unknown as ejs.Data).replace(`127.0.0.9:${port}`, `127.0.0.1:${peerPort}`);
    });
  });
  afterAll(async () => {
    await h?.stop();
    await closePeer?.();
    await closeApp?.();
    rmSync(dir, { recursive: true, force: true });
  });

  const challenge = (token: string, headers: Record<string, string> = {}) =>
    httpGet({ host: '127.0.0.1', port, path: `/.well-known/acme-challenge/${token}`, headers: { host: 'www.example.com', ...headers } });

  it('a token put in through the Runtime API answers its key authorization at once, and is in the map file for a reload', async () => {
    await store.put(TOKEN, KEY_AUTH);
    expect(await challenge(TOKEN)).toMatchObject({ status: 200, body: KEY_AUTH });
    expect(readFileSync(join(dir, 'acme.map'), 'utf8')).toBe(`${TOKEN} ${KEY_AUTH}\n`);
    await store.remove(TOKEN);
    peerSeen.length = 0;
    expect((await challenge(TOKEN)).status).toBe(404);
    // Asked at the peer, marked as relayed (with one peer, its 404 is retried there once: harmless).
    expect(peerSeen.length).toBeGreaterThanOrEqual(1);
    expect(peerSeen.every((s) => s.token === TOKEN && s.header === '1')).toBe(true);
  });

  it("an unknown token is relayed to the peer, which answers its own; a relayed request is never relayed again", async () => {
    expect(await challenge('peer_token_0123456789ab')).toMatchObject({ status: 200, body: 'peer_token_0123456789ab.peerkey' });
    peerSeen.length = 0;
    expect((await challenge('peer_token_0123456789ab', { 'x-vipkeeper-acme-relay': '1' })).status).toBe(404);
    expect(peerSeen).toEqual([]);
    // Other paths still reach the app.
    expect((await httpGet({ host: '127.0.0.1', port, path: '/', headers: { host: 'www.example.com' } })).body).toBe('app');
  });

  it('refuses a token that is not base64url before it reaches the socket', async () => {
    await expect(store.put('bad token with spaces', KEY_AUTH)).rejects.toThrow(/base64url/);
  });
});
