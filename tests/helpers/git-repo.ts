import { mkdtempSync, rmSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export interface TestRepo {
  /** file:// URL of the bare repository. */
  url: string;
  bare: string;
  /** Writes files (null deletes), commits them to `branch` and pushes; returns the sha. */
  commit(files: Record<string, string | null>, message?: string, branch?: string): Promise<string>;
  cleanup(): void;
}

async function git(args: string[], cwd: string): Promise<string> {
  const proc = Bun.spawn(["git", ...args], {
    cwd,
    stdout: "pipe",
    stderr: "pipe",
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: "Ada Lovelace",
      GIT_AUTHOR_EMAIL: "ada@example.com",
      GIT_COMMITTER_NAME: "Ada Lovelace",
      GIT_COMMITTER_EMAIL: "ada@example.com",
    },
  });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`git ${args.join(" ")} failed: ${err}`);
  return out.trim();
}

/** A real bare repository with a work tree that pushes to it. */
export async function createRepo(files: Record<string, string>, branch = "main", message = "initial commit"): Promise<TestRepo> {
  const root = mkdtempSync(join(tmpdir(), "sy-repo-"));
  const bare = join(root, "app.git");
  const work = join(root, "work");
  await mkdir(work);
  await git(["init", "-q", "--bare", "-b", branch, bare], root);
  await git(["init", "-q", "-b", branch], work);
  await git(["remote", "add", "origin", bare], work);
  const repo: TestRepo = {
    url: `file://${bare}`,
    bare,
    async commit(changes, message = "update", onBranch = branch) {
      const current = await git(["rev-parse", "--abbrev-ref", "HEAD"], work).catch(() => branch);
      if (current !== onBranch) await git(["checkout", "-q", "-B", onBranch], work);
      for (const [path, content] of Object.entries(changes)) {
        const file = join(work, path);
        if (content === null) rmSync(file, { force: true });
        else {
          await mkdir(dirname(file), { recursive: true });
          await writeFile(file, content);
        }
      }
      await git(["add", "-A"], work);
      await git(["commit", "-q", "--allow-empty", "-m", message], work);
      await git(["push", "-q", "origin", `HEAD:refs/heads/${onBranch}`], work);
      return git(["rev-parse", "HEAD"], work);
    },
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
  await repo.commit(files, message);
  return repo;
}

/** A small Bun HTTP app: answers its version, prints API_KEY when built, /crash exits. */
export function bunApp(version: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    "package.json": JSON.stringify({ name: "hello", private: true, scripts: { build: "bun build.ts", start: "bun server.ts" } }, null, 2),
    "build.ts": `console.log("building with API_KEY=" + process.env.API_KEY);\nawait Bun.write("version.txt", ${JSON.stringify(version)});\n`,
    "server.ts": `const version = await Bun.file("version.txt").text();
console.log("starting " + version + " with API_KEY=" + process.env.API_KEY);
const server = Bun.serve({
  port: Number(process.env.PORT),
  hostname: "127.0.0.1",
  fetch(req) {
    const url = new URL(req.url);
    if (url.pathname === "/crash") process.exit(1);
    if (url.pathname === "/env") return Response.json({ GREETING: process.env.GREETING ?? null });
    return new Response(version);
  },
});
process.on("SIGTERM", () => { server.stop(); process.exit(0); });
`,
    ...extra,
  };
}
