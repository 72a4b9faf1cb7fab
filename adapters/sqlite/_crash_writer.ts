/**
 * The writer process of the crash test: opens the storage file, prints
 * `open`, then performs the seeded workload of `_crash_model.ts`, printing
 * `ack <n>` after the n-th write call returned (so only after SQLite synced
 * it). It runs until it is killed.
 *
 * Usage: `deno run -A _crash_writer.ts <file> <seed>` or
 * `bun _crash_writer.ts <file> <seed>` or `node _crash_writer.ts <file> <seed>`.
 *
 * @module
 */

import { writeSync } from "node:fs";
import process from "node:process";
import { newRand } from "../../core/rand.ts";
import { applyOp, nextOp } from "./_crash_model.ts";
import { openSqliteStorage } from "./_open.ts";

const [path, seedText] = process.argv.slice(2);
if (path === undefined || seedText === undefined) {
  throw new TypeError("Cannot run the crash writer: usage: _crash_writer.ts <file> <seed>");
}
const storage = await openSqliteStorage(path);
// Synchronous writes to the pipe: an acknowledgement is never held in a
// buffer, and never printed before the write it acknowledges returned.
writeSync(1, "open\n");
const rand = newRand(Number(seedText));
const opsMax = 100_000;
for (let n = 1; n <= opsMax; n++) {
  await applyOp(storage, nextOp(rand, storage));
  writeSync(1, `ack ${n}\n`);
}
storage.close();
