import { describe, expect, test } from "bun:test";
import { generateHOTP } from "@oslojs/otp";
import {
  generateRecoveryCodes,
  generateTotpKey,
  hashRecoveryCode,
  matchTotpStep,
  openTotpKey,
  sealTotpKey,
  totpSecretText,
  totpStep,
  totpUri,
} from "../../backend/auth/totp.ts";

// RFC 6238, appendix B: the SHA-1 key and its 8-digit codes at these times.
const RFC_KEY = new TextEncoder().encode("12345678901234567890");
const RFC_VECTORS: [seconds: number, code: string][] = [
  [59, "94287082"],
  [1111111109, "07081804"],
  [1111111111, "14050471"],
  [1234567890, "89005924"],
  [2000000000, "69279037"],
  [20000000000, "65353130"],
];

const code = (key: Uint8Array, step: number) => generateHOTP(key, BigInt(step), 6);

describe("TOTP", () => {
  test("the library gives the RFC 6238 test vectors", () => {
    for (const [seconds, expected] of RFC_VECTORS) {
      expect(generateHOTP(RFC_KEY, BigInt(Math.floor(seconds / 30)), 8)).toBe(expected);
    }
  });

  test("a six-digit code (the vector's last six digits) is matched to its time step", () => {
    for (const [seconds, expected] of RFC_VECTORS) {
      const now = seconds * 1000;
      expect(matchTotpStep(RFC_KEY, expected.slice(2), { now })).toBe(totpStep(now));
    }
  });

  test("codes of one step either side of now are accepted, two steps away are not", () => {
    const key = generateTotpKey();
    const now = Date.UTC(2026, 0, 1, 12, 0, 15);
    const step = totpStep(now);
    expect(matchTotpStep(key, code(key, step), { now })).toBe(step);
    expect(matchTotpStep(key, code(key, step - 1), { now })).toBe(step - 1);
    expect(matchTotpStep(key, code(key, step + 1), { now })).toBe(step + 1);
    // A code of two steps away could collide with one inside the window only by chance (1 in 10^6 per step).
    const far = [code(key, step - 2), code(key, step + 2)].filter((c) => ![-1, 0, 1].some((d) => code(key, step + d) === c));
    for (const c of far) expect(matchTotpStep(key, c, { now })).toBeNull();
  });

  test("replay guard: a code of the last accepted step or earlier is refused, a later one accepted", () => {
    const key = generateTotpKey();
    const now = Date.UTC(2026, 0, 1, 12, 0, 15);
    const step = totpStep(now);
    expect(matchTotpStep(key, code(key, step), { now, after: step })).toBeNull();
    expect(matchTotpStep(key, code(key, step - 1), { now, after: step - 1 })).toBeNull();
    expect(matchTotpStep(key, code(key, step - 1), { now, after: step })).toBeNull();
    expect(matchTotpStep(key, code(key, step), { now, after: step - 1 })).toBe(step);
    expect(matchTotpStep(key, code(key, step + 1), { now, after: step })).toBe(step + 1);
  });

  test("anything but six digits is refused", () => {
    const key = generateTotpKey();
    const c = code(key, totpStep());
    for (const bad of ["", `${c}0`, c.slice(1), ` ${c}`, "abcdef", "12345\u0000"]) expect(matchTotpStep(key, bad)).toBeNull();
  });

  test("keys are 20 random bytes; the URI names the issuer and the account", () => {
    const key = generateTotpKey();
    expect(key.length).toBe(20);
    expect(generateTotpKey()).not.toEqual(key);
    const secret = totpSecretText(key);
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    const uri = new URL(totpUri("grace@example.com", key));
    expect(uri.protocol).toBe("otpauth:");
    expect(uri.host).toBe("totp");
    expect(decodeURIComponent(uri.pathname)).toBe("/Switchyard:grace@example.com");
    expect(Object.fromEntries(uri.searchParams)).toEqual({ issuer: "Switchyard", algorithm: "SHA1", secret, period: "30", digits: "6" });
  });

  test("the key is sealed for one user: another user's row cannot take it", () => {
    const master = Buffer.from(crypto.getRandomValues(new Uint8Array(32)));
    const key = generateTotpKey();
    const sealed = sealTotpKey(master, "user-a", key);
    expect(sealed).not.toContain(totpSecretText(key));
    expect(openTotpKey(master, "user-a", sealed)).toEqual(key);
    expect(() => openTotpKey(master, "user-b", sealed)).toThrow();
  });

  test("ten distinct recovery codes; the hash ignores case, spaces and dashes", () => {
    const codes = generateRecoveryCodes();
    expect(codes.length).toBe(10);
    expect(new Set(codes).size).toBe(10);
    for (const c of codes) expect(c).toMatch(/^[a-z2-7]{5}-[a-z2-7]{5}$/);
    const first = codes[0] as string;
    expect(hashRecoveryCode(first)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashRecoveryCode(` ${first.toUpperCase().replace("-", " ")} `)).toBe(hashRecoveryCode(first));
    expect(hashRecoveryCode(codes[1] as string)).not.toBe(hashRecoveryCode(first));
  });
});
