/**
 * The workload of the crash test: a seeded generator of Raft-like storage
 * writes (appends with commits, conflicting suffixes, HardState updates,
 * snapshots, compactions, snapshot installs) that depends only on the PRNG
 * and the storage's visible state. The writer process and the checking
 * process run the same generator, the first on SQLite, the second on a
 * `MemoryStorage` model, so the checker knows exactly what each
 * acknowledged write left behind.
 *
 * @module
 */

import { encodeEntry } from "../../core/codec.ts";
import { crc32c } from "../../core/crc32c.ts";
import type { NodeStorage, StorageUpdate } from "../../core/node.ts";
import { randomIntN } from "../../core/rand.ts";
import type { Storage } from "../../core/storage.ts";
import {
  type ConfState,
  type Entry,
  newConfState,
  newEntry,
  newSnapshot,
} from "../../core/types.ts";

/** With a writer thread, the crash writer keeps this many writes in flight. */
export const crashWritesInFlight = 4;

/** One write call of the workload. */
export type CrashOp =
  | { kind: "save"; update: StorageUpdate }
  | { kind: "createSnapshot"; index: number; confState: ConfState; data: Uint8Array }
  | { kind: "compact"; index: number };

function bytes(rand: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let k = 0; k < n; k++) b[k] = randomIntN(rand, 256);
  return b;
}

function entries(rand: () => number, from: number, n: number, term: number): Entry[] {
  return Array.from(
    { length: n },
    (_, k) => newEntry({ index: from + k, term, data: bytes(rand, randomIntN(rand, 256)) }),
  );
}

/**
 * Draws the next write from the PRNG and the storage's state. Every write
 * keeps Raft's invariants: the commit index never passes the last index,
 * committed entries are never replaced, terms only grow.
 *
 * @param rand The PRNG.
 * @param s The storage (only read).
 * @returns The write.
 */
export function nextOp(rand: () => number, s: NodeStorage): CrashOp {
  const int = (n: number): number => randomIntN(rand, n);
  const hs = s.initialState().hardState;
  const term = Math.max(hs.term, 1);
  const commit = hs.commit;
  const last = s.lastIndex();
  const first = s.firstIndex();
  const snapIndex = s.snapshot().metadata.index;
  const snapFloor = Math.max(snapIndex, first - 1);
  const r = int(100);
  const save = (u: Omit<StorageUpdate, "mustSync">): CrashOp => ({
    kind: "save",
    update: { ...u, mustSync: true },
  });

  if (r >= 60 && r < 72 && last > commit) {
    // A new leader's entries replace the uncommitted suffix.
    const at = commit + 1 + int(last - commit);
    return save({
      hardState: { term: term + 1, vote: 2, commit },
      entries: entries(rand, at, 1 + int(8), term + 1),
      snapshot: undefined,
    });
  }
  if (r >= 72 && r < 80) {
    return save({
      hardState: {
        term: term + (int(4) === 0 ? 1 : 0),
        vote: 1,
        commit: commit + int(last - commit + 1),
      },
      entries: [],
      snapshot: undefined,
    });
  }
  if (r >= 80 && r < 88 && commit > snapFloor) {
    return {
      kind: "createSnapshot",
      index: snapFloor + 1 + int(commit - snapFloor),
      confState: newConfState({ voters: [1, 2, 3] }),
      data: bytes(rand, 512 + int(2048)),
    };
  }
  if (r >= 88 && r < 96 && snapIndex >= first) {
    return { kind: "compact", index: first + int(snapIndex - first + 1) };
  }
  if (r >= 96) {
    // A snapshot from the leader, with the entries that follow it.
    const index = last + 1 + int(20);
    const k = int(4);
    const snap = newSnapshot({
      index,
      term: term + 1,
      confState: newConfState({ voters: [1, 2, 3] }),
    });
    snap.data = bytes(rand, 1024);
    return save({
      hardState: { term: term + 1, vote: 0, commit: index + int(k + 1) },
      entries: entries(rand, index + 1, k, term + 1),
      snapshot: snap,
    });
  }
  const n = 1 + int(int(8) === 0 ? 64 : 16);
  return save({
    hardState: { term, vote: 1, commit: Math.min(last + n, commit + int(n + 4)) },
    entries: entries(rand, last + 1, n, term),
    snapshot: undefined,
  });
}

/**
 * Performs a write.
 *
 * @param s The storage.
 * @param op The write.
 */
export async function applyOp(s: NodeStorage, op: CrashOp): Promise<void> {
  switch (op.kind) {
    case "save":
      await s.save(op.update);
      return;
    case "createSnapshot":
      await s.createSnapshot(op.index, op.confState, op.data);
      return;
    case "compact":
      await s.compact(op.index);
      return;
  }
}

/**
 * A compact, exact fingerprint of everything a storage shows: the
 * HardState, the bounds of the log, the snapshot and a checksum of every
 * entry's encoding.
 *
 * @param s The storage.
 * @returns The fingerprint, as JSON.
 */
export function digest(s: Storage): string {
  const { hardState, confState } = s.initialState();
  const first = s.firstIndex();
  const last = s.lastIndex();
  const snap = s.snapshot();
  let crc = 0;
  if (last >= first) {
    for (const e of s.entries(first, last + 1, Infinity)) crc = crc32c(encodeEntry(e), crc);
  }
  return JSON.stringify({
    hardState,
    voters: confState.voters,
    first,
    last,
    compactedTerm: s.term(first - 1),
    snap: { index: snap.metadata.index, term: snap.metadata.term, data: crc32c(snap.data) },
    entries: crc,
  });
}
