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

/**
 * The body's bytes, counted as they arrive: a chunked body with no Content-Length is cut off as
 * soon as it passes the limit, so it is never held whole in memory.
 */
export async function readRawBody(c: Context, limit = DEFAULT_BODY_LIMIT): Promise<Uint8Array> {
  const declared = Number(c.req.headers.get("content-length") ?? "0");
  if (declared > limit) throw tooLarge(limit);
  if (!c.req.body) return new Uint8Array(0);
  const reader = c.req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const next = await reader.read().catch((error: Error) => {
      throw new HttpError(400, "unreadable_body", `The request body could not be read: ${error.message}`);
    });
    if (next.done) break;
    size += next.value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw tooLarge(limit);
    }
    chunks.push(next.value);
  }
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
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
  return validate(data, schema, "body");
}

export function readQuery<S extends z.ZodType>(c: Context, schema: S): z.output<S> {
  return validate(Object.fromEntries(c.url.searchParams), schema, "query");
}

export function readParams<S extends z.ZodType>(c: Context, schema: S): z.output<S> {
  return validate(c.params, schema, "path");
}

function validate<S extends z.ZodType>(data: unknown, schema: S, where: "body" | "query" | "path"): z.output<S> {
  const bad = findUnstorableText(data);
  if (bad) {
    const path = bad.path || where;
    throw new HttpError(400, "validation_failed", `${path}: ${bad.message}.`, { issues: [{ path, message: bad.message }] });
  }
  const parsed = schema.safeParse(data);
  if (!parsed.success) throw validationError(parsed.error, where);
  return parsed.data;
}

/** A place in a parsed body: its key and its parent's place (shared, so deep nesting costs no copies). */
interface Place {
  key: string;
  parent: Place | null;
}

const pathOf = (place: Place | null): string => {
  const keys: string[] = [];
  for (let p = place; p; p = p.parent) keys.push(p.key);
  return keys.reverse().join(".");
};

/**
 * The first string (value or key) the database cannot store as text, or a key that would reach an
 * object's prototype: Postgres refuses U+0000 in text and lone UTF-16 surrogates in JSON, and
 * no field of the API is called __proto__. Walked with a stack of its own, so depth cannot overflow.
 */
export function findUnstorableText(data: unknown): { path: string; message: string } | null {
  const stack: Array<{ value: unknown; place: Place | null }> = [{ value: data, place: null }];
  while (stack.length > 0) {
    const { value, place } = stack.pop() as { value: unknown; place: Place | null };
    if (typeof value === "string") {
      const problem = textProblem(value);
      if (problem) return { path: pathOf(place), message: problem };
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], place: { key: String(i), parent: place } });
    } else if (value !== null && typeof value === "object") {
      for (const key of Object.keys(value).reverse()) {
        if (key === "__proto__") return { path: pathOf({ key, parent: place }), message: "is not an allowed key" };
        const problem = textProblem(key);
        if (problem) return { path: pathOf(place), message: `a key ${problem}` };
        stack.push({ value: (value as Record<string, unknown>)[key], place: { key, parent: place } });
      }
    }
  }
  return null;
}

/** Why a string cannot be stored as text, or null when it can. */
export function textProblem(text: string): string | null {
  if (text.includes("\0")) return "must not contain a NUL character (U+0000)";
  if (!text.isWellFormed()) return "must not contain a lone surrogate (a half of a UTF-16 pair, such as \\ud800)";
  return null;
}

function tooLarge(limit: number): HttpError {
  const size = limit >= 1024 * 1024 ? `${Math.round((limit / 1024 / 1024) * 10) / 10} MiB` : `${Math.round(limit / 1024)} KiB`;
  return new HttpError(413, "payload_too_large", `Request body is larger than ${size}.`, { limitBytes: limit });
}
