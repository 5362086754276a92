/**
 * Which process listens on a TCP port, so `npm start` can name the one process in its way (its pid,
 * command line and directory) instead of suggesting a broad `pkill`, which would also end the DynamoDB
 * Local of every other checkout on the machine.
 *
 * On Linux it reads /proc (no tool needed): the listening sockets of /proc/net/tcp and tcp6 give the
 * socket's inode, and the process holding that inode has it among its /proc/<pid>/fd links. Elsewhere,
 * or when /proc does not show the owner (a process of another user), it asks `lsof`, then `ss`, if present.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** The process that holds a port. */
export interface PortHolder {
  pid: number;
  /** Its command line, arguments separated by spaces; empty when it cannot be read. */
  command: string;
  /** Its working directory (which checkout it runs from), when it can be read. */
  cwd?: string;
}

/** /proc/net/tcp's state of a listening socket. */
const TCP_LISTEN = '0A';

/** Inodes of the sockets listening on `port` in /proc/net/tcp and /proc/net/tcp6 (none without /proc). */
function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const [, local, , state, , , , , , inode] = fields;
      const localPort = local?.split(':').at(-1);
      if (state === TCP_LISTEN && localPort !== undefined && Number.parseInt(localPort, 16) === port && inode)
        inodes.add(inode);
    }
  }
  return inodes;
}

/** The pid whose open files include one of `inodes`' sockets; undefined when no readable process has one. */
function pidHoldingSocket(inodes: Set<string>): number | undefined {
  if (inodes.size === 0) return undefined;
  const links = new Set([...inodes].map((inode) => `socket:[${inode}]`));
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue; // Another user's process, or one that just ended.
    }
    for (const fd of fds) {
      try {
        if (links.has(readlinkSync(`/proc/${entry}/fd/${fd}`))) return Number(entry);
      } catch {
        // The descriptor closed while we looked.
      }
    }
  }
  return undefined;
}

/** The first pid a tool prints, or undefined when the tool is missing or finds none. */
function pidFromTool(file: string, args: string[], pattern: RegExp): number | undefined {
  try {
    const match = execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).match(
      pattern,
    );
    return match?.[1] === undefined ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    try {
      return execFileSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8' }).trim();
    } catch {
      return '';
    }
  }
}

function cwdOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return undefined;
  }
}

/** The process listening on TCP `port`, or undefined when none can be seen (or none listens). */
export function portHolder(port: number): PortHolder | undefined {
  const pid =
    pidHoldingSocket(listeningInodes(port)) ??
    pidFromTool('lsof', ['-nP', `-iTCP:${port}`, '-sTCP:LISTEN', '-t'], /^(\d+)/m) ??
    pidFromTool('ss', ['-ltnpH', `sport = :${port}`], /pid=(\d+)/);
  if (pid === undefined) return undefined;
  const cwd = cwdOf(pid);
  return { pid, command: commandOf(pid), ...(cwd === undefined ? {} : { cwd }) };
}

/**
 * What `npm start` says when `port` (set by `variable`) is taken: the one process holding it, and how to
 * go on without ending anyone else's.
 */
export function portInUseMessage(variable: string, port: number, holder: PortHolder | undefined): string {
  const who =
    holder === undefined
      ? `by a process this user cannot see (ss -ltnp 'sport = :${port}' or lsof -i :${port} as root names it)`
      : `by pid ${holder.pid}: ${holder.command || '(command line unreadable)'}` +
        (holder.cwd === undefined ? '' : ` (in ${holder.cwd})`);
  const stop =
    holder === undefined ? 'Stop it' : `If it is a leftover, stop that one process (kill ${holder.pid})`;
  return (
    `Port ${port} (${variable}) is in use ${who}. Is another npm start running, or one left from a run ` +
    `that was killed? ${stop}, or pick another port, e.g. ${variable}=0 npm start (0 picks a free one).`
  );
}
