import type { z } from "zod";

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
