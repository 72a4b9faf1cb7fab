/**
 * The applying process of the state machine's crash test: opens a
 * `SqliteStateMachine` of `rowsDefinition()` on the file, prints
 * `open <applied>`, then applies batches of commands after its applied
 * index, printing `ack <index>` after each batch's transaction committed.
 * It runs until it is killed.
 *
 * Usage: `deno run -A _crash_applier.ts <file>`, `bun _crash_applier.ts <file>`
 * or `node _crash_applier.ts <file>`.
 *
 * @module
 */

import { writeSync } from "node:fs";
import process from "node:process";
import { SqliteStateMachine } from "./_state_machine.ts";
import { rowsDefinition } from "./_test_util.ts";

const [path] = process.argv.slice(2);
if (path === undefined) {
  throw new TypeError("Cannot run the crash applier: usage: _crash_applier.ts <file>");
}
const sm = await SqliteStateMachine.open(path, rowsDefinition());
let next = sm.appliedIndex() + 1;
writeSync(1, `open ${next - 1}\n`);
const data = new Uint8Array(2000).fill(7);
for (;;) {
  const batch = [];
  for (let k = 0; k < 200; k++, next++) batch.push({ index: next, term: 1, data });
  sm.apply(batch);
  writeSync(1, `ack ${next - 1}\n`);
  // Lets the parent's kill land between batches too.
  if (next % 1000 === 1) await new Promise((r) => setTimeout(r, 0));
}
