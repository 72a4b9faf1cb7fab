/**
 * The behavioural suite every durable `NodeStorage` must pass, for a
 * storage of your own (IndexedDB, Deno KV, Postgres, a file): the read
 * side and its errors exactly as `MemoryStorage` has them (etcd's storage
 * tests, ported), the driver's write side (`save`, `createSnapshot`,
 * `compact`), persistence across a reopen, a seeded differential run
 * against a `MemoryStorage` model and, when the storage can simulate a
 * crash, crash points between write and sync: a crash keeps every write
 * the storage acknowledged as synced and loses, at most, a suffix of the
 * others. A storage with a `snapshotChunks` store is also checked for
 * snapshot data in chunks: written from pieces of any size and read back
 * (also after a reopen), replaced with the snapshot that names it, and
 * staged data no snapshot names discarded.
 *
 * @module
 */

import assert from "node:assert/strict";
import { RaftInvariantError } from "../core/_assert.ts";
import { CompactedError, SnapOutOfDateError, UnavailableError } from "../core/errors.ts";
import { memoryNodeStorage, type NodeStorage } from "../core/node.ts";
import { newRand, randomIntN } from "../core/rand.ts";
import { MemoryStorage } from "../core/storage.ts";
import { EntryType, newConfState, newEntry, newHardState, newSnapshot } from "../core/types.ts";
import { entrySize } from "../core/util.ts";
import {
  checks,
  cs,
  enc,
  ent,
  outcome,
  save,
  test,
  viewOf,
  withLog,
  withStorage,
} from "./_storage_check_base.ts";
import { registerChunkChecks } from "./_storage_check_chunks.ts";
import { registerCrashChecks } from "./_storage_check_crash.ts";

export { type StorageView, viewOf } from "./_storage_check_base.ts";

/** One storage under test, with a way to reopen it from where it keeps its state. */
export interface NodeStorageInstance {
  /** The storage, empty. */
  storage: NodeStorage;
  /**
   * Closes the storage and opens it again from its durable state (a
   * storage without one returns itself).
   *
   * @returns The reopened storage; later calls use it.
   */
  reopen(): NodeStorage | Promise<NodeStorage>;
  /**
   * Simulates a crash: drops the storage without closing it, loses every
   * write its medium had not synced (a write in flight may be kept or
   * lost), and opens it again from what is durable. Omitted: the crash
   * checks are skipped.
   *
   * @returns The reopened storage; later calls use it.
   */
  crash?(): NodeStorage | Promise<NodeStorage>;
  /** Releases everything (the current storage and its files). */
  dispose(): void | Promise<void>;
}

/** What {@linkcode checkNodeStorage} needs to test one storage implementation. */
export interface NodeStorageFactory {
  /**
   * Creates an empty storage.
   *
   * @returns The instance.
   */
  create(): NodeStorageInstance | Promise<NodeStorageInstance>;
}

/** Options of {@linkcode checkNodeStorage}. */
export interface CheckNodeStorageOptions {
  /**
   * Runs only these checks (see {@linkcode nodeStorageChecks}).
   * Omitted: all.
   */
  checks?: readonly string[];
  /**
   * The seed of the randomized checks.
   * @default {20240611}
   */
  seed?: number;
}

/** The outcome of one check. */
export interface NodeStorageCheckResult {
  /** The check. */
  readonly name: string;
  /** `"skipped"`: the factory cannot crash its storage. */
  readonly outcome: "passed" | "failed" | "skipped";
  /** Why it failed. */
  readonly error?: unknown;
}

/** Thrown by {@linkcode checkNodeStorage} when a check fails. */
export class NodeStorageCheckError extends Error {
  /** Literal code for programmatic checks. */
  readonly code = "storage_check_failed";
  /** Every check's outcome. */
  readonly results: readonly NodeStorageCheckResult[];

  /**
   * Builds the error.
   *
   * @param results Every check's outcome, at least one failed.
   */
  constructor(results: readonly NodeStorageCheckResult[]) {
    const failed = results.filter((r) => r.outcome === "failed");
    super(
      `Storage failed ${failed.length} of ${results.length} checks:\n${
        failed.map((r) =>
          `- ${r.name}: ${r.error instanceof Error ? r.error.message : String(r.error)}`
        )
          .join("\n")
      }`,
    );
    this.name = "NodeStorageCheckError";
    this.results = results;
  }
}

{
  test(`starts empty`, async (factory) => {
    await withStorage(factory, (s) => {
      assert.equal(s.firstIndex(), 1);
      assert.equal(s.lastIndex(), 0);
      assert.equal(s.term(0), 0);
      assert.throws(() => s.term(1), UnavailableError);
      assert.throws(() => s.entries(1, 1, Infinity), UnavailableError);
      assert.deepEqual(s.initialState().hardState, newHardState());
      assert.deepEqual(s.initialState().confState, newConfState());
      assert.equal(s.snapshot().metadata.index, 0);
      assert.equal(s.snapshot().data.length, 0);
    });
  });

  test(`term() matches MemoryStorage (etcd TestStorageTerm)`, async (factory) => {
    const cases = [
      { i: 2, want: "CompactedError" },
      { i: 3, want: 3 },
      { i: 4, want: 4 },
      { i: 5, want: 5 },
      { i: 6, want: "UnavailableError" },
    ];
    await withLog(factory, [4, 5], (s) => {
      for (const tc of cases) {
        if (typeof tc.want === "number") assert.equal(s.term(tc.i), tc.want, `term(${tc.i})`);
        else assert.throws(() => s.term(tc.i), { name: tc.want }, `term(${tc.i})`);
      }
    });
  });

  test(`entries() matches MemoryStorage (etcd TestStorageEntries)`, async (factory) => {
    const size = (i: number): number => entrySize(ent(i, i));
    const cases: { lo: number; hi: number; max: number; want: number[] | string }[] = [
      { lo: 2, hi: 6, max: Infinity, want: "CompactedError" },
      { lo: 3, hi: 4, max: Infinity, want: "CompactedError" },
      { lo: 4, hi: 5, max: Infinity, want: [4] },
      { lo: 4, hi: 6, max: Infinity, want: [4, 5] },
      { lo: 4, hi: 7, max: Infinity, want: [4, 5, 6] },
      { lo: 4, hi: 4, max: Infinity, want: [] },
      // Even with a zero limit, at least one entry.
      { lo: 4, hi: 7, max: 0, want: [4] },
      { lo: 4, hi: 7, max: size(4) + size(5), want: [4, 5] },
      { lo: 4, hi: 7, max: size(4) + size(5) + Math.floor(size(6) / 2), want: [4, 5] },
      { lo: 4, hi: 7, max: size(4) + size(5) + size(6) - 1, want: [4, 5] },
      { lo: 4, hi: 7, max: size(4) + size(5) + size(6), want: [4, 5, 6] },
      { lo: 4, hi: 8, max: Infinity, want: "RaftInvariantError" },
      { lo: 6, hi: 5, max: Infinity, want: "RaftInvariantError" },
    ];
    await withLog(factory, [4, 5, 6], (s) => {
      for (const tc of cases) {
        const label = `entries(${tc.lo}, ${tc.hi}, ${tc.max})`;
        if (typeof tc.want === "string") {
          assert.throws(() => s.entries(tc.lo, tc.hi, tc.max), { name: tc.want }, label);
          continue;
        }
        const got = s.entries(tc.lo, tc.hi, tc.max);
        assert.deepEqual(got.map((e) => e.index), tc.want, label);
        for (const e of got) assert.deepEqual(e, ent(e.index, e.index), label);
      }
    });
  });

  test(`entries() returns an array the caller owns`, async (factory) => {
    await withLog(factory, [4, 5], (s) => {
      const a = s.entries(4, 6, Infinity);
      a.length = 0;
      a.push(ent(99, 99));
      assert.deepEqual(s.entries(4, 6, Infinity).map((e) => e.index), [4, 5]);
    });
  });

  test(`firstIndex() and .lastIndex() follow appends and compaction`, async (factory) => {
    await withLog(factory, [4, 5], async (s) => {
      assert.equal(s.firstIndex(), 4);
      assert.equal(s.lastIndex(), 5);
      await save(s, { entries: [ent(6, 5)] });
      assert.equal(s.lastIndex(), 6);
      await s.compact(4);
      assert.equal(s.firstIndex(), 5);
      assert.equal(s.lastIndex(), 6);
    });
  });

  test(`compact() matches MemoryStorage (etcd TestStorageCompact)`, async (factory) => {
    const cases: { i: number; want: string | { first: number; term: number } }[] = [
      { i: 2, want: "CompactedError" },
      { i: 3, want: "CompactedError" },
      { i: 4, want: { first: 5, term: 4 } },
      { i: 5, want: { first: 6, term: 5 } },
      { i: 7, want: "RaftInvariantError" },
    ];
    for (const tc of cases) {
      await withLog(factory, [4, 5], async (s) => {
        if (typeof tc.want === "string") {
          await assert.rejects(async () => await s.compact(tc.i), { name: tc.want });
          assert.equal(s.firstIndex(), 4);
          return;
        }
        await s.compact(tc.i);
        assert.equal(s.firstIndex(), tc.want.first);
        assert.equal(s.term(tc.i), tc.want.term);
        assert.throws(() => s.term(tc.i - 1), CompactedError);
        assert.throws(() => s.entries(tc.i, tc.i + 1, Infinity), CompactedError);
      });
    }
  });

  test(`createSnapshot() matches MemoryStorage (etcd TestStorageCreateSnapshot)`, async (factory) => {
    const data = enc.encode("state");
    await withLog(factory, [4, 5], async (s) => {
      await s.createSnapshot(4, cs(1, 2), data);
      let snap = s.snapshot();
      assert.deepEqual(
        { index: snap.metadata.index, term: snap.metadata.term, data: [...snap.data] },
        { index: 4, term: 4, data: [...data] },
      );
      assert.deepEqual(snap.metadata.confState, cs(1, 2));
      assert.deepEqual(s.initialState().confState, cs(1, 2));
      await s.createSnapshot(5, cs(1, 2, 4), data);
      snap = s.snapshot();
      assert.equal(snap.metadata.index, 5);
      assert.equal(snap.metadata.term, 5);
      // Creating a snapshot does not compact the log.
      assert.equal(s.firstIndex(), 4);
      await assert.rejects(
        async () => await s.createSnapshot(5, cs(1), data),
        SnapOutOfDateError,
      );
      await assert.rejects(
        async () => await s.createSnapshot(4, cs(1), data),
        SnapOutOfDateError,
      );
    });
    await withLog(factory, [4, 5], async (s) => {
      await assert.rejects(
        async () => await s.createSnapshot(6, cs(1), data),
        RaftInvariantError,
      );
    });
  });

  test(`save() appends like MemoryStorage.append() (etcd TestStorageAppend)`, async (factory) => {
    const cases: { add: [number, number][]; want: [number, number][] | string }[] = [
      { add: [[4, 4], [5, 5]], want: [[4, 4], [5, 5]] },
      { add: [[4, 6], [5, 6]], want: [[4, 6], [5, 6]] },
      { add: [[4, 4], [5, 5], [6, 5]], want: [[4, 4], [5, 5], [6, 5]] },
      // Entries at and before the compacted position are skipped.
      { add: [[2, 3], [3, 3], [4, 5]], want: [[4, 5]] },
      { add: [[1, 1], [2, 1]], want: [[4, 4], [5, 5]] },
      // Truncates the conflicting suffix.
      { add: [[4, 5]], want: [[4, 5]] },
      // Direct append.
      { add: [[6, 5]], want: [[4, 4], [5, 5], [6, 5]] },
      // A gap.
      { add: [[7, 5]], want: "RaftInvariantError" },
      // Not contiguous.
      { add: [[6, 5], [8, 5]], want: "RaftInvariantError" },
    ];
    for (const tc of cases) {
      await withLog(factory, [4, 5], async (s) => {
        const add = tc.add.map(([i, t]) => ent(i, t));
        if (typeof tc.want === "string") {
          await assert.rejects(async () => await save(s, { entries: add }), { name: tc.want });
          assert.equal(s.lastIndex(), 5);
          return;
        }
        await save(s, { entries: add });
        const got = s.entries(4, s.lastIndex() + 1, Infinity);
        assert.deepEqual(got.map((e) => [e.index, e.term]), tc.want, JSON.stringify(tc.add));
        for (const e of got) assert.deepEqual(e, ent(e.index, e.term));
      });
    }
  });

  test(`save() installs a snapshot like MemoryStorage.applySnapshot()`, async (factory) => {
    await withStorage(factory, async (s) => {
      await save(s, {
        entries: [ent(1, 1), ent(2, 1)],
        hardState: { term: 1, vote: 1, commit: 2 },
      });
      const snap = newSnapshot({ index: 4, term: 4, confState: cs(1, 2, 3) });
      snap.data = enc.encode("sm");
      await save(s, { snapshot: snap, hardState: { term: 4, vote: 0, commit: 4 } });
      assert.equal(s.firstIndex(), 5);
      assert.equal(s.lastIndex(), 4);
      assert.equal(s.term(4), 4);
      assert.throws(() => s.term(3), CompactedError);
      assert.throws(() => s.entries(5, 5, Infinity), UnavailableError);
      assert.deepEqual(s.initialState().confState, cs(1, 2, 3));
      assert.deepEqual([...s.snapshot().data], [...enc.encode("sm")]);
      // Older or equal snapshots are refused, and nothing changes.
      const older = newSnapshot({ index: 3, term: 3, confState: cs(1) });
      await assert.rejects(async () => await save(s, { snapshot: older }), SnapOutOfDateError);
      const same = newSnapshot({ index: 4, term: 4, confState: cs(1) });
      await assert.rejects(async () => await save(s, { snapshot: same }), SnapOutOfDateError);
      assert.deepEqual(s.initialState().confState, cs(1, 2, 3));
      // An empty snapshot in an update is ignored.
      await save(s, { snapshot: newSnapshot(), entries: [ent(5, 4)] });
      assert.equal(s.lastIndex(), 5);
    });
  });

  test(`save() writes snapshot, entries and HardState of one Ready`, async (factory) => {
    await withLog(factory, [4, 5, 6], async (s) => {
      const snap = newSnapshot({ index: 10, term: 7, confState: cs(1, 2) });
      await save(s, {
        snapshot: snap,
        // 9 and 10 are covered by the snapshot and skipped.
        entries: [ent(9, 7), ent(10, 7), ent(11, 7), ent(12, 7)],
        hardState: { term: 7, vote: 2, commit: 11 },
      });
      assert.equal(s.firstIndex(), 11);
      assert.equal(s.lastIndex(), 12);
      assert.equal(s.term(10), 7);
      assert.deepEqual(s.entries(11, 13, Infinity), [ent(11, 7), ent(12, 7)]);
      assert.deepEqual(s.initialState().hardState, { term: 7, vote: 2, commit: 11 });
    });
  });

  test(`keeps entry types and payloads intact`, async (factory) => {
    await withStorage(factory, async (s, inst) => {
      const big = new Uint8Array(70_000).map((_, k) => (k * 31) & 0xff);
      const ents = [
        newEntry({ index: 1, term: 1, type: EntryType.EntryConfChange, data: enc.encode("cc") }),
        newEntry({
          index: 2,
          term: 1,
          type: EntryType.EntryConfChangeV2,
          data: enc.encode("v2"),
        }),
        newEntry({ index: 3, term: 2 }),
        newEntry({ index: 4, term: 2, data: big }),
      ];
      await save(s, { entries: ents, hardState: { term: 2, vote: 1, commit: 4 } });
      assert.deepEqual(s.entries(1, 5, Infinity), ents);
      s = await inst.reopen();
      assert.deepEqual(s.entries(1, 5, Infinity), ents);
    });
  });

  test(`keeps its state across a reopen`, async (factory) => {
    await withStorage(factory, async (s, inst) => {
      await save(s, {
        entries: Array.from({ length: 30 }, (_, k) => ent(k + 1, 1 + Math.floor(k / 10))),
        hardState: { term: 3, vote: 2, commit: 25 },
      });
      await s.createSnapshot(20, cs(1, 2, 3), enc.encode("at 20"));
      await s.compact(15);
      const before = viewOf(s);
      s = await inst.reopen();
      assert.deepEqual(viewOf(s), before);
      // Truncate the uncommitted tail with a new term, then reopen again.
      await save(s, {
        entries: [ent(27, 4), ent(28, 4)],
        hardState: { term: 4, vote: 1, commit: 27 },
      });
      const after = viewOf(s);
      assert.equal(after.lastIndex, 28);
      s = await inst.reopen();
      assert.deepEqual(viewOf(s), after);
      assert.equal(s.term(26), 3);
      assert.equal(s.term(27), 4);
    });
  });

  test(`behaves like a MemoryStorage model over a seeded random run`, async (factory, seed) => {
    await withStorage(factory, async (s, inst) => {
      const model = memoryNodeStorage(new MemoryStorage());
      const rand = newRand(seed);
      const int = (n: number): number => randomIntN(rand, n);
      let term = 1;
      let commit = 0;
      const seen = new Map<string, number>();
      for (let step = 0; step < 300; step++) {
        const last = model.lastIndex();
        const first = model.firstIndex();
        const snapIndex = model.snapshot().metadata.index;
        const r = int(100);
        let op: (t: NodeStorage) => unknown;
        let label: string;
        if (r < 45) {
          const n = 1 + int(6);
          const ents = Array.from({ length: n }, (_, k) => ent(last + 1 + k, term));
          commit = Math.min(last + n, commit + int(n + 1));
          const hs = { term, vote: 1, commit };
          op = (t) => save(t, { entries: ents, hardState: hs });
          label = `append ${last + 1}..${last + n}`;
        } else if (r < 55 && last > commit) {
          term++;
          const at = commit + 1 + int(last - commit);
          const ents = Array.from({ length: 1 + int(3) }, (_, k) => ent(at + k, term));
          const hs = { term, vote: 2, commit };
          op = (t) => save(t, { entries: ents, hardState: hs });
          label = `truncate at ${at}`;
        } else if (r < 65 && commit > Math.max(snapIndex, first - 1)) {
          const i = Math.max(snapIndex, first - 1) + 1 +
            int(commit - Math.max(snapIndex, first - 1));
          const data = enc.encode(`snap ${i}`);
          op = (t) => t.createSnapshot(i, cs(1, 2, 3), data);
          label = `createSnapshot(${i})`;
        } else if (r < 75 && snapIndex >= first) {
          const i = first + int(snapIndex - first + 1);
          op = (t) => t.compact(i);
          label = `compact(${i})`;
        } else if (r < 79) {
          term++;
          const i = last + 1 + int(5);
          commit = i;
          const snap = newSnapshot({ index: i, term, confState: cs(1, 2, 3 + int(3)) });
          snap.data = enc.encode(`installed ${i}`);
          const hs = { term, vote: 0, commit };
          op = (t) => save(t, { snapshot: snap, hardState: hs });
          label = `install snapshot ${i}`;
        } else if (r < 87) {
          // Invalid calls: both must refuse them with the same error.
          const k = int(4);
          const bad: ((t: NodeStorage) => unknown)[] = [
            (t) => save(t, { entries: [ent(last + 2, term)] }),
            (t) => t.compact(first - 1),
            (t) => t.createSnapshot(snapIndex, cs(1), enc.encode("x")),
            (t) => t.compact(last + 1),
          ];
          op = bad[k]!;
          label = `invalid call ${k}`;
        } else if (r < 95) {
          // Reads: the same results or the same errors.
          const lo = int(last + 3);
          const hi = lo + int(last + 3 - lo + 1);
          const max = int(4) === 0 ? Infinity : int(200);
          const i = int(last + 3);
          const read = (t: NodeStorage): string =>
            outcome(() => t.entries(lo, hi, max).map((e) => `${e.index}/${e.term}`).join()) +
            outcome(() => t.term(i));
          assert.equal(
            read(s),
            read(model),
            `step ${step}: entries(${lo}, ${hi}, ${max}), term(${i})`,
          );
          seen.set("read", (seen.get("read") ?? 0) + 1);
          continue;
        } else {
          s = await inst.reopen();
          assert.deepEqual(viewOf(s), viewOf(model), `step ${step}: after reopen`);
          seen.set("reopen", (seen.get("reopen") ?? 0) + 1);
          continue;
        }
        let want = "ok";
        try {
          await op(model);
        } catch (e) {
          want = `${(e as Error).name}: ${(e as Error).message}`;
        }
        let got = "ok";
        try {
          await op(s);
        } catch (e) {
          got = `${(e as Error).name}: ${(e as Error).message}`;
        }
        assert.equal(got, want, `step ${step}: ${label}`);
        assert.deepEqual(viewOf(s), viewOf(model), `step ${step}: ${label}`);
        const kind = label.replace(/[ (].*$/, "");
        seen.set(kind, (seen.get(kind) ?? 0) + 1);
      }
      // The run covered every kind of call.
      for (
        const kind of [
          "append",
          "truncate",
          "createSnapshot",
          "compact",
          "install",
          "invalid",
          "read",
          "reopen",
        ]
      ) {
        assert.ok(
          (seen.get(kind) ?? 0) > 0,
          `the run made no ${kind} call: ${JSON.stringify([...seen])}`,
        );
      }
    });
  });
}

// The order of the registrations is the order of nodeStorageChecks.
registerCrashChecks();
registerChunkChecks();

/** The names of the checks {@linkcode checkNodeStorage} runs, in order. */
export const nodeStorageChecks: readonly string[] = [...checks.keys()];

/**
 * Runs the storage suite on a storage implementation: every check on a
 * fresh instance from `factory`. The crash checks run only when the
 * instance has `crash()`, the chunk checks only when its storage has a
 * `snapshotChunks` store.
 *
 * @param factory Creates the storages under test.
 * @param options Which checks, and the seed of the randomized ones.
 * @returns Every check's outcome, when none failed.
 * @throws {NodeStorageCheckError} When a check fails; it lists every failure.
 * @throws {RangeError} When `options.checks` names an unknown check.
 *
 * @example Check a storage
 * ```ts
 * import { memoryNodeStorage, MemoryStorage } from "@raft-ts/raft";
 * import { checkNodeStorage } from "@raft-ts/raft/testing";
 *
 * const results = await checkNodeStorage({
 *   create() {
 *     const storage = memoryNodeStorage(new MemoryStorage());
 *     return { storage, reopen: () => storage, dispose() {} };
 *   },
 * });
 * console.log(results.filter((r) => r.outcome === "passed").length, "checks passed");
 * ```
 */
export async function checkNodeStorage(
  factory: NodeStorageFactory,
  options: CheckNodeStorageOptions = {},
): Promise<NodeStorageCheckResult[]> {
  const names = options.checks ?? nodeStorageChecks;
  for (const n of names) {
    if (!checks.has(n)) {
      throw new RangeError(
        `Cannot run storage check '${n}': no such check (see nodeStorageChecks)`,
      );
    }
  }
  const seed = options.seed ?? 20240611;
  let crashes: boolean | undefined;
  let chunked: boolean | undefined;
  const results: NodeStorageCheckResult[] = [];
  for (const name of names) {
    const c = checks.get(name)!;
    if (c.chunks) {
      if (chunked === undefined) {
        const inst = await factory.create();
        chunked = inst.storage.snapshotChunks !== undefined;
        await inst.dispose();
      }
      if (!chunked) {
        results.push({ name, outcome: "skipped" });
        continue;
      }
    }
    if (c.crash) {
      if (crashes === undefined) {
        const inst = await factory.create();
        crashes = typeof inst.crash === "function";
        await inst.dispose();
      }
      if (!crashes) {
        results.push({ name, outcome: "skipped" });
        continue;
      }
    }
    try {
      await c.run(factory, seed);
      results.push({ name, outcome: "passed" });
    } catch (error) {
      results.push({ name, outcome: "failed", error });
    }
  }
  if (results.some((r) => r.outcome === "failed")) throw new NodeStorageCheckError(results);
  return results;
}
