/**
 * The README's "Test your state machine" example, run as a test: the
 * README shows `readme_example.ts` with the package's import names; the
 * example must catch its planted bug (`Date.now()` in `apply`) and print
 * a replay line that reproduces it.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { projectRoot } from "../../examples/local_cluster.ts";

const examplePath = join(projectRoot, "tests", "testing", "readme_example.ts");

/** The example as the README shows it. */
function readmeForm(source: string): string {
  return source.replace('"../../mod.ts"', '"@raft-ts/raft"')
    .replace('"../../testing/mod.ts"', '"@raft-ts/raft/testing"')
    .replace("export { Notes, report, workload };\n", "")
    .trim();
}

test("the README's state machine test example matches tests/testing/readme_example.ts", () => {
  const readme = readFileSync(join(projectRoot, "README.md"), "utf8");
  const heading = /^## Test your state machine$/m.exec(readme);
  assert.ok(heading !== null, "README.md has no 'Test your state machine' section");
  const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(heading.index))?.[1]?.trim();
  assert.equal(block, readmeForm(readFileSync(examplePath, "utf8")));
});

test("the README's example catches Date.now() in apply and its replay line reproduces it", {
  timeout: 300_000,
}, async () => {
  const { report } = await import("./readme_example.ts");
  const f = report.failure;
  assert.ok(!report.ok && f !== undefined, "the planted clock read went unnoticed");
  assert.equal(f.invariant, "state-consistent", f.text);
  const token = /^replay: RAFT_SIM_REPLAY=(\S+) deno test -A$/m.exec(f.text)?.[1];
  assert.ok(token !== undefined, f.text);
  // Replaying the token (as RAFT_SIM_REPLAY does) fails the same way.
  const { simulate } = await import("../../testing/mod.ts");
  const { Notes, workload } = await import("./readme_example.ts");
  // The bug reads the clock: it replays as often as the clock differs between
  // replicas; up to five tries.
  const replay = () =>
    simulate({ stateMachine: () => new Notes(), workload, seeds: 1, replay: token });
  let again = await replay();
  for (let t = 1; t < 5 && again.ok; t++) again = await replay();
  assert.equal(again.failure?.invariant, "state-consistent", again.failure?.text);
  assert.deepEqual(again.seeds, [f.seed]);
});
