import { describe, expect, test } from "bun:test";
import { pushOutcome, readPush, signBody, verifySignature } from "../../backend/domain/webhooks.ts";

const sha = "a".repeat(40);
const push = (o: Record<string, unknown> = {}) => ({
  ref: "refs/heads/main",
  after: sha,
  repository: { full_name: "acme/shop" },
  head_commit: { message: "Fix checkout\n\nlonger text", author: { name: "Ada" } },
  pusher: { name: "ada" },
  ...o,
});

describe("webhook signatures", () => {
  test("a signature made with the secret over the exact body verifies", () => {
    const body = JSON.stringify(push());
    expect(verifySignature("s3cret", body, signBody("s3cret", body))).toBe(true);
  });

  test("another secret, another body, a missing or malformed header do not", () => {
    const body = JSON.stringify(push());
    expect(verifySignature("other", body, signBody("s3cret", body))).toBe(false);
    expect(verifySignature("s3cret", `${body} `, signBody("s3cret", body))).toBe(false);
    expect(verifySignature("s3cret", body, null)).toBe(false);
    expect(verifySignature("s3cret", body, "sha1=abc")).toBe(false);
    expect(verifySignature("s3cret", body, `sha256=${"z".repeat(64)}`)).toBe(false);
  });
});

describe("push deliveries", () => {
  test("reads branch, sha, first line of the message, author", () => {
    expect(readPush(push())).toEqual({
      repo: "acme/shop",
      branch: "main",
      sha,
      deleted: false,
      message: "Fix checkout",
      author: "Ada",
      pusher: "ada",
    });
    expect(readPush(push({ ref: "refs/tags/v1" }))?.branch).toBeNull();
    expect(readPush(push({ after: "0".repeat(40), deleted: true }))?.deleted).toBe(true);
    expect(readPush({ zen: "ping" })).toBeNull();
    expect(readPush(push({ after: "not-a-sha" }))).toBeNull();
  });

  test("deploys only the app's branch, when auto-deploy is on", () => {
    const app = { branch: "main", autoDeploy: true };
    expect(pushOutcome(app, readPush(push())!)).toEqual({ deploy: true, outcome: "deployed" });
    expect(pushOutcome(app, readPush(push({ ref: "refs/heads/other-branch" }))!).outcome).toBe("ignored: branch other-branch");
    expect(pushOutcome({ ...app, autoDeploy: false }, readPush(push())!).outcome).toBe("ignored: auto-deploy off");
    expect(pushOutcome(app, readPush(push({ after: "0".repeat(40), deleted: true }))!).outcome).toBe("ignored: branch deleted");
    expect(pushOutcome(app, readPush(push({ ref: "refs/tags/v1" }))!).outcome).toBe("ignored: not a branch");
  });
});
