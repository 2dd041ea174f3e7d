import { describe, expect, test } from "bun:test";
import { createMasker, MASK } from "../../backend/domain/masking.ts";

const PEM = [
  "-----BEGIN PRIVATE KEY-----",
  "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj",
  "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu",
  "-----END PRIVATE KEY-----",
].join("\n");

/** Line by line, as job logs and slot output are masked. */
const maskLines = (mask: (t: string) => string, text: string) =>
  text
    .split("\n")
    .map((l) => mask(l))
    .join("\n");

describe("createMasker", () => {
  test("the plain value", () => {
    expect(createMasker(["s3cr3t-value"])("key=s3cr3t-value;")).toBe(`key=${MASK};`);
  });

  test("every line of a multi-line secret, printed as it is or with CRLF endings", () => {
    const mask = createMasker([PEM]);
    const out = maskLines(mask, `key:\n${PEM}\ndone`);
    for (const line of PEM.split("\n")) expect(out).not.toContain(line);
    expect(out.split("\n")).toEqual(["key:", MASK, MASK, MASK, MASK, "done"]);
    const crlf = maskLines(mask, PEM.replaceAll("\n", "\r\n"));
    for (const line of PEM.split("\n")) expect(crlf).not.toContain(line);
    expect(maskLines(createMasker([PEM.replaceAll("\n", "\r\n")]), PEM)).toBe([MASK, MASK, MASK, MASK].join("\n"));
  });

  test("a multi-line secret's lines that are too short to be worth masking stay", () => {
    const mask = createMasker(['{\n  "token": "abcdef123456"\n}']);
    expect(mask("}")).toBe("}");
    expect(mask("{")).toBe("{");
    expect(mask('  "token": "abcdef123456"')).not.toContain("abcdef123456");
  });

  test("the JSON-escaped form, alone and for a multi-line secret", () => {
    const secret = 'quo"te\\back';
    const mask = createMasker([secret]);
    const printed = JSON.stringify({ secret });
    expect(printed).toContain('quo\\"te\\\\back');
    expect(mask(printed)).toBe(`{"secret":"${MASK}"}`);
    expect(mask(JSON.stringify(secret))).toBe(`"${MASK}"`);
    const pem = createMasker([PEM])(JSON.stringify({ key: PEM }));
    expect(pem).toBe(`{"key":"${MASK}"}`);
  });

  test("URL-encoded forms: percent-encoding and form encoding", () => {
    const secret = "p@ss w/rd&more";
    const mask = createMasker([secret]);
    expect(mask(`https://x.example/?k=${encodeURIComponent(secret)}`)).toBe(`https://x.example/?k=${MASK}`);
    expect(mask(new URLSearchParams({ k: secret }).toString())).toBe(`k=${MASK}`);
    expect(mask(`q=${encodeURI(secret)}`)).not.toContain("w/rd");
  });

  test("base64: alone, padded or not, URL-safe, and inside a longer encoded text at any offset", () => {
    const secret = "s3cr3t-value?>>";
    const mask = createMasker([secret]);
    const b64 = Buffer.from(secret).toString("base64");
    expect(mask(`token ${b64}`)).toBe(`token ${MASK}`);
    expect(mask(`token ${b64.replace(/=+$/, "")}`)).toBe(`token ${MASK}`);
    expect(mask(Buffer.from(secret).toString("base64url"))).toBe(MASK);
    for (const prefix of ["u:", "us:", "use:", "user:"]) {
      const basic = Buffer.from(prefix + secret).toString("base64");
      const out = mask(`Authorization: Basic ${basic}`);
      expect(out).toContain(MASK);
      // What is left can no longer be decoded to the secret.
      expect(Buffer.from(out.slice("Authorization: Basic ".length), "base64").toString()).not.toContain(secret.slice(2, -2));
    }
  });

  test("a short secret's base64 fragments do not blank out ordinary text", () => {
    const mask = createMasker(["abc"]);
    const b64 = Buffer.from("abc").toString("base64");
    expect(mask(b64)).toBe(MASK);
    // Shifted by one and two bytes, "abc" encodes to the 3-character fragments "FiY" and "hYm".
    expect(mask("FiYe hYmn")).toBe("FiYe hYmn");
  });

  test("values shorter than 3 characters and an empty list change nothing", () => {
    expect(createMasker(["on", "1"])("on 1 one")).toBe("on 1 one");
    expect(createMasker([])("anything")).toBe("anything");
  });
});
