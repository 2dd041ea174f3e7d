import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Config, ConfigError, decodeKey } from "./config.ts";

/**
 * The master key for encrypted columns: `SWITCHYARD_SECRET_KEY` when set, else
 * `$DATA_DIR/secret.key`, created (0600) on first start. Losing it loses every stored secret.
 */
export function loadSecretKey(config: Config): Buffer {
  if (config.secretKey) return config.secretKey;
  const file = join(config.dataDir, "secret.key");
  if (existsSync(file)) {
    const mode = statSync(file).mode & 0o777;
    if (mode & 0o077) chmodSync(file, 0o600);
    const key = decodeKey(readFileSync(file, "utf8"));
    if (!key) throw new ConfigError(`${file} does not hold a 32-byte key (base64 or hex); restore it from a backup.`);
    return key;
  }
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const key = Buffer.from(crypto.getRandomValues(new Uint8Array(32)));
  writeFileSync(file, `${key.toString("base64")}\n`, { mode: 0o600, flag: "wx" });
  return key;
}
