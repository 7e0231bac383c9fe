import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// A stand-in for HAProxy's admin socket that speaks its two modes: one command
// then close, or `prompt` (every answer followed by "\n> ") until `quit`. It
// counts connections open at once, records commands in arrival order, and can
// hold answers back until a test releases them.

export type Answerer = (command: string) => string | Promise<string>;

export class FakeAdminSocket {
  readonly dir = mkdtempSync(join(tmpdir(), 'vk-fake-admin-'));
  readonly path = join(this.dir, 'admin.sock');
  /** Commands in the order they arrived. */
  readonly received: string[] = [];
  open = 0;
  peakOpen = 0;
  connections = 0;
  #server: Server | null = null;
  #held: (() => void)[] = [];
  #holding = false;
  #sockets = new Set<Socket>();

  constructor(public answer: Answerer = () => '') {}

  async start(): Promise<this> {
    this.#server = createServer((s) => this.#serve(s));
    await new Promise<void>((resolve, reject) => {
      this.#server!.once('error', reject);
      this.#server!.listen(this.path, () => resolve());
    });
    return this;
  }

  /** From now on answers wait until release(). */
  hold(): void {
    this.#holding = true;
  }

  /** Lets every held answer (and later ones) go. */
  release(): void {
    this.#holding = false;
    for (const go of this.#held.splice(0)) go();
  }

  /** Answers waiting for release(). */
  get heldCount(): number {
    return this.#held.length;
  }

  async stop(): Promise<void> {
    this.release();
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
    rmSync(this.dir, { recursive: true, force: true });
  }

  async #gate(): Promise<void> {
    if (this.#holding) await new Promise<void>((go) => this.#held.push(go));
  }

  #serve(socket: Socket): void {
    this.connections += 1;
    this.open += 1;
    this.peakOpen = Math.max(this.peakOpen, this.open);
    this.#sockets.add(socket);
    // Open, as HAProxy counts it: until the server side ends the exchange (or the client goes).
    let counted = true;
    const uncount = () => {
      if (counted) this.open -= 1;
      counted = false;
    };
    socket.on('finish', uncount);
    socket.on('close', () => {
      uncount();
      this.#sockets.delete(socket);
    });
    socket.on('error', () => {});
    socket.setEncoding('utf8');
    let buffer = '';
    let interactive = false;
    let busy = Promise.resolve();
    let done = false;
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        busy = busy.then(async () => {
          if (done) return;
          if (line === 'prompt') {
            interactive = true;
            socket.write('\n> ');
            return;
          }
          if (line === 'quit') {
            done = true;
            socket.end();
            return;
          }
          this.received.push(line);
          await this.#gate();
          let body: string;
          try {
            body = await this.answer(line);
          } catch {
            // An answerer that throws plays a worker going away mid-exchange.
            done = true;
            socket.destroy();
            return;
          }
          if (interactive) socket.write(`${body}\n> `);
          else {
            done = true;
            socket.end(`${body}\n`);
          }
        });
      }
    });
  }
}

/** Polls `ok` until it holds or the deadline passes. */
export async function until(what: string, ok: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
