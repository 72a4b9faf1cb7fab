/**
 * The unstable part of the Raft log: entries and an optional snapshot that
 * have not reached `Storage` yet (etcd raft's `unstable`).
 *
 * @module
 */

import type { Entry, Index, Snapshot, Term } from "./types.ts";
import type { Logger } from "./logger.ts";
import { RaftInvariantError } from "./_assert.ts";
import { cloneSnapshot } from "./storage.ts";

/**
 * Identifies a log entry: the term of the leader that created it, and its
 * index. Any `Entry` is structurally an `EntryId`.
 */
export interface EntryId {
  /** The term of the leader that appended the entry. */
  term: Term;
  /** The entry's position in the log. */
  index: Index;
}

/**
 * Holds the log entries, and possibly a snapshot, that have not been written
 * to storage yet. It hands them out for persistence (through `Ready`) and
 * keeps them, marked as in progress, until the write is confirmed with
 * `stableTo` / `stableSnapTo`, so the log reads correctly meanwhile.
 *
 * `offset` may be lower than the last index in storage: the next storage
 * write then truncates the stored log before writing these entries.
 *
 * Arrays handed out (`nextEntries`, `slice`) are copies, and arrays passed
 * in are never kept, so callers may keep or modify the arrays they hold
 * (never the entries in them).
 *
 * @example Usage
 * ```ts
 * import { Unstable } from "./log_unstable.ts";
 * import { discardLogger, newEntry } from "@raft-ts/raft";
 *
 * const u = new Unstable(5, discardLogger);
 * u.truncateAndAppend([newEntry({ index: 5, term: 1 }), newEntry({ index: 6, term: 1 })]);
 * u.acceptInProgress();
 * u.stableTo({ index: 5, term: 1 });
 * if (u.offset !== 6 || u.entries.length !== 1) throw new Error("unexpected");
 * ```
 */
export class Unstable {
  /** The incoming snapshot, if any. */
  snapshot: Snapshot | undefined;
  /** Entries not yet written to storage. `entries[i]` has log position `i + offset`. */
  entries: Entry[];
  /** The log position of `entries[0]`. */
  offset: Index;
  /** Whether the snapshot is being written to storage. */
  snapshotInProgress: boolean;
  /**
   * `entries[0, offsetInProgress - offset)` are being written to storage.
   * Exclusive like `offset`. Invariant: `offset <= offsetInProgress`.
   */
  offsetInProgress: Index;
  /** Where state changes and broken invariants are logged. */
  logger: Logger;

  /**
   * Creates an empty unstable log starting at `offset`.
   *
   * @param offset The index of the first entry to come (last stable index + 1).
   * @param logger The logger.
   */
  constructor(offset: Index, logger: Logger) {
    this.snapshot = undefined;
    this.entries = [];
    this.offset = offset;
    this.snapshotInProgress = false;
    this.offsetInProgress = offset;
    this.logger = logger;
  }

  /**
   * The first index of the log, known only when there is a snapshot.
   *
   * @returns The snapshot index + 1, or `undefined` without a snapshot.
   */
  maybeFirstIndex(): Index | undefined {
    return this.snapshot !== undefined ? this.snapshot.metadata.index + 1 : undefined;
  }

  /**
   * The last index, known when there are entries or a snapshot.
   *
   * @returns The last entry's index, else the snapshot index, else `undefined`.
   */
  maybeLastIndex(): Index | undefined {
    const l = this.entries.length;
    if (l !== 0) return this.offset + l - 1;
    if (this.snapshot !== undefined) return this.snapshot.metadata.index;
    return undefined;
  }

  /**
   * The term of entry `i`, if this unstable log knows it.
   *
   * @param i The index.
   * @returns The term, or `undefined`.
   */
  maybeTerm(i: Index): Term | undefined {
    if (i < this.offset) {
      const s = this.snapshot;
      if (s !== undefined && s.metadata.index === i) return s.metadata.term;
      return undefined;
    }
    const j = i - this.offset;
    if (j >= this.entries.length) return undefined;
    return this.entries[j]!.term;
  }

  /**
   * The entries not yet being written to storage.
   *
   * @returns A new array (empty when there are none).
   */
  nextEntries(): Entry[] {
    const inProgress = this.offsetInProgress - this.offset;
    if (this.entries.length === inProgress) return [];
    return this.entries.slice(inProgress);
  }

  /**
   * Whether `nextEntries()` would return anything (without copying).
   *
   * @returns `true` when some entries are not yet in progress.
   */
  hasNextEntries(): boolean {
    return this.entries.length > this.offsetInProgress - this.offset;
  }

  /**
   * The snapshot, unless there is none or it is already being written.
   *
   * @returns A copy of the snapshot, or `undefined`.
   */
  nextSnapshot(): Snapshot | undefined {
    if (this.snapshot === undefined || this.snapshotInProgress) return undefined;
    return cloneSnapshot(this.snapshot);
  }

  /**
   * Marks all current entries and the snapshot as being written to storage:
   * `nextEntries` / `nextSnapshot` stop returning them. Later additions are
   * returned until the next call.
   */
  acceptInProgress(): void {
    const l = this.entries.length;
    if (l > 0) this.offsetInProgress = this.entries[l - 1]!.index + 1;
    if (this.snapshot !== undefined) this.snapshotInProgress = true;
  }

  /**
   * Marks the entries up to `id` as written to storage and drops them. Does
   * nothing (and logs why) when `id` is not an unstable entry, or when its
   * term differs (the entry was replaced while being written). Only call it
   * when no in-progress write can still overwrite those entries.
   *
   * @param id The last entry written.
   */
  stableTo(id: EntryId): void {
    const gt = this.maybeTerm(id.index);
    if (gt === undefined) {
      this.logger.info(`entry at index ${id.index} missing from unstable log; ignoring`);
      return;
    }
    if (id.index < this.offset) {
      this.logger.info(`entry at index ${id.index} matched unstable snapshot; ignoring`);
      return;
    }
    if (gt !== id.term) {
      this.logger.info(
        `entry at (index,term)=(${id.index},${id.term}) mismatched with ` +
          `entry at (${id.index},${gt}) in unstable log; ignoring`,
      );
      return;
    }
    const num = id.index + 1 - this.offset;
    const ents = this.entries;
    if (num === ents.length) {
      this.entries = [];
    } else {
      // The internal array is never handed out, so it can shift in place.
      ents.copyWithin(0, num);
      ents.length -= num;
    }
    this.offset = id.index + 1;
    this.offsetInProgress = Math.max(this.offsetInProgress, this.offset);
    this.shrinkEntriesArray();
  }

  /** Drops the entries array when it is empty, releasing its memory. */
  shrinkEntriesArray(): void {
    if (this.entries.length === 0) this.entries = [];
  }

  /**
   * Drops the snapshot once it is written to storage, if it is still the
   * one at index `i`.
   *
   * @param i The written snapshot's index.
   */
  stableSnapTo(i: Index): void {
    if (this.snapshot !== undefined && this.snapshot.metadata.index === i) {
      this.snapshot = undefined;
      this.snapshotInProgress = false;
    }
  }

  /**
   * Replaces everything with a snapshot; entries restart after it.
   *
   * @param s The snapshot (copied).
   */
  restore(s: Snapshot): void {
    this.offset = s.metadata.index + 1;
    this.offsetInProgress = this.offset;
    this.entries = [];
    this.snapshot = cloneSnapshot(s);
    this.snapshotInProgress = false;
  }

  /**
   * Appends entries, first dropping any unstable entries at or after the
   * first new index.
   *
   * @param ents Consecutive, non-empty. The array is not kept.
   */
  truncateAndAppend(ents: readonly Entry[]): void {
    const fromIndex = ents[0]!.index;
    const len = this.entries.length;
    if (fromIndex === this.offset + len) {
      // The next index: append directly.
      pushAll(this.entries, ents);
    } else if (fromIndex <= this.offset) {
      this.logger.info(`replace the unstable entries from index ${fromIndex}`);
      // Everything unstable is replaced, and the log restarts at fromIndex.
      this.entries = ents.slice();
      this.offset = fromIndex;
      this.offsetInProgress = this.offset;
    } else {
      this.logger.info(`truncate the unstable entries before index ${fromIndex}`);
      this.mustCheckOutOfBounds(this.offset, fromIndex);
      // Truncation in place is safe: the internal array is never handed out.
      this.entries.length = fromIndex - this.offset;
      pushAll(this.entries, ents);
      // Only what was in progress before fromIndex still is.
      this.offsetInProgress = Math.min(this.offsetInProgress, fromIndex);
    }
  }

  /**
   * The entries in `[lo, hi)`, all of which must be in this unstable log.
   *
   * @param lo The first index.
   * @param hi One past the last index.
   * @returns A new array; the entries in it are shared and must not be mutated.
   * @throws {RaftInvariantError} When the range is not inside the unstable entries.
   */
  slice(lo: Index, hi: Index): Entry[] {
    this.mustCheckOutOfBounds(lo, hi);
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }

  /**
   * Checks that `offset <= lo <= hi <= offset + entries.length`.
   *
   * @param lo The first index.
   * @param hi One past the last index.
   * @throws {RaftInvariantError} When it does not hold (logged as a panic).
   */
  mustCheckOutOfBounds(lo: Index, hi: Index): void {
    if (lo > hi) this.#panic(`invalid unstable.slice ${lo} > ${hi}`);
    const upper = this.offset + this.entries.length;
    if (lo < this.offset || hi > upper) {
      this.#panic(`unstable.slice[${lo},${hi}) out of bound [${this.offset},${upper}]`);
    }
  }

  #panic(msg: string): never {
    this.logger.panic(msg);
    throw new RaftInvariantError(msg);
  }
}

function pushAll(dst: Entry[], src: readonly Entry[]): void {
  for (let i = 0; i < src.length; i++) dst.push(src[i]!);
}
