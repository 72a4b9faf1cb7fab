/**
 * The benchmark workloads of `../../shared/BENCH.md`, driven exactly as the
 * Go anchor `raftanchor` (`shared/anchors/etcd-raft-bench/main.go`) drives
 * etcd raft, so that the two give comparable figures:
 *
 * - `single` (W1): one voter; per iteration propose `batch` entries, then
 *   Ready -> MemoryStorage (HardState + entries) -> apply -> advance.
 * - `cluster3` (W2): three `RawNode`s in one thread; the leader proposes up
 *   to `batch` entries while keeping at most `window` uncommitted, every
 *   node with a Ready handles it, then every queued message is stepped.
 *   `propMsg` (W2p) proposes the batch as one MsgProp; `codec` (W3) encodes
 *   and decodes every message on the way.
 * - `fsync` (W4 with `single`): the same loops with each node's log in
 *   our SQLite storage (`adapters/sqlite`, one file per node in `dir`),
 *   which makes every Ready durable (one transaction, synced) before
 *   `advance`; Raft reads its log back from that storage. `raftanchor`
 *   `-fsync` instead writes each Ready to a plain file, fdatasyncs it and
 *   keeps the log in MemoryStorage.
 *
 * Bootstrap: a snapshot at index 1 holding the voters; electionTick 10,
 * heartbeatTick 1, maxSizePerMsg 1 MiB, maxInflightMsgs 256, silent logger,
 * no ticks. Entries are `size` bytes, the first 8 a little-endian sequence
 * number plus one. Latency runs from the `propose` call to the Ready in which
 * the leader sees the entry committed. MemoryStorage is compacted to
 * applied - keep once applied passes the last compaction + 2 * keep (keep =
 * max(10000, 4 * window) in cluster3, 10000 in single); with `fsync` the
 * SQLite log is compacted the same way (one more transaction each time).
 *
 * @module
 */

import { join } from "node:path";
import process from "node:process";
import { decodeMessage, encodeMessageInto, sizeOfMessage } from "../core/codec.ts";
import { CompactedError, StepPeerNotFoundError } from "../core/errors.ts";
import { discardLogger } from "../core/logger.ts";
import { RawNode } from "../core/raw_node.ts";
import { MemoryStorage } from "../core/storage.ts";
import {
  type Entry,
  EntryType,
  isEmptyHardState,
  isEmptySnap,
  type Message,
  MessageType,
  newConfState,
  newMessage,
  newSnapshot,
  type Ready,
  StateType,
} from "../core/types.ts";
import { openSqliteDatabase, openSqliteStorage, SqliteStorage } from "../adapters/sqlite/mod.ts";
import { removeDatabase } from "./_disk.ts";
import { latencyStats } from "./stats.ts";

/** The driver modes of `raftanchor` that exist here. */
export type Mode = "single" | "cluster3";

/** What to run; the fields mirror `raftanchor`'s flags. */
export interface WorkloadOptions {
  /** `single` (W1) or `cluster3` (W2, W2p, W3, M1). */
  mode: Mode;
  /** Entries to commit per run. */
  n: number;
  /** Proposals per iteration before Ready handling. */
  batch: number;
  /** cluster3: at most this many proposed entries not yet committed on the leader. */
  window: number;
  /** Entry payload bytes (at least 8). */
  size: number;
  /** cluster3: encode and decode every message (W3). */
  codec: boolean;
  /** Propose each batch as one MsgProp with many entries (W2p). */
  propMsg: boolean;
  /**
   * Allocate every payload on its own (`new Uint8Array(size)`) instead of
   * slicing it from a 1 MiB slab.
   */
  freshPayloads: boolean;
  /**
   * Record resident set size and heap this many times, evenly spaced over
   * the committed entries (M1). Each sample runs a full GC first when the
   * runtime exposes one, and its cost is part of the measured time.
   */
  memorySamples: number;
  /**
   * Keep each node's log in SQLite (`adapters/sqlite`), synced before every
   * `advance` (W4; `raftanchor -fsync`).
   */
  fsync?: boolean;
  /** With `fsync`: the directory of the database files (`node-<id>.db`, removed after the run). */
  dir?: string;
  /**
   * With `fsync`: PRAGMAs run on each fresh connection before the storage
   * opens it (for experiments, e.g. `wal_autocheckpoint=4000`).
   */
  sqlitePragmas?: readonly string[];
  /** With `fsync` in `single` mode: where the storage writes (`worker`: its writer thread). */
  writer?: "inline" | "worker";
}

/** One memory sample of an M1 run. */
export interface MemorySample {
  /** Entries committed on the leader when the sample was taken. */
  entries: number;
  /** Resident set size, MB (10^6 bytes). */
  rssMb: number;
  /** Used JavaScript heap, MB. */
  heapMb: number;
}

/** The figures of one run (the fields of `raftanchor`'s `result`, plus memory). */
export interface RunResult {
  /** Entries committed (on the leader). */
  entries: number;
  /** Wall time of the measured loop, seconds. */
  seconds: number;
  /**
   * CPU time of the process (all threads: GC and JIT helpers too) during the
   * measured loop, seconds. Less sensitive than `seconds` to other processes
   * on a shared machine.
   */
  cpuSeconds: number;
  /** Committed entries per second. */
  perSec: number;
  /** Mean propose-to-commit latency, µs. */
  meanUs: number;
  /** Median latency, µs. */
  p50Us: number;
  /** 99th percentile latency, µs. */
  p99Us: number;
  /** Largest latency, µs. */
  maxUs: number;
  /** Ready structs handled (all nodes). */
  readies: number;
  /** Messages delivered. */
  msgs: number;
  /** Synced writes (with `fsync`: one SQLite transaction per Ready that had something to persist). */
  syncs: number;
  /** With `fsync`: wall time spent in `SqliteStorage.save`, seconds. */
  persistSeconds: number;
  /** Resident set size at the end of the run, MB. */
  rssMb: number;
  /** Used JavaScript heap at the end of the run, MB. */
  heapMb: number;
  /** The memory samples requested with `memorySamples`. */
  memory: MemorySample[];
  /** The most entries any node's MemoryStorage held at the end (compaction bounds it). */
  storedEntries: number;
}

/** The raft configuration every workload uses (`raftanchor`'s `newNode`). */
const electionTick = 10;
const heartbeatTick = 1;
const maxSizePerMsg = 1 << 20;
const maxInflightMsgs = 256;

/** Safety bounds, as in `raftanchor`. */
const electionRoundsMax = 100;
const idleRoundsMax = 1000;

/**
 * Asks the runtime for a full garbage collection, where it offers one (Bun;
 * Deno and Node with `--expose-gc`).
 *
 * @returns Whether a collection ran.
 */
export function collectGarbage(): boolean {
  const g = globalThis as { gc?: () => void; Bun?: { gc(force: boolean): void } };
  if (g.Bun !== undefined) {
    g.Bun.gc(true);
    return true;
  }
  if (typeof g.gc === "function") {
    g.gc();
    return true;
  }
  return false;
}

/** Current RSS and used heap, in MB. */
function memoryNow(): { rssMb: number; heapMb: number } {
  const m = process.memoryUsage();
  return { rssMb: m.rss / 1e6, heapMb: m.heapUsed / 1e6 };
}

/** One Raft node with its storage and the applied/compaction bookkeeping. */
class BenchNode {
  readonly id: number;
  readonly rn: RawNode;
  /** The in-memory log (W1-W3), or undefined with `fsync`. */
  readonly ms: MemoryStorage | undefined;
  /** The durable log (W4), or undefined. */
  readonly sql: SqliteStorage | undefined;
  applied = 1;
  lastCompacted = 1;
  /** Time spent in `SqliteStorage.save` (and awaiting it), ms. */
  persistMs = 0;
  /** With a writer thread: the last save, until it is durable. */
  pending: Promise<void> | undefined;

  /**
   * Creates a node bootstrapped from a snapshot at index 1 carrying the
   * voters, on MemoryStorage or (when `sql` is given) on SQLite.
   */
  constructor(id: number, voters: number[], sql?: SqliteStorage) {
    this.id = id;
    const snap = newSnapshot({ index: 1, term: 1, confState: newConfState({ voters }) });
    let storage: MemoryStorage | SqliteStorage;
    if (sql !== undefined) {
      this.sql = sql;
      storage = sql;
    } else {
      this.ms = new MemoryStorage();
      storage = this.ms;
    }
    // Bootstrap through storage: a snapshot at index 1 carrying the voters.
    storage.applySnapshot(snap);
    this.rn = new RawNode({
      id,
      electionTick,
      heartbeatTick,
      storage,
      applied: 1,
      maxSizePerMsg,
      maxInflightMsgs,
      logger: discardLogger,
    });
  }

  /**
   * Persists a Ready's state: to MemoryStorage, or with `fsync` in one
   * synced SQLite transaction.
   *
   * @returns The number of synced writes made (0 or 1).
   */
  persist(rd: Ready): number {
    const sql = this.sql;
    if (sql !== undefined) {
      const hardState = isEmptyHardState(rd.hardState) ? undefined : rd.hardState;
      const snapshot = rd.snapshot !== undefined && !isEmptySnap(rd.snapshot)
        ? rd.snapshot
        : undefined;
      if (hardState === undefined && rd.entries.length === 0 && snapshot === undefined) return 0;
      const t0 = performance.now();
      const p = sql.save({ hardState, entries: rd.entries, snapshot, mustSync: rd.mustSync });
      if (p !== undefined) {
        this.pending = p.then(() => {
          this.persistMs += performance.now() - t0;
        });
      } else {
        this.persistMs += performance.now() - t0;
      }
      return 1;
    }
    const ms = this.ms!;
    if (!isEmptyHardState(rd.hardState)) ms.setHardState(rd.hardState);
    // Never happens here (no follower falls behind a compaction), kept for safety.
    if (!isEmptySnap(rd.snapshot)) ms.applySnapshot(rd.snapshot!);
    if (rd.entries.length > 0) ms.append(rd.entries);
    return 0;
  }

  /** Waits for the last save to be durable. */
  takePending(): Promise<void> {
    const p = this.pending ?? Promise.resolve();
    this.pending = undefined;
    return p;
  }

  /** The entries the storage holds. */
  storedEntries(): number {
    const s = this.sql ?? this.ms!;
    return s.lastIndex() - s.firstIndex() + 1;
  }

  /** Keeps the log bounded, like a real node taking snapshots. */
  compact(keep: number): void {
    if (this.applied > this.lastCompacted + keep * 2) {
      const idx = this.applied - keep;
      try {
        (this.sql ?? this.ms!).compact(idx);
      } catch (e) {
        if (!(e instanceof CompactedError)) throw e;
      }
      this.lastCompacted = idx;
    }
  }
}

/** The database file of node `id` in `dir`. */
function databasePath(dir: string, id: number): string {
  return join(dir, `node-${id}.db`);
}

/**
 * Opens fresh SQLite storages for the given nodes (W4), removing any old
 * files of the same names first.
 *
 * @param o The options (`fsync` and `dir`).
 * @param ids The node IDs.
 * @returns One storage per ID, or `undefined` without `fsync`.
 */
async function openStorages(
  o: WorkloadOptions,
  ids: readonly number[],
): Promise<SqliteStorage[] | undefined> {
  if (o.fsync !== true) return undefined;
  if (o.dir === undefined) throw new RangeError("Cannot run with fsync: no dir given");
  const out: SqliteStorage[] = [];
  try {
    for (const id of ids) {
      const path = databasePath(o.dir, id);
      removeDatabase(path);
      const db = await openSqliteDatabase(path);
      for (const p of o.sqlitePragmas ?? []) db.exec(`PRAGMA ${p}`);
      if (o.writer === "worker") {
        db.close();
        out.push(await openSqliteStorage(path, { writer: "worker" }));
      } else {
        out.push(new SqliteStorage(db, { path }));
      }
    }
  } catch (e) {
    await closeStorages(o, ids, out);
    throw e;
  }
  return out;
}

/** Closes the storages and removes their files. */
async function closeStorages(
  o: WorkloadOptions,
  ids: readonly number[],
  storages: readonly SqliteStorage[] | undefined,
): Promise<void> {
  if (storages === undefined) return;
  for (const s of storages) await s.close();
  for (const id of ids) removeDatabase(databasePath(o.dir!, id));
}

/** Proposal times and commit latencies, indexed by sequence number. */
class Latencies {
  /** `proposedMs[seq]`: when entry `seq` was proposed (ms since the start). */
  readonly proposedMs: Float64Array;
  /** The first `count` entries are propose-to-commit latencies, ms. */
  readonly samplesMs: Float64Array;
  count = 0;

  constructor(n: number) {
    this.proposedMs = new Float64Array(n);
    this.samplesMs = new Float64Array(n);
    // Touch every page now: otherwise these 16 bytes per entry show up as
    // RSS growth during the run (1.6 MB per 100k entries), hiding whether
    // the Raft state itself stays flat (M1).
    this.proposedMs.fill(-1);
    this.samplesMs.fill(-1);
  }

  /** Records the commit of our entries among `ents`; returns how many there were. */
  commit(ents: readonly Entry[], nowMs: number): number {
    let c = 0;
    for (let i = 0; i < ents.length; i++) {
      const e = ents[i]!;
      if (e.type !== EntryType.EntryNormal || e.data.length < 8) continue;
      const seq = readSeq(e.data) - 1;
      if (seq < 0 || seq >= this.proposedMs.length) {
        throw new RangeError(`Cannot record commit: unknown sequence number ${seq}`);
      }
      this.samplesMs[this.count++] = nowMs - this.proposedMs[seq]!;
      c++;
    }
    return c;
  }
}

/**
 * Hands out zeroed `size`-byte payloads whose first 8 bytes hold `seq + 1`,
 * little-endian (0 = not ours).
 *
 * By default payloads are views into 1 MiB slabs, the way a server's
 * proposals are views into its receive buffers. With `fresh` each payload is
 * its own `new Uint8Array(size)`, as `raftanchor` allocates a Go slice: on V8
 * that is an off-heap backing store per entry, which costs about as much as
 * the Raft work of W2 window 1 (measured in bench/README.md).
 */
class Payloads {
  readonly #size: number;
  readonly #fresh: boolean;
  #slab = new Uint8Array(0);
  #used = 0;

  constructor(size: number, fresh: boolean) {
    this.#size = size;
    this.#fresh = fresh;
  }

  next(seq: number): Uint8Array {
    const size = this.#size;
    let d: Uint8Array;
    if (this.#fresh) {
      d = new Uint8Array(size);
    } else {
      if (this.#used + size > this.#slab.length) {
        this.#slab = new Uint8Array(Math.max(slabBytes, size));
        this.#used = 0;
      }
      d = this.#slab.subarray(this.#used, this.#used + size);
      this.#used += size;
    }
    const v = seq + 1;
    const lo = v >>> 0;
    const hi = Math.floor(v / 0x1_0000_0000);
    d[0] = lo & 0xff;
    d[1] = (lo >>> 8) & 0xff;
    d[2] = (lo >>> 16) & 0xff;
    d[3] = lo >>> 24;
    d[4] = hi & 0xff;
    d[5] = (hi >>> 8) & 0xff;
    d[6] = (hi >>> 16) & 0xff;
    d[7] = hi >>> 24;
    return d;
  }
}

const slabBytes = 1 << 20;

function readSeq(d: Uint8Array): number {
  const lo = (d[0]! | (d[1]! << 8) | (d[2]! << 16) | (d[3]! << 24)) >>> 0;
  const hi = (d[4]! | (d[5]! << 8) | (d[6]! << 16) | (d[7]! << 24)) >>> 0;
  return hi * 0x1_0000_0000 + lo;
}

/** Proposes `k` entries starting at `seq`, returns the next sequence number. */
function propose(
  rn: RawNode,
  id: number,
  propMsg: boolean,
  payloads: Payloads,
  k: number,
  seq: number,
  lat: Latencies,
  nowMs: number,
): number {
  if (propMsg) {
    const ents: Entry[] = new Array(k);
    for (let i = 0; i < k; i++) {
      lat.proposedMs[seq] = nowMs;
      ents[i] = { term: 0, index: 0, type: EntryType.EntryNormal, data: payloads.next(seq) };
      seq++;
    }
    rn.step(newMessage({ type: MessageType.MsgProp, from: id, entries: ents }));
    return seq;
  }
  for (let i = 0; i < k; i++) {
    lat.proposedMs[seq] = nowMs;
    rn.propose(payloads.next(seq));
    seq++;
  }
  return seq;
}

/** Tracks when to take the requested memory samples. */
class MemorySampler {
  readonly samples: MemorySample[] = [];
  readonly #every: number;
  #next: number;

  constructor(n: number, count: number) {
    this.#every = count > 0 ? Math.max(1, Math.floor(n / count)) : Infinity;
    this.#next = this.#every;
  }

  maybeSample(committed: number): void {
    if (committed < this.#next) return;
    while (this.#next <= committed) this.#next += this.#every;
    collectGarbage();
    const m = memoryNow();
    this.samples.push({ entries: committed, rssMb: m.rssMb, heapMb: m.heapMb });
  }
}

function finish(
  lat: Latencies,
  elapsedMs: number,
  cpu: { user: number; system: number },
  committed: number,
  readies: number,
  msgs: number,
  syncs: number,
  memory: MemorySample[],
  nodes: readonly BenchNode[],
): RunResult {
  const l = latencyStats(lat.samplesMs, lat.count);
  const m = memoryNow();
  const seconds = elapsedMs / 1000;
  return {
    entries: committed,
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    perSec: committed / seconds,
    ...l,
    readies,
    msgs,
    syncs,
    persistSeconds: nodes.reduce((a, n) => a + n.persistMs, 0) / 1000,
    rssMb: m.rssMb,
    heapMb: m.heapMb,
    memory,
    storedEntries: Math.max(...nodes.map((n) => n.storedEntries())),
  };
}

/**
 * Runs W1 (`single`): one voter, `n` entries in batches of `batch`; with
 * `fsync`, W4 (the log in SQLite, synced per Ready).
 *
 * @param o The options (`window` and `codec` are ignored).
 * @returns The figures of the run.
 * @throws {Error} When the node does not become leader or stops progressing.
 */
export async function runSingle(o: WorkloadOptions): Promise<RunResult> {
  const storages = await openStorages(o, [1]);
  try {
    const node = new BenchNode(1, [1], storages?.[0]);
    return await singleLoop(o, node);
  } finally {
    await closeStorages(o, [1], storages);
  }
}

/**
 * W1/W4's loop. With a writer thread, each save is awaited before
 * `advance` (the only `await`; without one the loop never yields).
 */
async function singleLoop(o: WorkloadOptions, n: BenchNode): Promise<RunResult> {
  n.rn.campaign();
  while (n.rn.hasReady()) {
    const rd = n.rn.ready();
    n.persist(rd);
    if (n.pending !== undefined) await n.takePending();
    const ce = rd.committedEntries;
    if (ce.length > 0) n.applied = ce[ce.length - 1]!.index;
    n.rn.advance(rd);
  }
  if (n.rn.basicStatus().raftState !== StateType.StateLeader) {
    throw new Error("single: node 1 did not become leader");
  }

  const lat = new Latencies(o.n);
  const payloads = new Payloads(o.size, o.freshPayloads);
  const mem = new MemorySampler(o.n, o.memorySamples);
  const keep = 10000;
  let readies = 0;
  let syncs = 0;
  n.persistMs = 0;
  let seq = 0;
  let committed = 0;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  for (let iter = 0; committed < o.n; iter++) {
    if (iter > 4 * o.n + 1000) throw new Error(`single: no progress (committed ${committed})`);
    if (seq < o.n) {
      const k = Math.min(o.batch, o.n - seq);
      seq = propose(n.rn, 1, o.propMsg, payloads, k, seq, lat, performance.now() - start);
    }
    if (!n.rn.hasReady()) continue;
    const rd = n.rn.ready();
    readies++;
    syncs += n.persist(rd);
    if (n.pending !== undefined) await n.takePending();
    const ce = rd.committedEntries;
    if (ce.length > 0) {
      committed += lat.commit(ce, performance.now() - start);
      n.applied = ce[ce.length - 1]!.index;
    }
    n.rn.advance(rd);
    n.compact(keep);
    mem.maybeSample(committed);
  }
  const elapsed = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  return finish(lat, elapsed, cpu, committed, readies, 0, syncs, mem.samples, [n]);
}

/**
 * Runs W2 / W2p / W3 (`cluster3`): three voters in one thread, node 1
 * leads; with `fsync`, every node's log in its own SQLite file, synced one
 * after another (as `raftanchor -mode cluster3 -fsync`).
 *
 * @param o The options.
 * @returns The figures of the run.
 * @throws {Error} When node 1 does not become leader, or the cluster stalls.
 */
export async function runCluster(o: WorkloadOptions): Promise<RunResult> {
  const voters = [1, 2, 3];
  const storages = await openStorages(o, voters);
  try {
    return clusterLoop(o, voters.map((id, i) => new BenchNode(id, voters, storages?.[i])));
  } finally {
    await closeStorages(o, voters, storages);
  }
}

function clusterLoop(o: WorkloadOptions, nodes: BenchNode[]): RunResult {
  const leader = nodes[0]!;
  let readies = 0;
  let syncs = 0;
  let msgs = 0;
  let outbox: Message[] = [];
  let wire = new Uint8Array(64 * 1024);
  // Views `wire[0, size)` by size: Go reslices its buffer for free, while a
  // new view per message costs about as much as decoding it (JSC, V8).
  let wireViews = new Map<number, Uint8Array>();

  /** Delivers one message, through the codec for W3. */
  const deliver = (m: Message): void => {
    if (o.codec) {
      const sz = sizeOfMessage(m);
      if (wire.length < sz) {
        wire = new Uint8Array(sz * 2);
        wireViews = new Map();
      }
      encodeMessageInto(m, wire, 0);
      let view = wireViews.get(sz);
      if (view === undefined) {
        view = wire.subarray(0, sz);
        wireViews.set(sz, view);
      }
      // decodeMessage copies the bytes it keeps, so `wire` can be reused at once.
      m = decodeMessage(view);
    }
    msgs++;
    try {
      nodes[m.to - 1]!.rn.step(m);
    } catch (e) {
      if (!(e instanceof StepPeerNotFoundError)) throw e;
    }
  };

  /**
   * One round: handle the Ready of every node that has one, then deliver
   * every queued message. Returns the entries of ours the leader saw
   * committed, and whether anything happened.
   */
  const round = (lat: Latencies | undefined, start: number): [number, boolean] => {
    let committedLeader = 0;
    let progressed = false;
    for (const n of nodes) {
      if (!n.rn.hasReady()) continue;
      progressed = true;
      const rd = n.rn.ready();
      readies++;
      syncs += n.persist(rd);
      const ms = rd.messages;
      for (let i = 0; i < ms.length; i++) outbox.push(ms[i]!);
      const ce = rd.committedEntries;
      if (ce.length > 0) {
        if (n === leader && lat !== undefined) {
          committedLeader += lat.commit(ce, performance.now() - start);
        }
        n.applied = ce[ce.length - 1]!.index;
      }
      n.rn.advance(rd);
    }
    const next = outbox;
    outbox = [];
    for (let i = 0; i < next.length; i++) {
      deliver(next[i]!);
      progressed = true;
    }
    return [committedLeader, progressed];
  };

  leader.rn.campaign();
  for (let i = 0; i < electionRoundsMax; i++) {
    if (!round(undefined, 0)[1]) break;
  }
  if (leader.rn.basicStatus().raftState !== StateType.StateLeader) {
    throw new Error("cluster: node 1 did not become leader");
  }
  readies = 0;
  msgs = 0;
  syncs = 0;
  for (const n of nodes) n.persistMs = 0;

  const lat = new Latencies(o.n);
  const payloads = new Payloads(o.size, o.freshPayloads);
  const mem = new MemorySampler(o.n, o.memorySamples);
  const keep = Math.max(10000, 4 * o.window);
  let seq = 0;
  let committed = 0;
  let idle = 0;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  for (let iter = 0; committed < o.n; iter++) {
    if (iter > 8 * o.n + 10000) {
      throw new Error(`cluster: iteration bound hit (committed ${committed})`);
    }
    if (seq < o.n) {
      const k = Math.min(o.window - (seq - committed), o.batch, o.n - seq);
      if (k > 0) {
        const now = performance.now() - start;
        seq = propose(leader.rn, leader.id, o.propMsg, payloads, k, seq, lat, now);
      }
    }
    const [c, progressed] = round(lat, start);
    committed += c;
    if (!progressed) {
      if (++idle > idleRoundsMax) {
        throw new Error(`cluster: stalled (committed ${committed} proposed ${seq})`);
      }
    } else {
      idle = 0;
    }
    for (const n of nodes) n.compact(keep);
    mem.maybeSample(committed);
  }
  const elapsed = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  return finish(lat, elapsed, cpu, committed, readies, msgs, syncs, mem.samples, nodes);
}

/**
 * Runs one measured run of a workload.
 *
 * @param o The options.
 * @returns The figures of the run.
 */
export function runWorkload(o: WorkloadOptions): Promise<RunResult> {
  return o.mode === "single" ? runSingle(o) : runCluster(o);
}
