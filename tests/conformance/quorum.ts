/**
 * Handler for etcd raft's `quorum/testdata` files: majority and joint
 * committed indexes (`committed`) and vote results (`vote`). See
 * HARNESS.md §8.
 *
 * @module
 */

import { JointConfig } from "../../core/quorum/joint.ts";
import { MajorityConfig } from "../../core/quorum/majority.ts";
import {
  type AckedIndexer,
  indexToString,
  MapAckIndexer,
  voteResultToString,
} from "../../core/quorum/quorum.ts";
import { DataDrivenError, type Handler, parseIntValue, type TestData } from "./datadriven.ts";

/**
 * A brute-force committed index: the largest acknowledged index that at
 * least a majority of the voters have reached.
 *
 * @param c The voters.
 * @param l The acknowledged indexes.
 * @returns The committed index (`Infinity` for an empty config).
 */
export function alternativeMajorityCommittedIndex(c: MajorityConfig, l: AckedIndexer): number {
  if (c.size === 0) return Infinity;
  const known: number[] = [];
  for (const id of c) {
    const idx = l.ackedIndex(id);
    if (idx !== undefined) known.push(idx);
  }
  const q = Math.floor(c.size / 2) + 1;
  let best = 0;
  for (const candidate of known) {
    const votes = known.filter((idx) => idx >= candidate).length;
    if (votes >= q && candidate > best) best = candidate;
  }
  return best;
}

function scanUint(d: TestData, s: string): number {
  const n = parseIntValue(d, s);
  if (n < 0) throw new DataDrivenError(`${d.pos}: ${d.cmd}: cannot parse ${s} as uint64`);
  return n;
}

/** Go's `%v` of a `map[uint64]struct{}`: keys sorted, `map[1:{} 2:{}]`. */
function goSetString(ids: Set<number>): string {
  const sorted = Array.from(ids).sort((a, b) => a - b);
  return "map[" + sorted.map((id) => `${id}:{}`).join(" ") + "]";
}

/**
 * Maps the voters, in order of first appearance in `ids` then `idsj`, to
 * the next value of `vals`, dropping the `0` placeholders of `_`.
 */
function makeLookuper(vals: number[], ids: number[], idsj: number[]): MapAckIndexer {
  const l = new MapAckIndexer();
  let p = 0;
  for (const id of [...ids, ...idsj]) {
    if (l.has(id)) continue;
    if (p < vals.length) l.set(id, vals[p++]!);
  }
  for (const [id, v] of l) {
    if (v === 0) l.delete(id);
  }
  return l;
}

/** The same lookup as `l`, restricted to `c`, with `id` acknowledging `idx`. */
function overlay(c: MajorityConfig, l: AckedIndexer, id: number, idx: number): AckedIndexer {
  const ll = new MapAckIndexer();
  for (const iid of c) {
    if (iid === id) {
      ll.set(iid, idx);
    } else {
      const v = l.ackedIndex(iid);
      if (v !== undefined) ll.set(iid, v);
    }
  }
  return ll;
}

function committed(
  c: MajorityConfig,
  cj: MajorityConfig,
  joint: boolean,
  l: MapAckIndexer,
): string {
  let buf = "";
  if (!joint) {
    const idx = c.committedIndex(l);
    buf += c.describe(l);
    // Other ways to compute the same index must agree.
    const alt = alternativeMajorityCommittedIndex(c, l);
    if (alt !== idx) buf += `${indexToString(alt)} <-- via alternative computation\n`;
    const zeroJoint = new JointConfig(c, new MajorityConfig()).committedIndex(l);
    if (zeroJoint !== idx) buf += `${indexToString(zeroJoint)} <-- via zero-joint quorum\n`;
    const selfJoint = new JointConfig(c, c).committedIndex(l);
    if (selfJoint !== idx) buf += `${indexToString(selfJoint)} <-- via self-joint quorum\n`;
    // Lowering an index that is below the committed one must not change it.
    for (const id of c.slice()) {
      const iidx = l.ackedIndex(id) ?? 0;
      if (idx > iidx && iidx > 0) {
        const a = c.committedIndex(overlay(c, l, id, iidx - 1));
        if (a !== idx) buf += `${indexToString(a)} <-- overlaying ${id}->${iidx}`;
        const b = c.committedIndex(overlay(c, l, id, 0));
        if (b !== idx) buf += `${indexToString(b)} <-- overlaying ${id}->0`;
      }
    }
    buf += `${indexToString(idx)}\n`;
  } else {
    const cc = new JointConfig(c, cj);
    buf += cc.describe(l);
    const idx = cc.committedIndex(l);
    const sym = new JointConfig(cj, c).committedIndex(l);
    if (sym !== idx) buf += `${indexToString(sym)} <-- via symmetry\n`;
    buf += `${indexToString(idx)}\n`;
  }
  return buf;
}

function vote(c: MajorityConfig, cj: MajorityConfig, joint: boolean, ll: MapAckIndexer): string {
  const votes = new Map<number, boolean>();
  for (const [id, v] of ll) votes.set(id, v !== 1); // 1 is "n", 2 is "y"
  if (!joint) return `${voteResultToString(c.voteResult(votes))}\n`;
  let buf = "";
  const r = new JointConfig(c, cj).voteResult(votes);
  const ar = new JointConfig(cj, c).voteResult(votes);
  if (ar !== r) buf += `${voteResultToString(ar)} <-- via symmetry\n`;
  return buf + `${voteResultToString(r)}\n`;
}

/**
 * Creates a handler for one file of the quorum suite. The suite keeps no
 * state between cases.
 *
 * @returns The handler.
 */
export function newQuorumHandler(): Handler {
  return (d: TestData): string => {
    let joint = false;
    const ids: number[] = [];
    const idsj: number[] = [];
    const idxs: number[] = [];
    const votes: number[] = [];
    for (const arg of d.cmdArgs) {
      for (const v of arg.vals) {
        switch (arg.key) {
          case "cfg":
            ids.push(scanUint(d, v));
            break;
          case "cfgj":
            joint = true;
            if (v === "zero") {
              if (arg.vals.length !== 1) {
                throw new DataDrivenError(`${d.pos}: cannot mix 'zero' into configuration`);
              }
            } else {
              idsj.push(scanUint(d, v));
            }
            break;
          case "idx": {
            let n = 0;
            if (v !== "_") {
              n = scanUint(d, v);
              if (n === 0) throw new DataDrivenError(`${d.pos}: cannot use 0 as idx`);
            }
            idxs.push(n);
            break;
          }
          case "votes":
            if (v === "y") votes.push(2);
            else if (v === "n") votes.push(1);
            else if (v === "_") votes.push(0);
            else throw new DataDrivenError(`${d.pos}: unknown vote: ${v}`);
            break;
          default:
            throw new DataDrivenError(`${d.pos}: unknown arg ${arg.key}`);
        }
      }
    }

    const c = new MajorityConfig(ids);
    const cj = new MajorityConfig(idsj);

    const input = d.cmd === "vote" ? votes : idxs;
    const voters = new JointConfig(c, cj).ids();
    if (voters.size !== input.length) {
      return `error: mismatched input (explicit or _) for voters ${goSetString(voters)}: [${
        input.join(" ")
      }]`;
    }

    switch (d.cmd) {
      case "committed":
        return committed(c, cj, joint, makeLookuper(idxs, ids, idsj));
      case "vote":
        return vote(c, cj, joint, makeLookuper(votes, ids, idsj));
      default:
        throw new DataDrivenError(`${d.pos}: unknown command: ${d.cmd}`);
    }
  };
}
