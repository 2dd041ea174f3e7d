import { createHash, timingSafeEqual } from "node:crypto";
import { join } from "node:path";
import { ensureDir, readTextIfExists, removeTree, restrictToOwner, writeNewFile } from "../adapters/host.ts";
import { RateLimiter } from "./rate-limit.ts";

/**
 * The one-time code that creating the owner account needs, so a fresh panel reachable from the
 * internet cannot be claimed by whoever finds it first. It lives in `<dataDir>/setup-code` (0600)
 * while no user exists: the panel prints it at start, install.sh in its summary, and
 * `switchyard setup-code` on demand. Every check reads the file, so all panels on one data dir
 * agree on it.
 */

/** Crockford's base32: no I, L, O or U, so a code copied by hand survives. 12 characters, 60 bits. */
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const CODE = /^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/;

export function setupCodeFile(dataDir: string): string {
  return join(dataDir, "setup-code");
}

export function generateSetupCode(): string {
  // 256 is a multiple of 32: the low five bits of a random byte are uniform.
  const chars = Array.from(crypto.getRandomValues(new Uint8Array(12)), (byte) => ALPHABET[byte & 31]);
  return [0, 4, 8].map((i) => chars.slice(i, i + 4).join("")).join("-");
}

/** The code as typed: case, spaces and dashes do not matter, and O, I and L read as 0, 1 and 1. */
export function normalizeSetupCode(input: string): string {
  return input
    .toUpperCase()
    .replace(/[\s-]+/g, "")
    .replaceAll("O", "0")
    .replace(/[IL]/g, "1");
}

/** The stored code, or null when there is none (or it is not a code). */
export function readSetupCode(dataDir: string): string | null {
  const text = readTextIfExists(setupCodeFile(dataDir))?.trim() ?? "";
  return CODE.test(text) ? text : null;
}

/** The stored code, made (0600) when there is none yet. */
export function ensureSetupCode(dataDir: string): string {
  const file = setupCodeFile(dataDir);
  const existing = readSetupCode(dataDir);
  if (existing) {
    restrictToOwner(file);
    return existing;
  }
  ensureDir(dataDir, 0o700);
  // A damaged file is replaced; the printed code would not have matched it anyway.
  if (readTextIfExists(file) !== null) removeTree(file);
  const code = generateSetupCode();
  try {
    writeNewFile(file, `${code}\n`, 0o600);
    return code;
  } catch (error) {
    // Another panel on this data dir wrote one at the same moment: theirs it is.
    const theirs = (error as NodeJS.ErrnoException).code === "EEXIST" ? readSetupCode(dataDir) : null;
    if (theirs) return theirs;
    throw error;
  }
}

/** Done with the code: the owner account exists. */
export function removeSetupCode(dataDir: string): void {
  removeTree(setupCodeFile(dataDir));
}

/** Whether `given` is the stored code, compared in constant time. */
export function setupCodeMatches(dataDir: string, given: string): boolean {
  const expected = readSetupCode(dataDir);
  if (!expected) return false;
  const digest = (text: string) => createHash("sha256").update(normalizeSetupCode(text)).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

const attempts = new WeakMap<object, RateLimiter>();

/** Wrong codes allowed per address: 10 in 15 minutes, per panel (`owner` is its services). */
export function setupAttempts(owner: object): RateLimiter {
  let limiter = attempts.get(owner);
  if (!limiter) {
    limiter = new RateLimiter(10, 15 * 60_000);
    attempts.set(owner, limiter);
  }
  return limiter;
}
