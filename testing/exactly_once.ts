/**
 * The simulator's exactly-once workload: besides the workload's own
 * clients, a few clients open client sessions (`RaftNode.openSession()`)
 * through whichever node they reach, with proposal forwarding on, and
 * append unique tokens to a few keys with a non-idempotent command. An
 * attempt whose outcome is unknown (a timeout, a leader change, a crashed
 * node) is retried with the same sequence number, on the same node or
 * another, across duplicated and reordered messages, snapshot installs
 * and session evictions. At the end, every replica must hold the same
 * tokens; every acknowledged append must be there exactly once (at the
 * position its result named) and every other one at most once.
 *
 * @module
 */

import type { RaftNode, RequestOptions, SessionLimits } from "../core/node.ts";
import { encodeKvCommand, type KvResult, type KvStateMachine } from "./kv_state_machine.ts";

/**
 * How the exactly-once clients reach a node: open a session, propose
 * command `seq` of a session (one attempt; the client retries with the
 * same `seq`), close a session. The default uses the node's client
 * sessions; replace it to run a client library of your own through the
 * simulator.
 *
 * @typeParam R The state machine's result.
 */
export interface SessionClient<R> {
  /**
   * Opens a session through `node`.
   *
   * @param node The node the client reached.
   * @param options The request's timeout.
   * @returns The session's ID.
   */
  open(node: RaftNode<R>, options: RequestOptions): Promise<number>;
  /**
   * Proposes command `seq` of session `session` through `node`.
   *
   * @param node The node the client reached.
   * @param session The session's ID.
   * @param seq The command's sequence number (the same for every retry).
   * @param data The command.
   * @param options The attempt's timeout.
   * @returns The command's result.
   */
  propose(
    node: RaftNode<R>,
    session: number,
    seq: number,
    data: Uint8Array,
    options: RequestOptions,
  ): Promise<R>;
  /**
   * Closes session `session` through `node`.
   *
   * @param node The node the client reached.
   * @param session The session's ID.
   * @param nextSeq The sequence number after the session's last command.
   * @param options The request's timeout.
   * @returns Nothing, once closed.
   */
  close(
    node: RaftNode<R>,
    session: number,
    nextSeq: number,
    options: RequestOptions,
  ): Promise<void>;
}

/**
 * What the exactly-once workload needs from a state machine: a command
 * that appends a token to a key, and the tokens a key holds.
 *
 * @typeParam S The state machine.
 * @typeParam R Its result.
 */
export interface ExactlyOnceSetup<S, R> {
  /**
   * The command that appends `token` to `key`; applied twice, it must
   * append twice.
   *
   * @param key The key.
   * @param token A unique token without spaces, such as `2.17`.
   * @returns The command's bytes.
   */
  append(key: string, token: string): Uint8Array;
  /**
   * The tokens appended to `key`, in order.
   *
   * @param stateMachine A replica.
   * @param key The key.
   * @returns The tokens.
   */
  tokens(stateMachine: S, key: string): readonly string[];
  /**
   * Where an append's result says its token is (1 for the first), to
   * check that a retry got the first attempt's answer.
   * Omitted: results are not checked.
   *
   * @param result The append's result.
   * @returns The position, or `undefined` when the result does not say.
   */
  position?(result: R): number | undefined;
  /**
   * How the clients reach the nodes.
   * @default {the nodes' client sessions}
   */
  client?: SessionClient<R>;
}

/** What a seed draws for the exactly-once workload. */
export interface ExactlyOnceProfile {
  /** Appending clients. */
  clients: number;
  /** Keys appended to (`a0`, `a1`, ...). */
  keys: number;
  /** Maximum pause between two appends of a client, in ms. */
  thinkMs: number;
  /** A client closes its session and opens another after this many appends; 0: never. */
  reopenEvery: number;
  /** The nodes' session table bounds (small ones evict and expire sessions). */
  sessionLimits: SessionLimits;
}

/** Counters and verdict of the exactly-once workload. */
export interface ExactlyOnceStats {
  /** Appends started. */
  commands: number;
  /** Appends acknowledged (a result, or `session_stale`: applied, result not kept). */
  acknowledged: number;
  /** Appends whose outcome the client does not know (timed out, or refused after an unknown attempt). */
  unacknowledged: number;
  /** Of those, refused because their session expired or was evicted. */
  refused: number;
  /** Unacknowledged appends found applied (once). */
  unacknowledgedApplied: number;
  /** Appends never sent (no session could be opened in time). */
  notSent: number;
  /** Proposal attempts, first ones included. */
  attempts: number;
  /** Appends attempted more than once. */
  retried: number;
  /**
   * Committed log entries that repeat an applied append's session and
   * sequence number (a retry, or a duplicated forwarded message, whose
   * earlier copy had applied): each answered from the session table.
   */
  deduplicated: number;
  /** Appends with at least one such deduplicated copy. */
  deduplicatedCommands: number;
  /** Committed entries that repeat another's idempotency key (the key-value clients' writes). */
  keyDeduplicated: number;
  /** Tokens found more than once (must be 0). */
  doubleApplications: number;
  /** Sessions opened. */
  sessionsOpened: number;
  /** Sessions closed by their client. */
  sessionsClosed: number;
}

/**
 * The exactly-once workload on {@linkcode KvStateMachine}: its `append`
 * command, a key's value split on spaces, and the position an append's
 * result names.
 *
 * @example Run a seed with the exactly-once workload
 * ```ts
 * import { kvExactlyOnce, kvSimulation, runSimulation } from "@raft-ts/raft/testing";
 *
 * const r = await runSimulation({
 *   ...kvSimulation,
 *   exactlyOnce: kvExactlyOnce,
 *   seed: 2,
 *   steps: 1000,
 * });
 * if (!r.ok) throw new Error(r.violation?.message);
 * if (r.stats.exactlyOnce?.doubleApplications !== 0) throw new Error("applied twice");
 * ```
 */
export const kvExactlyOnce: ExactlyOnceSetup<KvStateMachine, KvResult> = {
  append: (key, token) => encodeKvCommand({ op: "append", key, value: token }),
  tokens: (sm, key) => sm.get(key)?.split(" ") ?? [],
  position: (r) => r.length,
};
