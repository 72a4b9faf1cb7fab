/**
 * The sequential specification of a replicated key-value store, for
 * {@linkcode checkOperations}: `get`, `put`, `delete` and `cas`
 * (compare-and-set, where the expected value may be "absent"), checked one
 * key at a time.
 *
 * Values are strings; `null` stands for "absent" (a key never written, or
 * deleted). Outputs:
 * - `get` returns `{ value }` (`null` when absent);
 * - `put` and `delete` return `{ ok: true }` when acknowledged, or
 *   `{ ok: false }` when they certainly did not take effect (dropped, as they
 *   constrain nothing);
 * - `cas` returns `{ ok }`, whether it swapped.
 *
 * Indeterminate operations (no `return`) have no known output: a write
 * (`put`, `delete`, `cas`) may have taken effect at any moment after its call
 * or never; a read constrains nothing and is dropped.
 *
 * @example Check a compare-and-set race
 * ```ts
 * import { checkOperations, kvModel, type KvOperation } from "@raft-ts/raft/testing";
 *
 * const history: KvOperation[] = [
 *   { clientId: 1, call: 0, return: 10, input: { op: "cas", key: "x", expected: null, value: "a" }, output: { ok: true } },
 *   { clientId: 2, call: 2, return: 12, input: { op: "cas", key: "x", expected: null, value: "b" }, output: { ok: true } },
 * ];
 * if (checkOperations(kvModel, history).result !== "illegal") throw new Error("lost update");
 * ```
 *
 * @module
 */

import type { Model, Operation, Partition, StepResult } from "./linearizability.ts";

/** A value of one key; `null` means absent. */
export type KvValue = string | null;

/** The state of one key's partition: its value. */
export type KvState = KvValue;

/** A client request. */
export type KvInput =
  | { readonly op: "get"; readonly key: string }
  | { readonly op: "put"; readonly key: string; readonly value: string }
  | { readonly op: "delete"; readonly key: string }
  | {
    readonly op: "cas";
    readonly key: string;
    /** Swap only if the current value is this (`null`: only if absent). */
    readonly expected: KvValue;
    readonly value: string;
  };

/** What a client saw: `{ value }` for `get`, `{ ok }` for the others. */
export type KvOutput = { readonly value: KvValue } | { readonly ok: boolean };

/** One recorded key-value operation. */
export type KvOperation = Operation<KvInput, KvOutput>;

/**
 * The key-value model: one partition per key, sorted by key; the state of a
 * partition is the key's value.
 *
 * @example Use it directly
 * ```ts
 * import { kvModel } from "@raft-ts/raft/testing";
 * const r = kvModel.step(null, { op: "put", key: "x", value: "a" }, { ok: true });
 * if (!r.ok || r.state !== "a") throw new Error("unreachable");
 * ```
 */
export const kvModel: Model<KvState, KvInput, KvOutput> = {
  init(): KvState {
    return null;
  },

  step(state: KvState, input: KvInput, output: KvOutput | undefined): StepResult<KvState> {
    switch (input.op) {
      case "get":
        if (output === undefined) return { ok: true, state };
        return { ok: "value" in output && output.value === state, state };
      case "put":
        if (output !== undefined && "ok" in output && !output.ok) return { ok: true, state };
        return { ok: true, state: input.value };
      case "delete":
        if (output !== undefined && "ok" in output && !output.ok) return { ok: true, state };
        return { ok: true, state: null };
      case "cas": {
        const swaps = state === input.expected;
        if (output === undefined) return { ok: true, state: swaps ? input.value : state };
        const ok = "ok" in output && output.ok === swaps;
        return { ok, state: swaps ? input.value : state };
      }
    }
  },

  equal(a: KvState, b: KvState): boolean {
    return a === b;
  },

  hash(state: KvState): number {
    if (state === null) return 0x5bd1e995;
    // FNV-1a over UTF-16 code units.
    let h = 0x811c9dc5;
    for (let i = 0; i < state.length; i++) {
      h = Math.imul(h ^ state.charCodeAt(i), 0x01000193);
    }
    return h >>> 0;
  },

  isReadOnly(input: KvInput, output: KvOutput | undefined): boolean {
    if (input.op === "get") return true;
    return input.op === "cas" && output !== undefined && "ok" in output && !output.ok;
  },

  partition(history: readonly KvOperation[]): Partition<KvInput, KvOutput>[] {
    const byKey = new Map<string, KvOperation[]>();
    for (let i = 0; i < history.length; i++) {
      const op = history[i]!;
      validateKvOperation(op, i);
      if (isDroppable(op)) continue;
      const list = byKey.get(op.input.key);
      if (list === undefined) byKey.set(op.input.key, [op]);
      else list.push(op);
    }
    return [...byKey.keys()].sort().map((key) => ({ key, operations: byKey.get(key)! }));
  },

  describeOperation(input: KvInput, output: KvOutput | undefined): string {
    const k = JSON.stringify(input.key);
    let call: string;
    switch (input.op) {
      case "get":
        call = `get(${k})`;
        break;
      case "put":
        call = `put(${k}, ${describeValue(input.value)})`;
        break;
      case "delete":
        call = `delete(${k})`;
        break;
      case "cas":
        call = `cas(${k}, ${describeValue(input.expected)}, ${describeValue(input.value)})`;
        break;
    }
    if (output === undefined) return `${call} -> ?`;
    if ("value" in output) return `${call} -> ${describeValue(output.value)}`;
    if (input.op === "cas") return `${call} -> ${output.ok}`;
    return `${call} -> ${output.ok ? "ok" : "failed"}`;
  },

  describeState(state: KvState): string {
    return describeValue(state);
  },
};

function describeValue(v: KvValue): string {
  return v === null ? "absent" : JSON.stringify(v);
}

function isIndeterminate(op: KvOperation): boolean {
  return op.return === undefined || op.return === Infinity;
}

/** Operations that constrain nothing: timed-out reads, writes known to have failed. */
function isDroppable(op: KvOperation): boolean {
  if (isIndeterminate(op)) return op.input.op === "get";
  const out = op.output;
  if (op.input.op === "put" || op.input.op === "delete") {
    return out !== undefined && "ok" in out && !out.ok;
  }
  return false;
}

function validateKvOperation(op: KvOperation, i: number): void {
  const input = op.input as Partial<Record<string, unknown>> | undefined;
  const fail = (what: string): never => {
    throw new TypeError(`Cannot partition KV history as operation ${i} ${what}`);
  };
  if (typeof input !== "object" || input === null) return fail("has no input");
  if (typeof input.key !== "string") return fail("must have a string 'key'");
  const kind = input.op;
  if (kind === "put" || kind === "cas") {
    if (typeof input.value !== "string") return fail(`(${kind}) must have a string 'value'`);
  }
  if (kind === "cas" && typeof input.expected !== "string" && input.expected !== null) {
    return fail("(cas) must have a string or null 'expected'");
  }
  if (kind !== "get" && kind !== "put" && kind !== "delete" && kind !== "cas") {
    return fail(`has unknown op ${JSON.stringify(kind)}`);
  }
  if (isIndeterminate(op)) return;
  const out = op.output as Partial<Record<string, unknown>> | undefined;
  if (typeof out !== "object" || out === null) return fail("returned but has no output");
  if (kind === "get") {
    if (typeof out.value !== "string" && out.value !== null) {
      return fail("(get) must output a string or null 'value'");
    }
  } else if (typeof out.ok !== "boolean") {
    return fail(`(${kind}) must output a boolean 'ok'`);
  }
}
