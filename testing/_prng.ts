/**
 * The simulator's seeded randomness: one {@linkcode Prng} per run, from
 * which every other source (network, nodes, disks, clients, faults) is
 * forked, so one seed replays one run exactly.
 *
 * @module
 */

import { newRand } from "../core/rand.ts";

/** A seeded pseudo-random generator with the helpers the simulator needs. */
export class Prng {
  /** The underlying generator of numbers in `[0, 1)`. */
  readonly next: () => number;

  /**
   * Creates a generator.
   *
   * @param seed Any number; see `newRand` in core/rand.ts.
   */
  constructor(seed: number) {
    this.next = newRand(seed);
  }

  /**
   * A uniformly distributed 32-bit unsigned integer.
   *
   * @returns An integer in `[0, 2^32)`.
   */
  u32(): number {
    return Math.floor(this.next() * 4294967296) >>> 0;
  }

  /**
   * A uniformly distributed integer in `[0, n)`.
   *
   * @param n The exclusive bound, at least 1.
   * @returns The integer.
   */
  int(n: number): number {
    const v = Math.floor(this.next() * n);
    return v >= n ? n - 1 : v;
  }

  /**
   * A uniformly distributed integer in `[lo, hi]`.
   *
   * @param lo The smallest value.
   * @param hi The largest value.
   * @returns The integer.
   */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /**
   * A uniformly distributed number in `[lo, hi)`.
   *
   * @param lo The lower bound.
   * @param hi The upper bound.
   * @returns The number.
   */
  uniform(lo: number, hi: number): number {
    return lo + this.next() * (hi - lo);
  }

  /**
   * Draws `true` with probability `p`.
   *
   * @param p A probability in `[0, 1]`.
   * @returns The outcome.
   */
  chance(p: number): boolean {
    return p > 0 && this.next() < p;
  }

  /**
   * Picks one element.
   *
   * @typeParam T The element type.
   * @param items A non-empty array.
   * @returns One of its elements.
   */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("Cannot pick from an empty array");
    return items[this.int(items.length)]!;
  }

  /**
   * Shuffles a copy of an array (Fisher-Yates).
   *
   * @typeParam T The element type.
   * @param items The array.
   * @returns A shuffled copy.
   */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  /**
   * A new, independent generator seeded from this one.
   *
   * @returns The fork.
   */
  fork(): Prng {
    return new Prng(this.u32() ^ Math.imul(this.u32(), 0x9e3779b1));
  }
}

/**
 * A running 64-bit (two 32-bit lanes) FNV-1a style hash of a stream of
 * numbers and strings: the fingerprint of a run's trace, and of entries
 * and state machine states.
 */
export class Hasher {
  #a = 0x811c9dc5;
  #b = 0x01000193 ^ 0x5bd1e995;
  readonly #f64 = new Float64Array(1);
  readonly #u32 = new Uint32Array(this.#f64.buffer);

  /**
   * Mixes in a 32-bit integer.
   *
   * @param v The value (taken modulo 2^32).
   * @returns This hasher.
   */
  int(v: number): this {
    this.#a = Math.imul(this.#a ^ (v >>> 0), 0x01000193);
    this.#b = Math.imul(this.#b ^ ((v >>> 0) + 0x7f4a7c15), 0x5bd1e995);
    this.#b ^= this.#b >>> 13;
    return this;
  }

  /**
   * Mixes in any number, bit-exactly.
   *
   * @param v The number.
   * @returns This hasher.
   */
  num(v: number): this {
    if (Number.isInteger(v) && v >= 0 && v < 4294967296) return this.int(v);
    this.#f64[0] = v;
    return this.int(this.#u32[0]!).int(this.#u32[1]!);
  }

  /**
   * Mixes in a string (its length and UTF-16 code units).
   *
   * @param s The string.
   * @returns This hasher.
   */
  str(s: string): this {
    this.int(s.length);
    for (let i = 0; i < s.length; i++) this.int(s.charCodeAt(i));
    return this;
  }

  /**
   * Mixes in bytes (their length and values).
   *
   * @param b The bytes.
   * @returns This hasher.
   */
  bytes(b: Uint8Array): this {
    this.int(b.length);
    for (let i = 0; i < b.length; i++) this.int(b[i]!);
    return this;
  }

  /** The 32-bit digest of the first lane. */
  get value(): number {
    return (this.#a ^ (this.#b >>> 7)) >>> 0;
  }

  /** The 64-bit digest, as 16 hex digits. */
  get hex(): string {
    return (this.#a >>> 0).toString(16).padStart(8, "0") +
      (this.#b >>> 0).toString(16).padStart(8, "0");
  }
}

/**
 * A 32-bit hash of bytes.
 *
 * @param b The bytes.
 * @returns The hash.
 */
export function hashBytes(b: Uint8Array): number {
  let h = 0x811c9dc5 ^ b.length;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h >>> 0;
}
