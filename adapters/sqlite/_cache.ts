/**
 * The in-memory cache of the log's tail, which serves the reads Raft makes
 * right after a write (sending new entries to followers, applying them)
 * without a query.
 *
 * @module
 */

import type { Entry, Index } from "../../core/types.ts";
import { entrySize } from "../../core/util.ts";

/**
 * The most recent entries of the log, a contiguous run that always ends at
 * the log's last index, bounded by a count and a byte size (the oldest
 * entries are evicted first), except that entries at or after `pinFrom`
 * are never evicted.
 */
export class TailCache {
  /** Most entries kept. */
  readonly entriesMax: number;
  /** Most bytes (sum of `entrySize`) kept. */
  readonly bytesMax: number;
  /** `#ents[k]` has log index `#start + (k - #head)` for `k >= #head`; slots before `#head` are dead. */
  #ents: (Entry | undefined)[] = [];
  #head = 0;
  #start: Index;
  #bytes = 0;
  /**
   * Entries at this index and after stay whatever the bounds (they are not
   * readable anywhere else yet); `Infinity` pins none. Lowering it never
   * brings back an evicted entry; the cache shrinks back to its bounds at
   * the next `push` after it was raised.
   */
  pinFrom: Index = Infinity;

  /**
   * Creates an empty cache.
   *
   * @param entriesMax Most entries kept (0 disables the cache).
   * @param bytesMax Most bytes kept.
   * @param next The index the first pushed entry will have.
   */
  constructor(entriesMax: number, bytesMax: number, next: Index) {
    this.entriesMax = entriesMax;
    this.bytesMax = bytesMax;
    this.#start = next;
  }

  /** The index of the oldest cached entry (`end` when empty). */
  get start(): Index {
    return this.#start;
  }

  /** One past the index of the newest cached entry. */
  get end(): Index {
    return this.#start + this.#ents.length - this.#head;
  }

  /** How many entries are cached. */
  get length(): number {
    return this.#ents.length - this.#head;
  }

  /** The sum of the cached entries' sizes. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * The cached entry at index `i`.
   *
   * @param i The index.
   * @returns The entry, or `undefined` when it is not cached.
   */
  get(i: Index): Entry | undefined {
    if (i < this.#start || i >= this.end) return undefined;
    return this.#ents[this.#head + (i - this.#start)];
  }

  /**
   * Empties the cache.
   *
   * @param next The index the next pushed entry will have.
   */
  reset(next: Index): void {
    this.#ents = [];
    this.#head = 0;
    this.#start = next;
    this.#bytes = 0;
  }

  /**
   * Drops the entries at `i` and after; the next pushed entry gets index `i`.
   *
   * @param i The first index to drop.
   */
  truncateFrom(i: Index): void {
    if (i <= this.#start) {
      this.reset(i);
      return;
    }
    const end = this.end;
    if (i >= end) return;
    const keep = this.#head + (i - this.#start);
    for (let k = keep; k < this.#ents.length; k++) this.#bytes -= entrySize(this.#ents[k]!);
    this.#ents.length = keep;
  }

  /**
   * Drops the entries before `i` (after a compaction).
   *
   * @param i The first index to keep.
   */
  dropBefore(i: Index): void {
    if (i >= this.end) {
      this.reset(Math.max(i, this.end));
      return;
    }
    while (this.#start < i) this.#shift();
    this.#tidy();
  }

  /**
   * Appends an entry at the end and evicts the oldest entries while the
   * cache is over its bounds.
   *
   * @param e The entry; its index must be `end`.
   */
  push(e: Entry): void {
    this.#ents.push(e);
    this.#bytes += entrySize(e);
    const pinFrom = this.pinFrom;
    while (
      (this.length > this.entriesMax || (this.#bytes > this.bytesMax && this.length > 0)) &&
      this.#start < pinFrom
    ) {
      this.#shift();
    }
    this.#tidy();
  }

  #shift(): void {
    this.#bytes -= entrySize(this.#ents[this.#head]!);
    this.#ents[this.#head] = undefined;
    this.#head++;
    this.#start++;
  }

  /** Reclaims the dead slots once they are the larger part of the array. */
  #tidy(): void {
    if (this.#head > 64 && this.#head * 2 > this.#ents.length) {
      this.#ents = this.#ents.slice(this.#head);
      this.#head = 0;
    }
  }
}
