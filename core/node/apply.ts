/**
 * Applying what Raft committed: commands to the state machine in batches,
 * membership changes one by one (checked against their intent first),
 * snapshots from the leader. The {@linkcode Applier} owns the applied
 * state (index, term, membership, removed IDs) and settles the requests
 * that applying decides.
 *
 * @module
 */

import { decodeConfChange, decodeConfChangeV2 } from "../codec.ts";
import type { ConfChangeError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { RawNode } from "../raw_node.ts";
import { cloneConfState } from "../storage.ts";
import {
  confChangeAsV2,
  ConfChangeType,
  type ConfChangeV2,
  type ConfState,
  emptyBytes,
  type Entry,
  EntryType,
  type Index,
  type NodeId,
  None,
  type Snapshot,
  type Term,
} from "../types.ts";
import { type Envelope, type MembershipIntent, readEnvelope } from "./envelope.ts";
import { SessionError } from "../errors.ts";
import type { ResultCodec } from "./result_codec.ts";
import type { Admission, SessionLimits } from "./sessions.ts";
import type { Listeners } from "./events.ts";
import { checkIntents } from "./membership.ts";
import { decodeSnapshotData, type ReplicatedState } from "./replicated.ts";
import type { PendingProposal, Requests } from "./requests.ts";
import { restoreStateMachine, type SnapshotPolicy } from "./snapshots.ts";
import type { Command, NodeStorage, StateMachine, Transport } from "./seams.ts";
import { restoreStoredSnapshot } from "./snapshot_streams.ts";

/** What the applier works with: the node's parts it reads and tells. */
export interface ApplyContext<R> {
  readonly id: NodeId;
  /** This run's incarnation: entries with another were proposed by an earlier run. */
  readonly incarnation: number;
  readonly rn: RawNode;
  readonly sm: StateMachine<R>;
  /** The node's storage (snapshots whose data it holds in chunks are restored from it). */
  readonly storage: NodeStorage;
  readonly transport: Transport;
  readonly logger: Logger;
  readonly requests: Requests<R>;
  readonly snapshots: SnapshotPolicy;
  readonly events: Listeners;
  /** Encodes the results of exactly-once commands for the session table. */
  readonly resultCodec: ResultCodec<R>;
  /** The bounds of the session table (also of one read from a snapshot). */
  readonly sessionLimits: SessionLimits;
  /** Whether the node closed (applying stops). */
  closed(): boolean;
}

/** A recorded result: a tag byte (1: the codec's bytes follow; 0: not kept). */
const resultKept = 1;
const resultNotKept = new Uint8Array([0]);

/** The applied state the node starts from. */
export interface AppliedState {
  applied: Index;
  smApplied: Index;
  lastAppliedTerm: Term;
  confState: ConfState;
  /** The driver's replicated state as of `applied`. */
  replicated: ReplicatedState;
}

/**
 * Applies committed entries and installed snapshots, in log order, exactly
 * once (also across restarts: commands the state machine already holds
 * are skipped).
 *
 * @typeParam R The result of applying one command.
 */
export class Applier<R> {
  readonly #c: ApplyContext<R>;
  /** The last index applied by this driver (commands, no-ops, membership changes). */
  #applied: Index;
  /** Commands at or below this index are in the state machine already. */
  #smApplied: Index;
  #lastAppliedTerm: Term;
  #confState: ConfState;
  /** The driver's replicated state (removed IDs, member contexts, sessions) as of the applied index. */
  #state: ReplicatedState;

  /**
   * Creates the applier.
   *
   * @param context The node's parts.
   * @param init The applied state at start.
   */
  constructor(context: ApplyContext<R>, init: AppliedState) {
    this.#c = context;
    this.#applied = init.applied;
    this.#smApplied = init.smApplied;
    this.#lastAppliedTerm = init.lastAppliedTerm;
    this.#confState = init.confState;
    this.#state = init.replicated;
  }

  /** The last index applied. */
  get applied(): Index {
    return this.#applied;
  }

  /** The term of the last entry applied. */
  get lastAppliedTerm(): Term {
    return this.#lastAppliedTerm;
  }

  /** The membership as of `applied` (not to be modified). */
  get confState(): ConfState {
    return this.#confState;
  }

  /** The driver's replicated state (removed IDs, member contexts, sessions) as of `applied`. */
  get replicated(): ReplicatedState {
    return this.#state;
  }

  /**
   * Tells the transport the address of every member of the configuration
   * but this node (as carried in the replicated state), and that the
   * members of `previous` not in it are gone.
   *
   * @param previous The configuration before, if any.
   */
  announcePeers(previous?: ConfState): void {
    const c = this.#c;
    const members = (cs: ConfState): NodeId[] => [
      ...cs.voters,
      ...cs.votersOutgoing,
      ...cs.learners,
      ...cs.learnersNext,
    ];
    const now = new Set(members(this.#confState));
    for (const id of previous === undefined ? [] : members(previous)) {
      if (now.has(id) || id === c.id) continue;
      this.#tellTransport(id, () => c.transport.removePeer?.(id));
    }
    for (const id of now) {
      const ctx = this.#state.contexts.get(id);
      if (id === c.id || ctx === undefined) continue;
      this.#tellTransport(id, () => c.transport.addPeer?.(id, ctx));
    }
  }

  #tellTransport(id: NodeId, call: () => void): void {
    try {
      call();
    } catch (err) {
      this.#c.logger.warning(
        `${this.#c.id} transport failed to update peer ${id}: ${
          err instanceof Error ? err.message : err
        }`,
      );
    }
  }

  /**
   * Whether a change holds against the applied membership: its intents,
   * then Raft's rules.
   *
   * @returns Why it is refused, or `undefined`.
   */
  checkChange(
    cc: ConfChangeV2,
    intents: readonly MembershipIntent[] | undefined,
  ): ConfChangeError | undefined {
    return checkIntents(this.#confState, this.#state.removed, cc.changes, intents) ??
      this.#c.rn.checkConfChange(cc, this.#confState);
  }

  /** Restores the state machine from a snapshot Raft installed. */
  async installSnapshot(snap: Snapshot): Promise<void> {
    const { index, term } = snap.metadata;
    const { state, data, stored } = decodeSnapshotData(snap.data, this.#c.sessionLimits);
    if (stored !== undefined) {
      await restoreStoredSnapshot(this.#c.sm, this.#c.storage, stored, { index, term });
    } else {
      await restoreStateMachine(this.#c.sm, data, { index, term });
    }
    const previous = this.#confState;
    this.#state = state;
    this.#applied = index;
    this.#smApplied = index;
    this.#lastAppliedTerm = term;
    this.#c.snapshots.taken(index);
    this.#confState = cloneConfState(snap.metadata.confState);
    this.announcePeers(previous);
    this.#c.requests.forgetIndexesThrough(index);
    this.#c.events.emit("membership", {
      confState: cloneConfState(this.#confState),
      changes: [],
      context: emptyBytes,
      index,
    });
    this.#afterApplied();
  }

  /** Settles the reads whose read index is applied. */
  #afterApplied(): void {
    this.#c.requests.settleReads(this.#applied);
  }

  /**
   * Learns the read index of one of this run's ReadIndex requests.
   *
   * @param index The read index.
   * @param ctx The request's context (its envelope).
   */
  readState(index: Index, ctx: Uint8Array): void {
    const env = readEnvelope(ctx);
    if (env === undefined || env.origin !== this.#c.id || env.incarnation !== this.#c.incarnation) {
      return;
    }
    if (!this.#c.requests.readIndexKnown(env.seq, index)) return;
    this.#afterApplied();
  }

  /** Applies committed entries in order: commands in batches, membership changes one by one. */
  async applyCommitted(ents: readonly Entry[]): Promise<void> {
    const c = this.#c;
    let cmds: Command[] = [];
    let owners: (number | undefined)[] = [];
    let records: (((result: R) => void) | undefined)[] = [];
    let after: (() => void)[] = [];
    let segmentEnd = this.#applied;
    const flush = async (): Promise<void> => {
      if (cmds.length > 0) {
        const batch = cmds;
        const seqs = owners;
        const recs = records;
        cmds = [];
        owners = [];
        records = [];
        await this.#applyCommands(batch, seqs, recs);
      }
      if (after.length > 0) {
        const fns = after;
        after = [];
        for (const fn of fns) fn();
      }
      if (segmentEnd > this.#applied) {
        this.#applied = segmentEnd;
        this.#afterApplied();
      }
    };

    let expected = this.#applied + 1;
    for (const e of ents) {
      if (e.index !== expected) {
        throw new RangeError(
          `Cannot apply entry ${e.index}: expected entry ${expected} (entries must be applied in order)`,
        );
      }
      expected++;
      let bytes = 0;
      if (e.type === EntryType.EntryNormal) {
        let owner: number | undefined;
        if (e.data.length > 0) {
          const env = readEnvelope(e.data);
          if (env === undefined) {
            throw new RangeError(`Cannot apply entry ${e.index}: its data has no driver envelope`);
          }
          if (env.origin === c.id && env.incarnation === c.incarnation) owner = env.seq;
          const pending = owner !== undefined && c.requests.isPending(owner) ? owner : undefined;
          const admitted = env.session === undefined
            ? { record: undefined, notKept: undefined }
            : this.#admitOnce(e.index, env, pending, (fn) => after.push(fn));
          if (admitted !== undefined) {
            if (e.index > this.#smApplied) {
              cmds.push({ index: e.index, term: e.term, data: e.data.subarray(env.offset) });
              owners.push(pending);
              records.push(admitted.record);
            } else {
              // Applied before a restart by a state machine that keeps its
              // state: its result was not kept.
              admitted.notKept?.();
            }
          }
          bytes = e.data.length;
        }
        c.requests.committed(e.index, owner);
        segmentEnd = e.index;
      } else {
        await flush();
        if (c.closed()) return;
        this.#applyConfChangeEntry(e);
        segmentEnd = e.index;
        this.#applied = e.index;
        this.#afterApplied();
      }
      this.#lastAppliedTerm = e.term;
      c.snapshots.applied(bytes);
    }
    await flush();
    if (!c.closed()) c.events.emit("applied", { index: this.#applied });
  }

  /**
   * Decides, from the session table, whether an exactly-once command (or a
   * session's start or end) applies. Outcomes that are not a command to
   * apply settle the proposer's request here, or once this batch is
   * applied (`later`).
   *
   * @returns What to record once the command is applied, or `undefined`
   *   when it is not applied.
   */
  #admitOnce(
    index: Index,
    env: Envelope,
    owner: number | undefined,
    later: (fn: () => void) => void,
  ):
    | { record: ((result: R) => void) | undefined; notKept: (() => void) | undefined }
    | undefined {
    const tag = env.session!;
    const sessions = this.#state.sessions;
    const settle = (fn: (p: PendingProposal<R>) => void): void => {
      if (owner !== undefined) this.#c.requests.settle(owner, (p) => fn(p as PendingProposal<R>));
    };
    let admission: Admission;
    let recorded: () => Uint8Array | undefined;
    let record: (bytes: Uint8Array) => void;
    switch (tag.kind) {
      case "register":
        sessions.register(index, tag.stampMs);
        settle((p) => p.resolve(index as R));
        return undefined;
      case "unregister":
        sessions.unregister(tag.id, tag.stampMs);
        settle((p) => p.resolve(undefined as R));
        return undefined;
      case "session":
        admission = sessions.admitSession(tag.id, tag.seq, tag.ackBelow, tag.stampMs);
        recorded = () => sessions.sessionResult(tag.id, tag.seq);
        record = (bytes) => sessions.recordSession(tag.id, tag.seq, bytes);
        break;
      case "key":
        admission = sessions.admitKey(tag.key, tag.fingerprint, tag.stampMs);
        recorded = () => sessions.keyResult(tag.key);
        record = (bytes) => sessions.recordKey(tag.key, bytes);
        break;
    }
    const answer = (bytes: Uint8Array | undefined): void =>
      settle((p) => {
        if (bytes === undefined || bytes[0] !== resultKept) {
          p.reject(
            new SessionError(
              "session_stale",
              "Cannot return the command's result: it applied already, and its result was not kept (it applied before a restart, or could not be encoded)",
            ),
          );
        } else {
          p.resolve(this.#c.resultCodec.decode(bytes.subarray(1)));
        }
      });
    switch (admission.kind) {
      case "apply":
        return {
          record: (result: R) => record(this.#encodeResult(result)),
          notKept: () => record(resultNotKept),
        };
      case "duplicate":
        answer(admission.result);
        return undefined;
      case "follows":
        later(() => answer(recorded()));
        return undefined;
      case "refused":
        settle((p) => p.reject(new SessionError(admission.reason, admission.message)));
        return undefined;
    }
  }

  /** The bytes the session table keeps for a result; the same on every node. */
  #encodeResult(result: R): Uint8Array {
    try {
      const bytes = this.#c.resultCodec.encode(result);
      const out = new Uint8Array(bytes.length + 1);
      out[0] = resultKept;
      out.set(bytes, 1);
      return out;
    } catch (e) {
      this.#c.logger.warning(
        `${this.#c.id} cannot keep a command's result for retries: ${
          e instanceof Error ? e.message : e
        }`,
      );
      return resultNotKept;
    }
  }

  /** Applies one batch of commands and settles this run's proposals among them. */
  async #applyCommands(
    batch: Command[],
    seqs: (number | undefined)[],
    records: (((result: R) => void) | undefined)[],
  ): Promise<void> {
    const results = await this.#c.sm.apply(batch);
    if (!Array.isArray(results) || results.length !== batch.length) {
      throw new TypeError(
        `Cannot apply commands: the state machine returned ${
          Array.isArray(results) ? results.length : "no"
        } results for ${batch.length} commands`,
      );
    }
    this.#smApplied = batch[batch.length - 1]!.index;
    for (let k = 0; k < records.length; k++) records[k]?.(results[k] as R);
    for (let k = 0; k < seqs.length; k++) {
      const seq = seqs[k];
      if (seq === undefined) continue;
      const result = results[k] as R;
      this.#c.requests.settle(seq, (p) => (p as PendingProposal<R>).resolve(result));
    }
  }

  #applyConfChangeEntry(e: Entry): void {
    const c = this.#c;
    const cc = e.type === EntryType.EntryConfChange
      ? confChangeAsV2(decodeConfChange(e.data))
      : decodeConfChangeV2(e.data);
    const env = readEnvelope(cc.context);
    const context = env === undefined ? cc.context : cc.context.subarray(env.offset);
    const owner = env !== undefined && env.origin === c.id && env.incarnation === c.incarnation
      ? env.seq
      : undefined;
    c.requests.committed(e.index, owner);
    const p = owner === undefined ? undefined : c.requests.pendingConfChange(owner);
    if (p !== undefined && c.requests.confInFlight === p) c.requests.confInFlight = undefined;

    const invalid = this.checkChange(cc, env?.intents);
    if (invalid !== undefined) {
      // Every node refuses it the same way: it is not applied to Raft.
      c.logger.warning(`${c.id} refused conf change at ${e.index}: ${invalid.message}`);
      if (owner !== undefined) c.requests.settle(owner, (q) => q.reject(invalid));
      return;
    }
    const cs = c.rn.applyConfChange(cc);
    this.#confState = cloneConfState(cs);
    for (const ch of cc.changes) {
      if (ch.type === ConfChangeType.ConfChangeRemoveNode) {
        this.#state.removed.add(ch.nodeId);
        this.#state.contexts.delete(ch.nodeId);
      } else if (ch.type !== ConfChangeType.ConfChangeUpdateNode && context.length > 0) {
        this.#state.contexts.set(ch.nodeId, context.slice());
      }
    }
    if (
      cc.changes.some((ch) =>
        ch.type === ConfChangeType.ConfChangeAddNode ||
        ch.type === ConfChangeType.ConfChangeAddLearnerNode
      )
    ) {
      c.snapshots.memberAdded();
    }
    this.#updatePeers(cc, context);
    c.events.emit("membership", {
      confState: cloneConfState(cs),
      changes: cc.changes,
      context,
      index: e.index,
    });
    c.requests.confChangeApplied(p, cs);
  }

  /** Tells the transport of the members a change added or removed. */
  #updatePeers(cc: ConfChangeV2, context: Uint8Array): void {
    const c = this.#c;
    for (const ch of cc.changes) {
      const id = ch.nodeId;
      if (id === c.id || id === None) continue;
      if (ch.type === ConfChangeType.ConfChangeRemoveNode) {
        this.#tellTransport(id, () => c.transport.removePeer?.(id));
      } else if (ch.type !== ConfChangeType.ConfChangeUpdateNode) {
        this.#tellTransport(id, () => c.transport.addPeer?.(id, context));
      }
    }
  }
}
