import type { FSWatcher } from 'chokidar';
import type { Logger } from '../log.js';

// The files the agent follows while it runs (user templates, the VRRP password
// file, the engines' TLS certificates), through chokidar. A watcher error
// (ENOSPC: too many inotify watches, EACCES) is logged and costs only the
// following of files; the periodic resync still picks changes up.
// chokidar is loaded only when there is something to follow: by default nothing
// is (no template dir, password file or engine certificates), and an agent that
// watches nothing keeps none of chokidar's code in memory.

export interface FileWatch {
  close(): Promise<void>;
}

export interface WatchOptions {
  readonly paths: readonly string[];
  readonly onChange: (path: string) => void;
  readonly log: Logger;
  /** Wait for a write to settle before reporting it (ms). */
  readonly stabilityMs?: number;
}

export async function watchFiles(o: WatchOptions): Promise<FileWatch> {
  if (o.paths.length === 0) return { close: async () => undefined };
  const { watch } = await import('chokidar');
  const watcher: FSWatcher = watch([...o.paths], {
    ignoreInitial: true,
    awaitWriteFinish: { stabilityThreshold: o.stabilityMs ?? 100, pollInterval: 50 },
  });
  watcher.on('error', (err) => {
    o.log.error({ err, paths: o.paths }, 'watching files failed; changes are picked up by the periodic resync instead');
  });
  watcher.on('all', (_event, path) => {
    try {
      o.onChange(path);
    } catch (err) {
      o.log.error({ err, path }, 'a watched file changed but handling it failed');
    }
  });
  await new Promise<void>((resolve) => {
    watcher.once('ready', () => resolve());
    watcher.once('error', () => resolve());
  });
  return { close: () => watcher.close() };
}
