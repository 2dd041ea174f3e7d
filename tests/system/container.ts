/**
 * A fresh Debian 12 machine for the system tests: a debootstrap root (built once, cached under
 * /var/cache/switchyard-test), copied per run and booted with systemd-nspawn, so real systemd,
 * sudo, nginx and PostgreSQL behave as on a new VPS. The container has its own network (a veth
 * pair with NAT), so its ports 80, 3000 and 5432 never meet the host's.
 */
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { withFileLock } from "../helpers/lock.ts";

export const CACHE_DIR = process.env.SWITCHYARD_TEST_CACHE ?? "/var/cache/switchyard-test";
const SUITE = "bookworm";
/** In the base root: what systemd-nspawn -b needs, plus the installer's packages, downloaded (not installed) so runs need not fetch them. */
const BOOT_PACKAGES = ["systemd", "systemd-sysv", "dbus", "iproute2", "ca-certificates"];
const PREFETCH = [
  "nginx",
  "postgresql",
  "git",
  "certbot",
  "python3-certbot-dns-rfc2136",
  "python3-certbot-dns-cloudflare",
  "nodejs",
  "npm",
  "sudo",
  "curl",
  "unzip",
  "logrotate",
  // Not installed by install.sh: the tests' own ACME test CA and DNS server.
  "pebble",
];

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Why the system tests cannot run here, or null when they can. */
export function missingPrerequisite(): string | null {
  if (process.getuid?.() !== 0) return "they need root";
  for (const tool of ["debootstrap", "systemd-nspawn", "nsenter", "ip", "nft"]) {
    if (!Bun.which(tool) && !existsSync(`/usr/sbin/${tool}`)) return `${tool} is not installed`;
  }
  return null;
}

async function run(
  argv: string[],
  options: { env?: Record<string, string>; stdin?: string; timeoutMs?: number } = {},
): Promise<ExecResult> {
  const started = performance.now();
  const proc = Bun.spawn(argv, {
    env: options.env ?? (process.env as Record<string, string>),
    stdin: options.stdin === undefined ? "ignore" : new Blob([options.stdin]),
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = options.timeoutMs ? setTimeout(() => proc.kill("SIGKILL"), options.timeoutMs) : null;
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (timer) clearTimeout(timer);
  return { code, stdout, stderr, ms: Math.round(performance.now() - started) };
}

async function must(argv: string[], options: Parameters<typeof run>[1] = {}): Promise<ExecResult> {
  const result = await run(argv, options);
  if (result.code !== 0)
    throw new Error(`${argv.join(" ")} exited ${result.code}: ${(result.stderr || result.stdout).trim().slice(-2000)}`);
  return result;
}

function debianMirror(): string {
  if (process.env.SWITCHYARD_TEST_DEBIAN_MIRROR) return process.env.SWITCHYARD_TEST_DEBIAN_MIRROR;
  for (const file of ["/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"]) {
    if (!existsSync(file)) continue;
    const m = /(?:URIs:|^deb)\s+(https?:\/\/\S+\/debian)\/?(?:\s|$)/m.exec(readFileSync(file, "utf8"));
    if (m?.[1]) return m[1];
  }
  return "http://deb.debian.org/debian";
}

/**
 * Removes a directory tree that a container or debootstrap may have mounted things inside (a
 * container's /dev can be the host's devtmpfs): everything mounted below is unmounted first, and
 * rm never crosses into another file system, so the host's /dev or /proc cannot be emptied.
 */
export function removeTree(path: string): void {
  if (!existsSync(path)) return;
  const mounts = readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .map((line) => (line.split(" ")[1] ?? "").replace(/\\040/g, " "))
    .filter((m) => m === path || m.startsWith(`${path}/`))
    .sort((a, b) => b.length - a.length);
  for (const mount of mounts) Bun.spawnSync(["umount", "--lazy", mount]);
  const rm = Bun.spawnSync(["rm", "-rf", "--one-file-system", "--", path], { stderr: "pipe" });
  if (rm.exitCode !== 0) throw new Error(`could not remove ${path}: ${rm.stderr.toString().trim()}`);
}

/**
 * The cached base root. The host's trusted CAs are added to it, so TLS the host trusts (its
 * package proxy, say) is trusted inside too.
 */
export async function baseRoot(log: (line: string) => void = console.log): Promise<string> {
  const key = createHash("sha256")
    .update(JSON.stringify([SUITE, BOOT_PACKAGES, PREFETCH, 1]))
    .digest("hex")
    .slice(0, 10);
  const root = join(CACHE_DIR, `${SUITE}-${key}`);
  if (existsSync(join(root, ".complete"))) return root;
  mkdirSync(CACHE_DIR, { recursive: true });
  // Another run may be building it right now: wait for it, then use what it built.
  return withFileLock(`${root}.lock`, async () => {
    if (existsSync(join(root, ".complete"))) return root;
    await buildBaseRoot(root, log);
    return root;
  });
}

async function buildBaseRoot(root: string, log: (line: string) => void): Promise<void> {
  const building = `${root}.building`;
  removeTree(building);
  const started = performance.now();
  log(`system: building the ${SUITE} base root in ${root} (once; later runs reuse it)`);
  await must(["debootstrap", "--variant=minbase", `--include=${BOOT_PACKAGES.join(",")}`, SUITE, building, debianMirror()], {
    timeoutMs: 900_000,
  });
  const hostCa = "/etc/ssl/certs/ca-certificates.crt";
  if (existsSync(hostCa)) {
    cpSync(hostCa, join(building, "usr/local/share/ca-certificates/switchyard-test-host.crt"));
    await must(["chroot", building, "update-ca-certificates"]);
  }
  const env = { ...(process.env as Record<string, string>), DEBIAN_FRONTEND: "noninteractive", LC_ALL: "C" };
  rmSync(join(building, "etc/resolv.conf"), { force: true });
  cpSync("/etc/resolv.conf", join(building, "etc/resolv.conf"));
  await must(["chroot", building, "apt-get", "update", "-qq"], { env, timeoutMs: 300_000 });
  await must(["chroot", building, "apt-get", "install", "-y", "-qq", "--download-only", ...PREFETCH], { env, timeoutMs: 900_000 });
  writeFileSync(join(building, ".complete"), `${new Date().toISOString()}\n`);
  removeTree(root);
  renameSync(building, root);
  log(`system: base root ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

export interface Container {
  /** The container's root directory, seen from the host. */
  readonly root: string;
  /** Its address on the private link; the host reaches its nginx at http://<ip>/. */
  readonly ip: string;
  readonly leader: number;
  /** Runs a command in every namespace of the container, as root, with a clean environment. */
  exec(argv: string[], options?: { env?: Record<string, string>; stdin?: string; timeoutMs?: number }): Promise<ExecResult>;
  /** Like exec, but a non-zero exit throws with the command's output. */
  sh(script: string, options?: { env?: Record<string, string>; timeoutMs?: number }): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Each booted container takes a /30 of 10.231.0.0/16 of its own: a claim is a directory made
 * atomically (mkdir), holding the claiming process's pid, so two suites on one machine never pick
 * the same one; a claim whose process is gone is taken over.
 */
const NET_CLAIMS = "/run/switchyard-test-net";

function claimSubnet(): number {
  mkdirSync(NET_CLAIMS, { recursive: true });
  for (let attempt = 0; attempt < 1000; attempt++) {
    const subnet = 1 + Math.floor(Math.random() * 250);
    const dir = join(NET_CLAIMS, String(subnet));
    try {
      mkdirSync(dir);
    } catch {
      let owner = 0;
      try {
        owner = Number(readFileSync(join(dir, "pid"), "utf8").trim() || "0");
      } catch {}
      // Being claimed this instant (no pid yet), or held by a live process: another one.
      if (owner && !existsSync(`/proc/${owner}`)) rmSync(dir, { recursive: true, force: true });
      continue;
    }
    writeFileSync(join(dir, "pid"), `${process.pid}\n`);
    return subnet;
  }
  throw new Error("no free test subnet in 10.231.0.0/16");
}

/** Gives the subnet back; resolves with how many other claims are still held. */
function releaseSubnet(subnet: number): number {
  rmSync(join(NET_CLAIMS, String(subnet)), { recursive: true, force: true });
  return readdirSync(NET_CLAIMS).filter((e) => /^\d+$/.test(e)).length;
}

const CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Copies the base root and boots it; resolves once systemd says the system is up. */
export async function bootContainer(base: string): Promise<Container> {
  const work = mkdtempSync("/var/tmp/sy-system-");
  const root = join(work, "root");
  await must(["cp", "-a", "--reflink=auto", base, root]);
  const subnet = claimSubnet();
  const hostIp = `10.231.${subnet}.1`;
  const ip = `10.231.${subnet}.2`;
  const name = `sy${subnet}x${Math.floor(Math.random() * 1000)}`;
  writeFileSync(join(root, "etc/hostname"), `${name}\n`);
  const nspawn = Bun.spawn(
    ["systemd-nspawn", "-D", root, "-M", name, "--keep-unit", "--register=no", "-b", "--network-veth", "--resolv-conf=copy-host"],
    { stdin: "ignore", stdout: Bun.file(join(work, "console.log")), stderr: "pipe" },
  );
  const table = `sy_system_${subnet}`;
  const forwardFile = "/proc/sys/net/ipv4/ip_forward";
  // The first run to claim a subnet records ip_forward as it was; the last one to leave puts it back.
  const forwardBefore = existsSync(join(NET_CLAIMS, "forward-before"))
    ? readFileSync(join(NET_CLAIMS, "forward-before"), "utf8").trim()
    : readFileSync(forwardFile, "utf8").trim();
  writeFileSync(join(NET_CLAIMS, "forward-before"), `${forwardBefore}\n`);
  let leader = 0;

  const exec: Container["exec"] = (argv, options = {}) =>
    run(
      [
        "nsenter",
        "-t",
        String(leader),
        "-a",
        "--",
        "/usr/bin/env",
        "-i",
        `PATH=${CONTAINER_PATH}`,
        "HOME=/root",
        "LANG=C.UTF-8",
        ...Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`),
        ...argv,
      ],
      options,
    );
  const sh: Container["sh"] = async (script, options = {}) => {
    const result = await exec(["bash", "-c", script], options);
    if (result.code !== 0)
      throw new Error(`in the container: ${script}\nexit ${result.code}\n${result.stdout}\n${result.stderr}`.slice(-4000));
    return result.stdout;
  };
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    nspawn.kill("SIGTERM"); // systemd-nspawn turns it into an orderly poweroff
    let timer: ReturnType<typeof setTimeout> | undefined;
    const exited = await Promise.race([
      nspawn.exited.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), 30_000);
      }),
    ]);
    clearTimeout(timer);
    if (!exited) {
      nspawn.kill("SIGKILL");
      if (leader) await run(["kill", "-KILL", String(leader)]);
      await nspawn.exited;
    }
    await run(["nft", "delete", "table", "ip", table]);
    if (releaseSubnet(subnet) === 0) {
      writeFileSync(forwardFile, `${forwardBefore}\n`);
      rmSync(join(NET_CLAIMS, "forward-before"), { force: true });
    }
    // Never delete through a mount (a bind-mounted /dev would take the host's device nodes with it).
    const mounted = readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .some((l) => l.split(" ")[4]?.startsWith(`${work}/`));
    if (mounted) console.warn(`system: ${work} still has something mounted in it; left in place`);
    else if (process.env.SWITCHYARD_TEST_KEEP !== "1") rmSync(work, { recursive: true, force: true });
  };

  try {
    const deadline = Date.now() + 60_000;
    while (!leader) {
      if (nspawn.exitCode !== null) throw new Error(`systemd-nspawn exited: ${await new Response(nspawn.stderr).text()}`);
      if (Date.now() > deadline) throw new Error("the container did not start");
      const children = (await run(["ps", "-o", "pid=", "--ppid", String(nspawn.pid)])).stdout.trim().split(/\s+/).filter(Boolean);
      for (const pid of children) {
        // A short-lived child may be gone by the time its files are read.
        const read = (file: string) => {
          try {
            return readFileSync(`/proc/${pid}/${file}`, "utf8");
          } catch {
            return "";
          }
        };
        if (read("cmdline").startsWith("/usr/lib/systemd/systemd") || read("comm").trim() === "systemd") leader = Number(pid);
      }
      if (!leader) await Bun.sleep(100);
    }
    // "running" or "degraded" (a unit that fails in a container is no concern here); empty while it cannot answer yet.
    while (!/running|degraded/.test((await exec(["systemctl", "is-system-running", "--wait"], { timeoutMs: 60_000 })).stdout)) {
      if (Date.now() > deadline) throw new Error("systemd in the container did not come up");
      await Bun.sleep(200);
    }
    const veth = `ve-${name}`.slice(0, 15);
    await must(["ip", "addr", "add", `${hostIp}/30`, "dev", veth]);
    await must(["ip", "link", "set", veth, "up"]);
    await sh(`ip addr add ${ip}/30 dev host0 && ip link set host0 up && ip route add default via ${hostIp}`);
    writeFileSync(forwardFile, "1\n");
    await must(["nft", "add", "table", "ip", table]);
    await must(["nft", "add", "chain", "ip", table, "post", "{ type nat hook postrouting priority 100; }"]);
    await must(["nft", "add", "rule", "ip", table, "post", "ip", "saddr", `${ip}/32`, "masquerade"]);
  } catch (error) {
    await stop();
    throw error;
  }
  return { root, ip, leader, exec, sh, stop };
}

/**
 * Copies the checkout's files (tracked and new, not ignored: no node_modules, no build output)
 * into the container and commits them there, so the installer sees a plain git checkout.
 */
export async function copyCheckout(checkout: string, container: Container, to: string): Promise<void> {
  const files = (await must(["git", "-C", checkout, "ls-files", "-z", "--cached", "--others", "--exclude-standard"])).stdout
    .split("\0")
    .filter((f) => f && existsSync(join(checkout, f)));
  const dest = join(container.root, to);
  for (const file of files) {
    mkdirSync(dirname(join(dest, file)), { recursive: true });
    cpSync(join(checkout, file), join(dest, file), { preserveTimestamps: true });
  }
  const git = (args: string[]) =>
    must(["git", "-C", dest, "-c", "user.name=Switchyard tests", "-c", "user.email=tests@switchyard.invalid", ...args]);
  await git(["init", "-q", "-b", "main"]);
  await git(["add", "-A"]);
  await git(["commit", "-q", "-m", "checkout under test"]);
}
