/**
 * A reader and runner for the data-driven test file format used by etcd
 * raft (cockroachdb/datadriven v1.0.2): directive, input, `----`,
 * expected output. See HARNESS.md §2 in the conformance folder.
 *
 * @module
 */

/** One argument of a directive: `key`, `key=value` or `key=(v1,v2)`. */
export interface CmdArg {
  key: string;
  vals: string[];
}

/** One test case of a data-driven file. */
export interface TestData {
  /** `file:line` of the directive, for messages. */
  pos: string;
  cmd: string;
  cmdArgs: CmdArg[];
  input: string;
  expected: string;
}

/** Runs one test case and returns its actual output. Throw to fail the setup. */
export type Handler = (d: TestData) => string;

/** A setup failure (bad directive or argument), not an output mismatch. */
export class DataDrivenError extends Error {
  /**
   * @param message What is wrong, with its position.
   */
  constructor(message: string) {
    super(message);
    this.name = "DataDrivenError";
  }
}

/**
 * Parses a directive line into its command and arguments (HARNESS.md §2.2).
 *
 * @param line The trimmed directive line.
 * @returns The command and its arguments.
 * @throws {DataDrivenError} On an empty key or a missing `)`.
 */
export function parseDirective(line: string): { cmd: string; cmdArgs: CmdArg[] } {
  const sp = line.indexOf(" ");
  const cmd = sp < 0 ? line : line.slice(0, sp);
  const cmdArgs: CmdArg[] = [];
  let i = sp < 0 ? line.length : sp;
  const n = line.length;
  while (i < n) {
    while (i < n && line[i] === " ") i++;
    if (i >= n) break;
    const start = i;
    while (i < n && line[i] !== " " && line[i] !== "=") i++;
    const key = line.slice(start, i);
    if (key === "") {
      throw new DataDrivenError(`cannot parse directive at column ${start + 1}: ${line}`);
    }
    if (i >= n || line[i] === " ") {
      cmdArgs.push({ key, vals: [] });
      continue;
    }
    i++; // '='
    if (line[i] === "(") {
      i++;
      const vals: string[] = [];
      let depth = 0;
      let cur = "";
      let closed = false;
      while (i < n) {
        const c = line[i]!;
        if (c === "(") {
          depth++;
          cur += c;
        } else if (c === ")") {
          if (depth === 0) {
            closed = true;
            i++;
            break;
          }
          depth--;
          cur += c;
        } else if (c === "," && depth === 0) {
          vals.push(cur);
          cur = "";
          i++;
          while (i < n && line[i] === " ") i++;
          continue;
        } else {
          cur += c;
        }
        i++;
      }
      if (!closed) {
        throw new DataDrivenError(`cannot parse directive at column ${start + 1}: ${line}`);
      }
      vals.push(cur);
      cmdArgs.push({ key, vals });
    } else {
      const vs = i;
      while (i < n && line[i] !== " ") i++;
      cmdArgs.push({ key, vals: [line.slice(vs, i)] });
    }
  }
  return { cmd, cmdArgs };
}

/**
 * Splits a data-driven file into test cases (HARNESS.md §2.1).
 *
 * @param text The file's contents.
 * @param name The file's name, for positions.
 * @returns The test cases in file order.
 */
export function parseFile(text: string, name: string): TestData[] {
  const lines = text.split("\n").map((l) => l.endsWith("\r") ? l.slice(0, -1) : l);
  const out: TestData[] = [];
  let i = 0;
  while (i < lines.length) {
    let line = lines[i]!.trim();
    const lineNo = i + 1;
    i++;
    if (line.startsWith("#")) continue;
    while (line.endsWith("\\") && i < lines.length) {
      line = line.slice(0, -1) + " " + lines[i]!.trim();
      i++;
    }
    if (line === "") continue;
    const { cmd, cmdArgs } = parseDirective(line);
    const input: string[] = [];
    let sawSep = false;
    while (i < lines.length) {
      const l = lines[i]!;
      i++;
      if (l === "----") {
        sawSep = true;
        break;
      }
      input.push(l);
    }
    let expected = "";
    if (sawSep && i < lines.length) {
      if (lines[i] === "----") {
        // Double-separator form: up to a closing pair of `----` lines.
        i++;
        const buf: string[] = [];
        while (i < lines.length) {
          if (lines[i] === "----" && lines[i + 1] === "----") {
            i += 2;
            if (i < lines.length && lines[i]!.trim() === "") i++;
            break;
          }
          buf.push(lines[i]! + "\n");
          i++;
        }
        expected = buf.join("");
      } else {
        while (i < lines.length && lines[i]!.trim() !== "") {
          expected += lines[i]! + "\n";
          i++;
        }
        if (i < lines.length) i++; // the blank line
      }
    }
    out.push({ pos: `${name}:${lineNo}`, cmd, cmdArgs, input: input.join("\n").trim(), expected });
  }
  return out;
}

/**
 * Tells whether a directive has an argument.
 *
 * @param d The test case.
 * @param key The argument's key.
 * @returns `true` when present.
 */
export function hasArg(d: TestData, key: string): boolean {
  return d.cmdArgs.some((a) => a.key === key);
}

/**
 * Finds an argument by key.
 *
 * @param d The test case.
 * @param key The argument's key.
 * @returns The argument, or `undefined`.
 */
export function findArg(d: TestData, key: string): CmdArg | undefined {
  return d.cmdArgs.find((a) => a.key === key);
}

/**
 * Parses a base-10 integer value of an argument.
 *
 * @param d The test case (for error positions).
 * @param s The value.
 * @returns The number.
 * @throws {DataDrivenError} When `s` is not a decimal integer.
 */
export function parseIntValue(d: TestData, s: string): number {
  if (!/^[+-]?\d+$/.test(s)) {
    throw new DataDrivenError(`${d.pos}: ${d.cmd}: cannot parse ${JSON.stringify(s)} as integer`);
  }
  return Number(s);
}

/**
 * Parses a boolean the way Go's `strconv.ParseBool` does.
 *
 * @param d The test case (for error positions).
 * @param s The value.
 * @returns The boolean.
 * @throws {DataDrivenError} When `s` is not one of Go's boolean spellings.
 */
export function parseBoolValue(d: TestData, s: string): boolean {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(s)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(s)) return false;
  throw new DataDrivenError(`${d.pos}: ${d.cmd}: cannot parse ${JSON.stringify(s)} as bool`);
}

/**
 * Reads the single integer value of a required `key=value` argument.
 *
 * @param d The test case.
 * @param key The argument's key.
 * @returns The number.
 * @throws {DataDrivenError} When missing or malformed.
 */
export function scanInt(d: TestData, key: string): number {
  const a = findArg(d, key);
  if (a === undefined || a.vals.length !== 1) {
    throw new DataDrivenError(`${d.pos}: ${d.cmd}: missing argument ${key}`);
  }
  return parseIntValue(d, a.vals[0]!);
}

/** The result of running one file. */
export interface FileResult {
  file: string;
  passed: boolean;
  cases: number;
  /** For a failure: position, expected and actual output, and a diff. */
  failure?: string;
}

/**
 * Runs every case of a file through a handler, stopping at the first
 * mismatch (later cases depend on earlier state).
 *
 * @param text The file's contents.
 * @param name The file's name.
 * @param handler Runs one case.
 * @returns Whether every case matched, and a diff for the first that did not.
 */
export function runFile(text: string, name: string, handler: Handler): FileResult {
  const cases = parseFile(text, name);
  let n = 0;
  for (const d of cases) {
    let actual: string;
    try {
      actual = handler(d);
    } catch (e) {
      const msg = e instanceof Error ? (e.stack ?? e.message) : String(e);
      return { file: name, passed: false, cases: n, failure: `${d.pos}: ${d.cmd}: ${msg}` };
    }
    if (actual !== "" && !actual.endsWith("\n")) actual += "\n";
    if (actual !== d.expected) {
      return {
        file: name,
        passed: false,
        cases: n,
        failure: `${d.pos}: output mismatch for: ${d.cmd} ${d.cmdArgs.map(formatArg).join(" ")}\n${
          unifiedDiff(d.expected, actual)
        }`,
      };
    }
    n++;
  }
  return { file: name, passed: true, cases: n };
}

function formatArg(a: CmdArg): string {
  if (a.vals.length === 0) return a.key;
  if (a.vals.length === 1) return `${a.key}=${a.vals[0]}`;
  return `${a.key}=(${a.vals.join(", ")})`;
}

/**
 * A unified diff of two texts, line by line (longest common subsequence).
 *
 * @param expected The expected text.
 * @param actual The actual text.
 * @returns Lines prefixed with ` `, `-` (expected only) or `+` (actual only).
 */
export function unifiedDiff(expected: string, actual: string): string {
  const a = expected.split("\n");
  const b = actual.split("\n");
  const m = a.length;
  const n = b.length;
  const lcs: Uint32Array[] = [];
  for (let i = 0; i <= m; i++) lcs.push(new Uint32Array(n + 1));
  for (let i = m - 1; i >= 0; i--) {
    for (let j = n - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j]
        ? lcs[i + 1]![j + 1]! + 1
        : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const out: string[] = ["--- expected", "+++ actual"];
  let i = 0;
  let j = 0;
  while (i < m || j < n) {
    if (i < m && j < n && a[i] === b[j]) {
      out.push(" " + a[i]);
      i++;
      j++;
    } else if (j < n && (i >= m || lcs[i]![j + 1]! >= lcs[i + 1]![j]!)) {
      out.push("+" + b[j]);
      j++;
    } else {
      out.push("-" + a[i]);
      i++;
    }
  }
  return out.join("\n");
}
