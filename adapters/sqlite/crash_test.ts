import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { memoryNodeStorage } from "../../core/node.ts";
import { newRand, randomIntN } from "../../core/rand.ts";
import { MemoryStorage } from "../../core/storage.ts";
import { applyOp, crashWritesInFlight, digest, nextOp } from "./_crash_model.ts";
import { openSqliteStorage } from "./mod.ts";
import { assertKilled, type KillPlan, runUntilKilled, tempDir } from "./_test_util.ts";

const writer = fileURLToPath(new URL("./_crash_writer.ts", import.meta.url));

type WriterMode = "inline" | "worker";

const cases: { mode: WriterMode; kills: number; seed: number; label: string }[] = [
  { mode: "inline", kills: 60, seed: 0x5ca1ab1e, label: "its writer" },
  // Kills land while up to `crashWritesInFlight` writes are on the thread.
  { mode: "worker", kills: 40, seed: 0x7ead, label: "a writer with a writer thread" },
];

for (const { mode, kills, seed: masterSeed, label: who } of cases) {
  test(
    `SqliteStorage keeps every acknowledged write across ${kills} SIGKILLs of ${who} (seeded)`,
    // Bun's default of 5 s per test is too short for 60 child processes, and
    // Node takes up to a second to start each writer on a busy 2-core machine.
    { timeout: 180_000 },
    async () => {
      const tmp = tempDir();
      const path = tmp.file("crash.db");
      const master = newRand(masterSeed);
      const model = memoryNodeStorage(new MemoryStorage());
      let created = false;
      let acked = 0;
      let inFlightLanded = 0;
      let killedBeforeOpen = 0;
      try {
        for (let run = 0; run < kills; run++) {
          const seed = randomIntN(master, 2 ** 31);
          const plan: KillPlan = randomIntN(master, 8) === 0
            ? { afterStartMs: randomIntN(master, 150) }
            : { afterAcks: randomIntN(master, 25), delayMs: randomIntN(master, 4) };
          const r = await runUntilKilled(writer, [path, String(seed), mode], plan);
          const label = `run ${run} (seed ${seed}, plan ${
            JSON.stringify(plan)
          }, ${r.lastAck} acks)`;
          assertKilled(r, label);
          if (!r.opened) killedBeforeOpen++;
          acked += r.lastAck;

          // The file opens without error...
          const s = await openSqliteStorage(path, { create: !created });
          try {
            created = true;
            const got = digest(s);
            // ...and holds exactly the state after the last acknowledged write,
            const rand = newRand(seed);
            for (let n = 1; n <= r.lastAck; n++) await applyOp(model, nextOp(rand, model));
            let want = digest(model);
            // ...or after some of the writes in flight when it was killed.
            const inFlightMax = mode === "worker" ? crashWritesInFlight : 1;
            for (let k = 1; got !== want && k <= inFlightMax; k++) {
              await applyOp(model, nextOp(rand, model));
              want = digest(model);
              if (got === want) inFlightLanded++;
            }
            assert.equal(
              got,
              want,
              `${label}: the file is neither at ack ${r.lastAck} nor up to ${inFlightMax} writes later`,
            );
            // The HardState agrees with the log.
            const hs = s.initialState().hardState;
            assert.ok(
              hs.commit <= s.lastIndex(),
              `${label}: commit ${hs.commit} past ${s.lastIndex()}`,
            );
            assert.ok(
              s.term(s.lastIndex()) <= hs.term,
              `${label}: last term above the HardState's`,
            );
          } finally {
            s.close();
          }
        }
        // The runs did write, and the kills came at different moments.
        assert.ok(acked >= kills * 5, `only ${acked} writes were acknowledged`);
        assert.ok(model.lastIndex() > 100, `the log stayed short: ${model.lastIndex()}`);
        assert.ok(killedBeforeOpen + inFlightLanded < kills, "every kill landed on a boundary");
      } finally {
        tmp.remove();
      }
    },
  );
}
