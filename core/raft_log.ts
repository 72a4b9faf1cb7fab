/**
 * The Raft log: the stable entries in {@linkcode Storage} followed by the
 * unstable ones not yet persisted, with the commit and apply positions
 * (etcd raft's `raftLog`).
 *
 * @module
 */

import { type Entry, type Index, noLimit, type Snapshot, type Term } from "./types.ts";
import type { Logger } from "./logger.ts";
import { CompactedError, UnavailableError } from "./errors.ts";
import { RaftInvariantError } from "./_assert.ts";
import { cloneSnapshot, limitedSlice, type Storage } from "./storage.ts";
import { type EntryId, Unstable } from "./log_unstable.ts";
import { entsSize, extend, limitSize } from "./util.ts";

export type { EntryId } from "./log_unstable.ts";

/**
 * A contiguous piece of a leader's log, as carried by an append message:
 * the entries follow `prev`, and `term` is the leader term whose log holds
 * them. Well formed when `entries[i].index === prev.index + 1 + i`, terms
 * never decrease from `prev.term` on, and no entry's term exceeds `term`.
 */
export interface LogSlice {
  /** The term of the leader whose log contains the entries. */
  term: Term;
  /** The entry just before `entries`. */
  prev: EntryId;
  /** The consecutive entries. */
  entries: Entry[];
}

/**
 * The ID of an entry.
 *
 * @param e The entry.
 * @returns Its term and index.
 *
 * @example Usage
 * ```ts
 * import { pbEntryId } from "./raft_log.ts";
 * import { newEntry } from "@raft-ts/raft";
 * const id = pbEntryId(newEntry({ term: 2, index: 7 }));
 * if (id.term !== 2 || id.index !== 7) throw new Error("unexpected");
 * ```
 */
export function pbEntryId(e: Entry): EntryId {
  return { term: e.term, index: e.index };
}

// Results of termOrCode() besides a term; never valid terms.
const termCompacted = -1;
const termUnavailable = -2;

/**
 * The term of entry `i`, or `termCompacted` / `termUnavailable`. Nothing is
 * thrown on the common misses, which keeps exceptions off the hot paths
 * (matching each append against the log).
 */
function termOrCode(l: RaftLog, i: Index): number {
  // The unstable log first: a hit there is always in the valid range, and
  // needs no call to storage.
  const t = l.unstable.maybeTerm(i);
  if (t !== undefined) return t;
  // The valid range is [firstIndex-1, lastIndex]: the term of the entry
  // before the first one is kept for matching.
  if (i + 1 < l.firstIndex()) return termCompacted;
  if (i > l.lastIndex()) return termUnavailable;
  try {
    return l.storage.term(i);
  } catch (e) {
    if (e instanceof CompactedError) return termCompacted;
    if (e instanceof UnavailableError) return termUnavailable;
    throw e;
  }
}

/** Bound on retries of `allEntries()` after a racing compaction. */
const allEntriesAttemptsMax = 8;

/**
 * The Raft log. Invariants: `applied <= applying <= committed`, and
 * `committed <= lastIndex()`.
 *
 * @example Usage
 * ```ts
 * import { newLog } from "./raft_log.ts";
 * import { MemoryStorage, discardLogger, newEntry } from "@raft-ts/raft";
 *
 * const log = newLog(new MemoryStorage(), discardLogger);
 * log.append([newEntry({ index: 1, term: 1 }), newEntry({ index: 2, term: 1 })]);
 * log.commitTo(2);
 * if (log.nextCommittedEnts(true).length !== 2) throw new Error("unexpected");
 * if (String(log) !== "committed=2, applied=0, applying=0, unstable.offset=1, " +
 *   "unstable.offsetInProgress=1, len(unstable.Entries)=2") throw new Error(String(log));
 * ```
 */
export class RaftLog {
  /** The stable entries since the last snapshot. */
  storage: Storage;
  /** The entries and snapshot not yet persisted to `storage`. */
  unstable: Unstable;
  /** The highest index known to be stored on a quorum of nodes. */
  committed: Index;
  /**
   * The highest index the application was told to apply (handed out in a
   * `Ready`); some may still be applying. Invariant:
   * `applied <= applying <= committed`.
   */
  applying: Index;
  /** The highest index the application has applied. Invariant: `applied <= committed`. */
  applied: Index;
  /** The logger. */
  logger: Logger;
  /**
   * The limit on the encoded bytes of entries returned by
   * `nextCommittedEnts` and not yet acknowledged through `appliedTo`.
   */
  maxApplyingEntsSize: number;
  /** The encoded bytes returned by `nextCommittedEnts` and not yet acknowledged. */
  applyingEntsSize: number;
  /** Whether handing out committed entries is paused until some are acknowledged. */
  applyingEntsPaused: boolean;

  /**
   * Creates a log over `storage`, committed and applied up to the storage's
   * compacted position. Prefer {@linkcode newLog} / {@linkcode newLogWithSize}.
   *
   * @param storage The storage.
   * @param logger The logger.
   * @param maxApplyingEntsSize The limit on outstanding applying bytes.
   */
  constructor(storage: Storage, logger: Logger, maxApplyingEntsSize: number) {
    const firstIndex = storage.firstIndex();
    const lastIndex = storage.lastIndex();
    this.storage = storage;
    this.unstable = new Unstable(lastIndex + 1, logger);
    this.committed = firstIndex - 1;
    this.applying = firstIndex - 1;
    this.applied = firstIndex - 1;
    this.logger = logger;
    this.maxApplyingEntsSize = maxApplyingEntsSize;
    this.applyingEntsSize = 0;
    this.applyingEntsPaused = false;
  }

  /**
   * Describes the log's positions, as etcd does in its logs.
   *
   * @returns `committed=.., applied=.., applying=.., unstable.offset=..,
   *   unstable.offsetInProgress=.., len(unstable.Entries)=..`.
   */
  toString(): string {
    return `committed=${this.committed}, applied=${this.applied}, applying=${this.applying}, ` +
      `unstable.offset=${this.unstable.offset}, ` +
      `unstable.offsetInProgress=${this.unstable.offsetInProgress}, ` +
      `len(unstable.Entries)=${this.unstable.entries.length}`;
  }

  /**
   * Appends a leader's slice if it matches the log at `a.prev`, truncating
   * any conflicting suffix, then commits up to `min(committed, last new index)`.
   *
   * @param a The slice.
   * @param committed The leader's commit index.
   * @returns The index of the slice's last entry, or `undefined` when `a.prev`
   *   does not match the log.
   * @throws {RaftInvariantError} When a committed entry would be overwritten.
   */
  maybeAppend(a: LogSlice, committed: Index): Index | undefined {
    if (!this.matchTerm(a.prev)) return undefined;
    const lastnewi = a.prev.index + a.entries.length;
    const ci = this.findConflict(a.entries);
    if (ci === 0) {
      // Everything is already in the log.
    } else if (ci <= this.committed) {
      this.#panic(`entry ${ci} conflict with committed entry [committed(${this.committed})]`);
    } else {
      const offset = a.prev.index + 1;
      if (ci - offset > a.entries.length) {
        this.#panic(`index, ${ci - offset}, is out of range [${a.entries.length}]`);
      }
      this.append(ci === offset ? a.entries : a.entries.slice(ci - offset));
    }
    this.commitTo(Math.min(committed, lastnewi));
    return lastnewi;
  }

  /**
   * Appends entries to the unstable log, replacing any entries at or after
   * the first new index.
   *
   * @param ents Consecutive entries (the array is not kept).
   * @returns The last index of the log afterwards.
   * @throws {RaftInvariantError} When the entries would overwrite committed ones.
   */
  append(ents: readonly Entry[]): Index {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0]!.index - 1;
    if (after < this.committed) {
      this.#panic(`after(${after}) is out of range [committed(${this.committed})]`);
    }
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /**
   * Finds the first of `ents` that is not in the log: either a conflict
   * (same index, different term; logged) or the first new entry.
   *
   * @param ents Entries with consecutive indexes.
   * @returns That entry's index, or 0 when the log contains all of `ents`.
   */
  findConflict(ents: readonly Entry[]): Index {
    for (let k = 0; k < ents.length; k++) {
      const e = ents[k]!;
      const t = termOrCode(this, e.index);
      if (t !== e.term) {
        if (e.index <= this.lastIndex()) {
          this.logger.info(
            `found conflict at index ${e.index} [existing term: ${
              t < 0 ? 0 : t
            }, conflicting term: ${e.term}]`,
          );
        }
        return e.index;
      }
    }
    return 0;
  }

  /**
   * A best guess of where this log stops matching another log of which only
   * the entry `(index, term)` is known: the largest `i <= index` whose term is
   * `<= term` or unknown (compacted or not stored).
   *
   * @param index Where to start looking down from.
   * @param term The other log's term at `index`.
   * @returns `[i, term of i]`, the term being 0 when unknown.
   */
  findConflictByTerm(index: Index, term: Term): [Index, Term] {
    for (; index > 0; index--) {
      const ourTerm = termOrCode(this, index);
      // Unknown terms may match: assume they do.
      if (ourTerm < 0) return [index, 0];
      if (ourTerm <= term) return [index, ourTerm];
    }
    return [0, 0];
  }

  /**
   * The unstable entries not yet being written to storage.
   *
   * @returns A new array, possibly empty.
   */
  nextUnstableEnts(): Entry[] {
    return this.unstable.nextEntries();
  }

  /**
   * Whether there are unstable entries not yet being written to storage.
   *
   * @returns `true` when `nextUnstableEnts()` is not empty.
   */
  hasNextUnstableEnts(): boolean {
    return this.unstable.hasNextEntries();
  }

  /**
   * Whether there are unstable entries, being written or not.
   *
   * @returns `true` when the unstable log holds entries.
   */
  hasNextOrInProgressUnstableEnts(): boolean {
    return this.unstable.entries.length > 0;
  }

  /**
   * The committed entries the application can apply next, after those
   * already handed out, within the applying byte limit. Nothing while a
   * snapshot is pending or application is paused.
   *
   * @param allowUnstable Whether committed entries not yet persisted locally
   *   may be returned.
   * @returns The entries (possibly empty).
   */
  nextCommittedEnts(allowUnstable: boolean): Entry[] {
    if (this.applyingEntsPaused) return [];
    if (this.hasNextOrInProgressSnapshot()) return [];
    const lo = this.applying + 1;
    const hi = this.maxAppliableIndex(allowUnstable) + 1;
    if (lo >= hi) return [];
    const maxSize = this.maxApplyingEntsSize - this.applyingEntsSize;
    if (maxSize <= 0) {
      this.#panic(
        `applying entry size (${this.maxApplyingEntsSize}-${this.applyingEntsSize})=${maxSize} not positive`,
      );
    }
    try {
      return this.slice(lo, hi, maxSize);
    } catch (e) {
      if (e instanceof CompactedError) {
        this.#panic(`unexpected error when getting unapplied entries (${e.message})`);
      }
      throw e;
    }
  }

  /**
   * Whether `nextCommittedEnts(allowUnstable)` would return entries, without
   * reading them.
   *
   * @param allowUnstable As for `nextCommittedEnts`.
   * @returns `true` when there are entries to apply.
   */
  hasNextCommittedEnts(allowUnstable: boolean): boolean {
    if (this.applyingEntsPaused) return false;
    // With a snapshot to apply, entries wait: which to apply first would be unclear.
    if (this.hasNextOrInProgressSnapshot()) return false;
    return this.applying + 1 < this.maxAppliableIndex(allowUnstable) + 1;
  }

  /**
   * The highest committed index that may be applied.
   *
   * @param allowUnstable Whether entries not yet persisted locally count.
   * @returns `committed`, capped below the unstable entries unless allowed.
   */
  maxAppliableIndex(allowUnstable: boolean): Index {
    const hi = this.committed;
    if (!allowUnstable) return Math.min(hi, this.unstable.offset - 1);
    return hi;
  }

  /**
   * The unstable snapshot, unless there is none or it is being written.
   *
   * @returns A copy, or `undefined`.
   */
  nextUnstableSnapshot(): Snapshot | undefined {
    return this.unstable.nextSnapshot();
  }

  /**
   * Whether there is an unstable snapshot not yet being written.
   *
   * @returns `true` when `nextUnstableSnapshot()` would return one.
   */
  hasNextUnstableSnapshot(): boolean {
    return this.unstable.snapshot !== undefined && !this.unstable.snapshotInProgress;
  }

  /**
   * Whether a snapshot is waiting to be written or being written.
   *
   * @returns `true` when the unstable log holds a snapshot.
   */
  hasNextOrInProgressSnapshot(): boolean {
    return this.unstable.snapshot !== undefined;
  }

  /**
   * The latest snapshot: the unstable one, else the storage's.
   *
   * @returns The snapshot.
   * @throws {SnapshotTemporarilyUnavailableError} As thrown by the storage.
   */
  snapshot(): Snapshot {
    const s = this.unstable.snapshot;
    if (s !== undefined) return cloneSnapshot(s);
    return this.storage.snapshot();
  }

  /**
   * The first index of the log.
   *
   * @returns The unstable snapshot's index + 1, else the storage's first index.
   */
  firstIndex(): Index {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  /**
   * The last index of the log.
   *
   * @returns The last unstable index, else the storage's last index.
   */
  lastIndex(): Index {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /**
   * Raises the commit index to `tocommit`; never lowers it.
   *
   * @param tocommit The new commit index.
   * @throws {RaftInvariantError} When `tocommit` is past the last index.
   */
  commitTo(tocommit: Index): void {
    if (this.committed < tocommit) {
      const li = this.lastIndex();
      if (li < tocommit) {
        this.#panic(
          `tocommit(${tocommit}) is out of range [lastIndex(${li})]. ` +
            `Was the raft log corrupted, truncated, or lost?`,
        );
      }
      this.committed = tocommit;
    }
  }

  /**
   * Records that the application applied entries up to `i`, of total encoded
   * size `size`, which frees that much of the applying budget.
   *
   * @param i The new applied index.
   * @param size The encoded bytes applied.
   * @throws {RaftInvariantError} When `i` is outside `[applied, committed]`.
   */
  appliedTo(i: Index, size: number): void {
    if (this.committed < i || i < this.applied) {
      this.#panic(
        `applied(${i}) is out of range [prevApplied(${this.applied}), committed(${this.committed})]`,
      );
    }
    this.applied = i;
    this.applying = Math.max(this.applying, i);
    // Never below zero, even with wrong accounting.
    this.applyingEntsSize = this.applyingEntsSize > size ? this.applyingEntsSize - size : 0;
    this.applyingEntsPaused = this.applyingEntsSize >= this.maxApplyingEntsSize;
  }

  /**
   * Records that entries up to `i`, of total encoded size `size`, were handed
   * to the application. Pauses handing out more when the budget is used up,
   * or when the last batch was cut short by it.
   *
   * @param i The new applying index.
   * @param size The encoded bytes handed out.
   * @param allowUnstable As for `nextCommittedEnts`.
   * @throws {RaftInvariantError} When `i > committed`.
   */
  acceptApplying(i: Index, size: number, allowUnstable: boolean): void {
    if (this.committed < i) {
      this.#panic(
        `applying(${i}) is out of range [prevApplying(${this.applying}), committed(${this.committed})]`,
      );
    }
    this.applying = i;
    this.applyingEntsSize += size;
    // Pause when the budget is used up, or when the batch stopped short of
    // what was appliable (so the next entry would exceed the budget).
    this.applyingEntsPaused = this.applyingEntsSize >= this.maxApplyingEntsSize ||
      i < this.maxAppliableIndex(allowUnstable);
  }

  /**
   * Marks the unstable entries up to `id` as persisted.
   *
   * @param id The last persisted entry.
   */
  stableTo(id: EntryId): void {
    this.unstable.stableTo(id);
  }

  /**
   * Marks the unstable snapshot at index `i` as persisted.
   *
   * @param i The persisted snapshot's index.
   */
  stableSnapTo(i: Index): void {
    this.unstable.stableSnapTo(i);
  }

  /**
   * Marks the current unstable entries and snapshot as being persisted, so
   * that later `Ready`s do not return them again.
   */
  acceptUnstable(): void {
    this.unstable.acceptInProgress();
  }

  /**
   * The ID of the last entry in the log.
   *
   * @returns Its term and index.
   * @throws {RaftInvariantError} When the last term cannot be read.
   */
  lastEntryId(): EntryId {
    const index = this.lastIndex();
    const t = termOrCode(this, index);
    if (t < 0) {
      const err = t === termCompacted ? new CompactedError() : new UnavailableError();
      this.#panic(`unexpected error when getting the last term at ${index}: ${err.message}`);
    }
    return { term: t, index };
  }

  /**
   * The term of the last entry (`lastEntryId().term`).
   *
   * @returns The last term.
   */
  lastTerm(): Term {
    return this.lastEntryId().term;
  }

  /**
   * The term of entry `i`, valid in `[firstIndex() - 1, lastIndex()]`.
   *
   * @param i The index.
   * @returns Its term.
   * @throws {CompactedError} When `i < firstIndex() - 1`.
   * @throws {UnavailableError} When `i > lastIndex()`.
   */
  term(i: Index): Term {
    const t = termOrCode(this, i);
    if (t >= 0) return t;
    throw t === termCompacted ? new CompactedError() : new UnavailableError();
  }

  /**
   * The entries from `i` to the end of the log, within `maxSize` bytes (at
   * least one).
   *
   * @param i The first index.
   * @param maxSize The byte limit.
   * @returns The entries; empty when `i > lastIndex()`.
   * @throws {CompactedError} When `i < firstIndex()`.
   */
  entries(i: Index, maxSize: number): Entry[] {
    const last = this.lastIndex();
    if (i > last) return [];
    return this.slice(i, last + 1, maxSize);
  }

  /**
   * Every entry of the log.
   *
   * @returns The entries from `firstIndex()` on.
   */
  allEntries(): Entry[] {
    for (let attempt = 1;; attempt++) {
      try {
        return this.entries(this.firstIndex(), noLimit);
      } catch (e) {
        // A compaction may race with the read: try again, a bounded number of times.
        if (!(e instanceof CompactedError) || attempt >= allEntriesAttemptsMax) throw e;
      }
    }
  }

  /**
   * Whether a log ending at `their` is at least as up to date as this one:
   * a higher last term wins, and on equal terms the longer log.
   *
   * @param their The other log's last entry.
   * @returns `true` when the other log is at least as up to date.
   */
  isUpToDate(their: EntryId): boolean {
    const our = this.lastEntryId();
    return their.term > our.term || (their.term === our.term && their.index >= our.index);
  }

  /**
   * Whether the log holds an entry with this ID.
   *
   * @param id The entry ID.
   * @returns `true` when the term at `id.index` is known and equals `id.term`.
   */
  matchTerm(id: EntryId): boolean {
    return termOrCode(this, id.index) === id.term;
  }

  /**
   * Commits up to `at.index` if that entry is in the log with term `at.term`
   * (the leader's current term) and is past the commit index.
   *
   * @param at The entry to commit up to.
   * @returns `true` when the commit index advanced.
   */
  maybeCommit(at: EntryId): boolean {
    // A zero term never matches: leaders have term >= 1.
    if (at.term !== 0 && at.index > this.committed && this.matchTerm(at)) {
      this.commitTo(at.index);
      return true;
    }
    return false;
  }

  /**
   * Resets the log to a snapshot, which becomes the unstable snapshot, and
   * commits up to its index.
   *
   * @param s The snapshot (copied).
   */
  restore(s: Snapshot): void {
    this.logger.info(
      `log [${this.toString()}] starts to restore snapshot [index: ${s.metadata.index}, term: ${s.metadata.term}]`,
    );
    this.committed = s.metadata.index;
    this.unstable.restore(s);
  }

  /**
   * Visits the entries in `[lo, hi)` in consecutive pages of at most
   * `pageSize` bytes (more only when a single entry is larger). The visitor
   * stops the scan by returning `false`; anything it throws propagates.
   *
   * @param lo The first index.
   * @param hi One past the last index.
   * @param pageSize The byte limit of one page.
   * @param v The visitor.
   * @throws {CompactedError} When part of the range is compacted.
   */
  scan(
    lo: Index,
    hi: Index,
    pageSize: number,
    v: (ents: Entry[]) => boolean | void,
  ): void {
    while (lo < hi) {
      const ents = this.slice(lo, hi, pageSize);
      if (ents.length === 0) this.#panic(`got 0 entries in [${lo}, ${hi})`);
      if (v(ents) === false) return;
      lo += ents.length;
    }
  }

  /**
   * The entries in `[lo, hi)`, within `maxSize` bytes but at least one.
   *
   * @param lo The first index.
   * @param hi One past the last index.
   * @param maxSize The byte limit.
   * @returns A new array; the entries in it must not be mutated.
   * @throws {CompactedError} When `lo < firstIndex()`.
   * @throws {RaftInvariantError} When `lo > hi` or `hi > lastIndex() + 1`.
   */
  slice(lo: Index, hi: Index, maxSize: number): Entry[] {
    this.mustCheckOutOfBounds(lo, hi);
    if (lo === hi) return [];
    const u = this.unstable;
    if (lo >= u.offset) {
      u.mustCheckOutOfBounds(lo, hi);
      return limitedSlice(u.entries, lo - u.offset, hi - u.offset, maxSize);
    }

    const cut = Math.min(hi, u.offset);
    let ents: Entry[];
    try {
      ents = this.storage.entries(lo, cut, maxSize);
    } catch (e) {
      if (e instanceof UnavailableError) {
        this.#panic(`entries[${lo}:${cut}) is unavailable from storage`);
      }
      throw e;
    }
    // Check what storage returned: a non-empty prefix of [lo, cut).
    const n = ents.length;
    if (n === 0 || n > cut - lo || ents[0]!.index !== lo || ents[n - 1]!.index !== lo + n - 1) {
      this.#panic(
        `storage returned ${n} entries for [${lo}, ${cut}) starting at ${ents[0]?.index}`,
      );
    }
    if (hi <= u.offset) return ents;

    // Storage stopped short of the request: the limit is reached.
    if (n < cut - lo) return ents;
    if (maxSize === Infinity) return extend(ents, u.slice(u.offset, hi));
    // Add as many unstable entries as fit.
    const size = entsSize(ents);
    if (size >= maxSize) return ents;
    const unstable = limitSize(u.slice(u.offset, hi), maxSize - size);
    // limitSize keeps one entry even when it alone is too big: drop it then.
    if (unstable.length === 1 && size + entsSize(unstable) > maxSize) return ents;
    return extend(ents, unstable);
  }

  /**
   * Checks `firstIndex() <= lo <= hi <= lastIndex() + 1`.
   *
   * @param lo The first index.
   * @param hi One past the last index.
   * @throws {CompactedError} When `lo < firstIndex()`.
   * @throws {RaftInvariantError} When `lo > hi` or `hi > lastIndex() + 1`.
   */
  mustCheckOutOfBounds(lo: Index, hi: Index): void {
    if (lo > hi) this.#panic(`invalid slice ${lo} > ${hi}`);
    const fi = this.firstIndex();
    if (lo < fi) throw new CompactedError();
    const li = this.lastIndex();
    if (hi > li + 1) this.#panic(`slice[${lo},${hi}) out of bound [${fi},${li}]`);
  }

  /**
   * The term of entry `i`, or 0 when it is compacted or not in the log
   * (etcd's `zeroTermOnOutOfBounds(term(i))`, folded into one call).
   *
   * @param i The index.
   * @returns The term, or 0.
   */
  zeroTermOnOutOfBounds(i: Index): Term {
    const t = termOrCode(this, i);
    return t < 0 ? 0 : t;
  }

  #panic(msg: string): never {
    this.logger.panic(msg);
    throw new RaftInvariantError(msg);
  }
}

/**
 * Creates a log over `storage` with no limit on applying bytes.
 *
 * @param storage The storage.
 * @param logger The logger.
 * @returns The log, committed and applied up to the storage's compacted position.
 *
 * @example Usage
 * ```ts
 * import { newLog } from "./raft_log.ts";
 * import { MemoryStorage, discardLogger, newSnapshot } from "@raft-ts/raft";
 *
 * const ms = new MemoryStorage();
 * ms.applySnapshot(newSnapshot({ index: 10, term: 2 }));
 * const log = newLog(ms, discardLogger);
 * if (log.committed !== 10 || log.firstIndex() !== 11) throw new Error("unexpected");
 * ```
 */
export function newLog(storage: Storage, logger: Logger): RaftLog {
  return new RaftLog(storage, logger, noLimit);
}

/**
 * Creates a log over `storage` that pauses handing out committed entries
 * once `maxApplyingEntsSize` encoded bytes are outstanding.
 *
 * @param storage The storage.
 * @param logger The logger.
 * @param maxApplyingEntsSize The limit on outstanding applying bytes.
 * @returns The log.
 *
 * @example Usage
 * ```ts
 * import { newLogWithSize } from "./raft_log.ts";
 * import { MemoryStorage, discardLogger } from "@raft-ts/raft";
 *
 * const log = newLogWithSize(new MemoryStorage(), discardLogger, 1 << 20);
 * if (log.maxApplyingEntsSize !== 1 << 20) throw new Error("unexpected");
 * ```
 */
export function newLogWithSize(
  storage: Storage,
  logger: Logger,
  maxApplyingEntsSize: number,
): RaftLog {
  return new RaftLog(storage, logger, maxApplyingEntsSize);
}
