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
  /** ACME HTTP-01 on: answers from the map, unknown tokens relayed to the VRRP peers. */
  readonly acme?: AcmeView | null;
}

/** What HTTP-01 needs in haproxy.cfg (see acmeRules). */
export interface AcmeView {
  /** The HTTP frontend port the ACME server validates on. */
  readonly port: number;
  /** The challenge map (token -> key authorization), filled through the Runtime API. */
  readonly mapPath: string;
  /** Peers' addresses (VIPKEEPER_UNICAST_PEERS): a token this node does not know is asked there. */
  readonly peers: readonly string[];
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
  /** Lines before the servers that are not checks or response rules (the ACME relay's timeouts, retries and header). */
  readonly settings?: readonly string[];
  /** `http-response` lines (HSTS on HTTPS responses). */
  readonly responseRules: readonly string[];
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
    const redirects = mode === 'http' ? ruled.filter((s) => s.tls.redirect && https.includes(s)) : [];
    const acme = paths.acme && paths.acme.port === port && mode === 'http' ? acmeRules(paths.acme) : null;
    return {
      name: frontendName(port),
      bind: paths.ipv6 ? `:::${port} v4v6` : `:${port}`,
      mode,
      requestRules: [
        ...(acme?.requestRules ?? []),
        ...redirects.map((s) => `http-request redirect location ${httpsLocation(tls!.httpsPort)} code 308 if ${routeCondition(s)}`),
      ],
      routes: [...(acme?.route ? [acme.route] : []), ...ruled.map((s) => ({ backend: backendName(s.name), condition: routeCondition(s) }))],
      defaultBackend: fallback ? backendName(fallback.name) : null,
    };
  });
  if (paths.acme && paths.acme.peers.length > 0 && frontends.some((f) => f.name === frontendName(paths.acme!.port) && f.mode === 'http')) {
    backends.push(acmeRelayBackend(paths.acme));
  }

  if (tls !== null && https.length > 0) {
    frontends.push({
      name: httpsFrontendName(tls.httpsPort),
      // The first certificate of a bind line answers names no other one covers (and clients without SNI).
      bind: `${paths.ipv6 ? `:::${tls.httpsPort} v4v6` : `:${tls.httpsPort}`} ssl crt ${tls.defaultCertPath} crt-list ${tls.crtListPath} alpn h2,http/1.1`,
      mode: 'http',
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
  return { adminSocket: paths.adminSocket, adminMaxconn: ADMIN_SOCKET_MAXCONN, adminBacklog: ADMIN_SOCKET_BACKLOG, tlsGlobal, frontends, backends, metrics };
}

export const ACME_RELAY_BACKEND = 'vipkeeper_acme_relay';
export const ACME_RELAY_HEADER = 'X-Vipkeeper-Acme-Relay';
const ACME_PATH = '{ path_beg /.well-known/acme-challenge/ }';

/**
 * HTTP-01 answered by HAProxy itself, before any redirect or route: a token in the map
 * answers its key authorization; an unknown one goes to the peers (one of them ordered
 * it), unless it came from a peer already (the header), then 404: no relay loops.
 */
export function acmeRules(a: AcmeView): { requestRules: string[]; route: RouteView | null } {
  return {
    requestRules: [
      `http-request set-var(txn.vk_acme) path,field(4,/),map(${a.mapPath}) if ${ACME_PATH}`,
      'http-request return status 200 content-type text/plain lf-string "%[var(txn.vk_acme)]" if { var(txn.vk_acme) -m found }',
      a.peers.length > 0
        ? `http-request return status 404 if ${ACME_PATH} { req.hdr(${ACME_RELAY_HEADER.toLowerCase()}) -m found }`
        : `http-request return status 404 if ${ACME_PATH}`,
    ],
    route: a.peers.length > 0 ? { backend: ACME_RELAY_BACKEND, condition: ACME_PATH } : null,
  };
}

/** The peers' HTTP frontends, each tried once: a 404 (not theirs) or a dead peer moves on to the next. */
export function acmeRelayBackend(a: AcmeView): BackendView {
  return {
    name: ACME_RELAY_BACKEND,
    mode: 'http',
    balance: 'roundrobin',
    settings: [
      'timeout connect 2s',
      'timeout server 5s',
      `retries ${a.peers.length}`,
      'retry-on conn-failure empty-response response-timeout 404',
      `http-request set-header ${ACME_RELAY_HEADER} 1`,
    ],
    responseRules: [],
    httpCheck: [],
    servers: a.peers.map((p, i) => ({ name: `peer${i + 1}`, address: `${p}:${a.port}`, options: 'weight 1' })),
  };
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
