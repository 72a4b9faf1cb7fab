/**
 * A small seedable pseudo-random number generator. Raft draws its randomized
 * election timeouts from an injected `rand: () => number`; when none is given
 * it uses one of these, seeded from the node ID, so that the core never
 * touches a global source of randomness and every run can be replayed.
 *
 * @module
 */

/**
 * Creates a seeded generator of numbers in `[0, 1)` (SplitMix32: a 32-bit
 * state advanced by a Weyl sequence and scrambled by a multiply-xorshift
 * finalizer). It is fast and well distributed, but not cryptographically
 * secure; use it for timeouts and simulations only.
 *
 * @param seed Any number; only its low 32 bits (after truncation) are used.
 *   Fractions and values beyond 2^32 are folded into 32 bits.
 * @returns A function that returns the next number in `[0, 1)` on each call.
 *
 * @example Same seed, same sequence
 * ```ts
 * import { newRand } from "@raft-ts/raft";
 * const a = newRand(42);
 * const b = newRand(42);
 * const x = a();
 * if (x !== b() || x < 0 || x >= 1) throw new Error("unexpected");
 * ```
 */
export function newRand(seed: number): () => number {
  let state = foldSeed(seed);
  return function next(): number {
    state = (state + 0x9e3779b9) | 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
    z = z ^ (z >>> 15);
    return (z >>> 0) / 4294967296;
  };
}

/** Folds any number into a 32-bit integer seed. */
function foldSeed(seed: number): number {
  if (!Number.isFinite(seed)) return 0;
  const t = Math.trunc(seed);
  const lo = t % 4294967296;
  const hi = Math.trunc(t / 4294967296);
  return (lo ^ Math.imul(hi, 0x85ebca6b)) | 0;
}

/**
 * Returns a uniformly distributed integer in `[0, n)` from a generator.
 *
 * @param rand A generator of numbers in `[0, 1)`.
 * @param n The exclusive upper bound; a positive safe integer.
 * @returns An integer in `[0, n)`.
 * @throws {RangeError} When `n` is not a positive safe integer.
 *
 * @example Usage
 * ```ts
 * import { newRand, randomIntN } from "./rand.ts";
 * const v = randomIntN(newRand(1), 10);
 * if (v < 0 || v >= 10 || !Number.isInteger(v)) throw new Error("unexpected");
 * ```
 */
export function randomIntN(rand: () => number, n: number): number {
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw new RangeError(
      `Cannot draw a random integer as 'n' must be a positive integer: current value ${n}`,
    );
  }
  const v = Math.floor(rand() * n);
  // Guard against a generator that returns exactly 1 (or more).
  return v >= n ? n - 1 : v < 0 ? 0 : v;
}
