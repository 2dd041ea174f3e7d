/**
 * Who listens on a TCP port: the health check must prove that the answer comes from the slot's
 * own process, not from whatever else bound the port first.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

interface Listener {
  inode: string;
  uid: number;
}

function hexPort(port: number): string {
  return port.toString(16).toUpperCase().padStart(4, "0");
}

/** The listening sockets on `port` (any address), from /proc/net/tcp and tcp6. */
function listeners(port: number): Listener[] {
  const out: Listener[] = [];
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address, rem_address, st (0A = LISTEN), …, uid (7), …, inode (9)
      if (f.length < 10 || f[3] !== "0A" || !f[1]?.endsWith(`:${hexPort(port)}`)) continue;
      out.push({ inode: f[9] as string, uid: Number(f[7]) });
    }
  }
  return out;
}

/** `root` and every process below it (from /proc/<pid>/stat, readable for any user's processes). */
function processTree(root: number): Set<number> {
  const parents = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      parents.set(pid, Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {}
  }
  const tree = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, ppid] of parents) {
      if (!tree.has(pid) && tree.has(ppid)) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  return tree;
}

function uidOf(pid: number): number | null {
  try {
    const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export type ListenerCheck = { ok: true; how: "process" | "user" } | { ok: false; why: string };

/**
 * Does the process tree under `root` hold the socket listening on `port`? Where the tree's file
 * descriptors can be read (the same user, or root) that is checked exactly; otherwise (a server's
 * apps run as their own user) the socket's owner must at least be the tree's user.
 */
export function checkListener(port: number, root: number): ListenerCheck {
  const found = listeners(port);
  if (found.length === 0) return { ok: false, why: `nothing listens on port ${port}` };
  // Most apps hold the socket in their own main process: look there before walking the whole tree.
  const holds = (pid: number): boolean | null => {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      return null;
    }
    for (const fd of fds) {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (found.some((l) => target === `socket:[${l.inode}]`)) return true;
      } catch {}
    }
    return false;
  };
  if (holds(root)) return { ok: true, how: "process" };
  const tree = processTree(root);
  let readable = false;
  for (const pid of tree) {
    const held = holds(pid);
    if (held === null) continue;
    readable = true;
    if (held) return { ok: true, how: "process" };
  }
  if (readable) return { ok: false, why: `port ${port} is held by another process, not the slot's` };
  const uid = uidOf(root);
  if (uid !== null && found.every((l) => l.uid === uid)) return { ok: true, how: "user" };
  return { ok: false, why: `port ${port} is held by another user's process, not the slot's` };
}
