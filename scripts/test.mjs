// Runs the whole test suite under Deno and then under Bun, and fails when
// either runtime fails. Both binaries come from the npm registry
// (devDependencies), so `npm install && npm test` is all a fresh machine needs.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const bin = (name) => {
  const local = join(root, "node_modules", ".bin", name);
  return existsSync(local) ? local : name;
};

// Test roots, shared by both runtimes. Extra arguments narrow the run
// (for example `npm test -- tests/conformance`).
const paths = process.argv.slice(2);
const roots = paths.length > 0 ? paths : ["core", "adapters", "tests", "examples", "bench"]
  .filter((p) => existsSync(join(root, p)));

const runs = [
  { name: "deno", cmd: bin("deno"), args: ["test", "-A", "--quiet", ...roots] },
  {
    name: "bun",
    cmd: bin("bun"),
    args: ["test", "--timeout", "120000", ...roots.map((p) => `./${p}`)],
  },
];

const results = [];
for (const run of runs) {
  console.log(`\n=== ${run.name}: ${run.cmd} ${run.args.join(" ")}`);
  const r = spawnSync(run.cmd, run.args, { cwd: root, stdio: "inherit", env: process.env });
  const code = r.error ? 127 : r.status ?? 1;
  if (r.error) console.error(`Cannot run ${run.name}: ${r.error.message}`);
  results.push({ name: run.name, code });
}

console.log("");
for (const r of results) {
  console.log(`${r.name}: ${r.code === 0 ? "passed" : `FAILED (exit ${r.code})`}`);
}
process.exit(results.every((r) => r.code === 0) ? 0 : 1);
