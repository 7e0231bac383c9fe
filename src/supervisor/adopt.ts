import { readdirSync, readFileSync } from 'node:fs';
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

/** Fields of /proc/PID/stat after the command name ([state, ppid, pgrp, ...]); null once gone. */
function procStat(pid: number): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/**
 * Alive and not a zombie. A process that is not our child (adopted) is reaped
 * by someone else, maybe late: as a zombie it is gone for us already.
 */
export function isRunning(pid: number): boolean {
  if (!isAlive(pid)) return false;
  const stat = procStat(pid);
  return stat === null ? isAlive(pid) : stat[0] !== 'Z';
}

/** The process group `pid` leads, or null when it does not lead one (it shares its parent's). */
export function ownGroup(pid: number): number | null {
  const stat = procStat(pid);
  return stat !== null && Number(stat[2]) === pid ? pid : null;
}

/** Processes of group `pgid` still running (zombies waiting to be reaped do not count). */
export function groupMembers(pgid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (stat !== null && Number(stat[2]) === pgid && stat[0] !== 'Z') pids.push(Number(entry));
  }
  return pids;
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
