import { closeSync, constants, type FSWatcher, fstatSync, ftruncateSync, openSync, readSync, watch } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { lineSplitter } from '../util/lines.js';

// Where a supervised child's stdout and stderr go: one append-only file per
// child in the run dir, which the agent follows (tail -f).
//
// Why a file, not pipes or a FIFO: the child must outlive the agent (a
// restarted agent adopts it) and must never be hurt by the agent's absence.
// - A pipe dies with the agent: the child's next write gets EPIPE/SIGPIPE, and
//   a new agent cannot reach it.
// - A FIFO in the run dir survives, and a new agent can reopen it, but while
//   no agent reads it fills at 64 KiB and then the child's writes block:
//   haproxy's master and workers would stall on a log line. It cannot be made
//   non-blocking for the child either: libuv clears O_NONBLOCK on a child's
//   fds 0-2, and that flag belongs to the shared open file description.
// - A regular file opened O_APPEND never blocks and never fails for lack of
//   a reader; a new agent opens it and goes on from its end, and what the
//   child printed while no agent ran is still there (recentOutput).
// The cost: a line reaches the log up to one poll late (inotify usually makes
// it immediate), and the file is kept small by truncating it once read past
// `maxBytes` (the child's O_APPEND writes then start again at 0); a line the
// child appends in the instant between the last read and the truncation is
// lost.

/** Opens `path` for the child to write to: create, append. The caller closes its copy after spawning. */
export function openForChild(path: string): number {
  return openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
}

export interface OutputFileOptions {
  /** Truncate once read past this many bytes. */
  readonly maxBytes?: number;
  /** Read this often even without an inotify event (a safety net). */
  readonly pollMs?: number;
}

/** Follows one child's output file, line by line, until closed. */
export class OutputFile {
  #fd: number;
  #offset: number;
  #watcher: FSWatcher | null = null;
  #poll: NodeJS.Timeout;
  readonly #feed: (chunk: string) => void;
  /** A character split between two reads is decoded whole. */
  readonly #decoder = new StringDecoder('utf8');
  readonly #maxBytes: number;
  readonly #buffer = Buffer.alloc(64 * 1024);

  /**
   * `fresh`: a new child is about to be started: empty the file and read it all.
   * Otherwise (adopting a running child) reading starts at the current end.
   */
  constructor(
    readonly path: string,
    onLine: (line: string) => void,
    fresh: boolean,
    options: OutputFileOptions = {},
  ) {
    this.#maxBytes = options.maxBytes ?? 1024 * 1024;
    this.#fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o600);
    if (fresh) ftruncateSync(this.#fd, 0);
    this.#offset = fstatSync(this.#fd).size;
    this.#feed = lineSplitter(onLine);
    try {
      this.#watcher = watch(path, () => this.drain());
      this.#watcher.on('error', () => undefined);
      this.#watcher.unref();
    } catch {
      // No inotify (watch limit reached): the poll alone follows the file.
    }
    this.#poll = setInterval(() => this.drain(), options.pollMs ?? (this.#watcher ? 1000 : 200));
    this.#poll.unref();
  }

  /** The last lines already in the file (what a child printed before it was adopted). */
  history(maxLines: number): string[] {
    const length = Math.min(this.#offset, 16 * 1024);
    const buffer = Buffer.alloc(length);
    const read = readSync(this.#fd, buffer, 0, length, this.#offset - length);
    const lines = buffer.subarray(0, read).toString().split('\n');
    if (length < this.#offset) lines.shift(); // cut in the middle of a line
    return lines.filter((l) => l.trim() !== '').slice(-maxLines);
  }

  /** Reads everything new now. Synchronous: a read and the truncation that may follow sit back to back. */
  drain(): void {
    if (this.#fd < 0) return;
    try {
      if (fstatSync(this.#fd).size < this.#offset) this.#offset = 0; // truncated by someone else
      for (;;) {
        const n = readSync(this.#fd, this.#buffer, 0, this.#buffer.length, this.#offset);
        if (n === 0) break;
        this.#offset += n;
        this.#feed(this.#decoder.write(this.#buffer.subarray(0, n)));
      }
      if (this.#offset >= this.#maxBytes) {
        ftruncateSync(this.#fd, 0);
        this.#offset = 0;
      }
    } catch {
      // A read error on a local file: try again at the next event or poll.
    }
  }

  /** Reads what is left, then stops following. */
  close(): void {
    if (this.#fd < 0) return;
    this.drain();
    clearInterval(this.#poll);
    this.#watcher?.close();
    closeSync(this.#fd);
    this.#fd = -1;
  }
}
