import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadEnvironment } from '../config/load-environment.js';
import type { Config } from '../config/env.js';
import { connectDocker } from '../docker/docker-engine.js';
import { engineLinks } from '../docker/engine-link.js';
import { readNodeRole } from '../docker/node-role.js';
import type { ContainerInfo } from '../model/container.js';
import { ConfigRejectedError, DockerUnavailableError, VipkeeperError } from '../errors.js';
import { writeFileAtomic } from '../files/atomic-write.js';
import type { Logger } from '../log.js';
import { planConfigs } from '../pipeline.js';
import { loadTemplates } from '../render/load-templates.js';
import { realValidator } from '../validate/check-config.js';
import type { AdminOverride, DesiredState } from '../model/desired-state.js';
import { OPERATOR_STATE_FILE, overridesOf, parseOperatorState } from '../operator/operator-state.js';
import { hostPort } from '../config/patterns.js';

export interface RenderOptions {
  readonly out: string;
  readonly json: boolean;
}

export interface FileResult {
  readonly file: string;
  readonly written: boolean;
  readonly error?: string;
}

export interface RenderReport {
  readonly nodeRole: { readonly required: string | null; readonly present: boolean };
  readonly selected: { container: string; id: string; service: string; server: string; address: string; role: 'active' | 'backup'; admin: string }[];
  readonly skipped: { container: string; id: string; reason: string }[];
  readonly notices: { container: string; message: string }[];
  readonly files: readonly FileResult[];
}

/** `vipkeeper render --out DIR`: one pass, no daemon. Returns the process exit code. */
export async function renderCommand(opts: RenderOptions, env: NodeJS.ProcessEnv, log: Logger, print: (s: string) => void): Promise<number> {
  const { config, warnings } = await loadEnvironment(env);
  for (const w of warnings) log.warn({ variable: w.variable }, w.message);

  // This host's own engine is asked only for the node role: with app engines elsewhere it may
  // not be needed at all.
  const role =
    config.nodeRole === null
      ? null
      : await readNodeRole(await connectDocker(config.dockerHost), { roleLabel: config.roleLabel, nodeRole: config.nodeRole, swarm: config.swarm });
  const nodeRolePresent = role === null || role.present;
  if (role && !role.present) {
    log.warn(
      { roleLabel: config.roleLabel, nodeRole: config.nodeRole },
      `this ${role.where} lacks the label ${config.roleLabel}=${config.nodeRole}: the agent would not take part in the VIP on this node`,
    );
  }
  const containers = await listOnce(config, log);
  const templates = await loadTemplates(config.templatesDir);
  // What an operator disabled stays disabled in what render prints, as the agent renders it.
  const operator = await readOverrides(config.configDir, log);
  const { state, rendered } = planConfigs(config, containers, templates, { operator });
  logState(state, log);

  const outDir = resolve(opts.out);
  await mkdir(outDir, { recursive: true });
  const validate = realValidator();
  const files: FileResult[] = [];
  for (const [name, kind, text] of [
    ['haproxy.cfg', 'haproxy', rendered.haproxyCfg],
    ['keepalived.conf', 'keepalived', rendered.keepalivedConf],
  ] as const) {
    try {
      const file = await writeFileAtomic(outDir, name, text, (temp) => validate(kind, temp));
      files.push({ file, written: true });
    } catch (err) {
      if (!(err instanceof VipkeeperError)) throw err;
      log.error({ code: err.code, file: name }, err.message);
      files.push({ file: resolve(outDir, name), written: false, error: err instanceof ConfigRejectedError ? err.output.trim() : err.message });
    }
  }

  const report: RenderReport = {
    nodeRole: { required: config.nodeRole, present: nodeRolePresent },
    selected: state.services.flatMap((s) =>
      s.servers.map((srv) => ({
        container: srv.containerName,
        id: srv.containerId.slice(0, 12),
        service: s.name,
        server: srv.name,
        address: hostPort(srv.address, srv.port),
        role: srv.role,
        admin: srv.admin ?? 'ready',
      })),
    ),
    skipped: state.skipped.map((s) => ({ container: s.containerName, id: s.containerId.slice(0, 12), reason: s.reason })),
    notices: state.notices.map((n) => ({ container: n.containerName, message: n.message })),
    files,
  };
  print(opts.json ? JSON.stringify(report, null, 2) : formatReport(report));
  return files.every((f) => f.written) ? 0 : 3;
}

/**
 * The operator's overrides from the config dir, read only: a missing file is none, and a
 * corrupt one is named and ignored (the agent, not render, keeps a copy of it at its start).
 */
async function readOverrides(configDir: string, log: Logger): Promise<ReadonlyMap<string, AdminOverride>> {
  const file = join(configDir, OPERATOR_STATE_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ file }, `cannot read ${file}: ${(err as Error).message}; rendered without operator overrides`);
    return new Map();
  }
  const parsed = parseOperatorState(text);
  if (!parsed.ok) {
    log.warn({ file }, `${file} is corrupt (${parsed.problem}); rendered without operator overrides`);
    return new Map();
  }
  return overridesOf(parsed.state);
}

/** Backends of every engine (or the swarm) that answers; one that does not is named and skipped. */
async function listOnce(config: Config, log: Logger): Promise<ContainerInfo[]> {
  // A connection that hangs up once (an engine that just started, say) is tried again twice
  // before render says the engines do not answer.
  for (let attempt = 1; ; attempt++) {
    const links = engineLinks(config, log, false);
    try {
      await Promise.all(links.map((l) => l.start()));
      const answering = links.filter((l) => l.state === 'up' || l.state === 'gated');
      if (answering.length === 0) {
        const first = links[0]!.status();
        if (attempt < 3) {
          await new Promise((r) => setTimeout(r, 500 * attempt));
          continue;
        }
        throw new DockerUnavailableError(first.endpoint, first.reason ?? 'does not answer');
      }
      return (await Promise.all(answering.map((l) => l.list()))).flat();
    } finally {
      for (const l of links) l.close();
    }
  }
}

function logState(state: DesiredState, log: Logger): void {
  for (const s of state.skipped) {
    const first = s.problems[0];
    log.warn(
      {
        container: s.containerName,
        id: s.containerId.slice(0, 12),
        ...(first ? { label: first.label, value: first.shownValue, rule: first.rule } : {}),
      },
      `skipped container ${s.containerName}: ${s.reason}`,
    );
  }
  for (const n of state.notices) log.warn({ container: n.containerName }, n.message);
}

export function formatReport(r: RenderReport): string {
  const lines: string[] = [];
  lines.push(`selected ${r.selected.length} container${r.selected.length === 1 ? '' : 's'}:`);
  for (const s of r.selected) {
    lines.push(`  ${s.container} (${s.id})  service ${s.service}  -> ${s.address}${s.role === 'backup' ? '  (backup)' : ''}${s.admin !== 'ready' ? `  (${s.admin}: disabled by an operator)` : ''}`);
  }
  lines.push(`skipped ${r.skipped.length} container${r.skipped.length === 1 ? '' : 's'}:`);
  for (const s of r.skipped) lines.push(`  ${s.container} (${s.id}): ${s.reason}`);
  for (const n of r.notices) lines.push(`note: ${n.container}: ${n.message}`);
  if (!r.nodeRole.present) lines.push(`note: this engine lacks the node role ${r.nodeRole.required}`);
  for (const f of r.files) {
    lines.push(f.written ? `wrote ${f.file} (checked)` : `NOT written ${f.file}: rejected:\n${indent(f.error ?? '')}`);
  }
  return lines.join('\n');
}

const indent = (s: string) => s.split('\n').map((l) => `    ${l}`).join('\n');
