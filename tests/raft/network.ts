/**
 * Test harness for unit tests of the Raft state machine: the in-memory
 * `network` of etcd raft's `raft_test.go`, rebuilt for raft-ts.
 *
 * A network holds peers with IDs `1..n`. A peer is a {@linkcode Raft}, a
 * {@linkcode BlackHole} (drops everything sent to it, sends nothing), or
 * `undefined`, which is replaced by a fresh Raft on its own
 * {@linkcode MemoryStorage} with voters `1..n` (election 10, heartbeat 1).
 *
 * `network.send(...msgs)` delivers messages one by one, first in first out,
 * until no peer has anything left to send. After each step the receiver's
 * self-addressed responses (`msgsAfterAppend`) are stepped back into it, as
 * if its unstable state had become durable at once; its outgoing `msgs` then
 * pass through the filters (`drop`, `cut`, `isolate`, `ignore`, `msgHook`)
 * and join the end of the queue. As in etcd, `send` does NOT move the
 * unstable log into storage: entries stay in `raftLog.unstable` and are read
 * from there. Call {@linkcode nextEnts} to persist and apply them.
 *
 * Drops draw from a seeded generator (`network.rand`, default seed 1), so
 * every run is reproducible.
 *
 * @example A three-node election
 * ```ts
 * import { newNetwork, msgHup } from "./network.ts";
 * const nt = newNetwork(undefined, undefined, undefined);
 * nt.send(msgHup(1));
 * if (nt.raft(1).state !== 2) throw new Error("node 1 should lead"); // StateLeader
 * ```
 *
 * @module
 */

import { type Config, Raft } from "../../core/raft.ts";
import { RawNode } from "../../core/raw_node.ts";
import { RaftError } from "../../core/errors.ts";
import { newRand } from "../../core/rand.ts";
import { MemoryStorage } from "../../core/storage.ts";
import { Inflights } from "../../core/tracker/inflights.ts";
import { Progress } from "../../core/tracker/progress.ts";
import { newProgressTracker } from "../../core/tracker/tracker.ts";
import {
  type Entry,
  type HardState,
  type Index,
  type Message,
  MessageType,
  newEntry,
  newHardState,
  newMessage,
  type NodeId,
  noLimit,
  StateType,
  type Term,
} from "../../core/types.ts";

/** What a network peer must do (etcd's `stateMachine` test interface). */
export interface StateMachine {
  /** Steps one message; expected-outcome errors are ignored by the network. */
  step(m: Message): void;
}

/** A peer that swallows every message and never sends any (etcd's `blackHole`). */
export class BlackHole implements StateMachine {
  /** Every message stepped into this peer, for tests that want to look. */
  received: Message[] = [];

  /**
   * Records and drops a message.
   *
   * @param m The message.
   */
  step(m: Message): void {
    this.received.push(m);
  }
}

/** A fresh black hole (etcd's `nopStepper`). */
export function blackHole(): BlackHole {
  return new BlackHole();
}

/** A network peer as given to {@linkcode newNetwork}. */
export type PeerArg = Raft | BlackHole | undefined;

/**
 * A base test configuration (etcd's `newTestConfig`): no message size limit,
 * 256 in-flight messages, a discarding logger, a randomness source seeded
 * by the ID.
 *
 * @param id The node's ID.
 * @param electionTick The election timeout in ticks.
 * @param heartbeatTick The heartbeat interval in ticks.
 * @param storage The storage.
 * @returns A fresh configuration the caller may modify.
 */
export function newTestConfig(
  id: NodeId,
  electionTick: number,
  heartbeatTick: number,
  storage: MemoryStorage,
): Config {
  return {
    id,
    electionTick,
    heartbeatTick,
    storage,
    maxSizePerMsg: noLimit,
    maxInflightMsgs: 256,
  };
}

/** The membership written into a test storage's initial snapshot. */
export interface TestMemoryStorageOptions {
  /** Voter IDs (etcd's `withPeers`). */
  peers?: readonly NodeId[];
  /** Learner IDs (etcd's `withLearners`). */
  learners?: readonly NodeId[];
}

/**
 * A MemoryStorage whose (empty, index 0) snapshot carries a ConfState with
 * the given voters and learners (etcd's `newTestMemoryStorage`).
 *
 * @param opts The membership.
 * @returns The storage.
 */
export function newTestMemoryStorage(opts: TestMemoryStorageOptions = {}): MemoryStorage {
  const ms = new MemoryStorage();
  if (opts.peers !== undefined) ms.snap.metadata.confState.voters = [...opts.peers];
  if (opts.learners !== undefined) ms.snap.metadata.confState.learners = [...opts.learners];
  return ms;
}

/** Overrides applied to a test configuration. */
export type ConfigOverrides = Partial<Omit<Config, "id" | "storage">>;

/** Modifies a configuration in place (etcd's `configFunc`). */
export type ConfigFn = (c: Config) => void;

/**
 * A Raft from {@linkcode newTestConfig} (etcd's `newTestRaft`).
 *
 * @param id The node's ID.
 * @param electionTick The election timeout in ticks.
 * @param heartbeatTick The heartbeat interval in ticks.
 * @param storage The storage (its snapshot's ConfState is the membership).
 * @param opts Configuration overrides, such as `{ preVote: true }`.
 * @returns A follower at the storage's term.
 */
export function newTestRaft(
  id: NodeId,
  electionTick: number,
  heartbeatTick: number,
  storage: MemoryStorage,
  opts: ConfigOverrides = {},
): Raft {
  return new Raft({ ...newTestConfig(id, electionTick, heartbeatTick, storage), ...opts });
}

/**
 * A Raft on a storage where it is a learner (etcd's `newTestLearnerRaft`;
 * the storage decides the membership, so this is `newTestRaft`).
 *
 * @param id The node's ID.
 * @param electionTick The election timeout in ticks.
 * @param heartbeatTick The heartbeat interval in ticks.
 * @param storage The storage.
 * @param opts Configuration overrides.
 * @returns The node.
 */
export function newTestLearnerRaft(
  id: NodeId,
  electionTick: number,
  heartbeatTick: number,
  storage: MemoryStorage,
  opts: ConfigOverrides = {},
): Raft {
  return newTestRaft(id, electionTick, heartbeatTick, storage, opts);
}

/**
 * A RawNode from {@linkcode newTestConfig} (etcd's `newTestRawNode`).
 *
 * @param id The node's ID.
 * @param electionTick The election timeout in ticks.
 * @param heartbeatTick The heartbeat interval in ticks.
 * @param storage The storage.
 * @param opts Configuration overrides.
 * @returns The node.
 */
export function newTestRawNode(
  id: NodeId,
  electionTick: number,
  heartbeatTick: number,
  storage: MemoryStorage,
  opts: ConfigOverrides = {},
): RawNode {
  return new RawNode({ ...newTestConfig(id, electionTick, heartbeatTick, storage), ...opts });
}

/** Turns PreVote on (etcd's `preVoteConfig`). */
export function preVoteConfig(c: Config): void {
  c.preVote = true;
}

/** Turns CheckQuorum on. */
export function checkQuorumConfig(c: Config): void {
  c.checkQuorum = true;
}

/**
 * The IDs `1..size` (etcd's `idsBySize`).
 *
 * @param size How many.
 * @returns The IDs.
 */
export function idsBySize(size: number): NodeId[] {
  const ids: NodeId[] = [];
  for (let i = 0; i < size; i++) ids.push(i + 1);
  return ids;
}

/**
 * Sets the election timeout a node currently waits for (etcd's
 * `setRandomizedElectionTimeout`); it holds until the next role change.
 *
 * @param r The node.
 * @param v The timeout in ticks.
 */
export function setRandomizedElectionTimeout(r: Raft, v: number): void {
  r.randomizedElectionTimeout = v;
}

/**
 * Takes the node's self-addressed post-persistence responses
 * (etcd's `takeMessagesAfterAppend`).
 *
 * @param r The node.
 * @returns The messages, now removed from `r.msgsAfterAppend`.
 */
export function takeMessagesAfterAppend(r: Raft): Message[] {
  const msgs = r.msgsAfterAppend;
  r.msgsAfterAppend = [];
  return msgs;
}

/**
 * Steps messages addressed to the node into it and queues the others in
 * `r.msgs` (etcd's `stepOrSend`). Stops at the first expected-outcome error.
 *
 * @param r The node.
 * @param msgs The messages.
 * @throws {RaftError} The first error a step raised; later messages are dropped.
 */
export function stepOrSend(r: Raft, msgs: readonly Message[]): void {
  for (const m of msgs) {
    if (m.to === r.id) r.step(m);
    else r.msgs.push(m);
  }
}

/**
 * Acts as if the node's unstable state had become durable: delivers its
 * self-addressed responses (the leader's self-ack, its own vote) until none
 * remain, and queues the rest for sending (etcd's
 * `advanceMessagesAfterAppend`). Does not touch storage.
 *
 * @param r The node.
 */
export function advanceMessagesAfterAppend(r: Raft): void {
  for (;;) {
    const msgs = takeMessagesAfterAppend(r);
    if (msgs.length === 0) break;
    try {
      stepOrSend(r, msgs);
    } catch (e) {
      if (!(e instanceof RaftError)) throw e;
    }
  }
}

/**
 * Advances the post-persistence responses, then takes the node's outgoing
 * messages (etcd's `readMessages`).
 *
 * @param r The node.
 * @returns The messages, now removed from `r.msgs`.
 */
export function readMessages(r: Raft): Message[] {
  advanceMessagesAfterAppend(r);
  const msgs = r.msgs;
  r.msgs = [];
  return msgs;
}

/**
 * Reads the node's outgoing messages and asserts there is exactly one
 * (etcd's `expectOneMessage`).
 *
 * @param r The node.
 * @returns The message.
 * @throws {Error} When there is not exactly one message.
 */
export function expectOneMessage(r: Raft): Message {
  const msgs = readMessages(r);
  if (msgs.length !== 1) {
    throw new Error(`Cannot take one message: ${msgs.length} messages queued`);
  }
  return msgs[0]!;
}

/**
 * Persists the node's unstable entries into `storage`, marks them stable,
 * delivers its post-persistence responses, and applies everything committed
 * (etcd's `nextEnts`).
 *
 * @param r The node.
 * @param storage The node's storage.
 * @returns The newly applied entries.
 */
export function nextEnts(r: Raft, storage: MemoryStorage): Entry[] {
  storage.append(r.raftLog.nextUnstableEnts());
  r.raftLog.stableTo(r.raftLog.lastEntryId());
  advanceMessagesAfterAppend(r);
  const ents = r.raftLog.nextCommittedEnts(true);
  r.raftLog.appliedTo(r.raftLog.committed, 0);
  return ents;
}

/**
 * Appends entries to a leader's log, failing loudly if the uncommitted size
 * limit refuses them (etcd's `mustAppendEntry`).
 *
 * @param r The leader.
 * @param ents The entries (terms and indexes are assigned).
 * @throws {Error} When the entries were dropped.
 */
export function mustAppendEntry(r: Raft, ...ents: Entry[]): void {
  if (!r.appendEntry(ents)) throw new Error("Cannot append entries: unexpectedly dropped");
}

/**
 * A follower at term `terms.at(-1)` whose storage holds entries `1..n` with
 * the given terms (etcd's `entsWithConfig`). Its storage has no ConfState,
 * so give it to a network, which installs the membership.
 *
 * @param configFn Modifies the configuration, or `undefined`.
 * @param terms The term of each entry, from index 1.
 * @returns The node (ID 1, election 5, heartbeat 1).
 */
export function entsWithConfig(configFn: ConfigFn | undefined, ...terms: Term[]): Raft {
  const storage = new MemoryStorage();
  for (let i = 0; i < terms.length; i++) {
    storage.append([newEntry({ index: i + 1, term: terms[i]! })]);
  }
  const cfg = newTestConfig(1, 5, 1, storage);
  configFn?.(cfg);
  const sm = new Raft(cfg);
  sm.reset(terms[terms.length - 1] ?? 0);
  return sm;
}

/**
 * A follower with no entries that voted for `vote` in `term` (etcd's
 * `votedWithConfig`). Give it to a network, which installs the membership.
 *
 * @param configFn Modifies the configuration, or `undefined`.
 * @param vote The node voted for.
 * @param term The term.
 * @returns The node (ID 1, election 5, heartbeat 1).
 */
export function votedWithConfig(
  configFn: ConfigFn | undefined,
  vote: NodeId,
  term: Term,
): Raft {
  const storage = new MemoryStorage();
  storage.setHardState(newHardState({ vote, term }));
  const cfg = newTestConfig(1, 5, 1, storage);
  configFn?.(cfg);
  const sm = new Raft(cfg);
  sm.reset(term);
  return sm;
}

/**
 * A follower whose storage holds entries with the given terms at indexes
 * `1..n` and a ConfState with voters `peers` (not reset to any term).
 *
 * @param id The node's ID.
 * @param terms The term of each entry, from index 1.
 * @param peers The voters.
 * @param opts Configuration overrides.
 * @returns The node (election 10, heartbeat 1).
 */
export function newRaftWithLog(
  id: NodeId,
  terms: readonly Term[],
  peers: readonly NodeId[],
  opts: ConfigOverrides = {},
): Raft {
  const storage = newTestMemoryStorage({ peers });
  storage.append(terms.map((term, i) => newEntry({ index: i + 1, term })));
  return newTestRaft(id, 10, 1, storage, opts);
}

/**
 * Entries at consecutive indexes from `first` with the given terms and no
 * data (etcd's `index(first).terms(...)`).
 *
 * @param first The index of the first entry.
 * @param terms The term of each entry.
 * @returns The entries.
 */
export function entsAt(first: Index, ...terms: Term[]): Entry[] {
  return terms.map((term, i) => newEntry({ index: first + i, term }));
}

/**
 * Sorts messages by receiver, then type, then sender, in place (etcd's
 * `messageSlice` order), for order-independent assertions.
 *
 * @param msgs The messages.
 * @returns The same array, sorted.
 */
export function sortMessages(msgs: Message[]): Message[] {
  return msgs.sort((a, b) => a.to - b.to || a.type - b.type || a.from - b.from);
}

/**
 * The MsgAppResp a follower would send after accepting a MsgApp in full
 * (etcd's `acceptAndReply`).
 *
 * @param m The MsgApp.
 * @returns The acknowledgement, at the MsgApp's term.
 * @throws {Error} When `m` is not a MsgApp.
 */
export function acceptAndReply(m: Message): Message {
  if (m.type !== MessageType.MsgApp) throw new Error("Cannot accept message: not a MsgApp");
  return newMessage({
    type: MessageType.MsgAppResp,
    from: m.to,
    to: m.from,
    term: m.term,
    index: m.index + m.entries.length,
  });
}

/**
 * Makes a fresh leader commit its empty entry: broadcasts it, acknowledges
 * it on every follower's behalf, drops the follow-up messages, persists the
 * log into `s` and applies it (etcd's `commitNoopEntry`).
 *
 * @param r The leader.
 * @param s Its storage.
 * @throws {Error} When `r` is not the leader or sends something unexpected.
 */
export function commitNoopEntry(r: Raft, s: MemoryStorage): void {
  if (r.state !== StateType.StateLeader) {
    throw new Error("Cannot commit the empty entry: not the leader");
  }
  r.bcastAppend();
  for (const m of readMessages(r)) {
    if (
      m.type !== MessageType.MsgApp || m.entries.length !== 1 || m.entries[0]!.data.length !== 0
    ) {
      throw new Error("Cannot commit the empty entry: unexpected message");
    }
    r.step(acceptAndReply(m));
  }
  readMessages(r);
  s.append(r.raftLog.nextUnstableEnts());
  r.raftLog.appliedTo(r.raftLog.committed, 0);
  r.raftLog.stableTo(r.raftLog.lastEntryId());
}

/**
 * A new message; shorthand for `newMessage` with `from`/`to`/`type`.
 *
 * @param init The fields.
 * @returns The message.
 */
export function msg(init: Partial<Message> & { type: MessageType }): Message {
  return newMessage(init);
}

/**
 * The local MsgHup that makes node `id` campaign.
 *
 * @param id The node.
 * @returns The message.
 */
export function msgHup(id: NodeId): Message {
  return newMessage({ type: MessageType.MsgHup, from: id, to: id });
}

/**
 * The local MsgBeat that makes leader `id` broadcast heartbeats.
 *
 * @param id The node.
 * @returns The message.
 */
export function msgBeat(id: NodeId): Message {
  return newMessage({ type: MessageType.MsgBeat, from: id, to: id });
}

/**
 * A local proposal of one normal entry at node `id`.
 *
 * @param id The node.
 * @param data The payload (a string is UTF-8 encoded).
 * @returns The message.
 */
export function msgProp(id: NodeId, data: Uint8Array | string = "somedata"): Message {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  return newMessage({
    type: MessageType.MsgProp,
    from: id,
    to: id,
    entries: [newEntry({ data: bytes })],
  });
}

/**
 * The entries of a node's log from `lo` on (stable and unstable), terms and
 * indexes only, for compact assertions.
 *
 * @param r The node.
 * @param lo The first index (default: the first index).
 * @returns `[index, term]` pairs.
 */
export function logTerms(r: Raft, lo?: Index): Array<[Index, Term]> {
  const first = lo ?? r.raftLog.firstIndex();
  const last = r.raftLog.lastIndex();
  if (first > last) return [];
  return r.raftLog.entries(first, noLimit).map((e) => [e.index, e.term]);
}

/**
 * A node's HardState as a plain object.
 *
 * @param r The node.
 * @returns Its term, vote and commit index.
 */
export function hardStateOf(r: Raft): HardState {
  return r.hardState();
}

/** A directed link between two peers. */
function connKey(from: NodeId, to: NodeId): string {
  return `${from}->${to}`;
}

/** Options of a network. */
export interface NetworkOptions {
  /**
   * The seed of the generator behind `drop` probabilities.
   * @default {1}
   */
  seed?: number;
}

/**
 * An in-memory network of test peers (etcd's `network`). Create one with
 * {@linkcode newNetwork} or {@linkcode newNetworkWithConfig}.
 */
export class Network {
  /** The peers by ID: Raft nodes and black holes. */
  peers: Map<NodeId, Raft | BlackHole>;
  /**
   * The MemoryStorage of each Raft peer: the one the network created, or
   * the one a given Raft was built on when it is a MemoryStorage.
   */
  storage: Map<NodeId, MemoryStorage>;
  /** Drop probabilities by directed link (`"from->to"`); >= 1 always drops. */
  dropm: Map<string, number>;
  /** Message types that are never delivered. */
  ignorem: Set<MessageType>;
  /**
   * Called for each message that passed the other filters; return `false`
   * to drop it.
   */
  msgHook: ((m: Message) => boolean) | undefined;
  /** The generator behind drop probabilities. */
  rand: () => number;
  /** Every message the network delivered, in order (a transcript for debugging). */
  delivered: Message[];
  /** Whether to record `delivered` (off by default to keep tests fast). */
  record: boolean;

  /**
   * Creates a network from prepared peers; prefer {@linkcode newNetwork}.
   *
   * @param peers The peers by ID.
   * @param storage The storages by ID.
   * @param opts The options.
   */
  constructor(
    peers: Map<NodeId, Raft | BlackHole>,
    storage: Map<NodeId, MemoryStorage>,
    opts: NetworkOptions = {},
  ) {
    this.peers = peers;
    this.storage = storage;
    this.dropm = new Map();
    this.ignorem = new Set();
    this.msgHook = undefined;
    this.rand = newRand(opts.seed ?? 1);
    this.delivered = [];
    this.record = false;
  }

  /**
   * The Raft peer with this ID.
   *
   * @param id The peer's ID.
   * @returns The node.
   * @throws {Error} When the peer is missing or a black hole.
   */
  raft(id: NodeId): Raft {
    const p = this.peers.get(id);
    if (!(p instanceof Raft)) throw new Error(`Cannot get Raft peer ${id}: it is not a Raft`);
    return p;
  }

  /**
   * The storage of the peer with this ID.
   *
   * @param id The peer's ID.
   * @returns The storage.
   * @throws {Error} When the peer has no known MemoryStorage.
   */
  storageOf(id: NodeId): MemoryStorage {
    const s = this.storage.get(id);
    if (s === undefined) throw new Error(`Cannot get storage of peer ${id}: none known`);
    return s;
  }

  /**
   * Delivers messages, and everything they cause, until quiescence. A step
   * error that is an expected outcome (`RaftError`, such as a dropped
   * proposal) is ignored, as etcd's harness does.
   *
   * @param msgs The messages to deliver first (they are not filtered).
   * @throws {Error} When a message is addressed to an unknown peer, or a
   *   MsgHup would travel between peers.
   */
  send(...msgs: Message[]): void {
    const queue: Message[] = [...msgs];
    // A FIFO over an array with a moving head avoids O(n^2) shifts.
    for (let head = 0; head < queue.length; head++) {
      const m = queue[head]!;
      const p = this.peers.get(m.to);
      if (p === undefined) throw new Error(`Cannot deliver message: no peer ${m.to}`);
      if (this.record) this.delivered.push(m);
      if (p instanceof Raft) {
        try {
          p.step(m);
        } catch (e) {
          if (!(e instanceof RaftError)) throw e;
        }
        advanceMessagesAfterAppend(p);
        for (const out of this.filter(readMessages(p))) queue.push(out);
      } else {
        p.step(m);
      }
      if (head > 1_000_000) throw new Error("Cannot reach quiescence: over a million messages");
    }
  }

  /**
   * Drops a fraction of the messages on one directed link.
   *
   * @param from The sender.
   * @param to The receiver.
   * @param perc The drop probability; 1 or more drops everything.
   */
  drop(from: NodeId, to: NodeId, perc: number): void {
    this.dropm.set(connKey(from, to), perc);
  }

  /**
   * Drops every message between two peers, both ways.
   *
   * @param one A peer.
   * @param other Another peer.
   */
  cut(one: NodeId, other: NodeId): void {
    this.drop(one, other, 2.0);
    this.drop(other, one, 2.0);
  }

  /**
   * Drops every message to and from a peer (its ID and the IDs `1..n`).
   *
   * @param id The peer to isolate.
   */
  isolate(id: NodeId): void {
    for (let i = 0; i < this.peers.size; i++) {
      const nid = i + 1;
      if (nid !== id) {
        this.drop(id, nid, 1.0);
        this.drop(nid, id, 1.0);
      }
    }
  }

  /**
   * Never delivers messages of this type.
   *
   * @param t The message type.
   */
  ignore(t: MessageType): void {
    this.ignorem.add(t);
  }

  /** Removes every drop, cut, isolation and ignored type (not `msgHook`). */
  recover(): void {
    this.dropm = new Map();
    this.ignorem = new Set();
  }

  /**
   * Applies the filters to a peer's outgoing messages.
   *
   * @param msgs The messages.
   * @returns Those to deliver.
   * @throws {Error} On a MsgHup, which never travels between peers.
   */
  filter(msgs: readonly Message[]): Message[] {
    const out: Message[] = [];
    for (const m of msgs) {
      if (this.ignorem.has(m.type)) continue;
      if (m.type === MessageType.MsgHup) throw new Error("Cannot send MsgHup over the network");
      const perc = this.dropm.get(connKey(m.from, m.to)) ?? 0;
      if (this.rand() < perc) continue;
      if (this.msgHook !== undefined && !this.msgHook(m)) continue;
      out.push(m);
    }
    return out;
  }
}

/**
 * A network of peers `1..peers.length` with default configuration (etcd's
 * `newNetwork`). See {@linkcode newNetworkWithConfig}.
 *
 * @param peers Each a Raft, a black hole, or `undefined` for a fresh node.
 * @returns The network.
 */
export function newNetwork(...peers: PeerArg[]): Network {
  return newNetworkWithConfig(undefined, ...peers);
}

/**
 * A network of peers `1..peers.length` (etcd's `newNetworkWithConfig`).
 *
 * - `undefined` becomes a new Raft on a new storage with voters `1..n`
 *   (election 10, heartbeat 1), its config passed through `configFn`.
 * - A Raft gets the ID of its position and a new tracker with every peer as
 *   a voter (or a learner if it already tracked that ID as a learner), then
 *   is reset at its term. Its log and HardState are kept.
 * - A black hole is used as is.
 *
 * @param configFn Modifies the config of nodes the network creates.
 * @param peers The peers.
 * @returns The network.
 */
export function newNetworkWithConfig(
  configFn: ConfigFn | undefined,
  ...peers: PeerArg[]
): Network {
  const size = peers.length;
  const peerAddrs = idsBySize(size);
  const npeers = new Map<NodeId, Raft | BlackHole>();
  const nstorage = new Map<NodeId, MemoryStorage>();
  for (let j = 0; j < size; j++) {
    const p = peers[j];
    const id = peerAddrs[j]!;
    if (p === undefined) {
      const storage = newTestMemoryStorage({ peers: peerAddrs });
      nstorage.set(id, storage);
      const cfg = newTestConfig(id, 10, 1, storage);
      configFn?.(cfg);
      npeers.set(id, new Raft(cfg));
    } else if (p instanceof Raft) {
      const learners = new Set(p.trk.config.learners);
      // The harness renumbers nodes by position, as etcd's does.
      (p as { id: NodeId }).id = id;
      p.trk = newProgressTracker(p.trk.maxInflight, p.trk.maxInflightBytes);
      for (const pid of peerAddrs) {
        const isLearner = learners.has(pid);
        if (isLearner) p.trk.config.learners.add(pid);
        else p.trk.config.voters.incoming.add(pid);
        p.trk.progress.set(
          pid,
          new Progress({ inflights: new Inflights(p.trk.maxInflight, 0), isLearner }),
        );
      }
      p.reset(p.term);
      npeers.set(id, p);
      if (p.raftLog.storage instanceof MemoryStorage) nstorage.set(id, p.raftLog.storage);
    } else {
      npeers.set(id, p);
    }
  }
  return new Network(npeers, nstorage);
}
