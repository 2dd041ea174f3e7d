/**
 * The panel's own blue-green slots on a server, the only code that touches them:
 *
 *   <root>/releases/<revision>/     one directory per installed version (`.revision`, `.installed`)
 *   <root>/slots/<blue|green>       symlink to the release that slot's unit runs
 *   <data>/sock/panel-<color>.sock  where switchyard@<color>.service listens
 *   <data>/sock/panel.sock          symlink to the live slot's socket: nginx's upstream
 *   <data>/sock/panel-standby.sock  symlink to the other slot's socket: nginx's backup server
 *   <data>/panel/source.git         a bare copy of the update source (what is available, the changelog)
 *
 * The switch replaces the panel.sock symlink (no nginx reload), as an app's switch does.
 */
import { existsSync, mkdirSync, readdirSync, readlinkSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { gitEnv } from "../commands/git.ts";
import type { Config } from "../config.ts";
import {
  type KeptRelease,
  LOG_FORMAT,
  otherSlot,
  type PanelSlot,
  parseLog,
  REVISION_PATTERN,
  type SourceCommit,
} from "../domain/panel-update.ts";
import { run, runChecked, type Stream } from "./exec.ts";
import { replaceSymlink } from "./files.ts";
import { HelperError, type Privilege, processPrivilege } from "./privilege.ts";

export type PanelServiceVerb = "start" | "stop" | "restart" | "enable" | "disable";

export interface PanelHealth {
  ok: boolean;
  revision: string | null;
  message: string;
}

export interface PanelHost {
  /** Why this panel cannot update itself, or null when it can. */
  readonly unsupported: string | null;
  readonly releasesDir: string;
  liveSlot(): PanelSlot | null;
  slotRevision(slot: PanelSlot): string | null;
  releases(): KeptRelease[];
  isInstalled(revision: string): boolean;
  /** Records that a release's install and build finished (what isInstalled checks). */
  markInstalled(revision: string): void;
  /** The release has its own Bun (its dependencies were installed). */
  isComplete(revision: string): boolean;
  pointSlot(slot: PanelSlot, revision: string): void;
  /** Moves the panel's traffic: nginx opens new connections to this slot's socket from now on. */
  switchTraffic(slot: PanelSlot): void;
  service(verb: PanelServiceVerb, slot: PanelSlot): Promise<void>;
  status(slot: PanelSlot): Promise<{ active: boolean; restarts: number }>;
  /** GET /api/v1/health on one slot's own socket. */
  health(slot: PanelSlot): Promise<PanelHealth>;
  /** GET /api/v1/health through nginx, as a browser reaches the panel. */
  healthThroughProxy(): Promise<PanelHealth>;
  removeRelease(revision: string): void;
  /** Fetches the update source's branch; returns its newest commit's full sha. */
  fetchSource(options?: { signal?: AbortSignal; onLine?: (stream: Stream, line: string) => void }): Promise<string>;
  /** Commits after `from` up to the branch tip, newest first (the last 20 when `from` is unknown). */
  changelog(from: string | null): Promise<SourceCommit[]>;
  /** The full sha of a revision the source copy knows, or null. */
  resolve(revision: string): Promise<string | null>;
  /** Writes the files of `sha` into a new release directory (with its `.revision`). */
  exportRelease(sha: string): Promise<string>;
}

export function panelUnit(slot: PanelSlot): string {
  return `switchyard@${slot}.service`;
}

export function createPanelHost(config: Config, privilege: Privilege = processPrivilege()): PanelHost {
  const root = config.panel.root;
  const releasesDir = join(root, "releases");
  const slotsDir = join(root, "slots");
  const sockDir = join(config.dataDir, "sock");
  const liveLink = join(sockDir, "panel.sock");
  const standbyLink = join(sockDir, "panel-standby.sock");
  const sourceRepo = join(config.dataDir, "panel", "source.git");
  const slotSocket = (slot: PanelSlot) => join(sockDir, `panel-${slot}.sock`);
  const source = config.panel.updateSource;
  const branch = config.panel.updateBranch;
  const asRoot = privilege.root;
  /** A helper verb's result; a refusal by the helper itself is thrown. */
  const helper = async (args: string[]) => {
    try {
      return await privilege.helper(args);
    } catch (error) {
      if (error instanceof HelperError && !error.refused) return error.result;
      throw error;
    }
  };

  const unsupported =
    config.mode !== "server"
      ? "Self-update works on a server installed with install.sh, where the panel runs in blue and green slots. Locally, pull the new code and restart `npm start`."
      : !config.panel.slot
        ? "This panel was not started as one of the panel's slots (switchyard@blue or switchyard@green); run install.sh again to set them up."
        : !source
          ? "No update source is configured: set SWITCHYARD_UPDATE_SOURCE in /etc/switchyard/switchyard.env (install.sh writes the --source it was given)."
          : null;

  const readLink = (path: string): string | null => {
    try {
      return readlinkSync(path);
    } catch {
      return null;
    }
  };

  const git = (args: string[], options: { signal?: AbortSignal; onLine?: (stream: Stream, line: string) => void } = {}) =>
    runChecked(["git", `--git-dir=${sourceRepo}`, ...args], {
      env: { ...process.env, ...gitEnv() },
      timeoutMs: 600_000,
      ...options,
    });

  const health = async (url: string, init: RequestInit & { unix?: string; tls?: { rejectUnauthorized: boolean } }) => {
    try {
      const res = await fetch(url, { ...init, redirect: "manual", signal: AbortSignal.timeout(3_000) });
      const body = (await res.json().catch(() => null)) as { status?: string; revision?: string | null } | null;
      const ok = res.status === 200 && body?.status === "ok";
      return { ok, revision: body?.revision ?? null, message: ok ? "healthy" : `answered ${res.status}` };
    } catch (error) {
      return { ok: false, revision: null, message: (error as Error).message };
    }
  };

  const resolve = async (revision: string): Promise<string | null> => {
    if (!REVISION_PATTERN.test(revision) || !existsSync(join(sourceRepo, "HEAD"))) return null;
    const result = await run(["git", `--git-dir=${sourceRepo}`, "rev-parse", "--verify", "-q", `${revision}^{commit}`], {
      capture: true,
      env: { ...process.env, ...gitEnv() },
    });
    return result.code === 0 ? result.stdout.trim() : null;
  };

  return {
    unsupported,
    releasesDir,
    liveSlot() {
      const target = readLink(liveLink);
      const m = target ? /panel-(blue|green)\.sock$/.exec(target) : null;
      return (m?.[1] as PanelSlot | undefined) ?? null;
    },
    slotRevision(slot) {
      const target = readLink(join(slotsDir, slot));
      return target ? basename(target) : null;
    },
    releases() {
      if (!existsSync(releasesDir)) return [];
      return readdirSync(releasesDir)
        .filter((name) => REVISION_PATTERN.test(name) && existsSync(join(releasesDir, name, ".installed")))
        .map((name) => ({ revision: name, installedAt: statSync(join(releasesDir, name, ".installed")).mtime }));
    },
    isInstalled: (revision) => REVISION_PATTERN.test(revision) && existsSync(join(releasesDir, revision, ".installed")),
    markInstalled: (revision) => writeFileSync(join(releasesDir, revision, ".installed"), `${new Date().toISOString()}\n`),
    isComplete: (revision) => REVISION_PATTERN.test(revision) && existsSync(join(releasesDir, revision, "node_modules", ".bin", "bun")),
    pointSlot(slot, revision) {
      mkdirSync(slotsDir, { recursive: true });
      replaceSymlink(join(slotsDir, slot), join(releasesDir, revision));
    },
    switchTraffic(slot) {
      // The other slot first becomes nginx's fallback, then the live link moves.
      replaceSymlink(standbyLink, basename(slotSocket(otherSlot(slot))));
      replaceSymlink(liveLink, basename(slotSocket(slot)));
    },
    async service(verb, slot) {
      const result = asRoot
        ? await run(["systemctl", verb, panelUnit(slot)], { capture: true, timeoutMs: 120_000 })
        : await helper(["panel", verb, slot]);
      if (result.code !== 0) throw new Error(`${verb} ${panelUnit(slot)} failed: ${(result.stderr || result.stdout).trim()}`);
    },
    async status(slot) {
      const result = asRoot
        ? await run(["systemctl", "show", panelUnit(slot), "--property=ActiveState,NRestarts"], { capture: true })
        : await helper(["panel", "show", slot]);
      if (result.code !== 0) throw new Error(`show ${panelUnit(slot)} failed: ${(result.stderr || result.stdout).trim()}`);
      const value = (key: string) => new RegExp(`^${key}=(.*)$`, "m").exec(result.stdout)?.[1] ?? "";
      return { active: value("ActiveState") === "active", restarts: Number(value("NRestarts")) || 0 };
    },
    health: (slot) => health("http://localhost/api/v1/health", { unix: slotSocket(slot) }),
    async healthThroughProxy() {
      const plain = await health(`http://127.0.0.1:${config.proxyPort}/api/v1/health`, {});
      if (plain.ok || !/answered 30[18]/.test(plain.message)) return plain;
      // The panel is on https (port 80 redirects): ask there, for whatever name the certificate has.
      return health("https://127.0.0.1/api/v1/health", { tls: { rejectUnauthorized: false } });
    },
    removeRelease(revision) {
      if (!REVISION_PATTERN.test(revision)) throw new Error(`not a revision: ${revision}`);
      rmSync(join(releasesDir, revision), { recursive: true, force: true });
    },
    async fetchSource(options = {}) {
      if (!source) throw new Error("no update source is configured");
      if (!existsSync(join(sourceRepo, "HEAD"))) {
        mkdirSync(sourceRepo, { recursive: true });
        await runChecked(["git", "init", "-q", "--bare", sourceRepo], { env: { ...process.env, ...gitEnv() } });
      }
      // A local source belongs to another user (root, who ran install.sh): git refuses to serve
      // it unless told it is safe, and the local transport drops `-c` settings on the way.
      await git(
        [
          "fetch",
          "--upload-pack",
          "git -c safe.directory=* upload-pack",
          "--prune",
          "--force",
          "--tags",
          "--",
          source,
          `+refs/heads/${branch}:refs/heads/${branch}`,
        ],
        options,
      );
      return (await git(["rev-parse", `refs/heads/${branch}`])).stdout.trim();
    },
    async changelog(from) {
      const known = from ? await resolve(from) : null;
      const range = known ? [`${known}..refs/heads/${branch}`, "-n", "100"] : [`refs/heads/${branch}`, "-n", "20"];
      return parseLog((await git(["log", `--format=${LOG_FORMAT}`, ...range])).stdout);
    },
    resolve,
    async exportRelease(sha) {
      const revision = sha.slice(0, 12);
      const dir = join(releasesDir, revision);
      const building = join(releasesDir, `.${revision}.partial`);
      rmSync(building, { recursive: true, force: true });
      mkdirSync(building, { recursive: true });
      const tar = join(releasesDir, `.${revision}.tar`);
      try {
        await git(["archive", "--format=tar", "-o", tar, sha]);
        await runChecked(["tar", "-xf", tar, "-C", building]);
      } finally {
        rmSync(tar, { force: true });
      }
      writeFileSync(join(building, ".revision"), `${revision}\n`);
      rmSync(dir, { recursive: true, force: true });
      renameSync(building, dir);
      return dir;
    },
  };
}
