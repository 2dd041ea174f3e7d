/**
 * Certificates from an ACME CA through certbot. Run directly when the panel may (local mode, or
 * a panel running as root), with its state under `<data>/certbot`; otherwise through the root
 * helper's `certbot-issue` verb, which keeps it in /etc/letsencrypt. Either way a DNS provider's
 * credentials and a hook's commands exist on disk only for the run: a 0600 file in a 0700
 * directory, removed when certbot has finished, failed or been cancelled.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Config } from "../../config.ts";
import { type RunResult, run, type Stream } from "../exec.ts";
import { HelperError, type Privilege } from "../privilege.ts";

/** How the CA is shown that the names are ours. */
export type AcmeChallenge =
  | { kind: "http-01"; webroot: string }
  | {
      kind: "rfc2136";
      server: string;
      port: number;
      keyName: string;
      keyAlgorithm: string;
      keySecret: string;
      /** How long certbot waits after the update before the CA looks (secondaries catch up). */
      propagationSeconds: number;
    }
  | { kind: "cloudflare"; apiToken: string }
  | { kind: "hook"; authCommand: string; cleanupCommand: string | null; propagationSeconds: number };

export interface IssueRequest {
  /** certbot's lineage name (`*` already replaced by `_`). */
  certName: string;
  /** The names on the certificate, the first one the subject. */
  domains: string[];
  challenge: AcmeChallenge;
  /** Issue again even when the current one is not due. */
  force: boolean;
  /** The ACME account's contact; null registers without one. */
  email: string | null;
}

export interface IssuedFiles {
  fullchain: string;
  key: string;
}

/** certbot failed; `reason` is what it said was wrong, in its words (the CA's "Detail:" lines first). */
export class CertbotError extends Error {
  override name = "CertbotError";
  constructor(
    readonly reason: string,
    readonly output: string,
  ) {
    super(reason);
  }
}

export interface CertbotRunner {
  /** How it runs, for the job log. */
  readonly how: string;
  issue(request: IssueRequest, options: { onLine?: (stream: Stream, line: string) => void; signal?: AbortSignal }): Promise<IssuedFiles>;
}

const NAME_RE = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;
const CERT_NAME_RE = /^(_\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** certbot's DNS plugins and the hook together take well under this; a stuck CA is cut off. */
const CERTBOT_TIMEOUT_MS = 10 * 60_000;

/** The lines that say why certbot failed: the CA's "Detail:" lines (with their "Domain:"), else its error lines. */
export function certbotReason(output: string): string {
  const lines = output
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  const details: string[] = [];
  for (const [i, line] of lines.entries()) {
    if (!line.startsWith("Detail:")) continue;
    const domain = lines
      .slice(Math.max(0, i - 3), i)
      .reverse()
      .find((l) => l.startsWith("Domain:"));
    details.push(`${domain ? `${domain.slice(7).trim()}: ` : ""}${line.slice(7).trim()}`);
  }
  if (details.length) return [...new Set(details)].join("; ");
  const noise =
    /^(Saving debug log|Ask for help|See the logfile|Some challenges have failed|Hint:|Requesting a certificate|Account registered|Simulating|IMPORTANT NOTES)/;
  const errors = lines.filter(
    (l) => !noise.test(l) && /error|failed|refused|unable|could not|cannot|invalid|timeout|timed out|denied/i.test(l),
  );
  const picked = errors.length ? errors.slice(-3) : lines.filter((l) => !noise.test(l)).slice(-2);
  return picked.join(" ").slice(0, 1000) || "certbot failed without saying why";
}

/** The argv after `certbot` for a run whose state lives in `dirs` (null: certbot's defaults, /etc/letsencrypt). */
export function certbotArgs(
  request: IssueRequest,
  o: {
    server: string;
    dirs: { config: string; work: string; logs: string } | null;
    credentials: string | null;
    hooks: { auth: string; cleanup: string | null } | null;
  },
): string[] {
  const args = [
    "certonly",
    "--non-interactive",
    "--agree-tos",
    "--server",
    o.server,
    "--cert-name",
    request.certName,
    "--key-type",
    "ecdsa",
  ];
  if (o.dirs) args.push("--config-dir", o.dirs.config, "--work-dir", o.dirs.work, "--logs-dir", o.dirs.logs);
  args.push(...(request.email ? ["--email", request.email] : ["--register-unsafely-without-email"]));
  args.push(request.force ? "--force-renewal" : "--keep-until-expiring");
  const c = request.challenge;
  switch (c.kind) {
    case "http-01":
      args.push("--webroot", "--webroot-path", c.webroot);
      break;
    case "rfc2136":
      args.push(
        "--dns-rfc2136",
        "--dns-rfc2136-credentials",
        o.credentials ?? "",
        "--dns-rfc2136-propagation-seconds",
        String(c.propagationSeconds),
      );
      break;
    case "cloudflare":
      args.push("--dns-cloudflare", "--dns-cloudflare-credentials", o.credentials ?? "");
      break;
    case "hook":
      args.push("--manual", "--preferred-challenges", "dns", "--manual-auth-hook", o.hooks?.auth ?? "");
      if (o.hooks?.cleanup) args.push("--manual-cleanup-hook", o.hooks.cleanup);
      break;
  }
  for (const d of request.domains) args.push("--domain", d);
  return args;
}

/** The credentials file certbot's DNS plugin reads (INI). */
export function credentialsText(c: AcmeChallenge): string | null {
  if (c.kind === "rfc2136") {
    const name = c.keyName.endsWith(".") ? c.keyName : `${c.keyName}.`;
    return [
      `dns_rfc2136_server = ${c.server}`,
      `dns_rfc2136_port = ${c.port}`,
      `dns_rfc2136_name = ${name}`,
      `dns_rfc2136_secret = ${c.keySecret}`,
      `dns_rfc2136_algorithm = ${c.keyAlgorithm.toUpperCase()}`,
      "",
    ].join("\n");
  }
  if (c.kind === "cloudflare") return `dns_cloudflare_api_token = ${c.apiToken}\n`;
  return null;
}

/** A hook's script: the user's command, then the wait for DNS to propagate. */
export function hookScript(command: string, propagationSeconds: number): string {
  return `set -e\n${command}\n${propagationSeconds > 0 ? `sleep ${Math.floor(propagationSeconds)}\n` : ""}`;
}

/** Every secret value a run involves, for masking its output. */
export function challengeSecrets(c: AcmeChallenge): string[] {
  if (c.kind === "rfc2136") return [c.keySecret];
  if (c.kind === "cloudflare") return [c.apiToken];
  return [];
}

function checkRequest(request: IssueRequest): void {
  if (!CERT_NAME_RE.test(request.certName)) throw new Error(`Refusing certificate name ${JSON.stringify(request.certName)}`);
  if (request.domains.length === 0 || request.domains.length > 100) throw new Error("A certificate needs 1-100 names");
  for (const d of request.domains) if (!NAME_RE.test(d) || d.length > 253) throw new Error(`Refusing domain ${JSON.stringify(d)}`);
}

const running = new Map<string, Promise<void>>();

/**
 * certbot takes a lock on its directories and refuses a second run beside the first ("Another
 * instance of Certbot is already running"): runs sharing a directory wait for each other here.
 */
async function oneAtATime<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const before = running.get(key) ?? Promise.resolve();
  let release = () => {};
  const mine = new Promise<void>((resolve) => {
    release = resolve;
  });
  const chain = before.then(() => mine);
  running.set(key, chain);
  await before;
  try {
    return await fn();
  } finally {
    release();
    if (running.get(key) === chain) running.delete(key);
  }
}

/** Runs certbot itself, as the panel's user, with its state under `<data>/certbot`. */
export function createDirectCertbot(config: Pick<Config, "dataDir" | "acme">): CertbotRunner {
  const base = join(config.dataDir, "certbot");
  const dirs = { config: join(base, "config"), work: join(base, "work"), logs: join(base, "logs") };
  return {
    how: `certbot (state in ${base})`,
    issue: (request, options) => oneAtATime(base, () => issueDirect(request, options)),
  };
  async function issueDirect(request: IssueRequest, options: Parameters<CertbotRunner["issue"]>[1]): Promise<IssuedFiles> {
    checkRequest(request);
    for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true, mode: 0o700 });
    // Credentials and hook commands: only in this directory, only while certbot runs.
    const secrets = mkdtempSync(join(tmpdir(), "sy-certbot-"));
    chmodSync(secrets, 0o700);
    try {
      const c = request.challenge;
      const creds = credentialsText(c);
      const credentials = creds === null ? null : join(secrets, "credentials.ini");
      if (credentials && creds) writeFileSync(credentials, creds, { mode: 0o600 });
      let hooks: { auth: string; cleanup: string | null } | null = null;
      if (c.kind === "hook") {
        writeFileSync(join(secrets, "auth.sh"), hookScript(c.authCommand, c.propagationSeconds), { mode: 0o600 });
        if (c.cleanupCommand) writeFileSync(join(secrets, "cleanup.sh"), hookScript(c.cleanupCommand, 0), { mode: 0o600 });
        hooks = {
          auth: `/bin/sh '${join(secrets, "auth.sh")}'`,
          cleanup: c.cleanupCommand ? `/bin/sh '${join(secrets, "cleanup.sh")}'` : null,
        };
      }
      if (c.kind === "http-01") mkdirSync(c.webroot, { recursive: true });
      const argv = ["certbot", ...certbotArgs(request, { server: config.acme.server, dirs, credentials, hooks })];
      const output: string[] = [];
      const result: RunResult = await run(argv, {
        env: { ...process.env, ...(config.acme.caBundle ? { REQUESTS_CA_BUNDLE: config.acme.caBundle } : {}) },
        timeoutMs: CERTBOT_TIMEOUT_MS,
        ...(options.signal ? { signal: options.signal } : {}),
        onLine: (stream, line) => {
          output.push(line);
          options.onLine?.(stream, line);
        },
      });
      if (result.code !== 0) {
        const text = output.join("\n");
        throw new CertbotError(result.timedOut ? "certbot did not finish within 10 minutes" : certbotReason(text), text);
      }
      const live = join(dirs.config, "live", request.certName);
      if (!existsSync(join(live, "fullchain.pem")))
        throw new CertbotError(`certbot finished but left no certificate in ${live}`, output.join("\n"));
      return { fullchain: readFileSync(join(live, "fullchain.pem"), "utf8"), key: readFileSync(join(live, "privkey.pem"), "utf8") };
    } finally {
      rmSync(secrets, { recursive: true, force: true });
    }
  }
}

/** Framing of the helper's answer: the PEM texts between these lines. */
export const FRAME = { fullchain: "-----SWITCHYARD FULLCHAIN-----", key: "-----SWITCHYARD KEY-----", end: "-----SWITCHYARD END-----" };

/** The fullchain and key from the helper's stdout; null when the frame is not there. */
export function parseHelperAnswer(stdout: string): IssuedFiles | null {
  const a = stdout.indexOf(`${FRAME.fullchain}\n`);
  const b = stdout.indexOf(`${FRAME.key}\n`, a + 1);
  const e = stdout.indexOf(FRAME.end, b + 1);
  if (a < 0 || b < 0 || e < 0) return null;
  return { fullchain: stdout.slice(a + FRAME.fullchain.length + 1, b), key: stdout.slice(b + FRAME.key.length + 1, e) };
}

/**
 * What the helper reads on stdin for a DNS challenge: `key=<base64 value>` lines, so no value
 * can smuggle a line of its own; the helper checks each one again.
 */
export function helperInput(c: AcmeChallenge): string {
  const b64 = (v: string) => Buffer.from(v).toString("base64");
  const pairs: Array<[string, string]> =
    c.kind === "rfc2136"
      ? [
          ["server", c.server],
          ["port", String(c.port)],
          ["name", c.keyName.endsWith(".") ? c.keyName : `${c.keyName}.`],
          ["secret", c.keySecret],
          ["algorithm", c.keyAlgorithm.toUpperCase()],
          ["propagation", String(c.propagationSeconds)],
        ]
      : c.kind === "cloudflare"
        ? [["api_token", c.apiToken]]
        : c.kind === "hook"
          ? [
              ["auth_command", c.authCommand],
              ...(c.cleanupCommand ? ([["cleanup_command", c.cleanupCommand]] as Array<[string, string]>) : []),
              ["propagation", String(Math.floor(c.propagationSeconds))],
            ]
          : [];
  return pairs.map(([k, v]) => `${k}=${b64(v)}\n`).join("");
}

/** The helper's arguments: `certbot-issue NAME CHALLENGE force|keep EMAIL|- DOMAIN…`. */
export function helperArgs(request: IssueRequest): string[] {
  return [
    "certbot-issue",
    request.certName,
    request.challenge.kind,
    request.force ? "force" : "keep",
    request.email ?? "-",
    ...request.domains,
  ];
}

/** Server mode without root: the helper runs certbot as root with /etc/letsencrypt. */
export function createHelperCertbot(privilege: Privilege): CertbotRunner {
  return {
    how: "certbot through the root helper (state in /etc/letsencrypt)",
    async issue(request, options) {
      checkRequest(request);
      let result: RunResult;
      try {
        result = await oneAtATime("helper", () =>
          privilege.helper(helperArgs(request), helperInput(request.challenge), {
            timeoutMs: CERTBOT_TIMEOUT_MS,
            ...(options.signal ? { signal: options.signal } : {}),
          }),
        );
      } catch (error) {
        if (!(error instanceof HelperError)) throw error;
        const text = `${error.result.stderr}\n${error.result.stdout.split(FRAME.fullchain)[0] ?? ""}`;
        for (const line of text.split("\n")) if (line.trim()) options.onLine?.("stderr", line);
        throw new CertbotError(error.refused ? error.message : certbotReason(text), text);
      }
      for (const line of result.stderr.split("\n")) if (line.trim()) options.onLine?.("stderr", line);
      const files = parseHelperAnswer(result.stdout);
      if (!files) throw new CertbotError("the helper did not answer with a certificate", result.stderr);
      return files;
    },
  };
}

export function createCertbot(config: Pick<Config, "dataDir" | "acme" | "mode">, privilege: Privilege): CertbotRunner {
  return config.mode === "server" && !privilege.root ? createHelperCertbot(privilege) : createDirectCertbot(config);
}
