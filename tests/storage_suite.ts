/**
 * The behavioural suite every durable Raft storage must pass: the read
 * side and its errors exactly as `MemoryStorage` has them (etcd's storage
 * tests, ported), the driver's write side (`save`, `createSnapshot`,
 * `compact`), persistence across a reopen, and a seeded differential run
 * against a `MemoryStorage` model.
 *
 * A test file registers it once per implementation:
 *
 * ```ts ignore
 * storageSuite({
 *   name: "MemoryStorage",
 *   create() {
 *     const storage = memoryNodeStorage(new MemoryStorage());
 *     return { storage, reopen: () => storage, dispose() {} };
 *   },
 * });
 * ```
 *
 * @module
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { RaftInvariantError } from "../core/_assert.ts";
import { CompactedError, SnapOutOfDateError, UnavailableError } from "../core/errors.ts";
import { memoryNodeStorage, type NodeStorage } from "../core/node.ts";
import { newRand, randomIntN } from "../core/rand.ts";
import { MemoryStorage, type Storage } from "../core/storage.ts";
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
export interface StorageSuiteInstance {
  /** The storage, empty. */
  storage: NodeStorage;
  /**
   * Closes the storage and opens it again from its durable state (a
   * storage without one returns itself).
   *
   * @returns The reopened storage; later calls use it.
   */
  reopen(): NodeStorage | Promise<NodeStorage>;
  /** Releases everything (the current storage and its files). */
  dispose(): void | Promise<void>;
}

/** What the suite needs to test one storage implementation. */
export interface StorageSuiteFactory {
  /** The name the tests are grouped under. */
  name: string;
  /**
   * Creates an empty storage.
   *
   * @returns The instance.
   */
  create(): StorageSuiteInstance | Promise<StorageSuiteInstance>;
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

/**
 * Registers the storage suite for one implementation.
 *
 * @param factory Creates the storages under test.
 *
 * @example Registering the suite
 * ```ts ignore
 * import { storageSuite } from "./storage_suite.ts";
 * import { memoryNodeStorage } from "../core/node.ts";
 * import { MemoryStorage } from "../core/storage.ts";
 * storageSuite({
 *   name: "MemoryStorage",
 *   create() {
 *     const storage = memoryNodeStorage(new MemoryStorage());
 *     return { storage, reopen: () => storage, dispose() {} };
 *   },
 * });
 * ```
 */
export function storageSuite(factory: StorageSuiteFactory): void {
  const { name } = factory;

  /** Runs a test body on a fresh instance and disposes it afterwards. */
  async function withStorage(
    body: (s: NodeStorage, inst: StorageSuiteInstance) => void | Promise<void>,
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
    terms: number[],
    body: (s: NodeStorage, inst: StorageSuiteInstance) => void | Promise<void>,
  ): Promise<void> {
    await withStorage(async (s, inst) => {
      await save(s, {
        snapshot: newSnapshot({ index: 3, term: 3, confState: cs(1, 2, 3) }),
        entries: terms.map((t, k) => ent(4 + k, t)),
      });
      await body(s, inst);
    });
  }

  describe(`${name}: storage suite`, () => {
    test(`${name} starts empty`, async () => {
      await withStorage((s) => {
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

    test(`${name}.term() matches MemoryStorage (etcd TestStorageTerm)`, async () => {
      const cases = [
        { i: 2, want: "CompactedError" },
        { i: 3, want: 3 },
        { i: 4, want: 4 },
        { i: 5, want: 5 },
        { i: 6, want: "UnavailableError" },
      ];
      await withLog([4, 5], (s) => {
        for (const tc of cases) {
          if (typeof tc.want === "number") assert.equal(s.term(tc.i), tc.want, `term(${tc.i})`);
          else assert.throws(() => s.term(tc.i), { name: tc.want }, `term(${tc.i})`);
        }
      });
    });

    test(`${name}.entries() matches MemoryStorage (etcd TestStorageEntries)`, async () => {
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
      await withLog([4, 5, 6], (s) => {
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

    test(`${name}.entries() returns an array the caller owns`, async () => {
      await withLog([4, 5], (s) => {
        const a = s.entries(4, 6, Infinity);
        a.length = 0;
        a.push(ent(99, 99));
        assert.deepEqual(s.entries(4, 6, Infinity).map((e) => e.index), [4, 5]);
      });
    });

    test(`${name}.firstIndex() and .lastIndex() follow appends and compaction`, async () => {
      await withLog([4, 5], async (s) => {
        assert.equal(s.firstIndex(), 4);
        assert.equal(s.lastIndex(), 5);
        await save(s, { entries: [ent(6, 5)] });
        assert.equal(s.lastIndex(), 6);
        await s.compact(4);
        assert.equal(s.firstIndex(), 5);
        assert.equal(s.lastIndex(), 6);
      });
    });

    test(`${name}.compact() matches MemoryStorage (etcd TestStorageCompact)`, async () => {
      const cases: { i: number; want: string | { first: number; term: number } }[] = [
        { i: 2, want: "CompactedError" },
        { i: 3, want: "CompactedError" },
        { i: 4, want: { first: 5, term: 4 } },
        { i: 5, want: { first: 6, term: 5 } },
        { i: 7, want: "RaftInvariantError" },
      ];
      for (const tc of cases) {
        await withLog([4, 5], async (s) => {
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

    test(`${name}.createSnapshot() matches MemoryStorage (etcd TestStorageCreateSnapshot)`, async () => {
      const data = enc.encode("state");
      await withLog([4, 5], async (s) => {
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
      await withLog([4, 5], async (s) => {
        await assert.rejects(
          async () => await s.createSnapshot(6, cs(1), data),
          RaftInvariantError,
        );
      });
    });

    test(`${name}.save() appends like MemoryStorage.append() (etcd TestStorageAppend)`, async () => {
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
        await withLog([4, 5], async (s) => {
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

    test(`${name}.save() installs a snapshot like MemoryStorage.applySnapshot()`, async () => {
      await withStorage(async (s) => {
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

    test(`${name}.save() writes snapshot, entries and HardState of one Ready`, async () => {
      await withLog([4, 5, 6], async (s) => {
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

    test(`${name} keeps entry types and payloads intact`, async () => {
      await withStorage(async (s, inst) => {
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

    test(`${name} keeps its state across a reopen`, async () => {
      await withStorage(async (s, inst) => {
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

    test(`${name} behaves like a MemoryStorage model over a seeded random run`, {
      timeout: 30_000,
    }, async () => {
      await withStorage(async (s, inst) => {
        const model = memoryNodeStorage(new MemoryStorage());
        const rand = newRand(20240611);
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
  });
}
