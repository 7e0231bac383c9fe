import type { CheckAnswer, InventoryServer, InventoryService, ShowAnswer, VerifyAnswer } from './operate-types.js';

// The output layer of the operator commands: a readable table by default, JSON
// or YAML when asked. Pure. The YAML is written here by hand (plain data only:
// objects, arrays, strings, numbers, booleans, null), every string that could
// be read as anything but itself double-quoted and escaped, so a hostile
// container name or label value cannot add keys, change types or break lines.

export type OutputFormat = 'table' | 'json' | 'yaml';

// ---------------------------------------------------------------- YAML

/** Plain (unquoted) only when it cannot be read as anything else: a letter first, then a few safe characters. */
const PLAIN = /^[A-Za-z][A-Za-z0-9_./-]*$/;
/** Words YAML 1.1 or 1.2 reads as booleans or null. */
const RESERVED = /^(y|yes|n|no|true|false|on|off|null)$/i;

export function yamlString(s: string): string {
  if (PLAIN.test(s) && !RESERVED.test(s)) return s;
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) out += `\\x${hex(cp, 2)}`;
    // Line and paragraph separators (YAML 1.1 breaks lines on them), the BOM, non-characters and lone surrogates.
    else if (cp === 0x2028 || cp === 0x2029 || cp === 0xfeff || cp === 0xfffe || cp === 0xffff || (cp >= 0xd800 && cp <= 0xdfff)) out += `\\u${hex(cp, 4)}`;
    else out += ch;
  }
  return `${out}"`;
}

const hex = (n: number, width: number) => n.toString(16).toUpperCase().padStart(width, '0');

function yamlNumber(n: number): string {
  if (Number.isNaN(n)) return '.nan';
  if (!Number.isFinite(n)) return n > 0 ? '.inf' : '-.inf';
  const s = String(n);
  // YAML 1.1 reads 1e-7 as a string: its floats need a dot.
  return /e/.test(s) && !s.includes('.') ? s.replace('e', '.0e') : s;
}

function yamlScalar(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'number') return yamlNumber(v);
  if (typeof v === 'string') return yamlString(v);
  if (Array.isArray(v)) return '[]';
  if (typeof v === 'object') return '{}';
  return yamlString(String(v));
}

const entries = (o: object) => Object.entries(o).filter(([, v]) => v !== undefined);

function isInline(v: unknown): boolean {
  if (v === null || typeof v !== 'object') return true;
  return Array.isArray(v) ? v.length === 0 : entries(v).length === 0;
}

function yamlBlock(v: unknown, indent: string): string[] {
  if (Array.isArray(v)) {
    return v.flatMap((item) => {
      if (isInline(item)) return [`${indent}- ${yamlScalar(item)}`];
      const lines = yamlBlock(item, `${indent}  `);
      return [`${indent}- ${lines[0]!.slice(indent.length + 2)}`, ...lines.slice(1)];
    });
  }
  return entries(v as object).flatMap(([k, val]) =>
    isInline(val) ? [`${indent}${yamlString(k)}: ${yamlScalar(val)}`] : [`${indent}${yamlString(k)}:`, ...yamlBlock(val, `${indent}  `)],
  );
}

/** Plain data -> a YAML document (block style, ends with a line feed). */
export function toYaml(value: unknown): string {
  return `${isInline(value) ? yamlScalar(value) : yamlBlock(value, '').join('\n')}\n`;
}

// ---------------------------------------------------------------- tables

/** A cell shows no control character: a hostile name cannot move the cursor or fake a line. */
export function printable(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    const n = c.charCodeAt(0);
    return n > 0xff ? `\\u${hex(n, 4)}` : `\\x${hex(n, 2)}`;
  });
}

/** Columns padded to their widest cell; the last column is not padded. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[], indent = ''): string[] {
  const cells = [headers, ...rows].map((r) => r.map(printable));
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => `${indent}${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')}`.trimEnd());
}

const dash = (s: string | null | undefined) => (s === null || s === undefined || s === '' ? '-' : s);

function containerCell(x: InventoryServer): string {
  return x.container ? `${x.container.name} (${x.container.id})` : '(none)';
}

export function showTable(a: ShowAnswer): string {
  if (a.services.length === 0) return 'no services';
  const out: string[] = [];
  for (const s of a.services) {
    const rules = [s.frontend.hosts.length ? `host ${s.frontend.hosts.join(',')}` : '', s.frontend.path ? `path ${s.frontend.path}` : ''].filter(Boolean).join(' ');
    out.push(`${s.name}: ${s.mode} on :${s.frontend.port}${rules ? ` (${rules})` : ''}, balance ${s.balance}, backend ${s.backend}`);
    if (s.access) out.push(`  access: ${accessText(s.access)}`);
    if (s.servers.length === 0) {
      out.push('  (no servers)', '');
      continue;
    }
    const rows = s.servers.map((x) => [
      x.name,
      containerCell(x),
      dash(x.container?.engine),
      x.address,
      String(x.weight),
      x.health === 'up' && !x.checked ? 'up (no check)' : x.health,
      x.admin,
      dash(x.adminSource),
      x.role,
    ]);
    out.push(...formatTable(['SERVER', 'CONTAINER', 'ENGINE', 'ADDRESS', 'WEIGHT', 'HEALTH', 'ADMIN', 'SET BY', 'ROLE'], rows, '  '));
    for (const x of s.servers) if (x.adminReason) out.push(printable(`  ${x.name}: ${x.admin}: ${x.adminReason}`));
    out.push('');
  }
  return out.join('\n').trimEnd();
}

export function checkTable(a: CheckAnswer): string {
  const rows = a.results.map((r) => [
    r.query,
    r.container ? `${r.container.name} (${r.container.id})` : '-',
    dash(r.container?.engine),
    r.ok ? 'ok' : r.verdict,
    dash(r.server),
    r.reason,
  ]);
  const out = formatTable(['CONTAINER', 'FOUND', 'ENGINE', 'RESULT', 'SERVER', 'REASON'], rows);
  for (const e of a.engines) if (!e.ok) out.push(printable(`engine ${e.name} does not answer: ${e.error ?? 'unknown error'}`));
  return out.join('\n');
}

export function verifyTable(a: VerifyAnswer): string {
  const out: string[] = [];
  const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
  out.push(
    `compared ${plural(a.servers, 'HAProxy server')} with ${plural(a.containers, 'labelled running container')} on ${plural(a.engines.length, 'engine')} (${a.engines.map((e) => `${e.name} ${e.ok ? 'answered' : 'DID NOT ANSWER'}`).join(', ')})`,
  );
  for (const e of a.engines) if (!e.ok) out.push(printable(`engine ${e.name} does not answer: ${e.error ?? 'unknown error'}`));
  if (a.ok) {
    out.push('they agree: every server has a running container behind it, and every labelled running container is served');
    return out.join('\n');
  }
  if (a.unbacked.length > 0) {
    out.push('', `${plural(a.unbacked.length, 'server')} with no running container behind it:`);
    out.push(
      ...formatTable(
        ['SERVER', 'ADDRESS', 'ADMIN', 'CONTAINER', 'REASON'],
        a.unbacked.map((u) => [`${u.backend}/${u.server}`, u.address, u.admin, u.container ? `${u.container.name} (${u.container.id})` : '-', u.reason]),
        '  ',
      ),
    );
  }
  if (a.unserved.length > 0) {
    out.push('', `${plural(a.unserved.length, 'labelled running container')} not served:`);
    out.push(
      ...formatTable(
        ['CONTAINER', 'ENGINE', 'SERVICE', 'REASON'],
        a.unserved.map((u) => [`${u.container.name} (${u.container.id})`, dash(u.container.engine), dash(u.service), u.reason]),
        '  ',
      ),
    );
  }
  return out.join('\n');
}

/** One answer in the asked-for format (no trailing line feed). */
export function formatAnswer<T>(answer: T, format: OutputFormat, table: (a: T) => string): string {
  if (format === 'json') return JSON.stringify(answer, null, 2);
  if (format === 'yaml') return toYaml(answer).slice(0, -1);
  return table(answer);
}

// ---------------------------------------------------------------- one-line reasons (stderr)

const MAX_NAMED = 5;

function listed(items: readonly string[]): string {
  const shown = items.slice(0, MAX_NAMED).join('; ');
  return items.length > MAX_NAMED ? `${shown}; and ${items.length - MAX_NAMED} more` : shown;
}

/** Why `check` says no, on one line. */
export function checkSummary(a: CheckAnswer): string {
  const bad = a.results.filter((r) => !r.ok);
  return printable(`${bad.length} of ${a.results.length} not balanced and up: ${listed(bad.map((r) => `${r.query}: ${r.reason}`))}`);
}

/** Why `verify` says no, on one line. */
export function verifySummary(a: VerifyAnswer): string {
  const parts: string[] = [];
  const silent = a.engines.filter((e) => !e.ok).map((e) => e.name);
  if (silent.length > 0) parts.push(`engine${silent.length === 1 ? '' : 's'} not answering: ${silent.join(', ')}`);
  if (a.unbacked.length > 0) {
    parts.push(`${a.unbacked.length} server${a.unbacked.length === 1 ? '' : 's'} with no running container (${listed(a.unbacked.map((u) => `${u.backend}/${u.server}`))})`);
  }
  if (a.unserved.length > 0) {
    parts.push(`${a.unserved.length} labelled running container${a.unserved.length === 1 ? '' : 's'} not served (${listed(a.unserved.map((u) => u.container.name))})`);
  }
  return printable(`HAProxy and the engines disagree: ${parts.join(', ')}`);
}

/** One line of a service's client settings for `vipkeeper show`. */
function accessText(a: NonNullable<InventoryService['access']>): string {
  return [
    `allow ${a.allow ? a.allow.join(',') : 'all'}`,
    `rate-limit ${a.rateLimit === null ? 'none' : `${a.rateLimit}/s`}`,
    `proxy-protocol ${a.proxyProtocol ?? 'off'}`,
    `forwarded ${a.forwarded ? 'on' : 'off'}`,
  ].join(', ');
}
