/**
 * Snapshots streamed between node processes (`_snapshot_node.ts`: a
 * RaftNode over WebSocket on SqliteStorage, with a generated state of a
 * given size that no process holds in memory):
 *
 * - a learner catches up by a snapshot of `RAFT_TS_SNAPSHOT_MB` MB
 *   (default 8), and the peak RSS of sender and receiver is printed
 *   (and, from 256 MB on, checked to stay below the snapshot's size);
 * - the receiver is killed (SIGKILL) at random points of an install,
 *   `RAFT_TS_SNAPSHOT_CRASH_RUNS` times (default 20), with a state of
 *   `RAFT_TS_SNAPSHOT_CRASH_MB` MB (default 2): every restart opens its
 *   storage cleanly with a whole state (every byte is checked against the
 *   state's seed when restored, so a mix of two snapshots fails), and
 *   catches up.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { newRand } from "../../core/rand.ts";
import { tempDir } from "../sqlite/_test_util.ts";
import { type ChildLine, ChildNode } from "./_test_util.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const script = fileURLToPath(new URL("./_snapshot_node.ts", import.meta.url));
const denoBin = fileURLToPath(new URL("../../node_modules/.bin/deno", import.meta.url));
const secret = "snapshot stream secret, long enough";
const skip = existsSync(denoBin) ? false : "deno binary missing";

function spawnNode(id: number, db: string, bytes: number, port = 0): ChildNode {
  return new ChildNode(
    id,
    denoBin,
    [
      "run",
      "-A",
      "--quiet",
      ...(process.env.RAFT_TS_SNAPSHOT_V8 ? [`--v8-flags=${process.env.RAFT_TS_SNAPSHOT_V8}`] : []),
      script,
      String(id),
      db,
      String(bytes),
      String(port),
    ],
    root,
    secret,
  );
}

/** Polls `child`'s state until `pred` holds. */
async function pollState(
  child: ChildNode,
  pred: (s: ChildLine) => boolean,
  what: string,
  timeoutMs: number,
): Promise<ChildLine> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = await child.state();
    if (pred(s)) return s;
    if (Date.now() > end) {
      throw new Error(
        `Timed out waiting for ${what}: ${JSON.stringify(s)}; stderr:\n${child.stderr}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

const mib = 1 << 20;

test(
  "RaftNode processes stream a large snapshot with bounded memory on both sides",
  { skip, timeout: 900_000 },
  async () => {
    const mb = Number(process.env.RAFT_TS_SNAPSHOT_MB ?? 8);
    const bytes = Math.round(mb * mib);
    const slowMs = 60_000 + mb * 300;
    const tmp = tempDir();
    const leader = spawnNode(1, tmp.file("1.db"), bytes);
    let learner: ChildNode | undefined;
    try {
      const l = await leader.next("listening");
      leader.send({ type: "start", peers: {}, bootstrap: true });
      await leader.next("started");
      const before = await leader.state();
      leader.send({ type: "propose", n: 25 }); // a snapshot at 20 entries
      await leader.next("proposed", () => true, slowMs);
      const taken = await pollState(leader, (s) => s.snapshotIndex > 0, "the snapshot", slowMs);

      learner = spawnNode(2, tmp.file("2.db"), bytes);
      const r = await learner.next("listening");
      learner.send({ type: "start", peers: { "1": l.url } });
      await learner.next("started");
      const learnerBefore = await learner.state();
      leader.send({ type: "addLearner", id: 2, url: r.url });
      await leader.next("added");
      const want = await leader.state();
      const got = await pollState(
        learner,
        (s) => s.count === want.count && s.seed === want.seed,
        "the learner to catch up",
        slowMs,
      );
      assert.ok(
        got.restoredChunks >= Math.floor(bytes / mib),
        `${got.restoredChunks} chunks restored`,
      );
      const sent = await leader.state();
      const fmt = (b: number): string => `${(b / mib).toFixed(1)} MiB`;
      console.log(
        `snapshot ${fmt(bytes)}: sender peak RSS ${fmt(sent.peakRssBytes)} (${
          fmt(before.peakRssBytes)
        } before, ${fmt(taken.peakRssBytes)} after taking it), receiver peak RSS ${
          fmt(got.peakRssBytes)
        } (${fmt(learnerBefore.peakRssBytes)} before)`,
      );
      if (mb >= 256 && sent.peakRssBytes > 0) {
        // Neither process ever held the whole snapshot.
        assert.ok(sent.peakRssBytes < bytes, `sender peak RSS ${fmt(sent.peakRssBytes)}`);
        assert.ok(got.peakRssBytes < bytes, `receiver peak RSS ${fmt(got.peakRssBytes)}`);
      }
      for (const c of [leader, learner]) {
        const t0 = Date.now();
        c.send({ type: "exit" });
        await c.next("bye", () => true, slowMs).catch((e) => {
          throw new Error(`${e.message}; lines: ${JSON.stringify(c.lines)}`);
        });
        console.log(`node ${c.id} closed in ${Date.now() - t0} ms`);
      }
    } finally {
      leader.kill();
      learner?.kill();
      tmp.remove();
    }
  },
);

test(
  "RaftNode receiving a snapshot, killed at random points of the install, restarts with a whole state and catches up",
  { skip, timeout: 900_000 },
  async () => {
    const runs = Number(process.env.RAFT_TS_SNAPSHOT_CRASH_RUNS ?? 20);
    const bytes = Math.round(Number(process.env.RAFT_TS_SNAPSHOT_CRASH_MB ?? 2) * mib);
    const slowMs = 60_000;
    const rand = newRand(Number(process.env.RAFT_TS_SNAPSHOT_CRASH_SEED ?? 19));
    const tmp = tempDir();
    const db2 = tmp.file("2.db");
    const leader = spawnNode(1, tmp.file("1.db"), bytes);
    let learner: ChildNode | undefined;
    const outcomes = { old: 0, new: 0 };
    try {
      const l = await leader.next("listening");
      leader.send({ type: "start", peers: {}, bootstrap: true });
      await leader.next("started");
      leader.send({ type: "propose", n: 25 });
      await leader.next("proposed", () => true, slowMs);

      learner = spawnNode(2, db2, bytes);
      const first = await learner.next("listening");
      const port = first.port as number;
      learner.send({ type: "start", peers: { "1": l.url } });
      await learner.next("started");
      leader.send({ type: "addLearner", id: 2, url: first.url });
      await leader.next("added");
      const sync = async (c: ChildNode): Promise<ChildLine> => {
        const want = await leader.state();
        return await pollState(
          c,
          (s) => s.count === want.count && s.seed === want.seed,
          "the catch-up",
          slowMs,
        );
      };
      let caught = await sync(learner);
      const restart = async (): Promise<ChildLine> => {
        learner = spawnNode(2, db2, bytes, port);
        await learner.next("listening", () => true, slowMs);
        learner.send({ type: "start", peers: { "1": l.url } });
        const started = await learner.next("started", () => true, slowMs);
        return started;
      };
      for (let run = 0; run < runs; run++) {
        learner.kill();
        await learner.exited;
        // The leader moves on past the learner's log: it needs a new snapshot.
        leader.send({ type: "propose", n: 25 });
        await leader.next("proposed", () => true, slowMs);
        const before = await restart();
        assert.equal(before.count, caught.count, `run ${run}: the learner restarted where it was`);
        // Killed somewhere in the install (or just before or after it).
        await new Promise((r) => setTimeout(r, Math.floor(rand() * 300)));
        learner.kill();
        await learner.exited;
        const after = await restart(); // opened, restored and byte-checked a whole state
        const leaderNow = await leader.state();
        assert.ok(
          after.count === caught.count || after.count <= leaderNow.count,
          `run ${run}: restarted with ${after.count} commands applied`,
        );
        if (after.count === caught.count) outcomes.old++;
        else outcomes.new++;
        caught = await sync(learner);
      }
      console.log(
        `${runs} kills of a receiver installing a ${
          (bytes / mib).toFixed(1)
        } MiB snapshot: restarted ${outcomes.old} times with the old state, ${outcomes.new} with the new`,
      );
      leader.send({ type: "exit" });
      learner.send({ type: "exit" });
      await Promise.all([
        leader.next("bye", () => true, slowMs),
        learner.next("bye", () => true, slowMs),
      ]);
    } finally {
      leader.kill();
      learner?.kill();
      tmp.remove();
    }
  },
);
