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
import { type MembershipIntent, readEnvelope } from "./envelope.ts";
import type { Listeners } from "./events.ts";
import { checkIntents } from "./membership.ts";
import { decodeSnapshotData, type ReplicatedState } from "./replicated.ts";
import type { PendingProposal, Requests } from "./requests.ts";
import type { SnapshotPolicy } from "./snapshots.ts";
import type { Command, StateMachine, Transport } from "./seams.ts";

/** What the applier works with: the node's parts it reads and tells. */
export interface ApplyContext<R> {
  readonly id: NodeId;
  /** This run's incarnation: entries with another were proposed by an earlier run. */
  readonly incarnation: number;
  readonly rn: RawNode;
  readonly sm: StateMachine<R>;
  readonly transport: Transport;
  readonly logger: Logger;
  readonly requests: Requests<R>;
  readonly snapshots: SnapshotPolicy;
  readonly events: Listeners;
  /** Whether the node closed (applying stops). */
  closed(): boolean;
}

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
    const { state, data } = decodeSnapshotData(snap.data);
    await this.#c.sm.restore(data, { index, term });
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
    let segmentEnd = this.#applied;
    const flush = async (): Promise<void> => {
      if (cmds.length > 0) {
        const batch = cmds;
        const seqs = owners;
        cmds = [];
        owners = [];
        await this.#applyCommands(batch, seqs);
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
          if (e.index > this.#smApplied) {
            cmds.push({ index: e.index, term: e.term, data: e.data.subarray(env.offset) });
            owners.push(owner !== undefined && c.requests.isPending(owner) ? owner : undefined);
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

  /** Applies one batch of commands and settles this run's proposals among them. */
  async #applyCommands(batch: Command[], seqs: (number | undefined)[]): Promise<void> {
    const results = await this.#c.sm.apply(batch);
    if (!Array.isArray(results) || results.length !== batch.length) {
      throw new TypeError(
        `Cannot apply commands: the state machine returned ${
          Array.isArray(results) ? results.length : "no"
        } results for ${batch.length} commands`,
      );
    }
    this.#smApplied = batch[batch.length - 1]!.index;
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
