/**
 * When the driver takes a snapshot and how far it compacts the log: the
 * counters of what was applied since the latest snapshot, and whether that
 * snapshot's membership is stale.
 *
 * @module
 */

import type { Index, Term } from "../types.ts";
import type { SnapshotData, StateMachine } from "./seams.ts";
import { joinBytes } from "../util.ts";

/** The snapshot options, validated. */
export interface SnapshotLimits {
  /** Entries applied since the last snapshot that trigger one; `0`: never. */
  snapshotEntries: number;
  /** Command bytes applied since the last snapshot that trigger one; `0`: never. */
  snapshotBytes: number;
  /** Entries kept in the log behind a snapshot. */
  snapshotCatchUpEntries: number;
}

/** The snapshot and compaction policy of one node. */
export class SnapshotPolicy {
  readonly #limits: SnapshotLimits;
  /** The index of the latest snapshot in storage. */
  #index: Index;
  #entriesSinceSnapshot = 0;
  #bytesSinceSnapshot = 0;
  /**
   * A member was added after the latest snapshot: the next snapshot is
   * taken at once, because a snapshot whose ConfState lacks a member is
   * refused by that member, which could then never catch up.
   */
  #stale = false;

  /**
   * Creates the policy.
   *
   * @param limits The snapshot options.
   * @param index The index of the latest snapshot in storage.
   */
  constructor(limits: SnapshotLimits, index: Index) {
    this.#limits = limits;
    this.#index = index;
  }

  /** The index of the latest snapshot in storage. */
  get index(): Index {
    return this.#index;
  }

  /** Counts one applied entry of `bytes` command bytes. */
  applied(bytes: number): void {
    this.#bytesSinceSnapshot += bytes;
    this.#entriesSinceSnapshot++;
  }

  /** A member was added: once a snapshot exists, the next is due at once. */
  memberAdded(): void {
    if (this.#index > 0) this.#stale = true;
  }

  /**
   * Whether a snapshot at `applied` is due.
   *
   * @param applied The applied index.
   * @returns True when enough was applied since the last snapshot (or it is stale) and `applied` is past it.
   */
  due(applied: Index): boolean {
    const byEntries = this.#limits.snapshotEntries > 0 &&
      this.#entriesSinceSnapshot >= this.#limits.snapshotEntries;
    const byBytes = this.#limits.snapshotBytes > 0 &&
      this.#bytesSinceSnapshot >= this.#limits.snapshotBytes;
    if (!byEntries && !byBytes && !this.#stale) return false;
    return applied > this.#index;
  }

  /**
   * Records a snapshot at `index` (taken, or installed from the leader).
   *
   * @param index The snapshot's index.
   * @returns The index the log may be compacted up to, keeping `snapshotCatchUpEntries` behind it.
   */
  taken(index: Index): Index {
    this.#index = index;
    this.#entriesSinceSnapshot = 0;
    this.#bytesSinceSnapshot = 0;
    this.#stale = false;
    return index - this.#limits.snapshotCatchUpEntries;
  }
}

/**
 * A snapshot's bytes in one array: `data` itself, or its chunks joined.
 * Only for snapshots known to be small (tests, the simulator): a streamed
 * snapshot is meant to be read chunk by chunk.
 *
 * @param data The bytes or chunks.
 * @returns The bytes (synchronously when `data` is an array).
 */
export function collectSnapshotData(data: SnapshotData): Uint8Array | Promise<Uint8Array> {
  if (data instanceof Uint8Array) return data;
  return (async (): Promise<Uint8Array> => {
    const chunks: Uint8Array[] = [];
    let n = 0;
    for await (const c of data) {
      if (!(c instanceof Uint8Array)) {
        throw new TypeError("Cannot read the snapshot: a chunk is not a Uint8Array");
      }
      chunks.push(c);
      n += c.length;
    }
    return joinBytes(chunks, n);
  })();
}

/** Yields one array as the only chunk. */
async function* oneChunk(b: Uint8Array): AsyncGenerator<Uint8Array> {
  yield b;
}

/**
 * Restores a state machine from snapshot bytes: through `restoreStream`
 * when it has one (with the bytes as one chunk), else `restore`.
 *
 * @param sm The state machine.
 * @param data The state machine's snapshot bytes.
 * @param meta Where the snapshot sits in the log.
 * @returns Nothing, or a Promise.
 */
export function restoreStateMachine(
  sm: StateMachine<unknown>,
  data: Uint8Array,
  meta: { index: Index; term: Term },
): void | Promise<void> {
  if (sm.restoreStream !== undefined) return sm.restoreStream(oneChunk(data), meta);
  return sm.restore(data, meta);
}
