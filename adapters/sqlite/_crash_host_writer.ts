/**
 * The writer process of the host storage's crash test: opens the host
 * file, prints `open`, then performs the seeded workload of
 * `_crash_host_model.ts`, printing `ack <n>` after the n-th step's last
 * write (its batch) returned, so only after SQLite synced it. It runs
 * until it is killed.
 *
 * Usage: `deno run -A _crash_host_writer.ts <file> <seed> [inline|worker]`
 * (or with `bun`, `node`); the last argument is the storage's `writer`.
 *
 * @module
 */

import { writeSync } from "node:fs";
import process from "node:process";
import { newRand } from "../../core/rand.ts";
import { applyHostWrite, crashGroupIds, nextHostStep } from "./_crash_host_model.ts";
import { openSqliteHostStorage } from "./_open.ts";

const [path, seedText, writer = "inline"] = process.argv.slice(2);
if (path === undefined || seedText === undefined) {
  throw new TypeError(
    "Cannot run the crash writer: usage: _crash_host_writer.ts <file> <seed> [inline|worker]",
  );
}
if (writer !== "inline" && writer !== "worker") {
  throw new TypeError(`Cannot run the crash writer: unknown writer '${writer}'`);
}
const storage = await openSqliteHostStorage(path, { writer });
for (const g of crashGroupIds) storage.openGroup(g);
// Synchronous writes to the pipe: an acknowledgement is never held in a
// buffer, and never printed before the step it acknowledges returned.
writeSync(1, "open\n");
const rand = newRand(Number(seedText));
for (let n = 1; n <= 100_000; n++) {
  for (const w of nextHostStep(rand, storage)) await applyHostWrite(storage, w);
  writeSync(1, `ack ${n}\n`);
}
await storage.close();
