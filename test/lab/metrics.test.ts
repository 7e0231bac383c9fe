import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentUnderTest, get } from './support/agent.js';
import { httpGet, removeTestContainers, runApp, waitFor } from './support/lab.js';

// VIPKEEPER_HAPROXY_METRICS_ADDR against the real agent and haproxy: HAProxy's own Prometheus
// exporter answers beside vipkeeper's /metrics, and every metric the Grafana dashboard in
// docs/ queries exists on a running agent (a renamed metric would leave a panel empty).

const METRICS_PORT = 19101;
const DASHBOARD = new URL('../../docs/grafana-dashboard.json', import.meta.url);

/** Metric names in a PromQL expression: words that start like ours or HAProxy's. */
const metricNames = (expr: string) => [...expr.matchAll(/\b((?:vipkeeper|haproxy)_[a-z0-9_]+)/g)].map((m) => m[1]!);
/** Names with at least one sample in a Prometheus text exposition. */
const exposed = (text: string) => new Set(text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(l)![0]));

describe("HAProxy's metrics and the Grafana dashboard", () => {
  let agent: AgentUnderTest;

  beforeAll(async () => {
    await removeTestContainers();
    agent = new AgentUnderTest({ VIPKEEPER_HAPROXY_METRICS_ADDR: `127.0.0.1:${METRICS_PORT}` });
    agent.start();
    await agent.waitLog('the initial pass', (l) => l.msg === 'pass');
    await runApp({ name: 'vkt-metrics-1', labels: { role: 'apps' }, publish: ['80'] });
    await agent.waitServers(['vkt-metrics-1']);
    // Traffic, so the rate and response-time series have samples.
    for (let i = 0; i < 20; i++) expect((await get()).status).toBe(200);
  });
  afterAll(async () => {
    await agent?.stop();
    await removeTestContainers();
  });

  it('HAProxy serves its exporter at /metrics on the address asked for, and nothing else there', async () => {
    const r = await httpGet({ host: '127.0.0.1', port: METRICS_PORT, path: '/metrics' });
    expect(r.status).toBe(200);
    expect(r.body).toMatch(/^haproxy_server_status\{proxy="be_apps",server="vkt-metrics-1",state="UP"\} 1$/m);
    expect((await httpGet({ host: '127.0.0.1', port: METRICS_PORT, path: '/stats' })).status).toBe(404);
  });

  it('every metric the dashboard queries exists on the running agent', async () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
    const wanted = [...new Set(dashboard.panels.flatMap((p) => p.targets.flatMap((t) => metricNames(t.expr))))].sort();
    expect(wanted.length).toBeGreaterThan(10);
    const ours = await waitFor('vipkeeper /metrics', async () => (await httpGet({ host: '127.0.0.1', port: 9321, path: '/metrics' })).body);
    const haproxy = (await httpGet({ host: '127.0.0.1', port: METRICS_PORT, path: '/metrics' })).body;
    const have = new Set([...exposed(ours), ...exposed(haproxy)]);
    expect(wanted.filter((m) => !have.has(m))).toEqual([]);
  });
});
