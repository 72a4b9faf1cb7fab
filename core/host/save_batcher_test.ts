import { test } from "node:test";
import assert from "node:assert/strict";
import { VirtualScheduler } from "../../adapters/memory/mod.ts";
import { RaftInvariantError } from "../_assert.ts";
import type { NodeStorage, StorageUpdate } from "../node.ts";
import { SaveBatcher } from "./save_batcher.ts";
import type { GroupId, GroupSave, HostStorage } from "./seams.ts";

const update: StorageUpdate = {
  hardState: { term: 1, vote: 1, commit: 0 },
  entries: [],
  snapshot: undefined,
  mustSync: true,
};

/** A storage whose batches take `writeMs` of virtual time each (or fail), and that records them. */
function slowStorage(clock: VirtualScheduler, writeMs: number) {
  const batches: GroupId[][] = [];
  let failNext = false;
  const storage: HostStorage = {
    groupIds: () => [],
    openGroup: (): NodeStorage => {
      throw new Error("not used");
    },
    writeBatch(batch: readonly GroupSave[]): Promise<void> {
      batches.push(batch.map((s) => s.groupId));
      const fail = failNext;
      failNext = false;
      return new Promise((resolve, reject) => {
        clock.setTimeout(() => (fail ? reject(new Error("disk full")) : resolve()), writeMs);
      });
    },
    deleteGroup: () => {},
  };
  return {
    storage,
    batches,
    failNext: () => {
      failNext = true;
    },
  };
}

test("SaveBatcher writes the saves of one turn as one batch and the saves made meanwhile as the next", async () => {
  const clock = new VirtualScheduler();
  const s = slowStorage(clock, 5);
  const b = new SaveBatcher(s.storage, clock);
  const done: GroupId[] = [];
  const first = [1, 2, 3].map((g) => b.save(g, update).then(() => done.push(g)));
  await clock.advance(0);
  assert.deepEqual(s.batches, [[1, 2, 3]]);
  assert.equal(done.length, 0, "not durable before the write completes");
  // Saves made while the batch is written wait for it, then go together.
  const second = [4, 1].map((g) => b.save(g, update).then(() => done.push(g)));
  await clock.advance(4);
  assert.deepEqual(s.batches, [[1, 2, 3]]);
  await clock.advance(1);
  await Promise.all(first);
  assert.deepEqual(s.batches, [[1, 2, 3], [4, 1]]);
  await clock.advance(5);
  await Promise.all(second);
  assert.deepEqual(done, [1, 2, 3, 4, 1]);
  assert.deepEqual(b.stats, { batches: 2, saves: 5, largestBatchSaves: 3 });
});

test("SaveBatcher fails every save of a batch whose write fails, and writes the next batch", async () => {
  const clock = new VirtualScheduler();
  const s = slowStorage(clock, 1);
  const b = new SaveBatcher(s.storage, clock);
  s.failNext();
  const failed = [1, 2].map((g) => b.save(g, update));
  const outcomes = clock.run(Promise.allSettled(failed));
  assert.deepEqual((await outcomes).map((o) => o.status), ["rejected", "rejected"]);
  await clock.run(b.save(1, update));
  assert.deepEqual(s.batches, [[1, 2], [1]]);
});

test("SaveBatcher refuses a second save of a group before its first is written", async () => {
  const clock = new VirtualScheduler();
  const s = slowStorage(clock, 1);
  const b = new SaveBatcher(s.storage, clock);
  const first = b.save(7, update);
  assert.throws(() => b.save(7, update), RaftInvariantError);
  await clock.run(b.drain());
  await first;
  assert.deepEqual(s.batches, [[7]]);
});

test("SaveBatcher goes on after a write that throws at once", async () => {
  const clock = new VirtualScheduler();
  const written: GroupId[][] = [];
  let calls = 0;
  const storage: HostStorage = {
    groupIds: () => [],
    openGroup: (): NodeStorage => {
      throw new Error("not used");
    },
    writeBatch(batch: readonly GroupSave[]): void {
      if (calls++ === 0) throw new Error("disk gone");
      written.push(batch.map((s) => s.groupId));
    },
    deleteGroup: () => {},
  };
  const b = new SaveBatcher(storage, clock);
  await assert.rejects(clock.run(b.save(1, update)), /disk gone/);
  await clock.run(Promise.all([b.save(1, update), b.save(2, update)]), 100);
  assert.deepEqual(written, [[1, 2]]);
});
