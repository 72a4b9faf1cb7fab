/**
 * Lists the source files and the functions that outgrew the size limits of
 * the house style: files over 1,000 lines, and functions, methods and
 * arrow-function bodies over 120 lines, in core/, adapters/, testing/ and
 * examples/ (tests excluded). `core/raft.ts` and `Raft.step`/`stepLeader`
 * (etcd's shape) are allowed. Exits with status 1 when anything else is
 * over a limit.
 *
 * ```
 * deno run --allow-read scripts/sizes.ts [--top N] [dir ...]
 * ```
 *
 * `--top N` also prints the N longest functions. The source is read without
 * the TypeScript compiler: a tokenizer that knows comments, strings,
 * template literals (with their `${}` expressions) and regular expression
 * literals matches the brackets, and a function body is a `{` after `=>`,
 * or after a parameter list (and its return type) whose head is
 * `function`, a name other than a control keyword, or a computed key.
 *
 * @module
 */

import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";

/** Lines a source file may have. */
const fileLinesMax = 1000;
/** Lines a function may have. */
const functionLinesMax = 120;
/** Files allowed over `fileLinesMax`. */
const allowedFiles = new Set(["core/raft.ts"]);
/** Functions allowed over `functionLinesMax`, as `file:name`. */
const allowedFunctions = new Set(["core/raft.ts:Raft.step", "core/raft.ts:Raft.stepLeader"]);

interface Token {
  /** The token's text (a string, template or regex literal is one token). */
  readonly text: string;
  /** What it is. */
  readonly kind: "name" | "punct" | "literal";
  /** Its 1-based line. */
  readonly line: number;
}

/** A function found in a file. */
export interface FunctionSize {
  /** Its name (`Class.method`, `name`, or `<arrow>`). */
  readonly name: string;
  /** The line it starts on. */
  readonly line: number;
  /** Its lines, from its head to its closing brace. */
  readonly lines: number;
}

const keywordsBeforeRegex = new Set([
  "return",
  "typeof",
  "case",
  "do",
  "else",
  "in",
  "of",
  "new",
  "delete",
  "void",
  "throw",
  "instanceof",
  "yield",
  "await",
]);

const controlKeywords = new Set([
  "if",
  "for",
  "while",
  "switch",
  "catch",
  "with",
  "return",
  "typeof",
  "await",
  "new",
  "void",
  "yield",
  "in",
  "of",
]);

/** Whether a `/` after this token starts a regex literal. */
function regexAllowedAfter(prev: Token | undefined): boolean {
  if (prev === undefined) return true;
  if (prev.kind === "literal") return false;
  if (prev.kind === "name") return keywordsBeforeRegex.has(prev.text);
  return prev.text !== ")" && prev.text !== "]" && prev.text !== "}";
}

/**
 * Splits TypeScript source into tokens; comments and whitespace are dropped.
 *
 * @param src The source.
 * @returns Its tokens.
 * @throws {SyntaxError} On an unterminated literal or comment.
 */
export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let line = 1;
  /** Brace depths at which a `}` resumes a template literal. */
  const templates: number[] = [];
  let depth = 0;
  const fail = (what: string): never => {
    throw new SyntaxError(`Cannot tokenize: unterminated ${what} at line ${line}`);
  };
  const countLines = (from: number, to: number): void => {
    for (let k = from; k < to; k++) if (src.charCodeAt(k) === 10) line++;
  };
  /** Scans template text from `i` (after "`" or "}") to its end or a `${`. */
  const templateText = (): void => {
    const start = i;
    const startLine = line;
    while (i < src.length) {
      const c = src[i];
      if (c === "\\") i += 2;
      else if (c === "`") {
        i++;
        countLines(start, i);
        out.push({ text: "`", kind: "literal", line: startLine });
        return;
      } else if (c === "$" && src[i + 1] === "{") {
        i += 2;
        countLines(start, i);
        out.push({ text: "`${", kind: "literal", line: startLine });
        templates.push(depth);
        depth++;
        return;
      } else i++;
    }
    fail("template literal");
  };
  while (i < src.length) {
    const c = src[i]!;
    if (c === "\n") {
      line++;
      i++;
    } else if (c === " " || c === "\t" || c === "\r") i++;
    else if (c === "/" && src[i + 1] === "/") {
      while (i < src.length && src[i] !== "\n") i++;
    } else if (c === "/" && src[i + 1] === "*") {
      const end = src.indexOf("*/", i + 2);
      if (end < 0) fail("comment");
      countLines(i, end);
      i = end + 2;
    } else if (c === "'" || c === '"') {
      const start = i++;
      while (i < src.length && src[i] !== c) {
        if (src[i] === "\n") fail("string");
        i += src[i] === "\\" ? 2 : 1;
      }
      if (i >= src.length) fail("string");
      i++;
      out.push({ text: src.slice(start, i), kind: "literal", line });
    } else if (c === "`") {
      i++;
      templateText();
    } else if (c === "/" && regexAllowedAfter(out.at(-1))) {
      const start = i++;
      let inClass = false;
      while (i < src.length && (inClass || src[i] !== "/")) {
        if (src[i] === "\n") fail("regular expression");
        if (src[i] === "[") inClass = true;
        else if (src[i] === "]") inClass = false;
        i += src[i] === "\\" ? 2 : 1;
      }
      i++;
      while (i < src.length && /[a-z]/.test(src[i]!)) i++;
      out.push({ text: src.slice(start, i), kind: "literal", line });
    } else if (/[A-Za-z_$#]/.test(c)) {
      const start = i++;
      while (i < src.length && /[\w$]/.test(src[i]!)) i++;
      out.push({ text: src.slice(start, i), kind: "name", line });
    } else if (/[0-9]/.test(c) || (c === "." && /[0-9]/.test(src[i + 1] ?? ""))) {
      const start = i++;
      while (i < src.length && /[\w.]/.test(src[i]!)) i++;
      out.push({ text: src.slice(start, i), kind: "literal", line });
    } else if (c === "=" && src[i + 1] === ">") {
      out.push({ text: "=>", kind: "punct", line });
      i += 2;
    } else if (c === "}" && templates.at(-1) === depth - 1) {
      templates.pop();
      depth--;
      i++;
      templateText();
    } else {
      if (c === "{") depth++;
      else if (c === "}") depth--;
      out.push({ text: c, kind: "punct", line });
      i++;
    }
  }
  if (templates.length > 0) fail("template expression");
  return out;
}

const opening: Record<string, string> = { "(": ")", "[": "]", "{": "}" };

/**
 * Matches brackets: `match[i]` is the index of the bracket that closes or
 * opens the one at `i` (-1 for other tokens).
 */
function matchBrackets(tokens: readonly Token[]): number[] {
  const match = new Array<number>(tokens.length).fill(-1);
  const stack: number[] = [];
  tokens.forEach((t, i) => {
    if (t.kind !== "punct") return;
    if (opening[t.text] !== undefined) stack.push(i);
    else if (t.text === ")" || t.text === "]" || t.text === "}") {
      const open = stack.pop();
      if (open === undefined || opening[tokens[open]!.text] !== t.text) {
        throw new SyntaxError(`Cannot match brackets: unexpected '${t.text}' at line ${t.line}`);
      }
      match[open] = i;
      match[i] = open;
    }
  });
  if (stack.length > 0) {
    throw new SyntaxError(`Cannot match brackets: '${tokens[stack.at(-1)!]!.text}' unclosed`);
  }
  return match;
}

/** Tokens after which a `{` still belongs to a type, not a function body. */
const typeContinuations = new Set([":", "|", "&", "<", ",", "(", "[", "=>", "?", "=", "keyof"]);

/**
 * From the token after a parameter list, skips a return type annotation;
 * returns the index of the body's `{` or `=>`, or -1 when none follows.
 */
function afterReturnType(tokens: readonly Token[], match: readonly number[], i: number): number {
  if (tokens[i]?.text !== ":") return i;
  let angle = 0;
  for (let k = i + 1; k < tokens.length; k++) {
    const t = tokens[k]!.text;
    if (t === "(" || t === "[" || (t === "{" && typeContinuations.has(tokens[k - 1]!.text))) {
      k = match[k]!;
    } else if (t === "<") angle++;
    else if (t === ">") angle--;
    else if (angle === 0 && (t === "{" || t === "=>")) return k;
    else if (t === ";" || t === ")" || t === "]" || t === "}" || (angle === 0 && t === ",")) {
      return -1;
    }
  }
  return -1;
}

/** The name an arrow function is assigned to, when it is. */
function arrowName(tokens: readonly Token[], start: number): string {
  let k = start - 1;
  if (tokens[k]?.text === "async") k--;
  const before = tokens[k]?.text;
  if ((before === "=" || before === ":") && tokens[k - 1]?.kind === "name") {
    return tokens[k - 1]!.text;
  }
  return "<arrow>";
}

/**
 * Finds the functions of a file with their sizes.
 *
 * @param src The source.
 * @returns Every function, method and arrow-function body, in source order.
 */
export function functionSizes(src: string): FunctionSize[] {
  const tokens = tokenize(src);
  const match = matchBrackets(tokens);
  /** The class whose body a `{` opens. */
  const classOf = new Map<number, string>();
  /** For each function body `{`: its name and first line. */
  const bodies = new Map<number, { name: string; line: number }>();
  tokens.forEach((t, i) => {
    if (t.text === "class" && tokens[i + 1]?.kind === "name") {
      for (let k = i + 2; k < tokens.length; k++) {
        if (tokens[k]!.text === "{" && !typeContinuations.has(tokens[k - 1]!.text)) {
          classOf.set(k, tokens[i + 1]!.text);
          break;
        }
      }
    }
    if (t.text === "=>" && tokens[i + 1]?.text === "{") {
      // Parameters: `(…)` (with a return type) or one name.
      let start = i - 1;
      if (tokens[start]?.kind === "name") {
        bodies.set(i + 1, { name: arrowName(tokens, start), line: tokens[start]!.line });
        return;
      }
      for (let k = i - 1; k >= Math.max(0, i - 80); k--) {
        if (tokens[k]!.text === ")" && afterReturnType(tokens, match, k + 1) === i) {
          start = match[k]!;
          break;
        }
      }
      bodies.set(i + 1, { name: arrowName(tokens, start), line: tokens[start]!.line });
      return;
    }
    if (t.text !== "(") return;
    const body = afterReturnType(tokens, match, match[i]! + 1);
    if (body < 0 || tokens[body]!.text !== "{") return;
    let head = i - 1;
    if (tokens[head]?.text === ">") {
      // Type parameters: `name<T>(…)`.
      let angle = 0;
      for (; head >= 0; head--) {
        const h = tokens[head]!.text;
        if (h === ">") angle++;
        else if (h === "<" && --angle === 0) break;
      }
      head--;
    }
    const h = tokens[head];
    if (h === undefined) return;
    let name: string;
    let line = h.line;
    if (h.text === "function") name = "<function>";
    else if (h.kind === "name" && !controlKeywords.has(h.text)) {
      name = h.text;
      const before = tokens[head - 1];
      if (before?.text === "function") line = before.line;
    } else if (h.text === "]") name = "<computed>";
    else return;
    bodies.set(body, { name, line });
  });
  // Qualify methods with their class: walk the nesting of braces.
  const out: FunctionSize[] = [];
  const stack: { close: number; cls: string | undefined }[] = [];
  tokens.forEach((t, i) => {
    while (stack.length > 0 && stack.at(-1)!.close < i) stack.pop();
    if (t.text !== "{") return;
    const body = bodies.get(i);
    const cls = classOf.get(i);
    let name = body?.name;
    if (body !== undefined) {
      const parent = stack.at(-1);
      if (parent?.cls !== undefined && name !== "<arrow>") name = `${parent.cls}.${name}`;
      out.push({ name: name!, line: body.line, lines: tokens[match[i]!]!.line - body.line + 1 });
    }
    stack.push({ close: match[i]!, cls });
  });
  return out;
}

function sourceFiles(dir: string): string[] {
  if (!statSync(dir).isDirectory()) return [dir];
  const files: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) files.push(...sourceFiles(path));
    else if (path.endsWith(".ts") && !path.endsWith("_test.ts")) files.push(path);
  }
  return files;
}

function main(): void {
  const { values, positionals } = parseArgs({
    options: { top: { type: "string" } },
    allowPositionals: true,
  });
  const top = values.top === undefined ? 0 : Number(values.top);
  if (!Number.isSafeInteger(top) || top < 0) {
    console.error(`Cannot list the longest functions: --top must be a count, got ${values.top}`);
    process.exit(2);
  }
  const dirs = positionals.length > 0 ? positionals : ["core", "adapters", "testing", "examples"];
  const all: (FunctionSize & { file: string })[] = [];
  let failures = 0;
  for (const file of dirs.flatMap(sourceFiles)) {
    const src = readFileSync(file, "utf8");
    const lines = src.split("\n").length - (src.endsWith("\n") ? 1 : 0);
    if (lines > fileLinesMax) {
      const allowed = allowedFiles.has(file);
      if (!allowed) failures++;
      console.log(`${file}: ${lines} lines (file)${allowed ? " allowed" : ""}`);
    }
    let sizes: FunctionSize[];
    try {
      sizes = functionSizes(src);
    } catch (e) {
      console.log(`${file}: ${e instanceof Error ? e.message : e}`);
      failures++;
      continue;
    }
    for (const f of sizes) {
      all.push({ ...f, file });
      if (f.lines <= functionLinesMax) continue;
      const allowed = allowedFunctions.has(`${file}:${f.name}`);
      if (!allowed) failures++;
      console.log(`${file}:${f.line}: ${f.name} ${f.lines} lines${allowed ? " allowed" : ""}`);
    }
  }
  if (top > 0) {
    console.log(`\nlongest functions:`);
    for (const f of all.sort((a, b) => b.lines - a.lines).slice(0, top)) {
      console.log(`${String(f.lines).padStart(5)}  ${f.file}:${f.line}: ${f.name}`);
    }
  }
  if (failures > 0) {
    console.log(
      `\n${failures} over the limits (files ${fileLinesMax} lines, functions ${functionLinesMax})`,
    );
    process.exit(1);
  }
}

if (import.meta.main) main();
