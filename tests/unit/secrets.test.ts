import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { createMasker, MASK } from "../../backend/domain/masking.ts";
import { decryptSecret, encryptSecret, VaultError } from "../../backend/domain/vault.ts";

describe("vault (AES-256-GCM)", () => {
  const key = randomBytes(32);

  test("round-trips text, with a fresh IV each time", () => {
    const a = encryptSecret(key, "s3cr3t-välue ✓");
    const b = encryptSecret(key, "s3cr3t-välue ✓");
    expect(a).toStartWith("v1.");
    expect(a).not.toBe(b);
    expect(a).not.toContain("s3cr3t");
    expect(decryptSecret(key, a)).toBe("s3cr3t-välue ✓");
    expect(decryptSecret(key, encryptSecret(key, ""))).toBe("");
  });

  test("a wrong key, a tampered body or another record's AAD is refused", () => {
    const text = encryptSecret(key, "value", "env:app-1:API_KEY");
    expect(() => decryptSecret(randomBytes(32), text, "env:app-1:API_KEY")).toThrow(VaultError);
    expect(() => decryptSecret(key, text, "env:app-2:API_KEY")).toThrow("wrong master key, or it was tampered with");
    const [v, iv, body] = text.split(".") as [string, string, string];
    const flipped = Buffer.from(body, "base64url");
    flipped[0] = (flipped[0] as number) ^ 1;
    expect(() => decryptSecret(key, `${v}.${iv}.${flipped.toString("base64url")}`, "env:app-1:API_KEY")).toThrow(VaultError);
  });

  test("unknown formats and short keys are errors, not garbage", () => {
    expect(() => decryptSecret(key, "plain text")).toThrow("Not an encrypted value of a known format.");
    expect(() => decryptSecret(key, "v1.AAAA.AAAA")).toThrow("truncated");
    expect(() => encryptSecret(randomBytes(16), "x")).toThrow("32 bytes");
  });
});

describe("secret masking", () => {
  test("masks the value and its base64 and URL-encoded forms", () => {
    const mask = createMasker(["s3cr3t value/+"]);
    const b64 = Buffer.from("s3cr3t value/+").toString("base64").replace(/=+$/, "");
    expect(mask("key=s3cr3t value/+ end")).toBe(`key=${MASK} end`);
    expect(mask(`auth ${b64}`)).toBe(`auth ${MASK}`);
    expect(mask(`q=${encodeURIComponent("s3cr3t value/+")}`)).toBe(`q=${MASK}`);
  });

  test("longer secrets win over shorter ones inside them, regex characters are literal", () => {
    const mask = createMasker(["abc", "abcdef", "a.c*"]);
    expect(mask("abcdef abc a.c* axc")).toBe(`${MASK} ${MASK} ${MASK} axc`);
  });

  test("values under three characters are not masked; no secrets is the identity", () => {
    expect(createMasker(["on", "1"])("on 1 only")).toBe("on 1 only");
    expect(createMasker([])("anything")).toBe("anything");
  });
});
