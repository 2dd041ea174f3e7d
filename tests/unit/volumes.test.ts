import { afterAll, describe, expect, test } from "bun:test";
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { attachVolume, VolumeAttachError, volumeUsage } from "../../backend/adapters/volumes.ts";
import { buildSlotUnit } from "../../backend/commands/systemd.ts";
import { normalizeVolumePath, volumeEnvKey, volumeListSchema, volumeName, volumePathProblem } from "../../backend/domain/volumes.ts";
import { SLOT_UNIT_SPEC } from "../helpers/fixtures.ts";

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});
function temp(): string {
  const dir = mkdtempSync(join(tmpdir(), "sy-volumes-"));
  roots.push(dir);
  return dir;
}

describe("volume paths", () => {
  test("are normalized, named stably and given an env var", () => {
    expect(normalizeVolumePath("./data/")).toBe("data");
    expect(normalizeVolumePath(" storage//uploads/ ")).toBe("storage/uploads");
    expect(volumeName("storage/uploads")).toBe("storage-uploads");
    expect(volumeName("data")).toBe("data");
    expect(volumeEnvKey("data")).toBe("SWITCHYARD_VOLUME_DATA");
    expect(volumeEnvKey("storage/uploads")).toBe("SWITCHYARD_VOLUME_STORAGE_UPLOADS");
    expect(volumeEnvKey(".cache")).toBe("SWITCHYARD_VOLUME__CACHE");
  });

  test("refuse what could leave the app or clash with the build", () => {
    for (const ok of ["data", "storage/uploads", ".cache", "var/lib/app_data-1"]) expect(volumePathProblem(ok)).toBeNull();
    for (const [bad, why] of [
      ["", /directory/],
      ["..", /\.\./],
      ["a/../b", /\.\./],
      ["/srv/data", /relative/],
      ["a b", /letters/],
      ["a\nb", /letters/],
      [".git", /\.git/],
      ["node_modules/x", /node_modules/],
      ["x".repeat(201), /200/],
    ] as const) {
      expect(volumePathProblem(bad)).toMatch(why);
    }
  });

  test("a list: duplicates, nesting, clashing names and more than 16 are refused at the entry's path", () => {
    const issue = (list: unknown) => {
      const r = volumeListSchema.safeParse(list);
      return r.success ? null : { path: r.error.issues[0]?.path.join("."), message: r.error.issues[0]?.message };
    };
    expect(volumeListSchema.parse([{ path: "data/" }, { path: "./storage" }])).toEqual([{ path: "data" }, { path: "storage" }]);
    expect(issue([{ path: "data" }, { path: "data" }])).toMatchObject({ path: "1.path", message: expect.stringMatching(/twice/) });
    expect(issue([{ path: "a/b" }, { path: "a" }])).toMatchObject({ path: "1.path", message: expect.stringMatching(/nested/) });
    expect(issue([{ path: "Data" }, { path: "data" }])).toMatchObject({ path: "1.path", message: expect.stringMatching(/variable/) });
    expect(issue([{ path: "x" }, { path: "../y" }])).toMatchObject({ path: "1.path" });
    expect(issue(Array.from({ length: 17 }, (_, i) => ({ path: `v${i}` })))).toMatchObject({ path: "", message: "at most 16 volumes" });
  });
});

describe("attaching a volume to a release", () => {
  test("links it, seeds an empty volume from the repository once, then sets the repository's copy aside", () => {
    const root = temp();
    const volume = join(root, "volumes", "data");
    mkdirSync(volume, { recursive: true });
    const first = join(root, "r1");
    mkdirSync(join(first, "data"), { recursive: true });
    writeFileSync(join(first, "data", "seed.txt"), "one");
    expect(attachVolume(first, "data", volume, "link")).toContain("seeded the empty volume");
    expect(readlinkSync(join(first, "data"))).toBe(volume);
    expect(readFileSync(join(volume, "seed.txt"), "utf8")).toBe("one");
    expect(attachVolume(first, "data", volume, "link")).toBeNull();

    const second = join(root, "r2");
    mkdirSync(join(second, "data"), { recursive: true });
    writeFileSync(join(second, "data", "seed.txt"), "two");
    expect(attachVolume(second, "data", volume, "link")).toContain("already holds data");
    expect(readFileSync(join(second, "data.repository", "seed.txt"), "utf8")).toBe("two");
    expect(readFileSync(join(volume, "seed.txt"), "utf8")).toBe("one");

    const nested = join(root, "r3");
    mkdirSync(nested);
    expect(attachVolume(nested, "storage/uploads", join(root, "volumes", "data"), "mountpoint")).toBe("storage/uploads → the volume");
    expect(lstatSync(join(nested, "storage", "uploads")).isDirectory()).toBe(true);
  });

  test("refuses a release whose directory above the path is a link (it could lead anywhere)", () => {
    const root = temp();
    const release = join(root, "r");
    mkdirSync(release);
    mkdirSync(join(root, "elsewhere"));
    symlinkSync(join(root, "elsewhere"), join(release, "storage"));
    expect(() => attachVolume(release, "storage/x/uploads", join(root, "v"), "link")).toThrow(VolumeAttachError);
    expect(() => lstatSync(join(root, "elsewhere", "x"))).toThrow();
  });

  test("usage counts bytes and files, and stops at its bound", async () => {
    const dir = temp();
    mkdirSync(join(dir, "sub"));
    writeFileSync(join(dir, "a"), "x".repeat(10_000));
    writeFileSync(join(dir, "sub", "b"), "y");
    const usage = await volumeUsage(dir);
    expect(usage).toMatchObject({ files: 2, truncated: false });
    expect(usage.bytes).toBeGreaterThanOrEqual(10_000);
    expect((await volumeUsage(dir, { maxEntries: 1 })).truncated).toBe(true);
  });
});

describe("a slot unit with volumes", () => {
  test("binds each volume at its path in the release, keeps it writable and files group-writable", () => {
    const unit = buildSlotUnit({
      ...SLOT_UNIT_SPEC,
      volumes: [{ dir: "/var/lib/switchyard/apps/shop/volumes/data", mountAt: "/var/lib/switchyard/apps/shop/releases/rel-1/data" }],
    });
    expect(unit).toContain(
      [
        "ReadWritePaths=/var/lib/switchyard/apps/shop/data",
        "ReadWritePaths=/var/lib/switchyard/apps/shop/volumes/data",
        "BindPaths=/var/lib/switchyard/apps/shop/volumes/data:/var/lib/switchyard/apps/shop/releases/rel-1/data",
        "UMask=0007",
      ].join("\n"),
    );
    expect(buildSlotUnit(SLOT_UNIT_SPEC)).not.toContain("BindPaths");
    expect(() =>
      buildSlotUnit({ ...SLOT_UNIT_SPEC, volumes: [{ dir: "/etc", mountAt: "/var/lib/switchyard/apps/shop/releases/rel-1/data" }] }),
    ).toThrow(/refusing volume/);
  });
});
