/**
 * Two-factor sign-in with time-based codes (RFC 6238: SHA-1, 30 s, 6 digits) and single-use
 * recovery codes. The key is sealed with the vault; a code is good once: the last accepted time
 * step is kept and moved forward by a conditional UPDATE, so two requests with the same code
 * cannot both pass.
 */
import { sha256 } from "@oslojs/crypto/sha2";
import { encodeBase32LowerCaseNoPadding, encodeBase32NoPadding, encodeHexLowerCase } from "@oslojs/encoding";
import { createTOTPKeyURI, verifyHOTP } from "@oslojs/otp";
import { and, count, eq, isNotNull, isNull, lt, or } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { recoveryCodes, type User, users } from "../db/schema/index.ts";
import { decryptSecret, encryptSecret, VaultError } from "../domain/vault.ts";

export const TOTP_ISSUER = "Switchyard";
export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;
/** Steps either side of now a code may come from: a clock a little off, a code typed at the turn. */
export const TOTP_WINDOW = 1;
export const RECOVERY_CODE_COUNT = 10;
const KEY_BYTES = 20;

export const TOTP_CODE = /^\d{6}$/;

export function generateTotpKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(KEY_BYTES));
}

/** The key as authenticator apps take it typed in: base32, upper case, no padding. */
export function totpSecretText(key: Uint8Array): string {
  return encodeBase32NoPadding(key);
}

/** The `otpauth://` URI a QR code carries. */
export function totpUri(accountEmail: string, key: Uint8Array): string {
  return createTOTPKeyURI(TOTP_ISSUER, accountEmail, key, TOTP_PERIOD_SECONDS, TOTP_DIGITS);
}

export function totpStep(now: number = Date.now()): number {
  return Math.floor(now / (TOTP_PERIOD_SECONDS * 1000));
}

/**
 * The time step `code` belongs to, within the window around `now` and later than `after` (the last
 * step accepted), or null. A code of an earlier or equal step is refused: each step is used once.
 */
export function matchTotpStep(key: Uint8Array, code: string, options: { now?: number; after?: number | null } = {}): number | null {
  if (!TOTP_CODE.test(code)) return null;
  const current = totpStep(options.now);
  const after = options.after ?? Number.NEGATIVE_INFINITY;
  for (let step = current + TOTP_WINDOW; step >= current - TOTP_WINDOW; step--) {
    if (step <= after) break;
    if (verifyHOTP(key, BigInt(step), TOTP_DIGITS, code)) return step;
  }
  return null;
}

function aad(userId: string): string {
  return `totp:${userId}`;
}

export function sealTotpKey(masterKey: Buffer, userId: string, key: Uint8Array): string {
  return encryptSecret(masterKey, Buffer.from(key).toString("base64"), aad(userId));
}

export function openTotpKey(masterKey: Buffer, userId: string, sealed: string): Uint8Array {
  return new Uint8Array(Buffer.from(decryptSecret(masterKey, sealed, aad(userId)), "base64"));
}

/** The stored key, or null when it cannot be opened (another master key): its codes then fail, recovery codes still work. */
function openStoredKey(masterKey: Buffer, userId: string, sealed: string): Uint8Array | null {
  try {
    return openTotpKey(masterKey, userId, sealed);
  } catch (error) {
    if (error instanceof VaultError) return null;
    throw error;
  }
}

// --- Recovery codes ---------------------------------------------------------------------------

/** `abcde-fghij`: 50 random bits, easy to read out and type. */
export function generateRecoveryCodes(n = RECOVERY_CODE_COUNT): string[] {
  return Array.from({ length: n }, () => {
    const text = encodeBase32LowerCaseNoPadding(crypto.getRandomValues(new Uint8Array(7))).slice(0, 10);
    return `${text.slice(0, 5)}-${text.slice(5)}`;
  });
}

/** Case, spaces and dashes do not matter when a code is typed back. */
export function normalizeRecoveryCode(code: string): string {
  return code.toLowerCase().replace(/[\s-]/g, "");
}

export function hashRecoveryCode(code: string): string {
  return encodeHexLowerCase(sha256(new TextEncoder().encode(normalizeRecoveryCode(code))));
}

// --- Storage ----------------------------------------------------------------------------------

export interface TwoFactorState {
  enabledAt: Date | null;
  recoveryCodesLeft: number;
}

export async function twoFactorState(db: Db, userId: string): Promise<TwoFactorState> {
  const [user] = await db.select({ enabledAt: users.totpEnabledAt }).from(users).where(eq(users.id, userId));
  const [left] = await db
    .select({ n: count() })
    .from(recoveryCodes)
    .where(and(eq(recoveryCodes.userId, userId), isNull(recoveryCodes.usedAt)));
  return { enabledAt: user?.enabledAt ?? null, recoveryCodesLeft: user?.enabledAt ? (left?.n ?? 0) : 0 };
}

/**
 * Stores a new key, pending until confirmed by a first code; a pending key is replaced. Returns the
 * key, or null when two-factor sign-in is already on for the user.
 */
export async function beginEnrolment(db: Db, masterKey: Buffer, userId: string): Promise<Uint8Array | null> {
  const key = generateTotpKey();
  const updated = await db
    .update(users)
    .set({ totpSecret: sealTotpKey(masterKey, userId, key), totpLastStep: null, updatedAt: new Date() })
    .where(and(eq(users.id, userId), isNull(users.totpEnabledAt)))
    .returning({ id: users.id });
  return updated.length > 0 ? key : null;
}

/** Moves the user's last accepted step to `step` only if it is later than what is stored, for this very key. */
async function claimStep(db: Db, user: Pick<User, "id">, sealed: string, step: number, extra: { enable?: boolean } = {}): Promise<boolean> {
  const claimed = await db
    .update(users)
    .set({ totpLastStep: step, ...(extra.enable ? { totpEnabledAt: new Date() } : {}), updatedAt: new Date() })
    .where(
      and(
        eq(users.id, user.id),
        eq(users.totpSecret, sealed),
        extra.enable ? isNull(users.totpEnabledAt) : isNotNull(users.totpEnabledAt),
        or(isNull(users.totpLastStep), lt(users.totpLastStep, step)),
      ),
    )
    .returning({ id: users.id });
  return claimed.length > 0;
}

/** Checks a code against the user's enabled key and uses it up; false when wrong or already used. */
export async function useTotpCode(db: Db, masterKey: Buffer, user: User, code: string, now = Date.now()): Promise<boolean> {
  if (!user.totpSecret || !user.totpEnabledAt) return false;
  const key = openStoredKey(masterKey, user.id, user.totpSecret);
  if (!key) return false;
  const step = matchTotpStep(key, code, { now, after: user.totpLastStep });
  return step !== null && claimStep(db, user, user.totpSecret, step);
}

/** Uses up one of the user's recovery codes; false when it is not one, or was used already. */
export async function useRecoveryCode(db: Db, userId: string, code: string): Promise<boolean> {
  const used = await db
    .update(recoveryCodes)
    .set({ usedAt: new Date() })
    .where(and(eq(recoveryCodes.userId, userId), eq(recoveryCodes.codeHash, hashRecoveryCode(code)), isNull(recoveryCodes.usedAt)))
    .returning({ id: recoveryCodes.id });
  return used.length > 0;
}

export type SecondFactor = "totp" | "recovery_code";

/** A six-digit TOTP code, or else a recovery code: which one was accepted, or null. */
export async function useSecondFactor(db: Db, masterKey: Buffer, user: User, code: string): Promise<SecondFactor | null> {
  if (!user.totpEnabledAt) return null;
  if (TOTP_CODE.test(code)) return (await useTotpCode(db, masterKey, user, code)) ? "totp" : null;
  return (await useRecoveryCode(db, user.id, code)) ? "recovery_code" : null;
}

/**
 * Confirms a pending enrolment with a first code: two-factor sign-in is on from then, and the user
 * gets a fresh set of recovery codes (returned in clear once). Null when the code is wrong or
 * there is nothing pending.
 */
export async function confirmEnrolment(db: Db, masterKey: Buffer, user: User, code: string, now = Date.now()): Promise<string[] | null> {
  if (!user.totpSecret || user.totpEnabledAt) return null;
  const sealed = user.totpSecret;
  const key = openStoredKey(masterKey, user.id, sealed);
  if (!key) return null;
  const step = matchTotpStep(key, code, { now, after: user.totpLastStep });
  if (step === null) return null;
  return db.transaction(async (tx) => {
    if (!(await claimStep(tx, user, sealed, step, { enable: true }))) return null;
    return storeRecoveryCodes(tx, user.id);
  });
}

/** Replaces every recovery code of the user with a fresh set; the old ones stop working. */
export function regenerateRecoveryCodes(db: Db, userId: string): Promise<string[]> {
  return db.transaction((tx) => storeRecoveryCodes(tx, userId));
}

async function storeRecoveryCodes(db: Db, userId: string): Promise<string[]> {
  const codes = generateRecoveryCodes();
  await db.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
  await db.insert(recoveryCodes).values(codes.map((code) => ({ userId, codeHash: hashRecoveryCode(code) })));
  return codes;
}

/** Turns two-factor sign-in off: the key and every recovery code are gone. */
export async function clearTwoFactor(db: Db, userId: string): Promise<void> {
  await db.transaction(async (tx) => {
    await tx
      .update(users)
      .set({ totpSecret: null, totpEnabledAt: null, totpLastStep: null, updatedAt: new Date() })
      .where(eq(users.id, userId));
    await tx.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
  });
}
