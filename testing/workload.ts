/**
 * What the simulator's clients run: a {@linkcode Workload} draws each
 * client's next operation from the run's seed and says how it is carried
 * out, as a proposal (a write) or a linearizable read of the local state
 * machine.
 *
 * @module
 */

/**
 * The seeded randomness a workload draws from (one per client, forked from
 * the run's seed). Draw every random choice from it, never from
 * `Math.random`, so that a seed replays its run.
 */
export interface SimRand {
  /**
   * A number in `[0, 1)`.
   *
   * @returns The number.
   */
  next(): number;
  /**
   * An integer in `[0, n)`.
   *
   * @param n The exclusive bound, at least 1.
   * @returns The integer.
   */
  int(n: number): number;
  /**
   * An integer in `[lo, hi]`.
   *
   * @param lo The smallest value.
   * @param hi The largest value.
   * @returns The integer.
   */
  range(lo: number, hi: number): number;
  /**
   * A number in `[lo, hi)`.
   *
   * @param lo The lower bound.
   * @param hi The upper bound.
   * @returns The number.
   */
  uniform(lo: number, hi: number): number;
  /**
   * True with probability `p`.
   *
   * @param p The probability.
   * @returns The outcome.
   */
  chance(p: number): boolean;
  /**
   * One of `items`, uniformly.
   *
   * @param items A non-empty list.
   * @returns The item.
   */
  pick<T>(items: readonly T[]): T;
}

/**
 * How a client carries out one operation: `propose` a command (a write;
 * `output` turns the state machine's result into what the client saw), or
 * `read` the state machine of the node that answers, after a linearizable
 * read barrier (`RaftNode.read()`); the read must not change the state.
 */
export type WorkloadRequest<S, R, O> =
  | {
    /** The command's bytes, as the state machine's `apply` decodes them. */
    readonly propose: Uint8Array;
    /**
     * What the client saw, from the command's result.
     *
     * @param result The state machine's result for the command.
     * @returns The output recorded in the history.
     */
    readonly output: (result: R) => O;
  }
  | {
    /**
     * Reads the local state machine.
     *
     * @param stateMachine The answering node's state machine.
     * @returns The output recorded in the history.
     */
    readonly read: (stateMachine: S) => O;
  };

/** The load a run's seed draws, handed to the workload factory. */
export interface WorkloadShape {
  /** Concurrent clients (IDs 1..clients). */
  readonly clients: number;
  /** A key-space size in `[1, 6]`: few keys means more contention. */
  readonly keys: number;
  /** A share of reads in `[0.2, 0.5)`. */
  readonly readShare: number;
}

/**
 * A client workload for the simulator: a seeded generator of operations
 * with input type `I` and output type `O`, over a state machine `S` whose
 * results have type `R`. One is created per run (see
 * `SimulateOptions.workload`), so it may keep per-client state.
 */
export interface Workload<S, R, I, O> {
  /**
   * Draws a client's next operation.
   *
   * @param rand The client's randomness.
   * @param client The client's ID, from 1.
   * @returns The operation's input (recorded in the history).
   */
  next(rand: SimRand, client: number): I;
  /**
   * How to carry out an operation.
   *
   * @param input An input from `next` or `probe`.
   * @returns A proposal or a read.
   */
  request(input: I): WorkloadRequest<S, R, O>;
  /**
   * Told when a client's operation returned (not when its outcome is
   * unknown), for workloads that draw from what a client saw.
   *
   * @param client The client's ID.
   * @param input The operation.
   * @param output What the client saw.
   */
  done?(client: number, input: I, output: O): void;
  /**
   * A write for the liveness check after the faults heal (client 0). Its
   * request must be a proposal.
   * Omitted: operations are drawn with `next` until one is a proposal.
   *
   * @param attempt 1 for the first try, then 2, 3, ...
   * @returns The operation's input.
   */
  probe?(attempt: number): I;
}
