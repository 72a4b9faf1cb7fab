/**
 * The storage suite's crash checks: a crash keeps every write the storage
 * acknowledged as synced and loses, at most, a suffix of the others.
 *
 * @module
 */

import assert from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import { memoryNodeStorage, type NodeStorage } from "../core/node.ts";
import { newRand, randomIntN } from "../core/rand.ts";
import { cloneSnapshot, MemoryStorage } from "../core/storage.ts";
import { newEntry, newSnapshot } from "../core/types.ts";
import { cloneStorage } from "./_sim_storage.ts";
import {
  cs,
  enc,
  ent,
  save,
  type StorageView,
  test,
  viewOf,
  withStorage,
} from "./_storage_check_base.ts";

/** Registers the crash checks (run only on a storage that can crash). */
export function registerCrashChecks(): void {
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
