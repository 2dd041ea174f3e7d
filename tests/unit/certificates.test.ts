import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { certbotReason } from "../../backend/adapters/acme/index.ts";
import {
  certificateStatus,
  coveringCertificate,
  MAX_CERTIFICATE_PEM_BYTES,
  nameCovers,
  parseCertificate,
  splitPemChain,
  validateCustomCertificate,
} from "../../backend/domain/certificates.ts";

const dir = mkdtempSync(join(tmpdir(), "sy-certs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function openssl(...args: string[]): void {
  const r = Bun.spawnSync(["openssl", ...args], { cwd: dir, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr.toString()}`);
}
const read = (file: string) => readFileSync(join(dir, file), "utf8");

/** A private CA (root → intermediate) and leaves it signs, made with openssl as a user would. */
function ca(name: string): void {
  openssl(
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    `${name}-root.key`,
    "-out",
    `${name}-root.pem`,
    "-days",
    "30",
    "-subj",
    `/O=${name} Org/CN=${name} Root`,
    "-addext",
    "basicConstraints=critical,CA:true",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  );
  openssl(
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    `${name}-int.key`,
    "-out",
    `${name}-int.csr`,
    "-subj",
    `/O=${name} Org/CN=${name} Intermediate`,
  );
  writeFileSync(join(dir, "ca.ext"), "basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\n");
  openssl(
    "x509",
    "-req",
    "-in",
    `${name}-int.csr`,
    "-CA",
    `${name}-root.pem`,
    "-CAkey",
    `${name}-root.key`,
    "-CAcreateserial",
    "-out",
    `${name}-int.pem`,
    "-days",
    "20",
    "-extfile",
    "ca.ext",
  );
}
function leaf(name: string, caName: string, sans: string): void {
  openssl(
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.csr`,
    "-subj",
    `/CN=${name}`,
  );
  writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${sans}\n`);
  openssl(
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    `${caName}-int.pem`,
    "-CAkey",
    `${caName}-int.key`,
    "-CAcreateserial",
    "-out",
    `${name}.pem`,
    "-days",
    "10",
    "-extfile",
    `${name}.ext`,
  );
}

ca("acme");
ca("other");
leaf("shop", "acme", "DNS:shop.example.com,DNS:www.shop.example.com");
leaf("wild", "acme", "DNS:*.example.com,DNS:example.com");
leaf("stranger", "other", "DNS:shop.example.com");
openssl(
  "req",
  "-x509",
  "-newkey",
  "rsa:2048",
  "-nodes",
  "-keyout",
  "self.key",
  "-out",
  "self.pem",
  "-days",
  "5",
  "-subj",
  "/CN=self.example.com",
  "-addext",
  "subjectAltName=DNS:self.example.com",
);

const fullChain = (name: string, caName: string, withRoot = true) =>
  [read(`${name}.pem`), read(`${caName}-int.pem`), ...(withRoot ? [read(`${caName}-root.pem`)] : [])].join("");

describe("names a certificate covers", () => {
  test("a wildcard covers one label, an exact name itself", () => {
    expect(nameCovers("*.example.com", "shop.example.com")).toBe(true);
    expect(nameCovers("*.example.com", "a.b.example.com")).toBe(false);
    expect(nameCovers("*.example.com", "example.com")).toBe(false);
    expect(nameCovers("shop.example.com", "shop.example.com")).toBe(true);
  });

  test("the exact certificate beats a wildcard; an expired one serves nothing", () => {
    const now = new Date("2030-01-01T00:00:00Z");
    const later = new Date("2030-03-01T00:00:00Z");
    const base = { state: "valid" as const, certificatePem: "x" };
    const wild = { ...base, names: ["*.example.com", "example.com"], notAfter: later };
    const exact = { ...base, names: ["shop.example.com"], notAfter: new Date("2030-02-01T00:00:00Z") };
    const expired = { ...base, names: ["old.example.com"], notAfter: new Date("2029-12-01T00:00:00Z") };
    expect(coveringCertificate([wild, exact], "shop.example.com", now)).toBe(exact);
    expect(coveringCertificate([wild, exact], "blog.example.com", now)).toBe(wild);
    expect(coveringCertificate([expired], "old.example.com", now)).toBeNull();
    expect(certificateStatus({ state: "valid", notAfter: new Date("2030-01-10T00:00:00Z") }, now)).toBe("expiring");
  });
});

describe("parseCertificate", () => {
  test("reads names, issuer, serial, dates and the chain", () => {
    const parsed = parseCertificate(fullChain("shop", "acme"));
    expect(parsed.names).toEqual(["shop.example.com", "www.shop.example.com"]);
    expect(parsed.issuer).toBe("acme Org (acme Intermediate)");
    expect(parsed.chain).toHaveLength(3);
    expect(parsed.serial).toMatch(/^[0-9A-F]+$/);
    expect(parsed.notAfter.getTime()).toBeGreaterThan(parsed.notBefore.getTime());
    expect(parsed.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(splitPemChain(`junk\n${read("shop.pem")}\nmore junk\n${read("acme-int.pem")}`)).toHaveLength(2);
  });

  test("text that is not a certificate is refused with a sentence", () => {
    expect(() => parseCertificate("hello")).toThrow(/No PEM certificate/);
    expect(() => parseCertificate("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")).toThrow(/not a readable/);
  });
});

describe("validateCustomCertificate", () => {
  const check = (o: Partial<Parameters<typeof validateCustomCertificate>[0]>) =>
    validateCustomCertificate({ pem: fullChain("shop", "acme"), key: read("shop.key"), domain: "shop.example.com", ...o });

  test("a private CA's chain up to its self-signed root is accepted, with the key that matches", () => {
    const r = check({});
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.parsed.names).toContain("shop.example.com");
    // A wildcard covers a name under it; a self-signed certificate on its own is its own chain.
    expect(check({ pem: fullChain("wild", "acme"), key: read("wild.key"), domain: "blog.example.com" }).ok).toBe(true);
    expect(check({ pem: read("self.pem"), key: read("self.key"), domain: "self.example.com" }).ok).toBe(true);
  });

  test("a key that does not match the leaf is refused on the key field", () => {
    expect(check({ key: read("wild.key") })).toMatchObject({ ok: false, field: "key", message: expect.stringContaining("does not match") });
    expect(check({ key: "not a key" })).toMatchObject({ ok: false, field: "key" });
    expect(check({ key: read("shop.pem") })).toMatchObject({ ok: false, field: "key" });
  });

  test("a chain that does not verify is refused on the cert field", () => {
    // The intermediate of another CA after the leaf.
    const broken = [read("shop.pem"), read("other-int.pem"), read("other-root.pem")].join("");
    expect(check({ pem: broken })).toMatchObject({ ok: false, field: "cert", message: expect.stringContaining("broken chain") });
    // Leaf alone: its issuer is neither given nor a public root.
    expect(check({ pem: read("shop.pem") })).toMatchObject({
      ok: false,
      field: "cert",
      message: expect.stringContaining("incomplete chain"),
    });
    // Without the private root, likewise.
    expect(check({ pem: fullChain("shop", "acme", false) })).toMatchObject({ ok: false, field: "cert" });
    // …unless that root is trusted.
    expect(check({ pem: fullChain("shop", "acme", false), roots: [read("acme-root.pem")] }).ok).toBe(true);
  });

  test("the certificate must cover the domain and be valid now", () => {
    expect(check({ domain: "blog.example.com" })).toMatchObject({
      ok: false,
      field: "cert",
      message: expect.stringContaining("does not cover blog.example.com"),
    });
    expect(check({ pem: fullChain("wild", "acme"), key: read("wild.key"), domain: "a.b.example.com" })).toMatchObject({
      ok: false,
      field: "cert",
    });
    const inAYear = new Date(Date.now() + 365 * 86_400_000);
    expect(check({ now: inAYear })).toMatchObject({ ok: false, field: "cert", message: expect.stringContaining("expired") });
    expect(check({ now: new Date("2000-01-01T00:00:00Z") })).toMatchObject({
      ok: false,
      field: "cert",
      message: expect.stringContaining("not valid before"),
    });
  });

  test("oversized and empty input is refused by field", () => {
    expect(check({ pem: "x".repeat(MAX_CERTIFICATE_PEM_BYTES + 1) })).toMatchObject({ ok: false, field: "cert" });
    expect(check({ key: "x".repeat(20_000) })).toMatchObject({ ok: false, field: "key" });
    expect(check({ pem: "" })).toMatchObject({ ok: false, field: "cert" });
    expect(check({ pem: read("stranger.pem") + read("other-int.pem") + read("other-root.pem"), key: read("shop.key") })).toMatchObject({
      ok: false,
      field: "key",
    });
  });
});

describe("certbot's reason for a failure", () => {
  test("the CA's Detail lines, with their domains, else certbot's error lines", () => {
    const output = [
      "Saving debug log to /var/log/letsencrypt/letsencrypt.log",
      "Requesting a certificate for shop.example.com",
      "",
      "Certbot failed to authenticate some domains (authenticator: webroot). The Certificate Authority reported these problems:",
      "  Domain: shop.example.com",
      "  Type:   unauthorized",
      "  Detail: 203.0.113.7: Invalid response from http://shop.example.com/.well-known/acme-challenge/x: 404",
      "",
      "Hint: The Certificate Authority failed to download the temporary challenge files created by Certbot.",
      "Some challenges have failed.",
      "Ask for help or search for solutions at https://community.letsencrypt.org.",
    ].join("\n");
    expect(certbotReason(output)).toBe(
      "shop.example.com: 203.0.113.7: Invalid response from http://shop.example.com/.well-known/acme-challenge/x: 404",
    );
    expect(certbotReason("Another instance of Certbot is already running.\nAsk for help or search for solutions at x")).toBe(
      "Another instance of Certbot is already running.",
    );
    expect(certbotReason("An unexpected error occurred:\nConnection refused\nAsk for help")).toContain("Connection refused");
    expect(certbotReason("")).toBe("certbot failed without saying why");
  });
});
