/**
 * Tests of the linearizability checker and the key-value model: hand-made
 * histories (legal and not), explanations, budgets, a brute-force oracle on
 * small random histories, and histories generated from real sequential
 * executions (seeded), then corrupted.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Bitset } from "../../testing/_bitset.ts";
import {
  assertLinearizable,
  checkOperations,
  formatExplanation,
  LinearizabilityError,
  type Model,
  type Operation,
} from "../../testing/linearizability.ts";
import {
  type KvInput,
  kvModel,
  type KvOperation,
  type KvOutput,
  type KvValue,
} from "../../testing/kv_model.ts";

// ---------------------------------------------------------------------------
// History builders. `ret` undefined means indeterminate.

function get(
  clientId: number,
  call: number,
  ret: number | undefined,
  key: string,
  value: KvValue | undefined,
): KvOperation {
  return {
    clientId,
    call,
    return: ret,
    input: { op: "get", key },
    output: value === undefined ? undefined : { value },
  };
}

function put(
  clientId: number,
  call: number,
  ret: number | undefined,
  key: string,
  value: string,
): KvOperation {
  return {
    clientId,
    call,
    return: ret,
    input: { op: "put", key, value },
    output: ret === undefined ? undefined : { ok: true },
  };
}

function del(clientId: number, call: number, ret: number | undefined, key: string): KvOperation {
  return {
    clientId,
    call,
    return: ret,
    input: { op: "delete", key },
    output: ret === undefined ? undefined : { ok: true },
  };
}

function cas(
  clientId: number,
  call: number,
  ret: number | undefined,
  key: string,
  expected: KvValue,
  value: string,
  ok: boolean | undefined,
): KvOperation {
  return {
    clientId,
    call,
    return: ret,
    input: { op: "cas", key, expected, value },
    output: ok === undefined ? undefined : { ok },
  };
}

// ---------------------------------------------------------------------------
// A seeded PRNG (mulberry32), so randomized tests are reproducible.

class Prng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** A uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.u32() / 0x100000000) * n);
  }
  /** True with probability p. */
  chance(p: number): boolean {
    return this.u32() / 0x100000000 < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
}

// ---------------------------------------------------------------------------
// Generator: a real sequential execution, then random intervals around each
// operation's linearization point.

interface GenOptions {
  ops: number;
  clients: number;
  keys: number;
  /** Probability that an operation times out (indeterminate). */
  timeoutRate: number;
}

function generateHistory(rng: Prng, o: GenOptions): KvOperation[] {
  const keys = Array.from({ length: o.keys }, (_, k) => `k${k}`);
  const written = new Map<string, string[]>();
  const free = new Array<number>(o.clients).fill(0);
  let valueCounter = 0;
  interface Pending {
    clientId: number;
    call: number;
    ret: number | undefined;
    input: KvInput;
    /** Linearization point; undefined when the operation never took effect. */
    at: number | undefined;
    seq: number;
  }
  const pending: Pending[] = [];
  for (let seq = 0; seq < o.ops; seq++) {
    const clientId = rng.int(o.clients);
    const key = rng.pick(keys);
    const kind = rng.int(10);
    let input: KvInput;
    if (kind < 4) {
      input = { op: "get", key };
    } else if (kind < 7) {
      const value = `v${valueCounter++}`;
      written.set(key, [...(written.get(key) ?? []), value]);
      input = { op: "put", key, value };
    } else if (kind < 8) {
      input = { op: "delete", key };
    } else {
      const old = written.get(key) ?? [];
      const expected = old.length === 0 || rng.chance(0.2) ? null : old[
        old.length - 1 - rng.int(
          Math.min(old.length, 3),
        )
      ]!;
      const value = `v${valueCounter++}`;
      written.set(key, [...old, value]);
      input = { op: "cas", key, expected, value };
    }
    const call = free[clientId]! + rng.int(6);
    if (rng.chance(o.timeoutRate)) {
      // Times out: the client gives up at call + 30; the operation takes
      // effect later (maybe after the client moved on) or never.
      const at = rng.chance(0.5) ? call + rng.int(80) + 0.5 : undefined;
      pending.push({ clientId, call, ret: undefined, input, at, seq });
      free[clientId] = call + 30;
    } else {
      const at = call + rng.int(20) + 0.5;
      const ret = Math.ceil(at) + rng.int(20);
      pending.push({ clientId, call, ret, input, at, seq });
      free[clientId] = ret;
    }
  }
  // Execute in linearization order.
  const outputs = new Map<number, KvOutput>();
  const state = new Map<string, string>();
  const applied = pending.filter((p) => p.at !== undefined).sort((a, b) =>
    a.at! - b.at! || a.seq - b.seq
  );
  for (const p of applied) {
    const cur = state.get(p.input.key) ?? null;
    switch (p.input.op) {
      case "get":
        outputs.set(p.seq, { value: cur });
        break;
      case "put":
        state.set(p.input.key, p.input.value);
        outputs.set(p.seq, { ok: true });
        break;
      case "delete":
        state.delete(p.input.key);
        outputs.set(p.seq, { ok: true });
        break;
      case "cas": {
        const swaps = cur === p.input.expected;
        if (swaps) state.set(p.input.key, p.input.value);
        outputs.set(p.seq, { ok: swaps });
        break;
      }
    }
  }
  return pending.map((p): KvOperation => ({
    clientId: p.clientId,
    call: p.call,
    return: p.ret,
    input: p.input,
    // A timed-out read records garbage: the checker must ignore it.
    output: p.ret === undefined
      ? (p.input.op === "get" ? { value: "garbage" } : undefined)
      : outputs.get(p.seq),
  }));
}

/** Replaces one determinate read's output with a value never written. */
function corruptOneRead(rng: Prng, history: KvOperation[]): number | undefined {
  const reads = history.flatMap((op, i) =>
    op.input.op === "get" && op.return !== undefined ? [i] : []
  );
  if (reads.length === 0) return undefined;
  const i = rng.pick(reads);
  history[i] = { ...history[i]!, output: { value: "never-written" } };
  return i;
}

// ---------------------------------------------------------------------------
// Brute force: try every order of the operations consistent with real time.

function bruteForceLinearizable(history: readonly KvOperation[]): boolean {
  for (const part of kvModel.partition!(history)) {
    const ops = part.operations;
    const n = ops.length;
    const ret = (op: Operation<KvInput, KvOutput>): number => op.return ?? Infinity;
    const chosen = new Array<boolean>(n).fill(false);
    const search = (state: KvValue, count: number): boolean => {
      if (ops.every((op, i) => chosen[i] || ret(op) === Infinity)) return true;
      for (let i = 0; i < n; i++) {
        if (chosen[i]) continue;
        const op = ops[i]!;
        // Every operation that returned before op was called goes first.
        if (ops.some((p, j) => !chosen[j] && ret(p) < op.call)) continue;
        const out = ret(op) === Infinity ? undefined : op.output;
        const r = kvModel.step(state, op.input, out);
        if (!r.ok) continue;
        chosen[i] = true;
        const found = search(r.state, count + 1);
        chosen[i] = false;
        if (found) return true;
      }
      return false;
    };
    if (!search(null, 0)) return false;
  }
  return true;
}

function randomSmallHistory(rng: Prng): KvOperation[] {
  const n = 1 + rng.int(8);
  const timeoutRate = rng.pick([0, 0.15, 0.4]);
  const keys = rng.chance(0.5) ? ["a"] : ["a", "b"];
  const values = ["1", "2", "3"];
  const history: KvOperation[] = [];
  for (let i = 0; i < n; i++) {
    const call = rng.int(20);
    const ret = rng.chance(timeoutRate) ? undefined : call + rng.int(10);
    const key = rng.pick(keys);
    const c = rng.int(4);
    switch (rng.int(4)) {
      case 0:
        history.push(get(c, call, ret, key, rng.pick([null, ...values])));
        break;
      case 1:
        history.push(put(c, call, ret, key, rng.pick(values)));
        break;
      case 2:
        history.push(del(c, call, ret, key));
        break;
      default:
        history.push(
          cas(c, call, ret, key, rng.pick([null, ...values]), rng.pick(values), rng.chance(0.5)),
        );
    }
  }
  return history;
}

// ---------------------------------------------------------------------------

function result(history: readonly KvOperation[]): string {
  return checkOperations(kvModel, history).result;
}

describe("checkOperations() with kvModel", () => {
  const legal: { name: string; history: KvOperation[] }[] = [
    { name: "empty history", history: [] },
    {
      name: "sequential put, get, delete, get",
      history: [
        put(1, 0, 10, "x", "a"),
        get(1, 20, 30, "x", "a"),
        del(2, 40, 50, "x"),
        get(1, 60, 70, "x", null),
      ],
    },
    {
      name: "read overlapping a write sees the old value",
      history: [put(1, 0, 10, "x", "a"), put(1, 20, 40, "x", "b"), get(2, 25, 35, "x", "a")],
    },
    {
      name: "read overlapping a write sees the new value",
      history: [put(1, 0, 10, "x", "a"), put(1, 20, 40, "x", "b"), get(2, 25, 35, "x", "b")],
    },
    {
      name: "reads ordered by the writes they overlap",
      history: [
        put(1, 0, 100, "x", "a"),
        put(2, 0, 100, "x", "b"),
        get(3, 10, 20, "x", "b"),
        get(3, 30, 40, "x", "a"),
      ],
    },
    {
      name: "intervals that touch overlap (closed intervals)",
      history: [put(1, 0, 10, "x", "a"), get(2, 10, 20, "x", null)],
    },
    {
      name: "cas chain from absent",
      history: [
        cas(1, 0, 10, "x", null, "1", true),
        cas(2, 20, 30, "x", "1", "2", true),
        cas(1, 40, 50, "x", "1", "3", false),
        cas(2, 60, 70, "x", "2", "3", true),
        get(1, 80, 90, "x", "3"),
      ],
    },
    {
      name: "two concurrent cas from the same value: one wins",
      history: [
        put(1, 0, 5, "x", "0"),
        cas(1, 10, 20, "x", "0", "1", true),
        cas(2, 12, 22, "x", "0", "2", false),
        get(3, 30, 40, "x", "1"),
      ],
    },
    {
      name: "indeterminate write that took effect",
      history: [put(1, 0, 10, "x", "a"), put(2, 20, undefined, "x", "b"), get(3, 30, 40, "x", "b")],
    },
    {
      name: "indeterminate write that never took effect",
      history: [put(1, 0, 10, "x", "a"), put(2, 20, undefined, "x", "b"), get(3, 30, 40, "x", "a")],
    },
    {
      name: "indeterminate write taking effect long after its client gave up",
      history: [
        put(2, 0, undefined, "x", "late"),
        get(1, 10, 20, "x", null),
        get(1, 100, 110, "x", null),
        get(1, 200, 210, "x", "late"),
      ],
    },
    {
      name: "indeterminate cas that swapped",
      history: [
        put(1, 0, 10, "x", "a"),
        cas(2, 20, undefined, "x", "a", "b", undefined),
        get(1, 30, 40, "x", "b"),
      ],
    },
    {
      name: "indeterminate read with a bogus recorded output",
      history: [put(1, 0, 10, "x", "a"), get(2, 20, undefined, "x", "bogus")],
    },
    {
      name: "write known to have failed",
      history: [
        put(1, 0, 10, "x", "a"),
        { ...put(2, 20, 30, "x", "b"), output: { ok: false } },
        get(1, 40, 50, "x", "a"),
      ],
    },
  ];
  for (const c of legal) {
    test(`checkOperations() accepts: ${c.name}`, () => {
      const report = checkOperations(kvModel, c.history);
      assert.equal(report.result, "ok");
      assert.equal(report.explanation, undefined);
      for (const p of report.partitions) assert.equal(p.result, "ok");
    });
  }

  const illegal: { name: string; history: KvOperation[]; culprit: number }[] = [
    {
      name: "stale read after a write completed",
      history: [put(1, 0, 10, "x", "a"), put(1, 20, 30, "x", "b"), get(1, 40, 50, "x", "a")],
      culprit: 2,
    },
    {
      name: "stale read after leader change",
      // Client 1's write is acked by the new leader; client 2 then reads from
      // the deposed leader, which still serves the old value.
      history: [
        put(1, 0, 10, "x", "old"),
        get(2, 12, 14, "x", "old"),
        put(1, 20, 30, "x", "new"),
        get(3, 25, 28, "x", "old"),
        get(2, 35, 45, "x", "old"),
      ],
      culprit: 4,
    },
    {
      name: "lost update: two cas from the same expected value both succeed",
      history: [
        put(1, 0, 5, "x", "0"),
        cas(1, 10, 20, "x", "0", "1", true),
        cas(2, 12, 22, "x", "0", "2", true),
      ],
      culprit: 2,
    },
    {
      name: "read of a value never written",
      history: [put(1, 0, 10, "x", "a"), get(2, 5, 15, "x", "zzz")],
      culprit: 1,
    },
    {
      name: "delete then read returns the old value",
      history: [put(1, 0, 10, "x", "a"), del(1, 20, 30, "x"), get(2, 40, 50, "x", "a")],
      culprit: 2,
    },
    {
      name: "read of the initial value after a write returned",
      history: [put(1, 0, 10, "x", "a"), get(2, 11, 20, "x", null)],
      culprit: 1,
    },
    {
      name: "indeterminate write observed, then unobserved",
      history: [
        put(1, 0, 10, "x", "a"),
        put(2, 20, undefined, "x", "b"),
        get(3, 30, 40, "x", "b"),
        get(3, 50, 60, "x", "a"),
      ],
      culprit: 3,
    },
    {
      name: "cas reports failure although the value matched",
      history: [put(1, 0, 10, "x", "a"), cas(2, 20, 30, "x", "a", "b", false)],
      culprit: 1,
    },
  ];
  for (const c of illegal) {
    test(`checkOperations() rejects: ${c.name}`, () => {
      const report = checkOperations(kvModel, c.history);
      assert.equal(report.result, "illegal");
      const e = report.explanation;
      assert.ok(e !== undefined);
      assert.equal(e.key, "x");
      const blocking = e.stuck.find((s) => s.blocking);
      assert.equal(blocking?.index, c.culprit);
      assert.equal(blocking.legalAfterPrefix, false);
      assert.equal(e.stuck[0], blocking);
      assert.ok(!e.prefix.some((p) => p.index === c.culprit));
    });
  }

  test("checkOperations() explains a stale read with the operations involved", () => {
    const history = [put(1, 0, 10, "x", "a"), put(4, 20, 30, "x", "b"), get(7, 40, 50, "x", "a")];
    const report = checkOperations(kvModel, history);
    const e = report.explanation;
    assert.ok(e !== undefined);
    assert.deepEqual(e.prefix.map((p) => p.index), [0, 1]);
    assert.equal(e.state, '"b"');
    assert.deepEqual(e.stuck.map((s) => s.index), [2]);
    assert.deepEqual(e.prefix[1], {
      index: 1,
      clientId: 4,
      call: 20,
      return: 30,
      description: 'put("x", "b") -> ok',
    });
    assert.equal(
      formatExplanation(e),
      [
        'partition "x" (3 operations) is not linearizable',
        'longest linearizable prefix: 2 of 3 operations, leaving state "b"',
        '  #0 client 1 [0, 10] put("x", "a") -> ok',
        '  #1 client 4 [20, 30] put("x", "b") -> ok',
        "then no pending operation can take effect:",
        '  #2 client 7 [40, 50] get("x") -> "a"  <- returned at 50 without taking effect; ' +
        "illegal in this state",
      ].join("\n"),
    );
  });

  test("checkOperations() explains a lost update with the winning cas in the prefix", () => {
    const history = [
      put(1, 0, 5, "x", "0"),
      cas(1, 10, 20, "x", "0", "1", true),
      cas(2, 12, 22, "x", "0", "2", true),
      put(3, 15, undefined, "x", "9"),
    ];
    const e = checkOperations(kvModel, history).explanation;
    assert.ok(e !== undefined);
    assert.deepEqual(e.prefix.map((p) => p.index), [0, 1]);
    const text = formatExplanation(e);
    assert.match(text, /#1 client 1 \[10, 20\] cas\("x", "0", "1"\) -> true/);
    assert.match(text, /#2 client 2 \[12, 22\] cas\("x", "0", "2"\) -> true {2}<- returned at 22/);
    // The indeterminate put was pending too; applying it leads nowhere.
    assert.match(text, /#3 client 3 \[15, ∞\] put\("x", "9"\) -> \? {2}<- legal here/);
  });

  test("formatExplanation() elides the start of a long prefix", () => {
    const history: KvOperation[] = [];
    for (let i = 0; i < 30; i++) history.push(put(1, 10 * i, 10 * i + 5, "x", `v${i}`));
    history.push(get(2, 1000, 1010, "x", "v3"));
    const e = checkOperations(kvModel, history).explanation;
    assert.ok(e !== undefined);
    assert.equal(e.prefix.length, 30);
    const lines = formatExplanation(e, { prefixOperationsMax: 3 }).split("\n");
    assert.equal(lines[2], "  ... 27 earlier operations");
    assert.match(lines[3]!, /^ {2}#27 /);
    assert.match(lines[5]!, /^ {2}#29 /);
  });

  test("checkOperations() partitions by key and reports only the illegal key", () => {
    const history = [
      put(1, 0, 10, "x", "a"),
      put(2, 0, 10, "y", "a"),
      put(3, 0, 10, "z", "a"),
      get(1, 20, 30, "x", "a"),
      get(2, 20, 30, "y", null),
      get(3, 20, 30, "z", "a"),
    ];
    const report = checkOperations(kvModel, history);
    assert.equal(report.result, "illegal");
    assert.deepEqual(
      report.partitions.map((p) => [p.key, p.result, p.operations]),
      [["x", "ok", 2], ["y", "illegal", 2], ["z", "ok", 2]],
    );
    assert.equal(report.explanation?.key, "y");
    assert.equal(report.explanation?.stuck[0]?.index, 4);
    // Without partitioning by key, reads of "x" would see "y"'s writes.
    assert.equal(result([put(1, 0, 10, "x", "a"), get(2, 20, 30, "y", "a")]), "illegal");
  });

  test("checkOperations() drops timed-out reads and known-failed writes", () => {
    const history: KvOperation[] = [
      get(1, 0, undefined, "x", "whatever"),
      { clientId: 2, call: 0, return: 5, input: { op: "delete", key: "x" }, output: { ok: false } },
      put(3, 0, 5, "x", "a"),
    ];
    const report = checkOperations(kvModel, history);
    assert.equal(report.result, "ok");
    assert.equal(report.partitions[0]?.operations, 1);
  });

  test("checkOperations() returns unknown when the step budget runs out", () => {
    // Many concurrent distinct writes, then an impossible read: deciding
    // needs every subset of the writes.
    const history: KvOperation[] = [];
    for (let i = 0; i < 16; i++) history.push(put(i, 0, 100, "x", `v${i}`));
    history.push(get(99, 200, 210, "x", "never"));
    const report = checkOperations(kvModel, history, { stepsMax: 10_000 });
    assert.equal(report.result, "unknown");
    assert.ok(report.steps >= 10_000 && report.steps < 10_100, `steps ${report.steps}`);
    assert.equal(report.explanation, undefined);
    // A smaller instance of the same shape is decided within the default.
    const small = [...history.slice(0, 8), history[16]!];
    const decided = checkOperations(kvModel, small);
    assert.equal(decided.result, "illegal");
    assert.ok(decided.steps > 8 * 2 ** 7, `steps ${decided.steps}`);
  });

  test("checkOperations() returns unknown when the time budget runs out", () => {
    const history: KvOperation[] = [];
    for (let i = 0; i < 16; i++) history.push(put(i, 0, 100, "x", `v${i}`));
    history.push(get(99, 200, 210, "x", "never"));
    history.push(put(1, 0, 10, "y", "a"));
    let clock = 0;
    const report = checkOperations(kvModel, history, { timeoutMs: 50, now: () => clock++ });
    assert.equal(report.result, "unknown");
    assert.deepEqual(report.partitions.map((p) => [p.key, p.result]), [
      ["x", "unknown"],
      ["y", "unknown"],
    ]);
    assert.ok(report.steps < 100_000, `steps ${report.steps}`);
  });

  test("checkOperations() prefers illegal over unknown across partitions", () => {
    const history: KvOperation[] = [];
    for (let i = 0; i < 16; i++) history.push(put(i, 0, 100, "x", `v${i}`));
    history.push(get(99, 200, 210, "x", "never"));
    history.push(get(1, 0, 10, "y", "ghost"));
    const report = checkOperations(kvModel, history, { stepsMax: 5_000 });
    assert.equal(report.result, "illegal");
    assert.deepEqual(report.partitions.map((p) => p.result), ["unknown", "illegal"]);
    assert.equal(report.explanation?.key, "y");
  });

  test("checkOperations() keeps working when the cache budget is exhausted", () => {
    const history: KvOperation[] = [];
    for (let i = 0; i < 6; i++) history.push(put(i, 0, 100, "x", `v${i}`));
    history.push(get(99, 200, 210, "x", "never"));
    const cached = checkOperations(kvModel, history);
    const uncached = checkOperations(kvModel, history, { cacheBytesMax: 0 });
    assert.equal(cached.result, "illegal");
    assert.equal(uncached.result, "illegal");
    // Without the cache, equal states reached by different orders are
    // searched again.
    assert.ok(uncached.steps > cached.steps, `${uncached.steps} <= ${cached.steps}`);
  });

  test("checkOperations() refutes quickly despite many unobserved timed-out writes", () => {
    // 20 timed-out writes that may each have happened or not: an exact
    // search alone would try every subset of them before giving up.
    const history: KvOperation[] = [put(1, 0, 5, "x", "a")];
    for (let i = 0; i < 20; i++) history.push(put(10 + i, 1, undefined, "x", `t${i}`));
    for (let i = 0; i < 10; i++) history.push(put(2, 10 + 10 * i, 15 + 10 * i, "x", `w${i}`));
    history.push(get(3, 200, 210, "x", "never"));
    const report = checkOperations(kvModel, history);
    assert.equal(report.result, "illegal");
    assert.ok(report.steps < 200_000, `steps ${report.steps}`);
    assert.equal(report.explanation?.stuck[0]?.index, 31);
    // Seeing one of them is fine, even late.
    history[31] = get(3, 200, 210, "x", "t7");
    assert.equal(checkOperations(kvModel, history).result, "ok");
  });

  test("checkOperations() does not let a timed-out write take effect twice", () => {
    const history = [
      put(1, 0, 10, "x", "a"),
      put(2, 5, undefined, "x", "w"),
      get(3, 20, 30, "x", "w"),
      put(1, 40, 50, "x", "b"),
      get(3, 60, 70, "x", "w"),
    ];
    const report = checkOperations(kvModel, history);
    assert.equal(report.result, "illegal");
    assert.equal(report.explanation?.stuck[0]?.index, 4);
    assert.deepEqual(report.explanation?.prefix.map((p) => p.index), [0, 1, 2, 3]);
  });

  test("checkOperations() stays correct without cache memory", () => {
    const legalHistory = [
      put(1, 0, 10, "x", "a"),
      put(2, 5, undefined, "x", "w"),
      cas(3, 20, 30, "x", "w", "v", true),
      get(1, 40, 50, "x", "v"),
    ];
    const illegalHistory = [...legalHistory, get(1, 60, 70, "x", "w")];
    for (const cacheBytesMax of [0, 64]) {
      assert.equal(checkOperations(kvModel, legalHistory, { cacheBytesMax }).result, "ok");
      assert.equal(checkOperations(kvModel, illegalHistory, { cacheBytesMax }).result, "illegal");
    }
  });

  test("checkOperations() rejects malformed histories", () => {
    assert.throws(
      () => checkOperations(kvModel, [put(1, 10, 5, "x", "a")]),
      (e) =>
        e instanceof RangeError && /operation 0 must return at or after its call/.test(e.message),
    );
    assert.throws(
      () => checkOperations(kvModel, [put(1, NaN, 5, "x", "a")]),
      RangeError,
    );
    assert.throws(
      () => checkOperations(kvModel, [{ ...get(1, 0, 5, "x", null), output: { ok: true } }]),
      (e) => e instanceof TypeError && /operation 0 \(get\) must output/.test(e.message),
    );
    assert.throws(
      () => checkOperations(kvModel, [], { stepsMax: -1 }),
      RangeError,
    );
  });
});

describe("kvModel", () => {
  const cases: {
    name: string;
    state: KvValue;
    input: KvInput;
    output: KvOutput | undefined;
    ok: boolean;
    after: KvValue;
  }[] = [
    {
      name: "get sees the value",
      state: "a",
      input: { op: "get", key: "k" },
      output: { value: "a" },
      ok: true,
      after: "a",
    },
    {
      name: "get of another value",
      state: "a",
      input: { op: "get", key: "k" },
      output: { value: "b" },
      ok: false,
      after: "a",
    },
    {
      name: "get of absent",
      state: null,
      input: { op: "get", key: "k" },
      output: { value: null },
      ok: true,
      after: null,
    },
    {
      name: "put",
      state: null,
      input: { op: "put", key: "k", value: "v" },
      output: { ok: true },
      ok: true,
      after: "v",
    },
    {
      name: "delete",
      state: "a",
      input: { op: "delete", key: "k" },
      output: { ok: true },
      ok: true,
      after: null,
    },
    {
      name: "cas that swaps",
      state: "a",
      input: { op: "cas", key: "k", expected: "a", value: "b" },
      output: { ok: true },
      ok: true,
      after: "b",
    },
    {
      name: "cas claiming a swap on mismatch",
      state: "c",
      input: { op: "cas", key: "k", expected: "a", value: "b" },
      output: { ok: true },
      ok: false,
      after: "b",
    },
    {
      name: "cas that fails",
      state: "c",
      input: { op: "cas", key: "k", expected: "a", value: "b" },
      output: { ok: false },
      ok: true,
      after: "c",
    },
    {
      name: "cas from absent",
      state: null,
      input: { op: "cas", key: "k", expected: null, value: "b" },
      output: { ok: true },
      ok: true,
      after: "b",
    },
    {
      name: "indeterminate cas on match",
      state: "a",
      input: { op: "cas", key: "k", expected: "a", value: "b" },
      output: undefined,
      ok: true,
      after: "b",
    },
    {
      name: "indeterminate cas on mismatch",
      state: "c",
      input: { op: "cas", key: "k", expected: "a", value: "b" },
      output: undefined,
      ok: true,
      after: "c",
    },
  ];
  for (const c of cases) {
    test(`kvModel.step(): ${c.name}`, () => {
      const r = kvModel.step(c.state, c.input, c.output);
      assert.equal(r.ok, c.ok);
      if (r.ok) assert.equal(r.state, c.after);
    });
  }

  test("kvModel.isReadOnly() holds for reads and failed cas only", () => {
    const ro = kvModel.isReadOnly!;
    assert.equal(ro({ op: "get", key: "k" }, { value: null }), true);
    assert.equal(ro({ op: "cas", key: "k", expected: "a", value: "b" }, { ok: false }), true);
    assert.equal(ro({ op: "cas", key: "k", expected: "a", value: "b" }, { ok: true }), false);
    assert.equal(ro({ op: "cas", key: "k", expected: "a", value: "b" }, undefined), false);
    assert.equal(ro({ op: "put", key: "k", value: "b" }, { ok: true }), false);
    assert.equal(ro({ op: "delete", key: "k" }, { ok: true }), false);
  });

  test("kvModel.describeOperation() quotes keys and values", () => {
    const d = kvModel.describeOperation;
    assert.equal(d({ op: "get", key: "k" }, { value: null }), 'get("k") -> absent');
    assert.equal(d({ op: "put", key: "k", value: "v" }, undefined), 'put("k", "v") -> ?');
    assert.equal(
      d({ op: "cas", key: "k", expected: null, value: "v" }, { ok: false }),
      'cas("k", absent, "v") -> false',
    );
    assert.equal(d({ op: "delete", key: "k" }, { ok: true }), 'delete("k") -> ok');
  });
});

describe("checkOperations() with a custom model", () => {
  // A single register of numbers with "write" and "read", no partitioning.
  type RegInput = { kind: "write"; v: number } | { kind: "read" };
  const register: Model<number, RegInput, number> = {
    init: () => 0,
    step: (s, input, out) =>
      input.kind === "write"
        ? { ok: true, state: input.v }
        : { ok: out === undefined || out === s, state: s },
    equal: (a, b) => a === b,
    hash: (s) => s,
    describeOperation: (input, out) =>
      input.kind === "write" ? `write(${input.v})` : `read() -> ${out ?? "?"}`,
  };
  const op = (
    clientId: number,
    call: number,
    ret: number,
    input: RegInput,
    output?: number,
  ): Operation<RegInput, number> => ({ clientId, call, return: ret, input, output });

  test("checkOperations() treats a model without partition() as one partition", () => {
    const ok = [op(1, 0, 10, { kind: "write", v: 1 }), op(2, 5, 15, { kind: "read" }, 0)];
    assert.equal(checkOperations(register, ok).result, "ok");
    const bad = [op(1, 0, 10, { kind: "write", v: 1 }), op(2, 11, 15, { kind: "read" }, 0)];
    const report = checkOperations(register, bad);
    assert.equal(report.result, "illegal");
    assert.equal(report.partitions[0]?.key, "");
    assert.equal(report.explanation?.state, "1");
    assert.match(formatExplanation(report.explanation!), /^history \(2 operations\)/);
  });

  test("checkOperations() throws when partition() invents operations", () => {
    const copying: Model<number, RegInput, number> = {
      ...register,
      partition: (h) => [{ key: "all", operations: h.map((o) => ({ ...o })) }],
    };
    assert.throws(
      () => checkOperations(copying, [op(1, 0, 1, { kind: "read" }, 0)]),
      (e) => e instanceof TypeError && /is not in the history/.test(e.message),
    );
  });
});

describe("assertLinearizable()", () => {
  test("assertLinearizable() returns the report for a linearizable history", () => {
    const report = assertLinearizable(kvModel, [put(1, 0, 1, "x", "a"), get(1, 2, 3, "x", "a")]);
    assert.equal(report.result, "ok");
  });

  test("assertLinearizable() throws with the explanation as message", () => {
    const history = [put(1, 0, 10, "x", "a"), get(2, 20, 30, "x", null)];
    assert.throws(
      () => assertLinearizable(kvModel, history),
      (e) =>
        e instanceof LinearizabilityError && e.code === "illegal" &&
        e.message.includes('#1 client 2 [20, 30] get("x") -> absent') &&
        e.report.result === "illegal",
    );
  });

  test("assertLinearizable() throws code unknown when the budget runs out", () => {
    const history = [put(1, 0, 10, "x", "a"), get(2, 20, 30, "x", "a")];
    assert.throws(
      () => assertLinearizable(kvModel, history, { stepsMax: 1 }),
      (e) => e instanceof LinearizabilityError && e.code === "unknown",
    );
  });
});

describe("checkOperations() on randomized histories", () => {
  test("checkOperations() agrees with brute force on small random histories", () => {
    const rng = new Prng(0x5eed);
    let legal = 0;
    let illegal = 0;
    for (let round = 0; round < 4000; round++) {
      const history = randomSmallHistory(rng);
      const expected = bruteForceLinearizable(history);
      const report = checkOperations(kvModel, history);
      assert.equal(
        report.result,
        expected ? "ok" : "illegal",
        `round ${round}: ${JSON.stringify(history)}`,
      );
      if (expected) legal++;
      else illegal++;
    }
    // The generator must exercise both answers.
    assert.ok(legal > 400, `legal ${legal}`);
    assert.ok(illegal > 400, `illegal ${illegal}`);
  });

  test("checkOperations() accepts executions and rejects a read of a never-written value", () => {
    let corrupted = 0;
    let blockedOnCorrupted = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const rng = new Prng(seed);
      const history = generateHistory(rng, {
        ops: 50 + rng.int(250),
        clients: 1 + rng.int(8),
        keys: 1 + rng.int(4),
        timeoutRate: rng.pick([0, 0.05, 0.2]),
      });
      const report = checkOperations(kvModel, history);
      assert.equal(report.result, "ok", `seed ${seed}`);

      const i = corruptOneRead(rng, history);
      if (i === undefined) continue;
      corrupted++;
      const bad = checkOperations(kvModel, history);
      assert.equal(bad.result, "illegal", `seed ${seed}`);
      const key = history[i]!.input.key;
      for (const p of bad.partitions) {
        assert.equal(p.result, p.key === key ? "illegal" : "ok", `seed ${seed} key ${p.key}`);
      }
      const e = bad.explanation!;
      assert.equal(e.key, key);
      assert.ok(!e.prefix.some((p) => p.index === i), `seed ${seed}`);
      assert.ok(e.stuck.length > 0);
      if (e.stuck[0]!.index === i) blockedOnCorrupted++;
      assert.ok(formatExplanation(e).includes(`#${e.stuck[0]!.index} `));
    }
    assert.ok(corrupted > 150, `corrupted ${corrupted}`);
    // Usually the explanation names the corrupted read itself.
    assert.ok(blockedOnCorrupted > corrupted * 0.9, `${blockedOnCorrupted} of ${corrupted}`);
  });

  test("checkOperations() checks 10k operations over 4 keys in linear-ish steps", () => {
    const rng = new Prng(42);
    const history = generateHistory(rng, { ops: 10_000, clients: 8, keys: 4, timeoutRate: 0.02 });
    const report = checkOperations(kvModel, history);
    assert.equal(report.result, "ok");
    assert.equal(report.partitions.length, 4);
    assert.ok(report.steps < 20 * history.length, `steps ${report.steps}`);

    const i = corruptOneRead(rng, history);
    assert.ok(i !== undefined);
    const bad = checkOperations(kvModel, history);
    assert.equal(bad.result, "illegal");
    assert.equal(bad.explanation?.key, history[i]!.input.key);
  });
});

describe("Bitset", () => {
  test("Bitset snapshots compare equal exactly when the bits are equal", () => {
    const rng = new Prng(7);
    for (let round = 0; round < 200; round++) {
      const size = 1 + rng.int(200);
      const a = new Bitset(size);
      const b = new Bitset(size);
      for (let k = 0; k < 3 * size; k++) {
        const i = rng.int(size);
        const target = rng.chance(0.5) ? a : b;
        if (target.has(i)) target.clear(i);
        else target.set(i);
        if (rng.chance(0.3) && !a.has(i)) a.set(i);
        if (rng.chance(0.3) && !b.has(i)) b.set(i);
      }
      const same = a.words.every((w, k) => w === b.words[k]);
      assert.equal(a.equalsSnapshot(b.snapshot()), same);
      assert.equal(b.equalsSnapshot(a.snapshot()), same);
      if (same) assert.equal(a.hash, b.hash);
      // Make them equal and compare again.
      for (let i = 0; i < size; i++) {
        if (a.has(i) !== b.has(i)) {
          if (a.has(i)) b.set(i);
          else b.clear(i);
        }
      }
      assert.ok(a.equalsSnapshot(b.snapshot()));
      assert.equal(a.hash, b.hash);
      assert.equal(a.count, b.count);
    }
  });

  test("Bitset.snapshot() keeps only the words between the full run and the zero tail", () => {
    const b = new Bitset(320);
    for (let i = 0; i < 100; i++) b.set(i);
    b.set(200);
    const s = b.snapshot();
    assert.equal(s.fullWords, 3);
    assert.equal(s.middle.length, 4);
    b.clear(5);
    const t = b.snapshot();
    assert.equal(t.fullWords, 0);
    assert.equal(t.middle.length, 7);
    assert.ok(!b.equalsSnapshot(s));
    b.set(5);
    assert.ok(b.equalsSnapshot(s));
    assert.throws(() => b.set(5), /already set/);
    assert.throws(() => b.clear(6 + 200), /already clear/);
  });
});
