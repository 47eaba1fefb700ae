import { LineSplitter, MAX_LINE_CHARS } from "./lineSplitter";

describe("LineSplitter", () => {
  it("joins partial chunks and splits several lines in one chunk", () => {
    const s = new LineSplitter();
    expect(s.push('{"a":')).toEqual([]);
    expect(s.push('1}\n{"b":2}\n{"c"')).toEqual(['{"a":1}', '{"b":2}']);
    expect(s.push(":3}\n")).toEqual(['{"c":3}']);
  });

  it("handles CRLF, also when \\r and \\n arrive in different chunks", () => {
    const s = new LineSplitter();
    expect(s.push("one\r\ntwo\r")).toEqual(["one"]);
    expect(s.push("\nthree\r\n")).toEqual(["two", "three"]);
  });

  it("skips blank lines", () => {
    expect(new LineSplitter().push("\n\r\n  \nx\n\n")).toEqual(["x"]);
  });

  it("returns an unterminated last line at the end", () => {
    const s = new LineSplitter();
    expect(s.push("last")).toEqual([]);
    expect(s.end()).toEqual(["last"]);
    expect(s.end()).toEqual([]);
  });

  it("decodes UTF-8 bytes split inside a character", () => {
    const s = new LineSplitter();
    const bytes = new TextEncoder().encode("café ☕\n");
    expect(s.push(bytes.slice(0, 4))).toEqual([]);
    expect(s.push(bytes.slice(4, 7))).toEqual([]);
    expect(s.push(Array.from(bytes.slice(7)))).toEqual(["café ☕"]);
  });

  it("drops a runaway line and recovers at the next newline", () => {
    const dropped: number[] = [];
    const s = new LineSplitter((n) => dropped.push(n));
    expect(s.push("x".repeat(MAX_LINE_CHARS))).toEqual([]);
    expect(s.push("yy")).toEqual([]);
    expect(s.push("zz\nok\n")).toEqual(["ok"]);
    expect(dropped).toHaveLength(1);
  });
});
