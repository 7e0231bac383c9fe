import { createServer } from 'node:net';

// Frontend ports a new service may not take: vipkeeper's own fixed ports
// (refused up front), and ports another process already holds (`haproxy -c`
// does not bind, so a busy port would only show when the reload fails). A port
// HAProxy said it could not bind is held back until a probe finds it free.

export type PortProbe = (port: number) => Promise<boolean>;

/** True when nothing listens on the port on any address (we can bind it ourselves). */
export const probePortFree: PortProbe = (port) =>
  new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '0.0.0.0', exclusive: true }, () => server.close(() => resolve(true)));
  });

export class PortGuard {
  readonly #failed = new Map<number, string>();

  constructor(
    /** Ports of ours (the status address, ...), each with what it is. */
    private readonly reserved: ReadonlyMap<number, string>,
    private readonly probe: PortProbe = probePortFree,
  ) {}

  /** HAProxy could not bind these on reload. */
  noteUnbound(ports: readonly number[], why: string): void {
    for (const p of ports) this.#failed.set(p, why);
  }

  /**
   * Which of `wanted` cannot be used: reserved ones always; ports HAProxy does
   * not listen on yet (`live` does not hold them) when something else holds them.
   */
  async unavailable(wanted: readonly number[], live: ReadonlySet<number>): Promise<Map<number, string>> {
    const out = new Map<number, string>();
    for (const port of new Set(wanted)) {
      const ours = this.reserved.get(port);
      if (ours !== undefined) {
        out.set(port, `it is ${ours}`);
        continue;
      }
      if (live.has(port)) continue;
      if (await this.probe(port)) {
        this.#failed.delete(port);
        continue;
      }
      out.set(port, this.#failed.get(port) ?? 'another process on this host already listens on it');
    }
    return out;
  }
}
