/**
 * Keeps core/ pure: no imports from outside core/, no runtime globals, no
 * clock, no randomness, no console. The driver (core/node.ts and
 * core/node/) alone may use timers, through its injectable scheduler's
 * default, its Ready loop's microtask and its default incarnation draw.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
const core = join(root, "core");

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (name.endsWith(".ts") && !name.endsWith("_test.ts")) out.push(p);
  }
  return out.sort();
}

/** Strips comments and string/template contents that are not import specifiers. */
function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
}

const forbiddenGlobals: Array<[RegExp, string]> = [
  [/(?<![.\w$])Deno\s*\./, "Deno"],
  [/(?<![.\w$])Bun\s*\./, "Bun"],
  [/(?<![.\w$])process\s*\./, "process"],
  [/(?<![.\w$])Date\.now\s*\(/, "Date.now"],
  [/(?<![.\w$])new\s+Date\s*\(/, "new Date"],
  [/(?<![.\w$])Math\.random\s*\(/, "Math.random"],
  [/(?<![.\w$])console\s*\./, "console"],
  [/(?<![.\w$])require\s*\(/, "require"],
];
const timerGlobals: Array<[RegExp, string]> = [
  [/(?<![.\w$])setTimeout\s*\(/, "setTimeout"],
  [/(?<![.\w$])setInterval\s*\(/, "setInterval"],
  [/(?<![.\w$])setImmediate\s*\(/, "setImmediate"],
  [/(?<![.\w$])queueMicrotask\s*\(/, "queueMicrotask"],
  // The driver's default scheduler's monotonic clock (pause detection).
  [/(?<![.\w$])performance\s*\./, "performance"],
  // The driver's default incarnation number; seedable through its `rand` option.
  [/(?<![.\w$])crypto\s*\./, "crypto"],
];

/** Finds every violation in one file; exported shape kept simple for the tests below. */
function violations(file: string, src: string): string[] {
  const rel = relative(root, file);
  const out: string[] = [];
  const code = stripComments(src);
  const specs = [
    ...code.matchAll(/^\s*(?:import|export)\s[^;]*?\bfrom\s*["']([^"']+)["']/gm),
    ...code.matchAll(/\bimport\s*\(\s*["']([^"']+)["']\s*\)/g),
    ...code.matchAll(/^\s*import\s*["']([^"']+)["']/gm),
  ].map((m) => m[1]!);
  for (const spec of specs) {
    if (!spec.startsWith(".")) {
      out.push(`${rel}: imports "${spec}" (core/ may only import core/ files)`);
      continue;
    }
    const target = resolve(dirname(file), spec);
    if (!target.startsWith(core + "/")) {
      out.push(`${rel}: imports "${spec}", which is outside core/`);
    }
  }
  const isDriver = rel === join("core", "node.ts") || rel.startsWith(join("core", "node") + "/");
  for (const [re, name] of forbiddenGlobals) {
    if (re.test(code)) out.push(`${rel}: uses ${name}`);
  }
  if (!isDriver) {
    for (const [re, name] of timerGlobals) {
      if (re.test(code)) out.push(`${rel}: uses ${name} (only the driver, core/node/, may use it)`);
    }
  }
  return out;
}

test("core/ imports nothing outside core/ and uses no runtime globals", () => {
  const files = sourceFiles(core);
  assert.ok(files.length > 0, "no source files found under core/");
  const found = files.flatMap((f) => violations(f, readFileSync(f, "utf8")));
  assert.deepEqual(found, []);
});

test("the purity check catches a forbidden import, global and timer", () => {
  const fake = join(core, "fake.ts");
  const src = [
    'import { x } from "../adapters/sqlite/mod.ts";',
    'import fs from "node:fs";',
    'export {\n  y,\n} from "npm:hono";',
    'const notAnImport = "from \\"x\\"";',
    "const t = Date.now();",
    "setTimeout(() => {}, 1);",
    "console.log(Math.random());",
  ].join("\n");
  const found = violations(fake, src);
  assert.equal(found.length, 7, found.join("\n"));
});

test("the purity check allows timers in the driver only", () => {
  const src = "setTimeout(() => {}, 1);";
  assert.deepEqual(violations(join(core, "node.ts"), src), []);
  assert.deepEqual(violations(join(core, "node", "scheduler.ts"), src), []);
  assert.equal(violations(join(core, "raft.ts"), src).length, 1);
  assert.equal(violations(join(core, "node_helpers.ts"), src).length, 1);
  // The driver may not read the clock or the console either.
  assert.equal(violations(join(core, "node", "scheduler.ts"), "Date.now();").length, 1);
});
