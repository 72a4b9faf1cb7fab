// Runs the whole test suite under Deno and then under Bun, and fails when
// either runtime fails. Both binaries come from the npm registry
// (devDependencies), so `npm install && npm test` is all a fresh machine needs.
//
// Extra arguments narrow the run to some paths: `npm test -- core/quorum`.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const bin = (name) => {
  const local = join(root, "node_modules", ".bin", name);
  return existsSync(local) ? local : name;
};

const paths = process.argv.slice(2);
const roots = paths.length > 0
  ? paths
  : ["core", "adapters", "testing", "tests", "examples", "bench"].filter((p) =>
    existsSync(join(root, p))
  );

const runs = [
  { name: "deno", cmd: bin("deno"), args: ["test", "-A", "--doc", ...roots], counts: denoCounts },
  {
    name: "bun",
    cmd: bin("bun"),
    args: ["test", "--timeout", "120000", ...roots.map((p) => (p.startsWith(".") ? p : `./${p}`))],
    counts: bunCounts,
  },
];

// Deno ends with `ok | 12 passed (3 steps) | 0 failed` or `FAILED | 10 passed | 2 failed`.
function denoCounts(text) {
  const m = [...text.matchAll(/(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/g)]
    .at(-1);
  return m ? { passed: Number(m[1]), failed: Number(m[2]) } : undefined;
}

// Bun ends with ` 12 pass` and ` 0 fail` lines.
function bunCounts(text) {
  const p = [...text.matchAll(/^\s*(\d+) pass\s*$/gm)].at(-1);
  const f = [...text.matchAll(/^\s*(\d+) fail\s*$/gm)].at(-1);
  return p && f ? { passed: Number(p[1]), failed: Number(f[1]) } : undefined;
}

function stripAnsi(s) {
  // deno-lint-ignore no-control-regex
  return s.replace(/\x1b\[[0-9;]*m/g, "");
}

function run({ name, cmd, args, counts }) {
  console.log(`\n=== ${name}: ${cmd} ${args.join(" ")}`);
  return new Promise((resolve) => {
    let text = "";
    const child = spawn(cmd, args, { cwd: root, env: process.env });
    const tee = (out) => (chunk) => {
      out.write(chunk);
      text += chunk.toString();
    };
    child.stdout.on("data", tee(process.stdout));
    child.stderr.on("data", tee(process.stderr));
    child.on("error", (e) => {
      console.error(`Cannot run ${name}: ${e.message}`);
      resolve({ name, code: 127, counts: undefined });
    });
    child.on(
      "close",
      (code) => resolve({ name, code: code ?? 1, counts: counts(stripAnsi(text)) }),
    );
  });
}

const results = [];
for (const r of runs) results.push(await run(r));

console.log("");
let passed = 0;
let failed = 0;
for (const r of results) {
  const c = r.counts ?? { passed: 0, failed: 0 };
  passed += c.passed;
  // A runtime that failed without reporting failing tests still counts as one failure.
  failed += r.code !== 0 && c.failed === 0 ? 1 : c.failed;
  const what = r.counts ? `${c.passed} passed, ${c.failed} failed` : "no summary";
  console.log(`${r.name}: ${r.code === 0 ? "ok" : `FAILED (exit ${r.code})`}, ${what}`);
}
console.log(`tests: ${passed} passed, ${failed} failed`);
process.exit(results.every((r) => r.code === 0) ? 0 : 1);
