/**
 * The unprivileged user apps and their builds run as when the panel runs as root in local mode,
 * so they cannot read the data dir (the master key, the database, env snapshots) nor the
 * panel's environment. Created on first use when missing.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";

const USERADD_LOCK = existsSync("/run") ? "/run/switchyard-useradd.lock" : "/tmp/switchyard-useradd.lock";

export interface AppUser {
  name: string;
  uid: number;
  gid: number;
  /** HOME of apps and builds: a directory of the data dir the user owns. */
  home: string;
}

const resolved = new Map<string, Promise<{ uid: number; gid: number }>>();

/** Null when the panel does not run as root: apps then run as the panel's own user. */
export async function appUserFor(name: string, dataDir: string): Promise<AppUser | null> {
  if (process.getuid?.() !== 0) return null;
  let pending = resolved.get(name);
  if (!pending) {
    pending = ensureUser(name);
    resolved.set(name, pending);
    // A failure is not remembered: the next deploy tries again.
    pending.catch(() => resolved.delete(name));
  }
  const { uid, gid } = await pending;
  return { name, uid, gid, home: appHome(dataDir) };
}

export function appHome(dataDir: string): string {
  return join(dataDir, "cache", "home");
}

async function command(argv: string[]): Promise<{ code: number; out: string }> {
  const proc = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" } });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, out: `${out}${err}`.trim() };
}

async function lookup(name: string): Promise<{ uid: number; gid: number } | null> {
  const entry = await command(["getent", "passwd", name]);
  if (entry.code !== 0) return null;
  const [, , uid, gid] = entry.out.split("\n")[0]?.split(":") ?? [];
  return { uid: Number(uid), gid: Number(gid) };
}

/**
 * The user's ids, after creating it when missing. Another panel (or a test run) may create it at
 * the same moment: "already exists" and a busy passwd lock are answered by looking again.
 */
async function ensureUser(name: string): Promise<{ uid: number; gid: number }> {
  let last = "";
  for (let attempt = 0; attempt < 10; attempt++) {
    const found = await lookup(name);
    if (found) return checked(name, found);
    // A group of that name (left from an earlier user) is joined rather than refused.
    const group = (await command(["getent", "group", name])).code === 0 ? ["--gid", name] : ["--user-group"];
    // Two useradds at once can each write the passwd file from the same old copy, one losing the
    // other's user: they wait for each other here.
    const made = await command([
      "flock",
      "--wait",
      "30",
      USERADD_LOCK,
      ...["useradd", "--system", ...group, "--no-create-home", "--shell", "/usr/sbin/nologin", name],
    ]);
    if (made.code === 0) continue;
    last = made.out;
    await Bun.sleep(100 + attempt * 100);
  }
  throw new Error(`Could not create the app user ${name} (useradd: ${last || "no answer"}).`);
}

async function checked(name: string, ids: { uid: number; gid: number }): Promise<{ uid: number; gid: number }> {
  if (!Number.isInteger(ids.uid) || !Number.isInteger(ids.gid)) throw new Error(`The passwd entry of ${name} is not readable.`);
  if (ids.uid === 0 || ids.gid === 0)
    throw new Error(`The app user ${name} has uid or gid 0; apps would run as root. Choose another SWITCHYARD_APP_USER.`);
  // Builds and apps run the panel's bun (the `bun` of their PATH): the user must be able to.
  const proc = Bun.spawn([process.execPath, "--version"], {
    uid: ids.uid,
    gid: ids.gid,
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
    cwd: "/",
  });
  const [err, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) {
    throw new Error(
      `The app user ${name} cannot run ${process.execPath}${err.trim() ? ` (${err.trim()})` : ""}: install Bun and Switchyard where every user may read them (for example under /usr/local or /opt), or run the panel in server mode.`,
    );
  }
  return ids;
}
