import type { StatusSnapshot } from './snapshot.js';

// StatusSnapshot -> Prometheus text exposition format. Pure.

type Labels = Record<string, string | number>;

const esc = (v: string | number) => String(v).replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const fmt = (labels: Labels) => {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${esc(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
};

export function renderMetrics(s: StatusSnapshot): string {
  const out: string[] = [];
  const metric = (name: string, type: string, help: string, samples: [Labels, number][]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) out.push(`${name}${fmt(labels)} ${value}`);
  };
  const states = ['MASTER', 'BACKUP', 'FAULT', 'INIT', 'STOP'];
  // One row per VRRP instance, labelled with keepalived's instance name; an agent from
  // before instances (no `instances`) or a node not taking part shows its one `vrrp`.
  const vrrps = s.instances && s.instances.length > 0 ? s.instances.map((i) => ({ instance: i.keepalivedName, vrrp: i.vrrp })) : [{ instance: s.vrrp?.instance ?? 'none', vrrp: s.vrrp }];
  metric(
    'vipkeeper_vrrp_state',
    'gauge',
    '1 for the current VRRP state of this node, per VRRP instance',
    vrrps.flatMap(({ instance, vrrp }) => states.map((st): [Labels, number] => [{ instance, state: st }, vrrp?.state === st ? 1 : 0])),
  );
  metric(
    'vipkeeper_vrrp_transitions_total',
    'counter',
    'VRRP state transitions reported by keepalived, per VRRP instance',
    vrrps.flatMap(({ instance, vrrp }) => states.map((st): [Labels, number] => [{ instance, state: st }, vrrp?.transitionCounts[st] ?? 0])),
  );
  metric('vipkeeper_vips_held', 'gauge', 'VIPs on this node\'s interfaces, all instances', [[{}, vrrps.reduce((n, v) => n + (v.vrrp?.vipsHeld.length ?? 0), 0)]]);
  metric('vipkeeper_vip_state_consistent', 'gauge', '1 when every instance holds its VIPs if and only if it is MASTER', [[{}, vrrps.every((v) => v.vrrp === null || v.vrrp.consistent) ? 1 : 0]]);
  metric('vipkeeper_instance_vips_held', 'gauge', 'VIPs on this node\'s interface, per VRRP instance', vrrps.map(({ instance, vrrp }) => [{ instance }, vrrp?.vipsHeld.length ?? 0]));
  metric(
    'vipkeeper_instance_vip_state_consistent',
    'gauge',
    '1 when the instance holds its VIPs if and only if it is MASTER',
    vrrps.map(({ instance, vrrp }) => [{ instance }, vrrp === null || vrrp.consistent ? 1 : 0]),
  );
  const judged = (s.instances ?? []).filter((i) => i.health !== undefined);
  if (judged.length > 0) {
    metric(
      'vipkeeper_instance_healthy',
      'gauge',
      "1 while the instance's vipkeeper.vip services are served on this node; 0 lowers its priority here",
      judged.map((i) => [{ instance: i.keepalivedName }, i.health!.healthy ? 1 : 0]),
    );
  }
  metric(
    'vipkeeper_passes_total',
    'counter',
    'Reconcile passes by how they were applied',
    Object.entries(s.passes.byMethod).map(([applied, n]) => [{ applied }, n]),
  );
  metric('vipkeeper_pass_failures_total', 'counter', 'Passes whose apply failed (the last good config stayed live)', [[{}, s.passes.failed]]);
  metric('vipkeeper_apply_duration_seconds_total', 'counter', 'Time spent in passes that changed something', [[{}, s.passes.secondsTotal]]);
  const health = ['up', 'down', 'starting', 'stopping', 'drain', 'maint', 'unknown'];
  metric(
    'vipkeeper_backend_servers',
    'gauge',
    'Servers per service by HAProxy health',
    s.services.flatMap((svc) => health.map((h): [Labels, number] => [{ service: svc.name, health: h }, svc.servers.filter((x) => x.health === h).length])),
  );
  metric(
    'vipkeeper_child_restarts_total',
    'counter',
    'Unexpected exits of supervised processes that were restarted',
    s.children.map((c) => [{ child: c.name }, c.restarts]),
  );
  metric('vipkeeper_child_running', 'gauge', '1 while the child runs', s.children.map((c) => [{ child: c.name }, c.running ? 1 : 0]));
  metric('vipkeeper_docker_connected', 'gauge', '1 while some Docker engine answers', [[{ endpoint: s.docker.endpoint }, s.docker.connected ? 1 : 0]]);
  metric(
    'vipkeeper_engine_up',
    'gauge',
    '1 while a source of backends (an engine, or the swarm) answers and may serve',
    s.docker.engines.map((e) => [{ engine: e.name, endpoint: e.endpoint }, e.state === 'up' ? 1 : 0]),
  );
  metric('vipkeeper_engine_backends', 'gauge', 'Containers or tasks each source contributes', s.docker.engines.map((e) => [{ engine: e.name }, e.backends]));
  metric(
    'vipkeeper_failing',
    'gauge',
    'Things failing now and retried with backoff (reconcile pass, drill restore), by consecutive failures',
    (s.failing ?? []).map((f) => [{ what: f.what, kind: f.kind, code: f.code }, f.failures]),
  );
  if (s.certificates) {
    const ok = s.certificates.filter((c) => c.state === 'ok');
    metric('vipkeeper_certificate_expiry_seconds', 'gauge', 'Seconds until each served certificate expires', ok.map((c) => [{ file: c.file }, c.secondsLeft ?? 0]));
    metric('vipkeeper_certificates', 'gauge', 'Files of the certificates directory, served or refused', [
      [{ state: 'ok' }, ok.length],
      [{ state: 'refused' }, s.certificates.length - ok.length],
    ]);
  }
  if (s.acme) {
    metric('vipkeeper_acme_certificate_expiring', 'gauge', '1 while an ACME certificate is within 14 days of its end (renewal failing)', s.acme.hosts.map((h) => [{ host: h.host }, h.expiringSoon ? 1 : 0]));
    metric('vipkeeper_acme_order_failures', 'gauge', 'ACME orders failed in a row for each host (0: the last one worked)', s.acme.hosts.map((h) => [{ host: h.host }, h.failures]));
  }
  metric('vipkeeper_healthy', 'gauge', '1 while /healthz answers ok', [[{}, s.health === undefined || s.health.ok ? 1 : 0]]);
  return `${out.join('\n')}\n`;
}
