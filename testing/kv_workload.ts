/**
 * The clients of the key-value store ({@linkcode KvStateMachine}) and the
 * whole setup the simulator runs it with: `get`, `put`, `delete` and `cas`
 * on a few keys, checked against {@linkcode kvModel} key by key. It is what
 * `deno task sim` runs, and a worked example of a workload and a model.
 *
 * @module
 */

import type { KvInput, KvOutput, KvState } from "./kv_model.ts";
import { kvModel } from "./kv_model.ts";
import { encodeKvCommand, type KvResult, KvStateMachine } from "./kv_state_machine.ts";
import type { SimSetup } from "./_sim_options.ts";
import type { SimRand, Workload, WorkloadRequest, WorkloadShape } from "./workload.ts";

/**
 * The key-value clients: each picks a key among `shape.keys`, reads with
 * the share `shape.readShare`, and otherwise writes: `put` (45%), `cas`
 * (40%; mostly expecting the value it last saw) or `delete`.
 *
 * @param shape The load the seed drew.
 * @returns The workload.
 *
 * @example Draw an operation
 * ```ts
 * import { kvWorkload } from "@raft-ts/raft/testing";
 *
 * const w = kvWorkload({ clients: 1, keys: 2, readShare: 0.5 });
 * const rand = {
 *   next: () => 0.9,
 *   int: (n: number) => n - 1,
 *   range: (lo: number) => lo,
 *   uniform: (lo: number) => lo,
 *   chance: () => true,
 *   pick: <T>(items: readonly T[]) => items[0]!,
 * };
 * const op = w.next(rand, 1);
 * if (op.key !== "k1") throw new Error("unreachable");
 * ```
 */
export function kvWorkload(
  shape: WorkloadShape,
): Workload<KvStateMachine, KvResult, KvInput, KvOutput> {
  /** Per client: the values it last saw, and how many values it wrote. */
  const seen = new Map<number, Map<string, string | null>>();
  const seqs = new Map<number, number>();
  const seenBy = (client: number): Map<string, string | null> => {
    let m = seen.get(client);
    if (m === undefined) seen.set(client, m = new Map());
    return m;
  };
  return {
    next(rand: SimRand, client: number): KvInput {
      const key = `k${rand.int(shape.keys)}`;
      const r = rand.next();
      const reads = shape.readShare;
      let seq = seqs.get(client) ?? 0;
      let input: KvInput;
      if (r < reads) {
        input = { op: "get", key };
      } else if (r < reads + (1 - reads) * 0.45) {
        input = { op: "put", key, value: `${client}.${++seq}` };
      } else if (r < reads + (1 - reads) * 0.85) {
        const expected = rand.chance(0.7) ? (seenBy(client).get(key) ?? null) : `${client}.${seq}`;
        input = { op: "cas", key, expected, value: `${client}.${++seq}` };
      } else {
        input = { op: "delete", key };
      }
      seqs.set(client, seq);
      return input;
    },

    request(input: KvInput): WorkloadRequest<KvStateMachine, KvResult, KvOutput> {
      if (input.op === "get") {
        const key = input.key;
        return { read: (sm) => ({ value: sm.get(key) }) };
      }
      return { propose: encodeKvCommand(input), output: (r) => ({ ok: r.ok }) };
    },

    done(client: number, input: KvInput, output: KvOutput): void {
      const m = seenBy(client);
      if ("value" in output) m.set(input.key, output.value);
      else if (output.ok && (input.op === "put" || input.op === "cas")) {
        m.set(input.key, input.value);
      } else if (output.ok && input.op === "delete") m.set(input.key, null);
    },

    probe(attempt: number): KvInput {
      return { op: "put", key: "live", value: `probe${attempt}` };
    },
  };
}

/**
 * The key-value store as the simulator runs it: {@linkcode KvStateMachine},
 * {@linkcode kvWorkload} and {@linkcode kvModel}.
 *
 * @example Run one seed
 * ```ts
 * import { kvSimulation, runSimulation } from "@raft-ts/raft/testing";
 *
 * const r = await runSimulation({ ...kvSimulation, seed: 1, steps: 500 });
 * if (!r.ok) throw new Error(`seed 1 failed: ${r.violation?.message}`);
 * ```
 */
export const kvSimulation: SimSetup<KvStateMachine, KvResult, KvInput, KvOutput, KvState> = {
  stateMachine: (): KvStateMachine => new KvStateMachine(),
  workload: kvWorkload,
  model: kvModel,
};
