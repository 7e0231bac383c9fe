import type { StatusSnapshot } from '../status/snapshot.js';
import type { DrillRequest } from '../status/status-server.js';

// Talks to a running agent's status server (same host, loopback by default).

export const DEFAULT_STATUS_ADDR = '127.0.0.1:9321';

export class AgentUnreachableError extends Error {
  readonly code = 'E_AGENT_UNREACHABLE';
  constructor(addr: string, cause: unknown) {
    super(`no vipkeeper agent answers on ${addr}: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'AgentUnreachableError';
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

export async function postDrill(addr: string, request: DrillRequest): Promise<{ ok: boolean; message: string }> {
  try {
    const res = await fetch(`http://${addr}/drill`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(request),
      signal: AbortSignal.timeout(30_000),
    });
    return (await res.json()) as { ok: boolean; message: string };
  } catch (err) {
    throw new AgentUnreachableError(addr, err);
  }
}
