import { describe, expect, test } from "bun:test";
import { LineSplitter } from "../../backend/domain/lines.ts";

describe("LineSplitter", () => {
  test("joins chunks and splits on newlines", () => {
    const s = new LineSplitter();
    expect(s.push("hel")).toEqual([]);
    expect(s.push("lo\nwor")).toEqual(["hello"]);
    expect(s.push("ld\r\n")).toEqual(["world"]);
    expect(s.end()).toEqual([]);
  });

  test("carriage-return progress keeps what a terminal finally shows", () => {
    const s = new LineSplitter();
    expect(s.push("progress 10%\rprogress 50%\rprogress 100%\ndone")).toEqual(["progress 100%"]);
    expect(s.end()).toEqual(["done"]);
  });

  test("runaway lines are cut with a note", () => {
    const s = new LineSplitter(10);
    const [line] = s.push(`${"x".repeat(25)}\n`);
    expect(line).toBe("xxxxxxxxxx… [line cut at 10 characters]");
  });
});
