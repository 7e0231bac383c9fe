import { haproxyTimeMs, hostPort } from '../config/patterns.js';
import { adminOf, bindKey, type FrontendBind, type Server, type Service } from '../model/desired-state.js';
import { haproxyServers } from './haproxy-servers.js';
import type { PeersConfig } from '../config/env.js';

// DesiredState -> exactly what haproxy.cfg.ejs prints. Every decision (names,
// ordering, ACLs, server options) is made here, so the template only prints.

export interface HaproxyPaths {
  /** Admin socket of the worker (Runtime API). */
  readonly adminSocket: string;
  /** Where HAProxy's Prometheus exporter listens (VIPKEEPER_HAPROXY_METRICS_ADDR); absent: off. */
  readonly metricsAddr?: { readonly host: string; readonly port: number } | null;
  /** Some VIP is IPv6: frontends bind `:::PORT v4v6`, both families on one socket. */
  readonly ipv6?: boolean;
  /** HAProxy peers sharing sticky services' stick tables (absent: this node alone on loopback). */
  readonly peers?: PeersConfig;
  /** VIPKEEPER_ACCEPT_PROXY: canonical CIDRs of front load balancers that send PROXY protocol. */
  readonly acceptProxy?: readonly string[];
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
  /** vipkeeper.sticky: the stick table and the lines that fill and read it. */
  readonly stickRules: readonly string[];
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
  /** The `peers` section and `localpeer`, only while some service is sticky. */
  readonly peers: PeersView | null;
}

export interface PeersView {
  readonly name: string;
  readonly localPeer: string;
  readonly peers: readonly { readonly name: string; readonly address: string }[];
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
/** `fe_80` on every address; `fe_80_web` on instance web's VIPs (vipkeeper.vip). */
export const frontendName = (port: number, bind: FrontendBind | null = null) => (bind === null ? `fe_${port}` : `fe_${port}_${bind.name}`);

/**
 * The bind line's addresses. Every address: `:PORT` (`:::PORT v4v6` with IPv6 VIPs). A
 * vipkeeper.vip frontend: its addresses with `transparent`, so HAProxy listens on a VIP this
 * node does not hold yet and serves it the moment keepalived adds it. HAProxy 2.6 has no
 * `freebind` keyword; `transparent` sets IP_TRANSPARENT (with CAP_NET_ADMIN, which the agent
 * has for keepalived) or else IP_FREEBIND on the socket: no ip_nonlocal_bind sysctl, nothing
 * host-wide, and no iptables TPROXY rule, so it changes nothing else.
 */
export function bindAddresses(port: number, bind: FrontendBind | null, ipv6: boolean): string {
  if (bind === null) return ipv6 ? `:::${port} v4v6` : `:${port}`;
  return `${bind.addresses.map((a) => (a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`)).join(',')} transparent`;
}

/** Services grouped by frontend: by port, every address first, then by address set. */
function byFrontend(services: readonly Service[]): { port: number; bind: FrontendBind | null; services: Service[] }[] {
  const groups = new Map<string, { port: number; bind: FrontendBind | null; services: Service[] }>();
  for (const s of services) {
    const key = `${s.frontendPort}|${bindKey(s.bind)}`;
    const g = groups.get(key) ?? { port: s.frontendPort, bind: s.bind, services: [] };
    g.services.push(s);
    groups.set(key, g);
  }
  const rank = (b: FrontendBind | null) => (b === null ? '' : `1${b.name}`);
  return [...groups.values()].sort((a, b) => a.port - b.port || (rank(a.bind) < rank(b.bind) ? -1 : rank(a.bind) > rank(b.bind) ? 1 : 0));
}

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
    // A front load balancer (VIPKEEPER_ACCEPT_PROXY) may report IPv6 clients over IPv4: an `ip`
    // table cannot hold them, and such a client would be balanced on every request, silently.
    stickRules: stickRules(s, paths.ipv6 === true || (paths.acceptProxy?.length ?? 0) > 0),
    clientRules: clientRules(s),
    servers: haproxyServers(s).map((srv) => ({
      name: srv.name,
      address: hostPort(srv.address, srv.port),
      options: adminOf(srv) === 'ready' ? serverOptions(srv, s) : `${serverOptions(srv, s)} disabled`,
    })),
  }));

  const acceptProxy = acceptProxyRules(paths.acceptProxy ?? []);
  const frontends: FrontendView[] = byFrontend(services).map(({ port, bind, services: onPort }) => {
    const mode = onPort[0]!.mode; // desired state guarantees one mode per frontend
    const ruled = onPort.filter((s) => s.hosts.length > 0 || s.path !== null).sort(bySpecificity);
    const fallback = onPort.find((s) => s.hosts.length === 0 && s.path === null);
    const redirects = mode === 'http' ? ruled.filter((s) => s.tls.redirect && https.includes(s)) : [];
    const acme = paths.acme && paths.acme.port === port && mode === 'http' ? acmeRules(paths.acme) : null;
    return {
      name: frontendName(port, bind),
      bind: bindAddresses(port, bind, paths.ipv6 === true),
      mode,
      connectionRules: acceptProxy,
      requestRules: [
        ...(acme?.requestRules ?? []),
        ...redirects.map((s) => `http-request redirect location ${httpsLocation(tls!.httpsPort)} code 308 if ${routeCondition(s)}`),
      ],
      routes: [...(acme?.route ? [acme.route] : []), ...ruled.map((s) => ({ backend: backendName(s.name), condition: routeCondition(s) }))],
      defaultBackend: fallback ? backendName(fallback.name) : null,
    };
  });
  // Every HTTP frontend on the ACME port routes unknown tokens there (one on every address, or one per vipkeeper.vip).
  if (paths.acme && frontends.some((f) => f.routes.some((r) => r.backend === ACME_RELAY_BACKEND))) {
    backends.push(acmeRelayBackend(paths.acme));
  }

  if (tls !== null) {
    for (const { bind, services: group } of byFrontend(https)) {
      frontends.push({
        name: bind === null ? httpsFrontendName(tls.httpsPort) : `${httpsFrontendName(tls.httpsPort)}_${bind.name}`,
        // The first certificate of a bind line answers names no other one covers (and clients without SNI).
        bind: `${bindAddresses(tls.httpsPort, bind, paths.ipv6 === true)} ssl crt ${tls.defaultCertPath} crt-list ${tls.crtListPath} alpn h2,http/1.1`,
        mode: 'http',
        connectionRules: acceptProxy,
        requestRules: [],
        routes: [...group].sort(bySpecificity).map((s) => ({ backend: backendName(s.name), condition: routeCondition(s) })),
        defaultBackend: null,
      });
    }
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
  const peers = services.some((s) => s.sticky !== undefined) ? peersView(paths.peers ?? LOCAL_PEERS) : null;
  const stickTables = services
    .filter((s) => s.clients.rateLimit !== null)
    .map((s) => ({ name: rateTableName(s.name), table: `type ipv6 size 100k expire 10s store ${s.mode === 'http' ? 'http_req_rate(1s)' : 'conn_rate(1s)'}` }));
  return { adminSocket: paths.adminSocket, adminMaxconn: ADMIN_SOCKET_MAXCONN, adminBacklog: ADMIN_SOCKET_BACKLOG, tlsGlobal, frontends, backends, stickTables, metrics, peers };
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
    stickRules: [],
    clientRules: [],
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

export const PEERS_SECTION = 'vipkeeper';
const LOCAL_PEERS: PeersConfig = { port: 10_000, local: '127.0.0.1', addresses: ['127.0.0.1'] };

function peersView(p: PeersConfig): PeersView {
  return { name: PEERS_SECTION, localPeer: p.local, peers: p.addresses.map((a) => ({ name: a, address: `${a}:${p.port}` })) };
}

/** Sticky clients are forgotten after this long without a request. */
export const STICKY_EXPIRE = '30m';
export const STICKY_TABLE_SIZE = '1m';
export const stickyCookieName = (service: string) => `vk_${service}`;

/*
 * vipkeeper.sticky. Both kinds are a stick table keyed by the client (a cookie's random
 * token, or the source address) whose entries name the server (`srvkey name`), not its
 * numeric id: ids of servers added at run time depend on the order of adds, which differs
 * between nodes and across reloads, while names follow containers. The `peers` section
 * shares the table with the other nodes (a failover keeps clients where they were) and
 * hands it over to the new process on a reload. HAProxy's own `cookie` keyword is no
 * option: 2.6 refuses it on `add server` ("'cookie' option is not accepted for dynamic
 * server"), and dynamic cookies are a hash of the server's address, which a redeploy changes.
 */
export function stickRules(s: Service, ipv6: boolean): string[] {
  const table = (type: string) => `stick-table type ${type} size ${STICKY_TABLE_SIZE} expire ${STICKY_EXPIRE} peers ${PEERS_SECTION} srvkey name`;
  if (s.sticky === 'source') return [table(ipv6 ? 'ipv6' : 'ip'), 'stick on src'];
  if (s.sticky !== 'cookie') return [];
  const cookie = stickyCookieName(s.name);
  const set = `http-response add-header Set-Cookie "${cookie}=%[var(txn.vk_sticky)]; Path=/; HttpOnly; SameSite=Lax`;
  return [
    table('string len 36'),
    // A client's token is taken only in the form we hand out; anything else gets a new one.
    `http-request set-var(txn.vk_sticky) req.cook(${cookie}) if { req.cook(${cookie}) -m reg ^[0-9a-f-]{36}$ }`,
    'http-request set-var(txn.vk_sticky_new) bool(true) unless { var(txn.vk_sticky) -m found }',
    'http-request set-var(txn.vk_sticky) uuid if { var(txn.vk_sticky_new) -m found }',
    'stick on var(txn.vk_sticky)',
    `${set}" if { var(txn.vk_sticky_new) -m found } !{ ssl_fc }`,
    `${set}; Secure" if { var(txn.vk_sticky_new) -m found } { ssl_fc }`,
  ];
}

/** The stick table of a service's vipkeeper.rate-limit (a backend of its own: `be_` names stay the services'). */
export const rateTableName = (service: string) => `rl_${service}`;

/**
 * PROXY protocol from front load balancers, only from their addresses: a direct client's
 * connection is served as it comes. `layer4` reads the header before anything else (TLS included).
 */
function acceptProxyRules(cidrs: readonly string[]): string[] {
  // HAProxy reads at most 64 words a line and refuses the file beyond; VIPKEEPER_ACCEPT_PROXY has no
  // count limit, so the blocks are split over lines of ACL_WORDS_PER_LINE (the first that matches applies).
  const lines: string[] = [];
  for (let i = 0; i < cidrs.length; i += ACL_WORDS_PER_LINE) {
    lines.push(`tcp-request connection expect-proxy layer4 if { src ${cidrs.slice(i, i + ACL_WORDS_PER_LINE).join(' ')} }`);
  }
  return lines;
}

/** Values of one ACL on one config line: HAProxy 2.6 truncates a line after 64 words (MAX_LINE_ARGS) and refuses it. */
export const ACL_WORDS_PER_LINE = 40;

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
