// Strict patterns shared by the environment and label schemas. Anything that
// ends up in haproxy.cfg or keepalived.conf passes one of these first, so no
// newline, quote, '#', space or non-ASCII byte can reach a config file.

export const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** RFC 1123 host name, lower case, at most 253 characters. */
export const HOSTNAME =
  /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** Linux interface names are at most 15 bytes (IFNAMSIZ - 1). */
export const INTERFACE_NAME = /^[A-Za-z0-9_.-]{1,15}$/;

/** Docker container and network names as the engine itself accepts them. */
export const DOCKER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Our own identifiers: service names, router ids; safe as HAProxy and keepalived names. */
export const IDENTIFIER = /^[a-z0-9]([a-z0-9_-]{0,46}[a-z0-9])?$/;

export const ROUTER_ID = /^[A-Za-z0-9]([A-Za-z0-9_.-]{0,62})$/;

/** A label key (Docker's recommendation: reverse-DNS-ish, no spaces). */
export const LABEL_KEY = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,126}[A-Za-z0-9])?$/;

/** VIPKEEPER_LABEL_PREFIX: a lower-case, dotted word (`vipkeeper`, `com.example.lb`). */
export const LABEL_PREFIX_PATTERN = /^[a-z0-9]([a-z0-9.-]{0,46}[a-z0-9])?$/;

export const LABEL_VALUE_WORD = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,62})$/;

/** An absolute path without spaces or quotes; enough for config, run and template dirs. */
export const ABSOLUTE_PATH = /^\/[A-Za-z0-9._/@+-]{0,4095}$/;

/** A URL path: no spaces, quotes, '#' or '?'-less query tricks; what HAProxy takes as a bare word. */
export const URL_PATH = /^\/[A-Za-z0-9._~%/+=&?:@-]{0,254}$/;

/** HAProxy time: a number with an optional unit. */
export const HAPROXY_TIME = /^[1-9]\d{0,6}(us|ms|s|m|h)?$/;

/** HAProxy refuses timers above 2^31-1 ms (~24.8 days). */
export const HAPROXY_MAX_TIME_MS = 2_147_483_647;
const TIME_UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds of a value matching HAPROXY_TIME (no unit means ms). */
export function haproxyTimeMs(value: string): number {
  const m = /^(\d+)([a-z]*)$/.exec(value);
  return m ? Number(m[1]) * (TIME_UNIT_MS[m[2] || 'ms'] ?? NaN) : NaN;
}

export const WHOLE_NUMBER = /^\d{1,9}$/;

/**
 * VRRP password: printable, and nothing keepalived's parser treats specially
 * ('#' and '!' start comments, '$' starts a definition, quotes and spaces split words).
 */
export const VRRP_PASSWORD = /^[A-Za-z0-9._~@%^&*()+=:,/-]{1,64}$/;

export function ipv4ToInt(address: string): number {
  return address.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

export function inSubnet(address: string, network: string, prefix: number): boolean {
  if (prefix === 0) return true;
  const size = 2 ** (32 - prefix);
  return Math.floor(ipv4ToInt(address) / size) === Math.floor(ipv4ToInt(network) / size);
}

export function intToIpv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

/**
 * Why an address (with its prefix) cannot be a virtual IP, or null when it can:
 * addresses no client reaches (unspecified, loopback, link-local), multicast and
 * reserved ranges, and a subnet's network or broadcast address (prefixes below 31;
 * /31 has neither, RFC 3021).
 */
export function vipAddressProblem(address: string, prefix: number): string | null {
  const within = (network: string, p: number) => inSubnet(address, network, p);
  if (within('0.0.0.0', 8)) return 'is in 0.0.0.0/8 ("this network"), which no host can be reached at';
  if (within('127.0.0.0', 8)) return 'is a loopback address (127.0.0.0/8)';
  if (within('169.254.0.0', 16)) return 'is a link-local address (169.254.0.0/16), which routers do not forward';
  if (within('224.0.0.0', 4)) return 'is a multicast address (224.0.0.0/4)';
  if (address === '255.255.255.255') return 'is the broadcast address 255.255.255.255';
  if (within('240.0.0.0', 4)) return 'is in the reserved range 240.0.0.0/4';
  if (prefix < 31) {
    const size = 2 ** (32 - prefix);
    const n = ipv4ToInt(address);
    const host = n % size;
    const network = `${intToIpv4(n - host)}/${prefix}`;
    if (host === size - 1) return `is the broadcast address of ${network}`;
    if (host === 0) return `is the network address of ${network}`;
  }
  return null;
}

/**
 * Untrusted text made safe to print on one line: JSON-quoted (control
 * characters escaped), every non-ASCII character as \uXXXX (so U+2028 and
 * friends cannot break a log line), and cut to `max` characters.
 */
export function quoteUntrusted(value: string, max = 64): string {
  const cut = value.length > max ? `${value.slice(0, max)}...` : value;
  return JSON.stringify(cut).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Hex groups and colons only: no zone id (`%eth0`) and no dotted IPv4 tail, so nothing odd reaches a config file. */
const IPV6_TEXT = /^[0-9a-fA-F:]{2,39}$/;

export function isIpv6Address(value: string): boolean {
  return IPV6_TEXT.test(value) && expandIpv6(value) !== null;
}

/** The eight groups of an IPv6 address as numbers, or null when it is not one. */
export function expandIpv6(value: string): number[] | null {
  if (!IPV6_TEXT.test(value)) return null;
  const halves = value.split('::');
  if (halves.length > 2) return null;
  const groups = (s: string) => (s === '' ? [] : s.split(':'));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if ([...head, ...tail].some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  return [...head, ...Array<string>(missing).fill('0'), ...tail].map((g) => parseInt(g, 16));
}

/** One spelling per IPv6 address (lower case, longest zero run as `::`), so duplicates are seen and output is stable. */
export function canonicalIpv6(value: string): string {
  const g = expandIpv6(value);
  if (!g) return value;
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = g.map((n) => n.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/**
 * `address:port` as HAProxy reads a server address: an IPv6 address in brackets
 * (`[2001:db8::5]:8080`), so its colons are not taken for the port's.
 */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Which special IPv6 address this is (RFC 4291), or null for an ordinary one (global, unique-local). */
function ipv6Special(g: readonly number[]): 'unspecified' | 'loopback' | 'link-local' | 'multicast' | null {
  if (g.slice(0, 7).every((n) => n === 0)) return g[7] === 0 ? 'unspecified' : g[7] === 1 ? 'loopback' : null;
  if ((g[0]! & 0xffc0) === 0xfe80) return 'link-local';
  if ((g[0]! & 0xff00) === 0xff00) return 'multicast';
  return null;
}

/** True for ::1, the IPv6 loopback address. */
export function isIpv6Loopback(address: string): boolean {
  const g = expandIpv6(address);
  return g !== null && ipv6Special(g) === 'loopback';
}

/** Why an IPv6 address cannot be a virtual IP, or null when it can. */
export function vip6AddressProblem(address: string): string | null {
  const g = expandIpv6(address);
  if (!g) return 'is not an IPv6 address';
  switch (ipv6Special(g)) {
    case 'unspecified': return 'is the unspecified address ::';
    case 'loopback': return 'is the loopback address ::1';
    case 'link-local': return 'is a link-local address (fe80::/10), which routers do not forward';
    case 'multicast': return 'is a multicast address (ff00::/8)';
    default: return null;
  }
}

/**
 * Why an IPv6 address cannot be a backend's address, or null when it can. Loopback can (a
 * port published on ::1 of this host); link-local needs an interface (a zone) that a config
 * line cannot safely carry.
 */
export function backend6AddressProblem(address: string): string | null {
  const g = expandIpv6(address);
  if (!g) return 'is not an IPv6 address';
  switch (ipv6Special(g)) {
    case 'unspecified': return 'is the unspecified address ::';
    case 'link-local': return 'is a link-local address (fe80::/10), reachable only through a named interface';
    case 'multicast': return 'is a multicast address (ff00::/8)';
    default: return null;
  }
}

/**
 * One address or CIDR block a client may come from (`198.18.0.0/15`, `198.18.0.7`,
 * `2001:db8::/32`) -> its canonical text with the prefix always written, or null. The
 * address is parsed (IPv4 octets 0-255, IPv6 groups), the prefix is 0-32 or 0-128; so only
 * digits, hex, `.`, `:` and `/` can come out, safe as an HAProxy ACL value.
 */
export function clientCidr(text: string): string | null {
  const parts = text.split('/');
  if (parts.length > 2) return null;
  const [address, prefixText] = parts as [string, string | undefined];
  const v4 = IPV4.test(address);
  if (!v4 && !isIpv6Address(address)) return null;
  const max = v4 ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return null;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (prefix > max) return null;
  return `${v4 ? address : canonicalIpv6(address)}/${prefix}`;
}
