// Runs the whole test suite under Deno, Bun and Node, one after the other,
// and fails when any runtime fails. The three binaries come from the npm
// registry (devDependencies: `deno`, `bun`, and `node` for Node 24, which
// runs TypeScript by stripping types), so `npm install && npm test` is all
// a fresh machine with any Node.js needs. The last line counts all three.
//
// Extra arguments narrow the run to some paths: `npm test -- core/quorum`.
// `--runtime deno,node` runs only those runtimes.
import { spawn } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const bin = (name) => {
  const local = join(root, "node_modules", ".bin", name);
  return existsSync(local) ? local : name;
};

const argv = process.argv.slice(2);
const runtimeFlag = argv.findIndex((a) => a === "--runtime" || a.startsWith("--runtime="));
let only;
if (runtimeFlag >= 0) {
  const [flag] = argv.splice(runtimeFlag, 1);
  const value = flag.includes("=")
    ? flag.slice(flag.indexOf("=") + 1)
    : argv.splice(runtimeFlag, 1)[0];
  only = (value ?? "").split(",").filter((r) => r !== "");
  const unknown = only.filter((r) => !["deno", "bun", "node"].includes(r));
  if (only.length === 0 || unknown.length > 0) {
    console.error(
      `Cannot run the tests: --runtime takes deno, bun and/or node, got '${value ?? ""}'`,
    );
    process.exit(2);
  }
}
const paths = argv;
const roots = paths.length > 0
  ? paths
  : ["core", "adapters", "testing", "tests", "examples", "bench"].filter((p) =>
    existsSync(join(root, p))
  );

// `node --test` takes files and globs, not folders: a folder becomes its `*_test.ts` files.
const nodeFiles = roots.map((p) =>
  existsSync(join(root, p)) && statSync(join(root, p)).isDirectory()
    ? `${p.replace(/\/+$/, "")}/**/*_test.ts`
    : p
);

const runs = [
  { name: "deno", cmd: bin("deno"), args: ["test", "-A", "--doc", ...roots], counts: denoCounts },
  {
    name: "bun",
    cmd: bin("bun"),
    args: ["test", "--timeout", "120000", ...roots.map((p) => (p.startsWith(".") ? p : `./${p}`))],
    counts: bunCounts,
  },
  {
    name: "node",
    cmd: bin("node"),
    // Files run one at a time (2 cores). No --test-force-exit: with it, Node 24 ends a file
    // before all of its tests have run and reports only those that did.
    args: [
      "--test",
      "--test-reporter=spec",
      "--test-concurrency=1",
      "--test-timeout=300000",
      ...nodeFiles,
    ],
    counts: nodeCounts,
  },
].filter((r) => only === undefined || only.includes(r.name));

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

// Node's spec reporter ends with `ℹ pass 12`, `ℹ fail 0` and `ℹ cancelled 0` lines.
function nodeCounts(text) {
  const count = (what) => [...text.matchAll(new RegExp(`^\\S+ ${what} (\\d+)\\s*$`, "gm"))].at(-1);
  const p = count("pass");
  const f = count("fail");
  const c = count("cancelled");
  return p && f
    ? { passed: Number(p[1]), failed: Number(f[1]) + (c ? Number(c[1]) : 0) }
    : undefined;
}

function stripAnsi(s) {
  // deno-lint-ignore no-control-regex
  return s.replace(/\x1b\[[0-9;]*m/g, "");
}

function run({ name, cmd, args, counts }) {
  console.log(`\n=== ${name}: ${cmd} ${args.join(" ")}`);
  const started = performance.now();
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
      resolve({ name, code: 127, counts: undefined, seconds: 0 });
    });
    child.on(
      "close",
      (code) =>
        resolve({
          name,
          code: code ?? 1,
          counts: counts(stripAnsi(text)),
          seconds: (performance.now() - started) / 1000,
        }),
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
  const status = r.code === 0 ? "ok" : `FAILED (exit ${r.code})`;
  console.log(`${r.name}: ${status}, ${what} in ${r.seconds.toFixed(0)} s`);
}
console.log(`tests: ${passed} passed, ${failed} failed`);
process.exit(results.every((r) => r.code === 0) ? 0 : 1);
