import type { Config } from './config/env.js';
import type { ContainerInfo } from './model/container.js';
import { buildDesiredState, type DesiredState, type SelectionContext, type SkippedContainer } from './model/desired-state.js';
import { type RenderedConfigs, renderConfigs } from './render/render-configs.js';
import type { Templates } from './render/load-templates.js';
import type { CertEntry } from './tls/cert-inventory.js';
import { accepted } from './tls/tls-plan.js';

/** HAProxy's peers port without VIPKEEPER_PEERS_PORT (env.ts). */
const PEERS_PORT_DEFAULT = 10_000;

export interface Plan {
  readonly state: DesiredState;
  readonly rendered: RenderedConfigs;
}

export interface PlanContext extends SelectionContext {
  /** The certificates directory, judged (cert-inventory.ts): what HTTPS may serve. */
  readonly certificates?: readonly CertEntry[];
  /** Frontend ports no service may use now, with the reason (in use by another process, one of ours). */
  readonly unavailablePorts?: ReadonlyMap<number, string>;
  /**
   * VIPKEEPER_HTTPS_PORT cannot be bound now, with the reason: HTTPS is left out (every
   * certificate shows as not served, with it) and HTTP keeps serving, instead of a reload
   * that fails on the busy port in every pass.
   */
  readonly httpsBlocked?: string;
}

/** The pure core end to end: config + containers + templates -> desired state and both files. */
export function planConfigs(
  config: Config,
  containers: readonly ContainerInfo[],
  templates: Templates,
  context: PlanContext = {},
): Plan {
  const state = desiredState(config, containers, context);
  return { state, rendered: renderConfigs(config, state, templates) };
}

/** The first half of planConfigs: what should run, without printing the files. Pure. */
export function desiredState(config: Config, containers: readonly ContainerInfo[], context: PlanContext = {}): DesiredState {
  if (context.httpsBlocked !== undefined && context.certificates !== undefined) {
    const why = `not served: HTTPS port ${config.httpsPort} ${context.httpsBlocked}`;
    const certificates = context.certificates.map((e): CertEntry => (e.state === 'ok' ? { file: e.file, state: 'refused', reason: why } : e));
    return desiredState(config, containers, { ...context, certificates, httpsBlocked: undefined });
  }
  // While HTTPS serves, its port is HAProxy's HTTPS frontend: a service claiming it would share
  // the port with it (SO_REUSEPORT), each taking some of the connections.
  const https = accepted(context.certificates).length > 0;
  // The peers port is where HAProxy's `peers` section (sticky services) listens on this node's
  // address: a frontend there would take the other nodes' table updates. Always reserved, so a
  // sticky service deployed later never takes a running service's port away.
  const unavailable = new Map([
    ...(context.unavailablePorts ?? []),
    [config.peers?.port ?? PEERS_PORT_DEFAULT, "it is VIPKEEPER_PEERS_PORT, where HAProxy's peers share the sticky services' tables"],
    ...(https ? [[config.httpsPort, 'it is VIPKEEPER_HTTPS_PORT, where HAProxy serves HTTPS while a certificate is loaded'] as const] : []),
  ]);
  const state = withoutPorts(buildDesiredState(containers, config, context), unavailable);
  return context.certificates === undefined ? state : { ...state, certificates: context.certificates };
}

/**
 * Services whose frontend port cannot be used are left out; each of their
 * containers is skipped with the port and the reason. Pure.
 */
export function withoutPorts(state: DesiredState, unavailable: ReadonlyMap<number, string> | undefined): DesiredState {
  if (!unavailable || unavailable.size === 0) return state;
  const skipped: SkippedContainer[] = [...state.skipped];
  const services = state.services.filter((s) => {
    const why = unavailable.get(s.frontendPort);
    if (why === undefined) return true;
    for (const server of s.servers) {
      skipped.push({
        containerId: server.containerId,
        containerName: server.containerName,
        reason: `service ${s.name} cannot listen on frontend port ${s.frontendPort}: ${why}`,
        problems: [],
      });
    }
    return false;
  });
  skipped.sort((a, b) => (a.containerName < b.containerName ? -1 : a.containerName > b.containerName ? 1 : a.containerId < b.containerId ? -1 : 1));
  return { ...state, services, skipped };
}
