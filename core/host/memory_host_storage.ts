/**
 * {@linkcode MemoryHostStorage}: every group's log in memory, with the
 * batch counters that show how many writes a host's groups shared.
 *
 * @module
 */

import { memoryNodeStorage, type NodeStorage } from "../node/seams.ts";
import { MemoryStorage } from "../storage.ts";
import type { GroupId, GroupSave, HostStorage } from "./seams.ts";

/** Counters of a {@linkcode MemoryHostStorage}. */
export interface MemoryHostStorageStats {
  /** Batches written: what a durable storage would sync once each. */
  batches: number;
  /** Group saves written, over every batch. */
  saves: number;
}

/**
 * A {@linkcode HostStorage} in memory: one `MemoryStorage` per group. It
 * outlives the hosts that use it, so a test can close a host and start
 * another on the same state, as after a crash (a save is durable once
 * `writeBatch` returns). For tests and simulations.
 *
 * @example Two groups' saves in one batch
 * ```ts
 * import { MemoryHostStorage, newEntry } from "@raft-ts/raft";
 *
 * const storage = new MemoryHostStorage();
 * storage.openGroup(1);
 * storage.openGroup(2);
 * const update = {
 *   hardState: { term: 1, vote: 1, commit: 0 },
 *   entries: [newEntry({ term: 1, index: 1 })],
 *   snapshot: undefined,
 *   mustSync: true,
 * };
 * storage.writeBatch([{ groupId: 1, update }, { groupId: 2, update }]);
 * if (storage.stats.batches !== 1 || storage.stats.saves !== 2) throw new Error("unexpected");
 * if (storage.openGroup(2).lastIndex() !== 1) throw new Error("not written");
 * ```
 */
export class MemoryHostStorage implements HostStorage {
  readonly #groups = new Map<GroupId, { ms: MemoryStorage; storage: NodeStorage }>();
  readonly #stats: MemoryHostStorageStats = { batches: 0, saves: 0 };

  /** A copy of the counters. */
  get stats(): MemoryHostStorageStats {
    return { ...this.#stats };
  }

  /**
   * The groups that have state here.
   *
   * @returns Their IDs, ascending.
   */
  groupIds(): GroupId[] {
    return [...this.#groups.keys()].sort((a, b) => a - b);
  }

  /**
   * Opens the storage of a group, creating it empty when new.
   *
   * @param groupId The group.
   * @returns The group's storage (its `save` writes directly, outside any batch).
   */
  openGroup(groupId: GroupId): NodeStorage {
    let g = this.#groups.get(groupId);
    if (g === undefined) {
      const ms = new MemoryStorage();
      g = { ms, storage: memoryNodeStorage(ms) };
      this.#groups.set(groupId, g);
    }
    return g.storage;
  }

  /**
   * Writes the saves of many groups as one batch.
   *
   * @param batch The saves, at most one per group.
   * @throws {RangeError} A save names a group that was never opened.
   */
  writeBatch(batch: readonly GroupSave[]): void {
    for (const s of batch) {
      if (!this.#groups.has(s.groupId)) {
        throw new RangeError(`Cannot write group ${s.groupId}: it was never opened`);
      }
    }
    this.#stats.batches++;
    for (const s of batch) {
      this.#stats.saves++;
      this.#groups.get(s.groupId)!.storage.save(s.update);
    }
  }

  /**
   * Deletes a group's state.
   *
   * @param groupId The group.
   */
  deleteGroup(groupId: GroupId): void {
    this.#groups.delete(groupId);
  }
}
