/**
 * `RawNode`: the synchronous, single-threaded interface to a Raft node. The
 * application feeds it ticks, messages and proposals, and collects its work
 * in `Ready` batches.
 *
 * @module
 */

import { encodeConfChange } from "./codec.ts";
import { RaftInvariantError } from "./_assert.ts";
import { makeMessage } from "./_message.ts";
import {
  type ConfChangeError,
  RaftError,
  StepLocalMsgError,
  StepPeerNotFoundError,
} from "./errors.ts";
import { confChangeToMsg, type Config, Raft } from "./raft.ts";
import { type BasicStatus, getBasicStatus, getStatus, type Status } from "./status.ts";
import type { Progress } from "./tracker/progress.ts";
import {
  confChangeAsV2,
  type ConfChangeI,
  ConfChangeType,
  type ConfState,
  emptyBytes,
  type Entry,
  EntryType,
  type HardState,
  type Index,
  isEmptyHardState,
  isEmptySnap,
  LocalAppendThread,
  LocalApplyThread,
  type Message,
  MessageType,
  newMessage,
  type NodeId,
  None,
  type Ready,
  SnapshotStatus,
  type SoftState,
  StateType,
} from "./types.ts";
import { entsSize, isLocalMsg, isLocalMsgTarget, isResponseMsg } from "./util.ts";

/** A member of the initial cluster, for {@linkcode RawNode.bootstrap}. */
export interface Peer {
  /** The member's ID. */
  id: NodeId;
  /** Opaque context stored in the member's conf change entry. */
  context?: Uint8Array;
}

/** Whether a progress handed to a `withProgress` visitor is a voter's or a learner's. */
export const ProgressType = {
  /** A voter. */
  ProgressTypePeer: 0,
  /** A learner. */
  ProgressTypeLearner: 1,
} as const;
/** Whether a progress is a voter's or a learner's. */
export type ProgressType = typeof ProgressType[keyof typeof ProgressType];

/**
 * Whether a Ready must be synced to disk before its messages are sent: when
 * it has entries, or the term or vote changed (etcd's `MustSync`).
 *
 * @param st The new HardState.
 * @param prevst The previously persisted HardState.
 * @param entsnum The number of entries to persist.
 * @returns `true` when a synchronous write is needed.
 *
 * @example Usage
 * ```ts
 * import { mustSync } from "@raft-ts/raft";
 * const prev = { term: 1, vote: 1, commit: 4 };
 * if (mustSync({ term: 1, vote: 1, commit: 5 }, prev, 0)) throw new Error("commit alone needs no sync");
 * ```
 */
export function mustSync(st: HardState, prevst: HardState, entsnum: number): boolean {
  return entsnum !== 0 || st.vote !== prevst.vote || st.term !== prevst.term;
}

const emptyHardState: HardState = Object.freeze({ term: 0, vote: 0, commit: 0 });

// Set by RawNode's static initializer below.
let raftOfRawNode: (rn: RawNode) => Raft;

/**
 * The Raft state machine inside a RawNode, for test harnesses that reach
 * below the RawNode API as etcd's own tests do (for example to pin
 * `randomizedElectionTimeout`). Internal: not exported by the package's
 * entry points, and not a stable API.
 *
 * @param rn The node.
 * @returns Its Raft state machine.
 */
export function rawNodeRaft(rn: RawNode): Raft {
  return raftOfRawNode(rn);
}

/**
 * A Raft node driven synchronously by the application (etcd's `RawNode`).
 *
 * The loop: call `tick()` on a timer, `step(m)` for each message received,
 * `propose(data)` for new commands. Whenever `hasReady()`, take `ready()`,
 * persist its `hardState` and `entries` (and `snapshot`), send its
 * `messages`, apply its `committedEntries`, then call `advance()`.
 *
 * Not thread-safe; every method must be called from one logical thread.
 *
 * @example A single-node cluster that commits one proposal
 * ```ts
 * import {
 *   RawNode,
 *   MemoryStorage,
 *   isEmptyHardState,
 *   isEmptySnap,
 *   newConfState,
 *   newSnapshot,
 *   StateType,
 * } from "@raft-ts/raft";
 *
 * const storage = new MemoryStorage();
 * // Start from a snapshot that names the cluster's members.
 * storage.applySnapshot(newSnapshot({ index: 1, term: 1, confState: newConfState({ voters: [1] }) }));
 * const rn = new RawNode({ id: 1, electionTick: 10, heartbeatTick: 1, storage, applied: 1 });
 * rn.campaign();
 *
 * const applied: string[] = [];
 * let proposed = false;
 * for (let i = 0; i < 10 && applied.length === 0; i++) {
 *   if (!proposed && rn.basicStatus().raftState === StateType.StateLeader) {
 *     rn.propose(new TextEncoder().encode("hello"));
 *     proposed = true;
 *   }
 *   if (!rn.hasReady()) continue;
 *   const rd = rn.ready();
 *   if (!isEmptyHardState(rd.hardState)) storage.setHardState(rd.hardState);
 *   if (rd.snapshot !== undefined && !isEmptySnap(rd.snapshot)) storage.applySnapshot(rd.snapshot);
 *   storage.append(rd.entries);
 *   // A real application sends rd.messages to the peers here.
 *   for (const e of rd.committedEntries) {
 *     if (e.data.length > 0) applied.push(new TextDecoder().decode(e.data));
 *   }
 *   rn.advance();
 * }
 * if (applied[0] !== "hello") throw new Error("not applied");
 * ```
 */
export class RawNode {
  /** The Raft state machine. */
  readonly #raft: Raft;
  /** See {@linkcode Config.asyncStorageWrites}. */
  readonly asyncStorageWrites: boolean;
  /** The SoftState of the last accepted Ready. */
  #prevSoftSt: SoftState;
  /** The HardState of the last accepted Ready. */
  #prevHardSt: HardState;
  /** Self-addressed responses to step on the next `advance()` (sync mode only). */
  #stepsOnAdvance: Message[];

  static {
    raftOfRawNode = (rn: RawNode): Raft => rn.#raft;
  }

  /**
   * Creates a node from its configuration. The storage's initial state
   * (HardState, ConfState, entries) is loaded; to start a new cluster, put a
   * snapshot with the members' ConfState into the storage first (or call
   * {@linkcode RawNode.bootstrap}).
   *
   * @param config The configuration.
   * @throws {RangeError} When the configuration is invalid.
   * @throws {TypeError} When `storage` is missing.
   */
  constructor(config: Config) {
    const r = new Raft(config);
    this.#raft = r;
    this.asyncStorageWrites = config.asyncStorageWrites ?? false;
    this.#prevSoftSt = r.softState();
    this.#prevHardSt = r.hardState();
    this.#stepsOnAdvance = [];
  }

  /** Advances the logical clock by one tick. */
  tick(): void {
    this.#raft.tick();
  }

  /**
   * Advances the election clock without any other processing, for groups
   * known to be idle. Subverts the state machine; prefer `tick()`.
   *
   * @deprecated Kept for parity with etcd, which plans to remove it.
   */
  tickQuiesced(): void {
    this.#raft.electionElapsed++;
  }

  /**
   * Starts an election (steps a local MsgHup).
   *
   * @throws {RaftError} Never in practice; kept for symmetry with `step`.
   */
  campaign(): void {
    this.#raft.step(newMessage({ type: MessageType.MsgHup }));
  }

  /**
   * Proposes data to be appended to the log.
   *
   * @param data The command.
   * @throws {ProposalDroppedError} When the proposal was dropped (no leader,
   *   transfer in progress, size limit, ...).
   */
  propose(data: Uint8Array): void {
    this.#raft.step(
      makeMessage(MessageType.MsgProp, this.#raft.id, None, 0, 0, 0, [
        { term: 0, index: 0, type: EntryType.EntryNormal, data },
      ], 0),
    );
  }

  /**
   * Proposes a membership change. Once committed, the application applies
   * it with {@linkcode RawNode.applyConfChange}.
   *
   * @param cc The change, V1 or V2.
   * @throws {ProposalDroppedError} When the proposal was dropped.
   */
  proposeConfChange(cc: ConfChangeI): void {
    this.#raft.step(confChangeToMsg(cc));
  }

  /**
   * Applies a committed membership change to this node's configuration. The
   * application must call this for each conf change entry it applies
   * (unless it rejects the change).
   *
   * @param cc The change.
   * @returns The new ConfState, to store with snapshots.
   * @throws {RaftInvariantError} When the change cannot be applied.
   */
  applyConfChange(cc: ConfChangeI): ConfState {
    return this.#raft.applyConfChange(confChangeAsV2(cc));
  }

  /**
   * Checks a membership change against this node's configuration without
   * applying it: the result-returning counterpart of
   * {@linkcode RawNode.applyConfChange}, for an application that refuses
   * invalid changes (on every node alike) instead of stopping.
   *
   * @param cc The change.
   * @param cs The configuration to check against, for an application that
   *   applies changes in log order and checks each against the
   *   configuration it applied last; the active configuration by default.
   * @returns Why the change cannot be applied; `undefined` when it can.
   *
   * @example Refuse a change that would remove the last voter
   * ```ts
   * import {
   *   ConfChangeType,
   *   MemoryStorage,
   *   newConfChange,
   *   newConfState,
   *   newSnapshot,
   *   RawNode,
   * } from "@raft-ts/raft";
   *
   * const storage = new MemoryStorage();
   * storage.applySnapshot(newSnapshot({ index: 1, term: 1, confState: newConfState({ voters: [1] }) }));
   * const rn = new RawNode({ id: 1, electionTick: 10, heartbeatTick: 1, storage, applied: 1 });
   * const err = rn.checkConfChange(
   *   newConfChange({ type: ConfChangeType.ConfChangeRemoveNode, nodeId: 1 }),
   * );
   * if (err?.code !== "conf_change") throw new Error("expected a refusal");
   * ```
   */
  checkConfChange(cc: ConfChangeI, cs?: ConfState): ConfChangeError | undefined {
    return this.#raft.checkConfChange(confChangeAsV2(cc), cs);
  }

  /**
   * Whether the HardState (term, vote, commit) differs from the one of the
   * last accepted Ready, so that the next Ready carries one to persist.
   *
   * @returns `true` when the HardState changed.
   */
  hardStateChanged(): boolean {
    const r = this.#raft;
    const prev = this.#prevHardSt;
    return r.term !== prev.term || r.vote !== prev.vote || r.raftLog.committed !== prev.commit;
  }

  /**
   * Steps a message received from a peer (or from a local storage thread).
   *
   * @param m The message.
   * @throws {StepLocalMsgError} When `m` is a local message type not coming
   *   from a local storage thread.
   * @throws {StepPeerNotFoundError} When `m` is a response from a node that
   *   is not in the configuration.
   * @throws {ProposalDroppedError} When `m` is a proposal that was dropped.
   */
  step(m: Message): void {
    // Local messages arriving over the network are refused.
    if (isLocalMsg(m.type) && !isLocalMsgTarget(m.from)) throw new StepLocalMsgError();
    if (
      isResponseMsg(m.type) && !isLocalMsgTarget(m.from) && !this.#raft.trk.progress.has(m.from)
    ) {
      throw new StepPeerNotFoundError();
    }
    this.#raft.step(m);
  }

  /**
   * Returns the outstanding work and accepts it: the Ready must be handled
   * and (without async storage writes) followed by `advance()`.
   *
   * @returns The Ready.
   */
  ready(): Ready {
    const rd = this.readyWithoutAccept();
    this.acceptReady(rd);
    return rd;
  }

  /**
   * Builds a Ready without accepting it: nothing observable changes.
   *
   * @returns The Ready.
   */
  readyWithoutAccept(): Ready {
    const r = this.#raft;
    const prevSoft = this.#prevSoftSt;
    const prevHard = this.#prevHardSt;
    const hardSt = r.hardState();

    const rd: Ready = {
      softState: r.lead !== prevSoft.lead || r.state !== prevSoft.raftState
        ? r.softState()
        : undefined,
      hardState: hardSt.term !== prevHard.term || hardSt.vote !== prevHard.vote ||
          hardSt.commit !== prevHard.commit
        ? hardSt
        : { term: 0, vote: 0, commit: 0 },
      readStates: r.readStates.length !== 0 ? r.readStates : [],
      entries: r.raftLog.nextUnstableEnts(),
      snapshot: r.raftLog.hasNextUnstableSnapshot() ? r.raftLog.nextUnstableSnapshot() : undefined,
      committedEntries: r.raftLog.nextCommittedEnts(this.applyUnstableEntries()),
      messages: r.msgs,
      mustSync: false,
    };
    rd.mustSync = mustSync(hardSt, prevHard, rd.entries.length);

    if (this.asyncStorageWrites) {
      // Persistence and application become messages to the local threads.
      if (this.needStorageAppendMsg(rd)) {
        rd.messages = rd.messages.slice();
        rd.messages.push(this.newStorageAppendMsg(rd));
      }
      if (rd.committedEntries.length > 0) {
        if (rd.messages === r.msgs) rd.messages = rd.messages.slice();
        rd.messages.push(this.newStorageApplyMsg(rd));
      }
    } else {
      // The messages that wait for persistence go out with this Ready: the
      // contract is that Messages are sent after Entries are durable. The
      // self-addressed ones are stepped on advance() instead.
      const after = r.msgsAfterAppend;
      for (let i = 0; i < after.length; i++) {
        const m = after[i]!;
        if (m.to === r.id) continue;
        if (rd.messages === r.msgs) rd.messages = rd.messages.slice();
        rd.messages.push(m);
      }
    }
    return rd;
  }

  /** Whether anything must be persisted, or messages wait for persistence. */
  private needStorageAppendMsg(rd: Ready): boolean {
    return rd.entries.length > 0 || !isEmptyHardState(rd.hardState) || !isEmptySnap(rd.snapshot) ||
      this.#raft.msgsAfterAppend.length > 0;
  }

  /**
   * Whether Raft must hear that entries are stable or a snapshot applied.
   * Uses all unstable entries, not only this Ready's: see
   * `newStorageAppendRespMsg`.
   */
  private needStorageAppendRespMsg(rd: Ready): boolean {
    return this.#raft.raftLog.hasNextOrInProgressUnstableEnts() || !isEmptySnap(rd.snapshot);
  }

  /** The message asking the append thread to persist a Ready's state. */
  private newStorageAppendMsg(rd: Ready): Message {
    const r = this.#raft;
    const m = newMessage({
      type: MessageType.MsgStorageAppend,
      to: LocalAppendThread,
      from: r.id,
      entries: rd.entries,
    });
    if (!isEmptyHardState(rd.hardState)) {
      // Unchanged HardState leaves the fields unset, so that the HardState
      // rebuilt from them is empty.
      m.term = rd.hardState.term;
      m.vote = rd.hardState.vote;
      m.commit = rd.hardState.commit;
    }
    if (!isEmptySnap(rd.snapshot)) m.snapshot = rd.snapshot;
    // Responses go out once the write is done. The self MsgAppResp must come
    // before the MsgStorageAppendResp, while the entries are still in the
    // unstable log (a cheaper term lookup).
    const responses = r.msgsAfterAppend.slice();
    if (this.needStorageAppendRespMsg(rd)) responses.push(this.newStorageAppendRespMsg(rd));
    m.responses = responses;
    return m;
  }

  /**
   * The response that tells Raft that the unstable state handed out so far
   * is durable.
   *
   * It attests the last entry of the whole unstable log, not only this
   * Ready's, and carries the current term: a response from an older term is
   * ignored, because entries written then may have been overwritten since
   * (an ABA race between overlapping appends). Since every term change
   * produces an append message, some response eventually gets through and
   * the unstable log is trimmed.
   */
  private newStorageAppendRespMsg(rd: Ready): Message {
    const r = this.#raft;
    const m = makeMessage(
      MessageType.MsgStorageAppendResp,
      LocalAppendThread,
      r.id,
      r.term,
      0,
      0,
      undefined,
      0,
    );
    if (r.raftLog.hasNextOrInProgressUnstableEnts()) {
      const last = r.raftLog.lastEntryId();
      m.index = last.index;
      m.logTerm = last.term;
    }
    if (!isEmptySnap(rd.snapshot)) m.snapshot = rd.snapshot;
    return m;
  }

  /** The message asking the apply thread to apply committed entries. */
  private newStorageApplyMsg(rd: Ready): Message {
    const ents = rd.committedEntries;
    return newMessage({
      type: MessageType.MsgStorageApply,
      to: LocalApplyThread,
      from: this.#raft.id,
      term: 0, // Committed entries are not applied under a term.
      entries: ents,
      responses: [this.newStorageApplyRespMsg(ents)],
    });
  }

  /** The response that tells Raft that committed entries are applied. */
  private newStorageApplyRespMsg(ents: Entry[]): Message {
    return makeMessage(
      MessageType.MsgStorageApplyResp,
      LocalApplyThread,
      this.#raft.id,
      0,
      0,
      0,
      ents,
      0,
    );
  }

  /**
   * Records that the application took a Ready: remembers its states,
   * clears the outboxes and read states, marks entries and snapshot as in
   * progress and committed entries as applying, and (sync mode) queues the
   * self-responses for `advance()`.
   *
   * @param rd The Ready just built; nothing may change the node in between.
   */
  acceptReady(rd: Ready): void {
    const r = this.#raft;
    if (rd.softState !== undefined) this.#prevSoftSt = rd.softState;
    if (!isEmptyHardState(rd.hardState)) this.#prevHardSt = rd.hardState;
    if (rd.readStates.length !== 0) r.readStates = [];
    if (!this.asyncStorageWrites) {
      if (this.#stepsOnAdvance.length !== 0) {
        const msg = "two accepted Ready structs without call to Advance";
        r.logger.panic(msg);
        throw new RaftInvariantError(msg);
      }
      const after = r.msgsAfterAppend;
      for (let i = 0; i < after.length; i++) {
        const m = after[i]!;
        if (m.to === r.id) this.#stepsOnAdvance.push(m);
      }
      if (this.needStorageAppendRespMsg(rd)) {
        this.#stepsOnAdvance.push(this.newStorageAppendRespMsg(rd));
      }
      if (rd.committedEntries.length > 0) {
        this.#stepsOnAdvance.push(this.newStorageApplyRespMsg(rd.committedEntries));
      }
    }
    r.msgs = [];
    r.msgsAfterAppend = [];
    r.raftLog.acceptUnstable();
    const ents = rd.committedEntries;
    if (ents.length > 0) {
      const index = ents[ents.length - 1]!.index;
      r.raftLog.acceptApplying(index, entsSize(ents), this.applyUnstableEntries());
    }
  }

  /**
   * Whether committed entries may be applied before they are durable
   * locally: yes, except with async storage writes.
   *
   * @returns `!asyncStorageWrites`.
   */
  applyUnstableEntries(): boolean {
    return !this.asyncStorageWrites;
  }

  /**
   * Whether a Ready with work is pending.
   *
   * @returns `true` when `ready()` would return work.
   */
  hasReady(): boolean {
    const r = this.#raft;
    const ps = this.#prevSoftSt;
    if (r.lead !== ps.lead || r.state !== ps.raftState) return true;
    const ph = this.#prevHardSt;
    const commit = r.raftLog.committed;
    if (
      !(r.term === 0 && r.vote === 0 && commit === 0) &&
      (r.term !== ph.term || r.vote !== ph.vote || commit !== ph.commit)
    ) {
      return true;
    }
    if (r.raftLog.hasNextUnstableSnapshot()) return true;
    if (r.msgs.length > 0 || r.msgsAfterAppend.length > 0) return true;
    if (
      r.raftLog.hasNextUnstableEnts() || r.raftLog.hasNextCommittedEnts(this.applyUnstableEntries())
    ) {
      return true;
    }
    return r.readStates.length !== 0;
  }

  /**
   * Tells the node that the last Ready was persisted and applied: steps the
   * self-addressed responses it carried (a candidate's own vote, a leader's
   * own append acknowledgement, the stability and application notices).
   * Must not be called with async storage writes.
   *
   * @param _rd The Ready (unused; accepted for compatibility).
   * @throws {RaftInvariantError} With async storage writes.
   */
  advance(_rd?: Ready): void {
    const r = this.#raft;
    if (this.asyncStorageWrites) {
      const msg = "Advance must not be called when using AsyncStorageWrites";
      r.logger.panic(msg);
      throw new RaftInvariantError(msg);
    }
    const steps = this.#stepsOnAdvance;
    this.#stepsOnAdvance = [];
    for (let i = 0; i < steps.length; i++) {
      try {
        r.step(steps[i]!);
      } catch (e) {
        if (!(e instanceof RaftError)) throw e;
      }
    }
  }

  /**
   * The node's status, with copies of its configuration and (on a leader)
   * progress map. Allocates; see `basicStatus()` and `withProgress()`.
   *
   * @returns The status.
   */
  status(): Status {
    return getStatus(this.#raft);
  }

  /**
   * The node's basic status, without the progress map.
   *
   * @returns The basic status.
   */
  basicStatus(): BasicStatus {
    return getBasicStatus(this.#raft);
  }

  /**
   * The index of the last entry in the node's log, counting the entries
   * not yet persisted (etcd's `raftLog.lastIndex()`; not part of etcd's
   * `RawNode`, which has no status field for it). Allocates nothing.
   *
   * @returns The last index: at least the snapshot's index.
   *
   * @example Usage
   * ```ts
   * import { RawNode, MemoryStorage, newEntry } from "@raft-ts/raft";
   * const storage = new MemoryStorage();
   * storage.append([newEntry({ term: 1, index: 1 }), newEntry({ term: 1, index: 2 })]);
   * const rn = new RawNode({ id: 1, electionTick: 10, heartbeatTick: 1, storage });
   * if (rn.lastIndex() !== 2) throw new Error("unexpected");
   * ```
   */
  lastIndex(): Index {
    return this.#raft.raftLog.lastIndex();
  }

  /**
   * Visits the progress of this node and its peers, in ascending ID order,
   * without copying. The visitor must not modify the progress.
   *
   * @param visitor Called with each ID, its type and its progress.
   */
  withProgress(visitor: (id: NodeId, typ: ProgressType, pr: Readonly<Progress>) => void): void {
    const prs = this.#raft.trk.progress;
    const ids = prs.sortedIds();
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const pr = prs.get(id)!;
      visitor(
        id,
        pr.isLearner ? ProgressType.ProgressTypeLearner : ProgressType.ProgressTypePeer,
        pr,
      );
    }
  }

  /**
   * Reports that the last message to a peer could not be delivered.
   *
   * @param id The peer.
   */
  reportUnreachable(id: NodeId): void {
    this.stepIgnoringErrors(newMessage({ type: MessageType.MsgUnreachable, from: id }));
  }

  /**
   * Reports the outcome of sending a snapshot to a peer.
   *
   * @param id The peer.
   * @param status `SnapshotFinish` or `SnapshotFailure`.
   */
  reportSnapshot(id: NodeId, status: SnapshotStatus): void {
    this.stepIgnoringErrors(newMessage({
      type: MessageType.MsgSnapStatus,
      from: id,
      reject: status === SnapshotStatus.SnapshotFailure,
    }));
  }

  /**
   * Asks the leader to hand leadership to a peer.
   *
   * @param transferee The peer.
   */
  transferLeader(transferee: NodeId): void {
    this.stepIgnoringErrors(newMessage({ type: MessageType.MsgTransferLeader, from: transferee }));
  }

  /**
   * Makes a follower forget its leader, so that it grants votes at once
   * (useful when the application knows the leader is gone). Refused under
   * lease-based reads; no effect on leaders and candidates.
   */
  forgetLeader(): void {
    this.#raft.step(newMessage({ type: MessageType.MsgForgetLeader }));
  }

  /**
   * Restarts the election clock, as if the leader had just been heard from,
   * for a driver that stopped ticking an idle group (quiescence) and ticks
   * it again. A leader also starts a fresh quorum check: every peer counts
   * as inactive until heard from, and CheckQuorum runs a whole election
   * timeout later. With `forgetLeader`, a follower also forgets its leader
   * (whatever the read option), so that it grants (pre-)votes at once: for
   * a driver that knows the leader is gone.
   *
   * @param forgetLeader Whether a follower forgets its leader.
   *
   * @example Usage
   * ```ts
   * import { MemoryStorage, newConfState, newSnapshot, RawNode } from "@raft-ts/raft";
   * const storage = new MemoryStorage();
   * storage.applySnapshot(newSnapshot({ index: 1, term: 1, confState: newConfState({ voters: [1, 2] }) }));
   * const rn = new RawNode({ id: 1, electionTick: 10, heartbeatTick: 1, storage, applied: 1 });
   * rn.resetElectionClock(true);
   * if (rn.basicStatus().lead !== 0) throw new Error("unexpected");
   * ```
   */
  resetElectionClock(forgetLeader = false): void {
    const r = this.#raft;
    r.electionElapsed = 0;
    if (r.state === StateType.StateLeader) {
      r.heartbeatElapsed = 0;
      for (const [id, pr] of r.trk.progress) {
        if (id !== r.id) pr.recentActive = false;
      }
    } else if (forgetLeader && r.state === StateType.StateFollower) {
      r.lead = None;
    }
  }

  /**
   * Requests a linearizable read point. The answer arrives as a ReadState
   * with the same context in a later Ready; reads are safe once the applied
   * index reaches its index.
   *
   * @param rctx A context that identifies the request.
   */
  readIndex(rctx: Uint8Array): void {
    this.stepIgnoringErrors(newMessage({
      type: MessageType.MsgReadIndex,
      entries: [{ term: 0, index: 0, type: EntryType.EntryNormal, data: rctx }],
    }));
  }

  /** Steps a message straight into Raft, ignoring expected errors (etcd's `_ = rn.raft.Step(m)`). */
  private stepIgnoringErrors(m: Message): void {
    try {
      this.#raft.step(m);
    } catch (e) {
      if (!(e instanceof RaftError)) throw e;
    }
  }

  /**
   * Initializes an empty storage's log with a conf change entry adding each
   * peer, committed and applied to the configuration (etcd's `Bootstrap`).
   * Setting up a storage with a snapshot that holds the ConfState is the
   * recommended alternative.
   *
   * @param peers The initial members.
   * @throws {RangeError} When `peers` is empty or the storage is not empty.
   */
  bootstrap(peers: readonly Peer[]): void {
    if (peers.length === 0) {
      throw new RangeError("Cannot bootstrap RawNode as 'peers' must not be empty");
    }
    const r = this.#raft;
    const lastIndex = r.raftLog.storage.lastIndex();
    if (lastIndex !== 0) {
      throw new RangeError(
        `Cannot bootstrap RawNode as the storage must be empty: current last index ${lastIndex}`,
      );
    }

    // Nothing is persisted yet: the first Ready carries the HardState.
    this.#prevHardSt = emptyHardState;

    r.becomeFollower(1, None);
    const ents = new Array<Entry>(peers.length);
    for (let i = 0; i < peers.length; i++) {
      const peer = peers[i]!;
      const data = encodeConfChange({
        type: ConfChangeType.ConfChangeAddNode,
        nodeId: peer.id,
        context: peer.context ?? emptyBytes,
        id: 0,
      });
      ents[i] = { term: 1, index: i + 1, type: EntryType.EntryConfChange, data };
    }
    r.raftLog.append(ents);

    // Commit them, and apply them to the configuration now so that the
    // application can campaign at once. They are still handed out as
    // committed entries (applied stays 0), so the application applies them
    // a second time, harmlessly.
    r.raftLog.committed = ents.length;
    for (const peer of peers) {
      r.applyConfChange({
        transition: 0,
        changes: [{ type: ConfChangeType.ConfChangeAddNode, nodeId: peer.id }],
        context: emptyBytes,
      });
    }
  }
}
