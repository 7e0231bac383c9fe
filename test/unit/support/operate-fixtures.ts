import { haproxyServers } from '../../../src/render/haproxy-servers.js';
import type { ServerStateRow } from '../../../src/haproxy/runtime-api.js';
import type { ContainerInfo, ContainerSummary } from '../../../src/model/container.js';
import { buildDesiredState, type DesiredState, type SelectionContext } from '../../../src/model/desired-state.js';
import { container, SETTINGS } from '../fixtures.js';

// Small builders for the operator commands' tests: HAProxy rows, and states planned from containers.

/** One `show servers state` row; up and ready unless told. */
export function row(backend: string, server: string, address: string, port: number, o: Partial<Pick<ServerStateRow, 'opState' | 'adminState' | 'weight'>> = {}): ServerStateRow {
  return { backend, server, address, port, opState: o.opState ?? 2, adminState: o.adminState ?? 0, weight: o.weight ?? 1 };
}

/** The rows HAProxy has when it serves exactly `state`, all up and ready. */
export function rowsFor(state: DesiredState): ServerStateRow[] {
  // What HAProxy holds: every line (a single-class container has NAME and NAME:backup).
  return state.services.flatMap((s) => haproxyServers(s).map((x) => row(`be_${s.name}`, x.name, x.address, x.port, { weight: x.weight })));
}

export const plan = (containers: readonly ContainerInfo[], context: SelectionContext = {}): DesiredState => buildDesiredState(containers, SETTINGS, context);

/** What `docker ps -a` says of a container, on engine `local` unless told. */
export function summary(c: ContainerInfo, engine = c.engine ?? 'local', state = c.running ? 'running' : 'exited'): ContainerSummary {
  return { id: c.id, name: c.name, running: c.running, state, labels: c.labels, engine };
}

export { container, SETTINGS };
