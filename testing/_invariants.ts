/**
 * Raft's safety properties, checked continuously while a simulation runs.
 * The simulator feeds {@linkcode InvariantChecker} what it observes: every
 * write to a node's storage view and every write that becomes durable,
 * each node's status after every step, leader changes, every command a
 * state machine applies and every snapshot it restores, and each restart.
 * The first broken property throws an {@linkcode InvariantViolation}.
 *
 * Properties:
 * - `single-leader`: at most one leader per term (from the nodes' own
 *   state and from every node's view of who leads).
 * - `log-matching`: an (index, term) pair names one entry, in every log,
 *   written or durable, ever; and the same predecessor term, so logs that
 *   share an entry share the whole prefix before it.
 * - `leader-completeness`: a new leader's log holds every entry known to be
 *   committed when it was elected.
 * - `committed-stable`: an entry a node knows to be committed never changes
 *   (in its log, durable or not, or on any other node), a node's persisted
 *   commit index never goes back, and never passes its log.
 * - `applied-consistent`: each node applies commands in strictly increasing
 *   index order, and every node applies the same command at an index.
 * - `state-consistent` (replica agreement): every state machine is in the
 *   same state after the same command (its own `snapshot()` gives the same
 *   bytes), returns the same result for it, and is in that state again
 *   after restoring a snapshot of it.
 * - `snapshot-fidelity`: restoring a state machine's snapshot and taking a
 *   snapshot again gives the same bytes.
 * - `hardstate-monotonic`: a node's term never decreases and its vote never
 *   changes within a term: in memory, on disk, and across restarts.
 * - `durable-before-send`: what a message vouches for is durable when it
 *   is sent: its term (pre-votes aside), and, in the current durable term,
 *   the entries a `MsgAppResp` acknowledges and the vote a `MsgVoteResp`
 *   grants.
 *
 * @module
 */

import type { RaftNodeStatus } from "../core/node.ts";
import type { MemoryStorage } from "../core/storage.ts";
import {
  type Entry,
  type HardState,
  type Index,
  type Message,
  MessageType,
  type NodeId,
  StateType,
  type Term,
} from "../core/types.ts";
import { hashBytes } from "./_prng.ts";
import type { JournalOp } from "./_sim_storage.ts";

/** The properties the simulator checks, by name. */
export type InvariantName =
  | "single-leader"
  | "log-matching"
  | "leader-completeness"
  | "committed-stable"
  | "applied-consistent"
  | "state-consistent"
  | "snapshot-fidelity"
  | "hardstate-monotonic"
  | "durable-before-send"
  | "removed-stays-removed"
  | "liveness"
  | "node-failure"
  | "linearizability"
  | "exactly-once";

/** A broken property. */
export class InvariantViolation extends Error {
  /** Literal code for programmatic checks. */
  readonly code = "invariant_violation";
  /** Which property broke. */
  readonly invariant: InvariantName;
  /** The virtual time it was seen at. */
  readonly time: number;

  /**
   * Creates the error.
   *
   * @param invariant The property.
   * @param time The virtual time.
   * @param detail What was seen.
   */
  constructor(invariant: InvariantName, time: number, detail: string) {
    super(`${invariant} violated at ${time.toFixed(3)} ms: ${detail}`);
    this.name = "InvariantViolation";
    this.invariant = invariant;
    this.time = time;
  }
}

/** A hash of an entry's type and data. */
export function entryHash(e: Entry): number {
  return (hashBytes(e.data) ^ Math.imul(e.type + 1, 0x9e3779b1)) >>> 0;
}

interface LogKey {
  hash: number;
  prevTerm: Term;
  node: NodeId;
}

interface Committed {
  term: Term;
  /** The entry's hash, when an entry (not only a snapshot or command) was seen. */
  hash: number | undefined;
  node: NodeId;
}

interface LiveTrack {
  incarnation: number;
  term: Term;
  vote: NodeId;
  commit: Index;
  lastApplied: Index;
}

interface ViewTrack {
  /** Committed entries of this view were recorded up to here. */
  recorded: Index;
  commit: Index;
}

interface PendingLeader {
  node: NodeId;
  incarnation: number;
  term: Term;
  upTo: Index;
}

const termBits = 2 ** 24;

/** Checks Raft's safety properties on what the simulator observes. */
export class InvariantChecker {
  /** Checks made so far (one per property per observation). */
  checks = 0;
  /** Distinct terms in which a leader was seen. */
  elections = 0;
  readonly #now: () => number;
  readonly #leaders = new Map<Term, NodeId>();
  readonly #log = new Map<number, LogKey>();
  readonly #committed = new Map<Index, Committed>();
  #maxCommitted: Index = 0;
  readonly #applied = new Map<
    Index,
    { term: Term; digest: number; resultDigest: number; node: NodeId }
  >();
  readonly #live = new Map<NodeId, LiveTrack>();
  readonly #views = new Map<NodeId, ViewTrack>();
  readonly #durable = new Map<NodeId, HardState>();
  #pending: PendingLeader[] = [];
  /** Terms whose leader got a leader-completeness check. */
  readonly #leaderChecked = new Set<Term>();
  /** The digest of an empty state machine's snapshot. */
  emptyDigest: number | undefined = undefined;
  /** Receives each committed entry once, the first time its data is seen. */
  onCommittedEntry: ((e: Entry) => void) | undefined = undefined;
  readonly #disabled: ReadonlySet<InvariantName>;

  /**
   * Creates a checker.
   *
   * @param now The virtual clock, for messages.
   * @param disabled Properties not to check (to show that others catch a bug too).
   */
  constructor(now: () => number, disabled: readonly InvariantName[] = []) {
    this.#now = now;
    this.#disabled = new Set(disabled);
  }

  /** The highest index known to be committed. */
  get maxCommitted(): Index {
    return this.#maxCommitted;
  }

  /** Throws the violation, unless that property is not checked. */
  #fail(invariant: InvariantName, detail: string): void {
    if (this.#disabled.has(invariant)) return;
    throw new InvariantViolation(invariant, this.#now(), detail);
  }

  // -------------------------------------------------------------------------
  // Membership

  /** The members of each configuration seen, by the index it took effect at. */
  readonly #configs = new Map<Index, ReadonlySet<NodeId>>();

  /**
   * A node applied the configuration `members` at `index` (a membership
   * change, or a snapshot that holds one). Checks that no ID is a member
   * again after a configuration it had been removed from: a removed ID is
   * never admitted again.
   *
   * @param observer The node that applied it.
   * @param index The configuration's index.
   * @param members Its voters (incoming and outgoing) and learners.
   */
  observeConfig(observer: NodeId, index: Index, members: ReadonlySet<NodeId>): void {
    this.checks++;
    if (this.#configs.has(index)) return;
    this.#configs.set(index, members);
    const ordered = [...this.#configs].sort((a, b) => a[0] - b[0]);
    const ids = new Set<NodeId>();
    for (const [, m] of ordered) for (const id of m) ids.add(id);
    for (const id of ids) {
      let state: "never" | "member" | "removed" = "never";
      let removedAt: Index = 0;
      for (const [i, m] of ordered) {
        if (m.has(id)) {
          if (state === "removed") {
            this.#fail(
              "removed-stays-removed",
              `node ${id} is a member again at ${i} after its removal at ${removedAt} (seen by node ${observer})`,
            );
          }
          state = "member";
        } else if (state === "member") {
          state = "removed";
          removedAt = i;
        }
      }
    }
  }

  // -------------------------------------------------------------------------
  // Leaders

  /**
   * A node sees `leaderId` lead `term` (its own state or a leader event).
   *
   * @param observer The node that sees it.
   * @param leaderId The leader.
   * @param term The term.
   */
  observeLeader(observer: NodeId, leaderId: NodeId, term: Term): void {
    if (leaderId === 0) return;
    this.checks++;
    const prev = this.#leaders.get(term);
    if (prev === undefined) {
      this.#leaders.set(term, leaderId);
      this.elections++;
    } else if (prev !== leaderId) {
      this.#fail(
        "single-leader",
        `term ${term} has two leaders: ${prev} and ${leaderId} (seen by node ${observer})`,
      );
    }
  }

  /**
   * A running node's status after a step.
   *
   * @param st The status.
   * @param incarnation Which run of the node.
   */
  observeStatus(st: RaftNodeStatus, incarnation: number): void {
    const id = st.id;
    let t = this.#live.get(id);
    if (t === undefined || t.incarnation !== incarnation) {
      t = { incarnation, term: st.term, vote: st.vote, commit: st.commit, lastApplied: -1 };
      this.#live.set(id, t);
    }
    this.checks++;
    if (st.term < t.term) {
      this.#fail("hardstate-monotonic", `node ${id} term went from ${t.term} to ${st.term}`);
    }
    if (st.term === t.term && t.vote !== 0 && st.vote !== t.vote) {
      this.#fail(
        "hardstate-monotonic",
        `node ${id} changed its vote in term ${st.term} from ${t.vote} to ${st.vote}`,
      );
    }
    this.checks++;
    if (st.commit < t.commit) {
      this.#fail("committed-stable", `node ${id} commit went from ${t.commit} to ${st.commit}`);
    }
    t.term = st.term;
    t.vote = st.vote;
    t.commit = st.commit;
    if (st.raftState === StateType.StateLeader) {
      this.observeLeader(id, id, st.term);
      if (!this.#leaderChecked.has(st.term)) {
        this.#leaderChecked.add(st.term);
        this.#pending.push({ node: id, incarnation, term: st.term, upTo: this.#maxCommitted });
      }
    }
    if (st.leaderId !== 0) this.observeLeader(id, st.leaderId, st.term);
  }

  /**
   * A node restarted: compares its state to what it had made durable.
   *
   * @param st The status right after the restart.
   * @param durable The durable HardState at the crash.
   */
  observeRestart(st: RaftNodeStatus, durable: HardState): void {
    this.checks++;
    if (st.term < durable.term) {
      this.#fail(
        "hardstate-monotonic",
        `node ${st.id} restarted in term ${st.term}, but term ${durable.term} was durable`,
      );
    }
    if (st.term === durable.term && durable.vote !== 0 && st.vote !== durable.vote) {
      this.#fail(
        "hardstate-monotonic",
        `node ${st.id} restarted with vote ${st.vote} in term ${st.term}, but its durable vote was ${durable.vote}`,
      );
    }
  }

  /**
   * Checks pending leader-completeness checks whose leader has written an
   * entry of its term (so its whole log at election is in its view).
   *
   * @param views The running nodes' views and incarnations.
   */
  checkLeaders(views: ReadonlyMap<NodeId, { view: MemoryStorage; incarnation: number }>): void {
    if (this.#pending.length === 0) return;
    const keep: PendingLeader[] = [];
    for (const p of this.#pending) {
      const v = views.get(p.node);
      if (v === undefined || v.incarnation !== p.incarnation) continue;
      const last = v.view.lastIndex();
      if (v.view.term(last) < p.term) {
        keep.push(p);
        continue;
      }
      this.checks++;
      if (p.upTo > last) {
        this.#fail(
          "leader-completeness",
          `node ${p.node}, leader of term ${p.term}, has log up to ${last}, but ${p.upTo} was committed before its election`,
        );
        continue;
      }
      for (let i = v.view.firstIndex(); i <= p.upTo; i++) {
        const c = this.#committed.get(i);
        if (c === undefined) continue;
        const e = v.view.ents[i - v.view.ents[0]!.index]!;
        if (e.term !== c.term || (c.hash !== undefined && entryHash(e) !== c.hash)) {
          this.#fail(
            "leader-completeness",
            `node ${p.node}, leader of term ${p.term}, has entry ${i} of term ${e.term}, but the entry committed there (seen on node ${c.node}) has term ${c.term}`,
          );
        }
      }
    }
    this.#pending = keep;
  }

  // -------------------------------------------------------------------------
  // Logs

  #checkEntry(node: NodeId, e: Entry, prevTerm: Term, where: string): void {
    this.checks++;
    if (e.term >= termBits) throw new RangeError(`Cannot track term ${e.term}: too large`);
    const key = e.index * termBits + e.term;
    const h = entryHash(e);
    const k = this.#log.get(key);
    if (k === undefined) {
      this.#log.set(key, { hash: h, prevTerm, node });
      return;
    }
    if (k.hash !== h) {
      this.#fail(
        "log-matching",
        `entry ${e.index} of term ${e.term} in node ${node}'s ${where} log differs from node ${k.node}'s`,
      );
    }
    if (k.prevTerm !== prevTerm) {
      this.#fail(
        "log-matching",
        `entry ${e.index} of term ${e.term} follows term ${prevTerm} in node ${node}'s ${where} log, but term ${k.prevTerm} in node ${k.node}'s`,
      );
    }
  }

  #recordCommitted(node: NodeId, index: Index, term: Term, entry: Entry | undefined): void {
    this.checks++;
    const hash = entry === undefined ? undefined : entryHash(entry);
    const c = this.#committed.get(index);
    if (c === undefined) {
      this.#committed.set(index, { term, hash, node });
      if (index > this.#maxCommitted) this.#maxCommitted = index;
      if (entry !== undefined) this.onCommittedEntry?.(entry);
      return;
    }
    if (c.term !== term || (hash !== undefined && c.hash !== undefined && c.hash !== hash)) {
      this.#fail(
        "committed-stable",
        `node ${node} has entry ${index} of term ${term} committed, but node ${c.node} had an entry of term ${c.term} committed there`,
      );
    }
    if (c.hash === undefined && hash !== undefined) {
      c.hash = hash;
      this.onCommittedEntry?.(entry!);
    }
  }

  /**
   * Checks the entries a write stored: log matching, and that none replaced
   * an entry the node knew committed (`commitBefore`).
   */
  #checkLog(
    node: NodeId,
    ms: MemoryStorage,
    entries: readonly Entry[],
    where: string,
    commitBefore: Index,
  ): void {
    const first = ms.firstIndex();
    const offset = ms.ents[0]!.index;
    for (const e of entries) {
      if (e.index < first) continue;
      const stored = ms.ents[e.index - offset];
      if (stored === undefined) continue;
      const prev = ms.ents[e.index - offset - 1]!;
      this.#checkEntry(node, stored, prev.term, where);
      if (stored.index <= commitBefore) {
        this.#recordCommitted(node, stored.index, stored.term, stored);
      }
    }
  }

  /**
   * A write reached a node's view.
   *
   * @param node The node.
   * @param op The write.
   * @param view The view after it.
   */
  observeWrite(node: NodeId, op: JournalOp, view: MemoryStorage): void {
    let t = this.#views.get(node);
    if (t === undefined) {
      t = { recorded: 0, commit: 0 };
      this.#views.set(node, t);
    }
    if (op.kind === "save") {
      if (op.snapshot !== undefined) {
        this.#recordCommitted(
          node,
          op.snapshot.metadata.index,
          op.snapshot.metadata.term,
          undefined,
        );
        if (t.recorded < op.snapshot.metadata.index) t.recorded = op.snapshot.metadata.index;
      }
      this.#checkLog(node, view, op.entries, "written", t.commit);
    }
    this.#recordView(node, t, view);
  }

  /** Records the committed entries of a view, and checks its commit index. */
  #recordView(node: NodeId, t: ViewTrack, ms: MemoryStorage): void {
    const commit = ms.hardState.commit;
    this.checks++;
    if (commit < t.commit) {
      this.#fail("committed-stable", `node ${node} persisted commit ${commit} after ${t.commit}`);
    }
    t.commit = commit;
    const last = ms.lastIndex();
    this.checks++;
    if (commit > last) {
      this.#fail(
        "committed-stable",
        `node ${node} persisted commit index ${commit} past its last entry ${last}`,
      );
    }
    const offset = ms.ents[0]!.index;
    const from = Math.max(t.recorded + 1, ms.firstIndex());
    for (let i = from; i <= Math.min(commit, last); i++) {
      const e = ms.ents[i - offset]!;
      this.#recordCommitted(node, i, e.term, e);
    }
    if (commit > t.recorded) t.recorded = commit;
  }

  /**
   * A node restarted on its disk: its view starts over from durable state.
   *
   * @param node The node.
   * @param view The new view.
   */
  observeOpen(node: NodeId, view: MemoryStorage): void {
    const t: ViewTrack = { recorded: 0, commit: view.hardState.commit };
    this.#views.set(node, t);
    this.#recordView(node, t, view);
  }

  /**
   * Writes became durable on a node's disk.
   *
   * @param node The node.
   * @param ops The writes.
   * @param durable The durable state after them.
   */
  observeDurable(node: NodeId, ops: readonly JournalOp[], durable: MemoryStorage): void {
    const prev = this.#durable.get(node);
    for (const op of ops) {
      if (op.kind === "save") {
        this.#checkLog(node, durable, op.entries, "durable", prev?.commit ?? 0);
      }
    }
    const hs = durable.hardState;
    this.checks++;
    if (prev !== undefined) {
      if (hs.term < prev.term) {
        this.#fail("hardstate-monotonic", `node ${node} durable term ${prev.term} -> ${hs.term}`);
      }
      if (hs.term === prev.term && prev.vote !== 0 && hs.vote !== prev.vote) {
        this.#fail(
          "hardstate-monotonic",
          `node ${node} durable vote in term ${hs.term} changed from ${prev.vote} to ${hs.vote}`,
        );
      }
      if (hs.commit < prev.commit) {
        this.#fail(
          "committed-stable",
          `node ${node} durable commit ${prev.commit} -> ${hs.commit}`,
        );
      }
    }
    this.#durable.set(node, { ...hs });
    this.checks++;
    if (hs.commit > durable.lastIndex()) {
      this.#fail(
        "committed-stable",
        `node ${node} durable commit ${hs.commit} is past its durable log (last index ${durable.lastIndex()})`,
      );
    }
    const offset = durable.ents[0]!.index;
    for (const op of ops) {
      if (op.kind !== "save") continue;
      for (const e of op.entries) {
        if (e.index > hs.commit || e.index < durable.firstIndex()) continue;
        const stored = durable.ents[e.index - offset];
        if (stored !== undefined) {
          this.#recordCommitted(node, e.index, stored.term, stored);
        }
      }
    }
  }

  /**
   * A node sends a message: what it vouches for must be durable.
   *
   * @param node The sender.
   * @param m The message.
   * @param durable The sender's durable state.
   * @param view The sender's view (its log as written).
   */
  observeSend(node: NodeId, m: Message, durable: MemoryStorage, view: MemoryStorage): void {
    const hs = durable.hardState;
    const t = m.type;
    if (t === MessageType.MsgPreVote || t === MessageType.MsgPreVoteResp) return;
    this.checks++;
    if (m.term > hs.term) {
      this.#fail(
        "durable-before-send",
        `node ${node} sent ${
          messageName(t)
        } of term ${m.term} to ${m.to} while its durable term is ${hs.term}`,
      );
    }
    // A response of an older term was overtaken by a newer durable term (a
    // Ready can hold both): what it vouched for no longer binds the node.
    if (m.term < hs.term) return;
    if (t === MessageType.MsgVoteResp && !m.reject) {
      this.checks++;
      if (hs.vote !== m.to) {
        this.#fail(
          "durable-before-send",
          `node ${node} granted its vote to ${m.to} in term ${m.term} while its durable vote is ${hs.vote} in term ${hs.term}`,
        );
      }
    }
    if (t === MessageType.MsgAppResp && !m.reject) {
      this.checks++;
      const k = m.index;
      const last = durable.lastIndex();
      const first = durable.firstIndex();
      if (k > last) {
        const vs = view.snap.metadata.index;
        const why = vs >= k && durable.snap.metadata.index < vs
          ? ` (the snapshot at ${vs} it installed is not durable)`
          : "";
        this.#fail(
          "durable-before-send",
          `node ${node} acknowledged entries up to ${k} to ${m.to} while its durable log ends at ${last}${why}`,
        );
      }
      if (k <= last && k >= first && k >= view.firstIndex() && k <= view.lastIndex()) {
        const dt = durable.term(k);
        const vt = view.term(k);
        if (dt !== vt) {
          this.#fail(
            "durable-before-send",
            `node ${node} acknowledged entry ${k} of term ${vt} to ${m.to} while its durable entry there has term ${dt}`,
          );
        }
      }
    }
  }

  // -------------------------------------------------------------------------
  // State machines

  /**
   * A node's state machine applied a command.
   *
   * @param node The node.
   * @param incarnation Which run of it.
   * @param index The command's index.
   * @param term The command's term.
   * @param digest The state's digest after it.
   * @param resultDigest The digest of the command's result.
   */
  observeApplied(
    node: NodeId,
    incarnation: number,
    index: Index,
    term: Term,
    digest: number,
    resultDigest: number,
  ): void {
    const t = this.#live.get(node);
    this.checks++;
    if (t !== undefined && t.incarnation === incarnation && t.lastApplied >= 0) {
      if (index <= t.lastApplied) {
        this.#fail(
          "applied-consistent",
          `node ${node} applied command ${index} after command ${t.lastApplied}`,
        );
      }
    }
    if (t !== undefined && t.incarnation === incarnation) t.lastApplied = index;
    this.#recordCommitted(node, index, term, undefined);
    const a = this.#applied.get(index);
    this.checks++;
    if (a === undefined) {
      this.#applied.set(index, { term, digest, resultDigest, node });
      return;
    }
    if (a.term !== term) {
      this.#fail(
        "applied-consistent",
        `node ${node} applied a command of term ${term} at ${index}, node ${a.node} one of term ${a.term}`,
      );
    }
    if (a.digest !== digest) {
      this.#fail(
        "state-consistent",
        `after command ${index}, node ${node}'s state (digest ${
          hex(digest)
        }) differs from node ${a.node}'s (${hex(a.digest)})`,
      );
    }
    if (a.resultDigest !== resultDigest) {
      this.#fail(
        "state-consistent",
        `command ${index} returned a different result on node ${node} (digest ${
          hex(resultDigest)
        }) than on node ${a.node} (${hex(a.resultDigest)})`,
      );
    }
  }

  /**
   * A state machine's snapshot changed across a restore and a snapshot.
   *
   * @param node The node.
   * @param where Where it was seen (a fresh copy, or the receiver).
   * @param lastCommand The last command the snapshot reflects.
   * @param before The bytes restored.
   * @param after The bytes of the snapshot taken right after.
   */
  observeUnfaithful(
    node: NodeId,
    where: string,
    lastCommand: Index,
    before: Uint8Array,
    after: Uint8Array,
  ): void {
    this.checks++;
    this.#fail(
      "snapshot-fidelity",
      `node ${node}: a snapshot after command ${lastCommand} (${before.length} bytes, digest ${
        hex(hashBytes(before))
      }) restored into ${where} gives a snapshot of ${after.length} bytes (digest ${
        hex(hashBytes(after))
      }): ${describeDiff(before, after)}`,
    );
  }

  /**
   * A node's state machine restored a snapshot.
   *
   * @param node The node.
   * @param incarnation Which run of it.
   * @param index The snapshot's index.
   * @param lastCommand The last command index the snapshot reflects.
   * @param digest The restored state's digest.
   */
  observeRestored(
    node: NodeId,
    incarnation: number,
    index: Index,
    lastCommand: Index,
    digest: number,
  ): void {
    const t = this.#live.get(node);
    if (t !== undefined && t.incarnation === incarnation) t.lastApplied = lastCommand;
    this.checks++;
    if (lastCommand > index) {
      this.#fail(
        "state-consistent",
        `node ${node} restored a snapshot at ${index} reflecting command ${lastCommand}`,
      );
    }
    const want = lastCommand === 0 ? this.emptyDigest : this.#applied.get(lastCommand)?.digest;
    if (want !== undefined && want !== digest) {
      this.#fail(
        "state-consistent",
        `node ${node} restored a snapshot at ${index} whose state (digest ${
          hex(digest)
        }) differs from the state after command ${lastCommand} (${hex(want)})`,
      );
    }
  }

  /**
   * Registers a node's run before it starts, so that its first status and
   * applies are tracked from its start.
   *
   * @param node The node.
   * @param incarnation Which run of it.
   */
  observeStart(node: NodeId, incarnation: number): void {
    this.#live.set(node, { incarnation, term: 0, vote: 0, commit: 0, lastApplied: -1 });
  }
}

function messageName(t: MessageType): string {
  return Object.keys(MessageType).find((k) => MessageType[k as keyof typeof MessageType] === t) ??
    `type ${t}`;
}

function hex(n: number): string {
  return (n >>> 0).toString(16).padStart(8, "0");
}

const dec = new TextDecoder("utf-8", { fatal: true });

/** Where two byte strings first differ, shown as text when both are UTF-8. */
function describeDiff(a: Uint8Array, b: Uint8Array): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  const show = (x: Uint8Array): string => {
    const part = x.subarray(Math.max(0, i - 20), i + 40);
    try {
      return JSON.stringify(dec.decode(part));
    } catch {
      return `[${[...part].join(",")}]`;
    }
  };
  return `first difference at byte ${i}: ${show(a)} became ${show(b)}`;
}
