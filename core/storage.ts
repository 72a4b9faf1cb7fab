/**
 * The read side of Raft's log storage, and an in-memory implementation.
 *
 * Raft reads its durable log and state through {@linkcode Storage}; the
 * application writes to it (append, set the HardState, install snapshots,
 * compact) while handling `Ready`. {@linkcode MemoryStorage} keeps everything
 * in an array and is what tests, simulations and benchmarks use.
 *
 * @module
 */

import {
  type ConfState,
  type Entry,
  type HardState,
  type Index,
  newEntry,
  newHardState,
  newSnapshot,
  type Snapshot,
  type Term,
} from "./types.ts";
import { CompactedError, SnapOutOfDateError, UnavailableError } from "./errors.ts";
import { RaftInvariantError } from "./_assert.ts";
import { discardLogger, type Logger } from "./logger.ts";
import { entrySize } from "./util.ts";

/**
 * The storage Raft reads its log and state from. All methods are
 * synchronous. Expected failures are thrown as typed errors; any other
 * thrown error stops the Raft instance, as in etcd.
 */
export interface Storage {
  /**
   * The persisted HardState and ConfState.
   *
   * @returns The HardState (all zero when none was saved) and the ConfState
   *   (empty when none was saved).
   */
  initialState(): { hardState: HardState; confState: ConfState };
  /**
   * The consecutive entries in `[lo, hi)`, cut so that their total encoded
   * size stays within `maxSize`, but always at least one entry. The caller
   * owns the returned array; the entries in it must not be mutated by anyone.
   *
   * @param lo The first index to return.
   * @param hi One past the last index to return.
   * @param maxSize The byte limit (`noLimit` for none).
   * @returns The entries, starting at `lo`.
   * @throws {CompactedError} When `lo` has been compacted away.
   * @throws {UnavailableError} When an entry in the range is not available.
   */
  entries(lo: Index, hi: Index, maxSize: number): Entry[];
  /**
   * The term of entry `i`, which must be in `[firstIndex() - 1, lastIndex()]`.
   * The term at `firstIndex() - 1` is kept for matching even though the
   * entry itself is gone.
   *
   * @param i The index.
   * @returns Its term.
   * @throws {CompactedError} When `i` is older than `firstIndex() - 1`.
   * @throws {UnavailableError} When `i` is past `lastIndex()`.
   */
  term(i: Index): Term;
  /**
   * The index of the last entry in the log.
   *
   * @returns The last index (the snapshot index when the log is empty).
   */
  lastIndex(): Index;
  /**
   * The index of the first entry that may be available through `entries`
   * (older ones are folded into the latest snapshot).
   *
   * @returns The first index.
   */
  firstIndex(): Index;
  /**
   * The most recent snapshot.
   *
   * @returns The snapshot.
   * @throws {SnapshotTemporarilyUnavailableError} When the snapshot is being
   *   prepared; Raft asks again later.
   */
  snapshot(): Snapshot;
}

/**
 * Copies a snapshot's metadata (and its ConfState's arrays). The data bytes
 * are shared, never copied: Raft and storages treat them as immutable.
 *
 * @param s The snapshot.
 * @returns An independent copy of its metadata, with the same data.
 *
 * @example Usage
 * ```ts
 * import { cloneSnapshot } from "./storage.ts";
 * import { newSnapshot } from "@raft-ts/raft";
 * const s = newSnapshot({ index: 3, term: 2 });
 * const c = cloneSnapshot(s);
 * c.metadata.index = 4;
 * if (s.metadata.index !== 3) throw new Error("not a copy");
 * ```
 */
export function cloneSnapshot(s: Snapshot): Snapshot {
  const m = s.metadata;
  return {
    data: s.data,
    metadata: { confState: cloneConfState(m.confState), index: m.index, term: m.term },
  };
}

/**
 * Copies a ConfState, so the copy shares no array with the original.
 *
 * @param cs The membership.
 * @returns A copy.
 *
 * @example Usage
 * ```ts
 * import { cloneConfState } from "./storage.ts";
 * import { newConfState } from "@raft-ts/raft";
 * const cs = newConfState({ voters: [1] });
 * const c = cloneConfState(cs);
 * if (c.voters === cs.voters || c.voters[0] !== 1) throw new Error("unexpected");
 * ```
 */
export function cloneConfState(cs: ConfState): ConfState {
  return {
    voters: cs.voters.slice(),
    learners: cs.learners.slice(),
    votersOutgoing: cs.votersOutgoing.slice(),
    learnersNext: cs.learnersNext.slice(),
    autoLeave: cs.autoLeave,
  };
}

/**
 * Copies `ents[lo, hi)`, cut to the longest prefix whose encoded size is at
 * most `maxSize`, but at least one entry. Only one array is allocated.
 *
 * @param ents The entries.
 * @param lo The first array position to copy.
 * @param hi The array position after the last to copy.
 * @param maxSize The size limit in bytes (`Infinity` for none).
 * @returns The copied entries.
 *
 * @example Usage
 * ```ts
 * import { limitedSlice } from "./storage.ts";
 * import { newEntry } from "@raft-ts/raft";
 * const ents = [newEntry({ index: 1, term: 1 }), newEntry({ index: 2, term: 1 })];
 * if (limitedSlice(ents, 0, 2, 0).length !== 1) throw new Error("unexpected");
 * ```
 */
export function limitedSlice(
  ents: readonly Entry[],
  lo: number,
  hi: number,
  maxSize: number,
): Entry[] {
  if (maxSize === Infinity || hi - lo <= 1) return ents.slice(lo, hi);
  let end = lo + 1;
  let size = entrySize(ents[lo]!);
  for (; end < hi; end++) {
    size += entrySize(ents[end]!);
    if (size > maxSize) break;
  }
  return ents.slice(lo, end);
}

function checkIndex(what: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new RangeError(`Cannot use ${what}: not a non-negative safe integer: ${v}`);
  }
}

/**
 * A {@linkcode Storage} backed by an in-memory array, with the write side
 * the application uses while handling `Ready`.
 *
 * As in etcd, `ents[0]` is a dummy entry carrying the index and term of the
 * last compacted (or snapshotted) position, so `firstIndex()` is
 * `ents[0].index + 1`. A new storage holds a dummy at (0, 0) and an empty
 * snapshot.
 *
 * @example Usage
 * ```ts
 * import { MemoryStorage, newEntry } from "@raft-ts/raft";
 *
 * const ms = new MemoryStorage();
 * ms.append([newEntry({ index: 1, term: 1 }), newEntry({ index: 2, term: 1 })]);
 * ms.compact(1);
 * if (ms.firstIndex() !== 2 || ms.lastIndex() !== 2) throw new Error("unexpected");
 * if (ms.term(1) !== 1) throw new Error("the compacted position keeps its term");
 * ```
 */
export class MemoryStorage implements Storage {
  /** The saved HardState; all zero until `setHardState` is called. */
  hardState: HardState;
  /** The latest snapshot; empty (index 0) until one is applied or created. */
  snap: Snapshot;
  /**
   * The log. `ents[i]` has log position `i + ents[0].index`; `ents[0]` is the
   * dummy entry of the compacted position. Never empty. Internal: exposed
   * for tests and harnesses, not to be mutated from outside.
   */
  ents: Entry[];
  /** Where out-of-bounds calls are logged before throwing. */
  logger: Logger;

  /**
   * Creates an empty storage.
   *
   * @param logger Where broken invariants are logged before throwing.
   *   Defaults to a silent logger.
   */
  constructor(logger: Logger = discardLogger) {
    this.hardState = newHardState();
    this.snap = newSnapshot();
    this.ents = [newEntry()];
    this.logger = logger;
  }

  /**
   * The saved HardState, and the ConfState of the latest snapshot.
   *
   * @returns Both states; the caller must not mutate them.
   */
  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: this.hardState, confState: this.snap.metadata.confState };
  }

  /**
   * Saves the HardState.
   *
   * @param st The HardState to save (copied).
   */
  setHardState(st: HardState): void {
    this.hardState = { term: st.term, vote: st.vote, commit: st.commit };
  }

  /**
   * The entries in `[lo, hi)`, limited to `maxSize` bytes but at least one.
   *
   * @param lo The first index.
   * @param hi One past the last index.
   * @param maxSize The byte limit.
   * @returns A fresh array the caller owns.
   * @throws {CompactedError} When `lo <= ents[0].index`.
   * @throws {UnavailableError} When the log holds only the dummy entry.
   * @throws {RaftInvariantError} When `hi` is past `lastIndex() + 1` or `lo > hi`.
   */
  entries(lo: Index, hi: Index, maxSize: number): Entry[] {
    const offset = this.ents[0]!.index;
    if (lo <= offset) throw new CompactedError();
    const last = this.#lastIndex();
    if (hi > last + 1) this.#panic(`entries' hi(${hi}) is out of bound lastindex(${last})`);
    if (this.ents.length === 1) throw new UnavailableError();
    if (lo > hi) this.#panic(`entries' lo(${lo}) is greater than hi(${hi})`);
    return limitedSlice(this.ents, lo - offset, hi - offset, maxSize);
  }

  /**
   * The term of entry `i`.
   *
   * @param i The index, in `[firstIndex() - 1, lastIndex()]`.
   * @returns Its term.
   * @throws {CompactedError} When `i < ents[0].index`.
   * @throws {UnavailableError} When `i > lastIndex()`.
   */
  term(i: Index): Term {
    const offset = this.ents[0]!.index;
    if (i < offset) throw new CompactedError();
    if (i - offset >= this.ents.length) throw new UnavailableError();
    return this.ents[i - offset]!.term;
  }

  /**
   * The last index in the log.
   *
   * @returns `ents[0].index + ents.length - 1`.
   */
  lastIndex(): Index {
    return this.#lastIndex();
  }

  #lastIndex(): Index {
    return this.ents[0]!.index + this.ents.length - 1;
  }

  /**
   * The first index that may be available.
   *
   * @returns `ents[0].index + 1`.
   */
  firstIndex(): Index {
    return this.ents[0]!.index + 1;
  }

  /**
   * The latest snapshot.
   *
   * @returns A copy of it (data bytes shared).
   */
  snapshot(): Snapshot {
    return cloneSnapshot(this.snap);
  }

  /**
   * Replaces the contents of the storage with a snapshot: the log becomes
   * just the dummy entry at the snapshot's position.
   *
   * @param snap The snapshot (copied).
   * @throws {SnapOutOfDateError} When the stored snapshot is not empty and
   *   at least as new as `snap`.
   */
  applySnapshot(snap: Snapshot): void {
    const msIndex = this.snap.metadata.index;
    const snapIndex = snap.metadata.index;
    checkIndex("snapshot index", snapIndex);
    checkIndex("snapshot term", snap.metadata.term);
    // A bootstrap snapshot may carry only a ConfState, at index and term 0.
    if (msIndex !== 0 && msIndex >= snapIndex) throw new SnapOutOfDateError();
    this.snap = cloneSnapshot(snap);
    this.ents = [newEntry({ index: snapIndex, term: snap.metadata.term })];
  }

  /**
   * Records a snapshot of the state machine at index `i`, which later
   * `snapshot()` calls return. Pass the ConfState of the last applied
   * configuration change if any was applied since the previous snapshot.
   *
   * @param i The index the snapshot covers; at most `lastIndex()`.
   * @param cs The ConfState at `i`, or `undefined` to keep the stored one.
   * @param data The state machine's serialized state.
   * @returns A copy of the new snapshot.
   * @throws {SnapOutOfDateError} When `i` is not newer than the stored snapshot.
   * @throws {RaftInvariantError} When `i` is outside the stored log.
   */
  createSnapshot(i: Index, cs: ConfState | undefined, data: Uint8Array): Snapshot {
    if (i <= this.snap.metadata.index) throw new SnapOutOfDateError();
    const offset = this.ents[0]!.index;
    const last = this.#lastIndex();
    if (i > last) this.#panic(`snapshot ${i} is out of bound lastindex(${last})`);
    if (i < offset) this.#panic(`snapshot ${i} is out of bound compacted index(${offset})`);
    this.snap = {
      data,
      metadata: {
        confState: cs !== undefined ? cloneConfState(cs) : this.snap.metadata.confState,
        index: i,
        term: this.ents[i - offset]!.term,
      },
    };
    return cloneSnapshot(this.snap);
  }

  /**
   * Discards the entries before `compactIndex`; entry `compactIndex` becomes
   * the dummy, so afterwards `firstIndex()` is `compactIndex + 1`. The
   * application must not compact past what it has applied.
   *
   * @param compactIndex The new compacted position.
   * @throws {CompactedError} When `compactIndex <= ents[0].index`.
   * @throws {RaftInvariantError} When `compactIndex > lastIndex()`.
   */
  compact(compactIndex: Index): void {
    const offset = this.ents[0]!.index;
    if (compactIndex <= offset) throw new CompactedError();
    const last = this.#lastIndex();
    if (compactIndex > last) {
      this.#panic(`compact ${compactIndex} is out of bound lastindex(${last})`);
    }
    const i = compactIndex - offset;
    const old = this.ents[i]!;
    const ents = this.ents.slice(i);
    ents[0] = newEntry({ index: old.index, term: old.term });
    this.ents = ents;
  }

  /**
   * Appends entries, replacing any stored entries at or after the first
   * new index. Entries already compacted away are skipped.
   *
   * @param entries Consecutive entries. The array is not kept; the entries are.
   * @throws {RaftInvariantError} When the entries are not consecutive, or
   *   would leave a gap after the last stored entry.
   */
  append(entries: readonly Entry[]): void {
    const n = entries.length;
    if (n === 0) return;
    const first0 = entries[0]!.index;
    checkIndex("entry index", first0);
    for (let k = 1; k < n; k++) {
      if (entries[k]!.index !== first0 + k) {
        this.#panic(
          `entries not contiguous: index ${entries[k - 1]!.index} followed by ${entries[k]!.index}`,
        );
      }
    }
    const first = this.firstIndex();
    const last = first0 + n - 1;
    // Nothing new.
    if (last < first) return;
    // Skip the compacted part of the input.
    const skip = first > first0 ? first - first0 : 0;
    const start = first0 + skip;
    const offset = start - this.ents[0]!.index;
    const ents = this.ents;
    if (ents.length > offset) {
      // Arrays handed out by entries() are copies, so truncating in place is safe.
      ents.length = offset;
    } else if (ents.length < offset) {
      this.#panic(`missing log entry [last: ${this.#lastIndex()}, append at: ${start}]`);
    }
    for (let k = skip; k < n; k++) ents.push(entries[k]!);
  }

  #panic(msg: string): never {
    this.logger.panic(msg);
    throw new RaftInvariantError(msg);
  }
}
