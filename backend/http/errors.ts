import type { z } from "zod";
import { uniqueViolation } from "../db/errors.ts";

/** The one error type routes throw; `toResponse` renders the API's error shape. */
export class HttpError extends Error {
  override name = "HttpError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }

  toResponse(requestId?: string): Response {
    const body = { error: { code: this.code, message: this.message, ...(this.details === undefined ? {} : { details: this.details }) } };
    return Response.json(body, {
      status: this.status,
      headers: { ...this.headers, ...(requestId ? { "x-request-id": requestId } : {}) },
    });
  }
}

export const badRequest = (message: string, details?: unknown) => new HttpError(400, "bad_request", message, details);
export const unauthenticated = (message = "Sign in to continue.") => new HttpError(401, "unauthenticated", message);
export const forbidden = (message = "You do not have permission to do that.") => new HttpError(403, "forbidden", message);
export const notFound = (what = "Resource") => new HttpError(404, "not_found", `${what} not found.`);
export const conflict = (code: string, message: string, details?: unknown) => new HttpError(409, code, message, details);
export const unprocessable = (code: string, message: string, details?: unknown) => new HttpError(422, code, message, details);

export interface ValidationIssue {
  path: string;
  message: string;
}

/** A zod failure as a 400 whose message names the first offending field. */
export function validationError(error: z.ZodError, where: "body" | "query" | "path"): HttpError {
  const issues: ValidationIssue[] = error.issues.map((issue) => ({
    path: issue.path.map(String).join(".") || where,
    message: issue.message,
  }));
  const first = error.issues[0];
  const firstPath = issues[0]?.path ?? where;
  const missing = first?.code === "invalid_type" && /received undefined/.test(first.message);
  const message = missing ? `${firstPath} is required.` : `${firstPath}: ${issues[0]?.message ?? "invalid value"}.`;
  return new HttpError(400, "validation_failed", message.replace(/\.\.$/, "."), { issues });
}

/** What each unique index means to a client; a race the database settled becomes a 409 here. */
const CONFLICTS: Record<string, (value: string | null) => HttpError> = {
  apps_name_idx: (name) => conflict("app_exists", name ? `An app named ${name} already exists.` : "An app with that name already exists."),
  domains_name_idx: (name) =>
    conflict("domain_taken", name ? `${name} already belongs to another app.` : "One of these domains already belongs to another app."),
  jobs_one_self_update_idx: () => conflict("update_running", "An update of Switchyard is already under way; wait for it to finish."),
};

/** The 409 for a database conflict, or null when the error is something else. */
export function conflictFromDatabase(error: unknown): HttpError | null {
  const violation = uniqueViolation(error);
  if (!violation) return null;
  const make = CONFLICTS[violation.constraint];
  return make ? make(violation.value) : conflict("conflict", "That conflicts with something that already exists.");
}

/**
 * A full disk, wherever it surfaced: a file write (ENOSPC, EDQUOT) or Postgres' disk_full (SQLSTATE
 * 53100, "could not extend file …: No space left on device"), in the error or its causes. Told by
 * code only: a message may quote what the user sent. Answers that error's message, for the log
 * (the outer errors carry the query and its values).
 */
export function diskFull(error: unknown): string | null {
  for (let e = error, depth = 0; e && typeof e === "object" && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (code === "ENOSPC" || code === "EDQUOT" || code === "53100") return typeof message === "string" ? message.slice(0, 500) : code;
  }
  return null;
}

/** The 507 for a full disk, or null when the error is something else. */
export function storageError(error: unknown): HttpError | null {
  if (diskFull(error) === null) return null;
  return new HttpError(
    507,
    "insufficient_storage",
    "The server's disk is full, so nothing was saved. Free some space on the server and try again.",
  );
}
