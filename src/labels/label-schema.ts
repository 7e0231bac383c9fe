import { z } from 'zod';
import { INSTANCE_NAME } from '../config/env-schema.js';
import { canonicalIpv6, clientCidr, DOCKER_NAME, HAPROXY_MAX_TIME_MS, HAPROXY_TIME, haproxyTimeMs, HOSTNAME, IDENTIFIER, IPV4, isIpv6Address, URL_PATH, WHOLE_NUMBER } from '../config/patterns.js';

/** A VRRP instance's name, as VIPKEEPER_INSTANCES spells them (`default` without it). */
const VIP_INSTANCE = INSTANCE_NAME;

/** vipkeeper.vip: a VRRP instance by name, or one address (IPv6 written canonically). */
export type VipLabel = { readonly kind: 'instance'; readonly name: string } | { readonly kind: 'address'; readonly address: string };

// Every vipkeeper.* label: its strict rule, its default and its reference text.
// Label values come from whoever can start a container, so each rule is a
// whitelist pattern, never a blacklist.

export const LABEL_PREFIX = 'vipkeeper.';
/**
 * A named definition's name (`vipkeeper.NAME.port`): it becomes the default service
 * name and part of HAProxy server names, so it is strict: lower-case letters, digits
 * and `-`, starting with a letter, at most 32 characters.
 */
export const DEFINITION_NAME = /^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$/;
export const DEFINITION_NAME_RULE =
  'a definition name: 1-32 lower-case letters, digits or `-`, starting with a letter and ending with a letter or digit, and not a label word (port, host, check, tls, frontend, ...)';

/** Longest label value we look at; longer values are refused before any pattern runs. */
export const MAX_LABEL_VALUE = 256;

/** `service` labels describe the whole HAProxy backend and must agree across its containers. */
export type LabelScope = 'server' | 'service';

export interface LabelSpec<T> {
  readonly key: `vipkeeper.${string}`;
  readonly meaning: string;
  readonly defaultText: string;
  readonly scope: LabelScope;
  /** The rule in words, as warnings print it. */
  readonly rule: string;
  readonly schema: z.ZodType<T, string>;
}

const spec = <T>(s: LabelSpec<T>): LabelSpec<T> => s;

const whole = (min: number, max: number) =>
  z
    .string()
    .regex(WHOLE_NUMBER)
    .transform(Number)
    .refine((n) => n >= min && n <= max);

const bool = z
  .string()
  .regex(/^(true|false)$/)
  .transform((v) => v === 'true');

export const LABELS = {
  port: spec({
    key: 'vipkeeper.port',
    meaning:
      "The container's private port to serve. HAProxy reaches it on the port Docker published for it, or on the container's own address with `vipkeeper.network`.",
    defaultText: 'the only exposed TCP port',
    scope: 'server',
    rule: 'a whole number from 1 to 65535',
    schema: whole(1, 65535),
  }),
  network: spec({
    key: 'vipkeeper.network',
    meaning: "Reach the container on its address in this Docker network instead of a published port.",
    defaultText: 'none: use the published port',
    scope: 'server',
    rule: 'a Docker network name: a letter or digit, then letters, digits, `_`, `.` or `-`',
    schema: z.string().regex(DOCKER_NAME),
  }),
  weight: spec({
    key: 'vipkeeper.weight',
    meaning: "HAProxy server weight; 0 takes the server out of rotation but keeps it checked.",
    defaultText: '100',
    scope: 'server',
    rule: 'a whole number from 0 to 256',
    schema: whole(0, 256),
  }),
  maxconn: spec({
    key: 'vipkeeper.maxconn',
    meaning: 'Most concurrent connections HAProxy sends to this container; more wait in the queue.',
    defaultText: 'no limit',
    scope: 'server',
    rule: 'a whole number from 1 to 1000000',
    schema: whole(1, 1_000_000),
  }),
  dockerHealth: spec({
    key: 'vipkeeper.docker-health',
    meaning:
      "`respect`: a container whose Docker healthcheck is `starting` or `unhealthy` is not served. `ignore`: serve it anyway (HAProxy's own checks still apply).",
    defaultText: 'respect',
    scope: 'server',
    rule: 'respect or ignore',
    schema: z.enum(['respect', 'ignore']),
  }),
  service: spec({
    key: 'vipkeeper.service',
    meaning: 'Name of the HAProxy backend this container joins. Containers without it form one pool named after the backend role.',
    defaultText: 'the backend role (`apps`)',
    scope: 'service',
    rule: 'lower-case letters, digits, `_` or `-`, 1-48 characters, starting and ending with a letter or digit',
    schema: z.string().regex(IDENTIFIER),
  }),
  mode: spec({
    key: 'vipkeeper.mode',
    meaning: '`http` (layer 7: host and path routing, HTTP checks) or `tcp` (layer 4, a frontend port of its own).',
    defaultText: 'http',
    scope: 'service',
    rule: 'http or tcp',
    schema: z.enum(['http', 'tcp']),
  }),
  vip: spec({
    key: 'vipkeeper.vip',
    meaning:
      "Bind this service's frontend to one VRRP instance's VIPs (its name from VIPKEEPER_INSTANCES) or to one address that is a VIP of an instance (IPv4 or IPv6), instead of every address. HAProxy binds it with `transparent` (a non-local bind: no sysctl), so a node that does not hold the VIP yet is ready when it arrives. Services on one port with different `vipkeeper.vip` are separate frontends. A name that is no instance, or an address that is no VIP, leaves the service out with a warning.",
    defaultText: 'none: every address',
    scope: 'service',
    rule: 'an instance name (a lower-case letter, then 1-14 lower-case letters or digits) or an IPv4 or IPv6 address',
    schema: z
      .string()
      .refine((v) => VIP_INSTANCE.test(v) || IPV4.test(v) || isIpv6Address(v))
      .transform((v): VipLabel =>
        VIP_INSTANCE.test(v) ? { kind: 'instance', name: v } : { kind: 'address', address: IPV4.test(v) ? v : canonicalIpv6(v) },
      ),
  }),
  frontendPort: spec({
    key: 'vipkeeper.frontend.port',
    meaning: 'Port HAProxy listens on for this service (on every address, the VIPs included, unless `vipkeeper.vip` names some).',
    defaultText: 'VIPKEEPER_FRONTEND_PORT (80)',
    scope: 'service',
    rule: 'a whole number from 1 to 65535',
    schema: whole(1, 65535),
  }),
  host: spec({
    key: 'vipkeeper.host',
    meaning:
      'HTTP only: serve requests whose Host header is one of these names (comma separated). Lets several services share a frontend port.',
    defaultText: 'any host',
    scope: 'service',
    rule: 'one or more lower-case DNS names separated by commas',
    schema: z
      .string()
      .transform((v) => v.split(','))
      .refine((names) => names.length <= 16 && names.every((n) => HOSTNAME.test(n)))
      .transform((names) => [...new Set(names)].sort()),
  }),
  tls: spec({
    key: 'vipkeeper.tls',
    meaning:
      'HTTP only: also serve the `vipkeeper.host` names on the HTTPS port (VIPKEEPER_HTTPS_PORT), with the certificate that names each host, chosen by SNI (a name no certificate covers gets the default one). `false`: HTTP only. Only for services on VIPKEEPER_FRONTEND_PORT.',
    defaultText: 'true when the service has a vipkeeper.host and a certificate is loaded',
    scope: 'service',
    rule: 'true or false',
    schema: bool,
  }),
  acme: spec({
    key: 'vipkeeper.acme',
    meaning:
      'HTTP only, with ACME on (VIPKEEPER_ACME_EMAIL): `true` gets each `vipkeeper.host` name a certificate from the ACME server by HTTP-01; `false` opts out even with VIPKEEPER_ACME_ALL_HOSTS. A name needs at least two labels; a certificate in the certificates directory that covers it already wins.',
    defaultText: 'VIPKEEPER_ACME_ALL_HOSTS',
    scope: 'service',
    rule: 'true or false',
    schema: bool,
  }),
  tlsRedirect: spec({
    key: 'vipkeeper.tls.redirect',
    meaning: 'HTTP only: requests for this service on plain HTTP answer 308 with the same URL on HTTPS (while HTTPS serves it).',
    defaultText: 'false',
    scope: 'service',
    rule: 'true or false',
    schema: bool,
  }),
  tlsHsts: spec({
    key: 'vipkeeper.tls.hsts',
    meaning: 'HTTP only: HTTPS responses of this service carry `Strict-Transport-Security: max-age=SECONDS`.',
    defaultText: 'none',
    scope: 'service',
    rule: 'a whole number of seconds from 0 to 63072000 (two years)',
    schema: whole(0, 63_072_000),
  }),
  path: spec({
    key: 'vipkeeper.path',
    meaning: 'HTTP only: serve requests whose path starts with this prefix. Lets several services share a frontend port.',
    defaultText: 'any path',
    scope: 'service',
    rule: 'a path starting with `/` of letters, digits and `. _ ~ % / -`',
    schema: z.string().regex(/^\/[A-Za-z0-9._~%/-]{0,254}$/),
  }),
  balance: spec({
    key: 'vipkeeper.balance',
    meaning: 'HAProxy balancing algorithm; only dynamic ones, so servers can be added without a reload.',
    defaultText: 'roundrobin',
    scope: 'service',
    rule: 'roundrobin, leastconn or random',
    schema: z.enum(['roundrobin', 'leastconn', 'random']),
  }),
  memberClass: spec({
    key: 'vipkeeper.class',
    meaning:
      "`multiple`: every container of the service serves. `single`: only the newest running, healthy container serves (newest by Docker's start time); the others stay in the backend as HAProxy `backup` servers, and the one before it takes the traffic at once when the newest fails, stops or is disabled (a rollback with no redeploy). The service's oldest container decides; one that disagrees is still served, with a warning.",
    defaultText: 'multiple',
    scope: 'service',
    rule: 'single or multiple',
    schema: z.enum(['single', 'multiple']),
  }),
  sticky: spec({
    key: 'vipkeeper.sticky',
    meaning:
      "Keep a client on one container. `cookie` (HTTP only): HAProxy gives each new client a random `vk_<service>` cookie and remembers which container it went to. `source`: by the client's address (TCP or HTTP). Either way the memory is a stick table that follows container (server) names, survives reloads and is shared with the other load-balancer nodes (VIPKEEPER_PEERS), so a client keeps its container across a VIP failover.",
    defaultText: 'none: every request is balanced',
    scope: 'service',
    rule: 'cookie or source',
    schema: z.enum(['cookie', 'source']),
  }),
  check: spec({
    key: 'vipkeeper.check',
    meaning: 'HAProxy health checks for the servers of this service.',
    defaultText: 'true',
    scope: 'service',
    rule: 'true or false',
    schema: bool,
  }),
  checkPath: spec({
    key: 'vipkeeper.check.path',
    meaning: 'HTTP only: check with `GET <path>` and expect a 2xx or 3xx answer, instead of a TCP connect.',
    defaultText: 'none: TCP connect check',
    scope: 'service',
    rule: 'a path starting with `/` of letters, digits and `. _ ~ % / + = & ? : @ -`',
    schema: z.string().regex(URL_PATH),
  }),
  checkInterval: spec({
    key: 'vipkeeper.check.interval',
    meaning: 'Time between checks (HAProxy time: `2s`, `500ms`).',
    defaultText: '2s',
    scope: 'service',
    rule: 'a number with an optional unit us, ms, s, m or h, at most 2147483647 ms (~24.8 days)',
    schema: z
      .string()
      .regex(HAPROXY_TIME)
      .refine((v) => haproxyTimeMs(v) > 0 && haproxyTimeMs(v) <= HAPROXY_MAX_TIME_MS),
  }),
  checkRise: spec({
    key: 'vipkeeper.check.rise',
    meaning: 'Consecutive good checks before a server is up.',
    defaultText: '2',
    scope: 'service',
    rule: 'a whole number from 1 to 100',
    schema: whole(1, 100),
  }),
  checkFall: spec({
    key: 'vipkeeper.check.fall',
    meaning: 'Consecutive failed checks before a server is down.',
    defaultText: '5',
    scope: 'service',
    rule: 'a whole number from 1 to 100',
    schema: whole(1, 100),
  }),
  // Client address and access (issue 17).
  proxyProtocol: spec({
    key: 'vipkeeper.proxy-protocol',
    meaning:
      "Send the client's address to the containers in a PROXY protocol header (`v1`: text, `v2`: binary), health checks included. The app must expect it: one that does not sees garbage before each request.",
    defaultText: 'none',
    scope: 'service',
    rule: 'v1 or v2',
    schema: z.enum(['v1', 'v2']),
  }),
  forwarded: spec({
    key: 'vipkeeper.forwarded',
    meaning:
      "HTTP only: requests carry `X-Forwarded-For` (the client's address, appended as the last value), `X-Forwarded-Proto` (`http` or `https`) and `X-Forwarded-Host` (the request's Host). `false`: headers pass as the client sent them.",
    defaultText: 'true',
    scope: 'service',
    rule: 'true or false',
    schema: bool,
  }),
  allow: spec({
    key: 'vipkeeper.allow',
    meaning:
      'Only clients from these addresses or CIDR blocks (comma separated, IPv4 or IPv6, at most 32) reach the service; others get 403 (HTTP) or a closed connection (TCP). With VIPKEEPER_ACCEPT_PROXY, the address a front load balancer reports counts.',
    defaultText: 'every client',
    scope: 'service',
    rule: 'one to 32 IPv4 or IPv6 addresses or CIDR blocks (`198.18.0.0/15`, `2001:db8::/32`) separated by commas',
    schema: z
      .string()
      .transform((v) => v.split(',').map(clientCidr))
      .refine((list) => list.length <= 32 && list.every((c) => c !== null))
      .transform((list) => [...new Set(list as string[])].sort()),
  }),
  rateLimit: spec({
    key: 'vipkeeper.rate-limit',
    meaning:
      "Most requests per second one client address may send (TCP: new connections per second); beyond it HTTP answers 429 and TCP closes the connection. Counted over a sliding second in a table per service (up to 100k addresses, kept 10 s).",
    defaultText: 'no limit',
    scope: 'service',
    rule: 'N/s with N a whole number from 1 to 1000000',
    schema: z
      .string()
      .regex(/^\d{1,7}\/s$/)
      .transform((v) => Number(v.slice(0, -2)))
      .refine((n) => n >= 1 && n <= 1_000_000),
  }),
} as const;

export const LABEL_SPECS: readonly LabelSpec<unknown>[] = Object.values(LABELS) as LabelSpec<unknown>[];

/** Words that start a label key (`check` of vipkeeper.check.path): never a definition name, or keys would be ambiguous. */
export const RESERVED_DEFINITION_NAMES: ReadonlySet<string> = new Set(LABEL_SPECS.map((s) => s.key.slice(LABEL_PREFIX.length).split('.')[0]!));
