/**
 * `ClientSession`: a client's handle on a replicated session (Raft thesis
 * §6.3), whose commands apply once each however often they are retried.
 *
 * @module
 */

import { LeaderChangedError, ProposalDroppedError, RaftError, TimeoutError } from "../errors.ts";
import type { RequestOptions } from "./options.ts";

/** What a session needs from its node. */
export interface SessionHost<R> {
  /** The node's default request timeout, in ms. */
  readonly requestTimeoutMs: number;
  /** The node's clock, in ms (its ticks). */
  nowMs(): number;
  /** Resolves after `ms` ms of the node's scheduler. */
  delay(ms: number): Promise<void>;
  /** Proposes command `seq` of session `id` once (one attempt). */
  proposeInSession(
    id: number,
    seq: number,
    ackBelow: number,
    data: Uint8Array,
    options: RequestOptions,
  ): Promise<R>;
  /** Ends session `id` (one attempt). */
  endSession(id: number, options: RequestOptions): Promise<void>;
}

/** Errors after which an attempt's outcome is unknown or nothing was applied: retried. */
function retryable(e: unknown): boolean {
  return e instanceof TimeoutError || e instanceof LeaderChangedError ||
    e instanceof ProposalDroppedError || (e instanceof RaftError && e.code === "busy");
}

/**
 * A client session: each command gets the next sequence number, and an
 * attempt whose outcome is unknown (timed out, leader changed, dropped) is
 * retried with the same number until the command's own timeout, so the
 * state machine applies it once and every retry returns the first result.
 * The node's session table keeps the results the session has not yet
 * seen; each command tells it which ones it has.
 *
 * Open one with {@linkcode RaftNode.openSession}. On a follower, sessions
 * need `forwardProposals` (or the commands fail with `NotLeaderError`).
 *
 * @typeParam R The result of applying one command.
 *
 * @example Exactly once across retries
 * ```ts
 * import { MemoryStorage, RaftNode, type StateMachine } from "@raft-ts/raft";
 *
 * let counter = 0;
 * const sm: StateMachine<number> = {
 *   apply: (cmds) => cmds.map(() => ++counter),
 *   snapshot: () => new Uint8Array([counter]),
 *   restore: (d) => void (counter = d[0] ?? 0),
 * };
 * const node = await RaftNode.start({
 *   id: 1,
 *   peers: [1],
 *   storage: new MemoryStorage(),
 *   transport: { start() {}, send() {}, close() {} },
 *   stateMachine: sm,
 *   tickMs: 5,
 * });
 * await node.waitForLeader();
 * const session = await node.openSession();
 * const first = await session.propose(new TextEncoder().encode("incr"));
 * await session.close();
 * await node.close();
 * if (first !== 1 || counter !== 1) throw new Error("unexpected");
 * ```
 */
export class ClientSession<R> {
  readonly #host: SessionHost<R>;
  readonly #id: number;
  #nextSeq = 1;
  /** Sequence numbers whose outcome this client has not seen yet. */
  readonly #outstanding = new Set<number>();
  #closed = false;

  /**
   * Wraps a registered session; use {@linkcode RaftNode.openSession}.
   *
   * @param host The node.
   * @param id The session's ID (the index of the entry that registered it).
   * @param nextSeq The sequence number of its next command.
   */
  constructor(host: SessionHost<R>, id: number, nextSeq = 1) {
    this.#host = host;
    this.#id = id;
    this.#nextSeq = nextSeq;
  }

  /** The sequence number the next command gets (to resume the session elsewhere). */
  get nextSeq(): number {
    return this.#nextSeq;
  }

  /** The session's ID: the log index of the entry that registered it. */
  get id(): number {
    return this.#id;
  }

  /** The lowest sequence number whose result this client has not seen. */
  #ackBelow(): number {
    let low = this.#nextSeq;
    for (const s of this.#outstanding) if (s < low) low = s;
    return low;
  }

  /**
   * Proposes a command in this session. Resolves with the state machine's
   * result once applied, on the first attempt or a retry: the command
   * applies once.
   *
   * @param data The command.
   * @param options The command's timeout, across every attempt.
   * @returns The result of applying the command.
   * @throws {SessionError} The session expired or was evicted
   *   (`session_expired`: an earlier attempt may have applied), or holds
   *   too many unacknowledged results (`session_busy`).
   * @throws {TimeoutError} No outcome in time; the command may still apply
   *   once, never twice.
   * @throws {NotLeaderError} This node is a follower and does not forward proposals.
   * @throws {NodeClosedError} The node is closed.
   * @throws {RangeError} The session is closed.
   */
  async propose(data: Uint8Array, options: RequestOptions = {}): Promise<R> {
    if (this.#closed) throw new RangeError(`Cannot propose: session ${this.#id} is closed`);
    const seq = this.#nextSeq++;
    this.#outstanding.add(seq);
    const host = this.#host;
    const totalMs = options.timeoutMs ?? host.requestTimeoutMs;
    const deadline = host.nowMs() + totalMs;
    try {
      for (let attempt = 0;; attempt++) {
        const leftMs = deadline - host.nowMs();
        try {
          return await host.proposeInSession(this.#id, seq, this.#ackBelow(), data, {
            timeoutMs: Math.max(1, Math.min(host.requestTimeoutMs, leftMs)),
          });
        } catch (e) {
          if (!retryable(e) || host.nowMs() >= deadline) throw e;
          // An attempt that failed early (leader changed, dropped during a
          // transfer) is retried after a pause that grows, up to 100 ms.
          if (!(e instanceof TimeoutError)) await host.delay(Math.min(100, 5 * 2 ** attempt));
        }
      }
    } finally {
      this.#outstanding.delete(seq);
    }
  }

  /**
   * Ends the session: the node drops its results. Idempotent.
   *
   * @param options The request's timeout.
   * @returns Nothing, once the session is ended.
   */
  async close(options: RequestOptions = {}): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#host.endSession(this.#id, options);
  }
}
