type Level = "debug" | "info" | "warn" | "error";
const rank: Record<Level | "silent", number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** Structured JSON lines on stdout (stderr for warnings and errors): one object per event. */
export function createLogger(min: Level | "silent" = "info", base: Record<string, unknown> = {}): Logger {
  const write = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (rank[level] < rank[min]) return;
    const line = JSON.stringify({ t: new Date().toISOString(), level, msg, ...base, ...fields }, errorReplacer);
    (rank[level] >= rank.warn ? process.stderr : process.stdout).write(`${line}\n`);
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
  };
}

/**
 * A failed query's error lists its parameters after `params:`: user input and password hashes,
 * which stay out of the log. The statement itself is kept.
 */
export function withoutQueryParams(text: string): string {
  return text.replace(/\nparams: [\s\S]*?(?=\n\s+at |$)/, "\nparams: (not logged)");
}

export function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    return {
      name: value.name,
      message: withoutQueryParams(value.message),
      stack: value.stack === undefined ? undefined : withoutQueryParams(value.stack),
      cause: value.cause,
    };
  }
  return value;
}
