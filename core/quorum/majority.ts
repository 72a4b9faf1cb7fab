/**
 * Majority quorums: a set of voters whose decisions need more than half of
 * them. Ported from etcd raft's `quorum/majority.go`.
 *
 * @module
 */

import type { Index, NodeId } from "../types.ts";
import { type AckedIndexer, VoteResult } from "./quorum.ts";

/** Below this many acknowledged indexes, `committedIndex` sorts by insertion. */
const insertionSortMax = 16;

/**
 * Scratch space for `committedIndex`, shared by every config and grown on
 * demand, so the hot path of each MsgAppResp does not allocate.
 */
let scratch = new Float64Array(insertionSortMax);

function sortedIds(ids: Iterable<NodeId>): NodeId[] {
  return Array.from(ids).sort((a, b) => a - b);
}

/**
 * Formats a set of IDs as etcd prints a `MajorityConfig`: sorted, in hex,
 * space separated, in parentheses.
 *
 * @param ids The IDs.
 * @returns For example `"(1 2 a)"`, or `"()"` when empty.
 *
 * @example Formatting IDs
 * ```ts
 * import { formatIdSet } from "./majority.ts";
 * if (formatIdSet(new Set([10, 2])) !== "(2 a)") throw new Error("unexpected");
 * ```
 */
export function formatIdSet(ids: Iterable<NodeId>): string {
  return "(" + sortedIds(ids).map((id) => id.toString(16)).join(" ") + ")";
}

/**
 * A set of voter IDs that makes decisions by majority (etcd's
 * `MajorityConfig`).
 *
 * @example Committed index and vote of three voters
 * ```ts
 * import { MajorityConfig, MapAckIndexer, VoteResult } from "@raft-ts/raft";
 * const c = new MajorityConfig([1, 2, 3]);
 * if (c.committedIndex(new MapAckIndexer([[1, 12], [2, 5]])) !== 5) throw new Error("unexpected");
 * if (c.voteResult(new Map([[1, true], [2, true]])) !== VoteResult.VoteWon) {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export class MajorityConfig extends Set<NodeId> {
  /**
   * Formats the config as etcd does.
   *
   * @returns The sorted IDs in hex, for example `"(1 2 3)"`; `"()"` when empty.
   */
  override toString(): string {
    return formatIdSet(this);
  }

  /**
   * Draws the acknowledged index of every voter as a table with a bar per
   * voter (the i-th smallest distinct index gets a bar of length i), one line
   * per voter in ascending ID order. Unknown voters print `?`.
   *
   * @param l The acknowledged indexes.
   * @returns The multi-line table, or `"<empty majority quorum>"` (no newline)
   *   for an empty config.
   */
  describe(l: AckedIndexer): string {
    const n = this.size;
    if (n === 0) return "<empty majority quorum>";
    const info: { id: NodeId; idx: Index; ok: boolean; bar: number }[] = [];
    for (const id of this) {
      const idx = l.ackedIndex(id);
      info.push({ id, idx: idx ?? 0, ok: idx !== undefined, bar: 0 });
    }
    // Sort by index (then ID), and give equal indexes equal bars.
    info.sort((a, b) => a.idx !== b.idx ? a.idx - b.idx : a.id - b.id);
    for (let i = 1; i < info.length; i++) {
      info[i]!.bar = info[i - 1]!.idx < info[i]!.idx ? i : info[i - 1]!.bar;
    }
    info.sort((a, b) => a.id - b.id);
    let buf = " ".repeat(n) + "    idx\n";
    for (const t of info) {
      buf += t.ok ? "x".repeat(t.bar) + ">" + " ".repeat(n - t.bar) : "?" + " ".repeat(n);
      buf += " " + String(t.idx).padStart(5) + "    (id=" + t.id.toString(16) + ")\n";
    }
    return buf;
  }

  /**
   * Lists the voters.
   *
   * @returns A new array of the IDs in ascending order.
   */
  slice(): NodeId[] {
    return sortedIds(this);
  }

  /**
   * Computes the highest index acknowledged by a majority of the voters.
   * Voters with no known index count as index 0.
   *
   * Does not allocate for configs of up to 16 voters.
   *
   * @param l The acknowledged indexes.
   * @returns The committed index; `Infinity` for an empty config, so that an
   *   empty half of a joint config does not constrain the other half.
   */
  committedIndex(l: AckedIndexer): Index {
    const n = this.size;
    if (n === 0) return Infinity;
    if (scratch.length < n) scratch = new Float64Array(Math.max(n, scratch.length * 2));
    const srt = scratch;
    // Collect the known indexes in srt[0, k). The n - k unknown voters count
    // as zeroes, which sort before all of them.
    let k = 0;
    for (const id of this) {
      const idx = l.ackedIndex(id);
      if (idx !== undefined) srt[k++] = idx;
    }
    if (k <= insertionSortMax) {
      for (let i = 1; i < k; i++) {
        const v = srt[i]!;
        let j = i;
        while (j > 0 && srt[j - 1]! > v) {
          srt[j] = srt[j - 1]!;
          j--;
        }
        srt[j] = v;
      }
    } else {
      srt.subarray(0, k).sort();
    }
    // In the full sorted list (zeroes first), the element n/2+1 places from
    // the end has been acknowledged by a majority.
    const pos = n - (Math.floor(n / 2) + 1);
    const zeroes = n - k;
    return pos < zeroes ? 0 : srt[pos - zeroes]!;
  }

  /**
   * Tallies votes. An empty config wins by convention, so that an empty half
   * of a joint config does not constrain the other half.
   *
   * @param votes Yes (`true`) or no (`false`) per voter; absent voters have
   *   not voted. Entries of non-voters are ignored.
   * @returns `VoteWon` when a majority voted yes, `VotePending` when the
   *   missing votes could still make one, else `VoteLost`.
   */
  voteResult(votes: ReadonlyMap<NodeId, boolean>): VoteResult {
    if (this.size === 0) return VoteResult.VoteWon;
    let yes = 0;
    let missing = 0;
    for (const id of this) {
      const v = votes.get(id);
      if (v === undefined) missing++;
      else if (v) yes++;
    }
    const q = Math.floor(this.size / 2) + 1;
    if (yes >= q) return VoteResult.VoteWon;
    if (yes + missing >= q) return VoteResult.VotePending;
    return VoteResult.VoteLost;
  }
}
