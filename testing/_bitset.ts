/**
 * A fixed-size bitset for the linearizability checker: the set of operations
 * linearized so far. Private to `tests/sim/`.
 *
 * Besides the bits it keeps an order-independent (Zobrist) hash, updated in
 * O(1) on every `set`/`clear`, and it can take and compare compact snapshots:
 * the words strictly between the leading all-ones run and the trailing
 * all-zeros run. The checker assigns ids in call order, so the linearized set
 * is nearly always "every operation up to some point, plus a few", and a
 * snapshot is a handful of words instead of `size / 32`.
 *
 * @module
 */

import { assert } from "../core/_assert.ts";

const FULL_WORD = 0xffffffff;

/**
 * Mixes a bit index into a 32-bit value (the finalizer of MurmurHash3), the
 * Zobrist key of that index.
 *
 * @param i The bit index.
 * @returns A well-spread 32-bit unsigned value.
 */
export function zobristKey(i: number): number {
  let h = Math.imul(i + 0x9e3779b9, 0x85ebca6b) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** A compact, immutable copy of a {@linkcode Bitset} (see {@linkcode Bitset.snapshot}). */
export interface BitsetSnapshot {
  /** Number of leading words that are all ones. */
  readonly fullWords: number;
  /** The words after the leading full run, up to the last nonzero word. */
  readonly middle: Uint32Array;
}

/**
 * A bitset of `size` bits with an incremental hash and compact snapshots.
 *
 * @example Set, hash and snapshot
 * ```ts
 * import { Bitset } from "./_bitset.ts";
 * const b = new Bitset(100);
 * b.set(0);
 * b.set(70);
 * const s = b.snapshot();
 * b.clear(70);
 * if (b.equalsSnapshot(s)) throw new Error("unreachable");
 * ```
 */
export class Bitset {
  /** Number of bits. */
  readonly size: number;
  /** Bit i lives at bit (i & 31) of words[i >>> 5]. */
  readonly words: Uint32Array;
  /** XOR of zobristKey(i) over every set bit i. */
  hash = 0;
  /** Number of set bits. */
  count = 0;
  /** Every word below fullHint is all ones (a lower bound of the full run). */
  #fullHint = 0;
  /** Every word above zeroHint is zero (an upper bound of the last nonzero word). */
  #zeroHint = -1;

  /**
   * @param size Number of bits, a non-negative safe integer.
   * @throws {RangeError} When `size` is not a non-negative safe integer.
   */
  constructor(size: number) {
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new RangeError(`Cannot create Bitset as 'size' must be a natural number: ${size}`);
    }
    this.size = size;
    this.words = new Uint32Array((size + 31) >>> 5);
  }

  /**
   * @param i A bit index below `size`.
   * @returns Whether bit `i` is set.
   */
  has(i: number): boolean {
    return (this.words[i >>> 5]! & (1 << (i & 31))) !== 0;
  }

  /**
   * Sets bit `i`, which must be clear.
   *
   * @param i A bit index below `size`.
   * @throws {RangeError} When `i` is out of range.
   * @throws {RaftInvariantError} When bit `i` is already set.
   */
  set(i: number): void {
    const w = i >>> 5;
    const bit = 1 << (i & 31);
    const word = this.words[w];
    if (word === undefined || i < 0) throw new RangeError(`Cannot set bit ${i}: size ${this.size}`);
    assert((word & bit) === 0, `Cannot set bit ${i}: already set`);
    this.words[w] = word | bit;
    this.hash = (this.hash ^ zobristKey(i)) >>> 0;
    this.count++;
    if (w > this.#zeroHint) this.#zeroHint = w;
  }

  /**
   * Clears bit `i`, which must be set.
   *
   * @param i A bit index below `size`.
   * @throws {RangeError} When `i` is out of range.
   * @throws {RaftInvariantError} When bit `i` is already clear.
   */
  clear(i: number): void {
    const w = i >>> 5;
    const bit = 1 << (i & 31);
    const word = this.words[w];
    if (word === undefined || i < 0) {
      throw new RangeError(`Cannot clear bit ${i}: size ${this.size}`);
    }
    assert((word & bit) !== 0, `Cannot clear bit ${i}: already clear`);
    this.words[w] = word & ~bit;
    this.hash = (this.hash ^ zobristKey(i)) >>> 0;
    this.count--;
    if (w < this.#fullHint) this.#fullHint = w;
  }

  /** Tightens the hints to the exact full run and last nonzero word. */
  #tighten(): void {
    const words = this.words;
    let full = this.#fullHint;
    while (full < words.length && words[full] === FULL_WORD) full++;
    this.#fullHint = full;
    let last = this.#zeroHint;
    while (last >= 0 && words[last] === 0) last--;
    this.#zeroHint = last;
  }

  /**
   * Takes a compact copy: two bitsets of the same size are equal exactly when
   * their snapshots are.
   *
   * @returns The snapshot; its `middle` is a fresh array.
   */
  snapshot(): BitsetSnapshot {
    this.#tighten();
    const full = this.#fullHint;
    const end = Math.max(full, this.#zeroHint + 1);
    return { fullWords: full, middle: this.words.slice(full, end) };
  }

  /**
   * @param s A snapshot of a bitset of the same size.
   * @returns Whether every bit set in the bitset `s` was taken from is set
   *   in this one.
   */
  containsSnapshot(s: BitsetSnapshot): boolean {
    this.#tighten();
    if (this.#fullHint < s.fullWords) return false;
    const words = this.words;
    const middle = s.middle;
    for (let k = 0; k < middle.length; k++) {
      if ((middle[k]! & ~words[s.fullWords + k]!) !== 0) return false;
    }
    return true;
  }

  /**
   * @param s A snapshot of a bitset of the same size.
   * @returns Whether this bitset equals the one `s` was taken from.
   */
  equalsSnapshot(s: BitsetSnapshot): boolean {
    this.#tighten();
    const full = this.#fullHint;
    if (full !== s.fullWords) return false;
    const end = Math.max(full, this.#zeroHint + 1);
    const middle = s.middle;
    if (end - full !== middle.length) return false;
    const words = this.words;
    for (let k = 0; k < middle.length; k++) {
      if (words[full + k] !== middle[k]) return false;
    }
    return true;
  }
}
