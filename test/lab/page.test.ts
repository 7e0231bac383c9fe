import { mkdirSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PAGE_CSP } from '../../src/status/status-server.js';
import { AgentUnderTest, get } from './support/agent.js';
import { REPO } from './support/cli.js';
import { docker, removeTestContainers, runApp, waitFor } from './support/lab.js';

// The operator page in a real browser (Debian's chromium, driven by
// playwright-core) against a real agent: the first render works with
// JavaScript off, and with it on the page follows Docker within 2 s and
// shows a banner when an engine goes away. The agent reads two engines: the
// lab's socket, and the same engine through a TCP proxy this test owns, so
// that closing the proxy takes "an engine" down while the other stays.

const STATUS = '127.0.0.1:19321';
const BASE = `http://${STATUS}`;
const apps = { role: 'apps' };

/** A TCP -> unix socket proxy to the lab's dockerd; close() cuts every connection, as an engine dying does. */
async function dockerProxy(): Promise<{ endpoint: string; close: () => Promise<void> }> {
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection('/var/run/docker.sock');
    open.add(client).add(upstream);
    const drop = () => (client.destroy(), upstream.destroy(), open.delete(client), open.delete(upstream));
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    endpoint: `tcp://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of open) s.destroy();
      }),
  };
}

/** Waits until `check` holds, returning how long it took (ms); fails after `timeoutMs`. */
async function within(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const rowsOf = (page: Page, container: string) => page.locator('#services td', { hasText: container }).count();

describe('the operator page in a real browser', () => {
  let agent: AgentUnderTest;
  let proxy: Awaited<ReturnType<typeof dockerProxy>>;
  let browser: Browser;
  const measured: Record<string, number> = {};

  beforeAll(async () => {
    await removeTestContainers();
    proxy = await dockerProxy();
    agent = new AgentUnderTest({
      VIPKEEPER_STATUS_ADDR: STATUS,
      VIPKEEPER_DOCKER_HOSTS: `unix:///var/run/docker.sock,${proxy.endpoint}`,
    });
    agent.start();
    await agent.waitLog('the initial pass', (l) => l.msg === 'pass');
    await runApp({ name: 'vkt-page-a', labels: apps, publish: ['80'] });
    await waitFor('vkt-page-a in /status', async () => (await (await fetch(`${BASE}/status`)).text()).includes('vkt-page-a'));
    // launch() gives the browser a fresh temporary profile of its own (and removes it on close).
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await agent?.stop();
    await proxy?.close();
    await removeTestContainers();
    mkdirSync(join(REPO, '.lab'), { recursive: true });
    writeFileSync(join(REPO, '.lab', 'page-measured.json'), `${JSON.stringify(measured, null, 2)}\n`);
    console.log('operator page measured:', measured);
  });

  it('with JavaScript off, the first render already lists the services, under a strict CSP and nosniff', async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    const response = await page.goto(`${BASE}/`);
    expect(response?.status()).toBe(200);
    const headers = response!.headers();
    expect(headers['content-security-policy']).toBe(PAGE_CSP);
    expect(headers['x-content-type-options']).toBe('nosniff');
    expect(await page.locator('#services h3', { hasText: 'apps' }).count()).toBe(1);
    expect(await rowsOf(page, 'vkt-page-a')).toBeGreaterThan(0);
    expect(await page.locator('#vrrp').textContent()).toMatch(/MASTER|BACKUP|INIT|UNKNOWN/);
    await context.close();
  });

  it('the page weighs little and renders fast (measured, not judged)', async () => {
    const sizes = await Promise.all(['/', '/page.js', '/page.css'].map(async (p) => (await (await fetch(`${BASE}${p}`)).arrayBuffer()).byteLength));
    measured.htmlBytes = sizes[0]!;
    measured.jsBytes = sizes[1]!;
    measured.cssBytes = sizes[2]!;
    measured.totalBytes = sizes.reduce((a, b) => a + b, 0);
    // Five fresh loads (a new context each: nothing cached); the medians are reported.
    const samples: { fcp: number; dcl: number; wire: number }[] = [];
    for (let i = 0; i < 5; i++) {
      const context = await browser.newContext();
      const page = await context.newPage();
      const responses: Promise<number>[] = [];
      page.on('requestfinished', (r) => responses.push(r.sizes().then((s) => s.responseBodySize + s.responseHeadersSize)));
      await page.goto(`${BASE}/`, { waitUntil: 'load' });
      // Runs in the page (the test's tsconfig has no DOM types: the entries are read loosely).
      const t = await page.evaluate(async () => {
        const perf = performance as unknown as { getEntriesByType(t: string): { domContentLoadedEventEnd: number }[] };
        type Observer = new (cb: (list: { getEntriesByName(n: string): { startTime: number }[] }) => void) => { observe(o: object): void };
        // The paint entry may land a frame after 'load': wait for it (buffered), at most 2 s.
        const fcp = await new Promise<number>((resolve) => {
          new (PerformanceObserver as unknown as Observer)((list) => {
            const e = list.getEntriesByName('first-contentful-paint')[0];
            if (e) resolve(e.startTime);
          }).observe({ type: 'paint', buffered: true });
          setTimeout(() => resolve(-1), 2000);
        });
        return { dcl: perf.getEntriesByType('navigation')[0]!.domContentLoadedEventEnd, fcp };
      });
      samples.push({ ...t, wire: (await Promise.all(responses)).reduce((a, b) => a + b, 0) });
      await context.close();
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    measured.firstContentfulPaintMedianMs = Math.round(median(samples.map((s) => s.fcp)));
    measured.firstContentfulPaintMaxMs = Math.round(Math.max(...samples.map((s) => s.fcp)));
    measured.domContentLoadedMedianMs = Math.round(median(samples.map((s) => s.dcl)));
    measured.onTheWireBytes = median(samples.map((s) => s.wire));
    expect(samples.every((s) => s.fcp > 0)).toBe(true);
    expect(measured.totalBytes).toBeGreaterThan(0);
  });

  it('follows Docker live: a started container shows within 2 s, a stopped one disappears; an engine that stops raises the banner', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const blocked: string[] = [];
    page.on('console', (m) => m.text().includes('Content Security Policy') && blocked.push(m.text()));
    await page.goto(`${BASE}/`);
    await page.locator('#banner.ok').waitFor({ timeout: 5000 });

    await runApp({ name: 'vkt-page-b', labels: apps, publish: ['80'] });
    measured.startedShownMs = await within('vkt-page-b on the page', async () => (await rowsOf(page, 'vkt-page-b')) > 0, 2000);

    await runApp({ name: 'vkt-page-c', labels: apps, publish: ['80'] });
    await within('vkt-page-c on the page', async () => (await rowsOf(page, 'vkt-page-c')) > 0, 2000);
    await docker('stop', '-t', '0', 'vkt-page-c');
    measured.stoppedGoneMs = await within('vkt-page-c gone from the page', async () => (await rowsOf(page, 'vkt-page-c')) === 0, 2000);

    await waitFor('servers up on the page', async () => (await page.locator('#services .b.ok', { hasText: 'up' }).count()) >= 2, 15_000);
    // Requests through HAProxy show as a rate from its `show stat` (the last column).
    let sending = true;
    const traffic = (async () => {
      while (sending) await get().catch(() => undefined);
    })();
    const rates = () => page.locator('#services tbody tr td:last-child').allTextContents();
    await waitFor('a request rate on the page', async () => (await rates()).some((r) => Number(r) > 0), 10_000);
    await proxy.close();
    measured.engineDownBannerMs = await within(
      'the banner naming the stopped engine',
      async () => /is down/.test((await page.locator('#banner.bad').textContent({ timeout: 100 }).catch(() => '')) ?? ''),
      30_000,
    );
    expect(await page.locator('#banner').textContent()).toContain(proxy.endpoint);
    // Traffic runs on until the screenshot, so that it shows rates too. It goes to .lab/ on
    // every run; VIPKEEPER_UPDATE_SCREENSHOT=1 refreshes the README's copy in docs/.
    await waitFor('a request rate on the page again', async () => (await rates()).some((r) => Number(r) > 0), 10_000);
    const shot = process.env.VIPKEEPER_UPDATE_SCREENSHOT === '1' ? join(REPO, 'docs') : join(REPO, '.lab');
    mkdirSync(shot, { recursive: true });
    await page.screenshot({ path: join(shot, 'operator-page.png'), fullPage: true });
    sending = false;
    await traffic;
    expect(blocked).toEqual([]);
    await context.close();
  });
});
