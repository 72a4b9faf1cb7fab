/**
 * Raft storage in Deno KV, for platforms without a disk (Deno Deploy).
 *
 * The log, HardState and snapshot live under one key prefix; at open they
 * are loaded into a `MemoryStorage`, which serves Raft's synchronous reads,
 * and every `save()` writes through to Deno KV before it resolves (the
 * driver awaits it before sending or acknowledging anything).
 *
 * Fencing: a platform may start a second instance while the first still
 * runs. Opening the storage takes ownership of the prefix (a new owner
 * record); every write is conditional on that record being unchanged, so
 * an instance that was replaced fails its next write (the node then stops)
 * instead of corrupting the log. `checkOwner()` lets readers check the same
 * before answering.
 *
 * Layout under the prefix `P`: `[P, "owner"]`, `[P, "hs"]` (HardState),
 * `[P, "snap"]` (snapshot metadata), `[P, "snapdata", i]` (snapshot data in
 * chunks, Deno KV values being limited to 64 KiB), `[P, "log", index]`
 * (entries, each a checksummed frame of its protobuf encoding).
 *
 * @module
 */

import {
  decodeConfState,
  decodeEntry,
  decodeFrame,
  decodeHardState,
  encodeConfState,
  encodeEntry,
  encodeFrame,
  encodeHardState,
} from "../../core/codec.ts";
import { memoryNodeStorage, type NodeStorage, type StorageUpdate } from "../../core/node.ts";
import { MemoryStorage } from "../../core/storage.ts";
import type { ConfState, Entry, Index, Snapshot, Term } from "../../core/types.ts";
import { isEmptySnap } from "../../core/types.ts";

/** A Deno KV key. */
export type KvKey = readonly (string | number)[];

/** The atomic operation of {@linkcode DenoKvLike}, structurally (Deno's `AtomicOperation`). */
export interface DenoKvAtomicLike {
  /** Fails the commit unless `key` still has `versionstamp`. */
  check(...checks: { key: KvKey; versionstamp: string | null }[]): DenoKvAtomicLike;
  /** Sets a key. */
  set(key: KvKey, value: unknown): DenoKvAtomicLike;
  /** Deletes a key. */
  delete(key: KvKey): DenoKvAtomicLike;
  /** Commits; `ok: false` when a check failed. */
  commit(): Promise<{ ok: boolean }>;
}

/** The part of `Deno.Kv` used here, structurally (a fake can stand in for tests). */
export interface DenoKvLike {
  /** Reads a key. */
  get(key: KvKey): Promise<{ value: unknown; versionstamp: string | null }>;
  /** Lists the keys under a prefix, in key order. */
  list(selector: { prefix: KvKey }): AsyncIterable<{ key: readonly unknown[]; value: unknown }>;
  /** Starts an atomic operation. */
  atomic(): DenoKvAtomicLike;
}

/** Options of {@linkcode openDenoKvStorage}. */
export interface DenoKvStorageOptions {
  /**
   * The key prefix of this node's records.
   * @default {["raft"]}
   */
  prefix?: readonly string[];
  /**
   * Mutations per atomic commit at most (Deno KV allows 1000).
   * @default {500}
   */
  maxMutationsPerCommit?: number;
  /**
   * Bytes per atomic commit at most (Deno KV allows 800 KiB).
   * @default {524288}
   */
  maxBytesPerCommit?: number;
}

/** A Deno KV value is at most 64 KiB; chunks and entries stay below. */
const maxValueBytes = 60 * 1024;

interface SnapMeta {
  index: Index;
  term: Term;
  confState: Uint8Array;
  chunks: number;
}

/** A {@linkcode NodeStorage} in Deno KV, with an ownership check. */
export interface DenoKvStorage extends NodeStorage {
  /**
   * Writes one Ready's state through to Deno KV.
   *
   * @param update What to write.
   * @returns A promise that settles once Deno KV committed it.
   */
  save(update: StorageUpdate): Promise<void>;
  /**
   * Whether this instance still owns the records (no other instance opened them since).
   *
   * @returns `true` while this instance owns them.
   */
  checkOwner(): Promise<boolean>;
}

/** Accumulates mutations and commits them in bounded atomic batches, each fenced. */
class Batch {
  readonly #kv: DenoKvLike;
  readonly #owner: { key: KvKey; versionstamp: string };
  readonly #maxMutations: number;
  readonly #maxBytes: number;
  #ops: ({ set: KvKey; value: unknown; bytes: number } | { delete: KvKey })[] = [];

  constructor(
    kv: DenoKvLike,
    owner: { key: KvKey; versionstamp: string },
    maxM: number,
    maxB: number,
  ) {
    this.#kv = kv;
    this.#owner = owner;
    this.#maxMutations = maxM;
    this.#maxBytes = maxB;
  }

  set(key: KvKey, value: unknown, bytes: number): void {
    this.#ops.push({ set: key, value, bytes });
  }

  delete(key: KvKey): void {
    this.#ops.push({ delete: key });
  }

  async commit(): Promise<void> {
    const ops = this.#ops;
    this.#ops = [];
    let i = 0;
    do {
      const a = this.#kv.atomic().check(this.#owner);
      let n = 0;
      let bytes = 0;
      while (i < ops.length && n < this.#maxMutations) {
        const op = ops[i]!;
        const b = "set" in op ? op.bytes + 64 : 64;
        if (n > 0 && bytes + b > this.#maxBytes) break;
        if ("set" in op) a.set(op.set, op.value);
        else a.delete(op.delete);
        n++;
        bytes += b;
        i++;
      }
      const res = await a.commit();
      if (!res.ok) {
        throw new Error(
          "Cannot write to Deno KV: another instance opened this node's storage (this one is fenced off)",
        );
      }
    } while (i < ops.length);
  }
}

function entryValue(e: Entry): Uint8Array {
  const v = encodeFrame(encodeEntry(e));
  if (v.length > maxValueBytes) {
    throw new RangeError(
      `Cannot store entry ${e.index} in Deno KV: it is ${v.length} bytes, above the ${maxValueBytes}-byte value limit`,
    );
  }
  return v;
}

function readEntry(v: unknown, index: Index): Entry {
  if (!(v instanceof Uint8Array)) throw new TypeError(`Cannot load entry ${index}: not bytes`);
  const f = decodeFrame(v, 0, { complete: true });
  if (f === undefined) throw new RangeError(`Cannot load entry ${index}: empty record`);
  const e = decodeEntry(f.payload);
  if (e.index !== index) {
    throw new RangeError(`Cannot load entry ${index}: the record holds entry ${e.index}`);
  }
  return e;
}

/** Builds the Deno KV key of one of the node's records. */
type KeyOf = (...parts: (string | number)[]) => KvKey;

/**
 * Takes ownership of the records: later writes of an earlier owner fail their check.
 *
 * @param kv The Deno KV handle.
 * @param ownerKey The record that names the owner.
 * @returns The owner record as this instance wrote it.
 * @throws {Error} When another instance took ownership at the same time.
 */
async function takeOwnership(
  kv: DenoKvLike,
  ownerKey: KvKey,
): Promise<{ key: KvKey; versionstamp: string }> {
  const token = crypto.randomUUID();
  const taken = await kv.atomic().set(ownerKey, token).commit();
  if (!taken.ok) throw new Error("Cannot take ownership of the Deno KV storage");
  const owned = await kv.get(ownerKey);
  if (owned.value !== token || owned.versionstamp === null) {
    throw new Error("Cannot take ownership of the Deno KV storage: another instance raced");
  }
  return { key: ownerKey, versionstamp: owned.versionstamp };
}

/**
 * Loads the stored snapshot, if any, into the in-memory copy.
 *
 * @param kv The Deno KV handle.
 * @param key The node's record keys.
 * @param ms The in-memory copy.
 * @returns The snapshot's metadata, or `null` when none is stored.
 * @throws {RangeError} When a chunk of the snapshot is missing.
 */
async function loadSnapshot(
  kv: DenoKvLike,
  key: KeyOf,
  ms: MemoryStorage,
): Promise<SnapMeta | null> {
  const meta = (await kv.get(key("snap"))).value as SnapMeta | null;
  if (meta === null) return null;
  const parts: Uint8Array[] = [];
  for (let i = 0; i < meta.chunks; i++) {
    const c = (await kv.get(key("snapdata", i))).value;
    if (!(c instanceof Uint8Array)) throw new RangeError(`Cannot load snapshot chunk ${i}`);
    parts.push(c);
  }
  const data = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    data.set(p, pos);
    pos += p.length;
  }
  ms.applySnapshot({
    data,
    metadata: { index: meta.index, term: meta.term, confState: decodeConfState(meta.confState) },
  });
  return meta;
}

/**
 * Loads the log after the snapshot and the hard state into the in-memory copy.
 *
 * @param kv The Deno KV handle.
 * @param key The node's record keys.
 * @param ms The in-memory copy.
 * @param snapIndex The index of the loaded snapshot (0: none).
 * @returns The indexes of the stored entries the snapshot covers.
 * @throws {RangeError} When the log has a gap or a record is damaged.
 */
async function loadLog(
  kv: DenoKvLike,
  key: KeyOf,
  ms: MemoryStorage,
  snapIndex: Index,
): Promise<Index[]> {
  const entries: Entry[] = [];
  const covered: Index[] = [];
  for await (const r of kv.list({ prefix: key("log") })) {
    const index = r.key[r.key.length - 1] as number;
    if (index <= snapIndex) {
      // Kept behind the snapshot for slow followers by the previous run; drop them.
      covered.push(index);
      continue;
    }
    const e = readEntry(r.value, index);
    if (entries.length > 0 && e.index !== entries[entries.length - 1]!.index + 1) {
      throw new RangeError(
        `Cannot load the log: entry ${e.index} follows entry ${entries.at(-1)!.index}`,
      );
    }
    entries.push(e);
  }
  ms.append(entries);
  const hs = (await kv.get(key("hs"))).value;
  if (hs instanceof Uint8Array) ms.setHardState(decodeHardState(hs));
  return covered;
}

/**
 * Writes a snapshot in chunks and deletes the chunks of the previous one it does not overwrite.
 *
 * @param b The batch to write in.
 * @param key The node's record keys.
 * @param s The snapshot.
 * @param previousChunks The chunks of the snapshot stored before.
 * @returns The chunks of this snapshot.
 */
function putSnapshot(b: Batch, key: KeyOf, s: Snapshot, previousChunks: number): number {
  const chunks = Math.ceil(s.data.length / maxValueBytes);
  for (let i = 0; i < chunks; i++) {
    const c = s.data.slice(i * maxValueBytes, (i + 1) * maxValueBytes);
    b.set(key("snapdata", i), c, c.length);
  }
  for (let i = chunks; i < previousChunks; i++) b.delete(key("snapdata", i));
  const m: SnapMeta = {
    index: s.metadata.index,
    term: s.metadata.term,
    confState: encodeConfState(s.metadata.confState),
    chunks,
  };
  b.set(key("snap"), m, m.confState.length + 64);
  return chunks;
}

/**
 * Opens (and takes ownership of) a node's storage in Deno KV.
 *
 * @param kv The Deno KV handle (`await Deno.openKv()`), or any {@linkcode DenoKvLike}.
 * @param options Key prefix and commit limits.
 * @returns The storage.
 */
export async function openDenoKvStorage(
  kv: DenoKvLike,
  options: DenoKvStorageOptions = {},
): Promise<DenoKvStorage> {
  const P = [...(options.prefix ?? ["raft"])];
  const key: KeyOf = (...parts) => [...P, ...parts];
  const ownerKey = key("owner");
  const maxMutations = options.maxMutationsPerCommit ?? 500;
  const maxBytes = options.maxBytesPerCommit ?? 512 * 1024;
  const owner = await takeOwnership(kv, ownerKey);
  const ms = new MemoryStorage();
  const meta = await loadSnapshot(kv, key, ms);
  const covered = await loadLog(kv, key, ms, meta?.index ?? 0);

  const batch = (): Batch => new Batch(kv, owner, maxMutations, maxBytes);
  if (covered.length > 0) {
    const b = batch();
    for (const i of covered) b.delete(key("log", i));
    await b.commit();
  }

  let snapChunks = meta?.chunks ?? 0;

  return {
    // The read side is the in-memory copy's; writes go to both.
    ...memoryNodeStorage(ms),
    async save(u: StorageUpdate): Promise<void> {
      const b = batch();
      if (u.snapshot !== undefined && !isEmptySnap(u.snapshot)) {
        const oldFirst = ms.firstIndex();
        const oldLast = ms.lastIndex();
        ms.applySnapshot(u.snapshot);
        for (let i = oldFirst; i <= oldLast; i++) b.delete(key("log", i));
        snapChunks = putSnapshot(b, key, u.snapshot, snapChunks);
      }
      if (u.entries.length > 0) {
        const oldLast = ms.lastIndex();
        ms.append(u.entries);
        const newLast = ms.lastIndex();
        for (const e of u.entries) {
          if (e.index < ms.firstIndex()) continue;
          const v = entryValue(e);
          b.set(key("log", e.index), v, v.length);
        }
        for (let i = newLast + 1; i <= oldLast; i++) b.delete(key("log", i));
      }
      if (u.hardState !== undefined) {
        ms.setHardState(u.hardState);
        b.set(key("hs"), encodeHardState(u.hardState), 32);
      }
      await b.commit();
    },
    async createSnapshot(index: Index, confState: ConfState, data: Uint8Array): Promise<void> {
      const s = ms.createSnapshot(index, confState, data);
      const b = batch();
      snapChunks = putSnapshot(b, key, s, snapChunks);
      await b.commit();
    },
    async compact(index: Index): Promise<void> {
      const oldFirst = ms.firstIndex();
      ms.compact(index);
      const b = batch();
      for (let i = oldFirst; i <= index; i++) b.delete(key("log", i));
      await b.commit();
    },
    async checkOwner(): Promise<boolean> {
      const r = await kv.get(ownerKey);
      return r.versionstamp === owner.versionstamp;
    },
  };
}
