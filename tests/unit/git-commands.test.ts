import { describe, expect, test } from "bun:test";
import { cloneArgv, fetchRefArgvs, gitEnv, validateBranch, validateRef, validateRepoUrl, validateSha } from "../../backend/commands/git.ts";

describe("repository URLs", () => {
  test("https, http and absolute file URLs pass", () => {
    for (const url of ["https://github.com/acme/web.git", "http://git.internal:8080/x", "file:///srv/git/app.git"]) {
      expect(validateRepoUrl(url)).toBeNull();
    }
  });

  test("options, other schemes, credentials and whitespace are refused with a reason", () => {
    expect(validateRepoUrl("--upload-pack=touch")).toBe("must not start with -");
    expect(validateRepoUrl("ext::sh -c touch% /tmp/pwned")).toBe("must not contain spaces or line breaks");
    expect(validateRepoUrl("ext::sh")).toBe("must be an https://, http:// or file:// URL");
    expect(validateRepoUrl("ssh://git@host/x")).toBe("must be an https://, http:// or file:// URL");
    expect(validateRepoUrl("https://user:ghp_token@github.com/a/b")).toContain("must not contain credentials");
    expect(validateRepoUrl("https://github.com/a/b\nx")).toBe("must not contain spaces or line breaks");
    expect(validateRepoUrl("not a url")).toBe("must not contain spaces or line breaks");
    expect(validateRepoUrl("relative/path")).toBe("must be an https://, http:// or file:// URL");
    expect(validateRepoUrl("file:relative")).toContain("absolute path");
    expect(validateRepoUrl("file:/etc/repo")).toContain("absolute path");
    expect(validateRepoUrl("https:github.com/a/b")).toContain("written in full");
  });
});

describe("branches and shas", () => {
  test("ordinary branch names pass; git's forbidden forms and option-like names do not", () => {
    for (const ok of ["main", "release/2.0", "feat_x-y", "v1.2.3"]) expect(validateBranch(ok)).toBeNull();
    for (const bad of [
      "",
      "-x",
      "--upload-pack=x",
      "a..b",
      "a b",
      "a~1",
      "a^",
      "a:b",
      "x.lock",
      "a/",
      "/a",
      "a//b",
      "@",
      "a@{1}",
      "a\\b",
      "a\nb",
      "a*",
    ]) {
      expect(validateBranch(bad)).not.toBeNull();
    }
    expect(validateBranch("x".repeat(256))).toBe("must be 1-255 characters");
  });

  test("only full lowercase 40-hex shas", () => {
    expect(validateSha("a".repeat(40))).toBeNull();
    expect(validateSha("abc123")).toBe("must be a full 40-character commit sha");
    expect(validateSha("A".repeat(40))).not.toBeNull();
  });

  test("a deploy's ref is a full sha, or a branch or tag name; never a short sha, an option or a refspec", () => {
    for (const good of ["a".repeat(40), "main", "release/2.4", "v2.4.0", "feature-x"]) expect(validateRef(good)).toBeNull();
    expect(validateRef("abc1234")).toContain("abbreviated sha");
    for (const bad of ["-upload-pack=x", "main:refs/heads/x", "a..b", "has space", "", "x.lock", "@{1}"]) {
      expect(validateRef(bad)).not.toBeNull();
    }
  });
});

describe("git argv and environment", () => {
  test("the URL always follows --, so it cannot be read as an option", () => {
    const argv = cloneArgv("https://h/r.git", "main", "/tmp/b");
    expect(argv.slice(-3)).toEqual(["--", "https://h/r.git", "/tmp/b"]);
    expect(argv).toContain("--depth");
    expect(fetchRefArgvs("https://h/r.git", "a".repeat(40))[2]).toEqual([
      "git",
      "fetch",
      "--depth",
      "1",
      "--no-tags",
      "--progress",
      "origin",
      "a".repeat(40),
    ]);
  });

  test("a token travels only as an environment-configured header", () => {
    const env = gitEnv({ token: "ghs_secret", origin: "https://github.com" });
    expect(env.GIT_CONFIG_KEY_0).toBe("http.https://github.com/.extraHeader");
    expect(env.GIT_CONFIG_VALUE_0).toBe(`Authorization: Basic ${Buffer.from("x-access-token:ghs_secret").toString("base64")}`);
    expect(env.GIT_TERMINAL_PROMPT).toBe("0");
    expect(env.GIT_ALLOW_PROTOCOL).toBe("https");
    expect(gitEnv().GIT_CONFIG_COUNT).toBeUndefined();
    expect(gitEnv().GIT_ALLOW_PROTOCOL).toBe("file:http:https");
  });
});
