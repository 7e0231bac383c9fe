import type { StatusSnapshot } from '../status/snapshot.js';
import { fetchStatus } from './status-client.js';

/** `vipkeeper status`: the running agent's state, as a short table or JSON. */
export async function statusCommand(opts: { addr: string; json: boolean }, print: (s: string) => void): Promise<number> {
  const s = await fetchStatus(opts.addr);
  print(opts.json ? JSON.stringify(s, null, 2) : formatStatus(s));
  return 0;
}

const ago = (iso: string | null) => (iso ? `${Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000))}s ago` : 'never');

export function formatStatus(s: StatusSnapshot): string {
  const lines: string[] = [];
  const v = s.vrrp;
  lines.push(`node      ${s.node.routerId} on ${s.node.interface}, VIPs ${s.node.vips.join(', ')}`);
  if (!s.node.nodeRole.present) {
    lines.push(`role      this engine lacks the role ${s.node.nodeRole.required}: not taking part in VRRP`);
  } else if (s.instances && s.instances.length > 1) {
    // One line per VRRP instance: which this node is master of.
    for (const i of s.instances) {
      const iv = i.vrrp;
      const state = iv ? `${iv.state} since ${ago(iv.since)}, holding ${iv.vipsHeld.length ? iv.vipsHeld.join(', ') : 'no VIP'}${iv.consistent ? '' : '  (MISMATCH: see the log)'}` : 'not taking part';
      lines.push(`vrrp      ${i.name} (router id ${i.virtualRouterId}, priority ${i.priority}${i.nopreempt ? ', nopreempt' : ''}) ${state}`);
      if (i.health && !i.health.healthy) lines.push(`          ${i.name} priority lowered here by its health: ${i.health.problems.join('; ')}`);
    }
  } else if (v) {
    lines.push(`vrrp      ${v.state} since ${ago(v.since)}, holding ${v.vipsHeld.length ? v.vipsHeld.join(', ') : 'no VIP'}${v.consistent ? '' : '  (MISMATCH: see the log)'}`);
  }
  if (s.drill) lines.push(`drill     ${s.drill.mode} drill running since ${ago(s.drill.since)}`);
  const op = s.operator;
  if (op?.maintenance) {
    const m = op.maintenance;
    lines.push(`maint     IN MAINTENANCE since ${ago(m.since)}${m.by?.uid != null ? ` (uid ${m.by.uid})` : ''}${m.reason ? `: ${m.reason}` : ''}${m.forced ? ' (forced, no peer seen)' : ''}`);
  }
  if (op?.problem) lines.push(`operator  ${op.problem}`);
  for (const o of op?.overrides ?? []) {
    lines.push(`disabled  ${o.service}/${o.server} (${o.containerName}) ${o.admin} since ${ago(o.since)}${o.by?.uid != null ? ` by uid ${o.by.uid}` : ''}${o.reason ? `: ${o.reason}` : ''}`);
  }
  for (const e of s.docker.engines) {
    const state = e.state === 'up' ? 'up' : e.state.toUpperCase();
    lines.push(
      `engine    ${e.name} (${e.endpoint}${e.mode === 'swarm' ? ', swarm' : ''}) ${state} since ${ago(e.since)}, ${e.backends} backend${e.backends === 1 ? '' : 's'}, last event ${ago(e.lastEventAt)}${e.reason ? `: ${e.reason}` : ''}`,
    );
  }
  for (const c of s.children) {
    lines.push(`${c.name.padEnd(9)} ${c.running ? `running (pid ${c.pid})` : 'NOT running'}, ${c.restarts} restart${c.restarts === 1 ? '' : 's'}${c.crashLoop ? ', CRASH LOOP' : ''}`);
  }
  if (s.lastPass) {
    const p = s.lastPass;
    lines.push(`last pass #${p.id} ${ago(p.at)}: ${p.applied}, +${p.added.length} -${p.removed.length} ~${p.updated.length} in ${p.durationMs} ms${p.error ? `, FAILED: ${p.error}` : ''}`);
  }
  for (const c of s.certificates ?? []) {
    lines.push(
      c.state === 'ok'
        ? `cert      ${c.file}: ${(c.names ?? []).join(', ')}, expires ${c.notAfter} (in ${Math.floor((c.secondsLeft ?? 0) / 86_400)} days)`
        : `cert      ${c.file}: REFUSED, ${c.reason}`,
    );
  }
  for (const h of s.acme?.hosts ?? []) {
    const failing = h.failures > 0 ? `, ${h.failures} failure${h.failures === 1 ? '' : 's'}, next try ${h.nextAt}: ${h.lastError}` : '';
    lines.push(`acme      ${h.host}: ${h.state}${h.notAfter ? `, expires ${h.notAfter}` : ''}${h.expiringSoon ? ', EXPIRES WITHIN 14 DAYS' : ''}${failing}`);
  }
  for (const r of s.acme?.refused ?? []) lines.push(`acme      ${r.host}: REFUSED (container ${r.containerName}), ${r.reason}`);
  lines.push('');
  lines.push('service          port  server                        address                 health    role');
  for (const svc of s.services) {
    if (svc.servers.length === 0) lines.push(`${svc.name.padEnd(16)} ${String(svc.frontendPort).padEnd(5)} (no servers)`);
    for (const srv of svc.servers) {
      const who = srv.adminSource ? ` (${srv.adminSource}${srv.adminReason ? `: ${srv.adminReason}` : ''})` : '';
      const role = srv.role === 'backup' && srv.standby ? 'backup (standby)' : (srv.role ?? '');
      lines.push(`${svc.name.padEnd(16)} ${String(svc.frontendPort).padEnd(5)} ${srv.name.padEnd(29)} ${srv.address.padEnd(23)} ${srv.health.padEnd(9)} ${role}${who}`.trimEnd());
    }
  }
  return lines.join('\n');
}
