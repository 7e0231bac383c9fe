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
  /** VIPKEEPER_ACCEPT_PROXY: canonical CIDRs of front load balancers that send PROXY protocol. */
  readonly acceptProxy?: readonly string[];
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
  /** `http-response` lines (HSTS on HTTPS responses). */
  readonly responseRules: readonly string[];
  /** HTTP check request lines, empty for TCP connect checks. */
  readonly httpCheck: readonly string[];
  /** Access and client-address lines (allow list, rate limit, X-Forwarded-*), before the servers. */
  readonly clientRules: readonly string[];
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
  /** `tcp-request connection` lines right after the bind: PROXY protocol from front load balancers. */
  readonly connectionRules: readonly string[];
  /** `http-request` lines before the routes: redirects to HTTPS. */
  readonly requestRules: readonly string[];
  readonly routes: readonly RouteView[];
  readonly defaultBackend: string | null;
}

export interface HaproxyView {
  readonly adminSocket: string;
  /** Admin socket connections served at once (`maxconn` on its bind line; HAProxy 2.6 serves 10 without it). */
  readonly adminMaxconn: number;
  /** Connections beyond that wait in the kernel's accept queue (`backlog`) instead of failing with EAGAIN. */
  readonly adminBacklog: number;
  /** `global` lines for TLS (ciphers, minimum version); empty without HTTPS. */
  readonly tlsGlobal: readonly string[];
  readonly frontends: readonly FrontendView[];
  readonly backends: readonly BackendView[];
  /** Table-only backends (`backend NAME` + `stick-table LINE`) for vipkeeper.rate-limit. */
  readonly stickTables: readonly { readonly name: string; readonly table: string }[];
  /** HAProxy's Prometheus exporter: its bind address, or null when off. */
  readonly metrics: { readonly bind: string } | null;
}

/** What HTTPS is made of, decided outside the view: where its files are and how many certificates serve. */
export interface TlsPlan {
  readonly httpsPort: number;
  /** Only services on this port (VIPKEEPER_FRONTEND_PORT) are served on HTTPS too. */
  readonly httpPort: number;
  /** Checked copies written by the agent: the default certificate and the crt-list. */
  readonly defaultCertPath: string;
  readonly crtListPath: string;
  readonly ciphers: string;
  readonly minVersion: 'TLSv1.2' | 'TLSv1.3';
  /** Accepted certificates; with none, there is no HTTPS frontend. */
  readonly certificates: number;
}

/** TLS 1.3 suites of Mozilla's intermediate profile. */
export const TLS13_SUITES = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256';
export const httpsFrontendName = (port: number) => `fe_https_${port}`;

/** Is this service served on HTTPS under this plan? Pure. */
export function servedOnHttps(s: Service, tls: TlsPlan | null): boolean {
  return tls !== null && tls.certificates > 0 && s.mode === 'http' && s.frontendPort === tls.httpPort && s.hosts.length > 0 && s.tls.enabled !== false;
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
  // Health checks send the header too (HAProxy's default with send-proxy), so an app that demands it passes them.
  if (service.clients.proxyProtocol !== null) parts.push(service.clients.proxyProtocol === 'v2' ? 'send-proxy-v2' : 'send-proxy');
  return parts.join(' ');
}

export function haproxyView(services: readonly Service[], paths: HaproxyPaths, tls: TlsPlan | null = null): HaproxyView {
  const https = services.filter((s) => servedOnHttps(s, tls));
  const backends: BackendView[] = services.map((s) => ({
    name: backendName(s.name),
    mode: s.mode,
    balance: s.balance,
    responseRules:
      s.tls.hsts !== null && servedOnHttps(s, tls) ? [`http-response set-header Strict-Transport-Security max-age=${s.tls.hsts} if { ssl_fc }`] : [],
    httpCheck:
      s.check.enabled && s.check.path !== null
        ? ['option httpchk', `http-check send meth GET uri ${s.check.path}`, 'http-check expect status 200-399']
        : [],
    clientRules: clientRules(s),
    servers: haproxyServers(s).map((srv) => ({
      name: srv.name,
      address: `${srv.address}:${srv.port}`,
      options: adminOf(srv) === 'ready' ? serverOptions(srv, s) : `${serverOptions(srv, s)} disabled`,
    })),
  }));

  const acceptProxy = acceptProxyRules(paths.acceptProxy ?? []);
  const ports = [...new Set(services.map((s) => s.frontendPort))].sort((a, b) => a - b);
  const frontends: FrontendView[] = ports.map((port) => {
    const onPort = services.filter((s) => s.frontendPort === port);
    const mode = onPort[0]!.mode; // desired state guarantees one mode per port
    const ruled = onPort.filter((s) => s.hosts.length > 0 || s.path !== null).sort(bySpecificity);
    const fallback = onPort.find((s) => s.hosts.length === 0 && s.path === null);
    const redirects = mode === 'http' ? ruled.filter((s) => s.tls.redirect && https.includes(s)) : [];
    return {
      name: frontendName(port),
      bind: paths.ipv6 ? `:::${port} v4v6` : `:${port}`,
      mode,
      connectionRules: acceptProxy,
      requestRules: redirects.map((s) => `http-request redirect location ${httpsLocation(tls!.httpsPort)} code 308 if ${routeCondition(s)}`),
      routes: ruled.map((s) => ({ backend: backendName(s.name), condition: routeCondition(s) })),
      defaultBackend: fallback ? backendName(fallback.name) : null,
    };
  });

  if (tls !== null && https.length > 0) {
    frontends.push({
      name: httpsFrontendName(tls.httpsPort),
      // The first certificate of a bind line answers names no other one covers (and clients without SNI).
      bind: `${paths.ipv6 ? `:::${tls.httpsPort} v4v6` : `:${tls.httpsPort}`} ssl crt ${tls.defaultCertPath} crt-list ${tls.crtListPath} alpn h2,http/1.1`,
      mode: 'http',
      connectionRules: acceptProxy,
      requestRules: [],
      routes: [...https].sort(bySpecificity).map((s) => ({ backend: backendName(s.name), condition: routeCondition(s) })),
      defaultBackend: null,
    });
  }
  const tlsGlobal =
    tls !== null && https.length > 0
      ? [
          `ssl-default-bind-ciphers ${tls.ciphers}`,
          `ssl-default-bind-ciphersuites ${TLS13_SUITES}`,
          `ssl-default-bind-options ssl-min-ver ${tls.minVersion} no-tls-tickets`,
        ]
      : [];

  const metrics = paths.metricsAddr ? { bind: `${paths.metricsAddr.host}:${paths.metricsAddr.port}` } : null;
  const stickTables = services
    .filter((s) => s.clients.rateLimit !== null)
    .map((s) => ({ name: rateTableName(s.name), table: `type ipv6 size 100k expire 10s store ${s.mode === 'http' ? 'http_req_rate(1s)' : 'conn_rate(1s)'}` }));
  return { adminSocket: paths.adminSocket, adminMaxconn: ADMIN_SOCKET_MAXCONN, adminBacklog: ADMIN_SOCKET_BACKLOG, tlsGlobal, frontends, backends, stickTables, metrics };
}

/**
 * Where a redirect to HTTPS points: the request's host without its port (the route's ACL
 * matched it, so it is one of the service's checked names), the HTTPS port unless 443, and
 * the request's path and query as received.
 */
function httpsLocation(port: number): string {
  return `https://%[hdr(host),field(1,:)]${port === 443 ? '' : `:${port}`}%[capture.req.uri]`;
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

/** The stick table of a service's vipkeeper.rate-limit (a backend of its own: `be_` names stay the services'). */
export const rateTableName = (service: string) => `rl_${service}`;

/**
 * PROXY protocol from front load balancers, only from their addresses: a direct client's
 * connection is served as it comes. `layer4` reads the header before anything else (TLS included).
 */
function acceptProxyRules(cidrs: readonly string[]): string[] {
  return cidrs.length > 0 ? [`tcp-request connection expect-proxy layer4 if { src ${cidrs.join(' ')} }`] : [];
}

/**
 * A service's access and client-address lines, in its own backend, so services that share a
 * frontend (host or path routes) each keep theirs. `src` is the client's address, the one a
 * front load balancer reported with VIPKEEPER_ACCEPT_PROXY. Order: the allow list first (a
 * refused client costs no table entry), then the rate limit, then the X-Forwarded-* headers.
 * Every value was checked by the label schema (canonical CIDRs, a bounded whole number).
 */
export function clientRules(s: Service): string[] {
  const { allow, rateLimit, forwarded } = s.clients;
  const lines: string[] = [];
  const table = rateTableName(s.name);
  if (s.mode === 'http') {
    if (allow !== null) lines.push(`http-request deny deny_status 403 unless { src ${allow.join(' ')} }`);
    if (rateLimit !== null) {
      // The request being tracked is already counted: the N+1th in a second is refused.
      lines.push(`http-request track-sc1 src table ${table}`, `http-request deny deny_status 429 if { sc_http_req_rate(1) gt ${rateLimit} }`);
    }
    if (forwarded) {
      lines.push(
        // As `option forwardfor` (appended), but an IPv4 client of a `v4v6` bind (IPv6 VIPs) is
        // written as IPv4, not `::ffff:198.18.0.7` as forwardfor and `src` print it.
        'http-request add-header X-Forwarded-For %[src,regsub(^::ffff:,)]',
        'http-request set-header X-Forwarded-Proto %[ssl_fc,iif(https,http)]',
        'http-request set-header X-Forwarded-Host %[req.hdr(host)] if { req.hdr(host) -m found }',
      );
    }
  } else {
    if (allow !== null) lines.push(`tcp-request content reject unless { src ${allow.join(' ')} }`);
    if (rateLimit !== null) {
      lines.push(`tcp-request content track-sc1 src table ${table}`, `tcp-request content reject if { sc_conn_rate(1) gt ${rateLimit} }`);
    }
  }
  return lines;
}
