import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import type { Actor } from '../operator/operator-state.js';

// Who is on the other end of a control socket connection: the kernel's
// SO_PEERCRED (pid, uid, gid of the process that connected), which no one can
// forge. Node has no API for it, so a tiny helper asks: the connection's file
// descriptor is handed to `perl` (perl-base is Essential in Debian, so it is on
// every Debian host and in the node:*-bookworm images) as its stdin, and perl's
// own Socket module calls getsockopt on it. It reads nothing from the socket.
// Considered and not taken: matching inodes in /proc/net/unix (it does not say
// which socket is a connection's peer: only the sock_diag netlink does, which
// Node cannot speak), and npm packages with a native getsockopt (a compiler at
// install time, and none is well kept). One fork per operator action is cheap.

const PEERCRED = 'use Socket; my $c = getsockopt(STDIN, SOL_SOCKET, SO_PEERCRED) or die "getsockopt: $!\\n"; my ($pid, $uid, $gid) = unpack("iII", $c); print "$pid $uid $gid\\n";';

export interface PeerCredentials extends Actor {
  /** Why uid/pid are unknown, when they are. */
  readonly problem: string | null;
}

export type PeerLookup = (socket: Socket) => Promise<PeerCredentials>;

/** `perl`'s answer -> pid, uid. Pure. */
export function parsePeerCred(output: string): { pid: number; uid: number } | null {
  const m = /^(\d+) (\d+) (\d+)\s*$/.exec(output);
  return m ? { pid: Number(m[1]), uid: Number(m[2]) } : null;
}

export const peerCredentials: PeerLookup = async (socket) => {
  let output: string;
  try {
    output = await new Promise<string>((resolve, reject) => {
      const child = spawn('perl', ['-e', PEERCRED], { stdio: [socket, 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(err.trim() || `perl exited ${code}`))));
    }).finally(() => {
      // Handing a socket to a child stops Node reading it (spawn pauses a stream it shares):
      // read again, or the next request on this keep-alive connection is never seen.
      if (!socket.destroyed) socket.resume();
    });
  } catch (err) {
    return { uid: null, pid: null, command: null, problem: `SO_PEERCRED could not be read: ${(err as Error).message}` };
  }
  const cred = parsePeerCred(output);
  if (!cred) return { uid: null, pid: null, command: null, problem: `SO_PEERCRED: unexpected answer ${JSON.stringify(output.slice(0, 80))}` };
  const command = await readFile(`/proc/${cred.pid}/comm`, 'utf8').then((c) => c.trim(), () => null);
  return { uid: cred.uid, pid: cred.pid, command, problem: null };
};
