import type { PassRecord } from '../agent/pass-record.js';
import type { StatusInstance, StatusServer, StatusSnapshot } from './snapshot.js';

// StatusSnapshot -> the operator's page (GET /), as HTML. Pure: the same
// snapshot and `now` give the same bytes. Everything in a snapshot may come
// from a container's labels or name (untrusted): every value goes through
// esc(), and nothing is ever placed in a script, a style or a URL. The page
// holds no control: no form, no link that acts. /page.js only swaps in a new
// fragment every second; without JavaScript the first render is complete.

/** What a page reads of a VRRP instance (the page's tests give no more). */
type PageInstance = Pick<StatusInstance, 'name' | 'vips' | 'priority' | 'vrrp'>;

/** The snapshot, read as the page needs it. */
export type PageSnapshot = Omit<StatusSnapshot, 'instances'> & { readonly instances?: readonly PageInstance[] };

/** Certificates that expire sooner than this need a human. */
export const CERT_WARN_SECONDS = 14 * 24 * 3600;
/** Passes the page lists, newest first. */
export const PAGE_PASSES = 10;
/** VRRP transitions the timeline shows, newest first. */
export const PAGE_TRANSITIONS = 10;

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/**
 * Any value -> text safe in HTML content and in a quoted attribute. Control characters
 * (a container name may hold them) are shown as \xNN rather than passed on.
 */
export function esc(value: unknown): string {
  return String(value ?? '')
    .replace(/[&<>"']/g, (c) => ENTITIES[c]!)
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** "3 s", "4 min", "2 h", "5 d" between an ISO time and now; "" when unknown. */
export function age(iso: string | null | undefined, now: number): string {
  if (!iso) return '';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

/** A time with its age, the ISO value in a title so a hover shows it exactly. */
const when = (iso: string | null | undefined, now: number) => (iso ? `<time datetime="${esc(iso)}" title="${esc(iso)}">${esc(age(iso, now))} ago</time>` : '<span class="dim">never</span>');

const badge = (word: string, kind: string) => `<span class="b ${esc(kind)}">${esc(word)}</span>`;

const HEALTH_KIND: Record<string, string> = { up: 'ok', down: 'bad', starting: 'warn', stopping: 'warn', drain: 'warn', maint: 'warn', unknown: 'dim' };
const VRRP_KIND: Record<string, string> = { MASTER: 'ok', BACKUP: 'info', FAULT: 'bad', INIT: 'warn', STOP: 'warn', DELETED: 'warn', UNKNOWN: 'dim' };
const ENGINE_KIND: Record<string, string> = { up: 'ok', down: 'bad', connecting: 'warn', gated: 'warn' };

const table = (head: readonly string[], rows: readonly string[], empty: string) =>
  rows.length === 0
    ? `<p class="dim">${esc(empty)}</p>`
    : `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
const tr = (cells: readonly string[], cls = '') => `<tr${cls ? ` class="${esc(cls)}"` : ''}>${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`;
const list = (items: readonly string[]) => (items.length ? items.map(esc).join(', ') : '<span class="dim">none</span>');

/** The VRRP instances the snapshot holds: every instance when it lists them, else its one. */
export function pageInstances(s: PageSnapshot): PageInstance[] {
  if (s.instances && s.instances.length > 0) return [...s.instances];
  return [{ name: s.vrrp?.instance ?? 'default', vips: s.node.vips, priority: s.node.vrrpSettings.priority, vrrp: s.vrrp }];
}

/** What needs a human now, one sentence each (untrusted parts not yet escaped). Pure. */
export function alarms(s: PageSnapshot, now: number): string[] {
  const out: string[] = [];
  for (const i of pageInstances(s)) {
    if (i.vrrp && !i.vrrp.consistent) {
      out.push(
        i.vrrp.state === 'MASTER'
          ? `VRRP ${i.name}: MASTER but the VIPs are not all on the interface (held: ${i.vrrp.vipsHeld.join(', ') || 'none'})`
          : `VRRP ${i.name}: ${i.vrrp.state} but VIPs are on the interface (${i.vrrp.vipsHeld.join(', ')}): two holders are possible`,
      );
    }
    if (i.vrrp?.state === 'FAULT') out.push(`VRRP ${i.name} is in FAULT`);
  }
  for (const e of s.docker.engines) {
    if (e.state === 'down') out.push(`engine ${e.name} (${e.endpoint}) is down${e.reason ? `: ${e.reason}` : ''}`);
  }
  for (const c of s.children) {
    if (c.crashLoop) out.push(`${c.name} is in a crash loop (${c.restarts} restarts)`);
    else if (!c.running && s.drill === null) out.push(`${c.name} is not running`);
  }
  for (const f of s.failing ?? []) out.push(`${f.what} failing ${f.failures}x since ${age(f.since, now)} ago [${f.code}]: ${f.lastError}`);
  if (s.operator?.problem) out.push(`operator state: ${s.operator.problem}`);
  for (const c of s.certificates ?? []) {
    if (c.state === 'refused') out.push(`certificate ${c.file} refused${c.reason ? `: ${c.reason}` : ''}`);
    else if (c.secondsLeft !== undefined && c.secondsLeft < CERT_WARN_SECONDS) {
      out.push(c.secondsLeft <= 0 ? `certificate ${c.file} has expired` : `certificate ${c.file} expires in ${Math.floor(c.secondsLeft / 86400)} d ${Math.floor((c.secondsLeft % 86400) / 3600)} h`);
    }
  }
  if (s.health && !s.health.ok && out.length === 0) out.push(`unhealthy: ${s.health.reason}`);
  return out;
}

function vrrpSection(s: PageSnapshot, now: number): string {
  const rows = pageInstances(s).map((i) =>
    tr([
      esc(i.name),
      i.vrrp ? badge(i.vrrp.state, VRRP_KIND[i.vrrp.state] ?? 'dim') : badge('not taking part', 'dim'),
      when(i.vrrp?.since, now),
      esc(i.priority),
      i.vrrp ? list(i.vrrp.vipsHeld) : '<span class="dim">none</span>',
      list(i.vips),
      i.vrrp ? (i.vrrp.consistent ? badge('yes', 'ok') : badge('NO', 'bad')) : '',
    ]),
  );
  const timeline = pageInstances(s).flatMap((i) => (i.vrrp?.transitions ?? []).map((t) => ({ inst: i.name, ...t })));
  timeline.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
  const tl = timeline.slice(0, PAGE_TRANSITIONS).map((t) => `<li>${when(t.at, now)} ${esc(t.inst)} → ${badge(t.state, VRRP_KIND[t.state] ?? 'dim')} <span class="dim">priority ${esc(t.priority)}</span></li>`);
  const role = s.node.nodeRole.required && !s.node.nodeRole.present ? `<p class="warn">node role ${esc(s.node.nodeRole.required)} missing: this node does not take part in VRRP</p>` : '';
  return (
    `<section id="vrrp"><h2>VRRP</h2>${role}` +
    table(['instance', 'state', 'since', 'priority', 'VIPs held', 'VIPs', 'consistent'], rows, 'no VRRP instance') +
    `<h3>Last transitions</h3>${tl.length ? `<ol class="timeline">${tl.join('')}</ol>` : '<p class="dim">none yet</p>'}</section>`
  );
}

const num = (n: number | undefined) => (n === undefined ? '<span class="dim">–</span>' : esc(n));

function serverRow(x: StatusServer): string {
  const admin = x.admin && x.admin !== 'ready' ? `${badge(x.admin, 'warn')}${x.adminReason ? ` <span class="dim">${esc(x.adminReason)}</span>` : ''}` : badge('ready', 'ok');
  const role = x.role === 'backup' ? ` ${badge(x.standby ? 'standby' : 'backup', 'info')}` : '';
  return tr(
    [
      `${esc(x.name)}${role}`,
      `${esc(x.containerName ?? '')} <span class="dim mono">${esc(x.container)}</span>`,
      esc(x.engine ?? 'local'),
      `<span class="mono">${esc(x.address)}</span>`,
      badge(x.health, HEALTH_KIND[x.health] ?? 'dim'),
      admin,
      num(x.weight),
      num(x.sessions),
      num(x.rate),
    ],
    `h-${x.health}`,
  );
}

function servicesSection(s: PageSnapshot): string {
  const head = ['server', 'container', 'engine', 'address', 'health', 'admin', 'weight', 'sessions', 'rate /s'];
  const blocks = s.services.map((svc) => {
    const up = svc.servers.filter((x) => x.health === 'up').length;
    const front = `${svc.mode} :${svc.frontendPort}${svc.hosts?.length ? ` ${list(svc.hosts)}` : ''}${svc.path ? ` <span class="mono">${esc(svc.path)}</span>` : ''}`;
    return (
      `<div class="svc"><h3>${esc(svc.name)} <span class="dim">${front} · backend ${esc(svc.backend)}${svc.memberClass === 'single' ? ' · single' : ''} · ${up}/${svc.servers.length} up</span></h3>` +
      table(head, svc.servers.map(serverRow), 'no servers') +
      '</div>'
    );
  });
  return `<section id="services"><h2>Services (${s.services.length})</h2>${blocks.length ? blocks.join('') : '<p class="dim">no services</p>'}</section>`;
}

function passRow(p: PassRecord, now: number): string {
  const changed = [
    ...p.added.map((n) => `+${n}`),
    ...p.removed.map((n) => `−${n}`),
    ...p.updated.map((n) => `~${n}`),
  ];
  const shown = changed.length > 8 ? [...changed.slice(0, 8), `… ${changed.length - 8} more`] : changed;
  return tr(
    [
      esc(p.id),
      when(p.at, now),
      esc(p.triggers.join(', ')),
      p.error ? badge('failed', 'bad') : badge(p.applied, p.applied === 'reload' ? 'warn' : p.applied === 'none' ? 'dim' : 'ok'),
      `${shown.length ? esc(shown.join(' ')) : '<span class="dim">nothing</span>'}${p.reloadReason ? ` <span class="dim">(reload: ${esc(p.reloadReason)})</span>` : ''}${p.error ? ` <span class="bad">${esc(p.error)}</span>` : ''}`,
      `${esc(p.durationMs)} ms`,
    ],
    p.error ? 'failed' : '',
  );
}

function passesSection(s: PageSnapshot, now: number): string {
  const passes = (s.recentPasses ?? (s.lastPass ? [s.lastPass] : [])).slice(-PAGE_PASSES).reverse();
  const totals = Object.entries(s.passes.byMethod).map(([k, n]) => `${esc(k)} ${esc(n)}`).join(' · ');
  return (
    `<section id="passes"><h2>Passes</h2><p class="dim">${totals || 'none yet'} · failed ${esc(s.passes.failed)} · ${esc(s.passes.secondsTotal.toFixed(2))} s in total</p>` +
    table(['#', 'when', 'trigger', 'applied', 'changed', 'took'], passes.map((p) => passRow(p, now)), 'no pass yet') +
    '</section>'
  );
}

function skippedSection(s: PageSnapshot): string {
  const rows = (s.skipped ?? []).map((k) => tr([esc(k.containerName), `<span class="mono dim">${esc(k.container)}</span>`, esc(k.reason)]));
  return `<section id="skipped"><h2>Skipped containers (${rows.length})</h2>${table(['container', 'id', 'why'], rows, 'none: every candidate container is served')}</section>`;
}

function processesSection(s: PageSnapshot, now: number): string {
  const children = s.children.map((c) =>
    tr([
      esc(c.name),
      c.crashLoop ? badge('crash loop', 'bad') : c.running ? badge('running', 'ok') : badge('stopped', 'bad'),
      esc(c.pid ?? ''),
      esc(c.restarts),
      c.lastExit ? `${esc(c.lastExit.signal ?? `code ${c.lastExit.code}`)} ${when(c.lastExit.at, now)}` : '<span class="dim">none</span>',
      when(c.lastStartAt, now),
    ]),
  );
  const engines = s.docker.engines.map((e) =>
    tr([esc(e.name), `<span class="mono">${esc(e.endpoint)}</span>`, esc(e.mode), badge(e.state, ENGINE_KIND[e.state] ?? 'dim'), when(e.since, now), esc(e.backends), when(e.lastEventAt, now), esc(e.reason ?? '')]),
  );
  const certs = (s.certificates ?? []).map((c) =>
    tr([esc(c.file), badge(c.state, c.state === 'ok' ? 'ok' : 'bad'), list(c.names ?? []), esc(c.notAfter ?? ''), esc(c.reason ?? '')], c.secondsLeft !== undefined && c.secondsLeft < CERT_WARN_SECONDS ? 'failed' : ''),
  );
  return (
    `<section id="children"><h2>Children</h2>${table(['child', 'state', 'pid', 'restarts', 'last exit', 'started'], children, 'no children')}</section>` +
    `<section id="engines"><h2>Engines</h2>${table(['engine', 'endpoint', 'mode', 'state', 'since', 'backends', 'last event', 'reason'], engines, 'no engines')}</section>` +
    (s.certificates ? `<section id="certificates"><h2>Certificates</h2>${table(['file', 'state', 'names', 'not after', 'reason'], certs, 'no certificates')}</section>` : '')
  );
}

/** The part of the page /page.js replaces every second: everything in <main>. */
export function renderFragment(s: PageSnapshot, now: number): string {
  const a = alarms(s, now);
  const banner = a.length
    ? `<div id="banner" class="banner bad" role="alert"><strong>Needs a human:</strong><ul>${a.map((m) => `<li>${esc(m)}</li>`).join('')}</ul></div>`
    : `<div id="banner" class="banner ok">${esc(s.health?.reason ?? 'ok')}</div>`;
  const drill = s.drill ? `<p class="warn">drill in progress: ${esc(s.drill.mode)}${s.drill.instance ? ` of instance ${esc(s.drill.instance)}` : ''} since ${when(s.drill.since, now)}</p>` : '';
  const maint = s.operator?.maintenance ? `<p class="warn">node in maintenance (operator)</p>` : '';
  const head = `<header><h1>vipkeeper <span class="dim">${esc(s.node.routerId)} · ${esc(s.node.interface)}</span></h1><p class="dim">rendered <time datetime="${esc(new Date(now).toISOString())}">${esc(new Date(now).toISOString())}</time></p></header>`;
  return head + banner + drill + maint + vrrpSection(s, now) + servicesSection(s) + passesSection(s, now) + skippedSection(s) + processesSection(s, now);
}

/** The whole page: the fragment in a document that loads /page.css and /page.js (no inline script or style). */
export function renderPage(s: PageSnapshot, now: number): string {
  return (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<title>vipkeeper ${esc(s.node.routerId)}</title><link rel="stylesheet" href="/page.css"><script src="/page.js" defer></script></head>` +
    `<body><main id="page">${renderFragment(s, now)}</main><footer class="dim">read-only · changes go through <code>vipkeeper</code> on the host · <a href="/status">/status</a> · <a href="/metrics">/metrics</a></footer></body></html>\n`
  );
}
