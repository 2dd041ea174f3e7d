import type { Role } from "../db/schema/users.ts";
import type { Context } from "./context.ts";

export type Handler = (c: Context) => Response | Promise<Response>;
export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface RouteOptions {
  /** "public" needs no sign-in; a role is the least role allowed (owner > admin > deployer > viewer). */
  auth: "public" | Role;
}

export interface Route extends RouteOptions {
  method: Method;
  pattern: string;
  segments: string[];
  handler: Handler;
}

export type Match = { route: Route; params: Record<string, string> } | { route: null; allowed: Method[] };

/** A small path router: static segments and `:name` parameters, matched segment by segment. */
export class Router {
  readonly routes: Route[] = [];

  on(method: Method, pattern: string, options: RouteOptions, handler: Handler): this {
    this.routes.push({ method, pattern, segments: split(pattern), handler, ...options });
    return this;
  }
  get(pattern: string, options: RouteOptions, handler: Handler) {
    return this.on("GET", pattern, options, handler);
  }
  post(pattern: string, options: RouteOptions, handler: Handler) {
    return this.on("POST", pattern, options, handler);
  }
  put(pattern: string, options: RouteOptions, handler: Handler) {
    return this.on("PUT", pattern, options, handler);
  }
  patch(pattern: string, options: RouteOptions, handler: Handler) {
    return this.on("PATCH", pattern, options, handler);
  }
  delete(pattern: string, options: RouteOptions, handler: Handler) {
    return this.on("DELETE", pattern, options, handler);
  }

  match(method: string, path: string): Match {
    const parts = split(path);
    const allowed: Method[] = [];
    for (const route of this.routes) {
      const params = matchSegments(route.segments, parts);
      if (!params) continue;
      if (route.method === method || (method === "HEAD" && route.method === "GET")) return { route, params };
      allowed.push(route.method);
    }
    return { route: null, allowed };
  }
}

function split(path: string): string[] {
  return path.split("/").filter(Boolean);
}

function matchSegments(pattern: string[], parts: string[]): Record<string, string> | null {
  if (pattern.length !== parts.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i] as string;
    const part = parts[i] as string;
    if (p.startsWith(":")) {
      let value: string;
      try {
        value = decodeURIComponent(part);
      } catch {
        return null;
      }
      params[p.slice(1)] = value;
    } else if (p !== part) {
      return null;
    }
  }
  return params;
}
