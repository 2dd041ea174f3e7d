/** Environment variables: key rules, the env-file format the runtimes read, and .env pastes. */

export const ENV_KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Set by Switchyard for every slot, over anything the app's environment says. */
export const RESERVED_ENV_KEYS = ["PORT", "HOST"];
/** Names a JavaScript object cannot hold as an ordinary key: they would vanish on the way to the app. */
const UNSAFE_ENV_KEYS = ["__proto__"];
export const MAX_ENV_KEY_LENGTH = 256;
export const MAX_ENV_VALUE_BYTES = 64 * 1024;
/**
 * All keys and values together. Linux refuses to start a program (E2BIG) whose environment and
 * arguments pass a quarter of its stack limit (2 MiB by default); this leaves room for the rest.
 */
export const MAX_ENV_TOTAL_BYTES = 1024 * 1024;

export function validateEnvKey(key: string): string | null {
  if (key.length > MAX_ENV_KEY_LENGTH) {
    return `a variable name must be at most ${MAX_ENV_KEY_LENGTH} characters (this one has ${key.length})`;
  }
  if (!ENV_KEY_PATTERN.test(key)) {
    return `${JSON.stringify(key)} is not a valid variable name: use letters, digits and _, not starting with a digit`;
  }
  if (RESERVED_ENV_KEYS.includes(key)) return `${key} is set by Switchyard for each slot and cannot be overridden`;
  if (UNSAFE_ENV_KEYS.includes(key)) return `${key} cannot be used as a variable name`;
  return null;
}

export function validateEnvValue(key: string, value: string): string | null {
  if (value.includes("\0")) return `${key}'s value must not contain a NUL character`;
  const bytes = Buffer.byteLength(value);
  if (bytes > MAX_ENV_VALUE_BYTES) return `${key}'s value must be at most ${MAX_ENV_VALUE_BYTES / 1024} KiB (it is ${bytes} bytes)`;
  return null;
}

/** The bytes an environment takes in a process: `KEY=value` and a NUL for each variable. */
export function envSizeBytes(vars: Array<{ key: string; value: string }>): number {
  return vars.reduce((sum, v) => sum + Buffer.byteLength(v.key) + Buffer.byteLength(v.value) + 2, 0);
}

export function validateEnvSize(vars: Array<{ key: string; value: string }>): string | null {
  const bytes = envSizeBytes(vars);
  if (bytes <= MAX_ENV_TOTAL_BYTES) return null;
  return `all variables together must be at most ${MAX_ENV_TOTAL_BYTES / 1024 / 1024} MiB (these are ${bytes} bytes)`;
}

/**
 * `KEY="value"` lines, sorted. Inside the quotes `\\`, `"`, `$`, backtick and newlines are
 * escaped, so systemd's EnvironmentFile= and parseEnvFile read the same value.
 */
export function renderEnvFile(vars: Array<{ key: string; value: string }>): string {
  return [...vars]
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map(({ key, value }) => `${key}="${escapeValue(value)}"\n`)
    .join("");
}

function escapeValue(value: string): string {
  return value.replace(/[\\"$`\n\r]/g, (c) => (c === "\n" ? "\\n" : c === "\r" ? "\\r" : `\\${c}`));
}

/** The exact inverse of renderEnvFile (and tolerant of unquoted values). */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    const raw = m[2] as string;
    out[m[1] as string] = raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2 ? unescapeValue(raw.slice(1, -1)) : raw;
  }
  return out;
}

function unescapeValue(text: string): string {
  return text.replace(/\\(.)/g, (_m, c: string) => (c === "n" ? "\n" : c === "r" ? "\r" : c));
}

export interface DotenvResult {
  vars: Array<{ key: string; value: string }>;
  errors: Array<{ line: number; message: string }>;
}

/** A pasted .env: comments, `export `, single or double quotes, `#` comments after unquoted values. */
export function parseDotenv(text: string): DotenvResult {
  const result: DotenvResult = { vars: [], errors: [] };
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (!line || line.startsWith("#")) continue;
    const m = /^(?:export\s+)?([^=\s]+)\s*=\s*(.*)$/.exec(line);
    if (!m) {
      result.errors.push({ line: i + 1, message: "expected KEY=value" });
      continue;
    }
    const key = m[1] as string;
    const problem = validateEnvKey(key);
    if (problem) {
      result.errors.push({ line: i + 1, message: problem });
      continue;
    }
    let value = m[2] as string;
    if (value.startsWith('"')) {
      // A double-quoted value may span lines until its closing quote.
      let body = value.slice(1);
      while (!/(^|[^\\])"\s*(#.*)?$/.test(body) && i + 1 < lines.length) body += `\n${lines[++i]}`;
      body = body.replace(/"\s*(#.*)?$/, "");
      value = body.replace(/\\([\\"nrt$])/g, (_m, c: string) => ({ n: "\n", r: "\r", t: "\t" })[c] ?? c);
    } else if (value.startsWith("'")) {
      value = value.replace(/^'([^']*)'\s*(#.*)?$/, "$1");
    } else {
      value = value.replace(/\s+#.*$/, "").trim();
    }
    result.vars.push({ key, value });
  }
  return result;
}
