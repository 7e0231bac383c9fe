import type { DockerEngine } from './docker-engine.js';

// The node role gate's question, asked of this host's own engine: does it carry
// role=<node role>? Engine labels (`dockerd --label`, Rancher's host labels), or
// with Swarm this node's node labels (`docker node update --label-add`), which
// only a manager can tell: this engine if it is one, else the swarm's.

export interface NodeRoleAnswer {
  readonly present: boolean;
  /** Where the role was looked for, for the message. */
  readonly where: string;
  readonly labels: Readonly<Record<string, string>>;
}

export async function readNodeRole(
  local: DockerEngine,
  want: { readonly roleLabel: string; readonly nodeRole: string; readonly swarm: boolean },
  managers: readonly DockerEngine[] = [],
): Promise<NodeRoleAnswer> {
  const labels = await local.engineLabels();
  if (labels[want.roleLabel] === want.nodeRole || !want.swarm) return { present: labels[want.roleLabel] === want.nodeRole, where: 'Docker engine', labels };
  const nodeLabels = await swarmNodeLabels(local, managers);
  return { present: nodeLabels[want.roleLabel] === want.nodeRole, where: 'Docker engine and swarm node', labels: { ...labels, ...nodeLabels } };
}

async function swarmNodeLabels(local: DockerEngine, managers: readonly DockerEngine[]): Promise<Record<string, string>> {
  const id = await local.swarmNodeId().catch(() => null);
  if (!id) return {};
  for (const engine of [local, ...managers]) {
    try {
      const node = (await engine.api.getNode(id).inspect()) as { Spec?: { Labels?: Record<string, string> | null } };
      return { ...(node.Spec?.Labels ?? {}) };
    } catch {
      /* not a manager: ask the next */
    }
  }
  return {};
}
