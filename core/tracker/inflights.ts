/**
 * The flow-control window of one follower: the MsgApp messages sent to it
 * and not yet acknowledged. Ported from etcd raft's `tracker/inflights.go`.
 *
 * @module
 */

import { assert } from "../_assert.ts";
import type { Index } from "../types.ts";

/**
 * A bounded ring buffer of in-flight MsgApp messages, each recorded by the
 * index of its last entry and its total entry bytes. The window is full at
 * `size` messages, or once the bytes in flight reach `maxBytes`.
 *
 * Callers check {@linkcode Inflights.full} before each {@linkcode Inflights.add},
 * add messages in increasing index order, and free them with
 * {@linkcode Inflights.freeLE} when acknowledgements arrive.
 *
 * The backing buffer starts empty and doubles on demand up to `size`, so
 * that thousands of idle followers cost little memory.
 *
 * @example A window of two messages
 * ```ts
 * import { Inflights } from "@raft-ts/raft";
 * const w = new Inflights(2, 0);
 * w.add(5, 100);
 * w.add(9, 100);
 * if (!w.full()) throw new Error("unexpected");
 * w.freeLE(5);
 * if (w.full() || w.count() !== 1) throw new Error("unexpected");
 * ```
 */
export class Inflights {
  /** Position in the buffer of the oldest message. `0 <= start < size` (or 0). */
  #start = 0;
  /** Number of messages in flight. `0 <= count <= size`. */
  #count = 0;
  /** Sum of the bytes of the messages in flight. */
  #bytes = 0;
  /** The most messages in flight. */
  readonly #size: number;
  /** The most bytes in flight; 0 means no limit. Soft: the last message may overshoot. */
  readonly #maxBytes: number;
  /**
   * Ring buffer: message `i` (`0 <= i < count`) sits at position
   * `(start + i) % size`. `buffer length <= size`; it only grows.
   */
  #indexes: Float64Array;
  /** Bytes of each message, at the same positions as `#indexes`. */
  #sizes: Float64Array;

  /**
   * Creates an empty window.
   *
   * @param size The most messages in flight (etcd's `MaxInflightMsgs`).
   * @param maxBytes The most bytes in flight, or 0 for no limit. The limit is
   *   soft: one message may take the total from below to above it.
   */
  constructor(size: number, maxBytes: number) {
    this.#size = size;
    this.#maxBytes = maxBytes;
    this.#indexes = new Float64Array(0);
    this.#sizes = new Float64Array(0);
  }

  /**
   * Copies the window.
   *
   * @returns A window with the same content that shares no memory with this one.
   */
  clone(): Inflights {
    const c = new Inflights(this.#size, this.#maxBytes);
    c.#start = this.#start;
    c.#count = this.#count;
    c.#bytes = this.#bytes;
    c.#indexes = this.#indexes.slice();
    c.#sizes = this.#sizes.slice();
    return c;
  }

  /**
   * Records a message being sent.
   *
   * @param index The index of the last entry in the message; not lower than
   *   the index of the previous message added.
   * @param bytes The total byte size of the message's entries.
   * @throws {RaftInvariantError} When the window is full.
   */
  add(index: Index, bytes: number): void {
    assert(!this.full(), "cannot add into a Full inflights");
    let next = this.#start + this.#count;
    if (next >= this.#size) next -= this.#size;
    if (next >= this.#indexes.length) this.#grow();
    this.#indexes[next] = index;
    this.#sizes[next] = bytes;
    this.#count++;
    this.#bytes += bytes;
  }

  /** Doubles the buffer (from 1, up to `size`). */
  #grow(): void {
    let newSize = this.#indexes.length * 2;
    if (newSize === 0) newSize = 1;
    else if (newSize > this.#size) newSize = this.#size;
    const indexes = new Float64Array(newSize);
    indexes.set(this.#indexes);
    const sizes = new Float64Array(newSize);
    sizes.set(this.#sizes);
    this.#indexes = indexes;
    this.#sizes = sizes;
  }

  /**
   * Frees the messages whose last index is at most `to`.
   *
   * @param to The highest acknowledged index.
   */
  freeLE(to: Index): void {
    if (this.#count === 0 || to < this.#indexes[this.#start]!) return;
    let idx = this.#start;
    let i = 0;
    let bytes = 0;
    for (; i < this.#count; i++) {
      if (to < this.#indexes[idx]!) break;
      bytes += this.#sizes[idx]!;
      idx++;
      if (idx >= this.#size) idx -= this.#size;
    }
    this.#count -= i;
    this.#bytes -= bytes;
    this.#start = idx;
    // Restart an empty window at 0, so the buffer does not grow needlessly.
    if (this.#count === 0) this.#start = 0;
  }

  /**
   * Tells whether no more messages may be sent for now.
   *
   * @returns `true` when `size` messages are in flight, or the bytes in
   *   flight have reached `maxBytes` (when set).
   */
  full(): boolean {
    return this.#count === this.#size || (this.#maxBytes !== 0 && this.#bytes >= this.#maxBytes);
  }

  /**
   * Counts the messages in flight.
   *
   * @returns The number of messages in flight.
   */
  count(): number {
    return this.#count;
  }

  /**
   * Sums the bytes in flight.
   *
   * @returns The total entry bytes of the messages in flight.
   */
  bytes(): number {
    return this.#bytes;
  }

  /** Frees every message. */
  reset(): void {
    this.#start = 0;
    this.#count = 0;
    this.#bytes = 0;
  }

  /**
   * Exposes the internal layout, for tests of the ring buffer.
   *
   * @returns The start position, count, bytes, and a copy of the buffer
   *   (index and bytes of each slot, in slot order).
   */
  layoutForTest(): {
    start: number;
    count: number;
    bytes: number;
    indexes: number[];
    sizes: number[];
  } {
    return {
      start: this.#start,
      count: this.#count,
      bytes: this.#bytes,
      indexes: Array.from(this.#indexes),
      sizes: Array.from(this.#sizes),
    };
  }
}
