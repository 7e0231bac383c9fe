import { spawn, type ChildProcess } from 'node:child_process';
import { lineSplitter } from '../util/lines.js';

// VRRP adverts this node receives, through tcpdump: who is master now, even
// while our own keepalived is stopped. Without tcpdump the new master stays
// unknown, which the report says.

export interface Advert {
  readonly at: number;
  readonly source: string;
  readonly vrid: number;
  readonly priority: number;
}

/** One line of `tcpdump -n -l 'ip proto 112'` -> an advert, or null. Pure. */
export function parseAdvertLine(line: string, at: number): Advert | null {
  const m = /IP (\d+\.\d+\.\d+\.\d+) > \S+: VRRPv[23], Advertisement, vrid (\d+), prio (\d+)/.exec(line);
  return m ? { at, source: m[1]!, vrid: Number(m[2]), priority: Number(m[3]) } : null;
}

export class AdvertWatch {
  readonly adverts: Advert[] = [];
  #child: ChildProcess | null = null;
  available = true;
  #ready: Promise<void> = Promise.resolve();

  constructor(private readonly iface: string) {}

  /** Resolves once tcpdump listens (it says so on stderr), or it failed (available is then false), or after `timeoutMs`. */
  ready(): Promise<void> {
    return this.#ready;
  }

  start(timeoutMs = 2000): void {
    const child = spawn('tcpdump', ['-n', '-l', '-i', this.iface, 'ip proto 112'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    let listening = false;
    this.#ready = new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      child.stderr?.on('data', (d: Buffer) => {
        if (/listening on/.test(d.toString())) {
          listening = true;
          done();
        }
      });
      child.on('error', () => {
        this.available = false;
        done();
      });
      child.on('exit', () => {
        if (!listening) this.available = false;
        done();
      });
    });
    child.stdout?.on(
      'data',
      lineSplitter((line) => {
        const a = parseAdvertLine(line, Date.now());
        if (a) this.adverts.push(a);
      }),
    );
  }

  stop(): void {
    this.#child?.kill('SIGTERM');
  }
}
