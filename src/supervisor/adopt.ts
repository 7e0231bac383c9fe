import { readFile } from 'node:fs/promises';

// Finding a child an earlier agent left running (the agent crashed or was
// killed alone), so a restarted agent keeps it instead of starting a second
// one: a keepalived kept is a VIP that does not move.

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid in `pidFile`, if that process runs and its command line names `mustMention`. */
export async function findAdoptable(pidFile: string, mustMention: string): Promise<number | null> {
  try {
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    if (!Number.isInteger(pid) || pid <= 1 || !isAlive(pid)) return null;
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    return cmdline.includes(mustMention) ? pid : null;
  } catch {
    return null;
  }
}
