import { join } from "node:path";
import { ensureDir, readTextIfExists, restrictToOwner, writeNewFile } from "./adapters/host.ts";
import { type Config, ConfigError, decodeKey } from "./config.ts";

/**
 * The master key for encrypted columns: `SWITCHYARD_SECRET_KEY` when set, else
 * `$DATA_DIR/secret.key`, created (0600) on first start. Losing it loses every stored secret.
 */
export function loadSecretKey(config: Config): Buffer {
  if (config.secretKey) return config.secretKey;
  const file = join(config.dataDir, "secret.key");
  const stored = readTextIfExists(file);
  if (stored !== null) {
    restrictToOwner(file);
    const key = decodeKey(stored);
    if (!key) throw new ConfigError(`${file} does not hold a 32-byte key (base64 or hex); restore it from a backup.`);
    return key;
  }
  ensureDir(config.dataDir, 0o700);
  const key = Buffer.from(crypto.getRandomValues(new Uint8Array(32)));
  writeNewFile(file, `${key.toString("base64")}\n`, 0o600);
  return key;
}
