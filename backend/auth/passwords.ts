import { z } from "zod";

export const passwordSchema = z
  .string({ error: "password is required" })
  .min(10, "must be at least 10 characters")
  .max(256, "must be at most 256 characters");

const COST = Number(process.env.SWITCHYARD_BCRYPT_COST ?? 12);

export function hashPassword(password: string): Promise<string> {
  return Bun.password.hash(password, { algorithm: "bcrypt", cost: COST });
}

/** Constant-time by construction (bcrypt); compares against a dummy hash when there is no user. */
export async function verifyPassword(password: string, hash: string | null): Promise<boolean> {
  const target = hash ?? (await dummyHash());
  const ok = await Bun.password.verify(password, target).catch(() => false);
  return ok && hash !== null;
}

let dummy: Promise<string> | null = null;
function dummyHash(): Promise<string> {
  dummy ??= hashPassword("switchyard-timing-equaliser");
  return dummy;
}

/** A readable random password for resets and generated accounts. */
export function generatePassword(length = 20): string {
  const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join("");
}
