import { describe, expect, test } from "bun:test";
import { historyFetchArgvs, isAncestorArgv } from "../../backend/commands/git.ts";
import { pushOutcome, readPush } from "../../backend/domain/webhooks.ts";

const sha = (c: string) => c.repeat(40);
const push = (after: string) =>
  readPush({ ref: "refs/heads/main", after, repository: { full_name: "acme/shop" } }) as NonNullable<ReturnType<typeof readPush>>;

describe("stale pushes", () => {
  const app = { branch: "main", autoDeploy: true };

  test("a push of a commit that was live already is stale; a new one deploys", () => {
    const shipped = new Set([sha("a"), sha("b")]);
    expect(pushOutcome(app, push(sha("a")), shipped)).toEqual({ deploy: false, outcome: "ignored: stale" });
    expect(pushOutcome(app, push(sha("c")), shipped)).toEqual({ deploy: true, outcome: "deployed" });
    expect(pushOutcome({ ...app, autoDeploy: false }, push(sha("a")), shipped).outcome).toBe("ignored: auto-deploy off");
  });

  test("the history check fetches both commits into a bare repository and asks git", () => {
    expect(historyFetchArgvs("https://github.com/acme/shop.git", [sha("a"), sha("b")])).toEqual([
      ["git", "init", "-q", "--bare"],
      [
        "git",
        "fetch",
        "-q",
        "--no-tags",
        "--no-write-fetch-head",
        "--filter=tree:0",
        "https://github.com/acme/shop.git",
        sha("a"),
        sha("b"),
      ],
    ]);
    expect(isAncestorArgv(sha("a"), sha("b"))).toEqual(["git", "merge-base", "--is-ancestor", sha("a"), sha("b")]);
  });
});
