import { describe, expect, test } from "bun:test";
import { DrizzleQueryError } from "drizzle-orm/errors";
import { errorReplacer, withoutQueryParams } from "../../backend/log.ts";

describe("errors in the log", () => {
  test("a failed query's parameters are left out; the statement and the cause stay", () => {
    const error = new DrizzleQueryError(
      'insert into "users" ("email", "password_hash") values ($1, $2)',
      ["a@example.com", "$2b$12$hash"],
      new Error("duplicate key"),
    );
    const logged = JSON.parse(JSON.stringify({ error }, errorReplacer)).error;
    expect(logged.message).toContain('insert into "users"');
    expect(logged.message).toContain("params: (not logged)");
    expect(JSON.stringify(logged)).not.toContain("a@example.com");
    expect(JSON.stringify(logged)).not.toContain("$2b$12$hash");
    expect(logged.cause.message).toBe("duplicate key");
  });

  test("other errors are logged as they are", () => {
    expect(withoutQueryParams("ENOENT: no such file")).toBe("ENOENT: no such file");
    const logged = JSON.parse(JSON.stringify({ error: new Error("boom") }, errorReplacer)).error;
    expect(logged).toMatchObject({ name: "Error", message: "boom" });
    expect(logged.stack).toContain("boom");
  });
});
