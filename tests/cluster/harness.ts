/**
 * Test harness: clusters of `RaftNode`s on a `MemoryNetwork`, with
 * `MemoryStorage` and a small key-value state machine that records the
 * order it applied commands in, all on virtual time.
 *
 * @module
 */

import {
  MemoryNetwork,
  type MemoryNetworkOptions,
  VirtualScheduler,
} from "../../adapters/memory/mod.ts";
import {
  type Command,
  RaftNode,
  type RaftNodeOptions,
  type StateMachine,
} from "../../core/node.ts";
import { newRand } from "../../core/rand.ts";
import { closing } from "../_util.ts";
import { MemoryStorage } from "../../core/storage.ts";
import { type Index, type NodeId, StateType, type Term } from "../../core/types.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Encodes a string command. */
export function cmd(s: string): Uint8Array {
  return enc.encode(s);
}

/**
 * A key-value map fed with "key=value" commands. Keeps the full history of
 * applied commands (in its snapshots too), so tests can compare the order
 * on every node. The result of a command is "command@index".
 */
export class Machine implements StateMachine<string> {
  history: string[] = [];
  indexes: Index[] = [];
  kv: Map<string, string> = new Map();
  applyCalls = 0;
  restores = 0;
  snapshots = 0;
  lastIndex: Index = 0;
  /** Chunks handed to `restoreStream` (a streaming machine only). */
  chunksRestored = 0;
  /** Defined for a state machine that survives restarts. */
  appliedIndex?: () => Index;
  /** Defined for a streaming machine: restores from chunks. */
  restoreStream?: (
    chunks: AsyncIterable<Uint8Array>,
    meta: { index: Index; term: Term },
  ) => Promise<void>;
  /** A streaming machine's snapshot chunk size; `0`: snapshots are one array. */
  readonly #chunkBytes: number;

  /**
   * @param persistent Whether the machine survives restarts (reports `appliedIndex`).
   * @param chunkBytes When above 0, snapshots are streams of chunks of this
   *   size, and restores go through `restoreStream`.
   */
  constructor(persistent = false, chunkBytes = 0) {
    if (persistent) this.appliedIndex = (): Index => this.lastIndex;
    this.#chunkBytes = chunkBytes;
    if (chunkBytes > 0) {
      this.restoreStream = async (chunks, meta): Promise<void> => {
        const parts: Uint8Array[] = [];
        let n = 0;
        for await (const c of chunks) {
          this.chunksRestored++;
          parts.push(c);
          n += c.length;
        }
        const all = new Uint8Array(n);
        let at = 0;
        for (const p of parts) {
          all.set(p, at);
          at += p.length;
        }
        this.restore(all, meta);
      };
    }
  }

  apply(cmds: readonly Command[]): string[] {
    this.applyCalls++;
    return cmds.map((c) => {
      const s = dec.decode(c.data);
      this.history.push(s);
      this.indexes.push(c.index);
      const eq = s.indexOf("=");
      if (eq > 0) this.kv.set(s.slice(0, eq), s.slice(eq + 1));
      this.lastIndex = c.index;
      return `${s}@${c.index}`;
    });
  }

  snapshot(): Uint8Array | ReadableStream<Uint8Array> {
    this.snapshots++;
    const all = enc.encode(
      JSON.stringify({ history: this.history, indexes: this.indexes, kv: [...this.kv] }),
    );
    const size = this.#chunkBytes;
    if (size === 0) return all;
    let at = 0;
    return new ReadableStream<Uint8Array>({
      pull(ctl): void {
        if (at >= all.length) return ctl.close();
        ctl.enqueue(all.slice(at, at + size));
        at += size;
      },
    });
  }

  restore(data: Uint8Array, meta: { index: Index; term: Term }): void {
    this.restores++;
    const o = JSON.parse(dec.decode(data)) as {
      history: string[];
      indexes: Index[];
      kv: [string, string][];
    };
    this.history = o.history;
    this.indexes = o.indexes;
    this.kv = new Map(o.kv);
    this.lastIndex = meta.index;
  }
}

/** Options of a test cluster. */
export interface ClusterOptions {
  /** Number of nodes, with IDs 1..size. */
  size: number;
  /** Seed of the network and of the nodes' randomness. */
  seed?: number;
  /** Options passed to every node. */
  node?: Partial<RaftNodeOptions<string>>;
  /** Options of the network (its scheduler is the cluster's clock). */
  net?: Omit<MemoryNetworkOptions, "scheduler">;
  /** Use state machines that survive restarts (they report `appliedIndex`). */
  persistent?: boolean;
  /** When above 0, state machines stream snapshots in chunks of this size. */
  chunkBytes?: number;
}

/**
 * Runs `fn` on a new cluster and closes the cluster afterwards, whatever
 * `fn` does.
 *
 * @param options The cluster's options.
 * @param fn What to do with the cluster.
 * @returns What `fn` returns.
 */
export async function withCluster<T>(
  options: ClusterOptions,
  fn: (c: Cluster) => Promise<T>,
): Promise<T> {
  return closing(await Cluster.create(options), fn);
}

/** A cluster of RaftNodes on virtual time. */
export class Cluster {
  readonly clock: VirtualScheduler = new VirtualScheduler();
  readonly net: MemoryNetwork;
  readonly storages: Map<NodeId, MemoryStorage> = new Map();
  readonly machines: Map<NodeId, Machine> = new Map();
  readonly nodes: Map<NodeId, RaftNode<string>> = new Map();
  readonly options: ClusterOptions;
  #starts = 0;

  private constructor(options: ClusterOptions) {
    this.options = options;
    this.net = new MemoryNetwork({
      seed: options.seed ?? 1,
      ...options.net,
      scheduler: this.clock,
    });
  }

  /** Starts nodes 1..size as a new cluster. */
  static async create(options: ClusterOptions): Promise<Cluster> {
    const c = new Cluster(options);
    const peers = Array.from({ length: options.size }, (_, i) => i + 1);
    for (const id of peers) await c.start(id, { peers });
    return c;
  }

  /** Starts (or restarts, on its old storage) node `id`. */
  async start(
    id: NodeId,
    extra: { peers?: NodeId[]; options?: Partial<RaftNodeOptions<string>> } = {},
  ): Promise<RaftNode<string>> {
    const transport = this.net.connect(id); // throws when `id` is running
    let storage = this.storages.get(id);
    if (storage === undefined) {
      storage = new MemoryStorage();
      this.storages.set(id, storage);
    }
    let machine = this.machines.get(id);
    if (machine === undefined || !this.options.persistent) {
      machine = new Machine(this.options.persistent ?? false, this.options.chunkBytes ?? 0);
      this.machines.set(id, machine);
    }
    const seed = (this.options.seed ?? 1) * 7919 + id * 104729 + ++this.#starts;
    const node = await RaftNode.start<string>({
      id,
      peers: extra.peers ?? [],
      storage,
      transport,
      stateMachine: machine,
      scheduler: this.clock,
      tickMs: 10,
      rand: newRand(seed),
      ...this.options.node,
      ...extra.options,
    });
    this.nodes.set(id, node);
    return node;
  }

  /** Stops node `id` (a crash: its storage and persistent machine stay). */
  async stop(id: NodeId): Promise<void> {
    const n = this.nodes.get(id);
    if (n === undefined) return;
    this.nodes.delete(id);
    await n.close();
  }

  /** The running node `id`. */
  node(id: NodeId): RaftNode<string> {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`node ${id} is not running`);
    return n;
  }

  /** The state machine of node `id`. */
  machine(id: NodeId): Machine {
    const m = this.machines.get(id);
    if (m === undefined) throw new Error(`node ${id} has no machine`);
    return m;
  }

  /** Runs the clock until `p` settles. */
  run<T>(p: Promise<T>, maxMs = 30_000): Promise<T> {
    return this.clock.run(p, maxMs);
  }

  /**
   * Waits until one of `among` (default: every running node) leads and all
   * of `among` agree on it.
   */
  async leader(among?: NodeId[], maxMs = 10_000): Promise<RaftNode<string>> {
    let found: RaftNode<string> | undefined;
    await this.clock.until(() => {
      const group = (among ?? [...this.nodes.keys()]).map((id) => this.node(id));
      const leaders = group.filter((n) => n.status().raftState === StateType.StateLeader);
      if (leaders.length !== 1) return false;
      const l = leaders[0]!;
      if (!group.every((n) => n.status().leaderId === l.id)) return false;
      found = l;
      return true;
    }, maxMs);
    return found!;
  }

  /** A running node that is not `id`. */
  follower(leaderId: NodeId): RaftNode<string> {
    const f = [...this.nodes.values()].find((n) => n.id !== leaderId);
    if (f === undefined) throw new Error("no follower");
    return f;
  }

  /** Waits until the machines of `ids` (default: running nodes) have applied `count` commands. */
  async converge(count: number, ids?: NodeId[], maxMs = 10_000): Promise<void> {
    const group = ids ?? [...this.nodes.keys()];
    await this.clock.until(
      () => group.every((id) => this.machine(id).history.length >= count),
      maxMs,
    );
  }

  /** Closes every node and the network. */
  async close(): Promise<void> {
    for (const id of [...this.nodes.keys()]) await this.stop(id);
    this.net.close();
  }
}
