import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

/** AES-256-GCM with the master key. Format: `v1.<iv>.<ciphertext+tag>`, base64url. */
export class VaultError extends Error {
  override name = "VaultError";
}

const VERSION = "v1";

export function encryptSecret(key: Buffer, plaintext: string, aad?: string): string {
  if (key.length !== 32) throw new VaultError("The master key must be 32 bytes.");
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  if (aad) cipher.setAAD(Buffer.from(aad, "utf8"));
  const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]);
  return `${VERSION}.${iv.toString("base64url")}.${body.toString("base64url")}`;
}

export function decryptSecret(key: Buffer, text: string, aad?: string): string {
  const [version, ivText, bodyText] = text.split(".");
  if (version !== VERSION || !ivText || bodyText === undefined) throw new VaultError("Not an encrypted value of a known format.");
  const iv = Buffer.from(ivText, "base64url");
  const body = Buffer.from(bodyText, "base64url");
  if (iv.length !== 12 || body.length < 16) throw new VaultError("The encrypted value is truncated.");
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, iv);
    if (aad) decipher.setAAD(Buffer.from(aad, "utf8"));
    decipher.setAuthTag(body.subarray(body.length - 16));
    return Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]).toString("utf8");
  } catch {
    throw new VaultError("The value cannot be decrypted: wrong master key, or it was tampered with.");
  }
}
