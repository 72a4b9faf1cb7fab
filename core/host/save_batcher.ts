/**
 * The host's storage batcher: the saves its groups issue in one turn of
 * the event loop become one {@linkcode HostStorage.writeBatch} call (one
 * transaction, one sync), and every group's save settles when the batch is
 * durable. While a batch is written, new saves gather for the next one
 * (group commit).
 *
 * @module
 */

import { assert } from "../_assert.ts";
import type { StorageUpdate } from "../node/seams.ts";
import type { Scheduler } from "../node/scheduler.ts";
import { NextTurn } from "./turn.ts";
import type { GroupId, GroupSave, HostStorage } from "./seams.ts";

/** A save waiting for its batch to be durable. */
interface PendingSave extends GroupSave {
  resolve(): void;
  reject(e: unknown): void;
}

/** Counters of a {@linkcode SaveBatcher}. */
export interface SaveBatchStats {
  /** Batches written (calls to `writeBatch`). */
  batches: number;
  /** Saves written, over every batch. */
  saves: number;
  /** The most saves one batch held. */
  largestBatchSaves: number;
}

/**
 * Gathers the saves of a host's groups into batches. Each group has at
 * most one save outstanding (its Ready loop awaits it), so a batch holds
 * at most one save per group: the number of groups bounds it.
 */
export class SaveBatcher {
  readonly #storage: HostStorage;
  /** Saves gathered for the next batch; at most one per group. */
  #gathering: PendingSave[] = [];
  /** The groups with a save in `#gathering`. */
  readonly #gatheringGroups = new Set<GroupId>();
  /** The hop after which the gathered saves are written; `undefined` when none waits. */
  readonly #nextFlush: NextTurn;
  /** Settles when the batch being written is durable; `undefined` when none is. */
  #writing: Promise<void> | undefined = undefined;
  readonly #stats: SaveBatchStats = { batches: 0, saves: 0, largestBatchSaves: 0 };

  /**
   * Creates a batcher.
   *
   * @param storage Where batches are written.
   * @param scheduler Where the hop that ends a turn comes from (`yieldToIo`, else a 0 ms timer).
   */
  constructor(storage: HostStorage, scheduler: Scheduler) {
    this.#storage = storage;
    this.#nextFlush = new NextTurn(scheduler, () => {
      if (this.#writing === undefined) this.#flush();
    });
  }

  /** A copy of the counters. */
  get stats(): SaveBatchStats {
    return { ...this.#stats };
  }

  /**
   * Adds a group's save to the next batch.
   *
   * @param groupId The group.
   * @param update What its Ready writes.
   * @returns A Promise that settles once the batch holding the save is durable.
   */
  save(groupId: GroupId, update: StorageUpdate): Promise<void> {
    if (this.#gatheringGroups.has(groupId)) {
      assert(false, `group ${groupId} saved twice before its first save was written`);
    }
    return new Promise<void>((resolve, reject) => {
      this.#gathering.push({ groupId, update, resolve, reject });
      this.#gatheringGroups.add(groupId);
      if (this.#writing === undefined) this.#nextFlush.schedule();
    });
  }

  /**
   * Writes what is gathered now, and waits until no batch is being
   * written.
   *
   * @returns A Promise that settles once every save handed over is settled.
   */
  async drain(): Promise<void> {
    while (this.#writing !== undefined || this.#gathering.length > 0) {
      if (this.#writing === undefined) this.#flush();
      if (this.#writing !== undefined) await this.#writing;
    }
  }

  /** Hands the gathered saves to storage as one batch. */
  #flush(): void {
    const batch = this.#gathering;
    if (batch.length === 0) return;
    this.#gathering = [];
    this.#gatheringGroups.clear();
    this.#nextFlush.cancel();
    this.#stats.batches++;
    this.#stats.saves += batch.length;
    if (batch.length > this.#stats.largestBatchSaves) this.#stats.largestBatchSaves = batch.length;
    this.#writing = this.#write(batch);
  }

  async #write(batch: PendingSave[]): Promise<void> {
    // Yield first, so that `#flush` has set `#writing` before the
    // `finally` below clears it, also when `writeBatch` throws at once.
    await undefined;
    try {
      await this.#storage.writeBatch(batch.map((p) => ({ groupId: p.groupId, update: p.update })));
      for (const p of batch) p.resolve();
    } catch (e) {
      for (const p of batch) p.reject(e);
    } finally {
      this.#writing = undefined;
      // Saves that arrived during the write waited a whole write already.
      if (this.#gathering.length > 0) this.#flush();
    }
  }
}
