import { describe, expect, test } from "bun:test";
import {
  buildSlotUnit,
  buildSocketUnit,
  escapeArg,
  journalctlArgv,
  systemctlArgv,
  UnitError,
  unitName,
} from "../../backend/commands/systemd.ts";
import { SLOT_UNIT_SPEC } from "../helpers/fixtures.ts";

const spec = SLOT_UNIT_SPEC;

const directives = (text: string) => text.split("\n").filter((l) => l.includes("=") && !l.startsWith("#"));

describe("slot units", () => {
  test("names are sy-<app>-<color>[-socket].service and nothing else", () => {
    expect(unitName("shop", "blue")).toBe("sy-shop-blue.service");
    expect(unitName("shop", "green", "socket")).toBe("sy-shop-green-socket.service");
    expect(() => unitName("../etc", "blue")).toThrow(UnitError);
    expect(() => unitName("shop", "red" as never)).toThrow("is not a slot colour");
  });

  test("the app's unit: its release, env file, PORT, restart policy, hardening and limits", () => {
    const unit = buildSlotUnit({ ...spec, memoryMax: "512M", cpuQuota: "50%" });
    const d = directives(unit);
    for (const line of [
      "User=switchyard-apps",
      "WorkingDirectory=/var/lib/switchyard/apps/shop/releases/rel-1",
      "EnvironmentFile=/var/lib/switchyard/apps/shop/env/blue.env",
      "Environment=PORT=4100",
      'ExecStart=/bin/sh -c "exec bun server.ts"',
      "Restart=on-failure",
      "NoNewPrivileges=yes",
      "ProtectSystem=strict",
      "ReadWritePaths=/var/lib/switchyard/apps/shop/data",
      "MemoryMax=512M",
      "CPUQuota=50%",
      "SyslogIdentifier=sy-shop-blue",
      "LogExtraFields=SWITCHYARD_RELEASE=rel-1",
      "WantedBy=multi-user.target",
    ]) {
      expect(d).toContain(line);
    }
    expect(d.filter((l) => l.startsWith("MemoryMax="))).toHaveLength(1);
    expect(directives(buildSlotUnit(spec)).some((l) => l.startsWith("MemoryMax=") || l.startsWith("CPUQuota="))).toBe(false);
  });

  test("the forwarder unit is bound to its slot and answers drain requests on a control socket beside its own", () => {
    const unit = buildSocketUnit({
      ...spec,
      bun: "/opt/switchyard/node_modules/.bin/bun",
      forwarder: "/opt/switchyard/backend/adapters/runtime/forwarder.ts",
    });
    expect(directives(unit)).toContain("BindsTo=sy-shop-blue.service");
    expect(directives(unit)).toContain(
      "ExecStart=/opt/switchyard/node_modules/.bin/bun --smol /opt/switchyard/backend/adapters/runtime/forwarder.ts /var/lib/switchyard/sock/shop-blue.sock 4100 /var/lib/switchyard/sock/shop-blue.ctl",
    );
    expect(directives(unit)).toContain("ReadWritePaths=/var/lib/switchyard/sock");
  });

  test("user input cannot add a directive or expand a specifier", () => {
    expect(escapeArg("a b")).toBe('"a b"');
    expect(escapeArg("%h$HOME")).toBe("%%h$$HOME");
    expect(escapeArg('say "hi"; rm')).toBe('"say \\"hi\\"; rm"');
    const unit = buildSlotUnit({ ...spec, command: ["/bin/sh", "-c", "echo %n $PATH"] });
    expect(directives(unit)).toContain('ExecStart=/bin/sh -c "echo %%n $$PATH"');
    expect(() => buildSlotUnit({ ...spec, command: ["/bin/sh", "-c", "x\nExecStartPre=/bin/rm -rf /"] })).toThrow("control characters");
    expect(() => buildSlotUnit({ ...spec, memoryMax: "1G\nUser=root" })).toThrow(UnitError);
    expect(() => buildSlotUnit({ ...spec, releaseDir: "/srv/../etc" })).toThrow(UnitError);
    expect(() => buildSlotUnit({ ...spec, user: "root; x" })).toThrow(UnitError);
    expect(() => buildSlotUnit({ ...spec, command: ["bun", "server.ts"] })).toThrow("absolute path");
    expect(() => buildSlotUnit({ ...spec, releaseId: "r1\nUser=root" })).toThrow("not a valid release id");
  });

  test("systemctl and journalctl only ever touch sy-* units", () => {
    expect(systemctlArgv("restart", "sy-shop-blue.service")).toEqual(["systemctl", "restart", "sy-shop-blue.service"]);
    expect(systemctlArgv("daemon-reload")).toEqual(["systemctl", "daemon-reload"]);
    expect(() => systemctlArgv("stop", "sshd.service")).toThrow("only sy-*.service units");
    expect(() => systemctlArgv("stop", "sy-x.service --now")).toThrow(UnitError);
    expect(() => journalctlArgv("nginx.service", 10)).toThrow(UnitError);
  });
});
