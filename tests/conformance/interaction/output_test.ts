import { test } from "node:test";
import assert from "node:assert/strict";
import { indentLines, OutputBuffer, parseLevel } from "./output.ts";

const indentCases: { name: string; input: string; want: string }[] = [
  { name: "empty text adds nothing", input: "", want: "" },
  { name: "final newline adds no empty line", input: "a\nb\n", want: "  a\n  b\n" },
  { name: "last line without newline gets one", input: "<empty Ready>", want: "  <empty Ready>\n" },
  { name: "empty middle line becomes two spaces", input: "a\n\nb\n", want: "  a\n  \n  b\n" },
  { name: "carriage return before newline is dropped", input: "a\r\nb", want: "  a\n  b\n" },
  { name: "a lone newline is one empty line", input: "\n", want: "  \n" },
];

for (const c of indentCases) {
  test(`indentLines(): ${c.name}`, () => {
    assert.equal(indentLines(c.input), c.want);
  });
}

test("parseLevel() matches names case-insensitively", () => {
  assert.equal(parseLevel("debug"), 0);
  assert.equal(parseLevel("Info"), 1);
  assert.equal(parseLevel("WARN"), 2);
  assert.equal(parseLevel("none"), 5);
  assert.equal(parseLevel("warning"), undefined);
});

test("OutputBuffer logs with level prefixes and a newline", () => {
  const o = new OutputBuffer();
  o.debug("d");
  o.info("1 became follower at term 0");
  o.warning("w");
  o.error("e");
  o.fatal("f");
  o.panic("p");
  assert.equal(
    o.toString(),
    "DEBUG d\nINFO 1 became follower at term 0\nWARN w\nERROR e\nFATAL f\nFATAL p\n",
  );
});

test("OutputBuffer does not double a trailing newline", () => {
  const o = new OutputBuffer();
  o.info("line\n");
  assert.equal(o.toString(), "INFO line\n");
});

test("OutputBuffer drops log lines below the level", () => {
  const o = new OutputBuffer();
  o.level = 2;
  o.debug("d");
  o.info("i");
  o.warning("w");
  o.error("e");
  assert.equal(o.toString(), "WARN w\nERROR e\n");
});

test("OutputBuffer at NONE drops harness text and log lines alike", () => {
  const o = new OutputBuffer();
  o.level = 5;
  assert.equal(o.quiet(), true);
  o.write("harness text");
  o.fatal("f");
  assert.equal(o.toString(), "");
  o.level = 4;
  assert.equal(o.quiet(), false);
  o.write("x");
  assert.equal(o.toString(), "x");
});

test("OutputBuffer.reset() empties the buffer and keeps the level", () => {
  const o = new OutputBuffer();
  o.level = 1;
  o.info("i");
  o.reset();
  assert.equal(o.length, 0);
  o.debug("d");
  assert.equal(o.toString(), "");
  assert.equal(o.level, 1);
});

test("OutputBuffer.withIndent() indents what the sub-step writes, logs included", () => {
  const o = new OutputBuffer();
  o.write("> 1 handling Ready\n");
  o.withIndent(() => {
    o.write("Ready MustSync=true:\n");
    o.info("1 became leader at term 1");
  });
  o.write("after\n");
  assert.equal(
    o.toString(),
    "> 1 handling Ready\n  Ready MustSync=true:\n  INFO 1 became leader at term 1\nafter\n",
  );
});

test("OutputBuffer.withIndent() flushes captured text when the sub-step throws", () => {
  const o = new OutputBuffer();
  o.write("head\n");
  assert.throws(
    () =>
      o.withIndent(() => {
        o.write("partial");
        throw new Error("boom");
      }),
    /boom/,
  );
  assert.equal(o.toString(), "head\n  partial\n");
});

test("OutputBuffer.withIndent() nests", () => {
  const o = new OutputBuffer();
  o.withIndent(() => {
    o.write("a\n");
    o.withIndent(() => o.write("b"));
  });
  assert.equal(o.toString(), "  a\n    b\n");
});
