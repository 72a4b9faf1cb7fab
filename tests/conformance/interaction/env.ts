/**
 * The interaction environment: a group of RawNodes, one shared list of
 * in-flight messages and one output buffer, driven by the commands of etcd
 * raft's interaction test files (HARNESS.md §3 and §4).
 *
 * Each method does what one command does and writes its text into
 * `env.output`. Errors that the command reports as output (storage and Raft
 * errors, and the harness's own {@linkcode CommandError}) are thrown;
 * `isReportedError` tells them apart from bugs.
 *
 * @module
 */

import { RawNode } from "../../../core/raw_node.ts";
import type { Config } from "../../../core/raft.ts";
import { cloneSnapshot, MemoryStorage, type Storage } from "../../../core/storage.ts";
import { describeEntries, describeMessage, describeReady } from "../../../core/describe.ts";
import { CodecError, decodeConfChange, decodeConfChangeV2 } from "../../../core/codec.ts";
import { ProgressMap } from "../../../core/tracker/progress.ts";
import { RaftError } from "../../../core/errors.ts";
import {
  type ConfChangeI,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  isEmptyHardState,
  isEmptySnap,
  type Message,
  MessageType,
  newConfState,
  newHardState,
  newMessage,
  newSnapshot,
  noLimit,
  ReadOnlyOption,
  type Snapshot,
  stateTypeNames,
} from "../../../core/types.ts";
import { isLocalMsgTarget } from "../../../core/util.ts";
import { levelNames, OutputBuffer, parseLevel } from "./output.ts";
import { type Recipient, splitMsgs } from "./recipients.ts";

/** An error a command reports in its output, as etcd's harness returns it. */
export class CommandError extends Error {
  /**
   * @param message The text printed as the command's error.
   */
  constructor(message: string) {
    super(message);
    this.name = "CommandError";
  }
}

/**
 * Tells whether an error is one a command prints (a Raft or storage error, or
 * a {@linkcode CommandError}) rather than a bug or a setup failure.
 *
 * @param e The thrown value.
 * @returns `true` when the error belongs in the output.
 */
export function isReportedError(e: unknown): e is Error {
  return e instanceof RaftError || e instanceof CommandError || e instanceof CodecError;
}

/**
 * A storage that hands out the node's latest applied state as its snapshot
 * (the last element of `history`) and otherwise is a MemoryStorage.
 */
export class HistoryStorage implements Storage {
  /** The underlying storage, which holds the log. */
  readonly mem: MemoryStorage;
  /** Snapshots of the state machine; the last one is what `snapshot()` returns. */
  readonly history: Snapshot[];

  /**
   * @param mem The storage holding the log.
   * @param history The node's history; must not be empty when `snapshot()` is called.
   */
  constructor(mem: MemoryStorage, history: Snapshot[]) {
    this.mem = mem;
    this.history = history;
  }

  /**
   * Delegates to the MemoryStorage.
   *
   * @returns The stored HardState and ConfState.
   */
  initialState(): ReturnType<Storage["initialState"]> {
    return this.mem.initialState();
  }

  /**
   * Delegates to the MemoryStorage.
   *
   * @param lo First index.
   * @param hi Index after the last.
   * @param maxSize Size limit.
   * @returns The entries.
   */
  entries(lo: number, hi: number, maxSize: number): Entry[] {
    return this.mem.entries(lo, hi, maxSize);
  }

  /**
   * Delegates to the MemoryStorage.
   *
   * @param i The index.
   * @returns The term at `i`.
   */
  term(i: number): number {
    return this.mem.term(i);
  }

  /**
   * Delegates to the MemoryStorage.
   *
   * @returns The last index.
   */
  lastIndex(): number {
    return this.mem.lastIndex();
  }

  /**
   * Delegates to the MemoryStorage.
   *
   * @returns The first index.
   */
  firstIndex(): number {
    return this.mem.firstIndex();
  }

  /**
   * The most recent state machine snapshot.
   *
   * @returns The last element of `history`.
   */
  snapshot(): Snapshot {
    const s = this.history[this.history.length - 1];
    if (s === undefined) throw new Error("Cannot take a snapshot: the history is empty");
    return s;
  }
}

/** One member of the group. */
export interface InteractionNode {
  /** The Raft ID: position in `env.nodes` plus one. */
  id: number;
  rawNode: RawNode;
  storage: HistoryStorage;
  config: Config;
  /** Pending MsgStorageAppend messages (asynchronous storage writes only). */
  appendWork: Message[];
  /** Pending MsgStorageApply messages (asynchronous storage writes only). */
  applyWork: Message[];
  /** The state machine after each applied entry; `history[0]` is the initial snapshot. */
  history: Snapshot[];
}

/** Options of `add-nodes` besides the count (HARNESS.md §3.6). */
export interface AddNodesOptions {
  voters: number[];
  learners: number[];
  /** The snapshot index; `undefined` when not given. */
  index: number | undefined;
  /** The snapshot data; `undefined` when not given. */
  content: Uint8Array | undefined;
  /** Overrides of the default configuration. */
  config: Partial<Config>;
}

/**
 * The default node configuration (HARNESS.md §3.3), without id, storage and
 * logger.
 *
 * @returns A fresh partial config.
 */
export function defaultConfig(): Omit<Config, "id" | "storage" | "logger"> {
  return {
    electionTick: 3,
    heartbeatTick: 1,
    maxSizePerMsg: noLimit,
    maxInflightMsgs: 2 ** 31 - 1,
    maxInflightBytes: 0,
    maxUncommittedEntriesSize: 0,
    maxCommittedSizePerReady: 0,
    applied: 0,
    checkQuorum: false,
    preVote: false,
    asyncStorageWrites: false,
    disableConfChangeValidation: false,
    disableProposalForwarding: false,
    stepDownOnRemoval: false,
    readOnlyOption: ReadOnlyOption.ReadOnlySafe,
  };
}

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (b.length === 0) return a;
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/**
 * Persists a HardState and then either a snapshot or entries (etcd's
 * harness `processAppend`).
 *
 * @param n The node.
 * @param st The HardState; ignored when all zero.
 * @param ents Entries to append.
 * @param snap A snapshot to apply, or `undefined`.
 * @throws {CommandError} When both a snapshot and entries are given.
 */
export function processAppend(
  n: InteractionNode,
  st: HardState,
  ents: Entry[],
  snap: Snapshot | undefined,
): void {
  const s = n.storage.mem;
  if (!isEmptyHardState(st)) s.setHardState(st);
  if (snap !== undefined && !isEmptySnap(snap)) {
    if (ents.length > 0) {
      throw new CommandError("can't apply snapshot and entries at the same time");
    }
    s.applySnapshot(snap);
    return;
  }
  s.append(ents);
}

/**
 * Applies committed entries to the node's "appender" state machine (etcd's
 * harness `processApply`): conf changes go to `applyConfChange`, and each
 * entry adds one snapshot to the node's history.
 *
 * @param n The node.
 * @param ents The committed entries, in order.
 */
export function processApply(n: InteractionNode, ents: Entry[]): void {
  for (const ent of ents) {
    let update: Uint8Array;
    let cs: ConfState | undefined;
    switch (ent.type) {
      case EntryType.EntryConfChange: {
        const cc = decodeConfChange(ent.data);
        update = cc.context;
        cs = n.rawNode.applyConfChange(cc);
        break;
      }
      case EntryType.EntryConfChangeV2: {
        const cc = decodeConfChangeV2(ent.data);
        cs = n.rawNode.applyConfChange(cc);
        update = cc.context;
        break;
      }
      default:
        update = ent.data;
    }
    const last = n.history[n.history.length - 1]!;
    n.history.push(
      newSnapshot({
        data: concatBytes(last.data, update),
        index: ent.index,
        term: ent.term,
        confState: cs ?? last.metadata.confState,
      }),
    );
  }
}

/** The state of one interaction test file. */
export class InteractionEnv {
  /** Node `i` has ID `i + 1`. */
  readonly nodes: InteractionNode[] = [];
  /** In-flight messages of all nodes, in send order. */
  messages: Message[] = [];
  /** The output buffer, also every node's logger. */
  readonly output: OutputBuffer = new OutputBuffer();

  /**
   * Looks up a node by 0-based index.
   *
   * @param idx The index (ID minus one).
   * @returns The node.
   * @throws {RangeError} When there is no such node.
   */
  node(idx: number): InteractionNode {
    const n = this.nodes[idx];
    if (n === undefined) {
      throw new RangeError(
        `Cannot find node: no node with ID ${idx + 1} (${this.nodes.length} nodes)`,
      );
    }
    return n;
  }

  /**
   * Creates `count` nodes from one initial snapshot (HARNESS.md §3.6).
   *
   * @param count How many nodes.
   * @param opts Snapshot contents and config overrides.
   * @throws {CommandError} On a bootstrap index ≤ 1 or a wrong first index.
   */
  addNodes(count: number, opts: AddNodesOptions): void {
    const snap = newSnapshot({
      data: opts.content ?? new Uint8Array(0),
      index: opts.index ?? 0,
      confState: newConfState({ voters: [...opts.voters], learners: [...opts.learners] }),
    });
    const bootstrap = opts.voters.length > 0 || opts.learners.length > 0 ||
      opts.index !== undefined || opts.content !== undefined;
    const template = { ...defaultConfig(), ...opts.config };
    if (opts.index !== undefined) template.applied = opts.index;
    for (let i = 0; i < count; i++) {
      const id = this.nodes.length + 1;
      const history: Snapshot[] = [snap];
      const storage = new HistoryStorage(new MemoryStorage(), history);
      if (bootstrap) {
        if (snap.metadata.index <= 1) {
          throw new CommandError("index must be specified as > 1 due to bootstrap");
        }
        snap.metadata.term = 1;
        storage.mem.applySnapshot(snap);
        const fi = storage.firstIndex();
        const exp = snap.metadata.index + 1;
        if (fi !== exp) {
          throw new CommandError(`failed to establish first index ${exp}; got ${fi}`);
        }
      }
      const config: Config = { ...template, id, storage, logger: this.output };
      let rawNode: RawNode;
      try {
        rawNode = new RawNode(config);
      } catch (e) {
        // etcd's NewRawNode reports an invalid config as an error.
        if (e instanceof RangeError || e instanceof TypeError) throw new CommandError(e.message);
        throw e;
      }
      this.nodes.push({ id, rawNode, storage, config, appendWork: [], applyWork: [], history });
    }
  }

  /**
   * Delivers or drops the queued messages of each recipient in turn,
   * writing each message, and returns how many were handled.
   *
   * @param type Only this message type, or `undefined` for all.
   * @param rs Recipients, in order.
   * @returns The number of messages delivered or dropped.
   */
  deliverMsgs(type: MessageType | undefined, rs: readonly Recipient[]): number {
    let n = 0;
    for (const r of rs) {
      const { selected, rest } = splitMsgs(this.messages, r.id, type, r.drop);
      this.messages = rest;
      n += selected.length;
      for (const m of selected) {
        if (r.drop) this.output.write("dropped: ");
        this.output.write(describeMessage(m) + "\n");
        if (r.drop) continue;
        try {
          this.node(m.to - 1).rawNode.step(m);
        } catch (e) {
          if (!isReportedError(e)) throw e;
          this.output.write(e.message + "\n");
        }
      }
    }
    return n;
  }

  /**
   * Handles one Ready of a node: describes it, persists and applies it in
   * synchronous mode, queues its messages, and advances.
   *
   * @param idx The node's index.
   */
  processReady(idx: number): void {
    const n = this.node(idx);
    const rd = n.rawNode.ready();
    this.output.write(describeReady(rd));
    const async = n.config.asyncStorageWrites === true;
    if (!async) {
      processAppend(n, rd.hardState, rd.entries, rd.snapshot);
      processApply(n, rd.committedEntries);
    }
    for (const m of rd.messages) {
      if (isLocalMsgTarget(m.to)) {
        if (!async) throw new Error(`unexpected local msg target ${m.to}`);
        if (m.type === MessageType.MsgStorageAppend) n.appendWork.push(m);
        else if (m.type === MessageType.MsgStorageApply) n.applyWork.push(m);
        else throw new Error(`unexpected message type ${m.type}`);
      } else {
        this.messages.push(m);
      }
    }
    if (!async) n.rawNode.advance(rd);
  }

  /**
   * Runs `step` for each node: unindented for a single node, else under a
   * `> <id> <header>` line with its output indented. Stops at the first error.
   *
   * @param idxs Node indexes.
   * @param header The text after the ID in the header line.
   * @param step The per-node step.
   */
  forEachNode(idxs: readonly number[], header: string, step: (idx: number) => void): void {
    for (const idx of idxs) {
      if (idxs.length > 1) {
        this.output.write(`> ${idx + 1} ${header}\n`);
        this.output.withIndent(() => step(idx));
      } else {
        step(idx);
      }
    }
  }

  /**
   * Processes the head of a node's append queue (one MsgStorageAppend).
   *
   * @param idx The node's index.
   */
  processAppendThread(idx: number): void {
    const n = this.node(idx);
    const m = n.appendWork.shift();
    if (m === undefined) {
      this.output.write("no append work to perform");
      return;
    }
    const resps = m.responses;
    const shown: Message = { ...m, responses: [] };
    this.output.write("Processing:\n");
    this.output.write(describeMessage(shown) + "\n");
    const st = newHardState({ term: m.term, vote: m.vote, commit: m.commit });
    const snap = m.snapshot === undefined ? undefined : cloneSnapshot(m.snapshot);
    processAppend(n, st, m.entries, snap);
    this.writeResponses(resps);
  }

  /**
   * Processes the head of a node's apply queue (one MsgStorageApply).
   *
   * @param idx The node's index.
   */
  processApplyThread(idx: number): void {
    const n = this.node(idx);
    const m = n.applyWork.shift();
    if (m === undefined) {
      this.output.write("no apply work to perform");
      return;
    }
    const resps = m.responses;
    const shown: Message = { ...m, responses: [] };
    this.output.write("Processing:\n");
    this.output.write(describeMessage(shown) + "\n");
    processApply(n, m.entries);
    this.writeResponses(resps);
  }

  private writeResponses(resps: readonly Message[]): void {
    this.output.write("Responses:\n");
    for (const r of resps) this.output.write(describeMessage(r) + "\n");
    this.messages.push(...resps);
  }

  /**
   * Sets the log level by name.
   *
   * @param name A level name, any case.
   * @throws {CommandError} For an unknown name.
   */
  logLevel(name: string): void {
    const lvl = parseLevel(name);
    if (lvl === undefined) {
      throw new CommandError(`log levels must be either of [${levelNames.join(" ")}]`);
    }
    this.output.level = lvl;
  }

  /**
   * Writes a node's stable (storage) log.
   *
   * @param idx The node's index.
   */
  raftLog(idx: number): void {
    const s = this.node(idx).storage;
    const fi = s.firstIndex();
    const li = s.lastIndex();
    if (li < fi) {
      this.output.write(`log is empty: first index=${fi}, last index=${li}`);
      return;
    }
    this.output.write(describeEntries(s.entries(fi, li + 1, noLimit)));
  }

  /**
   * Compacts a node's storage (afterwards its first index is `index + 1`),
   * then writes its log. Raft is not told.
   *
   * @param idx The node's index.
   * @param index The index passed to `MemoryStorage.compact`.
   */
  compact(idx: number, index: number): void {
    this.node(idx).storage.mem.compact(index);
    this.raftLog(idx);
  }

  /** Writes one line per node: ID, role, voter status, term and leader. */
  raftState(): void {
    for (const n of this.nodes) {
      const st = n.rawNode.status();
      const voter = st.config.voters.ids().has(st.id) ? "(Voter)" : "(Non-Voter)";
      this.output.write(
        `${st.id}: ${stateTypeNames[st.raftState]} ${voter} Term:${st.term} Lead:${st.lead}\n`,
      );
    }
  }

  /**
   * Writes the leader's view of every peer's progress (nothing on a
   * non-leader).
   *
   * @param idx The node's index.
   */
  status(idx: number): void {
    const st = this.node(idx).rawNode.status();
    const m = new ProgressMap();
    for (const [id, pr] of st.progress) m.set(id, pr);
    this.output.write(m.toString());
  }

  /**
   * Ticks a node.
   *
   * @param idx The node's index.
   * @param num How many ticks.
   */
  tick(idx: number, num: number): void {
    const n = this.node(idx);
    for (let i = 0; i < num; i++) n.rawNode.tick();
  }

  /**
   * Queues a MsgSnap carrying the sender's latest state machine snapshot and
   * writes it (without a trailing newline).
   *
   * @param fromIdx The sender's index.
   * @param toIdx The recipient's index.
   */
  sendSnapshot(fromIdx: number, toIdx: number): void {
    const from = this.node(fromIdx);
    const snapshot = from.storage.snapshot();
    const m = newMessage({
      type: MessageType.MsgSnap,
      term: from.rawNode.basicStatus().term,
      from: fromIdx + 1,
      to: toIdx + 1,
      snapshot,
    });
    this.messages.push(m);
    this.output.write(describeMessage(m));
  }

  /**
   * Proposes a conf change on a node.
   *
   * @param idx The node's index.
   * @param cc The change.
   */
  proposeConfChange(idx: number, cc: ConfChangeI): void {
    this.node(idx).rawNode.proposeConfChange(cc);
  }

  /**
   * Handles Ready, messages and storage work of a set of nodes until none
   * has anything left to do (HARNESS.md §4, `stabilize`).
   *
   * @param idxs Node indexes, or empty for all nodes.
   */
  stabilize(idxs: readonly number[]): void {
    const nodes = idxs.length > 0 ? idxs.map((i) => this.node(i)) : [...this.nodes];
    for (;;) {
      let done = true;
      for (const n of nodes) {
        if (n.rawNode.hasReady()) {
          this.output.write(`> ${n.id} handling Ready\n`);
          this.output.withIndent(() => this.processReady(n.id - 1));
          done = false;
        }
      }
      for (const n of nodes) {
        if (this.messages.some((m) => m.to === n.id)) {
          this.output.write(`> ${n.id} receiving messages\n`);
          this.output.withIndent(() => this.deliverMsgs(undefined, [{ id: n.id, drop: false }]));
          done = false;
        }
      }
      for (const n of nodes) {
        if (n.appendWork.length > 0) {
          this.output.write(`> ${n.id} processing append thread\n`);
          while (n.appendWork.length > 0) {
            this.output.withIndent(() => this.processAppendThread(n.id - 1));
          }
          done = false;
        }
      }
      for (const n of nodes) {
        if (n.applyWork.length > 0) {
          this.output.write(`> ${n.id} processing apply thread\n`);
          while (n.applyWork.length > 0) {
            this.output.withIndent(() => {
              try {
                this.processApplyThread(n.id - 1);
              } catch (e) {
                // etcd's stabilize ignores apply-thread errors.
                if (!isReportedError(e)) throw e;
              }
            });
          }
          done = false;
        }
      }
      if (done) return;
    }
  }
}
