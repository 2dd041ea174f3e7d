import type { Server } from "bun";
import type { z } from "zod";
import type { AuthInfo } from "../auth/sessions.ts";
import type { Services } from "../services.ts";
import { HttpError, validationError } from "./errors.ts";

export const DEFAULT_BODY_LIMIT = 1024 * 1024;

export interface Context {
  readonly req: Request;
  readonly url: URL;
  readonly params: Record<string, string>;
  readonly requestId: string;
  readonly ip: string;
  readonly services: Services;
  /** The listening server, when there is one (absent for in-process requests). */
  readonly server?: Server<unknown>;
  /** Set by the auth middleware for routes that need it. */
  auth: AuthInfo | null;
  /** Headers to add to whatever response the route returns (cookies, rate-limit info). */
  readonly responseHeaders: Headers;
  /** Set once the route wrote its own audit entry. */
  audited: boolean;
}

export async function readRawBody(c: Context, limit = DEFAULT_BODY_LIMIT): Promise<Uint8Array> {
  const declared = Number(c.req.headers.get("content-length") ?? "0");
  if (declared > limit) throw tooLarge(limit);
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  if (bytes.byteLength > limit) throw tooLarge(limit);
  return bytes;
}

/** Reads a JSON body and validates it; every failure is a 4xx that says what is wrong. */
export async function readJson<S extends z.ZodType>(c: Context, schema: S, limit = DEFAULT_BODY_LIMIT): Promise<z.output<S>> {
  const bytes = await readRawBody(c, limit);
  return parseJson(bytes, schema);
}

export function parseJson<S extends z.ZodType>(bytes: Uint8Array, schema: S): z.output<S> {
  let data: unknown;
  if (bytes.byteLength === 0) {
    data = {};
  } else {
    try {
      data = JSON.parse(new TextDecoder().decode(bytes));
    } catch (error) {
      throw new HttpError(400, "invalid_json", `Request body is not valid JSON: ${(error as Error).message}`);
    }
  }
  const parsed = schema.safeParse(data);
  if (!parsed.success) throw validationError(parsed.error, "body");
  return parsed.data;
}

export function readQuery<S extends z.ZodType>(c: Context, schema: S): z.output<S> {
  const parsed = schema.safeParse(Object.fromEntries(c.url.searchParams));
  if (!parsed.success) throw validationError(parsed.error, "query");
  return parsed.data;
}

export function readParams<S extends z.ZodType>(c: Context, schema: S): z.output<S> {
  const parsed = schema.safeParse(c.params);
  if (!parsed.success) throw validationError(parsed.error, "path");
  return parsed.data;
}

function tooLarge(limit: number): HttpError {
  return new HttpError(413, "payload_too_large", `Request body is larger than ${Math.round(limit / 1024)} KiB.`);
}
