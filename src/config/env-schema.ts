import { z } from 'zod';
import {
  ABSOLUTE_PATH,
  HOSTNAME,
  canonicalIpv6,
  INTERFACE_NAME,
  clientCidr,
  IPV4,
  isIpv6Address,
  LABEL_KEY,
  LABEL_PREFIX_PATTERN,
  LABEL_VALUE_WORD,
  quoteUntrusted,
  ROUTER_ID,
  vip6AddressProblem,
  vipAddressProblem,
  VRRP_PASSWORD,
  WHOLE_NUMBER,
} from './patterns.js';

// The single source of truth for every environment variable: its rule (a zod
// schema over the raw text), its default, and the prose the README reference is
// generated from. env.ts applies these; reference.ts prints them.

export interface EnvVarSpec<T> {
  readonly name: `VIPKEEPER_${string}`;
  readonly meaning: string;
  /** How the default reads in the reference. */
  readonly defaultText: string;
  /** Never print the value: errors and logs show a mask. */
  readonly secret?: boolean;
  /** An empty value means "none" rather than "unset, use the default". */
  readonly emptyMeansNone?: boolean;
  readonly schema: z.ZodType<T, string>;
}

const spec = <T>(s: EnvVarSpec<T>): EnvVarSpec<T> => s;

const wholeIn = (min: number, max: number) =>
  z
    .string()
    .regex(WHOLE_NUMBER, `must be a whole number from ${min} to ${max}`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `must be a whole number from ${min} to ${max}`);

const boolean = z
  .string()
  .regex(/^(true|false|yes|no|on|off|1|0)$/i, 'must be true or false')
  .transform((v) => /^(true|yes|on|1)$/i.test(v));

/** Lists are separated by commas, spaces or both, like every list variable. */
const listOf = <T>(item: z.ZodType<T, string>, what: string) =>
  z
    .string()
    .transform((v) => v.split(/[\s,]+/).filter((s) => s.length > 0))
    .pipe(z.array(z.string()))
    .superRefine((items, ctx) => {
      for (const it of items) {
        if (!item.safeParse(it).success) ctx.addIssue({ code: 'custom', message: `${quoteUntrusted(it, 40)} is not ${what}` });
      }
    })
    .transform((items) => items.map((it) => item.parse(it)));

export interface Cidr {
  readonly address: string;
  readonly prefix: number;
}

/** IPv4 (prefix 1-32) or IPv6 (prefix 1-128, written canonically) in CIDR form. */
const cidr = z
  .string()
  .refine((v) => {
    const [addr, prefix, extra] = v.split('/');
    if (extra !== undefined || addr === undefined || prefix === undefined || !WHOLE_NUMBER.test(prefix)) return false;
    const max = IPV4.test(addr) ? 32 : isIpv6Address(addr) ? 128 : 0;
    return Number(prefix) >= 1 && Number(prefix) <= max;
  })
  .transform((v): Cidr => {
    const [address, prefix] = v.split('/');
    return { address: IPV4.test(address!) ? address! : canonicalIpv6(address!), prefix: Number(prefix) };
  });

/** IPv6 addresses hold a colon, IPv4 ones never do. */
export const isIpv6Cidr = (c: Cidr): boolean => c.address.includes(':');

/** Why a VIP cannot be one, of either family, or null. */
export const vipProblem = (c: Cidr): string | null =>
  isIpv6Cidr(c) ? vip6AddressProblem(c.address) : vipAddressProblem(c.address, c.prefix);

/** VIPKEEPER_VIRTUAL_IPS and each VIPKEEPER_INSTANCE_<NAME>_VIRTUAL_IPS. */
const virtualIpList = listOf(cidr, 'an IPv4 address in CIDR form like 198.18.0.10/24 (or IPv6, like fd00::10/64)')
  .refine((l) => l.length > 0, 'must name at least one address in CIDR form')
  .superRefine((vips, ctx) => {
    const seen = new Set<string>();
    for (const vip of vips) {
      const { address, prefix } = vip;
      const shown = quoteUntrusted(`${address}/${prefix}`, 48);
      const problem = vipProblem(vip);
      if (problem) ctx.addIssue({ code: 'custom', message: `${shown} ${problem}` });
      else if (seen.has(address)) ctx.addIssue({ code: 'custom', message: `${shown} is listed twice (${address})` });
      seen.add(address);
    }
  });

/** An instance name: a short word that is safe in a variable name, a keepalived name and a metric label. */
export const INSTANCE_NAME = /^[a-z][a-z0-9]{1,14}$/;

const ipv4 = z.string().regex(IPV4);

/** One engine of VIPKEEPER_DOCKER_HOSTS (or the single VIPKEEPER_DOCKER_HOST). */
export interface EngineSpec {
  readonly endpoint: string;
  /** Where its published ports are reached; null: the VIPKEEPER_PUBLISHED_HOST rule (tcp: its host). */
  readonly advertise: string | null;
}

// A unix socket path is at most 107 bytes (sun_path).
export const DOCKER_ENDPOINT = /^(unix:\/\/\/[A-Za-z0-9._/@+-]{1,106}|tcp:\/\/[A-Za-z0-9.-]{1,253}:\d{1,5})$/;

const isHostOrAddress = (v: string) => IPV4.test(v) || (/^[A-Za-z0-9.-]+$/.test(v) && HOSTNAME.test(v.toLowerCase()));
/** An engine's `=ADDRESS`: a host name, an IPv4 address, or an IPv6 one (its published ports reached over IPv6). */
const isAdvertisedAddress = (v: string) => isHostOrAddress(v) || isIpv6Address(v);

/** `endpoint[=address]` -> EngineSpec, or null when either half breaks its rule. */
export function parseEngineEntry(entry: string): EngineSpec | null {
  const eq = entry.indexOf('=');
  const endpoint = eq < 0 ? entry : entry.slice(0, eq);
  const advertise = eq < 0 ? null : entry.slice(eq + 1).toLowerCase();
  if (!DOCKER_ENDPOINT.test(endpoint)) return null;
  if (endpoint.startsWith('tcp://')) {
    const port = Number(endpoint.slice(endpoint.lastIndexOf(':') + 1));
    if (port < 1 || port > 65535 || !isHostOrAddress(endpoint.slice(6, endpoint.lastIndexOf(':')))) return null;
  }
  if (advertise !== null && !isAdvertisedAddress(advertise)) return null;
  return { endpoint, advertise: advertise !== null && isIpv6Address(advertise) ? canonicalIpv6(advertise) : advertise };
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;


/** An ACME wait: `30s`, `2m`, `500ms` (seconds without a unit), from `minMs` to 60 minutes. */
function acmeDuration(minMs: number) {
  return z
    .string()
    .regex(/^\d{1,6}(ms|s|m)?$/, 'must be a duration like 30s or 2m')
    .transform((v) => {
      const m = /^(\d+)(ms|s|m)?$/.exec(v)!;
      return Number(m[1]) * ({ ms: 1, s: 1000, m: 60_000 }[m[2] ?? 's'] ?? 1000);
    })
    .refine((ms) => ms >= minMs && ms <= 3_600_000, `must be from ${minMs / 1000}s to 60m`);
}

export const ENV = {
  virtualIps: spec({
    name: 'VIPKEEPER_VIRTUAL_IPS',
    meaning:
      'One or more virtual IPv4 addresses in CIDR form (`198.18.0.10/24`), comma or space separated, each listed once. Refused: 0.0.0.0/8, loopback, link-local (169.254.0.0/16), multicast, 240.0.0.0/4 and 255.255.255.255, and the network or broadcast address of the given subnet. IPv6 addresses (`fd00::10/64`) need VRRP version 3 and move together with the IPv4 ones of their instance (keepalived\'s `virtual_ipaddress_excluded`); refused: `::`, `::1`, link-local fe80::/10 and multicast ff00::/8. With VIPKEEPER_INSTANCES: the VIPs of an instance that sets none of its own.',
    defaultText: 'required (without VIPKEEPER_INSTANCES)',
    schema: virtualIpList,
  }),
  instances: spec({
    name: 'VIPKEEPER_INSTANCES',
    meaning:
      'Several VRRP instances, for active-active nodes: their names (2-15 letters and digits, starting with a letter; case does not matter), comma or space separated. Each instance takes `VIPKEEPER_INSTANCE_<NAME>_` followed by VIRTUAL_IPS, VIRTUAL_ROUTER_ID, PRIORITY, STATE, NOPREEMPT, INTERFACE, ADVERT_INT, AUTH_PASS or AUTH_PASS_FILE (`VIPKEEPER_INSTANCE_WEB_PRIORITY=150`); one it does not set is the global variable\'s value (an instance without AUTH_PASS and AUTH_PASS_FILE of its own takes the global password, inline or from its file). AUTH_PASS_FILE follows VIPKEEPER_AUTH_PASS_FILE\'s rules and excludes the instance\'s AUTH_PASS. No two instances may share a VIP or a virtual router id.',
    defaultText: 'one instance, from the global variables',
    schema: listOf(
      z.string().regex(/^[A-Za-z][A-Za-z0-9]{1,14}$/).transform((v) => v.toLowerCase()),
      'an instance name (2-15 letters and digits, starting with a letter)',
    ).refine((l) => l.length > 0, 'must name at least one instance'),
  }),
  interface: spec({
    name: 'VIPKEEPER_INTERFACE',
    meaning: "Interface that carries VRRP adverts and the VIPs; it must exist in the agent's network namespace (with or without an address).",
    defaultText: "the interface whose subnet holds the first VIP, else the default route's",
    schema: z.string().regex(INTERFACE_NAME, 'must be an interface name of 1-15 letters, digits, `_`, `.` or `-`'),
  }),
  virtualRouterId: spec({
    name: 'VIPKEEPER_VIRTUAL_ROUTER_ID',
    meaning: 'VRRP virtual router id; every node of one VIP group uses the same, distinct from other groups on the segment.',
    defaultText: '51',
    schema: wholeIn(1, 255),
  }),
  priority: spec({
    name: 'VIPKEEPER_PRIORITY',
    meaning: 'VRRP priority of this node; the highest healthy node becomes MASTER.',
    defaultText: '100',
    schema: wholeIn(1, 254),
  }),
  state: spec({
    name: 'VIPKEEPER_STATE',
    meaning: 'Initial VRRP state. MASTER together with VIPKEEPER_NOPREEMPT=true is refused as a contradiction.',
    defaultText: 'BACKUP',
    schema: z
      .string()
      .regex(/^(backup|master)$/i, 'must be BACKUP or MASTER')
      .transform((v) => v.toUpperCase() as 'BACKUP' | 'MASTER'),
  }),
  nopreempt: spec({
    name: 'VIPKEEPER_NOPREEMPT',
    meaning: 'When true a recovered node with a higher priority does not take the VIP back (no second failover).',
    defaultText: 'true',
    schema: boolean,
  }),
  vrrpVersion: spec({
    name: 'VIPKEEPER_VRRP_VERSION',
    meaning: 'VRRP protocol version. Version 3 allows sub-second adverts but has no authentication.',
    defaultText: '2',
    schema: z
      .string()
      .regex(/^[23]$/, 'must be 2 or 3')
      .transform((v) => Number(v) as 2 | 3),
  }),
  advertInt: spec({
    name: 'VIPKEEPER_ADVERT_INT',
    meaning: 'Seconds between VRRP adverts; failover takes about three of them. Fractions (down to 0.01) need version 3.',
    defaultText: '1',
    schema: z
      .string()
      .regex(/^\d{1,3}(\.\d{1,2})?$/, 'must be a number of seconds like 1 or 0.1')
      .transform(Number)
      .refine((n) => n >= 0.01 && n <= 255, 'must be from 0.01 to 255 seconds'),
  }),
  unicastPeers: spec({
    name: 'VIPKEEPER_UNICAST_PEERS',
    meaning:
      "Peers' IPv4 addresses for unicast VRRP, comma or space separated; this node's own addresses are dropped, so every node can share one list.",
    defaultText: 'none: multicast',
    schema: listOf(ipv4, 'an IPv4 address'),
  }),
  peers: spec({
    name: 'VIPKEEPER_PEERS',
    meaning:
      "IPv4 addresses of every load-balancer node, this one included, comma or space separated: HAProxy `peers` that share the stick tables of `vipkeeper.sticky` services, so a sticky client keeps its container after a VIP failover. Each peer is named by its address; the one that is this host's own is the local peer. Used only while some service is sticky.",
    defaultText: "this node's IPv4 address on VIPKEEPER_INTERFACE plus VIPKEEPER_UNICAST_PEERS; without unicast peers, this node alone on 127.0.0.1 (tables still survive reloads)",
    schema: listOf(ipv4, 'an IPv4 address'),
  }),
  peersPort: spec({
    name: 'VIPKEEPER_PEERS_PORT',
    meaning: 'TCP port every node\'s HAProxy listens on for its peers (VIPKEEPER_PEERS). No service may use it as its `vipkeeper.frontend.port`: one that does is left out with a warning.',
    defaultText: '10000',
    schema: wholeIn(1, 65535),
  }),
  authPass: spec({
    name: 'VIPKEEPER_AUTH_PASS',
    meaning:
      'VRRP password (version 2 only). Only the first 8 characters are used (keepalived\'s limit): a longer one is cut to 8, with a warning. Never logged.',
    defaultText: 'none',
    secret: true,
    schema: z
      .string()
      .regex(VRRP_PASSWORD, 'must be 1-64 characters from A-Z a-z 0-9 . _ ~ @ % ^ & * ( ) + = : , / -'),
  }),
  authPassFile: spec({
    name: 'VIPKEEPER_AUTH_PASS_FILE',
    meaning: 'File holding the VRRP password (a Docker secret, say); a trailing newline is ignored, and like VIPKEEPER_AUTH_PASS only its first 8 characters are used. Excludes VIPKEEPER_AUTH_PASS. Followed: a changed file is read again and applied. An instance may name its own (`VIPKEEPER_INSTANCE_WEB_AUTH_PASS_FILE`).',
    defaultText: 'none',
    schema: z.string().regex(ABSOLUTE_PATH, 'must be an absolute path without spaces or quotes'),
  }),
  routerId: spec({
    name: 'VIPKEEPER_ROUTER_ID',
    meaning: "keepalived's router_id, shown in its logs and notifications.",
    defaultText: 'the hostname',
    schema: z.string().regex(ROUTER_ID, 'must be 1-63 letters, digits, `_`, `.` or `-`'),
  }),
  roleLabel: spec({
    name: 'VIPKEEPER_ROLE_LABEL',
    meaning: 'Label key that carries a role, on containers and on Docker engines.',
    defaultText: 'role',
    schema: z.string().regex(LABEL_KEY, 'must be a label key of letters, digits, `.`, `_`, `/` or `-`'),
  }),
  backendRole: spec({
    name: 'VIPKEEPER_BACKEND_ROLE',
    meaning: 'Role value that marks backend containers. Also the name of the default service.',
    defaultText: 'apps',
    schema: z.string().regex(LABEL_VALUE_WORD, 'must be 1-63 letters, digits, `.`, `_` or `-`'),
  }),
  labelPrefix: spec({
    name: 'VIPKEEPER_LABEL_PREFIX',
    meaning:
      'First part of every container label vipkeeper reads: `PREFIX.port`, `PREFIX.host`, `PREFIX.NAME.port`, ... (the reference below spells them with the default). Lets two agents with different prefixes share one fleet, or keep labels another tool already uses.',
    defaultText: 'vipkeeper',
    schema: z.string().regex(LABEL_PREFIX_PATTERN, 'must be 1-48 lower-case letters, digits, `.` or `-`, starting and ending with a letter or digit'),
  }),
  compat: spec({
    name: 'VIPKEEPER_COMPAT',
    meaning:
      "`nginx-proxy`: also serve running containers that carry nginx-proxy's environment variables (`VIRTUAL_HOST`, `VIRTUAL_PORT`, `VIRTUAL_PATH`, ...), with no role label needed, as if they carried the equivalent labels; a label always wins. Costs one inspect per container on the engine, once (docs/nginx-proxy-compat.md). Empty: off.",
    defaultText: 'off',
    emptyMeansNone: true,
    schema: z.enum(['nginx-proxy'], 'must be empty or nginx-proxy'),
  }),
  nodeRole: spec({
    name: 'VIPKEEPER_NODE_ROLE',
    meaning:
      "Role this host's Docker engine must carry (engine labels, `dockerd --label role=load-balancer`) for the node to take part. Empty: no check.",
    defaultText: 'load-balancer',
    emptyMeansNone: true,
    schema: z.string().regex(LABEL_VALUE_WORD, 'must be empty or 1-63 letters, digits, `.`, `_` or `-`'),
  }),
  publishedHost: spec({
    name: 'VIPKEEPER_PUBLISHED_HOST',
    meaning: 'Address HAProxy uses to reach a published port: an IPv4 or IPv6 address, or a host name.',
    defaultText: "the port binding's own address when it is specific, else 127.0.0.1",
    schema: z
      .string()
      // Checked before lower-casing: some non-ASCII letters lower-case to ASCII ones.
      .refine((v) => IPV4.test(v) || isIpv6Address(v) || HOSTNAME.test(v.toLowerCase()) && /^[A-Za-z0-9.-]+$/.test(v), 'must be an IPv4 or IPv6 address or a host name')
      .transform((v) => (isIpv6Address(v) ? canonicalIpv6(v) : v.toLowerCase())),
  }),
  frontendPort: spec({
    name: 'VIPKEEPER_FRONTEND_PORT',
    meaning: 'Port HAProxy serves HTTP services on unless a service names its own `vipkeeper.frontend.port`.',
    defaultText: '80',
    schema: wholeIn(1, 65535),
  }),
  httpsPort: spec({
    name: 'VIPKEEPER_HTTPS_PORT',
    meaning:
      'Port HAProxy serves HTTPS on once the certificates directory holds a usable certificate: every HTTP service of VIPKEEPER_FRONTEND_PORT with a `vipkeeper.host` (unless `vipkeeper.tls=false`), the certificate chosen by SNI. Must differ from VIPKEEPER_FRONTEND_PORT.',
    defaultText: '443',
    schema: wholeIn(1, 65535),
  }),
  certsDir: spec({
    name: 'VIPKEEPER_CERTS_DIR',
    meaning:
      'Directory of TLS certificates for HTTPS: one `NAME.pem` per certificate, holding its chain (leaf first) and its unencrypted private key. Each file is checked on its own (a PEM chain whose key matches, valid now, naming DNS names); a bad one is refused with a warning naming the file and the reason, the others serve. Watched: a change goes live without a restart.',
    defaultText: '`certs` in VIPKEEPER_CONFIG_DIR',
    schema: z.string().regex(ABSOLUTE_PATH, 'must be an absolute path without spaces or quotes'),
  }),
  defaultCert: spec({
    name: 'VIPKEEPER_DEFAULT_CERT',
    meaning:
      'PEM file (chain and key) HTTPS answers with when no certificate names the requested host (or the client sends no SNI). Checked like the certificates directory\'s files; refused, or unset, a self-signed one is made at start (`tls/default.pem` in VIPKEEPER_CONFIG_DIR, mode 0600).',
    defaultText: 'a self-signed certificate made at start',
    schema: z.string().regex(ABSOLUTE_PATH, 'must be an absolute path without spaces or quotes'),
  }),
  tlsCiphers: spec({
    name: 'VIPKEEPER_TLS_CIPHERS',
    meaning: "OpenSSL cipher list for TLS 1.2 on the HTTPS frontend (HAProxy's `ssl-default-bind-ciphers`); TLS 1.3 keeps OpenSSL's suites.",
    defaultText: "Mozilla's intermediate list",
    schema: z.string().regex(/^[A-Za-z0-9+!@=_-]{1,64}(:[A-Za-z0-9+!@=_-]{1,64}){0,63}$/, 'must be an OpenSSL cipher list: names of letters, digits, `+ ! @ = _ -` separated by `:`'),
  }),
  tlsMinVersion: spec({
    name: 'VIPKEEPER_TLS_MIN_VERSION',
    meaning: 'Oldest TLS version the HTTPS frontend accepts.',
    defaultText: 'TLSv1.2',
    schema: z
      .string()
      .regex(/^tlsv1\.[23]$/i, 'must be TLSv1.2 or TLSv1.3')
      .transform((v) => (v.toLowerCase() === 'tlsv1.3' ? 'TLSv1.3' : 'TLSv1.2') as 'TLSv1.2' | 'TLSv1.3'),
  }),
  acmeEmail: spec({
    name: 'VIPKEEPER_ACME_EMAIL',
    meaning:
      "Turns ACME on: the account's contact address. Hosts of HTTPS services (`vipkeeper.host` with `vipkeeper.acme=true`, or all of them with VIPKEEPER_ACME_ALL_HOSTS) get certificates by HTTP-01 through the VIP, written to the certificates directory as `acme_HOST.pem` and renewed at two thirds of their lifetime. Every node orders its own (see the README).",
    defaultText: 'none: ACME off',
    schema: z.string().regex(/^[A-Za-z0-9._%+-]{1,64}@[a-z0-9.-]{1,190}$/i, 'must be an e-mail address like ops@example.com').refine((v) => HOSTNAME.test(v.split('@')[1]!.toLowerCase()), 'must be an e-mail address like ops@example.com'),
  }),
  acmeDirectory: spec({
    name: 'VIPKEEPER_ACME_DIRECTORY',
    meaning: "The ACME server's directory URL (https), or `production` / `staging` for Let's Encrypt's.",
    defaultText: "production (Let's Encrypt)",
    schema: z
      .string()
      .refine((v) => /^(production|staging)$/i.test(v) || /^https:\/\/[A-Za-z0-9.-]{1,253}(:\d{1,5})?(\/[A-Za-z0-9._~%/-]{0,255})?$/.test(v), 'must be production, staging or an https:// URL')
      .transform((v) =>
        /^production$/i.test(v)
          ? 'https://acme-v02.api.letsencrypt.org/directory'
          : /^staging$/i.test(v)
            ? 'https://acme-staging-v02.api.letsencrypt.org/directory'
            : v,
      ),
  }),
  acmeCaFile: spec({
    name: 'VIPKEEPER_ACME_CA_FILE',
    meaning: "PEM file of the CA certificates the ACME server's HTTPS is checked against (a private ACME CA); the system's trust store otherwise.",
    defaultText: "the system's trust store",
    schema: z.string().regex(ABSOLUTE_PATH, 'must be an absolute path without spaces or quotes'),
  }),
  acmeAllHosts: spec({
    name: 'VIPKEEPER_ACME_ALL_HOSTS',
    meaning: 'With ACME on: every `vipkeeper.host` of an HTTPS service gets an ACME certificate, not only those whose containers say `vipkeeper.acme=true` (`vipkeeper.acme=false` still opts out).',
    defaultText: 'false',
    schema: boolean,
  }),
  acmeRetryMin: spec({
    name: 'VIPKEEPER_ACME_RETRY_MIN',
    meaning: 'Wait after a failed ACME order before the next try for that host; it doubles with each failure, up to one hour.',
    defaultText: '1m',
    schema: acmeDuration(1000),
  }),
  acmeBackupDelay: spec({
    name: 'VIPKEEPER_ACME_BACKUP_DELAY',
    meaning:
      'With ACME on: how long a node that does not hold the VIP waits before its own order for a host that is due, so the VIP holder orders first. With a certificates directory shared between the nodes (a shared volume), the holder\'s certificate appears there meanwhile and the others order nothing; otherwise each node then orders its own. 0s: every node orders at once.',
    defaultText: '1m',
    schema: acmeDuration(0),
  }),
  dockerHost: spec({
    name: 'VIPKEEPER_DOCKER_HOST',
    meaning:
      "This host's own Docker engine: `unix:///path/to/docker.sock` or `tcp://host:port`. Its engine labels gate the node role; its containers are the backends unless VIPKEEPER_DOCKER_HOSTS names others.",
    defaultText: 'DOCKER_HOST, else unix:///var/run/docker.sock',
    schema: z
      .string()
      .regex(DOCKER_ENDPOINT, 'must be unix:///path (at most 107 characters) or tcp://host:port'),
  }),
  dockerHosts: spec({
    name: 'VIPKEEPER_DOCKER_HOSTS',
    meaning:
      'Engines whose containers are backends, for app containers on other hosts: a list of `unix:///path` or `tcp://host:port`, each optionally followed by `=ADDRESS`, the address (IPv4, IPv6 or a host name) its published ports are reached at (default: the tcp host; for a socket, the VIPKEEPER_PUBLISHED_HOST rule). TLS for tcp engines comes from DOCKER_TLS_VERIFY and DOCKER_CERT_PATH (a subdirectory named after the host, if present, else the directory itself). With VIPKEEPER_SWARM=true: manager endpoints, tried in order.',
    defaultText: 'VIPKEEPER_DOCKER_HOST alone',
    schema: listOf(
      z.string().refine((v) => parseEngineEntry(v) !== null),
      'an engine like tcp://10.0.0.21:2375, tcp://app1:2376=203.0.113.21 or unix:///var/run/docker.sock',
    ).transform((items) => items.map((it) => parseEngineEntry(it)!)),
  }),
  engineGrace: spec({
    name: 'VIPKEEPER_ENGINE_GRACE',
    meaning:
      "How long an engine may be unreachable before its backends are taken out (they stay while HAProxy's checks still reach them); they return as soon as it answers again.",
    defaultText: '10s',
    schema: z
      .string()
      .regex(/^\d{1,6}(ms|s|m)?$/, 'must be a duration like 10s, 500ms or 2m')
      .transform((v) => {
        const m = /^(\d+)(ms|s|m)?$/.exec(v)!;
        return Number(m[1]) * ({ ms: 1, s: 1000, m: 60_000 }[m[2] ?? 's'] ?? 1000);
      }),
  }),
  appNodeRole: spec({
    name: 'VIPKEEPER_APP_NODE_ROLE',
    meaning:
      'Role an app engine (engine labels) or, with Swarm, an app node (node labels, `docker node update --label-add role=apps`) must carry for its containers to be served. Empty: no check.',
    defaultText: 'none',
    emptyMeansNone: true,
    schema: z.string().regex(LABEL_VALUE_WORD, 'must be empty or 1-63 letters, digits, `.`, `_` or `-`'),
  }),
  swarm: spec({
    name: 'VIPKEEPER_SWARM',
    meaning:
      'Read Docker Swarm instead of containers: backends are the running tasks of services carrying the role label (service labels), reached through ports published in host or ingress mode on their node, or through task addresses on the overlay network `vipkeeper.network` names. The engine must be a manager.',
    defaultText: 'false',
    schema: boolean,
  }),
  configDir: spec({
    name: 'VIPKEEPER_CONFIG_DIR',
    meaning: 'Directory the rendered haproxy.cfg and keepalived.conf are written to (mount a directory, not single files).',
    defaultText: '/etc/vipkeeper',
    schema: z.string().regex(ABSOLUTE_PATH, 'must be an absolute path without spaces or quotes'),
  }),
  runDir: spec({
    name: 'VIPKEEPER_RUN_DIR',
    meaning:
      "Directory for runtime sockets, pid files and the children's output files: HAProxy's admin socket and the agent's control socket `control.sock` (drills; mode 0600, root only) live here. One agent per run dir: a second agent on a live agent's run dir is refused (`vipkeeper.lock`, exit 2).",
    defaultText: '/run/vipkeeper',
    schema: z.string().regex(ABSOLUTE_PATH, 'must be an absolute path without spaces or quotes'),
  }),
  templatesDir: spec({
    name: 'VIPKEEPER_TEMPLATES_DIR',
    meaning: 'Directory of user templates (`haproxy.cfg.ejs`, `keepalived.conf.ejs`); a file there overrides the built-in one. The directory must exist: a missing one is refused, not taken for the built-ins. A template runs as the agent, with its privileges (it can read files and use the Docker socket): only trusted people may write to this directory. A template that fails, or takes over 2 s to print, costs its pass, never the agent.',
    defaultText: 'none',
    schema: z.string().regex(ABSOLUTE_PATH, 'must be an absolute path without spaces or quotes'),
  }),
  logLevel: spec({
    name: 'VIPKEEPER_LOG_LEVEL',
    meaning: 'Log level: fatal, error, warn, info, debug, trace or silent.',
    defaultText: 'info',
    schema: z
      .string()
      .regex(new RegExp(`^(${LOG_LEVELS.join('|')})$`, 'i'), `must be one of ${LOG_LEVELS.join(', ')}`)
      .transform((v) => v.toLowerCase() as (typeof LOG_LEVELS)[number]),
  }),
  statusAddr: spec({
    name: 'VIPKEEPER_STATUS_ADDR',
    meaning:
      'Address of the read-only status server (the operator page `/`, `/healthz`, `/status`, `/metrics`; GET and HEAD only). Keep it on loopback: elsewhere it shows service, container and backend names and addresses to whoever reaches it (the agent logs a warning). Drills go through `control.sock` in VIPKEEPER_RUN_DIR, not here. A frontend port equal to its port is refused.',
    defaultText: '127.0.0.1:9321',
    schema: z
      .string()
      .regex(/^(\d{1,3}\.){3}\d{1,3}:\d{1,5}$/, 'must be IPv4:port, like 127.0.0.1:9321')
      .refine((v) => IPV4.test(v.split(':')[0]!) && Number(v.split(':')[1]) >= 1 && Number(v.split(':')[1]) <= 65535, 'must be IPv4:port with a port from 1 to 65535')
      .transform((v) => ({ host: v.split(':')[0]!, port: Number(v.split(':')[1]) })),
  }),
  haproxyMetricsAddr: spec({
    name: 'VIPKEEPER_HAPROXY_METRICS_ADDR',
    meaning:
      "Address where HAProxy's own Prometheus exporter answers `GET /metrics` (per-frontend, backend and server request rates, latencies, sessions), beside vipkeeper's `/metrics` on VIPKEEPER_STATUS_ADDR. Off when unset. It shows backend and server names to whoever reaches it. A frontend port or the status address's port equal to its port is refused.",
    defaultText: 'off',
    schema: z
      .string()
      .regex(/^(\d{1,3}\.){3}\d{1,3}:\d{1,5}$/, 'must be IPv4:port, like 127.0.0.1:9101')
      .refine((v) => IPV4.test(v.split(':')[0]!) && Number(v.split(':')[1]) >= 1 && Number(v.split(':')[1]) <= 65535, 'must be IPv4:port with a port from 1 to 65535')
      .transform((v) => ({ host: v.split(':')[0]!, port: Number(v.split(':')[1]) })),
  }),
  logFormat: spec({
    name: 'VIPKEEPER_LOG_FORMAT',
    meaning: '`json`: one JSON object per line (for log collectors). `pretty`: time, level, message and fields for a person.',
    defaultText: 'json',
    schema: z.enum(['json', 'pretty'], 'must be json or pretty'),
  }),
  acceptProxy: spec({
    name: 'VIPKEEPER_ACCEPT_PROXY',
    meaning:
      "Addresses or CIDR blocks of front load balancers (comma or space separated) whose connections start with a PROXY protocol header (v1 or v2): HAProxy takes the client's address from it, for logs, X-Forwarded-For, `vipkeeper.allow` and `vipkeeper.rate-limit`. Connections from elsewhere are served as they come, so direct clients still work. Every frontend; set it only for load balancers that always send the header.",
    defaultText: 'none',
    emptyMeansNone: true,
    schema: listOf(
      z.string().refine((v) => clientCidr(v) !== null).transform((v) => clientCidr(v)!),
      'an IPv4 or IPv6 address or CIDR block like 198.18.0.0/15',
    ).transform((list) => [...new Set(list)].sort()),
  }),
} as const;

export const ENV_SPECS: readonly EnvVarSpec<unknown>[] = Object.values(ENV) as EnvVarSpec<unknown>[];
