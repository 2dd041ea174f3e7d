/**
 * `systemd-analyze verify` on every unit Switchyard writes or installs: the slot and socket units
 * from backend/commands/systemd.ts and infrastructure/systemd/switchyard@.service. It exits 0 on
 * warnings, so stderr must be empty; it also needs each ExecStart binary to exist here, so the
 * installed paths are pointed at this checkout.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildSlotUnit, buildSocketUnit } from "../../backend/commands/systemd.ts";

const CHECKOUT = join(import.meta.dir, "..", "..");
const analyze = Bun.which("systemd-analyze");
if (!analyze) console.log("systemd-analyze verify: SKIPPED — systemd-analyze is not installed (apt-get install systemd)");

const dir = mkdtempSync(join(tmpdir(), "sy-verify-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function verify(name: string, text: string): Promise<{ code: number; stderr: string }> {
  const file = join(dir, name);
  writeFileSync(file, text);
  await using proc = Bun.spawn([analyze as string, "verify", file], { stdout: "pipe", stderr: "pipe" });
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  return { code, stderr };
}

const slot = {
  app: "shop",
  color: "blue" as const,
  releaseId: "0b6c1e9e-4f8e-4a51-9d5c-1f2a3b4c5d6e",
  releaseDir: dir,
  envFile: join(dir, "slot-blue.env"),
  port: 4100,
  secrets: [],
  user: "switchyard-apps",
  stateDir: dir,
};

describe.skipIf(!analyze)("systemd-analyze verify", () => {
  test("a slot unit running a shell command, with limits", async () => {
    const text = buildSlotUnit({
      ...slot,
      command: ["/bin/sh", "-c", "exec bun server.ts --greeting '100% $HOME'"],
      memoryMax: "512M",
      cpuQuota: "150%",
    });
    expect(await verify("sy-shop-blue.service", text)).toEqual({ code: 0, stderr: "" });
  });

  test("a slot unit running Bun directly", async () => {
    const text = buildSlotUnit({ ...slot, color: "green", command: [process.execPath, "server.ts"] });
    expect(await verify("sy-shop-green.service", text)).toEqual({ code: 0, stderr: "" });
  });

  test("a slot's socket forwarder unit", async () => {
    const text = buildSocketUnit({
      app: "shop",
      color: "blue",
      bun: process.execPath,
      forwarder: join(CHECKOUT, "backend/adapters/runtime/forwarder.ts"),
      socketPath: join(dir, "shop-blue.sock"),
      port: 4100,
      user: "switchyard-apps",
    });
    // BindsTo= names the slot's unit, which must be there to be loaded.
    writeFileSync(join(dir, "sy-shop-blue.service"), buildSlotUnit({ ...slot, command: ["/bin/sh", "-c", "true"] }));
    expect(await verify("sy-shop-blue-socket.service", text)).toEqual({ code: 0, stderr: "" });
  });

  test("the panel's slot units (infrastructure/systemd/switchyard@.service)", async () => {
    const text = readFileSync(join(CHECKOUT, "infrastructure/systemd/switchyard@.service"), "utf8");
    expect(text).toContain("ExecStart=/opt/switchyard/slots/%i/node_modules/.bin/bun ");
    expect(text).toContain("Environment=SWITCHYARD_SOCKET=/var/lib/switchyard/sock/panel-%i.sock");
    // The template as the blue instance, with the slot's code where this checkout is.
    writeFileSync(join(dir, "switchyard@.service"), text.replaceAll("/opt/switchyard/slots/%i", CHECKOUT));
    expect(await verify("switchyard@blue.service", text.replaceAll("/opt/switchyard/slots/%i", CHECKOUT))).toEqual({ code: 0, stderr: "" });
  });
});
