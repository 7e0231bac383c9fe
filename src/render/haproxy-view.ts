import { haproxyTimeMs } from '../config/patterns.js';
import { adminOf, type Server, type Service } from '../model/desired-state.js';
import { haproxyServers } from './haproxy-servers.js';

// DesiredState -> exactly what haproxy.cfg.ejs prints. Every decision (names,
// ordering, ACLs, server options) is made here, so the template only prints.

export interface HaproxyPaths {
  /** Admin socket of the worker (Runtime API). */
  readonly adminSocket: string;
  /** Where HAProxy's Prometheus exporter listens (VIPKEEPER_HAPROXY_METRICS_ADDR); absent: off. */
  readonly metricsAddr?: { readonly host: string; readonly port: number } | null;
  /** Some VIP is IPv6: frontends bind `:::PORT v4v6`, both families on one socket. */
  readonly ipv6?: boolean;
}

export interface ServerView {
  readonly name: string;
  readonly address: string;
  /**
   * Everything after `server NAME ADDR:PORT`: the Runtime API's `add server` options, and
   * `disabled` for a server an operator took out (drained or in maintenance), so a reload
   * or a restart of haproxy never serves it again, not even for a moment.
   */
  readonly options: string;
}

export interface BackendView {
  readonly name: string;
  readonly mode: 'http' | 'tcp';
  readonly balance: string;
  /** HTTP check request lines, empty for TCP connect checks. */
  readonly httpCheck: readonly string[];
  readonly servers: readonly ServerView[];
}

export interface RouteView {
  readonly backend: string;
  readonly condition: string;
}

export interface FrontendView {
  readonly name: string;
  readonly bind: string;
  readonly mode: 'http' | 'tcp';
  readonly routes: readonly RouteView[];
  readonly defaultBackend: string | null;
}

export interface HaproxyView {
  readonly adminSocket: string;
  /** Admin socket connections served at once (`maxconn` on its bind line; HAProxy 2.6 serves 10 without it). */
  readonly adminMaxconn: number;
  /** Connections beyond that wait in the kernel's accept queue (`backlog`) instead of failing with EAGAIN. */
  readonly adminBacklog: number;
  readonly frontends: readonly FrontendView[];
  readonly backends: readonly BackendView[];
  /** HAProxy's Prometheus exporter: its bind address, or null when off. */
  readonly metrics: { readonly bind: string } | null;
}

/**
 * The agent itself opens at most a few admin connections at once (RuntimeClient);
 * the rest is room for `vipkeeper status`, the reload's `show info` polls and an
 * operator's socat, so none of them is refused while the agent is busy.
 */
export const ADMIN_SOCKET_MAXCONN = 32;
export const ADMIN_SOCKET_BACKLOG = 256;

export const backendName = (service: string) => `be_${service}`;
export const frontendName = (port: number) => `fe_${port}`;

/**
 * Check interval while a server is down or changing state (`downinter`,
 * `fastinter`): a server marked down comes back ~rise x 250 ms after its app
 * answers again, not rise x inter; a failing one is marked down after one check
 * at `inter` and the rest of `fall` at this pace.
 */
export const QUICK_CHECK_MS = 250;

/*
 * HAProxy 2.6 has a server UP before its first check, also one added at run
 * time, so requests reach an app that may not listen yet; `retry-on
 * conn-failure empty-response` with `option redispatch` sends them to another
 * server. Marking a server down on its first failed connect (`observe layer4
 * error-limit 1 on-error mark-down`) was tried and removed: under a rolling
 * replacement every up server can be a new one while the old ones drain, and
 * with all of them marked down HAProxy answers 503 at once (measured with the
 * Docker churn bench: 1,525 and 4,892 503s in two of five runs; 0 without it).
 */

/** Server options; dynamic servers inherit no default-server line, so each line says it all. */
export function serverOptions(server: Server & { readonly backup?: boolean }, service: Service): string {
  const parts: string[] = [];
  if (server.backup === true) parts.push('backup');
  if (service.check.enabled) {
    parts.push('check', `inter ${service.check.interval}`);
    if (haproxyTimeMs(service.check.interval) > QUICK_CHECK_MS) parts.push(`fastinter ${QUICK_CHECK_MS}ms`, `downinter ${QUICK_CHECK_MS}ms`);
    parts.push(`rise ${service.check.rise}`, `fall ${service.check.fall}`);
  }
  parts.push(`weight ${server.weight}`);
  if (server.maxconn !== null) parts.push(`maxconn ${server.maxconn}`);
  return parts.join(' ');
}

export function haproxyView(services: readonly Service[], paths: HaproxyPaths): HaproxyView {
  const backends: BackendView[] = services.map((s) => ({
    name: backendName(s.name),
    mode: s.mode,
    balance: s.balance,
    httpCheck:
      s.check.enabled && s.check.path !== null
        ? ['option httpchk', `http-check send meth GET uri ${s.check.path}`, 'http-check expect status 200-399']
        : [],
    servers: haproxyServers(s).map((srv) => ({
      name: srv.name,
      address: `${srv.address}:${srv.port}`,
      options: adminOf(srv) === 'ready' ? serverOptions(srv, s) : `${serverOptions(srv, s)} disabled`,
    })),
  }));

  const ports = [...new Set(services.map((s) => s.frontendPort))].sort((a, b) => a - b);
  const frontends: FrontendView[] = ports.map((port) => {
    const onPort = services.filter((s) => s.frontendPort === port);
    const mode = onPort[0]!.mode; // desired state guarantees one mode per port
    const ruled = onPort.filter((s) => s.hosts.length > 0 || s.path !== null).sort(bySpecificity);
    const fallback = onPort.find((s) => s.hosts.length === 0 && s.path === null);
    return {
      name: frontendName(port),
      bind: paths.ipv6 ? `:::${port} v4v6` : `:${port}`,
      mode,
      routes: ruled.map((s) => ({ backend: backendName(s.name), condition: routeCondition(s) })),
      defaultBackend: fallback ? backendName(fallback.name) : null,
    };
  });

  const metrics = paths.metricsAddr ? { bind: `${paths.metricsAddr.host}:${paths.metricsAddr.port}` } : null;
  return { adminSocket: paths.adminSocket, adminMaxconn: ADMIN_SOCKET_MAXCONN, adminBacklog: ADMIN_SOCKET_BACKLOG, frontends, backends, metrics };
}

/** Host+path rules before host-only before path-only; longer paths first; then by name. */
function bySpecificity(a: Service, b: Service): number {
  const rank = (s: Service) => (s.hosts.length > 0 ? 0 : 2) + (s.path !== null ? 0 : 1);
  return (
    rank(a) - rank(b) ||
    (b.path?.length ?? 0) - (a.path?.length ?? 0) ||
    (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  );
}

function routeCondition(s: Service): string {
  const parts: string[] = [];
  // The port is stripped from Host so `example.com:8080` matches `example.com`.
  if (s.hosts.length > 0) parts.push(`{ hdr(host),field(1,:) -i ${s.hosts.join(' ')} }`);
  if (s.path !== null) parts.push(`{ path_beg ${s.path} }`);
  return parts.join(' ');
}
