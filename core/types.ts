/**
 * The Raft data model: entries, messages, hard state, configuration state,
 * snapshots and configuration changes, with the same fields and numbering
 * as etcd raft's `raftpb` package, so the binary codec stays compatible.
 *
 * Every field is always present: absent integers are `0`, absent bytes are
 * an empty `Uint8Array`, an absent snapshot is `undefined`. Use the
 * `new*` constructors to fill the defaults.
 *
 * @module
 */

/** A log position. Always a non-negative safe integer. */
export type Index = number;
/** A Raft term. Always a non-negative safe integer. */
export type Term = number;
/** A node ID. `0` (`None`) means "no node". */
export type NodeId = number;

/** The ID that means "no node", as in etcd's `raft.None`. */
export const None: NodeId = 0;

/**
 * Target of `MsgStorageAppend` messages with asynchronous storage writes
 * (etcd uses 2^64-1; a JavaScript number uses the largest safe integer).
 */
export const LocalAppendThread: NodeId = Number.MAX_SAFE_INTEGER;
/** Target of `MsgStorageApply` messages with asynchronous storage writes. */
export const LocalApplyThread: NodeId = Number.MAX_SAFE_INTEGER - 1;

/** "No limit" for size limits (etcd's `math.MaxUint64`). */
export const noLimit: number = Infinity;

/** Shared empty byte array, used for absent `data` and `context` fields. */
export const emptyBytes: Uint8Array = new Uint8Array(0);

/** The type of a log entry. */
export const EntryType = {
  EntryNormal: 0,
  EntryConfChange: 1,
  EntryConfChangeV2: 2,
} as const;
/** The type of a log entry. */
export type EntryType = typeof EntryType[keyof typeof EntryType];

/** The type of a Raft message (values as in etcd's `raftpb.MessageType`). */
export const MessageType = {
  MsgHup: 0,
  MsgBeat: 1,
  MsgProp: 2,
  MsgApp: 3,
  MsgAppResp: 4,
  MsgVote: 5,
  MsgVoteResp: 6,
  MsgSnap: 7,
  MsgHeartbeat: 8,
  MsgHeartbeatResp: 9,
  MsgUnreachable: 10,
  MsgSnapStatus: 11,
  MsgCheckQuorum: 12,
  MsgTransferLeader: 13,
  MsgTimeoutNow: 14,
  MsgReadIndex: 15,
  MsgReadIndexResp: 16,
  MsgPreVote: 17,
  MsgPreVoteResp: 18,
  MsgStorageAppend: 19,
  MsgStorageAppendResp: 20,
  MsgStorageApply: 21,
  MsgStorageApplyResp: 22,
  MsgForgetLeader: 23,
} as const;
/** The type of a Raft message. */
export type MessageType = typeof MessageType[keyof typeof MessageType];

/** Names of the message types, indexed by value (`"MsgApp"` for 3). */
export const messageTypeNames: readonly string[] = Object.keys(MessageType);

/** The kind of one membership change. */
export const ConfChangeType = {
  ConfChangeAddNode: 0,
  ConfChangeRemoveNode: 1,
  ConfChangeUpdateNode: 2,
  ConfChangeAddLearnerNode: 3,
} as const;
/** The kind of one membership change. */
export type ConfChangeType = typeof ConfChangeType[keyof typeof ConfChangeType];

/** How a `ConfChangeV2` uses joint consensus. */
export const ConfChangeTransition = {
  /** Joint consensus only when needed, left automatically. */
  ConfChangeTransitionAuto: 0,
  /** Always joint consensus, left automatically. */
  ConfChangeTransitionJointImplicit: 1,
  /** Always joint consensus, left by an explicit empty `ConfChangeV2`. */
  ConfChangeTransitionJointExplicit: 2,
} as const;
/** How a `ConfChangeV2` uses joint consensus. */
export type ConfChangeTransition = typeof ConfChangeTransition[keyof typeof ConfChangeTransition];

/** One entry of the replicated log. */
export interface Entry {
  /** The term of the leader that created the entry. */
  term: Term;
  /** The entry's position in the log. */
  index: Index;
  /** Normal data, or a membership change. */
  type: EntryType;
  /** The payload; an empty array when there is none. */
  data: Uint8Array;
}

/** The membership of a cluster, as stored in snapshots. */
export interface ConfState {
  /** Voters of the incoming configuration. */
  voters: NodeId[];
  /** Non-voting members that receive the log. */
  learners: NodeId[];
  /** Voters of the outgoing configuration; non-empty only in a joint config. */
  votersOutgoing: NodeId[];
  /** Voters of the outgoing config that become learners when the joint config is left. */
  learnersNext: NodeId[];
  /** Whether the joint configuration is left automatically. */
  autoLeave: boolean;
}

/** Where a snapshot sits in the log, and the membership at that point. */
export interface SnapshotMetadata {
  /** The membership as of `index`. */
  confState: ConfState;
  /** The last log index the snapshot covers. */
  index: Index;
  /** The term of the entry at `index`. */
  term: Term;
}

/** A state machine snapshot. A snapshot with `metadata.index === 0` is empty. */
export interface Snapshot {
  /** The state machine's serialized state. */
  data: Uint8Array;
  /** Where the snapshot sits in the log. */
  metadata: SnapshotMetadata;
}

/** The state that must be durable before messages depending on it are sent. */
export interface HardState {
  /** The latest term this node has seen. */
  term: Term;
  /** The candidate voted for in `term`, or `None`. */
  vote: NodeId;
  /** The highest log index known to be committed. */
  commit: Index;
}

/** A message between Raft nodes, or between a node and its local storage threads. */
export interface Message {
  /** What the message is. */
  type: MessageType;
  /** The recipient. */
  to: NodeId;
  /** The sender. */
  from: NodeId;
  /** The sender's term; 0 for local messages and proposals. */
  term: Term;
  /** Term of the entry at `index` (for MsgApp, the entry before `entries`). */
  logTerm: Term;
  /** A log index whose meaning depends on the type (for MsgApp, the entry before `entries`). */
  index: Index;
  /** Log entries carried by the message. */
  entries: Entry[];
  /** The sender's commit index. */
  commit: Index;
  /** Set on MsgStorageAppend to carry the HardState's vote. */
  vote: NodeId;
  /** The snapshot of a MsgSnap, or `undefined`. */
  snapshot: Snapshot | undefined;
  /** Whether a response rejects the request. */
  reject: boolean;
  /** With `reject`, the index from which the sender's log may diverge. */
  rejectHint: Index;
  /** Opaque context (ReadIndex request ids, campaign transfer marker). */
  context: Uint8Array;
  /** Set on MsgStorageAppend and MsgStorageApply: what to deliver once the work is done. */
  responses: Message[];
}

/** A single-node membership change (the original form, `EntryConfChange`). */
export interface ConfChange {
  /** Add, remove, update, or add as learner. */
  type: ConfChangeType;
  /** The node changed. */
  nodeId: NodeId;
  /** Opaque application data, such as the node's address. */
  context: Uint8Array;
  /** Unused by Raft; kept for wire compatibility. */
  id: number;
}

/** One change inside a `ConfChangeV2`. */
export interface ConfChangeSingle {
  /** Add, remove, update, or add as learner. */
  type: ConfChangeType;
  /** The node changed. */
  nodeId: NodeId;
}

/** A membership change of any number of nodes (`EntryConfChangeV2`). */
export interface ConfChangeV2 {
  /** Whether and how joint consensus is used. */
  transition: ConfChangeTransition;
  /** The changes, applied together. */
  changes: ConfChangeSingle[];
  /** Opaque application data, such as node addresses. */
  context: Uint8Array;
}

/** Either form of membership change. */
export type ConfChangeI = ConfChange | ConfChangeV2;

/**
 * Creates an entry, filling absent fields with defaults.
 *
 * @param init The fields to set.
 * @returns A new entry.
 *
 * @example Usage
 * ```ts
 * import { newEntry } from "@raft-ts/raft";
 * const e = newEntry({ term: 1, index: 5 });
 * if (e.data.length !== 0) throw new Error("unexpected");
 * ```
 */
export function newEntry(init: Partial<Entry> = {}): Entry {
  return {
    term: init.term ?? 0,
    index: init.index ?? 0,
    type: init.type ?? EntryType.EntryNormal,
    data: init.data ?? emptyBytes,
  };
}

/**
 * Creates a message, filling absent fields with defaults.
 *
 * @param init The fields to set; `type` is required.
 * @returns A new message.
 *
 * @example Usage
 * ```ts
 * import { MessageType, newMessage } from "@raft-ts/raft";
 * const m = newMessage({ type: MessageType.MsgHeartbeat, from: 1, to: 2, term: 3 });
 * if (m.entries.length !== 0) throw new Error("unexpected");
 * ```
 */
export function newMessage(init: Partial<Message> & { type: MessageType }): Message {
  return {
    type: init.type,
    to: init.to ?? 0,
    from: init.from ?? 0,
    term: init.term ?? 0,
    logTerm: init.logTerm ?? 0,
    index: init.index ?? 0,
    entries: init.entries ?? [],
    commit: init.commit ?? 0,
    vote: init.vote ?? 0,
    snapshot: init.snapshot,
    reject: init.reject ?? false,
    rejectHint: init.rejectHint ?? 0,
    context: init.context ?? emptyBytes,
    responses: init.responses ?? [],
  };
}

/**
 * Creates a HardState.
 *
 * @param init The fields to set.
 * @returns A new HardState (all zero by default).
 */
export function newHardState(init: Partial<HardState> = {}): HardState {
  return { term: init.term ?? 0, vote: init.vote ?? 0, commit: init.commit ?? 0 };
}

/**
 * Creates a ConfState.
 *
 * @param init The fields to set.
 * @returns A new ConfState (empty by default).
 */
export function newConfState(init: Partial<ConfState> = {}): ConfState {
  return {
    voters: init.voters ?? [],
    learners: init.learners ?? [],
    votersOutgoing: init.votersOutgoing ?? [],
    learnersNext: init.learnersNext ?? [],
    autoLeave: init.autoLeave ?? false,
  };
}

/**
 * Creates a snapshot.
 *
 * @param init The data and metadata fields to set.
 * @returns A new snapshot (the empty snapshot by default).
 */
export function newSnapshot(
  init: { data?: Uint8Array; index?: Index; term?: Term; confState?: ConfState } = {},
): Snapshot {
  return {
    data: init.data ?? emptyBytes,
    metadata: {
      confState: init.confState ?? newConfState(),
      index: init.index ?? 0,
      term: init.term ?? 0,
    },
  };
}

/**
 * Creates a V1 conf change.
 *
 * @param init The fields to set.
 * @returns A new ConfChange.
 */
export function newConfChange(init: Partial<ConfChange> = {}): ConfChange {
  return {
    type: init.type ?? ConfChangeType.ConfChangeAddNode,
    nodeId: init.nodeId ?? 0,
    context: init.context ?? emptyBytes,
    id: init.id ?? 0,
  };
}

/**
 * Creates a V2 conf change.
 *
 * @param init The fields to set.
 * @returns A new ConfChangeV2.
 */
export function newConfChangeV2(init: Partial<ConfChangeV2> = {}): ConfChangeV2 {
  return {
    transition: init.transition ?? ConfChangeTransition.ConfChangeTransitionAuto,
    changes: init.changes ?? [],
    context: init.context ?? emptyBytes,
  };
}

/**
 * Tells whether a HardState is all zero (etcd's `IsEmptyHardState`).
 *
 * @param st The HardState.
 * @returns `true` when term, vote and commit are all zero.
 */
export function isEmptyHardState(st: HardState): boolean {
  return st.term === 0 && st.vote === 0 && st.commit === 0;
}

/**
 * Tells whether two HardStates are equal.
 *
 * @param a One HardState.
 * @param b The other.
 * @returns `true` when term, vote and commit are equal.
 */
export function isHardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/**
 * Tells whether a snapshot is empty (etcd's `IsEmptySnap`).
 *
 * @param sp The snapshot, or `undefined`.
 * @returns `true` when there is no snapshot or its index is zero.
 */
export function isEmptySnap(sp: Snapshot | undefined): boolean {
  return sp === undefined || sp.metadata.index === 0;
}

/**
 * Tells whether a conf change is the V2 form.
 *
 * @param cc A conf change of either form.
 * @returns `true` for a ConfChangeV2.
 */
export function isConfChangeV2(cc: ConfChangeI): cc is ConfChangeV2 {
  return "changes" in cc;
}

/**
 * Converts a conf change of either form to the V2 form.
 *
 * @param cc A conf change.
 * @returns The V2 form: a V1 change becomes one change with the Auto transition.
 */
export function confChangeAsV2(cc: ConfChangeI): ConfChangeV2 {
  if (isConfChangeV2(cc)) return cc;
  return {
    transition: ConfChangeTransition.ConfChangeTransitionAuto,
    changes: [{ type: cc.type, nodeId: cc.nodeId }],
    context: cc.context,
  };
}

/**
 * Tells whether a V2 conf change enters a joint configuration, and whether
 * that joint configuration is left automatically (etcd's `EnterJoint`).
 *
 * @param cc The V2 conf change.
 * @returns `undefined` when the change is applied without joint consensus,
 *   else `{ autoLeave }`.
 */
export function confChangeEnterJoint(cc: ConfChangeV2): { autoLeave: boolean } | undefined {
  if (
    cc.transition === ConfChangeTransition.ConfChangeTransitionAuto && cc.changes.length <= 1
  ) {
    return undefined;
  }
  switch (cc.transition) {
    case ConfChangeTransition.ConfChangeTransitionAuto:
    case ConfChangeTransition.ConfChangeTransitionJointImplicit:
      return { autoLeave: true };
    case ConfChangeTransition.ConfChangeTransitionJointExplicit:
      return { autoLeave: false };
    default:
      throw new RangeError(`Cannot read conf change: unknown transition ${cc.transition}`);
  }
}

/**
 * Tells whether a V2 conf change is the one that leaves a joint
 * configuration: no changes and the Auto transition, whatever its context
 * (etcd's `LeaveJoint`).
 *
 * @param cc The V2 conf change.
 * @returns `true` for the empty, Auto conf change.
 */
export function confChangeLeaveJoint(cc: ConfChangeV2): boolean {
  return cc.transition === ConfChangeTransition.ConfChangeTransitionAuto &&
    cc.changes.length === 0;
}

/** The role of a Raft node. */
export const StateType = {
  StateFollower: 0,
  StateCandidate: 1,
  StateLeader: 2,
  StatePreCandidate: 3,
} as const;
/** The role of a Raft node. */
export type StateType = typeof StateType[keyof typeof StateType];

/** Names of the roles, indexed by value (`"StateLeader"` for 2). */
export const stateTypeNames: readonly string[] = Object.keys(StateType);

/** Volatile state: who leads and in which role this node is. Not persisted. */
export interface SoftState {
  /** The known leader, or `None`. */
  lead: NodeId;
  /** This node's role. */
  raftState: StateType;
}

/** The answer to a ReadIndex request: reads may be served once `index` is applied. */
export interface ReadState {
  /** Reads are linearizable once this index is applied. */
  index: Index;
  /** The context passed to `readIndex()`. */
  requestCtx: Uint8Array;
}

/** How ReadIndex requests are served. */
export const ReadOnlyOption = {
  /** A quorum heartbeat round confirms leadership for every read. */
  ReadOnlySafe: 0,
  /** The leader lease (requires CheckQuorum) confirms leadership; clock skew can break it. */
  ReadOnlyLeaseBased: 1,
} as const;
/** How ReadIndex requests are served. */
export type ReadOnlyOption = typeof ReadOnlyOption[keyof typeof ReadOnlyOption];

/** The outcome of sending a snapshot, reported with `reportSnapshot`. */
export const SnapshotStatus = {
  SnapshotFinish: 1,
  SnapshotFailure: 2,
} as const;
/** The outcome of sending a snapshot. */
export type SnapshotStatus = typeof SnapshotStatus[keyof typeof SnapshotStatus];

/**
 * One batch of work from a `RawNode`: what to persist, send and apply.
 * See `RawNode.ready()`.
 */
export interface Ready {
  /** Set when the leader or role changed since the last Ready. */
  softState: SoftState | undefined;
  /** The HardState to persist; all zero (see `isEmptyHardState`) when unchanged. */
  hardState: HardState;
  /** ReadIndex answers to hand to waiting readers. */
  readStates: ReadState[];
  /** Entries to persist before sending `messages`. */
  entries: Entry[];
  /** A snapshot to persist and install; `undefined` when there is none. */
  snapshot: Snapshot | undefined;
  /** Committed entries to apply, in order. */
  committedEntries: Entry[];
  /** Messages to send once `entries`, `hardState` and `snapshot` are durable. */
  messages: Message[];
  /** Whether `hardState` and `entries` must be synced to disk before sending. */
  mustSync: boolean;
}
