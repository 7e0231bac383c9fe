import { createConnection } from 'node:net';
import ejs from 'ejs';
import { afterEach, describe, expect, it } from 'vitest';
import { runtimeCommand } from '../../src/haproxy/runtime-api.js';
import { haproxyView } from '../../src/render/haproxy-view.js';
import { loadTemplates } from '../../src/render/load-templates.js';
import { service } from './fixtures.js';
import { freePort, haproxyInstalled, httpBackend, modelServer, startHaproxy, type RealHaproxy } from './real-haproxy.js';

// Review: vipkeeper.sticky=source with VIPKEEPER_ACCEPT_PROXY. A front load balancer on IPv4
// may report an IPv6 client; the stick table must be able to hold it, or that client is
// balanced on every request with no error anywhere (IPv4-only VIPs make `type ip` tables).

const viaProxy = (port: number, header: string) =>
  new Promise<string>((resolve, reject) => {
    const s = createConnection({ host: '127.0.0.1', port }, () => s.write(`${header}GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`));
    let data = '';
    s.on('data', (d: Buffer) => (data += d.toString()));
    s.on('end', () => resolve(data));
    s.on('error', reject);
  });

describe.skipIf(!haproxyInstalled)('sticky by source behind a PROXY-protocol front load balancer', () => {
  let h: RealHaproxy | null = null;
  let closeBackend: (() => Promise<void>) | null = null;
  afterEach(async () => {
    await h?.stop();
    await closeBackend?.();
  });

  it.each(['http', 'tcp'] as const)('%s: an IPv6 client reported over IPv4 is remembered in the table', async (mode) => {
    const backend = await httpBackend('app');
    closeBackend = backend.close;
    const port = await freePort();
    const svc = service([modelServer('web-1', backend.port)], { name: 'apps', mode, sticky: 'source', frontendPort: port, check: { enabled: false, path: null, interval: '2s', rise: 2, fall: 5 } });
    const templates = await loadTemplates(null);
    h = await startHaproxy((adminSocket) =>
      ejs.render(templates['haproxy.cfg.ejs'].text, haproxyView([svc], { adminSocket, ipv6: false, acceptProxy: ['127.0.0.1/32'] }) as unknown as ejs.Data),
    );
    expect(await viaProxy(port, 'PROXY TCP6 2001:db8::7 2001:db8::10 40000 80\r\n')).toMatch(/^HTTP\/1.1 200/);
    expect(await viaProxy(port, 'PROXY TCP4 198.18.0.7 198.18.0.10 40000 80\r\n')).toMatch(/^HTTP\/1.1 200/);
    const table = await runtimeCommand(h.adminSocket, 'show table be_apps');
    expect(table).toMatch(/key=2001:db8::7 /);
    expect(table).toMatch(/key=(::ffff:)?198\.18\.0\.7 /);
  }, 30_000);
});
