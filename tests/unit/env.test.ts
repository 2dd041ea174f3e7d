import { describe, expect, test } from "bun:test";
import { parseDotenv, parseEnvFile, renderEnvFile, validateEnvKey } from "../../backend/domain/env.ts";

describe("env keys", () => {
  test("letters, digits and _, not starting with a digit; PORT is reserved", () => {
    expect(validateEnvKey("API_KEY")).toBeNull();
    expect(validateEnvKey("_x9")).toBeNull();
    expect(validateEnvKey("9LIVES")).toContain("is not a valid variable name");
    expect(validateEnvKey("A-B")).toContain("is not a valid variable name");
    expect(validateEnvKey("A B")).toContain("is not a valid variable name");
    expect(validateEnvKey("")).toContain("is not a valid variable name");
    expect(validateEnvKey("PORT")).toBe("PORT is set by Switchyard for each slot and cannot be overridden");
  });
});

describe("env files", () => {
  const hostile = ["plain", 'with "quotes"', "back\\slash", "$HOME and `cmd`", "two\nlines\r\n", "", "=;#'"];

  test("render sorts keys and escapes; parse is its exact inverse", () => {
    const vars = hostile.map((value, i) => ({ key: `K${6 - i}`, value }));
    const text = renderEnvFile(vars);
    expect(text.split("\n").filter(Boolean)).toHaveLength(hostile.length);
    expect(text.startsWith('K0="=;#\'"\n')).toBe(true);
    expect(text).toContain('K3="\\$HOME and \\`cmd\\`"\n');
    const parsed = parseEnvFile(text);
    for (const { key, value } of vars) expect(parsed[key]).toBe(value);
  });

  test("a value can never start a second line of the file", () => {
    const text = renderEnvFile([{ key: "A", value: "x\nINJECTED=1" }]);
    expect(text).toBe('A="x\\nINJECTED=1"\n');
    expect(parseEnvFile(text)).toEqual({ A: "x\nINJECTED=1" });
  });
});

describe("pasted .env", () => {
  test("comments, export, quotes and inline comments", () => {
    const { vars, errors } = parseDotenv(
      [
        "# a comment",
        "",
        "export DATABASE_URL=postgres://u@h/db",
        "PLAIN = value # trailing comment",
        "SINGLE='keep # this $literal'",
        'DOUBLE="line1\\nline2 \\"q\\""',
        'MULTI="first',
        'second"',
      ].join("\n"),
    );
    expect(errors).toEqual([]);
    expect(Object.fromEntries(vars.map((v) => [v.key, v.value]))).toEqual({
      DATABASE_URL: "postgres://u@h/db",
      PLAIN: "value",
      SINGLE: "keep # this $literal",
      DOUBLE: 'line1\nline2 "q"',
      MULTI: "first\nsecond",
    });
  });

  test("bad lines are reported by number and skipped; good ones are kept", () => {
    const { vars, errors } = parseDotenv("GOOD=1\nnot a pair\n1BAD=2\nPORT=80\r\nALSO_GOOD=2");
    expect(vars.map((v) => v.key)).toEqual(["GOOD", "ALSO_GOOD"]);
    expect(errors.map((e) => e.line)).toEqual([2, 3, 4]);
    expect(errors[0]?.message).toBe("expected KEY=value");
    expect(errors[2]?.message).toContain("PORT is set by Switchyard");
  });
});
