/**
 * The writer process of the crash test: opens the storage file, prints
 * `open`, then performs the seeded workload of `_crash_model.ts`, printing
 * `ack <n>` after the n-th write call returned (so only after SQLite synced
 * it). It runs until it is killed. With `worker`, the storage writes on its
 * writer thread, and a write is acknowledged once its Promise resolved
 * (`createSnapshot` and `compact`: once `flush()` resolved).
 *
 * Usage: `deno run -A _crash_writer.ts <file> <seed> [inline|worker]`,
 * `bun _crash_writer.ts <file> <seed> [inline|worker]` or
 * `node _crash_writer.ts <file> <seed> [inline|worker]`.
 *
 * @module
 */

import { writeSync } from "node:fs";
import process from "node:process";
import { newRand } from "../../core/rand.ts";
import { applyOp, crashWritesInFlight, nextOp } from "./_crash_model.ts";
import { openSqliteStorage } from "./_open.ts";

const [path, seedText, writer = "inline"] = process.argv.slice(2);
if (
  path === undefined || seedText === undefined || (writer !== "inline" && writer !== "worker")
) {
  throw new TypeError(
    "Cannot run the crash writer: usage: _crash_writer.ts <file> <seed> [inline|worker]",
  );
}
const storage = await openSqliteStorage(path, { writer });
// Synchronous writes to the pipe: an acknowledgement is never held in a
// buffer, and never printed before the write it acknowledges returned.
writeSync(1, "open\n");
const rand = newRand(Number(seedText));
const opsMax = 100_000;
if (writer === "inline") {
  for (let n = 1; n <= opsMax; n++) {
    await applyOp(storage, nextOp(rand, storage));
    writeSync(1, `ack ${n}\n`);
  }
} else {
  // Up to `crashWritesInFlight` writes in flight, acknowledged in order as
  // each becomes durable; the next write is drawn from the storage's view,
  // which already holds the writes in flight.
  const inFlight: Promise<unknown>[] = [];
  let acked = 0;
  for (let n = 1; n <= opsMax; n++) {
    if (inFlight.length === crashWritesInFlight) {
      await inFlight.shift();
      writeSync(1, `ack ${++acked}\n`);
    }
    const op = nextOp(rand, storage);
    const done = applyOp(storage, op);
    inFlight.push(op.kind === "save" ? done : done.then(() => storage.flush()));
  }
}
await storage.close();
