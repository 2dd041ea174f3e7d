/**
 * Where a visitor may go, decided from the session (see session.svelte.ts):
 *
 *   setup needed          → /setup (every page)
 *   not signed in         → /login?next=<where they were going>
 *   signed in, on /login  → next (or /)
 *   setup done, on /setup → /login, or / when signed in
 *   two-factor required   → /account until the user turns it on
 *
 * The route groups' `load` functions call these before anything renders, so a protected page
 * never flashes for a signed-out visitor.
 */
import { error, redirect } from "@sveltejs/kit";
import { ApiError } from "#lib/api/client.ts";
import { session } from "#lib/state/session.svelte.ts";

const AUTH_PAGES = ["/login", "/setup"];
/** Where two-factor sign-in is turned on: the only page while the owner requires it and the user has not. */
export const ACCOUNT_PAGE = "/account";

/**
 * `next` only if it is a path on this site ("/apps/x?tab=y"), never an absolute or
 * protocol-relative URL ("//evil.example", "/\\evil.example") or another auth page.
 */
export function safeNext(next: string | null | undefined, fallback = "/"): string {
  if (!next?.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) return fallback;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this refuses
  if (/[\u0000-\u001f]/.test(next)) return fallback;
  try {
    const base = new URL("http://switchyard.invalid");
    const url = new URL(next, base);
    if (url.origin !== base.origin) return fallback;
    if (AUTH_PAGES.some((p) => url.pathname === p || url.pathname.startsWith(`${p}/`))) return fallback;
    return `${url.pathname}${url.search}${url.hash}`;
  } catch {
    return fallback;
  }
}

export function loginPath(next?: string): string {
  const target = safeNext(next, "");
  return target && target !== "/" ? `/login?next=${encodeURIComponent(target)}` : "/login";
}

/** Loads the session; an unreachable server becomes the error page (with a retry), not a redirect loop. */
async function loadSession(): Promise<void> {
  try {
    await session.load();
  } catch (e) {
    const apiError = e instanceof ApiError ? e : null;
    error(apiError?.status && apiError.status >= 400 ? apiError.status : 503, {
      message: apiError?.message ?? "Can't reach the Switchyard server.",
      code: apiError?.code ?? "network_error",
    });
  }
}

/** For signed-in pages. */
export async function requireUser(url: URL): Promise<void> {
  await loadSession();
  if (session.setupNeeded) redirect(307, "/setup");
  if (!session.user) redirect(307, loginPath(`${url.pathname}${url.search}`));
  if (session.twoFactorNeeded && url.pathname !== ACCOUNT_PAGE) redirect(307, ACCOUNT_PAGE);
}

/** For /login. */
export async function requireGuest(url: URL): Promise<void> {
  await loadSession();
  if (session.setupNeeded) redirect(307, "/setup");
  if (session.user) redirect(307, safeNext(url.searchParams.get("next")));
}

/** For /setup. */
export async function requireSetupNeeded(): Promise<void> {
  await loadSession();
  if (!session.setupNeeded) redirect(307, session.user ? "/" : "/login");
}
