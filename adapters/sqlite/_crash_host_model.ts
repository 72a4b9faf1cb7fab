/**
 * The workload of the host storage's crash test: each step draws, for a
 * random subset of the groups, the next write of the single-group
 * workload (`_crash_model.ts`); the groups' saves go in one batch, their
 * snapshots and compactions are written one by one before it. The writer
 * process runs it on a `SqliteHostStorage`, the checker on a
 * `MemoryHostStorage` model.
 *
 * @module
 */

import type { GroupId, GroupSave, HostStorage } from "../../core/host/seams.ts";
import { randomIntN } from "../../core/rand.ts";
import { applyOp, type CrashOp, digest, nextOp } from "./_crash_model.ts";

/** The groups the workload writes to. */
export const crashGroupIds: readonly GroupId[] = [1, 2, 3, 4, 5, 6, 7, 8];

/** One write of a step: a batch of saves, or one group's own write. */
export type HostWrite =
  | { kind: "batch"; saves: GroupSave[] }
  | { kind: "group"; groupId: GroupId; op: CrashOp };

/**
 * Draws the next step from the PRNG and the storage's state: the groups'
 * own writes, then the batch (last).
 *
 * @param rand The PRNG.
 * @param host The storage (only read; its groups opened).
 * @returns The writes, in order.
 */
export function nextHostStep(rand: () => number, host: HostStorage): HostWrite[] {
  const saves: GroupSave[] = [];
  const writes: HostWrite[] = [];
  for (const groupId of crashGroupIds) {
    if (randomIntN(rand, 4) === 0) continue;
    const op = nextOp(rand, host.openGroup(groupId));
    if (op.kind === "save") saves.push({ groupId, update: op.update });
    else writes.push({ kind: "group", groupId, op });
  }
  writes.push({ kind: "batch", saves });
  return writes;
}

/**
 * Performs one write.
 *
 * @param host The storage.
 * @param w The write.
 * @returns Once it is durable.
 */
export async function applyHostWrite(host: HostStorage, w: HostWrite): Promise<void> {
  if (w.kind === "batch") await host.writeBatch(w.saves);
  else await applyOp(host.openGroup(w.groupId), w.op);
}

/**
 * A digest of every group's state.
 *
 * @param host The storage.
 * @returns The digest, one line per group.
 */
export function hostDigest(host: HostStorage): string {
  return crashGroupIds.map((g) => `${g}: ${digest(host.openGroup(g))}`).join("\n");
}
