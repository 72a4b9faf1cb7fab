import { test } from "node:test";
import assert from "node:assert/strict";
import {
  DataDrivenError,
  findArg,
  hasArg,
  parseBoolValue,
  parseDirective,
  parseFile,
  parseIntValue,
  runFile,
  scanInt,
  type TestData,
  unifiedDiff,
} from "./datadriven.ts";

const directiveCases: {
  name: string;
  line: string;
  cmd: string;
  args: { key: string; vals: string[] }[];
}[] = [
  { name: "a bare command", line: "raft-state", cmd: "raft-state", args: [] },
  {
    name: "bare keys",
    line: "propose 1 prop_1",
    cmd: "propose",
    args: [{ key: "1", vals: [] }, { key: "prop_1", vals: [] }],
  },
  {
    name: "key=value",
    line: "transfer-leadership from=1 to=4",
    cmd: "transfer-leadership",
    args: [{ key: "from", vals: ["1"] }, { key: "to", vals: ["4"] }],
  },
  {
    name: "a parenthesized list, with spaces after commas skipped",
    line: "add-nodes 3 voters=(1,2, 3) index=2",
    cmd: "add-nodes",
    args: [
      { key: "3", vals: [] },
      { key: "voters", vals: ["1", "2", "3"] },
      { key: "index", vals: ["2"] },
    ],
  },
  {
    name: "nested parentheses stay in one value",
    line: "cmd a=(f(1,2),3)",
    cmd: "cmd",
    args: [{ key: "a", vals: ["f(1,2)", "3"] }],
  },
  {
    name: "key= followed by a space gives one empty value",
    line: "cmd a= b",
    cmd: "cmd",
    args: [{ key: "a", vals: [""] }, { key: "b", vals: [] }],
  },
  {
    name: "key= at the end gives one empty value",
    line: "cmd a=",
    cmd: "cmd",
    args: [{ key: "a", vals: [""] }],
  },
  {
    name: "quotes are kept verbatim",
    line: `propose 1 "foo"`,
    cmd: "propose",
    args: [{ key: "1", vals: [] }, { key: `"foo"`, vals: [] }],
  },
  {
    name: "repeated spaces between arguments",
    line: "deliver-msgs  1   drop=(3)",
    cmd: "deliver-msgs",
    args: [{ key: "1", vals: [] }, { key: "drop", vals: ["3"] }],
  },
];

for (const c of directiveCases) {
  test(`parseDirective() reads ${c.name}`, () => {
    const got = parseDirective(c.line);
    assert.equal(got.cmd, c.cmd);
    assert.deepEqual(got.cmdArgs, c.args);
  });
}

test("parseDirective() rejects a missing closing parenthesis", () => {
  assert.throws(() => parseDirective("cmd a=(1,2"), DataDrivenError);
});

test("parseDirective() rejects an empty key", () => {
  assert.throws(() => parseDirective("cmd =x"), /cannot parse directive at column 5/);
});

test("parseFile() skips comments and blank lines between cases", () => {
  const text = [
    "# a comment",
    "## another",
    "#   ",
    "",
    "",
    "cmd-a 1",
    "----",
    "ok",
    "",
    "   # indented comment",
    "cmd-b",
    "----",
    "out",
    "",
  ].join("\n");
  const cases = parseFile(text, "f.txt");
  assert.deepEqual(cases.map((c) => [c.cmd, c.expected, c.pos]), [
    ["cmd-a", "ok\n", "f.txt:6"],
    ["cmd-b", "out\n", "f.txt:11"],
  ]);
});

test("parseFile() trims the input block and keeps lines starting with #", () => {
  const text = "propose-conf-change 1\n  v2 v3  \n# not a comment\n----\nok\n";
  const [c] = parseFile(text, "f.txt");
  assert.equal(c?.input, "v2 v3  \n# not a comment");
});

test("parseFile() gives an empty input when there is none", () => {
  const [c] = parseFile("propose-conf-change 1\n----\nok\n", "f.txt");
  assert.equal(c?.input, "");
});

test("parseFile() keeps leading spaces of expected lines and stops at a whitespace-only line", () => {
  const text = "stabilize\n----\n> 1 handling Ready\n  Ready MustSync=true:\n   \nnext\n----\nok\n";
  const cases = parseFile(text, "f.txt");
  assert.equal(cases[0]?.expected, "> 1 handling Ready\n  Ready MustSync=true:\n");
  assert.equal(cases[1]?.cmd, "next");
});

test("parseFile() reads an expected block at the end of the file without a blank line", () => {
  const [c] = parseFile("cmd\n----\nlast", "f.txt");
  assert.equal(c?.expected, "last\n");
});

test("parseFile() gives an empty expected output after a blank line", () => {
  const cases = parseFile("cmd\n----\n\ncmd2\n----\nok\n", "f.txt");
  assert.equal(cases[0]?.expected, "");
  assert.equal(cases[1]?.cmd, "cmd2");
});

test("parseFile() reads the double-separator form, blank lines included", () => {
  const text = "cmd\n----\n----\na\n\n----\nb\n----\n----\n\nnext\n----\nok\n";
  const cases = parseFile(text, "f.txt");
  assert.equal(cases[0]?.expected, "a\n\n----\nb\n");
  assert.equal(cases[1]?.cmd, "next");
  assert.equal(cases[1]?.expected, "ok\n");
});

test("parseFile() drops a carriage return at the end of lines", () => {
  const [c] = parseFile("cmd 1\r\n----\r\nok\r\n\r\n", "f.txt");
  assert.equal(c?.cmd, "cmd");
  assert.equal(c?.expected, "ok\n");
});

test("parseFile() joins continued directive lines", () => {
  const [c] = parseFile("cmd a=1 \\\n  b=2\n----\nok\n", "f.txt");
  assert.deepEqual(c?.cmdArgs, [{ key: "a", vals: ["1"] }, { key: "b", vals: ["2"] }]);
});

test("parseFile() gives an empty expected output when the file ends before ----", () => {
  const [c] = parseFile("cmd\ninput", "f.txt");
  assert.equal(c?.input, "input");
  assert.equal(c?.expected, "");
});

function td(line: string): TestData {
  const { cmd, cmdArgs } = parseDirective(line);
  return { pos: "f.txt:1", cmd, cmdArgs, input: "", expected: "" };
}

test("hasArg() and findArg() look arguments up by key", () => {
  const d = td("cmd 1 a=2 b=(3,4)");
  assert.equal(hasArg(d, "1"), true);
  assert.equal(hasArg(d, "c"), false);
  assert.deepEqual(findArg(d, "b")?.vals, ["3", "4"]);
  assert.equal(findArg(d, "c"), undefined);
});

test("scanInt() reads one integer value and fails on a missing or bad one", () => {
  const d = td("set 1 timeout=5 bad=x");
  assert.equal(scanInt(d, "timeout"), 5);
  assert.throws(() => scanInt(d, "missing"), DataDrivenError);
  assert.throws(() => scanInt(d, "bad"), DataDrivenError);
});

test("parseIntValue() accepts base-10 integers only", () => {
  const d = td("cmd");
  assert.equal(parseIntValue(d, "42"), 42);
  assert.equal(parseIntValue(d, "-3"), -3);
  assert.throws(() => parseIntValue(d, "0x10"), DataDrivenError);
  assert.throws(() => parseIntValue(d, ""), DataDrivenError);
  assert.throws(() => parseIntValue(d, "1.5"), DataDrivenError);
});

test("parseBoolValue() follows Go's strconv.ParseBool", () => {
  const d = td("cmd");
  for (const s of ["1", "t", "T", "TRUE", "true", "True"]) assert.equal(parseBoolValue(d, s), true);
  for (const s of ["0", "f", "F", "FALSE", "false", "False"]) {
    assert.equal(parseBoolValue(d, s), false);
  }
  for (const s of ["yes", "tRUE", ""]) assert.throws(() => parseBoolValue(d, s), DataDrivenError);
});

test("runFile() adds a final newline to the output and passes on a match", () => {
  const r = runFile("a\n----\nx\n\nb\n----\nok\n", "f.txt", (d) => d.cmd === "a" ? "x" : "ok");
  assert.equal(r.passed, true);
  assert.equal(r.cases, 2);
});

test("runFile() stops at the first mismatch and shows a diff", () => {
  const seen: string[] = [];
  const r = runFile("a\n----\nx\n\nb\n----\ny\n", "f.txt", (d) => {
    seen.push(d.cmd);
    return "z";
  });
  assert.equal(r.passed, false);
  assert.deepEqual(seen, ["a"]);
  assert.match(r.failure ?? "", /f\.txt:1: output mismatch for: a/);
  assert.match(r.failure ?? "", /\n-x(\n|$)/);
  assert.match(r.failure ?? "", /\n\+z(\n|$)/);
});

test("runFile() reports a handler's exception as a failure", () => {
  const r = runFile("a\n----\nx\n", "f.txt", () => {
    throw new DataDrivenError("bad setup");
  });
  assert.equal(r.passed, false);
  assert.match(r.failure ?? "", /bad setup/);
});

test("unifiedDiff() marks removed and added lines", () => {
  assert.equal(
    unifiedDiff("a\nb\nc", "a\nc\nd"),
    "--- expected\n+++ actual\n a\n-b\n c\n+d",
  );
});
