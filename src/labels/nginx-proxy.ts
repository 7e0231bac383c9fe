import { IDENTIFIER } from '../config/patterns.js';
import type { ImpliedLabels } from './definitions.js';
import { LABELS } from './label-schema.js';
import { type LabelProblem, showUntrusted } from './parse-labels.js';

// VIPKEEPER_COMPAT=nginx-proxy: nginx-proxy's environment-variable contract
// (VIRTUAL_HOST, VIRTUAL_PORT, ...) read as the labels it means. Pure. The values
// then go through the very rules labels do (parse-labels.ts), so a variable can
// never say what a label could not. docs/nginx-proxy-compat.md is the table.

/** The only variables read from a container's environment; every other one (secrets, say) is never kept. */
export const NGINX_PROXY_VARIABLES = [
  'VIRTUAL_HOST',
  'VIRTUAL_PORT',
  'VIRTUAL_PATH',
  'VIRTUAL_PROTO',
  'VIRTUAL_DEST',
  'HTTPS_METHOD',
  'HSTS',
  'CERT_NAME',
  'NETWORK_ACCESS',
] as const;

/** nginx-proxy's HSTS when HTTPS is on and HTTPS_METHOD redirects (its default). */
export const NGINX_PROXY_HSTS_SECONDS = 31_536_000;

/** A container nginx-proxy would serve: VIRTUAL_HOST set and not blank. */
export function wantsNginxProxy(env: Readonly<Record<string, string>> | undefined): boolean {
  return (env?.VIRTUAL_HOST ?? '').trim() !== '';
}

/** The compat variables a container's environment carries (`NAME=value` lines as Docker gives them). */
export function pickCompatVariables(env: readonly string[] | null | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const wanted = new Set<string>(NGINX_PROXY_VARIABLES);
  for (const line of env ?? []) {
    const eq = line.indexOf('=');
    if (eq > 0 && wanted.has(line.slice(0, eq))) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

/**
 * A container's nginx-proxy variables -> the labels they stand for, with the variable
 * each came from. `exposedTcpPorts`: nginx-proxy serves port 80 of a container that
 * exposes several when VIRTUAL_PORT is unset.
 */
export function nginxProxyLabels(env: Readonly<Record<string, string>>, exposedTcpPorts: readonly number[]): ImpliedLabels {
  const labels: Record<string, string> = {};
  const variables: Record<string, string> = {};
  const problems: LabelProblem[] = [];
  const notices: string[] = [];
  const set = (key: string, value: string, variable: string) => {
    labels[key] = value;
    variables[key] = variable;
  };
  const refuse = (variable: string, rule: string) =>
    problems.push({ label: variable, source: 'env', shownValue: showUntrusted(env[variable] ?? ''), rule });
  const has = (v: string) => env[v] !== undefined && env[v] !== '';

  // nginx-proxy splits VIRTUAL_HOST on commas and trims each name: one service for all of them.
  const hostText = (env.VIRTUAL_HOST ?? '')
    .split(',')
    .map((h) => h.trim())
    .filter((h) => h !== '')
    .join(',');
  if (hostText !== '') {
    set(LABELS.host.key, hostText, 'VIRTUAL_HOST');
    const hosts = LABELS.host.schema.safeParse(hostText);
    // VIRTUAL_PATH=/ is no path (parse-labels.ts): the same service as without it.
    const path = env.VIRTUAL_PATH === '/' ? '' : (env.VIRTUAL_PATH ?? '');
    if (hosts.success) set(LABELS.service.key, serviceNameFor(hosts.data, path), 'VIRTUAL_HOST');
  }
  if (has('VIRTUAL_PORT')) set(LABELS.port.key, env.VIRTUAL_PORT!.trim(), 'VIRTUAL_PORT');
  else if (exposedTcpPorts.length > 1 && exposedTcpPorts.includes(80)) set(LABELS.port.key, '80', 'VIRTUAL_PORT');
  if (has('VIRTUAL_PATH')) set(LABELS.path.key, env.VIRTUAL_PATH!, 'VIRTUAL_PATH');

  if (has('VIRTUAL_PROTO') && env.VIRTUAL_PROTO !== 'http') refuse('VIRTUAL_PROTO', 'http (the only protocol vipkeeper speaks to a container)');
  if (has('VIRTUAL_DEST')) refuse('VIRTUAL_DEST', 'unset: vipkeeper does not rewrite request paths');
  if (has('NETWORK_ACCESS') && env.NETWORK_ACCESS !== 'external') {
    refuse('NETWORK_ACCESS', 'external: vipkeeper cannot limit a service to internal clients, and will not open it to every client');
  }

  const method = has('HTTPS_METHOD') ? env.HTTPS_METHOD! : 'redirect';
  switch (method) {
    case 'redirect':
      set(LABELS.tlsRedirect.key, 'true', 'HTTPS_METHOD');
      break;
    case 'noredirect':
      break;
    case 'nohttps':
      set(LABELS.tls.key, 'false', 'HTTPS_METHOD');
      break;
    default:
      refuse('HTTPS_METHOD', 'redirect, noredirect or nohttps (nohttp is not supported)');
  }
  // nginx-proxy sends HSTS (a year) by default, but not with noredirect, nor without HTTPS.
  const hsts = env.HSTS;
  if (hsts === undefined || hsts === '') {
    if (method === 'redirect') set(LABELS.tlsHsts.key, String(NGINX_PROXY_HSTS_SECONDS), 'HSTS');
  } else if (hsts !== 'off') {
    const m = /^max-age=(\d{1,9})$/.exec(hsts.trim());
    if (m) set(LABELS.tlsHsts.key, m[1]!, 'HSTS');
    else refuse('HSTS', 'off or max-age=SECONDS (includeSubDomains and preload are not supported)');
  }
  if (has('CERT_NAME')) notices.push('CERT_NAME is ignored: the certificate is chosen by SNI from the certificates directory');
  return { labels, variables, problems, notices };
}

/**
 * The service a VIRTUAL_HOST (and VIRTUAL_PATH) makes: containers with the same ones
 * share it, as nginx-proxy puts them in one upstream. The first host name with `_` for
 * its dots (host names have no `_`), and a hash when there are several names or a path.
 */
export function serviceNameFor(hosts: readonly string[], path: string): string {
  const base = hosts[0]!.replace(/\./g, '_');
  const tagged = hosts.length > 1 || path !== '';
  const hash = tagged ? fnv1a(`${hosts.join(',')}|${path}`) : '';
  const room = 48 - (tagged ? 9 : 0);
  let name = base.length <= room ? base : base.slice(0, room).replace(/[_-]+$/, '');
  if (!tagged && name !== base) name = `${base.slice(0, 39).replace(/[_-]+$/, '')}_${fnv1a(base)}`;
  else if (tagged) name = `${name}_${hash}`;
  return IDENTIFIER.test(name) ? name : `vhost_${fnv1a(`${hosts.join(',')}|${path}`)}`;
}

/** 32-bit FNV-1a as 8 hex digits: a short, stable tag, not a secret. */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}
