/**
 * The driver's Ready loop: steps queued requests into Raft, takes each
 * Ready, persists it (a leader sends its appends meanwhile), sends the
 * messages that depended on the write, installs snapshots, applies
 * committed entries, advances, and takes a snapshot when one is due.
 *
 * @module
 */

import { decodeConfChangeV2 } from "../codec.ts";
import {
  LeaderChangedError,
  NotLeaderError,
  ProposalDroppedError,
  StepLocalMsgError,
  StepPeerNotFoundError,
} from "../errors.ts";
import { cloneConfState } from "../storage.ts";
import {
  type Entry,
  EntryType,
  type HardState,
  type Index,
  isEmptyHardState,
  isEmptySnap,
  type Message,
  MessageType,
  messageTypeNames,
  newMessage,
  type NodeId,
  None,
  ReadOnlyOption,
  type Ready,
  type SoftState,
  StateType,
  type Term,
} from "../types.ts";
import type { Applier, ApplyContext } from "./apply.ts";
import { type Envelope, envelopeHeader, readEnvelope } from "./envelope.ts";
import { checkPeerMessage } from "./inbound.ts";
import { isJoint } from "./membership.ts";
import { copyReplicatedState, decodeSnapshotData, encodeSnapshotData } from "./replicated.ts";
import type { PendingProposal } from "./requests.ts";
import { collectSnapshotData } from "./snapshots.ts";
import type { Scheduler, TimerHandle } from "./scheduler.ts";
import type { NodeStorage, SnapshotChunkStore } from "./seams.ts";
import { createStoredSnapshot } from "./snapshot_streams.ts";

/** How many snapshot messages wait for an outstanding Ready; older ones are dropped. */
const heldSnapshotsMax = 4;
/** Readies handled in one run of the loop before it yields. */
const readiesPerRunMax = 64;

/** The node's parts the loop works with. */
export interface LoopContext<R> extends ApplyContext<R> {
  readonly storage: NodeStorage;
  readonly scheduler: Scheduler;
  readonly applier: Applier<R>;
  /** Whether followers forward proposals to the leader. */
  readonly forward: boolean;
  /** Bytes of proposals stepped into Raft as one message at most. */
  readonly maxBatchBytes: number;
  /** The scheduler's `yieldToIo`, taken before a Ready that writes; `undefined`: never yield. */
  readonly yieldToIo: ((fn: () => void) => TimerHandle) | undefined;
  /** How Raft serves reads (lease-based reads wait after a pause). */
  readonly readOnlyOption: ReadOnlyOption;
  /** Closes the node after a fatal error. */
  fail(e: unknown): void;
}

/**
 * The Ready loop of one node. It runs when kicked (by a request, a
 * message, a tick), handles up to `readiesPerRunMax` Readies, and kicks
 * itself again while work remains.
 *
 * @typeParam R The result of applying one command.
 */
export class ReadyLoop<R> {
  readonly #c: LoopContext<R>;
  /** Whether a Ready was taken and not yet advanced. */
  #readyOutstanding = false;
  /** MsgSnap messages received while a Ready was outstanding (at most `heldSnapshotsMax`). */
  #heldSnapshots: Message[] = [];
  #loopActive = false;
  #kickQueued = false;
  /** Settles when the running loop ends; `undefined` when none runs. */
  #loopDone: Promise<void> | undefined = undefined;
  /** While the loop waits in `yieldToIo`: the callback's handle and what wakes the loop. */
  #yielding: { handle: TimerHandle; wake: () => void } | undefined = undefined;
  /**
   * The log's last index when the last Ready was taken (its entries and
   * snapshot were handed to storage then); at start, the stored log's.
   * Raft's last index moving away from it means the next Ready has
   * entries or a snapshot to write.
   */
  #lastIndexTaken: Index;
  /** The HardState known to be durable. */
  #hardState: HardState;
  #lead: NodeId = None;
  #raftState: StateType = StateType.StateFollower;
  /** The tick at which a dropped peer message was last logged. */
  #refusedLoggedAt = -1;
  /** Removed members whose dropped messages were logged. */
  readonly #removedLogged = new Set<NodeId>();
  /** Reads are not handed to Raft before this tick (a lease-based leader re-checks its quorum). */
  #readsHeldUntil = 0;
  /** The tick at which this node last heard from the leader it knows (or led). */
  #leaderContactTick = 0;
  /**
   * A snapshot whose streamed data is being staged while the loop goes on
   * (at most one): settles when it is created or given up; `cancelled`
   * makes it give up at its next chunk.
   */
  #staging: { done: Promise<void>; cancelled: boolean } | undefined = undefined;

  /**
   * Creates the loop; it runs once kicked.
   *
   * @param context The node's parts.
   * @param hardState The HardState in storage.
   */
  constructor(context: LoopContext<R>, hardState: HardState) {
    this.#c = context;
    this.#hardState = hardState;
    this.#lastIndexTaken = context.storage.lastIndex();
    const ss = context.rn.basicStatus();
    this.#lead = ss.lead;
    this.#raftState = ss.raftState;
  }

  /**
   * Once the node is closed: wakes a loop waiting to take a Ready (it
   * takes none now) and waits for a running one to end, so that an
   * in-flight write finishes.
   *
   * @returns A Promise that settles once no loop runs.
   */
  async stop(): Promise<void> {
    const y = this.#yielding;
    if (y !== undefined) {
      this.#c.scheduler.clearTimeout(y.handle);
      y.wake();
    }
    if (this.#loopDone !== undefined) await this.#loopDone;
    await this.#cancelStaging();
  }

  /**
   * Steps a message from a peer (a snapshot waits while a Ready is
   * outstanding); a message Raft refuses is logged and dropped.
   *
   * @param m The message.
   */
  /**
   * With lease-based reads, holds reads for `ticks` ticks: long enough for
   * CheckQuorum to run on what the leader hears from now on, so that a
   * leader that lost its quorum steps down before it serves one.
   *
   * @param ticks How long.
   */
  recheckQuorum(ticks: number): void {
    if (this.#c.readOnlyOption !== ReadOnlyOption.ReadOnlyLeaseBased) return;
    this.#readsHeldUntil = this.#c.requests.ticks + ticks;
  }

  /** The tick at which this node last heard from its leader, or was the leader. */
  get leaderContactTick(): number {
    return this.#raftState === StateType.StateLeader
      ? this.#c.requests.ticks
      : this.#leaderContactTick;
  }

  step(m: Message): void {
    if (this.#c.closed()) return;
    const st = this.#c.rn.basicStatus();
    const refused = checkPeerMessage(m, { term: st.term, lastIndex: this.#c.rn.lastIndex() });
    if (refused !== undefined) {
      // At most one line per tick: a misbehaving peer cannot flood the log.
      const ticks = this.#c.requests.ticks;
      if (this.#refusedLoggedAt !== ticks) {
        this.#refusedLoggedAt = ticks;
        this.#c.logger.warning(
          `${this.#c.id} dropped a ${
            messageTypeNames[m.type] ?? m.type
          } from ${m.from}: ${refused}`,
        );
      }
      return;
    }
    if (this.#c.applier.replicated.removed.has(m.from)) {
      // A member removed while it was down (or cut off) never learns of it
      // and campaigns on: nothing it says matters to the group any more.
      if (!this.#removedLogged.has(m.from)) {
        this.#removedLogged.add(m.from);
        this.#c.logger.info(
          `${this.#c.id} drops the messages of ${m.from}: it was removed from the group`,
        );
      }
      return;
    }
    if (m.type === MessageType.MsgSnap && this.#readyOutstanding) {
      // Restoring a snapshot replaces the configuration; the Ready being
      // handled may still hold older membership changes to apply. Step the
      // snapshot once that Ready is advanced. Raft resends a lost one.
      if (this.#heldSnapshots.length >= heldSnapshotsMax) this.#heldSnapshots.shift();
      this.#heldSnapshots.push(m);
      return;
    }
    if (m.from === st.lead && m.term >= st.term) this.#leaderContactTick = this.#c.requests.ticks;
    try {
      this.#c.rn.step(m);
    } catch (e) {
      if (
        e instanceof StepPeerNotFoundError || e instanceof StepLocalMsgError ||
        e instanceof ProposalDroppedError
      ) {
        this.#c.logger.debug(`${this.#c.id} ignored a message from ${m.from}: ${e.message}`);
        return;
      }
      this.#c.fail(e);
      return;
    }
    this.kick();
  }

  /** Runs the loop soon (in a microtask), unless it is queued already or the node is closed. */
  kick(): void {
    if (this.#c.closed() || this.#kickQueued) return;
    this.#kickQueued = true;
    queueMicrotask(() => {
      this.#kickQueued = false;
      void this.#run();
    });
  }

  async #run(): Promise<void> {
    if (this.#loopActive || this.#c.closed()) return;
    this.#loopActive = true;
    let done!: () => void;
    this.#loopDone = new Promise<void>((r) => {
      done = r;
    });
    try {
      for (let i = 0; i < readiesPerRunMax && !this.#c.closed(); i++) {
        this.#flushRequests();
        if (!this.#c.rn.hasReady()) break;
        if (this.#c.yieldToIo !== undefined && this.#willWrite()) {
          // Let requests that arrived during the previous (synchronous)
          // write run, and join this Ready: see `yieldBeforeSave`.
          await this.#yield(this.#c.yieldToIo);
          if (this.#c.closed()) break;
          this.#flushRequests();
          if (!this.#c.rn.hasReady()) break;
        }
        const rd = this.#c.rn.ready();
        this.#lastIndexTaken = this.#c.rn.lastIndex();
        this.#readyOutstanding = true;
        const complete = await this.#handleReady(rd);
        if (!complete || this.#c.closed()) break;
        this.#c.rn.advance(rd);
        this.#readyOutstanding = false;
        this.#stepHeldSnapshots();
        await this.#maybeSnapshot();
      }
    } catch (e) {
      this.#c.fail(e);
    } finally {
      this.#loopActive = false;
      this.#loopDone = undefined;
      done();
    }
    if (!this.#c.closed() && this.#hasWork()) this.kick();
  }

  /**
   * Whether the next Ready writes to storage: the HardState differs from
   * the last one taken, or the log's last index moved since the last Ready
   * (new entries, a snapshot). Judged from RawNode's public state without
   * building the Ready. It misses the rare Ready whose new entries end
   * where the log ended (a new leader's entries replacing a conflicting
   * tail of the same length); that Ready is then taken without a yield.
   */
  #willWrite(): boolean {
    return this.#c.rn.hardStateChanged() || this.#c.rn.lastIndex() !== this.#lastIndexTaken;
  }

  /** Waits for one `yieldToIo` callback; `close()` wakes the loop early and cancels it. */
  #yield(yieldToIo: (fn: () => void) => TimerHandle): Promise<void> {
    return new Promise<void>((resolve) => {
      let woken = false;
      const y: { handle: TimerHandle; wake: () => void } = {
        handle: undefined,
        wake: (): void => {
          if (woken) return;
          woken = true;
          if (this.#yielding === y) this.#yielding = undefined;
          resolve();
        },
      };
      this.#yielding = y;
      y.handle = yieldToIo(y.wake);
    });
  }

  #stepHeldSnapshots(): void {
    if (this.#heldSnapshots.length === 0) return;
    const held = this.#heldSnapshots;
    this.#heldSnapshots = [];
    for (const m of held) this.step(m);
  }

  #hasWork(): boolean {
    if (this.#c.rn.hasReady()) return true;
    // Requests wait, queued, while no leader is known.
    if (this.#c.rn.basicStatus().lead === None) return false;
    const r = this.#c.requests;
    return r.hasQueuedProposals || (r.hasQueuedReads && r.ticks >= this.#readsHeldUntil) ||
      (r.hasQueuedConfChanges && this.#confReady());
  }

  /** Steps queued proposals, membership changes and read requests into Raft. */
  /**
   * Steps queued proposals, membership changes and read requests into
   * Raft. While no leader is known they stay queued (until one is, or
   * until their deadline); a follower that does not forward proposals
   * refuses them, naming the leader.
   */
  #flushRequests(): void {
    const st = this.#c.rn.basicStatus();
    const isLeader = st.raftState === StateType.StateLeader;
    const lead = st.lead;
    if (lead === None) return;
    const canPropose = isLeader || this.#c.forward;
    const forwardedTo = isLeader ? undefined : lead;

    const r = this.#c.requests;
    if (r.hasQueuedProposals) {
      const queue = r.takeProposals();
      if (!canPropose) {
        for (const p of queue) {
          r.settle(p.seq, (q) => q.reject(new NotLeaderError(this.#c.id, lead)));
        }
      } else {
        let batch: PendingProposal<R>[] = [];
        let bytes = 0;
        for (const p of queue) {
          if (batch.length > 0 && bytes + p.data.length > this.#c.maxBatchBytes) {
            this.#stepProposals(batch);
            batch = [];
            bytes = 0;
          }
          batch.push(p);
          p.forwardedTo = forwardedTo;
          bytes += p.data.length;
        }
        if (batch.length > 0) this.#stepProposals(batch);
      }
    }

    while (r.hasQueuedConfChanges) {
      if (!canPropose) {
        for (const p of r.takeConfChanges()) {
          r.settle(p.seq, (q) => q.reject(new NotLeaderError(this.#c.id, lead)));
        }
        break;
      }
      if (!this.#confReady()) break;
      const p = r.nextConfChange()!;
      // The membership may have changed since the request was made.
      const invalid = this.#c.applier.checkChange(p.cc, p.intents);
      if (invalid !== undefined) {
        r.settle(p.seq, (q) => q.reject(invalid));
        continue;
      }
      r.confInFlight = p;
      p.forwardedTo = forwardedTo;
      try {
        this.#c.rn.proposeConfChange(p.cc);
      } catch (e) {
        if (!(e instanceof ProposalDroppedError)) throw e;
        r.settle(p.seq, (q) => q.reject(e));
      }
    }

    if (r.hasQueuedReads && r.ticks >= this.#readsHeldUntil) {
      // One ReadIndex request serves every read queued meanwhile.
      const queue = r.takeReads();
      const seq = r.nextSeq();
      r.awaitReadIndex(seq, queue, lead);
      this.#c.rn.readIndex(new Uint8Array(envelopeHeader(this.#c.id, this.#c.incarnation, seq)));
    }
  }

  #stepProposals(batch: PendingProposal<R>[]): void {
    const entries: Entry[] = batch.map((p) => ({
      term: 0,
      index: 0,
      type: EntryType.EntryNormal,
      data: p.data,
    }));
    try {
      this.#c.rn.step(newMessage({ type: MessageType.MsgProp, from: this.#c.id, entries }));
    } catch (e) {
      if (!(e instanceof ProposalDroppedError)) throw e;
      for (const p of batch) {
        this.#c.requests.settle(p.seq, (q) => q.reject(new ProposalDroppedError()));
      }
    }
  }

  /**
   * Whether the leader may propose a membership change without Raft
   * turning it into an empty entry: no change proposed and unapplied, not
   * in a joint configuration, and an entry of the current term applied
   * (so that every change from earlier terms is applied).
   */
  #confReady(): boolean {
    const inFlight = this.#c.requests.confInFlight;
    if (this.#c.forward && this.#c.rn.basicStatus().raftState !== StateType.StateLeader) {
      return inFlight === undefined;
    }
    return inFlight === undefined && !isJoint(this.#c.applier.confState) &&
      this.#c.applier.lastAppliedTerm === this.#c.rn.basicStatus().term;
  }

  /**
   * Handles one Ready up to (not including) `advance()`.
   *
   * @returns `false` when the node closed meanwhile and the Ready must be abandoned.
   */
  async #handleReady(rd: Ready): Promise<boolean> {
    const hs = isEmptyHardState(rd.hardState) ? undefined : rd.hardState;
    if (rd.softState !== undefined) this.#onSoftState(rd.softState, hs?.term);
    this.#noteAppended(rd.entries);

    // A leader's appends may go out while it writes (Raft thesis 10.2.1),
    // as long as its term and vote are durable already; responses that
    // acknowledge state of this Ready always wait for the write.
    let messages = rd.messages;
    if (
      this.#raftState === StateType.StateLeader && messages.length > 0 &&
      (hs === undefined || (hs.term === this.#hardState.term && hs.vote === this.#hardState.vote))
    ) {
      const early: Message[] = [];
      const late: Message[] = [];
      for (const m of messages) {
        if (
          m.type === MessageType.MsgAppResp || m.type === MessageType.MsgVoteResp ||
          m.type === MessageType.MsgPreVoteResp
        ) {
          late.push(m);
        } else {
          early.push(m);
        }
      }
      this.#send(early);
      messages = late;
    }

    const snap = rd.snapshot !== undefined && !isEmptySnap(rd.snapshot) ? rd.snapshot : undefined;
    if (snap !== undefined) {
      // A snapshot from the leader replaces the one this node is taking.
      await this.#cancelStaging();
      if (this.#c.closed()) return false;
    }
    // Valid before durable: a state machine rebuilt from snapshots at each
    // start restores a received snapshot before it is saved, so that one it
    // cannot restore stops the node without being kept (a restart recovers
    // from the previous state). One that keeps its own state (appliedIndex)
    // restores it after, so that it is never ahead of the storage.
    const restoreFirst = snap !== undefined && this.#c.sm.appliedIndex === undefined;
    if (restoreFirst) {
      await this.#c.applier.installSnapshot(snap);
      if (this.#c.closed()) return false;
    }
    if (hs !== undefined || rd.entries.length > 0 || snap !== undefined) {
      const stored = snap === undefined
        ? undefined
        : decodeSnapshotData(snap.data, this.#c.sessionLimits).stored;
      await this.#c.storage.save({
        hardState: hs,
        entries: rd.entries,
        snapshot: snap,
        ...(stored !== undefined ? { snapshotData: stored } : {}),
        // Ready.mustSync (etcd's MustSync) looks only at entries, term and
        // vote; an installed snapshot is acknowledged by the MsgAppResp that
        // follows, so it must be durable too.
        mustSync: rd.mustSync || snap !== undefined,
      });
      if (hs !== undefined) this.#hardState = { term: hs.term, vote: hs.vote, commit: hs.commit };
      if (this.#c.closed()) return false;
    }

    if (snap !== undefined && !restoreFirst) await this.#c.applier.installSnapshot(snap);
    if (this.#c.closed()) return false;

    this.#send(messages);

    if (rd.committedEntries.length > 0) {
      await this.#c.applier.applyCommitted(rd.committedEntries);
      if (this.#c.closed()) return false;
    }

    for (const rs of rd.readStates) this.#c.applier.readState(rs.index, rs.requestCtx);
    return true;
  }

  #onSoftState(ss: SoftState, term: Term | undefined): void {
    const prevLead = this.#lead;
    this.#lead = ss.lead;
    this.#raftState = ss.raftState;
    if (prevLead === ss.lead) return;
    this.#leaderContactTick = this.#c.requests.ticks;
    // Requests that waited on the previous leader: reads are asked again of
    // the next one; forwarded writes it may or may not have taken fail now
    // rather than at their deadline.
    const r = this.#c.requests;
    r.requeueReadIndexes({ leader: ss.lead });
    r.rejectForwarded(
      ss.lead,
      (p) =>
        new LeaderChangedError("cc" in p ? "membership change" : "proposal", p.forwardedTo ?? None),
    );
    this.#c.events.emit("leader", {
      leaderId: ss.lead,
      term: term ?? this.#c.rn.basicStatus().term,
    });
    if (ss.lead === None) return;
    this.#c.requests.leaderKnown(ss.lead);
  }

  /** Learns where this run's proposals were appended. */
  #noteAppended(entries: readonly Entry[]): void {
    for (const e of entries) {
      let env: Envelope | undefined;
      if (e.type === EntryType.EntryNormal) {
        env = readEnvelope(e.data);
      } else if (
        e.type === EntryType.EntryConfChangeV2 && this.#c.requests.confInFlight !== undefined
      ) {
        env = readEnvelope(decodeConfChangeV2(e.data).context);
      }
      if (
        env === undefined || env.origin !== this.#c.id || env.incarnation !== this.#c.incarnation
      ) {
        continue;
      }
      this.#c.requests.appended(env.seq, e.index);
    }
  }

  #send(messages: readonly Message[]): void {
    if (messages.length === 0) return;
    try {
      this.#c.transport.send(messages);
    } catch (e) {
      // Messages may be lost; Raft retries. Tell it the peers are unreachable.
      this.#c.logger.warning(
        `${this.#c.id} could not send ${messages.length} messages: ${
          e instanceof Error ? e.message : e
        }`,
      );
      for (const m of messages) this.#c.rn.reportUnreachable(m.to);
    }
  }

  /**
   * Takes a snapshot and compacts the log when enough was applied since
   * the last one. Streamed data going into a storage that keeps chunks is
   * staged while the loop goes on (commands are applied meanwhile: the
   * state machine's stream shows the state as of the call, and the
   * driver's state is copied); other data is taken before the loop goes on.
   */
  async #maybeSnapshot(): Promise<void> {
    if (this.#staging !== undefined) return;
    const index = this.#c.applier.applied;
    if (!this.#c.snapshots.due(index)) return;
    const storage = this.#c.storage;
    const taken = await this.#c.sm.snapshot();
    if (this.#c.closed()) return;
    const confState = cloneConfState(this.#c.applier.confState);
    if (storage.snapshotChunks === undefined || this.#c.transport.streamsSnapshots !== true) {
      const data = encodeSnapshotData(this.#c.applier.replicated, await collectSnapshotData(taken));
      if (this.#c.closed()) return;
      await storage.createSnapshot(index, confState, data);
      await this.#snapshotCreated(index);
      return;
    }
    const chunked = storage as NodeStorage & { snapshotChunks: SnapshotChunkStore };
    if (taken instanceof Uint8Array) {
      await createStoredSnapshot(chunked, index, confState, this.#c.applier.replicated, taken);
      await this.#snapshotCreated(index);
      return;
    }
    const replicated = copyReplicatedState(this.#c.applier.replicated, this.#c.sessionLimits);
    const staging = { done: Promise.resolve(), cancelled: false };
    this.#staging = staging;
    const chunks = this.#untilCancelled(taken, staging);
    staging.done = (async (): Promise<void> => {
      try {
        await createStoredSnapshot(chunked, index, confState, replicated, chunks);
        if (this.#c.closed()) return;
        await this.#snapshotCreated(index);
      } catch (e) {
        if (!staging.cancelled && !this.#c.closed()) this.#c.fail(e);
      } finally {
        if (this.#staging === staging) this.#staging = undefined;
      }
    })();
  }

  /** The chunks of `data`, ending early (by throwing) once the staging is cancelled. */
  async *#untilCancelled(
    data: AsyncIterable<Uint8Array>,
    staging: { cancelled: boolean },
  ): AsyncGenerator<Uint8Array> {
    for await (const c of data) {
      if (staging.cancelled || this.#c.closed()) {
        throw new RangeError("Cannot take the snapshot: it was given up");
      }
      yield c;
    }
  }

  /** Gives up the snapshot being staged, if any, and waits until it let go of the storage. */
  async #cancelStaging(): Promise<void> {
    const staging = this.#staging;
    if (staging === undefined) return;
    staging.cancelled = true;
    await staging.done;
  }

  /** After a snapshot at `index` was created: compacts the log and tells the listeners. */
  async #snapshotCreated(index: Index): Promise<void> {
    const compactTo = this.#c.snapshots.taken(index);
    if (compactTo >= this.#c.storage.firstIndex()) await this.#c.storage.compact(compactTo);
    this.#c.events.emit("snapshot", { index });
  }
}
