/**
 * `switchyard domains …` and `switchyard certificates`: the running panel's domains API with an API
 * token (SWITCHYARD_TOKEN), as any client would; the panel runs the checks and the issuing jobs.
 */
import { type Api, api, CliFailure, follow, type JobJson } from "./cli-databases.ts";
import type { Config } from "./config.ts";
import type { AppDomain, Certificate, CertificateBrief } from "./contract/api.ts";

export const DOMAINS_USAGE = `  domains list APP               the app's domains: DNS check, certificate, https settings
  domains add APP NAME           give the app a domain; checks its DNS and shows the records to
                                 create (once DNS points here, its certificate is requested)
  domains remove APP NAME        take a domain from the app (its certificate stays listed)
  domains check APP NAME         check the domain's DNS again
  domains cert APP NAME [--dns PROVIDER] [--wildcard] [--force]
                                 issue its certificate (HTTP-01; --dns: DNS-01 through a DNS
                                 provider, --wildcard: *.<parent> and <parent>); prints the log
  certificates                   every certificate with its status and expiry
  (domains and certificates reach the panel as db does: SWITCHYARD_URL and SWITCHYARD_TOKEN)
`;

const path = (app: string, name?: string) =>
  `/api/v1/apps/${encodeURIComponent(app)}/domains${name === undefined ? "" : `/${encodeURIComponent(name)}`}`;

function certificateText(c: CertificateBrief | null): string {
  if (!c) return "no certificate";
  const until = c.notAfter ? ` until ${c.notAfter.slice(0, 10)}` : "";
  return `certificate ${c.name}: ${c.status}${until}${c.error ? ` (${c.error})` : ""}`;
}

function printDomain(d: AppDomain): void {
  console.log(`${d.name}  ${d.url}`);
  console.log(`  DNS: ${d.dns.ok ? "points here" : (d.dns.problem ?? "not ok")}`);
  if (!d.dns.ok && d.dns.expected.length > 0) {
    console.log("  Records to create:");
    for (const r of d.dns.expected) console.log(`    ${r.name}  ${r.type}  ${r.value}`);
  }
  console.log(
    `  Ownership (optional): TXT ${d.dns.ownership.record.name} "${d.dns.ownership.record.value}" ${d.dns.ownership.verified ? "verified" : "not found"}`,
  );
  console.log(
    `  ${certificateText(d.certificate)}; redirect to https ${d.redirect ? "on" : "off"}; HSTS ${d.hsts ? "on" : "off"}; canonical ${d.canonical}`,
  );
}

function flag(args: string[], name: string): boolean {
  return args.includes(name);
}

/** The value after `name` in `args` (undefined when `name` is absent); refuses a missing value. */
export function option(args: string[], name: string): string | undefined {
  const at = args.indexOf(name);
  if (at < 0) return undefined;
  const value = args[at + 1];
  if (!value || value.startsWith("--")) throw new CliFailure(`${name} needs a value`);
  return value;
}

/** A subcommand's check that its arguments are all given; when one is missing it prints `usage: COMMAND USAGE`. */
export function usageCheck(command: string): (usage: string, ...values: Array<string | undefined>) => void {
  return (usage, ...values) => {
    if (values.some((v) => !v)) throw new CliFailure(`usage: ${command} ${usage}`);
  };
}

export async function domainsCommand(config: Config, args: string[], env = process.env): Promise<void> {
  const [sub, app, name, ...rest] = args;
  const client = api(config, env);
  const need = usageCheck("domains");
  switch (sub) {
    case "list": {
      need("list APP", app);
      const domains = await client.call<AppDomain[]>("GET", path(app as string));
      if (domains.length === 0) console.log(`${app} has no domains; it is reached at its .localhost address.`);
      for (const d of domains) printDomain(d);
      return;
    }
    case "add": {
      need("add APP NAME", app, name);
      const domain = await client.call<AppDomain>("POST", path(app as string), { name });
      printDomain(domain);
      if (domain.certificate?.status === "pending") console.log("DNS points here: its certificate is being issued (see `certificates`).");
      return;
    }
    case "remove": {
      need("remove APP NAME", app, name);
      await client.call("DELETE", path(app as string, name));
      console.log(`${name} removed from ${app}.`);
      return;
    }
    case "check": {
      need("check APP NAME", app, name);
      const domain = await client.call<AppDomain>("POST", `${path(app as string, name)}/check`, {});
      printDomain(domain);
      if (!domain.dns.ok) throw new CliFailure(`${name} does not point here yet`);
      return;
    }
    case "cert": {
      need("cert APP NAME [--dns PROVIDER] [--wildcard] [--force]", app, name);
      const provider = option(rest, "--dns");
      const wildcard = flag(rest, "--wildcard");
      if (wildcard && !provider) throw new CliFailure("--wildcard needs --dns PROVIDER: a wildcard is proven through DNS");
      const body = {
        mode: provider ? "dns-01" : "http-01",
        ...(provider ? { provider } : {}),
        ...(wildcard ? { wildcard } : {}),
        ...(flag(rest, "--force") ? { force: true } : {}),
      };
      const { job, certificate } = await client.call<{ job: JobJson; certificate: CertificateBrief }>(
        "POST",
        `${path(app as string, name)}/certificate`,
        body,
      );
      console.log(`Issuing ${certificate.name} (job ${job.id})…`);
      await follow(client, job);
      await printCertificates(client, certificate.id);
      return;
    }
    default:
      throw new CliFailure(`unknown domains command '${sub ?? ""}'\n\n${DOMAINS_USAGE}`);
  }
}

async function printCertificates(client: Api, only?: string): Promise<void> {
  const { certificates } = await client.call<{ certificates: Certificate[] }>("GET", "/api/v1/certificates");
  const shown = only ? certificates.filter((c) => c.id === only) : certificates;
  if (shown.length === 0) console.log("No certificates.");
  for (const c of shown) {
    const left = c.daysLeft === null ? "" : ` (${c.daysLeft} days left)`;
    const until = c.notAfter ? `expires ${c.notAfter.slice(0, 10)}${left}` : "not issued yet";
    console.log(`${c.name.padEnd(40)} ${c.status.padEnd(9)} ${c.mode.padEnd(8)} ${until}${c.issuer ? `  ${c.issuer}` : ""}`);
    if (c.names.length > 1) console.log(`  names: ${c.names.join(", ")}`);
    if (c.domains.length > 0) console.log(`  serves: ${c.domains.map((d) => `${d.name} (${d.app})`).join(", ")}`);
    if (c.error) console.log(`  last error: ${c.error}`);
    if (c.job) console.log(`  job ${c.job.id}: ${c.job.status}`);
  }
}

export async function certificatesCommand(config: Config, env = process.env): Promise<void> {
  await printCertificates(api(config, env));
}
