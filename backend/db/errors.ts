/** A unique index refused a write: which one, and the value that clashed (from "Key (name)=(x) already exists."). */
export interface UniqueViolation {
  constraint: string;
  value: string | null;
}

/**
 * Finds a unique violation (SQLSTATE 23505) in an error or its causes: drizzle wraps the driver's
 * error, postgres.js names the index `constraint_name`, PGlite `constraint`.
 */
export function uniqueViolation(error: unknown): UniqueViolation | null {
  for (let e = error, depth = 0; e && typeof e === "object" && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const fields = e as { code?: unknown; constraint?: unknown; constraint_name?: unknown; detail?: unknown };
    if (fields.code !== "23505") continue;
    const constraint = String(fields.constraint_name ?? fields.constraint ?? "");
    const value = typeof fields.detail === "string" ? (/\)=\((.*)\) already exists/.exec(fields.detail)?.[1] ?? null) : null;
    return { constraint, value };
  }
  return null;
}
