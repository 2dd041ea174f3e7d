import { describe, expect, test } from "bun:test";
import { tarCreateArgv, tarExtractArgv, tarListEntry } from "../../backend/commands/tar.ts";
import { entryPathProblem, linkLeaves, type ManifestEntry, manifestDifferences, manifestOf } from "../../backend/domain/volume-archives.ts";

describe("volume archive fingerprints", () => {
  const entries = (list: Array<[string, ManifestEntry]>) => new Map(list);
  const a = entries([
    ["notes.txt", { type: "file", size: 5, sha256: "aa" }],
    ["uploads", { type: "dir" }],
    ["latest", { type: "link", target: "notes.txt" }],
  ]);

  test("counts and a digest independent of order", () => {
    const m = manifestOf(a);
    expect(m).toMatchObject({ files: 1, dirs: 1, links: 1, bytes: 5 });
    expect(manifestOf(new Map([...a].reverse())).digest).toBe(m.digest);
  });

  test("a changed content, path or link target changes the digest", () => {
    const m = manifestOf(a);
    expect(manifestOf(entries([...a, ["notes.txt", { type: "file", size: 5, sha256: "bb" }]])).digest).not.toBe(m.digest);
    expect(manifestOf(entries([...a, ["latest", { type: "link", target: "uploads" }]])).digest).not.toBe(m.digest);
    const renamed = entries([...a].map(([k, v]) => [k === "uploads" ? "upload" : k, v]));
    expect(manifestDifferences(m, manifestOf(renamed))).toEqual(["the same counts, but different paths or contents"]);
  });

  test("differences are said in counts first", () => {
    const m = manifestOf(a);
    const fewer = manifestOf(entries([["uploads", { type: "dir" }]]));
    expect(manifestDifferences(m, fewer)).toEqual(["0 files, expected 1", "0 links, expected 1", "0 bytes, expected 5"]);
    expect(manifestDifferences(m, m)).toEqual([]);
  });
});

describe("what may be extracted", () => {
  test("paths: relative, no .. segment", () => {
    expect(entryPathProblem("data/notes.txt")).toBeNull();
    expect(entryPathProblem("..hidden/x")).toBeNull();
    expect(entryPathProblem("/etc/passwd")).toBe("an absolute path");
    expect(entryPathProblem("../x")).toBe("a .. segment");
    expect(entryPathProblem("a/../../x")).toBe("a .. segment");
    expect(entryPathProblem("")).toBe("an empty name");
  });

  test("links must stay inside the volume", () => {
    expect(linkLeaves("latest", "notes.txt")).toBeNull();
    expect(linkLeaves("a/b/link", "../c")).toBeNull();
    expect(linkLeaves("a/link", "../notes.txt")).toBeNull();
    expect(linkLeaves("link", "../x")).toContain("outside the volume");
    expect(linkLeaves("a/link", "../../x")).toContain("outside the volume");
    expect(linkLeaves("link", "/etc/passwd")).toContain("absolute");
    expect(linkLeaves("link", ".")).toBeNull();
    expect(linkLeaves("link", "..")).toContain("outside the volume");
  });

  test("a link's target is resolved through the volume's other links, not read as text only", () => {
    const links = new Map([
      ["sub", "."],
      ["deep/up", ".."],
      ["loop", "loop"],
    ]);
    expect(linkLeaves("x", "sub/..", links)).toContain("outside the volume");
    expect(linkLeaves("x", "sub/sub/notes.txt", links)).toBeNull();
    expect(linkLeaves("deep/x", "up/..", links)).toContain("outside the volume");
    expect(linkLeaves("deep/x", "up/notes.txt", links)).toBeNull();
    expect(linkLeaves("x", "loop/a", links)).toContain("too many links");
    expect(linkLeaves("x", "sub/..", new Map([["sub", "/etc"]]))).toContain("outside the volume");
  });
});

describe("tar command lines", () => {
  test("archives a given list, never recursing or following links; extracts without owners", () => {
    const create = tarCreateArgv("/v/data");
    expect(create).toContain("--no-recursion");
    expect(create).toContain("--verbatim-files-from");
    expect(create).not.toContain("--dereference");
    expect(create).toContain("--directory=/v/data");
    const extract = tarExtractArgv("/tmp/a.tar.gz", "/tmp/out");
    expect(extract).toContain("--no-same-owner");
    expect(extract).not.toContain("--absolute-names");
  });

  test("each listed name starts with ./ and ends with NUL, so none reads as an option", () => {
    expect(tarListEntry("-rf")).toBe("./-rf\0");
    expect(() => tarListEntry("a\0b")).toThrow();
  });
});
