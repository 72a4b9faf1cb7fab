/**
 * Invariant checks. A failed assertion means a bug in raft-ts or a broken
 * contract by its caller (for example a storage that lost entries); it
 * throws {@linkcode RaftInvariantError}, which nothing should catch.
 *
 * @module
 */

/** Thrown when an invariant is broken. Never caught inside raft-ts. */
export class RaftInvariantError extends Error {
  /** Literal code for programmatic checks. */
  readonly code = "invariant" as const;
  /**
   * Creates the error.
   *
   * @param message What was expected and what was found.
   */
  constructor(message: string) {
    super(message);
    this.name = "RaftInvariantError";
  }
}

/**
 * Asserts that a condition holds.
 *
 * @param cond The condition.
 * @param message What is broken, when it does not hold.
 * @throws {RaftInvariantError} When `cond` is false.
 */
export function assert(cond: boolean, message = "assertion failed"): asserts cond {
  if (!cond) throw new RaftInvariantError(message);
}
