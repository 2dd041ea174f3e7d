import { createHmac, timingSafeEqual } from "node:crypto";

/** `X-Hub-Signature-256: sha256=<hex>` over the raw body, compared in constant time. */
export function verifySignature(secret: string, rawBody: string, header: string | null): boolean {
  if (!header || !/^sha256=[0-9a-f]{64}$/.test(header)) return false;
  const expected = createHmac("sha256", secret).update(rawBody, "utf8").digest();
  return timingSafeEqual(expected, Buffer.from(header.slice("sha256=".length), "hex"));
}

export function signBody(secret: string, rawBody: string): string {
  return `sha256=${createHmac("sha256", secret).update(rawBody, "utf8").digest("hex")}`;
}

export interface PushInfo {
  repo: string;
  branch: string | null;
  sha: string;
  deleted: boolean;
  message: string | null;
  author: string | null;
  pusher: string | null;
}

/** The fields of a push payload we act on; null when it is not shaped like one. */
export function readPush(payload: unknown): PushInfo | null {
  const p = payload as {
    ref?: unknown;
    after?: unknown;
    deleted?: unknown;
    repository?: { full_name?: unknown };
    head_commit?: { message?: unknown; author?: { name?: unknown } } | null;
    pusher?: { name?: unknown };
  };
  if (typeof p?.ref !== "string" || typeof p.after !== "string" || typeof p.repository?.full_name !== "string") return null;
  if (!/^[0-9a-f]{40}$/.test(p.after)) return null;
  const branch = p.ref.startsWith("refs/heads/") ? p.ref.slice("refs/heads/".length) : null;
  const text = (v: unknown) => (typeof v === "string" ? v : null);
  return {
    repo: p.repository.full_name,
    branch,
    sha: p.after,
    deleted: p.deleted === true || /^0{40}$/.test(p.after),
    message: text(p.head_commit?.message)?.split("\n")[0]?.slice(0, 500) ?? null,
    author: text(p.head_commit?.author?.name),
    pusher: text(p.pusher?.name),
  };
}

/** The repository a delivery is about ("owner/name"), from any event's payload. */
export function repoOf(payload: unknown): string | null {
  const name = (payload as { repository?: { full_name?: unknown } })?.repository?.full_name;
  return typeof name === "string" ? name : null;
}

/**
 * What a push means for an app: deploy it, or why not. `shipped` holds the commits of the live
 * release and of the releases before it: a push naming one of them is a replay or a rollback
 * by stealth, and is not deployed (rollbacks go through the rollback action).
 */
export function pushOutcome(
  app: { branch: string; autoDeploy: boolean },
  push: PushInfo,
  shipped: ReadonlySet<string> = new Set(),
): { deploy: boolean; outcome: string } {
  if (push.branch === null) return { deploy: false, outcome: "ignored: not a branch" };
  if (push.branch !== app.branch) return { deploy: false, outcome: `ignored: branch ${push.branch}` };
  if (push.deleted) return { deploy: false, outcome: "ignored: branch deleted" };
  if (!app.autoDeploy) return { deploy: false, outcome: "ignored: auto-deploy off" };
  if (shipped.has(push.sha)) return { deploy: false, outcome: "ignored: stale" };
  return { deploy: true, outcome: "deployed" };
}
