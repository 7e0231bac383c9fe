import { errorMessage, VipkeeperError } from '../errors.js';
import type { StatusSnapshot } from '../status/snapshot.js';

// Reads a running agent's status server (same host, loopback by default). It is
// read-only: drills go through the control socket (src/control/control-client.ts).

export const DEFAULT_STATUS_ADDR = '127.0.0.1:9321';

export class AgentUnreachableError extends VipkeeperError {
  readonly code = 'E_AGENT_UNREACHABLE';
  constructor(addr: string, cause: unknown) {
    super(`no vipkeeper agent answers on ${addr}: ${errorMessage(cause)}`, { cause });
  }
}

export async function fetchStatus(addr: string): Promise<StatusSnapshot> {
  try {
    const res = await fetch(`http://${addr}/status`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return (await res.json()) as StatusSnapshot;
  } catch (err) {
    throw new AgentUnreachableError(addr, err);
  }
}
