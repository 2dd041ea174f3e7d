import { describe, expect, test } from "bun:test";
import { detectPublicAddresses } from "../../backend/adapters/dns.ts";
import { checkDnsAnswers, type DnsAnswers, isPublicAddress, normalizeAddress } from "../../backend/domain/dns-check.ts";

const now = new Date("2026-06-01T12:00:00Z");
const answers = (over: Partial<DnsAnswers> = {}): DnsAnswers => ({
  name: "shop.example.com",
  cnames: [],
  a: [],
  aaaa: [],
  ownershipTxt: [],
  error: null,
  ...over,
});
const ours = ["203.0.113.10", "2001:db8::10"];

describe("DNS check", () => {
  test("no record: not ok, with the A and AAAA records to create, in words", () => {
    const check = checkDnsAnswers(answers(), ours, "tok", now);
    expect(check).toEqual({
      ok: false,
      records: [],
      expected: [
        { type: "A", name: "shop.example.com", value: "203.0.113.10" },
        { type: "AAAA", name: "shop.example.com", value: "2001:db8::10" },
      ],
      ownership: { record: { type: "TXT", name: "_switchyard.shop.example.com", value: "switchyard-verify=tok" }, verified: false },
      problem:
        "No A or AAAA record for shop.example.com: create A shop.example.com → 203.0.113.10 and AAAA shop.example.com → 2001:db8::10.",
      checkedAt: "2026-06-01T12:00:00.000Z",
    });
  });

  test("every answer ours: ok, whatever the spelling of an IPv6 address", () => {
    const check = checkDnsAnswers(answers({ a: ["203.0.113.10"], aaaa: ["2001:DB8:0:0::10"] }), ours, "tok", now);
    expect(check.ok).toBe(true);
    expect(check.problem).toBeNull();
    expect(check.records).toEqual([
      { type: "A", name: "shop.example.com", value: "203.0.113.10" },
      { type: "AAAA", name: "shop.example.com", value: "2001:DB8:0:0::10" },
    ]);
  });

  test("only one of our addresses answered is enough", () => {
    expect(checkDnsAnswers(answers({ a: ["203.0.113.10"] }), ours, "tok", now).ok).toBe(true);
  });

  test("a foreign address fails and is named, even beside one of ours", () => {
    const check = checkDnsAnswers(answers({ a: ["203.0.113.10", "198.51.100.7"] }), ours, "tok", now);
    expect(check.ok).toBe(false);
    expect(check.problem).toBe(
      "shop.example.com points at 198.51.100.7, which is not this server (203.0.113.10 and 2001:db8::10): change the records to A shop.example.com → 203.0.113.10 and AAAA shop.example.com → 2001:db8::10. If that address is this server's, add it under Settings → Network.",
    );
  });

  test("a CNAME chain is shown and judged by the addresses at its end", () => {
    const chain = answers({
      name: "www.shop.example.com",
      cnames: [{ name: "www.shop.example.com", target: "shop.example.com" }],
      a: ["203.0.113.10"],
    });
    const check = checkDnsAnswers(chain, ["203.0.113.10"], "tok", now);
    expect(check.ok).toBe(true);
    expect(check.records).toEqual([
      { type: "CNAME", name: "www.shop.example.com", value: "shop.example.com" },
      { type: "A", name: "shop.example.com", value: "203.0.113.10" },
    ]);
    const elsewhere = checkDnsAnswers({ ...chain, a: ["192.0.2.1"] }, ["203.0.113.10"], "tok", now);
    expect(elsewhere.problem).toStartWith(
      "www.shop.example.com (an alias of shop.example.com) points at 192.0.2.1, which is not this server",
    );
  });

  test("a www name without records is offered a CNAME to its apex too", () => {
    const check = checkDnsAnswers(answers({ name: "www.example.com" }), ["203.0.113.10"], "tok", now);
    expect(check.problem).toBe(
      "No A or AAAA record for www.example.com: create A www.example.com → 203.0.113.10 (or a CNAME www.example.com → example.com, once example.com points here).",
    );
  });

  test("a dangling alias says where the chain ends", () => {
    const check = checkDnsAnswers(answers({ cnames: [{ name: "shop.example.com", target: "gone.example.net" }] }), ours, "tok", now);
    expect(check.ok).toBe(false);
    expect(check.problem).toStartWith(
      "shop.example.com is an alias of gone.example.net, which has no A or AAAA record: create A shop.example.com",
    );
  });

  test("the ownership record is verified when its TXT value is answered", () => {
    const check = checkDnsAnswers(answers({ ownershipTxt: ["other", "switchyard-verify=tok"] }), ours, "tok", now);
    expect(check.ownership.verified).toBe(true);
    expect(checkDnsAnswers(answers({ ownershipTxt: ["switchyard-verify=nope"] }), ours, "tok", now).ownership.verified).toBe(false);
  });

  test("a failed lookup is not ok and says so; no known address of ours says where to set it", () => {
    expect(checkDnsAnswers(answers({ error: "no answer from the DNS server in time", a: [] }), ours, "tok", now).problem).toBe(
      "The DNS lookup of shop.example.com failed (no answer from the DNS server in time); check again in a moment.",
    );
    const unknown = checkDnsAnswers(answers({ a: ["203.0.113.10"] }), [], "tok", now);
    expect(unknown.ok).toBe(false);
    expect(unknown.expected).toEqual([]);
    expect(unknown.problem).toContain("Settings → Network");
  });
});

describe("addresses", () => {
  test("normalized, or null when not an address", () => {
    expect(normalizeAddress("2001:0DB8:0000::0001")).toBe("2001:db8::1");
    expect(normalizeAddress("192.0.2.1")).toBe("192.0.2.1");
    for (const bad of ["256.1.1.1", "01.2.3.4", "example.com", "1.2.3", "::g", ""]) expect(normalizeAddress(bad)).toBeNull();
  });

  test("public: not loopback, link-local, private, carrier-grade NAT or unique-local", () => {
    for (const yes of ["203.0.113.10", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2001:db8::1", "2a01:4f8::1"])
      expect(isPublicAddress(yes)).toBe(true);
    for (const no of [
      "127.0.0.1",
      "10.1.2.3",
      "172.16.5.4",
      "172.31.255.255",
      "192.168.1.1",
      "100.64.0.1",
      "100.127.255.255",
      "169.254.1.1",
      "0.0.0.0",
      "::1",
      "fe80::1",
      "fd00::1",
      "fc12::1",
      "::ffff:8.8.8.8",
    ]) {
      expect(isPublicAddress(no)).toBe(false);
    }
  });

  test("detected from the interfaces: internal and private ones left out", () => {
    const entry = (address: string, internal = false) =>
      ({ address, internal, family: address.includes(":") ? "IPv6" : "IPv4", netmask: "", mac: "", cidr: null }) as never;
    expect(
      detectPublicAddresses({
        lo: [entry("127.0.0.1", true), entry("::1", true)],
        eth0: [entry("10.0.0.5"), entry("203.0.113.10"), entry("fe80::1"), entry("2001:DB8::10")],
        eth1: [entry("203.0.113.10")],
      }),
    ).toEqual(["203.0.113.10", "2001:db8::10"]);
  });
});
