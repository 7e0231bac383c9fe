import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, parseEnvironment } from '../../src/config/env.js';
import { runtimePaths } from '../../src/config/paths.js';
import { runtimeCommand } from '../../src/haproxy/runtime-api.js';
import { buildDesiredState } from '../../src/model/desired-state.js';
import { loadTemplates } from '../../src/render/load-templates.js';
import { renderConfigs } from '../../src/render/render-configs.js';
import { type AcceptedCert, judgeCert } from '../../src/tls/cert-inventory.js';
import { type CertRuntime, diffCerts, socketCertRuntime, swapCerts } from '../../src/tls/cert-swap.js';
import { installDefaultCert, makeSelfSigned, syncTlsFiles } from '../../src/tls/tls-files.js';
import { crtListText } from '../../src/tls/tls-plan.js';
import { binding, container, FACTS, MINIMAL_ENV } from './fixtures.js';
import { freePort, haproxyInstalled, startHaproxy } from './real-haproxy.js';
import { makeTestCa, type TestCa } from './support/test-certs.js';

// A certificate replaced, added or removed while HAProxy runs goes live through
// the Runtime API, and the files on disk say the same.

// A minute on: openssl dates a new certificate from the current whole second, which may be after a `now` taken earlier.
const NOW = new Date(Date.now() + 60_000);
let ca: TestCa;
const certOf = (file: string, names: string[]): AcceptedCert => {
  const l = ca.leaf(names);
  const e = judgeCert({ file, content: l.chain + l.key }, NOW);
  if (e.state !== 'ok') throw new Error(e.reason);
  return e;
};

beforeAll(() => {
  ca = makeTestCa();
});
afterAll(() => ca?.cleanup());

describe('diffCerts: by file name and bytes', () => {
  it('tells added, updated and removed certificates apart, and ignores unchanged ones', () => {
    const a = certOf('a.pem', ['a.test']);
    const b = certOf('b.pem', ['b.test']);
    const b2 = certOf('b.pem', ['b.test']);
    const c = certOf('c.pem', ['c.test']);
    expect(diffCerts([a, b], [a, b2, c])).toEqual({ add: [c], update: [b2], remove: [] });
    expect(diffCerts([a, b], [b])).toEqual({ add: [], update: [], remove: ['a.pem'] });
    expect(diffCerts([a], [a])).toEqual({ add: [], update: [], remove: [] });
  });
});

describe('swapCerts: the commands, in order', () => {
  it('updates in one transaction, adds with new/set/commit/add, removes from the crt-list then memory', async () => {
    const sent: string[] = [];
    const rt: CertRuntime = {
      command: async (l) => {
        sent.push(l);
        if (l.startsWith('new ssl cert')) return "New empty certificate store 'x'!\n";
        if (l.startsWith('commit') || l.startsWith('add ssl crt-list')) return 'Success!\n';
        if (l.startsWith('del ssl crt-list')) return "Entry 'x' deleted in crtlist 'y'!\n";
        return "Certificate 'x' deleted!\n";
      },
      payload: async (l, body) => {
        sent.push(`${l} <<${body.includes('PRIVATE KEY') ? ' (pem)' : ''}`);
        return 'Transaction created for certificate x!\n';
      },
    };
    const paths = { crtList: '/c/tls/crt-list', certCopiesDir: '/c/tls/certs' };
    await swapCerts(rt, paths, { update: [certOf('u.pem', ['u.test'])], add: [certOf('n.pem', ['n.test'])], remove: ['gone.pem'] });
    expect(sent).toEqual([
      'set ssl cert /c/tls/certs/u.pem << (pem)',
      'commit ssl cert /c/tls/certs/u.pem',
      'new ssl cert /c/tls/certs/n.pem',
      'set ssl cert /c/tls/certs/n.pem << (pem)',
      'commit ssl cert /c/tls/certs/n.pem',
      'add ssl crt-list /c/tls/crt-list /c/tls/certs/n.pem',
      'del ssl crt-list /c/tls/crt-list /c/tls/certs/gone.pem',
      'del ssl cert /c/tls/certs/gone.pem',
    ]);
  });

  it('a refused transaction is aborted and the error names the command', async () => {
    const sent: string[] = [];
    const rt: CertRuntime = {
      command: async (l) => (sent.push(l), ''),
      payload: async () => 'unable to load the certificate\n',
    };
    await expect(swapCerts(rt, { crtList: '/l', certCopiesDir: '/d' }, { update: [certOf('u.pem', ['u.test'])], add: [], remove: [] })).rejects.toThrow(/set ssl cert \/d\/u\.pem/);
    expect(sent).toEqual(['abort ssl cert /d/u.pem']);
  });
});

describe.skipIf(!haproxyInstalled)('swapCerts on the real haproxy 2.6', () => {
  let dir: string;
  let config: Config;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vk-swap-'));
    const [fe, https] = [await freePort(), await freePort()];
    config = parseEnvironment({ ...MINIMAL_ENV, VIPKEEPER_CONFIG_DIR: dir, VIPKEEPER_RUN_DIR: dir, VIPKEEPER_FRONTEND_PORT: String(fe), VIPKEEPER_HTTPS_PORT: String(https) }, FACTS).config;
  });
  afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));

  const peer = (servername: string) =>
    new Promise<{ cn: string; serial: string }>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: config.httpsPort, servername, rejectUnauthorized: false }, () => {
        const c = s.getPeerCertificate();
        resolve({ cn: String(c.subject?.CN ?? ''), serial: c.serialNumber });
        s.end();
      });
      s.on('error', reject);
    });

  it('replaces, adds and removes certificates live; the files match what is live', async () => {
    const paths = runtimePaths(config);
    const www = certOf('www.pem', ['www.example.test']);
    const old = certOf('old.pem', ['old.example.test']);
    await syncTlsFiles(paths, [old, www]);
    await installDefaultCert(paths, await makeSelfSigned());
    const state = buildDesiredState(
      [container({ name: 'w', created: 1, bindings: [binding(80, 1, '127.0.0.1')], extraLabels: { 'vipkeeper.host': 'www.example.test', 'vipkeeper.check': 'false' } })],
      config,
    );
    const cfg = renderConfigs(config, { ...state, certificates: [old, www] }, await loadTemplates(null)).haproxyCfg;
    const h = await startHaproxy((sock) => cfg.replace(paths.adminSocket, sock));
    try {
      const pid = /^Pid: (\d+)$/m.exec(await runtimeCommand(h.adminSocket, 'show info'))![1];
      expect((await peer('old.example.test')).cn).toBe('old.example.test');
      const www2 = certOf('www.pem', ['www.example.test']);
      const shop = certOf('shop.pem', ['shop.example.test']);
      const rt = socketCertRuntime(h.adminSocket, (l) => runtimeCommand(h.adminSocket, l));
      const after = [shop, www2];
      await syncTlsFiles(paths, after);
      await swapCerts(rt, paths, diffCerts([old, www], after));

      expect((await peer('www.example.test')).serial).toBe(new (await import('node:crypto')).X509Certificate(www2.pem).serialNumber);
      expect((await peer('shop.example.test')).cn).toBe('shop.example.test');
      expect((await peer('old.example.test')).cn).toBe('vipkeeper-default');
      // No reload: the same worker.
      expect(/^Pid: (\d+)$/m.exec(await runtimeCommand(h.adminSocket, 'show info'))![1]).toBe(pid);
      // The crt-list HAProxy holds is the file on disk.
      const live = await runtimeCommand(h.adminSocket, `show ssl crt-list ${paths.crtList}`);
      expect(live.split('\n').filter((l) => l.startsWith('/')).map((l) => l.split(' ')[0]).sort()).toEqual(
        crtListText(paths.certCopiesDir, after).trim().split('\n').sort(),
      );
      expect(readFileSync(join(paths.certCopiesDir, 'www.pem'), 'utf8')).toBe(www2.pem);
    } finally {
      await h.stop();
    }
  }, 30_000);
});
