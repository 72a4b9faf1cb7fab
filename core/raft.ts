/**
 * The Raft state machine: elections, log replication, membership changes,
 * leadership transfer and ReadIndex, as a pure, synchronous object. It never
 * performs I/O: it reads its log through a `Storage`, and everything it wants
 * done (persist, send, apply) leaves through two outboxes that `RawNode`
 * turns into `Ready` batches.
 *
 * Most applications use {@linkcode RawNode} (or the driver in `node.ts`)
 * rather than this class, which is exported for harnesses and tools.
 *
 * @module
 */

import { RaftInvariantError } from "./_assert.ts";
import { makeMessage } from "./_message.ts";
import { Changer } from "./confchange/confchange.ts";
import { restore as restoreConfig } from "./confchange/restore.ts";
import { decodeConfChange, decodeConfChangeV2, marshalConfChange } from "./codec.ts";
import { describeConfChange, describeConfState } from "./describe.ts";
import {
  CompactedError,
  ConfChangeError,
  ProposalDroppedError,
  RaftError,
  SnapshotTemporarilyUnavailableError,
  UnavailableError,
} from "./errors.ts";
import { discardLogger, type Logger } from "./logger.ts";
import { VoteResult } from "./quorum/quorum.ts";
import { newLogWithSize, type RaftLog } from "./raft_log.ts";
import { newRand, randomIntN } from "./rand.ts";
import { newReadOnly, type ReadOnly } from "./read_only.ts";
import type { Storage } from "./storage.ts";
import { Inflights } from "./tracker/inflights.ts";
import type { Progress, ProgressMap } from "./tracker/progress.ts";
import { ProgressState } from "./tracker/state.ts";
import { newProgressTracker, type ProgressTracker, type TrackerConfig } from "./tracker/tracker.ts";
import {
  confChangeEnterJoint,
  type ConfChangeI,
  confChangeLeaveJoint,
  type ConfChangeV2,
  type ConfState,
  emptyBytes,
  type Entry,
  EntryType,
  type HardState,
  type Index,
  isEmptyHardState,
  type Message,
  MessageType,
  messageTypeNames,
  newMessage,
  newSnapshot,
  type NodeId,
  noLimit,
  None,
  ReadOnlyOption,
  type ReadState,
  type Snapshot,
  type SoftState,
  StateType,
  stateTypeNames,
  type Term,
} from "./types.ts";
import { entsSize, isLocalMsgTarget, payloadsSize, voteRespMsgType } from "./util.ts";

/**
 * The configuration of a Raft node (etcd's `raft.Config`).
 *
 * `id`, `electionTick`, `heartbeatTick` and `storage` are required; every
 * other field has a default.
 * Size limits count bytes; `Infinity` means "no limit".
 */
export interface Config {
  /** The node's ID. Must not be `0` (None) or a local thread ID. */
  id: NodeId;
  /**
   * Ticks without hearing from a leader before a follower campaigns. The
   * actual timeout is drawn at random from `[electionTick, 2*electionTick-1]`.
   * Must be greater than `heartbeatTick`; ten times it is a good choice.
   */
  electionTick: number;
  /** Ticks between the leader's heartbeats. Must be greater than 0. */
  heartbeatTick: number;
  /** Where Raft reads its persisted log, HardState and ConfState. */
  storage: Storage;
  /**
   * The last applied index, when restarting: entries at or below it are not
   * handed out for applying again.
   * @default {0}
   */
  applied?: Index;
  /**
   * Persist and apply through MsgStorageAppend/MsgStorageApply messages to
   * local threads instead of the Ready/Advance calls.
   * @default {false}
   */
  asyncStorageWrites?: boolean;
  /**
   * The maximum encoded size of the entries in one append message. `0` sends
   * at most one entry per message; `Infinity` means no limit.
   * @default {0}
   */
  maxSizePerMsg?: number;
  /**
   * The maximum size of committed entries being applied at once (across
   * Ready batches). `0` means `maxSizePerMsg`; when that is 0 too, one
   * entry at a time.
   * @default {0}
   */
  maxCommittedSizePerReady?: number;
  /**
   * The maximum payload size of the uncommitted tail of a leader's log;
   * proposals beyond it are dropped. `0` means no limit.
   * @default {0}
   */
  maxUncommittedEntriesSize?: number;
  /**
   * The maximum number of in-flight append messages per follower while
   * replicating optimistically. Must be greater than 0.
   * @default {256}
   */
  maxInflightMsgs?: number;
  /**
   * The maximum payload bytes in flight per follower. `0` means no limit;
   * otherwise it must be at least `maxSizePerMsg`.
   * @default {0}
   */
  maxInflightBytes?: number;
  /**
   * The leader steps down when a quorum has not been active for an election
   * timeout; followers ignore vote requests while their leader's lease holds.
   * @default {false}
   */
  checkQuorum?: boolean;
  /**
   * Run a pre-election (Raft thesis 9.6) before incrementing the term.
   * @default {false}
   */
  preVote?: boolean;
  /**
   * How ReadIndex requests are served. `ReadOnlyLeaseBased` requires
   * `checkQuorum`.
   * @default {ReadOnlyOption.ReadOnlySafe}
   */
  readOnlyOption?: ReadOnlyOption;
  /**
   * Where Raft writes its log lines.
   * @default {discardLogger}
   */
  logger?: Logger;
  /**
   * Followers drop proposals instead of forwarding them to the leader.
   * @default {false}
   */
  disableProposalForwarding?: boolean;
  /**
   * Skip the propose-time checks of conf changes against the active
   * configuration. Only for applications that validate changes themselves.
   * @default {false}
   */
  disableConfChangeValidation?: boolean;
  /**
   * A leader removed from the configuration (or demoted) steps down.
   * @default {false}
   */
  stepDownOnRemoval?: boolean;
  /**
   * The source of randomness for election timeouts, returning numbers in
   * `[0, 1)`.
   * @default {a SplitMix32 generator seeded with `id`}
   */
  rand?: () => number;
}

/** A {@linkcode Config} with every default filled in, as `validateConfig` returns it. */
export interface ValidatedConfig {
  /** See {@linkcode Config.id}. */
  id: NodeId;
  /** See {@linkcode Config.electionTick}. */
  electionTick: number;
  /** See {@linkcode Config.heartbeatTick}. */
  heartbeatTick: number;
  /** See {@linkcode Config.storage}. */
  storage: Storage;
  /** See {@linkcode Config.applied}. */
  applied: Index;
  /** See {@linkcode Config.asyncStorageWrites}. */
  asyncStorageWrites: boolean;
  /** See {@linkcode Config.maxSizePerMsg}. */
  maxSizePerMsg: number;
  /** See {@linkcode Config.maxCommittedSizePerReady}; at least 1 here. */
  maxCommittedSizePerReady: number;
  /** See {@linkcode Config.maxUncommittedEntriesSize}; `Infinity` for no limit. */
  maxUncommittedEntriesSize: number;
  /** See {@linkcode Config.maxInflightMsgs}. */
  maxInflightMsgs: number;
  /** See {@linkcode Config.maxInflightBytes}; `Infinity` for no limit. */
  maxInflightBytes: number;
  /** See {@linkcode Config.checkQuorum}. */
  checkQuorum: boolean;
  /** See {@linkcode Config.preVote}. */
  preVote: boolean;
  /** See {@linkcode Config.readOnlyOption}. */
  readOnlyOption: ReadOnlyOption;
  /** See {@linkcode Config.logger}. */
  logger: Logger;
  /** See {@linkcode Config.disableProposalForwarding}. */
  disableProposalForwarding: boolean;
  /** See {@linkcode Config.disableConfChangeValidation}. */
  disableConfChangeValidation: boolean;
  /** See {@linkcode Config.stepDownOnRemoval}. */
  stepDownOnRemoval: boolean;
  /** See {@linkcode Config.rand}. */
  rand: () => number;
}

const configPrefix = "Cannot create RawNode as";

function checkCount(name: string, v: number): void {
  if (!Number.isSafeInteger(v)) {
    throw new RangeError(`${configPrefix} '${name}' must be an integer: current value ${v}`);
  }
}

function checkSize(name: string, v: number): void {
  if (!(v === Infinity || (Number.isSafeInteger(v) && v >= 0))) {
    throw new RangeError(
      `${configPrefix} '${name}' must be a non-negative integer or Infinity: current value ${v}`,
    );
  }
}

/**
 * Checks a configuration and fills in its defaults, as etcd's
 * `Config.validate` does.
 *
 * @param c The configuration.
 * @returns A new, complete configuration (the input is not modified).
 * @throws {RangeError} When a value is out of range, for example
 *   `Cannot create RawNode as 'electionTick' must be greater than 'heartbeatTick': current values 1, 1`.
 * @throws {TypeError} When `storage` is missing.
 *
 * @example Defaults
 * ```ts
 * import { validateConfig, MemoryStorage } from "@raft-ts/raft";
 * const c = validateConfig({ id: 1, electionTick: 10, heartbeatTick: 1, storage: new MemoryStorage() });
 * if (c.maxInflightMsgs !== 256 || c.maxUncommittedEntriesSize !== Infinity) throw new Error("unexpected");
 * ```
 */
export function validateConfig(c: Config): ValidatedConfig {
  if (!Number.isSafeInteger(c.id) || c.id < 0) {
    throw new RangeError(
      `${configPrefix} 'id' must be a non-negative integer: current value ${c.id}`,
    );
  }
  if (c.id === None) {
    throw new RangeError(`${configPrefix} 'id' must not be 0 (None): current value 0`);
  }
  if (isLocalMsgTarget(c.id)) {
    throw new RangeError(
      `${configPrefix} 'id' must not be a local thread ID: current value ${c.id}`,
    );
  }
  const heartbeatTick = c.heartbeatTick;
  const electionTick = c.electionTick;
  checkCount("heartbeatTick", heartbeatTick);
  checkCount("electionTick", electionTick);
  if (heartbeatTick <= 0) {
    throw new RangeError(
      `${configPrefix} 'heartbeatTick' must be greater than 0: current value ${heartbeatTick}`,
    );
  }
  if (electionTick <= heartbeatTick) {
    throw new RangeError(
      `${configPrefix} 'electionTick' must be greater than 'heartbeatTick': current values ${electionTick}, ${heartbeatTick}`,
    );
  }
  if (c.storage === undefined || c.storage === null) {
    throw new TypeError(`${configPrefix} 'storage' is missing`);
  }
  const applied = c.applied ?? 0;
  if (!Number.isSafeInteger(applied) || applied < 0) {
    throw new RangeError(
      `${configPrefix} 'applied' must be a non-negative integer: current value ${applied}`,
    );
  }
  const maxSizePerMsg = c.maxSizePerMsg ?? 0;
  checkSize("maxSizePerMsg", maxSizePerMsg);
  let maxUncommittedEntriesSize = c.maxUncommittedEntriesSize ?? 0;
  checkSize("maxUncommittedEntriesSize", maxUncommittedEntriesSize);
  if (maxUncommittedEntriesSize === 0) maxUncommittedEntriesSize = noLimit;
  let maxCommittedSizePerReady = c.maxCommittedSizePerReady ?? 0;
  checkSize("maxCommittedSizePerReady", maxCommittedSizePerReady);
  if (maxCommittedSizePerReady === 0) maxCommittedSizePerReady = maxSizePerMsg;
  // A limit of 0 would pause application for good once the first batch is
  // applied (etcd's raftLog pauses while applyingSize >= limit, and 0 >= 0).
  // One byte keeps the historical meaning of 0: one entry at a time.
  if (maxCommittedSizePerReady === 0) maxCommittedSizePerReady = 1;
  const maxInflightMsgs = c.maxInflightMsgs ?? 256;
  checkCount("maxInflightMsgs", maxInflightMsgs);
  if (maxInflightMsgs <= 0) {
    throw new RangeError(
      `${configPrefix} 'maxInflightMsgs' must be greater than 0: current value ${maxInflightMsgs}`,
    );
  }
  let maxInflightBytes = c.maxInflightBytes ?? 0;
  checkSize("maxInflightBytes", maxInflightBytes);
  if (maxInflightBytes === 0) {
    maxInflightBytes = noLimit;
  } else if (maxInflightBytes < maxSizePerMsg) {
    throw new RangeError(
      `${configPrefix} 'maxInflightBytes' must be greater than or equal to 'maxSizePerMsg': current values ${maxInflightBytes}, ${maxSizePerMsg}`,
    );
  }
  const readOnlyOption = c.readOnlyOption ?? ReadOnlyOption.ReadOnlySafe;
  if (
    readOnlyOption !== ReadOnlyOption.ReadOnlySafe &&
    readOnlyOption !== ReadOnlyOption.ReadOnlyLeaseBased
  ) {
    throw new RangeError(
      `${configPrefix} 'readOnlyOption' must be ReadOnlySafe or ReadOnlyLeaseBased: current value ${readOnlyOption}`,
    );
  }
  const checkQuorum = c.checkQuorum ?? false;
  if (readOnlyOption === ReadOnlyOption.ReadOnlyLeaseBased && !checkQuorum) {
    throw new RangeError(
      `${configPrefix} 'checkQuorum' must be enabled when 'readOnlyOption' is ReadOnlyLeaseBased: current value false`,
    );
  }
  return {
    id: c.id,
    electionTick,
    heartbeatTick,
    storage: c.storage,
    applied,
    asyncStorageWrites: c.asyncStorageWrites ?? false,
    maxSizePerMsg,
    maxCommittedSizePerReady,
    maxUncommittedEntriesSize,
    maxInflightMsgs,
    maxInflightBytes,
    checkQuorum,
    preVote: c.preVote ?? false,
    readOnlyOption,
    logger: c.logger ?? discardLogger,
    disableProposalForwarding: c.disableProposalForwarding ?? false,
    disableConfChangeValidation: c.disableConfChangeValidation ?? false,
    stepDownOnRemoval: c.stepDownOnRemoval ?? false,
    rand: c.rand ?? newRand(c.id),
  };
}

/** How a campaign was started (etcd's `CampaignType`). */
export const CampaignType = {
  /** The first phase of an election when PreVote is on. */
  campaignPreElection: "CampaignPreElection",
  /** A normal election (the second phase with PreVote). */
  campaignElection: "CampaignElection",
  /** An election started by a leadership transfer. */
  campaignTransfer: "CampaignTransfer",
} as const;
/** How a campaign was started. */
export type CampaignType = typeof CampaignType[keyof typeof CampaignType];

/** The context bytes of a vote request sent for a leadership transfer. */
const campaignTransferCtx: Uint8Array = new TextEncoder().encode(CampaignType.campaignTransfer);

function isCampaignTransferCtx(ctx: Uint8Array): boolean {
  if (ctx.length !== campaignTransferCtx.length) return false;
  for (let i = 0; i < ctx.length; i++) if (ctx[i] !== campaignTransferCtx[i]) return false;
  return true;
}

/** Lowercase hex, as Go's `%x`. */
function hex(id: number): string {
  return id.toString(16);
}

/** Tells whether an error is a log lookup miss (compacted or unavailable). */
function isLogMiss(e: unknown): boolean {
  return e instanceof CompactedError || e instanceof UnavailableError;
}

/**
 * Checks that two ConfStates hold the same sets (order-insensitive), as
 * etcd's `assertConfStatesEquivalent`.
 */
function confStatesEquivalent(a: ConfState, b: ConfState): boolean {
  return sameIds(a.voters, b.voters) && sameIds(a.learners, b.learners) &&
    sameIds(a.votersOutgoing, b.votersOutgoing) && sameIds(a.learnersNext, b.learnersNext) &&
    a.autoLeave === b.autoLeave;
}

function sameIds(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  const x = [...a].sort((p, q) => p - q);
  const y = [...b].sort((p, q) => p - q);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/**
 * The Raft state machine (etcd's `raft` struct). Fields keep etcd's names.
 *
 * Internal: used through {@linkcode RawNode}. It is exported for test
 * harnesses and tools; its fields may change between minor versions.
 */
export class Raft {
  /** This node's ID. */
  readonly id: NodeId;
  /** The current term. */
  term: Term;
  /** The node voted for in the current term, or None. */
  vote: NodeId;
  /** ReadIndex answers not yet handed out in a Ready. */
  readStates: ReadState[];
  /** The log: stable storage plus the unstable tail. */
  raftLog: RaftLog;
  /** The maximum encoded size of the entries in one MsgApp. */
  maxMsgSize: number;
  /** The maximum payload size of the uncommitted log tail (leader only). */
  maxUncommittedSize: number;
  /** The configuration and the followers' progress. */
  trk: ProgressTracker;
  /** The node's role. */
  state: StateType;
  /** Whether this node is a learner in its own configuration. */
  isLearner: boolean;
  /** Messages to send at once. Never addressed to this node. */
  msgs: Message[];
  /**
   * Messages to send only once the unstable state handed out so far is
   * durable: MsgAppResp, MsgVoteResp and MsgPreVoteResp, possibly addressed
   * to this node.
   */
  msgsAfterAppend: Message[];
  /** The leader's ID, or None. */
  lead: NodeId;
  /** The target of a leadership transfer in progress, or None. */
  leadTransferee: NodeId;
  /**
   * At least the index of the newest conf change in the log that may not be
   * applied yet; a new conf change is refused until `applied` reaches it.
   */
  pendingConfIndex: Index;
  /** See {@linkcode Config.disableConfChangeValidation}. */
  disableConfChangeValidation: boolean;
  /** An estimate of the payload size of the uncommitted tail (leader only); never negative. */
  uncommittedSize: number;
  /** Pending ReadIndex requests and their heartbeat acknowledgements. */
  readOnly: ReadOnly;
  /**
   * Ticks since the last election timeout (leader, candidate) or since the
   * last valid message from the leader (follower).
   */
  electionElapsed: number;
  /** Ticks since the last heartbeat (leader only). */
  heartbeatElapsed: number;
  /** See {@linkcode Config.checkQuorum}. */
  checkQuorum: boolean;
  /** See {@linkcode Config.preVote}. */
  preVote: boolean;
  /** Ticks between heartbeats. */
  heartbeatTimeout: number;
  /** The base election timeout in ticks. */
  electionTimeout: number;
  /**
   * The current election timeout, in `[electionTimeout, 2*electionTimeout-1]`,
   * redrawn whenever the node changes role. Internal: test harnesses may set
   * it directly; the value holds until the next redraw.
   */
  randomizedElectionTimeout: number;
  /** See {@linkcode Config.disableProposalForwarding}. */
  disableProposalForwarding: boolean;
  /** See {@linkcode Config.stepDownOnRemoval}. */
  stepDownOnRemoval: boolean;
  /** Where log lines go. */
  logger: Logger;
  /** ReadIndex requests held back until the leader commits an entry of its term. */
  pendingReadIndexMessages: Message[];
  /** The source of randomness for election timeouts. */
  rand: () => number;

  /**
   * Creates a Raft node from its configuration and storage (etcd's `newRaft`).
   * Logs `switched to configuration`, `became follower` and `newRaft` lines.
   *
   * @param config The configuration; see {@linkcode validateConfig}.
   * @throws {RangeError} When the configuration is invalid.
   * @throws {RaftInvariantError} When the storage is inconsistent.
   */
  constructor(config: Config) {
    const c = validateConfig(config);
    this.logger = c.logger;
    const raftlog = newLogWithSize(c.storage, c.logger, c.maxCommittedSizePerReady);
    const { hardState: hs, confState: cs } = c.storage.initialState();

    this.id = c.id;
    this.term = 0;
    this.vote = None;
    this.readStates = [];
    this.raftLog = raftlog;
    this.maxMsgSize = c.maxSizePerMsg;
    this.maxUncommittedSize = c.maxUncommittedEntriesSize;
    this.trk = newProgressTracker(c.maxInflightMsgs, c.maxInflightBytes);
    this.state = StateType.StateFollower;
    this.isLearner = false;
    this.msgs = [];
    this.msgsAfterAppend = [];
    this.lead = None;
    this.leadTransferee = None;
    this.pendingConfIndex = 0;
    this.disableConfChangeValidation = c.disableConfChangeValidation;
    this.uncommittedSize = 0;
    this.readOnly = newReadOnly(c.readOnlyOption);
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.checkQuorum = c.checkQuorum;
    this.preVote = c.preVote;
    this.heartbeatTimeout = c.heartbeatTick;
    this.electionTimeout = c.electionTick;
    this.randomizedElectionTimeout = 0;
    this.disableProposalForwarding = c.disableProposalForwarding;
    this.stepDownOnRemoval = c.stepDownOnRemoval;
    this.pendingReadIndexMessages = [];
    this.rand = c.rand;

    const lastID = this.raftLog.lastEntryId();
    let restored: { config: TrackerConfig; progress: ProgressMap };
    try {
      restored = restoreConfig(new Changer(this.trk, lastID.index), cs);
    } catch (e) {
      if (e instanceof RaftError) this.panic(`unable to restore config: ${e.message}`);
      throw e;
    }
    this.assertConfStatesEquivalent(cs, this.switchToConfig(restored.config, restored.progress));

    if (!isEmptyHardState(hs)) this.loadState(hs);
    if (c.applied > 0) raftlog.appliedTo(c.applied, 0);
    this.becomeFollower(this.term, None);

    const nodesStrs: string[] = [];
    for (const n of this.trk.voterNodes()) nodesStrs.push(hex(n));
    this.logger.info(
      `newRaft ${hex(this.id)} [peers: [${
        nodesStrs.join(",")
      }], term: ${this.term}, commit: ${this.raftLog.committed}, applied: ${this.raftLog.applied}, lastindex: ${lastID.index}, lastterm: ${lastID.term}]`,
    );
  }

  /** Logs a broken invariant and throws (etcd's `Panicf`). */
  private panic(msg: string): never {
    this.logger.panic(msg);
    throw new RaftInvariantError(msg);
  }

  /** Panics unless two ConfStates hold the same members (etcd's `assertConfStatesEquivalent`). */
  private assertConfStatesEquivalent(cs1: ConfState, cs2: ConfState): void {
    if (confStatesEquivalent(cs1, cs2)) return;
    this.panic(
      `ConfStates not equivalent after sorting: ${describeConfState(cs1)} vs ${
        describeConfState(cs2)
      }`,
    );
  }

  /**
   * Whether the node knows a leader.
   *
   * @returns `lead !== None`.
   */
  hasLeader(): boolean {
    return this.lead !== None;
  }

  /**
   * The volatile state.
   *
   * @returns A new SoftState.
   */
  softState(): SoftState {
    return { lead: this.lead, raftState: this.state };
  }

  /**
   * The state to persist.
   *
   * @returns A new HardState.
   */
  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.raftLog.committed };
  }

  /**
   * Queues a message: responses that vote on the log or an election go to
   * `msgsAfterAppend`, everything else to `msgs`. Fills in `from` and, for
   * non-vote messages other than MsgProp and MsgReadIndex, the term.
   *
   * @param m The message (modified in place).
   */
  send(m: Message): void {
    if (m.from === None) m.from = this.id;
    const t = m.type;
    if (
      t === MessageType.MsgVote || t === MessageType.MsgVoteResp ||
      t === MessageType.MsgPreVote || t === MessageType.MsgPreVoteResp
    ) {
      if (m.term === 0) {
        // Campaign messages always name the term they are about.
        this.panic(`term should be set when sending ${messageTypeNames[t]}`);
      }
    } else {
      if (m.term !== 0) {
        this.panic(`term should not be set when sending ${messageTypeNames[t]} (was ${m.term})`);
      }
      // Proposals and read requests are forwarded to the leader as if they
      // were local, so they carry no term.
      if (t !== MessageType.MsgProp && t !== MessageType.MsgReadIndex) m.term = this.term;
    }
    if (
      t === MessageType.MsgAppResp || t === MessageType.MsgVoteResp ||
      t === MessageType.MsgPreVoteResp
    ) {
      // These acknowledge durable state: they wait until the unstable state
      // they depend on is persisted.
      this.msgsAfterAppend.push(m);
    } else {
      if (m.to === this.id) {
        this.panic(`message should not be self-addressed when sending ${messageTypeNames[t]}`);
      }
      this.msgs.push(m);
    }
  }

  /**
   * Sends an append (entries, if any, and the commit index) to a peer.
   *
   * @param to The peer.
   */
  sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  /**
   * Sends an append with new entries to a peer, if flow control allows.
   *
   * @param to The peer.
   * @param sendIfEmpty Whether to send a message that carries no entries
   *   (useful to convey the commit index).
   * @returns Whether a message (or a snapshot) was sent.
   */
  maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.trk.progress.get(to)!;
    if (pr.isPaused()) return false;

    const prevIndex = pr.next - 1;
    let prevTerm: Term;
    try {
      prevTerm = this.raftLog.term(prevIndex);
    } catch (e) {
      // The log was truncated past pr.next: only a snapshot can catch up.
      if (isLogMiss(e)) return this.maybeSendSnapshot(to, pr);
      throw e;
    }

    let ents: Entry[] = [];
    let failed = false;
    // A throttled replicating peer gets only empty appends, so that a full
    // window whose messages were all lost still gets acked or rejected.
    if (pr.state !== ProgressState.StateReplicate || !pr.inflights.full()) {
      try {
        ents = this.raftLog.entries(pr.next, this.maxMsgSize);
      } catch (e) {
        if (!isLogMiss(e)) throw e;
        failed = true;
      }
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    if (failed) return this.maybeSendSnapshot(to, pr);

    const commit = this.raftLog.committed;
    this.send(makeMessage(MessageType.MsgApp, None, to, 0, prevTerm, prevIndex, ents, commit));
    pr.sentEntries(ents.length, payloadsSize(ents));
    pr.setSentCommit(commit);
    return true;
  }

  /**
   * Sends the storage's snapshot to a peer, if it is recently active and a
   * snapshot is available.
   *
   * @param to The peer.
   * @param pr Its progress.
   * @returns Whether the snapshot was sent.
   */
  maybeSendSnapshot(to: NodeId, pr: Progress): boolean {
    if (!pr.recentActive) {
      this.logger.debug(`ignore sending snapshot to ${hex(to)} since it is not recently active`);
      return false;
    }

    let snapshot: Snapshot;
    try {
      snapshot = this.raftLog.snapshot();
    } catch (e) {
      if (e instanceof SnapshotTemporarilyUnavailableError) {
        this.logger.debug(
          `${hex(this.id)} failed to send snapshot to ${
            hex(to)
          } because snapshot is temporarily unavailable`,
        );
        return false;
      }
      throw e;
    }
    if (snapshot.metadata.index === 0) this.panic("need non-empty snapshot");
    const sindex = snapshot.metadata.index;
    const sterm = snapshot.metadata.term;
    this.logger.debug(
      `${
        hex(this.id)
      } [firstindex: ${this.raftLog.firstIndex()}, commit: ${this.raftLog.committed}] sent snapshot[index: ${sindex}, term: ${sterm}] to ${
        hex(to)
      } [${pr}]`,
    );
    pr.becomeSnapshot(sindex);
    this.logger.debug(`${hex(this.id)} paused sending replication messages to ${hex(to)} [${pr}]`);

    this.send(newMessage({ type: MessageType.MsgSnap, to, snapshot }));
    return true;
  }

  /**
   * Sends a heartbeat to a peer, with the commit index capped at its match.
   *
   * @param to The peer.
   * @param ctx The ReadIndex context to echo.
   */
  sendHeartbeat(to: NodeId, ctx: Uint8Array): void {
    const pr = this.trk.progress.get(to)!;
    // Never tell a follower to commit beyond what it is known to hold.
    const commit = Math.min(pr.match, this.raftLog.committed);
    const m = makeMessage(MessageType.MsgHeartbeat, None, to, 0, 0, 0, undefined, commit);
    m.context = ctx;
    this.send(m);
    pr.setSentCommit(commit);
  }

  /** Sends appends to every peer except this node, in ascending ID order. */
  bcastAppend(): void {
    const ids = this.trk.progress.sortedIds();
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (id === this.id) continue;
      this.sendAppend(id);
    }
  }

  /** Sends heartbeats to every peer except this node. */
  bcastHeartbeat(): void {
    this.bcastHeartbeatWithCtx(this.readOnly.heartbeatCtx());
  }

  /**
   * Sends heartbeats with a given context to every peer except this node.
   *
   * @param ctx The context.
   */
  bcastHeartbeatWithCtx(ctx: Uint8Array): void {
    const ids = this.trk.progress.sortedIds();
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (id === this.id) continue;
      this.sendHeartbeat(id, ctx);
    }
  }

  /**
   * Records that entries up to `index` are applied; a leader in an
   * auto-leave joint configuration then proposes leaving it.
   *
   * @param index The applied index.
   * @param size The encoded size of the entries applied.
   */
  appliedTo(index: Index, size: number): void {
    const oldApplied = this.raftLog.applied;
    const newApplied = Math.max(index, oldApplied);
    this.raftLog.appliedTo(newApplied, size);

    if (
      this.trk.config.autoLeave && newApplied >= this.pendingConfIndex &&
      this.state === StateType.StateLeader
    ) {
      // Empty data decodes to the empty ConfChangeV2 (leave joint); it has
      // zero payload, so the size limit never refuses it. A leadership
      // transfer can still drop it; it is retried on the next apply.
      const m = confChangeToMsg(undefined);
      try {
        this.step(m);
      } catch (e) {
        if (!(e instanceof RaftError)) throw e;
        this.logger.debug(
          `not initiating automatic transition out of joint configuration ${this.trk.config}: ${e.message}`,
        );
        return;
      }
      this.logger.info(
        `initiating automatic transition out of joint configuration ${this.trk.config}`,
      );
    }
  }

  /**
   * Records that a snapshot is durable and applied.
   *
   * @param snap The snapshot.
   */
  appliedSnap(snap: Snapshot): void {
    const index = snap.metadata.index;
    this.raftLog.stableSnapTo(index);
    this.appliedTo(index, 0);
  }

  /**
   * Advances the commit index to the quorum's acknowledged index, if that
   * entry is from the current term. Leader only.
   *
   * @returns Whether the commit index moved (the caller should broadcast).
   */
  maybeCommit(): boolean {
    return this.raftLog.maybeCommit({ term: this.term, index: this.trk.committed() });
  }

  /**
   * Resets the volatile state for a new term (or a role change in a term).
   *
   * @param term The term to be in.
   */
  reset(term: Term): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = None;
    }
    this.lead = None;

    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();

    this.abortLeaderTransfer();

    this.trk.resetVotes();
    const lastIndex = this.raftLog.lastIndex();
    const ids = this.trk.progress.sortedIds();
    const prs = this.trk.progress;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const pr = prs.get(id)!;
      pr.match = id === this.id ? lastIndex : 0;
      pr.next = lastIndex + 1;
      pr.sentCommit = 0;
      pr.state = ProgressState.StateProbe;
      pr.pendingSnapshot = 0;
      pr.recentActive = false;
      pr.msgAppFlowPaused = false;
      pr.inflights = new Inflights(this.trk.maxInflight, this.trk.maxInflightBytes);
    }

    this.pendingConfIndex = 0;
    this.uncommittedSize = 0;
    this.readOnly = newReadOnly(this.readOnly.option);
  }

  /**
   * Appends entries at the end of the leader's log, stamped with the current
   * term and consecutive indexes, and queues the leader's self-ack.
   *
   * @param es The entries (not modified; copies are appended).
   * @returns `false` when the uncommitted size limit refused them.
   */
  appendEntry(es: readonly Entry[]): boolean {
    let li = this.raftLog.lastIndex();
    const n = es.length;
    const cloned = new Array<Entry>(n);
    for (let i = 0; i < n; i++) {
      const e = es[i]!;
      cloned[i] = { term: this.term, index: li + 1 + i, type: e.type, data: e.data };
    }
    if (!this.increaseUncommittedSize(cloned)) {
      this.logger.warning(
        `${
          hex(this.id)
        } appending new entries to log would exceed uncommitted entry size limit; dropping proposal`,
      );
      return false;
    }
    li = this.raftLog.append(cloned);
    // The leader acknowledges its own entries once they are durable; this
    // response comes back to it after the next persistence.
    this.send(makeMessage(MessageType.MsgAppResp, None, this.id, 0, 0, li, undefined, 0));
    return true;
  }

  /** Advances the logical clock by one tick. */
  tick(): void {
    if (this.state === StateType.StateLeader) this.tickHeartbeat();
    else this.tickElection();
  }

  /** The tick of followers and candidates: campaign after the election timeout. */
  tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.pastElectionTimeout()) {
      this.electionElapsed = 0;
      try {
        this.step(newMessage({ type: MessageType.MsgHup, from: this.id }));
      } catch (e) {
        if (!(e instanceof RaftError)) throw e;
        this.logger.debug(`error occurred during election: ${e.message}`);
      }
    }
  }

  /** The tick of leaders: heartbeats, and the quorum check each election timeout. */
  tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;

    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) {
        try {
          this.step(newMessage({ type: MessageType.MsgCheckQuorum, from: this.id }));
        } catch (e) {
          if (!(e instanceof RaftError)) throw e;
          this.logger.debug(`error occurred during checking sending heartbeat: ${e.message}`);
        }
      }
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.state === StateType.StateLeader && this.leadTransferee !== None) {
        this.abortLeaderTransfer();
      }
    }

    if (this.state !== StateType.StateLeader) return;

    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      try {
        this.step(newMessage({ type: MessageType.MsgBeat, from: this.id }));
      } catch (e) {
        if (!(e instanceof RaftError)) throw e;
        this.logger.debug(`error occurred during checking sending heartbeat: ${e.message}`);
      }
    }
  }

  /**
   * Becomes a follower.
   *
   * @param term The term.
   * @param lead The known leader, or None.
   */
  becomeFollower(term: Term, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.state = StateType.StateFollower;
    this.logger.info(`${hex(this.id)} became follower at term ${this.term}`);
  }

  /** Becomes a candidate in the next term, voting for itself. */
  becomeCandidate(): void {
    if (this.state === StateType.StateLeader) {
      this.panic("invalid transition [leader -> candidate]");
    }
    this.reset(this.term + 1);
    this.vote = this.id;
    this.state = StateType.StateCandidate;
    this.logger.info(`${hex(this.id)} became candidate at term ${this.term}`);
  }

  /** Becomes a pre-candidate: neither the term nor the vote change. */
  becomePreCandidate(): void {
    if (this.state === StateType.StateLeader) {
      this.panic("invalid transition [leader -> pre-candidate]");
    }
    this.trk.resetVotes();
    this.lead = None;
    this.state = StateType.StatePreCandidate;
    this.logger.info(`${hex(this.id)} became pre-candidate at term ${this.term}`);
  }

  /** Becomes the leader and appends an empty entry of the new term. */
  becomeLeader(): void {
    if (this.state === StateType.StateFollower) {
      this.panic("invalid transition [follower -> leader]");
    }
    this.reset(this.term);
    this.lead = this.id;
    this.state = StateType.StateLeader;
    // The leader is trivially replicating to itself, and always active.
    const pr = this.trk.progress.get(this.id)!;
    pr.becomeReplicate();
    pr.recentActive = true;

    // Any entry in the log may be an unapplied conf change; delay new ones
    // until everything up to here is applied.
    this.pendingConfIndex = this.raftLog.lastIndex();

    if (!this.appendEntry([{ term: 0, index: 0, type: EntryType.EntryNormal, data: emptyBytes }])) {
      this.panic("empty entry was dropped");
    }
    // The empty entry has zero payload, so uncommittedSize is still 0.
    this.logger.info(`${hex(this.id)} became leader at term ${this.term}`);
  }

  /**
   * Starts an election, if this node may.
   *
   * @param t The kind of campaign.
   */
  hup(t: CampaignType): void {
    if (this.state === StateType.StateLeader) {
      this.logger.debug(`${hex(this.id)} ignoring MsgHup because already leader`);
      return;
    }
    if (!this.promotable()) {
      this.logger.warning(`${hex(this.id)} is unpromotable and can not campaign`);
      return;
    }
    if (this.hasUnappliedConfChanges()) {
      this.logger.warning(
        `${
          hex(this.id)
        } cannot campaign at term ${this.term} since there are still pending configuration changes to apply`,
      );
      return;
    }
    this.logger.info(`${hex(this.id)} is starting a new election at term ${this.term}`);
    this.campaign(t);
  }

  /**
   * Whether a conf change is committed but not applied yet. Scans the
   * unapplied committed entries page by page.
   *
   * @returns `true` when one is found.
   */
  hasUnappliedConfChanges(): boolean {
    if (this.raftLog.applied >= this.raftLog.committed) return false;
    let lo = this.raftLog.applied + 1;
    const hi = this.raftLog.committed + 1;
    const pageSize = this.raftLog.maxApplyingEntsSize;
    while (lo < hi) {
      let ents: Entry[];
      try {
        ents = this.raftLog.slice(lo, hi, pageSize);
      } catch (e) {
        if (!(e instanceof RaftError)) throw e;
        this.panic(`error scanning unapplied entries [${lo}, ${hi}): ${e.message}`);
      }
      if (ents.length === 0) {
        this.panic(
          `error scanning unapplied entries [${lo}, ${hi}): got 0 entries in [${lo}, ${hi})`,
        );
      }
      for (let i = 0; i < ents.length; i++) {
        const t = ents[i]!.type;
        if (t === EntryType.EntryConfChange || t === EntryType.EntryConfChangeV2) return true;
      }
      lo += ents.length;
    }
    return false;
  }

  /**
   * Becomes a (pre-)candidate and requests votes from every voter. Callers
   * check that the node may campaign.
   *
   * @param t The kind of campaign.
   */
  campaign(t: CampaignType): void {
    if (!this.promotable()) {
      this.logger.warning(`${hex(this.id)} is unpromotable; campaign() should have been called`);
    }
    let term: Term;
    let voteMsg: MessageType;
    if (t === CampaignType.campaignPreElection) {
      this.becomePreCandidate();
      voteMsg = MessageType.MsgPreVote;
      // Pre-votes ask about the next term without entering it.
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteMsg = MessageType.MsgVote;
      term = this.term;
    }
    const ids = [...this.trk.config.voters.ids()].sort((a, b) => a - b);
    for (const id of ids) {
      if (id === this.id) {
        // The self-vote counts once it is durable, like any other vote.
        this.send(newMessage({ type: voteRespMsgType(voteMsg), to: id, term }));
        continue;
      }
      const last = this.raftLog.lastEntryId();
      this.logger.info(
        `${hex(this.id)} [logterm: ${last.term}, index: ${last.index}] sent ${
          messageTypeNames[voteMsg]
        } request to ${hex(id)} at term ${this.term}`,
      );
      this.send(newMessage({
        type: voteMsg,
        to: id,
        term,
        index: last.index,
        logTerm: last.term,
        context: t === CampaignType.campaignTransfer ? campaignTransferCtx : emptyBytes,
      }));
    }
  }

  /**
   * Records a vote and tallies the election.
   *
   * @param id The voter.
   * @param t The response type (for the log line).
   * @param v Whether the vote was granted.
   * @returns The granted and rejected counts and the outcome.
   */
  poll(
    id: NodeId,
    t: MessageType,
    v: boolean,
  ): { granted: number; rejected: number; result: VoteResult } {
    if (v) {
      this.logger.info(
        `${hex(this.id)} received ${messageTypeNames[t]} from ${hex(id)} at term ${this.term}`,
      );
    } else {
      this.logger.info(
        `${hex(this.id)} received ${messageTypeNames[t]} rejection from ${
          hex(id)
        } at term ${this.term}`,
      );
    }
    this.trk.recordVote(id, v);
    return this.trk.tallyVotes();
  }

  /**
   * Advances the state machine with a message (etcd's `Step`).
   *
   * @param m The message; treat it as owned by Raft afterwards.
   * @throws {ProposalDroppedError} When a proposal cannot be accepted.
   */
  step(m: Message): void {
    // Handle the message's term, which may turn this node into a follower.
    if (m.term === 0) {
      // A local message.
    } else if (m.term > this.term) {
      if (m.type === MessageType.MsgVote || m.type === MessageType.MsgPreVote) {
        const force = isCampaignTransferCtx(m.context);
        const inLease = this.checkQuorum && this.lead !== None &&
          this.electionElapsed < this.electionTimeout;
        if (!force && inLease) {
          // Within the minimum election timeout of hearing from a leader,
          // neither the term nor the vote change.
          const last = this.raftLog.lastEntryId();
          this.logger.info(
            `${hex(this.id)} [logterm: ${last.term}, index: ${last.index}, vote: ${
              hex(this.vote)
            }] ignored ${messageTypeNames[m.type]} from ${
              hex(m.from)
            } [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}: lease is not expired (remaining ticks: ${
              this.electionTimeout - this.electionElapsed
            })`,
          );
          return;
        }
      }
      if (m.type === MessageType.MsgPreVote) {
        // A pre-vote never changes the term.
      } else if (m.type === MessageType.MsgPreVoteResp && !m.reject) {
        // A granted pre-vote carries the term of the election to come; the
        // term moves when the pre-election is won.
      } else {
        this.logger.info(
          `${hex(this.id)} [term: ${this.term}] received a ${
            messageTypeNames[m.type]
          } message with higher term from ${hex(m.from)} [term: ${m.term}]`,
        );
        if (
          m.type === MessageType.MsgApp || m.type === MessageType.MsgHeartbeat ||
          m.type === MessageType.MsgSnap
        ) {
          this.becomeFollower(m.term, m.from);
        } else {
          this.becomeFollower(m.term, None);
        }
      }
    } else if (m.term < this.term) {
      if (
        (this.checkQuorum || this.preVote) &&
        (m.type === MessageType.MsgHeartbeat || m.type === MessageType.MsgApp)
      ) {
        // A leader of an older term: tell it about the newer term, so that a
        // node stuck at a higher term (which ignores votes under the lease)
        // is freed by a fresh election.
        this.send(newMessage({ type: MessageType.MsgAppResp, to: m.from }));
      } else if (m.type === MessageType.MsgPreVote) {
        // Reject, so that a pre-candidate with a stale term learns the
        // newer one instead of the cluster deadlocking.
        const last = this.raftLog.lastEntryId();
        this.logger.info(
          `${hex(this.id)} [logterm: ${last.term}, index: ${last.index}, vote: ${
            hex(this.vote)
          }] rejected ${messageTypeNames[m.type]} from ${
            hex(m.from)
          } [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}`,
        );
        this.send(newMessage({
          type: MessageType.MsgPreVoteResp,
          to: m.from,
          term: this.term,
          reject: true,
        }));
      } else if (m.type === MessageType.MsgStorageAppendResp) {
        if (m.index !== 0) {
          // The entries may have been overwritten in a later term; they are
          // not known to be stable.
          this.logger.info(
            `${hex(this.id)} [term: ${this.term}] ignored entry appends from a ${
              messageTypeNames[m.type]
            } message with lower term [term: ${m.term}]`,
          );
        }
        if (m.snapshot !== undefined) {
          // A snapshot holds committed state: its application stands.
          this.appliedSnap(m.snapshot);
        }
      } else {
        this.logger.info(
          `${hex(this.id)} [term: ${this.term}] ignored a ${
            messageTypeNames[m.type]
          } message with lower term from ${hex(m.from)} [term: ${m.term}]`,
        );
      }
      return;
    }

    switch (m.type) {
      case MessageType.MsgHup:
        if (this.preVote) this.hup(CampaignType.campaignPreElection);
        else this.hup(CampaignType.campaignElection);
        break;

      case MessageType.MsgStorageAppendResp:
        if (m.index !== 0) this.raftLog.stableTo({ term: m.logTerm, index: m.index });
        if (m.snapshot !== undefined) this.appliedSnap(m.snapshot);
        break;

      case MessageType.MsgStorageApplyResp:
        if (m.entries.length > 0) {
          const index = m.entries[m.entries.length - 1]!.index;
          this.appliedTo(index, entsSize(m.entries));
          this.reduceUncommittedSize(payloadsSize(m.entries));
        }
        break;

      case MessageType.MsgVote:
      case MessageType.MsgPreVote: {
        // A vote may be cast when it repeats the vote already cast, when no
        // vote was cast and no leader is known, or for a future-term pre-vote...
        const canVote = this.vote === m.from ||
          (this.vote === None && this.lead === None) ||
          (m.type === MessageType.MsgPreVote && m.term > this.term);
        // ...and only for a candidate whose log is up to date.
        const lastID = this.raftLog.lastEntryId();
        const candLastID = { term: m.logTerm, index: m.index };
        if (canVote && this.raftLog.isUpToDate(candLastID)) {
          // Learners vote too: a learner may have been promoted without
          // knowing it yet, and the candidate's request tells it so.
          this.logger.info(
            `${hex(this.id)} [logterm: ${lastID.term}, index: ${lastID.index}, vote: ${
              hex(this.vote)
            }] cast ${messageTypeNames[m.type]} for ${
              hex(m.from)
            } [logterm: ${candLastID.term}, index: ${candLastID.index}] at term ${this.term}`,
          );
          // Answer with the request's term, not ours: a pre-vote's term is in
          // our future, and a stale local term would make the candidate
          // ignore the answer.
          this.send(newMessage({ type: voteRespMsgType(m.type), to: m.from, term: m.term }));
          if (m.type === MessageType.MsgVote) {
            // Only real votes are recorded.
            this.electionElapsed = 0;
            this.vote = m.from;
          }
        } else {
          this.logger.info(
            `${hex(this.id)} [logterm: ${lastID.term}, index: ${lastID.index}, vote: ${
              hex(this.vote)
            }] rejected ${messageTypeNames[m.type]} from ${
              hex(m.from)
            } [logterm: ${candLastID.term}, index: ${candLastID.index}] at term ${this.term}`,
          );
          this.send(newMessage({
            type: voteRespMsgType(m.type),
            to: m.from,
            term: this.term,
            reject: true,
          }));
        }
        break;
      }

      default:
        switch (this.state) {
          case StateType.StateLeader:
            this.stepLeader(m);
            break;
          case StateType.StateCandidate:
          case StateType.StatePreCandidate:
            this.stepCandidate(m);
            break;
          default:
            this.stepFollower(m);
        }
    }
  }

  /**
   * Handles a message as the leader.
   *
   * @param m The message.
   * @throws {ProposalDroppedError} When a proposal cannot be accepted.
   */
  stepLeader(m: Message): void {
    // These message types need no progress for m.from.
    switch (m.type) {
      case MessageType.MsgBeat:
        this.bcastHeartbeat();
        return;
      case MessageType.MsgCheckQuorum: {
        if (!this.trk.quorumActive()) {
          this.logger.warning(
            `${hex(this.id)} stepped down to follower since quorum is not active`,
          );
          this.becomeFollower(this.term, None);
        }
        // Everyone but this node starts the next check as inactive.
        const ids = this.trk.progress.sortedIds();
        const prs = this.trk.progress;
        for (let i = 0; i < ids.length; i++) {
          const id = ids[i]!;
          if (id !== this.id) prs.get(id)!.recentActive = false;
        }
        return;
      }
      case MessageType.MsgProp:
        this.stepLeaderProp(m);
        return;
      case MessageType.MsgReadIndex:
        // A single voter (the leader) confirms reads by itself.
        if (this.trk.isSingleton()) {
          const resp = this.responseToReadIndexReq(m, this.raftLog.committed);
          if (resp !== undefined) this.send(resp);
          return;
        }
        // Hold reads back until an entry of this term is committed.
        if (!this.committedEntryInCurrentTerm()) {
          this.pendingReadIndexMessages.push(m);
          return;
        }
        this.sendMsgReadIndexResponse(m);
        return;
      case MessageType.MsgForgetLeader:
        return; // A leader has no leader to forget.
    }

    // All other message types need the progress of m.from.
    const pr = this.trk.progress.get(m.from);
    if (pr === undefined) {
      this.logger.debug(`${hex(this.id)} no progress available for ${hex(m.from)}`);
      return;
    }
    switch (m.type) {
      case MessageType.MsgAppResp:
        this.handleAppResp(m, pr);
        break;
      case MessageType.MsgHeartbeatResp: {
        pr.recentActive = true;
        pr.msgAppFlowPaused = false;

        // Send an append (possibly empty) to a follower that is behind or
        // probing: a full window whose messages were lost gets unstuck, and a
        // caught-up prober can return to replicating. (StateSnapshot is
        // always paused, so nothing is sent there.)
        if (pr.match < this.raftLog.lastIndex() || pr.state === ProgressState.StateProbe) {
          this.sendAppend(m.from);
        }

        if (this.readOnly.option !== ReadOnlyOption.ReadOnlySafe || m.context.length === 0) {
          return;
        }

        this.readOnly.recvAck(m.from, m.context);
        const rss = this.readOnly.maybeAdvance(this.trk.config.voters);
        for (const rs of rss) {
          const resp = this.responseToReadIndexReq(rs.req, rs.index);
          if (resp !== undefined) this.send(resp);
        }
        break;
      }
      case MessageType.MsgSnapStatus:
        if (pr.state !== ProgressState.StateSnapshot) return;
        if (!m.reject) {
          pr.becomeProbe();
          this.logger.debug(
            `${hex(this.id)} snapshot succeeded, resumed sending replication messages to ${
              hex(m.from)
            } [${pr}]`,
          );
        } else {
          // Clear the pending snapshot first, or probing would start from
          // the snapshot index of a snapshot that never applied.
          pr.pendingSnapshot = 0;
          pr.becomeProbe();
          this.logger.debug(
            `${hex(this.id)} snapshot failed, resumed sending replication messages to ${
              hex(m.from)
            } [${pr}]`,
          );
        }
        // Wait for the follower's MsgAppResp (or a heartbeat) before sending more.
        pr.msgAppFlowPaused = true;
        break;
      case MessageType.MsgUnreachable:
        // An optimistic append to an unreachable peer was probably lost.
        if (pr.state === ProgressState.StateReplicate) pr.becomeProbe();
        this.logger.debug(
          `${hex(this.id)} failed to send message to ${
            hex(m.from)
          } because it is unreachable [${pr}]`,
        );
        break;
      case MessageType.MsgTransferLeader: {
        if (pr.isLearner) {
          this.logger.debug(`${hex(this.id)} is learner. Ignored transferring leadership`);
          return;
        }
        const leadTransferee = m.from;
        const lastLeadTransferee = this.leadTransferee;
        if (lastLeadTransferee !== None) {
          if (lastLeadTransferee === leadTransferee) {
            this.logger.info(
              `${hex(this.id)} [term ${this.term}] transfer leadership to ${
                hex(leadTransferee)
              } is in progress, ignores request to same node ${hex(leadTransferee)}`,
            );
            return;
          }
          this.abortLeaderTransfer();
          this.logger.info(
            `${hex(this.id)} [term ${this.term}] abort previous transferring leadership to ${
              hex(lastLeadTransferee)
            }`,
          );
        }
        if (leadTransferee === this.id) {
          this.logger.debug(
            `${hex(this.id)} is already leader. Ignored transferring leadership to self`,
          );
          return;
        }
        this.logger.info(
          `${hex(this.id)} [term ${this.term}] starts to transfer leadership to ${
            hex(leadTransferee)
          }`,
        );
        // The transfer must finish within one election timeout.
        this.electionElapsed = 0;
        this.leadTransferee = leadTransferee;
        if (pr.match === this.raftLog.lastIndex()) {
          this.sendTimeoutNow(leadTransferee);
          this.logger.info(
            `${hex(this.id)} sends MsgTimeoutNow to ${hex(leadTransferee)} immediately as ${
              hex(leadTransferee)
            } already has up-to-date log`,
          );
        } else {
          this.sendAppend(leadTransferee);
        }
        break;
      }
    }
  }

  /** The leader's handling of MsgProp. */
  private stepLeaderProp(m: Message): void {
    if (m.entries.length === 0) this.panic(`${hex(this.id)} stepped empty MsgProp`);
    if (!this.trk.progress.has(this.id)) {
      // This node was removed while leading: it takes no new proposals.
      throw new ProposalDroppedError();
    }
    if (this.leadTransferee !== None) {
      this.logger.debug(
        `${hex(this.id)} [term ${this.term}] transfer leadership to ${
          hex(this.leadTransferee)
        } is in progress; dropping proposal`,
      );
      throw new ProposalDroppedError();
    }

    const ents = m.entries;
    for (let i = 0; i < ents.length; i++) {
      const e = ents[i]!;
      let cc: ConfChangeI | undefined;
      if (e.type === EntryType.EntryConfChange) {
        cc = this.decodeProposedConfChange(e, false);
      } else if (e.type === EntryType.EntryConfChangeV2) {
        cc = this.decodeProposedConfChange(e, true);
      }
      if (cc === undefined) continue;
      const alreadyPending = this.pendingConfIndex > this.raftLog.applied;
      const alreadyJoint = this.trk.config.voters.outgoing.size > 0;
      const wantsLeaveJoint = ("changes" in cc ? cc.changes.length : 1) === 0;

      let failedCheck = "";
      if (alreadyPending) {
        failedCheck =
          `possible unapplied conf change at index ${this.pendingConfIndex} (applied to ${this.raftLog.applied})`;
      } else if (alreadyJoint && !wantsLeaveJoint) {
        failedCheck = "must transition out of joint config first";
      } else if (!alreadyJoint && wantsLeaveJoint) {
        failedCheck = "not in joint state; refusing empty conf change";
      }

      if (failedCheck !== "" && !this.disableConfChangeValidation) {
        this.logger.info(
          `${hex(this.id)} ignoring conf change ${
            describeConfChange(cc)
          } at config ${this.trk.config}: ${failedCheck}`,
        );
        ents[i] = { term: 0, index: 0, type: EntryType.EntryNormal, data: emptyBytes };
      } else {
        this.pendingConfIndex = this.raftLog.lastIndex() + i + 1;
      }
    }

    if (!this.appendEntry(ents)) throw new ProposalDroppedError();
    this.bcastAppend();
  }

  /** Decodes the conf change in a proposed entry; a bad encoding is a panic, as in etcd. */
  private decodeProposedConfChange(e: Entry, v2: boolean): ConfChangeI {
    try {
      return v2 ? decodeConfChangeV2(e.data) : decodeConfChange(e.data);
    } catch (err) {
      return this.panic(
        `cannot decode proposed conf change: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }

  /** The leader's handling of MsgAppResp (also its own acks, stepped on advance). */
  private handleAppResp(m: Message, pr: Progress): void {
    pr.recentActive = true;

    if (m.reject) {
      // rejectHint is the follower's guess of the last index where the logs
      // may match, and logTerm its term there (0 for an empty log or an old
      // follower).
      this.logger.debug(
        `${
          hex(this.id)
        } received MsgAppResp(rejected, hint: (index ${m.rejectHint}, term ${m.logTerm})) from ${
          hex(m.from)
        } for index ${m.index}`,
      );
      let nextProbeIdx = m.rejectHint;
      if (m.logTerm > 0) {
        // Skip every index where our term is above the follower's term at
        // the hint: a probe there must fail too. This probes at most once
        // per term in our log.
        nextProbeIdx = this.raftLog.findConflictByTerm(m.rejectHint, m.logTerm)[0];
      }
      if (pr.maybeDecrTo(m.index, nextProbeIdx)) {
        this.logger.debug(`${hex(this.id)} decreased progress of ${hex(m.from)} to [${pr}]`);
        if (pr.state === ProgressState.StateReplicate) pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }

    // Update on a new match, or when the response lets a probing peer move
    // back to replicating. (Not for StateSnapshot: a match equal to m.index
    // means the entry after it is not in our log.)
    if (
      pr.maybeUpdate(m.index) || (pr.match === m.index && pr.state === ProgressState.StateProbe)
    ) {
      if (pr.state === ProgressState.StateProbe) {
        pr.becomeReplicate();
      } else if (
        pr.state === ProgressState.StateSnapshot && pr.match + 1 >= this.raftLog.firstIndex()
      ) {
        // Whatever snapshot the follower applied, it can be caught up from
        // the log now. Go through probe so the snapshot is accounted for.
        this.logger.debug(
          `${
            hex(this.id)
          } recovered from needing snapshot, resumed sending replication messages to ${
            hex(m.from)
          } [${pr}]`,
        );
        pr.becomeProbe();
        pr.becomeReplicate();
      } else if (pr.state === ProgressState.StateReplicate) {
        pr.inflights.freeLE(m.index);
      }

      if (this.maybeCommit()) {
        // The commit index moved in this term: pending reads can be answered.
        this.releasePendingReadIndexMessages();
        this.bcastAppend();
      } else if (this.id !== m.from && pr.canBumpCommit(this.raftLog.committed)) {
        // The follower may lack the latest commit index; tell it now rather
        // than at the next heartbeat.
        this.sendAppend(m.from);
      }
      // Flow control may now allow several more messages; send what we can,
      // but no empty ones.
      if (this.id !== m.from) {
        while (this.maybeSendAppend(m.from, false)) {
          // Keep sending.
        }
      }
      // A leadership transfer waits for the transferee to catch up.
      if (m.from === this.leadTransferee && pr.match === this.raftLog.lastIndex()) {
        this.logger.info(
          `${hex(this.id)} sent MsgTimeoutNow to ${hex(m.from)} after received MsgAppResp`,
        );
        this.sendTimeoutNow(m.from);
      }
    }
  }

  /**
   * Handles a message as a candidate or pre-candidate.
   *
   * @param m The message.
   * @throws {ProposalDroppedError} For proposals: there is no leader.
   */
  stepCandidate(m: Message): void {
    // Only responses of the current kind of candidacy count (a candidate may
    // still get pre-vote responses from its pre-candidacy).
    const myVoteRespType = this.state === StateType.StatePreCandidate
      ? MessageType.MsgPreVoteResp
      : MessageType.MsgVoteResp;
    switch (m.type) {
      case MessageType.MsgProp:
        this.logger.info(`${hex(this.id)} no leader at term ${this.term}; dropping proposal`);
        throw new ProposalDroppedError();
      case MessageType.MsgApp:
        this.becomeFollower(m.term, m.from); // m.term === this.term here
        this.handleAppendEntries(m);
        break;
      case MessageType.MsgHeartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        break;
      case MessageType.MsgSnap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        break;
      case myVoteRespType: {
        const { granted, rejected, result } = this.poll(m.from, m.type, !m.reject);
        this.logger.info(
          `${hex(this.id)} has received ${granted} ${
            messageTypeNames[m.type]
          } votes and ${rejected} vote rejections`,
        );
        if (result === VoteResult.VoteWon) {
          if (this.state === StateType.StatePreCandidate) {
            this.campaign(CampaignType.campaignElection);
          } else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (result === VoteResult.VoteLost) {
          // A pre-vote response carries a future term; stay at ours.
          this.becomeFollower(this.term, None);
        }
        break;
      }
      case MessageType.MsgTimeoutNow:
        this.logger.debug(
          `${hex(this.id)} [term ${this.term} state ${
            stateTypeNames[this.state]
          }] ignored MsgTimeoutNow from ${hex(m.from)}`,
        );
        break;
    }
  }

  /**
   * Handles a message as a follower.
   *
   * @param m The message.
   * @throws {ProposalDroppedError} For proposals without a leader to forward to.
   */
  stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.MsgProp:
        if (this.lead === None) {
          this.logger.info(`${hex(this.id)} no leader at term ${this.term}; dropping proposal`);
          throw new ProposalDroppedError();
        } else if (this.disableProposalForwarding) {
          this.logger.info(
            `${hex(this.id)} not forwarding to leader ${
              hex(this.lead)
            } at term ${this.term}; dropping proposal`,
          );
          throw new ProposalDroppedError();
        }
        m.to = this.lead;
        this.send(m);
        break;
      case MessageType.MsgApp:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        break;
      case MessageType.MsgHeartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        break;
      case MessageType.MsgSnap:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        break;
      case MessageType.MsgTransferLeader:
        if (this.lead === None) {
          this.logger.info(
            `${hex(this.id)} no leader at term ${this.term}; dropping leader transfer msg`,
          );
          return;
        }
        m.to = this.lead;
        this.send(m);
        break;
      case MessageType.MsgForgetLeader:
        if (this.readOnly.option === ReadOnlyOption.ReadOnlyLeaseBased) {
          this.logger.error("ignoring MsgForgetLeader due to ReadOnlyLeaseBased");
          return;
        }
        if (this.lead !== None) {
          this.logger.info(
            `${hex(this.id)} forgetting leader ${hex(this.lead)} at term ${this.term}`,
          );
          this.lead = None;
        }
        break;
      case MessageType.MsgTimeoutNow:
        this.logger.info(
          `${hex(this.id)} [term ${this.term}] received MsgTimeoutNow from ${
            hex(m.from)
          } and starts an election to get leadership.`,
        );
        // Transfers skip the pre-vote: no partition to recover from here.
        this.hup(CampaignType.campaignTransfer);
        break;
      case MessageType.MsgReadIndex:
        if (this.lead === None) {
          this.logger.info(
            `${hex(this.id)} no leader at term ${this.term}; dropping index reading msg`,
          );
          return;
        }
        m.to = this.lead;
        this.send(m);
        break;
      case MessageType.MsgReadIndexResp:
        if (m.entries.length !== 1) {
          this.logger.error(
            `${hex(this.id)} invalid format of MsgReadIndexResp from ${
              hex(m.from)
            }, entries count: ${m.entries.length}`,
          );
          return;
        }
        this.readStates.push({ index: m.index, requestCtx: m.entries[0]!.data });
        break;
    }
  }

  /**
   * Handles MsgApp as a follower: appends on a match, else rejects with a
   * hint of where the logs may match.
   *
   * @param m The MsgApp.
   */
  handleAppendEntries(m: Message): void {
    const prevIndex = m.index;
    if (prevIndex < this.raftLog.committed) {
      this.send(
        makeMessage(
          MessageType.MsgAppResp,
          None,
          m.from,
          0,
          0,
          this.raftLog.committed,
          undefined,
          0,
        ),
      );
      return;
    }
    const mlastIndex = this.raftLog.maybeAppend(
      { term: m.term, prev: { term: m.logTerm, index: prevIndex }, entries: m.entries },
      m.commit,
    );
    if (mlastIndex !== undefined) {
      this.send(makeMessage(MessageType.MsgAppResp, None, m.from, 0, 0, mlastIndex, undefined, 0));
      return;
    }
    this.logger.debug(
      `${hex(this.id)} [logterm: ${
        this.raftLog.zeroTermOnOutOfBounds(m.index)
      }, index: ${m.index}] rejected MsgApp [logterm: ${m.logTerm}, index: ${m.index}] from ${
        hex(m.from)
      }`,
    );

    // Hint the largest (index, term) in our log with term <= m.logTerm and
    // index <= m.index: every later entry of ours cannot match. Since
    // m.index >= committed here, the search stays within the log.
    const [hintIndex, hintTerm] = this.raftLog.findConflictByTerm(
      Math.min(m.index, this.raftLog.lastIndex()),
      m.logTerm,
    );
    this.send(newMessage({
      type: MessageType.MsgAppResp,
      to: m.from,
      index: m.index,
      reject: true,
      rejectHint: hintIndex,
      logTerm: hintTerm,
    }));
  }

  /**
   * Handles MsgHeartbeat as a follower.
   *
   * @param m The heartbeat.
   */
  handleHeartbeat(m: Message): void {
    this.raftLog.commitTo(m.commit);
    this.send(newMessage({ type: MessageType.MsgHeartbeatResp, to: m.from, context: m.context }));
  }

  /**
   * Handles MsgSnap as a follower.
   *
   * @param m The snapshot message.
   */
  handleSnapshot(m: Message): void {
    // A MsgSnap without a snapshot is treated as an empty snapshot.
    const s = m.snapshot ?? newSnapshot();
    const sindex = s.metadata.index;
    const sterm = s.metadata.term;
    if (this.restore(s)) {
      this.logger.info(
        `${
          hex(this.id)
        } [commit: ${this.raftLog.committed}] restored snapshot [index: ${sindex}, term: ${sterm}]`,
      );
      this.send(newMessage({
        type: MessageType.MsgAppResp,
        to: m.from,
        index: this.raftLog.lastIndex(),
      }));
    } else {
      this.logger.info(
        `${
          hex(this.id)
        } [commit: ${this.raftLog.committed}] ignored snapshot [index: ${sindex}, term: ${sterm}]`,
      );
      this.send(newMessage({
        type: MessageType.MsgAppResp,
        to: m.from,
        index: this.raftLog.committed,
      }));
    }
  }

  /**
   * Restores the log and configuration from a snapshot.
   *
   * @param s The snapshot.
   * @returns `false` when the snapshot was ignored (obsolete, or unusable).
   */
  restore(s: Snapshot): boolean {
    if (s.metadata.index <= this.raftLog.committed) return false;
    if (this.state !== StateType.StateFollower) {
      // Defence in depth: never reached, since callers become followers first.
      this.logger.warning(
        `${hex(this.id)} attempted to restore snapshot as leader; should never happen`,
      );
      this.becomeFollower(this.term + 1, None);
      return false;
    }

    // More defence in depth: a snapshot that does not include this node is
    // refused, as much code assumes this node has a progress entry.
    const cs = s.metadata.confState;
    const found = cs.voters.includes(this.id) || cs.learners.includes(this.id) ||
      cs.votersOutgoing.includes(this.id);
    if (!found) {
      this.logger.warning(
        `${hex(this.id)} attempted to restore snapshot but it is not in the ConfState ${
          describeConfState(cs)
        }; should never happen`,
      );
      return false;
    }

    const id = { term: s.metadata.term, index: s.metadata.index };
    if (this.raftLog.matchTerm(id)) {
      // The log already holds the snapshot's last entry: just commit to it.
      const last = this.raftLog.lastEntryId();
      this.logger.info(
        `${
          hex(this.id)
        } [commit: ${this.raftLog.committed}, lastindex: ${last.index}, lastterm: ${last.term}] fast-forwarded commit to snapshot [index: ${id.index}, term: ${id.term}]`,
      );
      this.raftLog.commitTo(s.metadata.index);
      return false;
    }

    this.raftLog.restore(s);

    // Rebuild the configuration and progress from the snapshot's ConfState.
    this.trk = newProgressTracker(this.trk.maxInflight, this.trk.maxInflightBytes);
    let restored: { config: TrackerConfig; progress: ProgressMap };
    try {
      restored = restoreConfig(new Changer(this.trk, this.raftLog.lastIndex()), cs);
    } catch (e) {
      if (e instanceof RaftError) {
        this.panic(`unable to restore config ${describeConfState(cs)}: ${e.message}`);
      }
      throw e;
    }
    this.assertConfStatesEquivalent(cs, this.switchToConfig(restored.config, restored.progress));

    const last = this.raftLog.lastEntryId();
    this.logger.info(
      `${
        hex(this.id)
      } [commit: ${this.raftLog.committed}, lastindex: ${last.index}, lastterm: ${last.term}] restored snapshot [index: ${id.index}, term: ${id.term}]`,
    );
    return true;
  }

  /**
   * Whether this node may become leader: it is a voter in its configuration
   * and has no snapshot pending.
   *
   * @returns `true` when it may campaign.
   */
  promotable(): boolean {
    const pr = this.trk.progress.get(this.id);
    return pr !== undefined && !pr.isLearner && !this.raftLog.hasNextOrInProgressSnapshot();
  }

  /**
   * Applies a conf change to the configuration.
   *
   * @param cc The change, in the V2 form.
   * @returns The new ConfState.
   * @throws {RaftInvariantError} When the change cannot be applied.
   */
  applyConfChange(cc: ConfChangeV2): ConfState {
    let res: { config: TrackerConfig; progress: ProgressMap };
    try {
      res = this.#changedConfig(cc);
    } catch (e) {
      if (e instanceof RaftError) this.panic(e.message);
      throw e;
    }
    return this.switchToConfig(res.config, res.progress);
  }

  /**
   * Checks a configuration change without applying it.
   *
   * @param cc The change.
   * @param cs The configuration to check against; the active one by default.
   * @returns Why `applyConfChange(cc)` would fail; `undefined` when it would succeed.
   */
  checkConfChange(cc: ConfChangeV2, cs?: ConfState): ConfChangeError | undefined {
    try {
      let trk = this.trk;
      if (cs !== undefined) {
        trk = newProgressTracker(trk.maxInflight, trk.maxInflightBytes);
        const base = restoreConfig(new Changer(trk, this.raftLog.lastIndex()), cs);
        trk.config = base.config;
        trk.progress = base.progress;
      }
      this.#changedConfig(cc, trk);
      return undefined;
    } catch (e) {
      if (e instanceof ConfChangeError) return e;
      throw e;
    }
  }

  /** The configuration and progress `cc` leads to from `trk`'s; `trk` is not changed. */
  #changedConfig(
    cc: ConfChangeV2,
    trk: ProgressTracker = this.trk,
  ): { config: TrackerConfig; progress: ProgressMap } {
    const changer = new Changer(trk, this.raftLog.lastIndex());
    if (confChangeLeaveJoint(cc)) return changer.leaveJoint();
    const j = confChangeEnterJoint(cc);
    return j !== undefined
      ? changer.enterJoint(j.autoLeave, cc.changes)
      : changer.simple(cc.changes);
  }

  /**
   * Installs a new configuration and progress map, and reacts to it:
   * stepping down when removed (if configured), committing or probing.
   *
   * @param cfg The configuration.
   * @param prs The progress map.
   * @returns The ConfState of the new configuration.
   */
  switchToConfig(cfg: TrackerConfig, prs: ProgressMap): ConfState {
    this.trk.config = cfg;
    this.trk.progress = prs;

    this.logger.info(`${hex(this.id)} switched to configuration ${this.trk.config}`);
    const cs = this.trk.confState();
    const pr = this.trk.progress.get(this.id);

    // A removed node is not a learner.
    this.isLearner = pr !== undefined && pr.isLearner;

    if ((pr === undefined || this.isLearner) && this.state === StateType.StateLeader) {
      // The leader was removed or demoted.
      if (this.stepDownOnRemoval) this.becomeFollower(this.term, None);
      return cs;
    }

    // The rest only concerns a leader with other nodes.
    if (this.state !== StateType.StateLeader || cs.voters.length === 0) return cs;

    if (this.maybeCommit()) {
      // The new quorum commits more: tell everyone.
      this.bcastAppend();
    } else {
      // Probe new nodes now rather than at the next heartbeat or proposal.
      const ids = this.trk.progress.sortedIds();
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i]!;
        if (id === this.id) continue;
        this.maybeSendAppend(id, false);
      }
    }
    // Abort a transfer to a node that is no longer a voter.
    if (this.leadTransferee !== 0 && !this.trk.config.voters.ids().has(this.leadTransferee)) {
      this.abortLeaderTransfer();
    }
    return cs;
  }

  /**
   * Loads a persisted HardState.
   *
   * @param state The HardState; its commit must be within the log.
   */
  loadState(state: HardState): void {
    if (state.commit < this.raftLog.committed || state.commit > this.raftLog.lastIndex()) {
      this.panic(
        `${
          hex(this.id)
        } state.commit ${state.commit} is out of range [${this.raftLog.committed}, ${this.raftLog.lastIndex()}]`,
      );
    }
    this.raftLog.committed = state.commit;
    this.term = state.term;
    this.vote = state.vote;
  }

  /**
   * Whether the election timeout has passed.
   *
   * @returns `electionElapsed >= randomizedElectionTimeout`.
   */
  pastElectionTimeout(): boolean {
    return this.electionElapsed >= this.randomizedElectionTimeout;
  }

  /** Draws a new randomized election timeout. */
  resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.electionTimeout +
      randomIntN(this.rand, this.electionTimeout);
  }

  /**
   * Tells a peer to campaign at once.
   *
   * @param to The peer.
   */
  sendTimeoutNow(to: NodeId): void {
    this.send(newMessage({ type: MessageType.MsgTimeoutNow, to }));
  }

  /** Forgets the leadership transfer in progress. */
  abortLeaderTransfer(): void {
    this.leadTransferee = None;
  }

  /**
   * Whether the leader has committed an entry of its own term.
   *
   * @returns `true` when the entry at the commit index has the current term.
   */
  committedEntryInCurrentTerm(): boolean {
    // The term is never 0 on a leader, so a 0 from a miss never matches.
    return this.raftLog.zeroTermOnOutOfBounds(this.raftLog.committed) === this.term;
  }

  /**
   * Answers a ReadIndex request: a local request becomes a ReadState, a
   * remote one a MsgReadIndexResp.
   *
   * @param req The request.
   * @param readIndex The index at which reads are safe.
   * @returns The response to send, or `undefined` for a local request.
   */
  responseToReadIndexReq(req: Message, readIndex: Index): Message | undefined {
    if (req.from === None || req.from === this.id) {
      this.readStates.push({ index: readIndex, requestCtx: req.entries[0]!.data });
      return undefined;
    }
    return newMessage({
      type: MessageType.MsgReadIndexResp,
      to: req.from,
      index: readIndex,
      entries: req.entries,
    });
  }

  /**
   * Accounts for proposed entries in the uncommitted size, unless they would
   * exceed the limit. Empty payloads are never refused.
   *
   * @param ents The entries.
   * @returns `false` when the limit refuses them.
   */
  increaseUncommittedSize(ents: readonly Entry[]): boolean {
    const s = payloadsSize(ents);
    // An empty tail accepts any proposal; empty payloads always pass (the
    // leader's first entry, leaving a joint config).
    if (this.uncommittedSize > 0 && s > 0 && this.uncommittedSize + s > this.maxUncommittedSize) {
      return false;
    }
    this.uncommittedSize += s;
    return true;
  }

  /**
   * Removes committed entries from the uncommitted size (saturating at 0).
   *
   * @param s Their payload size.
   */
  reduceUncommittedSize(s: number): void {
    if (s > this.uncommittedSize) this.uncommittedSize = 0;
    else this.uncommittedSize -= s;
  }

  /** Answers the ReadIndex requests held back until a commit in this term. */
  releasePendingReadIndexMessages(): void {
    if (this.pendingReadIndexMessages.length === 0) return;
    if (!this.committedEntryInCurrentTerm()) {
      this.logger.error(
        "pending MsgReadIndex should be released only after first commit in current term",
      );
      return;
    }
    const msgs = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of msgs) this.sendMsgReadIndexResponse(m);
  }

  /**
   * Serves a ReadIndex request on a leader that has committed in its term.
   *
   * @param m The request.
   */
  sendMsgReadIndexResponse(m: Message): void {
    switch (this.readOnly.option) {
      case ReadOnlyOption.ReadOnlySafe:
        // Confirm leadership with a quorum heartbeat round.
        this.readOnly.addRequest(this.raftLog.committed, m);
        // The leader acknowledges the request itself.
        this.readOnly.recvAck(this.id, this.readOnly.heartbeatCtx());
        this.bcastHeartbeat();
        break;
      case ReadOnlyOption.ReadOnlyLeaseBased: {
        const resp = this.responseToReadIndexReq(m, this.raftLog.committed);
        if (resp !== undefined) this.send(resp);
        break;
      }
    }
  }
}

/**
 * Creates a Raft node (etcd's `newRaft`).
 *
 * @param c The configuration.
 * @returns The new node, a follower.
 * @throws {RangeError} When the configuration is invalid.
 */
export function newRaft(c: Config): Raft {
  return new Raft(c);
}

/**
 * Builds the MsgProp that proposes a conf change (etcd's `confChangeToMsg`).
 *
 * @param cc The conf change, or `undefined` for the empty V2 change that
 *   leaves a joint configuration.
 * @returns The proposal message.
 */
export function confChangeToMsg(cc: ConfChangeI | undefined): Message {
  if (cc === undefined) {
    return newMessage({
      type: MessageType.MsgProp,
      entries: [{ term: 0, index: 0, type: EntryType.EntryConfChangeV2, data: emptyBytes }],
    });
  }
  const { type, data } = marshalConfChange(cc);
  return newMessage({ type: MessageType.MsgProp, entries: [{ term: 0, index: 0, type, data }] });
}
