import { describe, expect, test } from "bun:test";
import { ConfigError, loadConfig, parseEnvFile } from "../../backend/config.ts";

describe("config", () => {
  test("defaults are the local, embedded ones", () => {
    const c = loadConfig({});
    expect(c.mode).toBe("local");
    expect(c.dataDir.endsWith("/.switchyard")).toBe(true);
    expect(c.databaseUrl).toBeNull();
    expect([c.port, c.host, c.proxyPort]).toEqual([3000, "127.0.0.1", 8080]);
    expect(c.publicUrl.origin).toBe("http://localhost:3000");
    expect(c.github).toBeNull();
    expect(c.githubApiUrl).toBe("https://api.github.com");
  });

  test("server mode changes the data dir and proxy port defaults", () => {
    const c = loadConfig({ SWITCHYARD_MODE: "server" });
    expect(c.dataDir).toBe("/var/lib/switchyard");
    expect(c.proxyPort).toBe(80);
  });

  test.each([
    [{ PORT: "70000" }, /^Invalid PORT \(got "70000"\): must be 0-65535/],
    [{ PORT: "abc" }, /^Invalid PORT/],
    [{ SWITCHYARD_MODE: "cloud" }, /^Invalid SWITCHYARD_MODE \(got "cloud"\): must be 'local' or 'server'$/],
    [{ DATABASE_URL: "mysql://x" }, /^Invalid DATABASE_URL.*postgres:\/\//],
    [{ SWITCHYARD_PUBLIC_URL: "ftp://x" }, /^Invalid SWITCHYARD_PUBLIC_URL/],
    [{ SWITCHYARD_SECRET_KEY: "short" }, /^Invalid SWITCHYARD_SECRET_KEY.*32 bytes/],
    [{ GITHUB_CLIENT_ID: "abc" }, /GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET must be set together/],
  ])("a bad value names the variable: %o", (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  test("a secret key may be base64 or hex", () => {
    const key = Buffer.alloc(32, 7);
    expect(loadConfig({ SWITCHYARD_SECRET_KEY: key.toString("base64") }).secretKey).toEqual(key);
    expect(loadConfig({ SWITCHYARD_SECRET_KEY: key.toString("hex") }).secretKey).toEqual(key);
  });

  test("empty values count as unset", () => {
    expect(loadConfig({ DATABASE_URL: "", PORT: "" }).port).toBe(3000);
  });

  test("env files: comments, export, quotes", () => {
    expect(parseEnvFile("# c\nexport A=1\nB='two words'\nC=\"x\" \nD=plain # trailing\n\nbad line\n")).toEqual({
      A: "1",
      B: "two words",
      C: "x",
      D: "plain",
    });
  });
});
