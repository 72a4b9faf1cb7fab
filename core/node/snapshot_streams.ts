/**
 * Snapshots whose state machine data is held in storage in chunks: taking
 * one (the state machine's chunks into the storage's staging area),
 * restoring one (the stored chunks, checked, into the state machine), and
 * the {@linkcode SnapshotStreams} a streaming transport reads outgoing
 * snapshots from and writes incoming ones to.
 *
 * @module
 */

import { crc32c } from "../crc32c.ts";
import type { Index, Snapshot, Term } from "../types.ts";
import { decodeSnapshotData, encodeSnapshotData, type ReplicatedState } from "./replicated.ts";
import type {
  NodeStorage,
  SnapshotChunkStore,
  SnapshotData,
  SnapshotDataDescriptor,
  SnapshotReceiver,
  SnapshotStreams,
  StateMachine,
} from "./seams.ts";
import type { SessionLimits } from "./sessions.ts";
import { collectSnapshotData } from "./snapshots.ts";
import { joinBytes } from "../util.ts";

/**
 * The largest snapshot data a node whose storage keeps no chunks gathers
 * in memory when it is received in chunks (about SQLite's blob limit).
 */
export const inlineSnapshotBytesMax = 1 << 30;

/** The chunks of `data`: itself as the only one, or its own. */
async function* chunksOf(data: SnapshotData): AsyncGenerator<Uint8Array> {
  if (data instanceof Uint8Array) {
    yield data;
    return;
  }
  for await (const c of data) {
    if (!(c instanceof Uint8Array)) {
      throw new TypeError(
        "Cannot take a snapshot: the state machine gave a chunk that is not a Uint8Array",
      );
    }
    yield c;
  }
}

/**
 * Writes a state machine's snapshot into a storage's staging area, chunk
 * by chunk.
 *
 * @param store The storage's chunk store.
 * @param data The state machine's snapshot.
 * @returns The staged data's descriptor.
 */
export async function stageSnapshotData(
  store: SnapshotChunkStore,
  data: SnapshotData,
): Promise<SnapshotDataDescriptor> {
  const staging = store.stage();
  try {
    for await (const c of chunksOf(data)) await staging.write(c);
    return await staging.finish();
  } catch (e) {
    await staging.abort();
    throw e;
  }
}

/**
 * Yields `chunks`, checking that together they have the descriptor's
 * length and checksum; the last step throws when they do not.
 *
 * @param chunks The chunks.
 * @param want The descriptor.
 * @param what What is read, for the message.
 * @returns The same chunks.
 * @throws {RangeError} When the bytes are more or fewer than described, or their checksum differs.
 */
export async function* checkedChunks(
  chunks: AsyncIterable<Uint8Array>,
  want: SnapshotDataDescriptor,
  what: string,
): AsyncGenerator<Uint8Array> {
  let n = 0;
  let crc = 0;
  for await (const c of chunks) {
    n += c.length;
    if (n > want.length) {
      throw new RangeError(`Cannot read ${what}: more than the ${want.length} bytes it has`);
    }
    crc = crc32c(c, crc);
    yield c;
  }
  if (n !== want.length) {
    throw new RangeError(`Cannot read ${what}: ${n} of its ${want.length} bytes`);
  }
  if (crc !== want.checksum) {
    throw new RangeError(
      `Cannot read ${what}: its checksum is ${crc}, ${want.checksum} was written`,
    );
  }
}

/**
 * Restores a state machine from the stored snapshot's data held in chunks:
 * through `restoreStream` when it has one, else as one array. The chunks
 * are checked against the descriptor as they are read.
 *
 * @param sm The state machine.
 * @param storage The storage holding the snapshot.
 * @param stored The snapshot's data descriptor.
 * @param meta The snapshot's position.
 * @returns A Promise that settles once the state machine is restored.
 * @throws {RangeError} When the storage keeps no chunks, or the data fails its check.
 */
export async function restoreStoredSnapshot(
  sm: StateMachine<unknown>,
  storage: NodeStorage,
  stored: SnapshotDataDescriptor,
  meta: { index: Index; term: Term },
): Promise<void> {
  const store = storage.snapshotChunks;
  if (store === undefined) {
    throw new RangeError(
      `Cannot restore snapshot ${meta.index}: its data is held in chunks and the storage has no snapshotChunks store`,
    );
  }
  const chunks = checkedChunks(store.read(stored), stored, `snapshot ${meta.index}`);
  if (sm.restoreStream !== undefined) {
    await sm.restoreStream(chunks, meta);
    return;
  }
  await sm.restore(await collectSnapshotData(chunks), meta);
}

/**
 * Takes a snapshot into a storage that keeps chunks: the state machine's
 * chunks go to staging, then the snapshot (the driver's header and the
 * data's descriptor) is created with it.
 *
 * @param storage The storage (with a `snapshotChunks` store).
 * @param index The applied index.
 * @param confState The membership at `index`.
 * @param replicated The driver's replicated state at `index` (a copy when
 *   commands are applied while the data is staged).
 * @param data The state machine's snapshot.
 * @returns A Promise that settles once the snapshot is created.
 */
export async function createStoredSnapshot(
  storage: NodeStorage & { snapshotChunks: SnapshotChunkStore },
  index: Index,
  confState: Snapshot["metadata"]["confState"],
  replicated: ReplicatedState,
  data: SnapshotData,
): Promise<void> {
  const stored = await stageSnapshotData(storage.snapshotChunks, data);
  await storage.createSnapshot(index, confState, encodeSnapshotData(replicated, stored), stored);
}

/**
 * The snapshot streams of a node: outgoing data read from its storage,
 * incoming data staged in it (or, when it keeps no chunks, gathered into
 * the snapshot's data, up to `inlineBytesMax`).
 */
export class NodeSnapshotStreams implements SnapshotStreams {
  readonly #storage: NodeStorage;
  readonly #limits: SessionLimits;
  readonly #inlineBytesMax: number;

  /**
   * @param storage The node's storage.
   * @param limits The session table's bounds (to read snapshot headers).
   * @param inlineBytesMax The largest data gathered in memory for a storage without chunks.
   */
  constructor(storage: NodeStorage, limits: SessionLimits, inlineBytesMax: number) {
    this.#storage = storage;
    this.#limits = limits;
    this.#inlineBytesMax = inlineBytesMax;
  }

  dataBytes(snap: Snapshot): number | undefined {
    return decodeSnapshotData(snap.data, this.#limits).stored?.length;
  }

  read(snap: Snapshot): AsyncIterable<Uint8Array> {
    const store = this.#storage.snapshotChunks;
    if (store === undefined) {
      throw new RangeError(
        `Cannot read snapshot ${snap.metadata.index}: the storage has no snapshotChunks store`,
      );
    }
    const { stored } = decodeSnapshotData(snap.data, this.#limits);
    if (stored === undefined) {
      throw new RangeError(
        `Cannot read snapshot ${snap.metadata.index} in chunks: its data is inline`,
      );
    }
    return store.read(stored);
  }

  receive(snap: Snapshot): SnapshotReceiver {
    const { state, stored } = decodeSnapshotData(snap.data, this.#limits);
    if (stored === undefined) {
      throw new RangeError(
        `Cannot receive snapshot ${snap.metadata.index} in chunks: its data is inline`,
      );
    }
    const what = `snapshot ${snap.metadata.index} received`;
    const store = this.#storage.snapshotChunks;
    if (store !== undefined) return stagedReceiver(store, snap, stored, what);
    if (stored.length > this.#inlineBytesMax) {
      throw new RangeError(
        `Cannot receive ${what}: its ${stored.length} bytes are above ${this.#inlineBytesMax} and the storage keeps no chunks`,
      );
    }
    return inlineReceiver(snap, state, stored, what);
  }
}

/** Checks the bytes of a received snapshot as they come. */
class Tally {
  n = 0;
  crc = 0;
  readonly #want: SnapshotDataDescriptor;
  readonly #what: string;
  constructor(want: SnapshotDataDescriptor, what: string) {
    this.#want = want;
    this.#what = what;
  }
  add(c: Uint8Array): void {
    if (this.n + c.length > this.#want.length) {
      throw new RangeError(`Cannot write ${this.#what}: more than its ${this.#want.length} bytes`);
    }
    this.n += c.length;
    this.crc = crc32c(c, this.crc);
  }
  check(got: SnapshotDataDescriptor): void {
    if (got.length !== this.#want.length) {
      throw new RangeError(
        `Cannot install ${this.#what}: ${got.length} of its ${this.#want.length} bytes arrived`,
      );
    }
    if (got.checksum !== this.#want.checksum) {
      throw new RangeError(
        `Cannot install ${this.#what}: its checksum is ${got.checksum}, the sender's is ${this.#want.checksum}`,
      );
    }
  }
}

function stagedReceiver(
  store: SnapshotChunkStore,
  snap: Snapshot,
  want: SnapshotDataDescriptor,
  what: string,
): SnapshotReceiver {
  const staging = store.stage();
  const tally = new Tally(want, what);
  return {
    write(chunk: Uint8Array): void | Promise<void> {
      tally.add(chunk);
      return staging.write(chunk);
    },
    async finish(): Promise<Snapshot> {
      try {
        // Ours first (the bytes handed over), then the store's (the bytes it wrote).
        tally.check({ length: tally.n, checksum: tally.crc });
        tally.check(await staging.finish());
      } catch (e) {
        await staging.abort();
        throw e;
      }
      return snap;
    },
    abort(): void | Promise<void> {
      return staging.abort();
    },
  };
}

function inlineReceiver(
  snap: Snapshot,
  state: ReplicatedState,
  want: SnapshotDataDescriptor,
  what: string,
): SnapshotReceiver {
  let chunks: Uint8Array[] = [];
  const tally = new Tally(want, what);
  return {
    write(chunk: Uint8Array): void {
      tally.add(chunk);
      chunks.push(chunk.slice());
    },
    finish(): Promise<Snapshot> {
      try {
        tally.check({ length: tally.n, checksum: tally.crc });
      } catch (e) {
        chunks = [];
        return Promise.reject(e);
      }
      const data = encodeSnapshotData(state, joinBytes(chunks, tally.n));
      chunks = [];
      return Promise.resolve({ ...snap, data });
    },
    abort(): void {
      chunks = [];
    },
  };
}
