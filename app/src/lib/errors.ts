/**
 * The one place errors become words. `handleError` turns anything thrown (an ApiError, a network
 * failure, a bug) into a toast the user can act on; `describeError` gives the same words for
 * inline display (forms, empty states).
 */
import { ApiError } from "#lib/api/client.ts";
import { session } from "#lib/state/session.svelte.ts";
import { toasts } from "#lib/state/toasts.svelte.ts";

export interface ErrorContext {
  /** What the user was doing, as a toast title: "Couldn't load apps". */
  title?: string;
  /** Offered as a "Try again" button on the toast. */
  retry?: () => void;
  /** Treat a 401 as an expired session and send the user to sign in (default true). */
  redirectOnAuth?: boolean;
}

export interface ErrorDescription {
  title: string;
  description: string;
}

function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === "AbortError";
}

export function describeError(error: unknown, context: ErrorContext = {}): ErrorDescription {
  if (error instanceof ApiError) {
    const title = context.title;
    switch (true) {
      case error.code === "network_error":
        return { title: title ?? "Can't reach the server", description: error.message };
      case error.code === "timeout":
        return { title: title ?? "The server is taking too long", description: error.message };
      case error.status === 401:
        return { title: "Your session has ended", description: "Sign in again to continue." };
      case error.status === 403:
        return { title: title ?? "Not allowed", description: error.message };
      case error.status === 404:
        return { title: title ?? "Not found", description: error.message };
      case error.status === 409:
        return { title: title ?? "That conflicts with the current state", description: error.message };
      case error.status === 429: {
        const wait = error.retryAfter ? ` Try again in ${error.retryAfter} seconds.` : "";
        const description = /try again in/i.test(error.message) ? error.message : `${error.message}${wait}`;
        return { title: title ?? "Slow down", description };
      }
      case error.code === "validation_failed": {
        const first = error.issues[0];
        const description = first ? `${first.path}: ${first.message}` : error.message;
        return { title: title ?? "Check the highlighted fields", description };
      }
      case error.status >= 500:
        return {
          title: title ?? "The server ran into a problem",
          description: `${error.message}${error.requestId && !error.message.includes(error.requestId) ? ` (request ${error.requestId})` : ""}`,
        };
      default:
        return { title: title ?? "Request failed", description: error.message };
    }
  }
  const message = error instanceof Error && error.message ? error.message : "An unexpected error occurred.";
  return {
    title: context.title ?? "Something went wrong",
    description: `${message} Reload the page; if it keeps happening, check the server logs.`,
  };
}

/**
 * Reports an error as a toast (and, for an expired session, sends the user to sign in).
 * Returns the error as an ApiError when it was one, so callers can still read field errors.
 */
export function handleError(error: unknown, context: ErrorContext = {}): ApiError | null {
  if (isAbort(error)) return null;

  // An expired session: forget the user; the panel layout then sends them to sign in (with `next`).
  if (error instanceof ApiError && error.status === 401 && context.redirectOnAuth !== false) {
    if (session.signedIn) toasts.info("Your session has ended", "Sign in again to continue.");
    session.expire();
    return error;
  }

  // The owner requires two-factor sign-in: the panel layout sends the user to the account page to turn it on.
  if (error instanceof ApiError && error.code === "two_factor_required") {
    if (!session.twoFactorNeeded) toasts.info("Turn on two-factor sign-in", error.message);
    session.needTwoFactor();
    return error;
  }

  if (!(error instanceof ApiError)) console.error(error);

  const { title, description } = describeError(error, context);
  toasts.show({
    kind: "error",
    title,
    description,
    ...(context.retry ? { action: { label: "Try again", onClick: context.retry } } : {}),
  });
  return error instanceof ApiError ? error : null;
}
