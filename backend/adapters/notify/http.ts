/**
 * One POST to a receiver, with a deadline, turned into a result that says in words why it failed.
 * Redirects are not followed: a webhook URL that moved is a configuration to fix, and following
 * it would carry the message (and its signature) somewhere nobody configured.
 */
export interface PostOutcome {
  ok: boolean;
  status: number | null;
  error: string | null;
}

const MAX_REASON = 300;

export async function post(
  url: string,
  init: { headers: Record<string, string>; body: string },
  options: { who: string; timeoutMs: number },
): Promise<PostOutcome> {
  const host = hostOf(url);
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "User-Agent": "Switchyard", ...init.headers },
      body: init.body,
      redirect: "manual",
      signal: AbortSignal.timeout(options.timeoutMs),
    });
  } catch (error) {
    return { ok: false, status: null, error: `could not reach ${options.who} at ${host}: ${networkReason(error, options.timeoutMs)}` };
  }
  const text = await response.text().catch(() => "");
  if (response.ok) return { ok: true, status: response.status, error: null };
  if (response.status >= 300 && response.status < 400) {
    return {
      ok: false,
      status: response.status,
      error: `${options.who} at ${host} answered ${response.status}, a redirect: redirects are not followed, so check the URL`,
    };
  }
  const reason = reasonOf(text);
  return {
    ok: false,
    status: response.status,
    error: `${options.who} at ${host} answered ${response.status}${response.statusText ? ` ${response.statusText}` : ""}${reason ? `: ${reason}` : ""}`,
  };
}

/** Only the host is named: a webhook URL's path is its secret. */
export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return "the configured URL";
  }
}

/** What a receiver said: the usual JSON error fields, else the start of its text. */
function reasonOf(text: string): string {
  const trimmed = text.trim();
  if (!trimmed) return "";
  try {
    const json = JSON.parse(trimmed) as Record<string, unknown>;
    for (const key of ["description", "message", "error", "error_description"]) {
      const value = json[key];
      if (typeof value === "string" && value.trim()) return clip(value);
    }
  } catch {}
  if (/^\s*</.test(trimmed)) return "";
  return clip(trimmed);
}

const clip = (text: string) => {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > MAX_REASON ? `${line.slice(0, MAX_REASON - 1)}…` : line;
};

const NETWORK_CODES: Record<string, string> = {
  ConnectionRefused: "connection refused",
  ECONNREFUSED: "connection refused",
  ConnectionReset: "the connection was reset",
  ECONNRESET: "the connection was reset",
  ConnectionClosed: "the connection was closed before an answer",
  FailedToOpenSocket: "could not open a connection",
  ENOTFOUND: "the host name does not resolve",
  DNSResolutionFailed: "the host name does not resolve",
  EAI_AGAIN: "the host name could not be resolved (DNS did not answer)",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "its TLS certificate is not trusted",
  DEPTH_ZERO_SELF_SIGNED_CERT: "its TLS certificate is self-signed",
  SELF_SIGNED_CERT_IN_CHAIN: "its TLS certificate chain is self-signed",
  CERT_HAS_EXPIRED: "its TLS certificate has expired",
  ERR_TLS_CERT_ALTNAME_INVALID: "its TLS certificate is for another name",
};

export function networkReason(error: unknown, timeoutMs: number): string {
  const e = error as { name?: string; code?: string; message?: string };
  if (e?.name === "TimeoutError" || e?.name === "AbortError") return `no answer within ${Math.round(timeoutMs / 100) / 10} s`;
  const code = e?.code ?? "";
  if (NETWORK_CODES[code]) return NETWORK_CODES[code] as string;
  return clip(e?.message || code || String(error));
}
