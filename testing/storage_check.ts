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
import { isDeepStrictEqual } from "node:util";
import { RaftInvariantError } from "../core/_assert.ts";
import { CompactedError, SnapOutOfDateError, UnavailableError } from "../core/errors.ts";
import {
  memoryNodeStorage,
  type NodeStorage,
  type SnapshotChunkStore,
  type SnapshotDataDescriptor,
} from "../core/node.ts";
import { crc32c } from "../core/crc32c.ts";
import { newRand, randomIntN } from "../core/rand.ts";
import { cloneSnapshot, MemoryStorage, type Storage } from "../core/storage.ts";
import { cloneStorage } from "./_sim_storage.ts";
import {
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  newConfState,
  newEntry,
  newHardState,
  newSnapshot,
  type Snapshot,
} from "../core/types.ts";
import { entrySize } from "../core/util.ts";

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

const enc = new TextEncoder();

/** An entry {index, term} with a payload that depends on both. */
function ent(index: number, term: number, type: EntryType = EntryType.EntryNormal): Entry {
  return newEntry({ index, term, type, data: enc.encode(`e${index}t${term}`) });
}

function cs(...voters: number[]): ConfState {
  return newConfState({ voters });
}

function save(
  s: NodeStorage,
  u: { hardState?: HardState; entries?: Entry[]; snapshot?: Snapshot },
): void | Promise<void> {
  return s.save({
    hardState: u.hardState,
    entries: u.entries ?? [],
    snapshot: u.snapshot,
    mustSync: true,
  });
}

/** The visible state of a storage, in a form `deepEqual` compares. */
export interface StorageView {
  /** `initialState().hardState`. */
  hardState: HardState;
  /** `initialState().confState`. */
  confState: ConfState;
  /** `firstIndex()`. */
  firstIndex: number;
  /** `lastIndex()`. */
  lastIndex: number;
  /** `term(firstIndex() - 1)`. */
  compactedTerm: number;
  /** `snapshot()` with its data as an array. */
  snapshot: { index: number; term: number; confState: ConfState; data: number[] };
  /** All entries, with their data as arrays. */
  entries: { index: number; term: number; type: number; data: number[] }[];
}

/**
 * Reads everything a storage shows through its read side.
 *
 * @param s The storage.
 * @returns Its state.
 */
export function viewOf(s: Storage): StorageView {
  const { hardState, confState } = s.initialState();
  const first = s.firstIndex();
  const last = s.lastIndex();
  const snap = s.snapshot();
  return {
    hardState: { term: hardState.term, vote: hardState.vote, commit: hardState.commit },
    confState: { ...confState },
    firstIndex: first,
    lastIndex: last,
    compactedTerm: s.term(first - 1),
    snapshot: {
      index: snap.metadata.index,
      term: snap.metadata.term,
      confState: { ...snap.metadata.confState },
      data: [...snap.data],
    },
    entries: last >= first
      ? s.entries(first, last + 1, Infinity).map((e) => ({
        index: e.index,
        term: e.term,
        type: e.type,
        data: [...e.data],
      }))
      : [],
  };
}

/** Runs `f` and returns its result, or what it threw as class name and message. */
function outcome(f: () => unknown): string {
  try {
    return `ok: ${String(f())}; `;
  } catch (e) {
    return `${(e as Error).name}: ${(e as Error).message}`;
  }
}

type Check = (
  factory: NodeStorageFactory,
  seed: number,
) => Promise<void>;

const checks = new Map<string, { crash: boolean; chunks: boolean; run: Check }>();

/** Registers a check (the suite's body reads as a list of tests). */
function test(
  name: string,
  optionsOrRun: { timeout?: number; crash?: boolean; chunks?: boolean } | Check,
  maybeRun?: Check,
): void {
  const run = typeof optionsOrRun === "function" ? optionsOrRun : maybeRun!;
  const crash = typeof optionsOrRun === "function" ? false : optionsOrRun.crash ?? false;
  const chunks = typeof optionsOrRun === "function" ? false : optionsOrRun.chunks ?? false;
  checks.set(name, { crash, chunks, run });
}

/** Runs a check body on a fresh instance and disposes it afterwards. */
async function withStorage(
  factory: NodeStorageFactory,
  body: (s: NodeStorage, inst: NodeStorageInstance) => void | Promise<void>,
): Promise<void> {
  const inst = await factory.create();
  try {
    await body(inst.storage, inst);
  } finally {
    await inst.dispose();
  }
}

/** A storage whose log holds the dummy {3,3} and then the given terms for 4, 5, .... */
async function withLog(
  factory: NodeStorageFactory,
  terms: number[],
  body: (s: NodeStorage, inst: NodeStorageInstance) => void | Promise<void>,
): Promise<void> {
  await withStorage(factory, async (s, inst) => {
    await save(s, {
      snapshot: newSnapshot({ index: 3, term: 3, confState: cs(1, 2, 3) }),
      entries: terms.map((t, k) => ent(4 + k, t)),
    });
    await body(s, inst);
  });
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

  test(`keeps a synced save across a crash`, { crash: true }, async (factory) => {
    await withStorage(factory, async (s, inst) => {
      await save(s, {
        entries: [ent(1, 1), ent(2, 1)],
        hardState: { term: 1, vote: 1, commit: 1 },
      });
      const before = viewOf(s);
      s = await inst.crash!();
      assert.deepEqual(viewOf(s), before, "a crash lost a save that had resolved as synced");
    });
  });

  test(
    `keeps every synced write and loses at most a suffix of the others across crashes`,
    { crash: true },
    async (factory, seed) => {
      await withStorage(factory, async (s, inst) => {
        const rand = newRand(seed ^ 0x5bd1e995);
        const int = (n: number): number => randomIntN(rand, n);
        let model = memoryNodeStorage(new MemoryStorage());
        /** The model after each part of each write since the last sync. */
        let states = [modelState(model)];
        /** The term and commit index the writes are at. */
        const at = { term: 1, commit: 0 };
        let crashes = 0;
        let inFlight = 0;
        for (let step = 0; step < 120; step++) {
          const last = model.lastIndex();
          const r = int(100);
          const write = drawCrashWrite(int, r, model, at);
          if (write === undefined) {
            // A crash, sometimes with a write in flight (between write and sync).
            const ents = [ent(last + 1, at.term)];
            const hs = { term: at.term, vote: 1, commit: at.commit };
            const pending = int(2) === 0;
            if (pending) {
              const p = s.save({
                hardState: hs,
                entries: ents,
                snapshot: undefined,
                mustSync: true,
              });
              // The crash overtakes it: it may never settle.
              if (p instanceof Promise) p.catch(() => {});
              model.save({
                hardState: undefined,
                entries: ents,
                snapshot: undefined,
                mustSync: true,
              });
              states.push(modelState(model));
              model.save({ hardState: hs, entries: [], snapshot: undefined, mustSync: true });
              states.push(modelState(model));
              inFlight++;
            }
            s = await inst.crash!();
            crashes++;
            const got = viewOf(s);
            // A reopened storage may drop the entries its snapshot covers.
            const k = states.findLastIndex((m) => isDeepStrictEqual(behind(m.view, got), got));
            assert.ok(
              k >= 0,
              `step ${step}: after a crash${
                pending ? " with a write in flight" : ""
              }, the storage holds a state that is not the last synced one nor a later one (a synced write was lost, or writes were kept out of order): ${
                JSON.stringify(summary(got))
              }; expected one of ${JSON.stringify(states.map((m) => summary(m.view)))}`,
            );
            // Carry on from what survived.
            model = memoryNodeStorage(cloneStorage(states[k]!.storage));
            if (got.firstIndex > model.firstIndex()) await model.compact(got.firstIndex - 1);
            at.term++;
            at.commit = got.hardState.commit;
            states = [modelState(model)];
            continue;
          }
          const { parts, synced, label } = write;
          for (const part of parts) {
            await part(model);
            states.push(modelState(model));
          }
          for (const part of parts) await part(s);
          assert.deepEqual(viewOf(s), viewOf(model), `step ${step}: ${label}`);
          if (synced) states = [modelState(model)];
        }
        assert.ok(crashes > 0, "the run made no crash");
        assert.ok(inFlight > 0, "the run crashed with no write in flight");
      });
    },
  );
}

/** A write of the crash test, in the parts a crash may separate. */
interface CrashWrite {
  parts: ((t: NodeStorage) => unknown)[];
  /** Whether the write is synced (then a crash must keep it). */
  synced: boolean;
  label: string;
}

/**
 * Draws the next write of the crash test from `r` (in `[0, 100)`), or
 * undefined when it is a crash's turn; moves `at` on.
 */
function drawCrashWrite(
  int: (n: number) => number,
  r: number,
  model: NodeStorage,
  at: { term: number; commit: number },
): CrashWrite | undefined {
  const last = model.lastIndex();
  const snapIndex = model.snapshot().metadata.index;
  const first = model.firstIndex();
  if (r < 50) {
    const n = 1 + int(4);
    const ents = Array.from({ length: n }, (_, k) => ent(last + 1 + k, at.term));
    at.commit = Math.min(last + n, at.commit + int(n + 1));
    const hs = { term: at.term, vote: 1, commit: at.commit };
    const synced = int(4) !== 0;
    const mustSync = synced;
    return {
      parts: [
        ...ents.map((e) => (t: NodeStorage) =>
          t.save({ hardState: undefined, entries: [e], snapshot: undefined, mustSync })
        ),
        (t) => t.save({ hardState: hs, entries: [], snapshot: undefined, mustSync }),
      ],
      synced,
      label: `append ${last + 1}..${last + n}${synced ? "" : " (not synced)"}`,
    };
  } else if (r < 62) {
    at.commit = Math.min(last, at.commit + 1);
    const hs = { term: at.term, vote: 1, commit: at.commit };
    return {
      parts: [
        (t) => t.save({ hardState: hs, entries: [], snapshot: undefined, mustSync: false }),
      ],
      synced: false,
      label: `commit ${at.commit} (not synced)`,
    };
  } else if (r < 75 && at.commit > Math.max(snapIndex, first - 1)) {
    const i = Math.max(snapIndex, first - 1) + 1 +
      int(at.commit - Math.max(snapIndex, first - 1));
    const data = enc.encode(`snap ${i}`);
    return {
      parts: [(t) => t.createSnapshot(i, cs(1, 2, 3), data)],
      synced: false,
      label: `createSnapshot(${i})`,
    };
  } else if (r < 85 && snapIndex >= first) {
    const i = first + int(snapIndex - first + 1);
    return { parts: [(t) => t.compact(i)], synced: false, label: `compact(${i})` };
  } else if (r < 90) {
    at.term++;
    const i = last + 1 + int(3);
    at.commit = i;
    const snap = newSnapshot({ index: i, term: at.term, confState: cs(1, 2, 3) });
    snap.data = enc.encode(`installed ${i}`);
    const hs = { term: at.term, vote: 0, commit: at.commit };
    return {
      parts: [
        (t) => t.save({ hardState: undefined, entries: [], snapshot: snap, mustSync: true }),
        (t) => t.save({ hardState: hs, entries: [], snapshot: undefined, mustSync: true }),
      ],
      synced: true,
      label: `install snapshot ${i}`,
    };
  }
  return undefined;
}

/**
 * `want` as a storage that dropped the entries covered by its snapshot
 * up to `got.firstIndex` would show it (else `want` unchanged).
 */
function behind(want: StorageView, got: StorageView): StorageView {
  const first = got.firstIndex;
  if (first <= want.firstIndex || first > want.snapshot.index + 1) return want;
  const dropped = want.entries.filter((e) => e.index < first);
  return {
    ...want,
    firstIndex: first,
    compactedTerm: dropped.at(-1)?.term ?? want.compactedTerm,
    entries: want.entries.filter((e) => e.index >= first),
  };
}

/** A short form of a view, for messages. */
function summary(v: StorageView): unknown {
  return {
    hs: v.hardState,
    snap: v.snapshot.index,
    first: v.firstIndex,
    last: v.lastIndex,
    terms: v.entries.map((e) => e.term).join(","),
  };
}

/** The model's state: its view, and a copy to carry on from. */
function modelState(model: NodeStorage): { view: StorageView; storage: MemoryStorage } {
  const ms = new MemoryStorage();
  const snap = model.snapshot();
  ms.snap = cloneSnapshot(snap);
  ms.hardState = { ...model.initialState().hardState };
  const first = model.firstIndex();
  const last = model.lastIndex();
  ms.ents = [
    newEntry({ index: first - 1, term: model.term(first - 1) }),
    ...(last >= first ? model.entries(first, last + 1, Infinity) : []),
  ];
  return { view: viewOf(model), storage: ms };
}

/** `b` in pieces of the given sizes, cycling. */
async function* pieces(b: Uint8Array, sizes: readonly number[]): AsyncGenerator<Uint8Array> {
  let at = 0;
  for (let k = 0; at < b.length; k++) {
    const n = sizes[k % sizes.length]!;
    yield b.slice(at, at + n);
    at += n;
  }
}

// Snapshot data in chunks (storages with a `snapshotChunks` store).
{
  /** `n` bytes of a seeded pattern. */
  const pattern = (n: number, seed: number): Uint8Array => {
    const b = new Uint8Array(n);
    let x = seed * 2654435761 >>> 0;
    for (let i = 0; i < n; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      b[i] = x >>> 24;
    }
    return b;
  };
  const store = (s: NodeStorage): SnapshotChunkStore => {
    assert.ok(s.snapshotChunks !== undefined, "the storage has no snapshotChunks store");
    return s.snapshotChunks;
  };
  const stageAll = async (
    s: NodeStorage,
    data: Uint8Array,
    sizes: readonly number[],
  ): Promise<SnapshotDataDescriptor> => {
    const st = store(s).stage();
    for await (const p of pieces(data, sizes)) await st.write(p);
    return await st.finish();
  };
  const readAll = async (s: NodeStorage, d: SnapshotDataDescriptor): Promise<Uint8Array> => {
    const parts: Uint8Array[] = [];
    for await (const c of store(s).read(d)) parts.push(c.slice());
    const out = new Uint8Array(parts.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of parts) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  };
  const big = 3 * (1 << 20) + 12345;

  test(
    `stores snapshot data in chunks and reads it back, also after a reopen`,
    { chunks: true },
    async (factory) => {
      await withLog(factory, [4, 4, 5], async (s, inst) => {
        const data = pattern(big, 1);
        const d = await stageAll(s, data, [1000, 700_000, 1, 2_500_000]);
        assert.deepEqual(d, { length: data.length, checksum: crc32c(data) });
        await s.createSnapshot(5, cs(1, 2, 3), enc.encode("header"), d);
        assert.deepEqual(s.snapshot().data, enc.encode("header"));
        assert.deepEqual(await readAll(s, d), data);
        let chunks = 0;
        for await (const c of store(s).read(d)) {
          chunks++;
          assert.ok(c.length <= 1 << 20, `a chunk of ${c.length} bytes, above 1 MiB`);
        }
        assert.ok(chunks >= 4, `${chunks} chunks for ${big} bytes`);
        s = await inst.reopen();
        assert.equal(s.snapshot().metadata.index, 5);
        assert.deepEqual(s.snapshot().data, enc.encode("header"));
        assert.deepEqual(await readAll(s, d), data);
        // Empty data is data too.
        const e = await stageAll(s, new Uint8Array(0), [1]);
        assert.deepEqual(e, { length: 0, checksum: 0 });
        await s.createSnapshot(6, cs(1, 2, 3), enc.encode("empty"), e);
        assert.deepEqual(await readAll(s, e), new Uint8Array(0));
      });
    },
  );

  test(
    `replaces a snapshot's chunked data with the next snapshot's, in one write`,
    { chunks: true },
    async (factory) => {
      await withLog(factory, [4, 4, 5], async (s, inst) => {
        const a = pattern(5000, 2);
        const da = await stageAll(s, a, [999]);
        await s.createSnapshot(4, cs(1, 2, 3), enc.encode("a"), da);
        // A snapshot received from a leader, saved with its staged data.
        const b = pattern(7000, 3);
        const db = await stageAll(s, b, [4096]);
        assert.deepEqual(await readAll(s, db), b, "staged data reads before it is saved");
        const snap = newSnapshot({ index: 9, term: 6, confState: cs(1, 2, 3) });
        snap.data = enc.encode("b");
        await s.save({
          hardState: undefined,
          entries: [],
          snapshot: snap,
          snapshotData: db,
          mustSync: true,
        });
        assert.throws(() => store(s).read(da), RangeError, "the replaced data is gone");
        assert.deepEqual(await readAll(s, db), b);
        s = await inst.reopen();
        assert.throws(
          () => store(s).read(da),
          RangeError,
          "the replaced data is gone after a reopen",
        );
        assert.deepEqual(await readAll(s, db), b);
        // A snapshot whose data is inline drops the chunked data too.
        const c = newSnapshot({ index: 12, term: 7, confState: cs(1, 2, 3) });
        c.data = enc.encode("inline");
        await save(s, { snapshot: c });
        assert.throws(() => store(s).read(db), RangeError);
        s = await inst.reopen();
        assert.throws(() => store(s).read(db), RangeError);
        assert.deepEqual(s.snapshot().data, enc.encode("inline"));
      });
    },
  );

  test(
    `discards staged snapshot data that no snapshot names`,
    { chunks: true },
    async (factory) => {
      await withLog(factory, [4, 4, 5], async (s, inst) => {
        const a = pattern(3000, 4);
        // Aborted: gone at once, and cannot be named by a snapshot.
        const st = store(s).stage();
        await st.write(a);
        await st.abort();
        const da = { length: a.length, checksum: crc32c(a) };
        assert.throws(() => store(s).read(da), RangeError);
        await assert.rejects(
          async () => await s.createSnapshot(5, cs(1, 2, 3), enc.encode("a"), da),
          "a snapshot naming discarded data is refused",
        );
        assert.equal(s.snapshot().metadata.index, 3, "and not written");
        // Finished but never named: gone after a reopen.
        const db = await stageAll(s, pattern(3000, 5), [1000]);
        assert.ok((await readAll(s, db)).length === 3000);
        // Half written (a staging the process dropped): gone after a reopen.
        const half = store(s).stage();
        await half.write(pattern(2000, 6));
        s = await inst.reopen();
        assert.throws(() => store(s).read(db), RangeError);
        await assert.rejects(async () =>
          await s.createSnapshot(5, cs(1, 2, 3), enc.encode("b"), db)
        );
        // A write after the staging ended is refused.
        const done = store(s).stage();
        await done.finish();
        assert.throws(() => done.write(new Uint8Array(1)));
      });
    },
  );
}

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
