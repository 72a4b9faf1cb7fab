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
 *
 * Bootstrap: a snapshot at index 1 holding the voters; electionTick 10,
 * heartbeatTick 1, maxSizePerMsg 1 MiB, maxInflightMsgs 256, silent logger,
 * no ticks. Entries are `size` bytes, the first 8 a little-endian sequence
 * number plus one. Latency runs from the `propose` call to the Ready in which
 * the leader sees the entry committed. MemoryStorage is compacted to
 * applied - keep once applied passes the last compaction + 2 * keep (keep =
 * max(10000, 4 * window) in cluster3, 10000 in single).
 *
 * @module
 */

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
  /** Disk syncs (always 0: these workloads are in memory). */
  syncs: number;
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
  readonly ms: MemoryStorage;
  applied = 1;
  lastCompacted = 1;

  constructor(id: number, voters: number[]) {
    this.id = id;
    this.ms = new MemoryStorage();
    // Bootstrap through storage: a snapshot at index 1 carrying the voters.
    this.ms.applySnapshot(newSnapshot({ index: 1, term: 1, confState: newConfState({ voters }) }));
    this.rn = new RawNode({
      id,
      electionTick,
      heartbeatTick,
      storage: this.ms,
      applied: 1,
      maxSizePerMsg,
      maxInflightMsgs,
      logger: discardLogger,
    });
  }

  /** Persists a Ready's state to MemoryStorage (no disk in these workloads). */
  persist(rd: Ready): void {
    if (!isEmptyHardState(rd.hardState)) this.ms.setHardState(rd.hardState);
    // Never happens here (no follower falls behind a compaction), kept for safety.
    if (!isEmptySnap(rd.snapshot)) this.ms.applySnapshot(rd.snapshot!);
    if (rd.entries.length > 0) this.ms.append(rd.entries);
  }

  /** The entries MemoryStorage holds. */
  storedEntries(): number {
    return this.ms.lastIndex() - this.ms.firstIndex() + 1;
  }

  /** Keeps MemoryStorage bounded, like a real node taking snapshots. */
  compact(keep: number): void {
    if (this.applied > this.lastCompacted + keep * 2) {
      const idx = this.applied - keep;
      try {
        this.ms.compact(idx);
      } catch (e) {
        if (!(e instanceof CompactedError)) throw e;
      }
      this.lastCompacted = idx;
    }
  }
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
    syncs: 0,
    rssMb: m.rssMb,
    heapMb: m.heapMb,
    memory,
    storedEntries: Math.max(...nodes.map((n) => n.storedEntries())),
  };
}

/**
 * Runs W1 (`single`): one voter, `n` entries in batches of `batch`.
 *
 * @param o The options (`window` and `codec` are ignored).
 * @returns The figures of the run.
 * @throws {Error} When the node does not become leader or stops progressing.
 */
export function runSingle(o: WorkloadOptions): RunResult {
  const n = new BenchNode(1, [1]);
  const handle = (rd: Ready): void => {
    n.persist(rd);
    const ce = rd.committedEntries;
    if (ce.length > 0) n.applied = ce[ce.length - 1]!.index;
    n.rn.advance(rd);
  };
  n.rn.campaign();
  while (n.rn.hasReady()) handle(n.rn.ready());
  if (n.rn.basicStatus().raftState !== StateType.StateLeader) {
    throw new Error("single: node 1 did not become leader");
  }

  const lat = new Latencies(o.n);
  const payloads = new Payloads(o.size, o.freshPayloads);
  const mem = new MemorySampler(o.n, o.memorySamples);
  const keep = 10000;
  let readies = 0;
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
    n.persist(rd);
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
  return finish(lat, elapsed, cpu, committed, readies, 0, mem.samples, [n]);
}

/**
 * Runs W2 / W2p / W3 (`cluster3`): three voters in one thread, node 1 leads.
 *
 * @param o The options.
 * @returns The figures of the run.
 * @throws {Error} When node 1 does not become leader, or the cluster stalls.
 */
export function runCluster(o: WorkloadOptions): RunResult {
  const voters = [1, 2, 3];
  const nodes = voters.map((id) => new BenchNode(id, voters));
  const leader = nodes[0]!;
  let readies = 0;
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
      n.persist(rd);
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
  return finish(lat, elapsed, cpu, committed, readies, msgs, mem.samples, nodes);
}

/**
 * Runs one measured run of a workload.
 *
 * @param o The options.
 * @returns The figures of the run.
 */
export function runWorkload(o: WorkloadOptions): RunResult {
  return o.mode === "single" ? runSingle(o) : runCluster(o);
}
