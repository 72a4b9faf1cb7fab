/**
 * `simulate()` on a state machine of the user's kind: a correct one passes
 * 50 seeds, and three planted bugs (a non-deterministic apply, a lossy
 * snapshot, a storage that acknowledges writes before they are synced) are
 * each caught within 50 seeds, with a replay line that reproduces the same
 * failure.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import type { Command, NodeStorage, StateMachine } from "../../mod.ts";
import {
  type InvariantName,
  type Model,
  parseReplay,
  replayToken,
  simulate,
  type SimulateOptions,
  type Workload,
} from "../../testing/mod.ts";
import { wrapStorage } from "../_util.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** `add` to an account, or read its balance. */
type Op = { readonly add: number; readonly account: string } | { readonly get: string };

/** Accounts with balances, and the number of deposits made (the user's state machine). */
class Accounts implements StateMachine<number> {
  balances = new Map<string, number>();
  deposits = 0;
  updatedAt = 0;

  apply(commands: readonly Command[]): number[] {
    return commands.map((c) => {
      const { account, add } = JSON.parse(dec.decode(c.data)) as { account: string; add: number };
      const v = (this.balances.get(account) ?? 0) + add;
      this.balances.set(account, v);
      this.deposits++;
      return v;
    });
  }

  snapshot(): Uint8Array {
    const accounts = [...this.balances].sort((a, b) => a[0] < b[0] ? -1 : 1);
    return enc.encode(JSON.stringify({ accounts, deposits: this.deposits, at: this.updatedAt }));
  }

  restore(data: Uint8Array): void {
    const s = JSON.parse(dec.decode(data)) as {
      accounts: [string, number][];
      deposits: number;
      at: number;
    };
    this.balances = new Map(s.accounts);
    this.deposits = s.deposits;
    this.updatedAt = s.at;
  }
}

/** Bug 1: `apply` stamps the state with the wall clock. */
class ClockAccounts extends Accounts {
  override apply(commands: readonly Command[]): number[] {
    const out = super.apply(commands);
    this.updatedAt = Date.now();
    return out;
  }
}

/** Bug 2: `restore` loses the deposit count. */
class LossyAccounts extends Accounts {
  override restore(data: Uint8Array): void {
    super.restore(data);
    this.deposits = 0;
  }
}

const workload = (
  shape: { keys: number; readShare: number },
): Workload<Accounts, number, Op, number> => ({
  next: (rand) => {
    const account = `a${rand.int(shape.keys)}`;
    return rand.chance(shape.readShare) ? { get: account } : { add: rand.range(1, 9), account };
  },
  request: (op) =>
    "add" in op
      ? { propose: enc.encode(JSON.stringify(op)), output: (balance) => balance }
      : { read: (sm) => sm.balances.get(op.get) ?? 0 },
});

/** The accounts' model, one account at a time: its balance. */
const model: Model<number, Op, number> = {
  init: () => 0,
  step: (balance, op, out) => {
    if ("get" in op) return { ok: out === undefined || out === balance, state: balance };
    const next = balance + op.add;
    return { ok: out === undefined || out === next, state: next };
  },
  equal: (a, b) => a === b,
  hash: (b) => b,
  isReadOnly: (op) => "get" in op,
  describeOperation: (op, out) =>
    `${"get" in op ? `get(${op.get})` : `add(${op.account}, ${op.add})`} -> ${out ?? "?"}`,
};

const accounts: Omit<SimulateOptions<Accounts, number, Op, number, number>, "seeds"> = {
  stateMachine: () => new Accounts(),
  workload,
  model,
  partitionKey: (op) => "get" in op ? op.get : op.account,
};

/** Bug 3: `save` returns at once and syncs in the background (a write-behind cache). */
function ackBeforeSync(disk: NodeStorage): NodeStorage {
  return wrapStorage(disk, {
    save: (u) => {
      void disk.save(u);
    },
  });
}

const seeds = 50;
const steps = 4000;

test(
  "simulate() passes a correct state machine on 50 seeds, linearizable per account",
  { timeout: 600_000 },
  async () => {
    const report = await simulate({ ...accounts, seeds, steps });
    assert.ok(report.ok, report.failure?.text);
    assert.equal(report.seeds.length, seeds);
    assert.ok(report.operations > seeds * 10, `only ${report.operations} operations`);
    assert.ok(report.faults > seeds, `only ${report.faults} faults`);
  },
);

interface Planted {
  name: string;
  options: SimulateOptions<Accounts, number, Op, number, number>;
  invariant: InvariantName;
  /** Whether the bug itself is deterministic (a replay then fails at the same step). */
  deterministic: boolean;
  /** Whether client operations are needed to show it (storage bugs show in elections). */
  needsOps: boolean;
}

const planted: Planted[] = [
  {
    name: "a non-deterministic apply (Date.now())",
    options: { ...accounts, stateMachine: () => new ClockAccounts(), seeds, steps },
    invariant: "state-consistent",
    deterministic: false,
    needsOps: true,
  },
  {
    name: "a lossy snapshot",
    options: { ...accounts, stateMachine: () => new LossyAccounts(), seeds, steps },
    invariant: "snapshot-fidelity",
    deterministic: true,
    needsOps: true,
  },
  {
    name: "a storage that acknowledges writes before they are synced",
    options: { ...accounts, storage: ackBeforeSync, seeds, steps },
    invariant: "durable-before-send",
    deterministic: true,
    needsOps: false,
  },
];

for (const p of planted) {
  test(`simulate() catches ${p.name} and its replay line reproduces it`, {
    timeout: 600_000,
  }, async () => {
    const report = await simulate({ ...p.options, shrinkRunsMax: 12 });
    const f = report.failure;
    assert.ok(!report.ok && f !== undefined, `not caught in ${seeds} seeds`);
    assert.equal(f.invariant, p.invariant, f.text);
    assert.ok(f.seed <= seeds);
    assert.match(f.text, new RegExp(`seed ${f.seed}, step ${f.step}: ${p.invariant}`));
    assert.match(f.text, /^replay: RAFT_SIM_REPLAY=\S+ deno test -A$/m);
    // The shrunk run keeps no more faults or operations than the one found.
    const count = (r: typeof f.found, kind: string): number =>
      r.events.filter((e) => e.kind === kind && e.seq > 0).length;
    assert.ok(count(f.result, "fault") <= count(f.found, "fault"));
    assert.ok(count(f.result, "op") <= count(f.found, "op"));
    if (p.needsOps) {
      // A state machine bug needs a command: a client's, or the liveness probe's.
      assert.ok(f.result.events.some((e) => e.kind === "op"), "no operation left");
    }
    console.log(
      `planted ${p.name}: seed ${f.seed}, ${f.shrinkRuns} shrink runs, ${
        count(f.found, "fault")
      } -> ${count(f.result, "fault")} faults, ${count(f.found, "op")} -> ${
        count(f.result, "op")
      } operations; ${f.replayCommand}`,
    );
    // The line replays it.
    const token = /RAFT_SIM_REPLAY=(\S+)/.exec(f.replayCommand)?.[1];
    assert.ok(token !== undefined);
    assert.equal(token, f.replay);
    // A bug that reads the clock replays only as often as the clock differs
    // between replicas: up to five tries.
    let again = await simulate({ ...p.options, replay: token });
    for (let t = 1; t < 5 && !p.deterministic && again.ok; t++) {
      again = await simulate({ ...p.options, replay: token });
    }
    assert.ok(!again.ok && again.failure !== undefined, "the replay passed");
    assert.deepEqual(again.seeds, [f.seed]);
    assert.equal(again.failure.invariant, p.invariant, again.failure.text);
    assert.equal(again.failure.shrinkRuns, 0);
    if (p.deterministic) {
      assert.equal(again.failure.step, f.step);
      assert.equal(again.failure.result.traceHash, f.result.traceHash);
      assert.equal(again.failure.message, f.message);
    }
  });
}

test("replayToken() and parseReplay() round-trip what a run keeps", () => {
  const keep = { faults: new Set([1, 2, 3, 7]), ops: new Set<number>() };
  const t = replayToken(
    {
      seed: 9,
      steps: 1200,
      keep,
      events: [
        ...[1, 2, 3, 7].map((seq) => ({ kind: "fault" as const, seq, time: 0, step: 0, text: "" })),
      ],
    } as unknown as Parameters<typeof replayToken>[0],
  );
  assert.equal(t, "9:1200:f1-3.7:o");
  assert.deepEqual(parseReplay(t), { seed: 9, steps: 1200, keep });
  assert.deepEqual(parseReplay("4:100"), { seed: 4, steps: 100, keep: {} });
  for (const bad of ["", "x:1", "1", "1:2:q3", "1:2:f3-1", "1:2:f1:f2"]) {
    assert.throws(() => parseReplay(bad), RangeError, bad);
  }
});

test("simulate() refuses malformed seeds", async () => {
  await assert.rejects(() => simulate({ ...accounts, seeds: 0 }), RangeError);
  await assert.rejects(() => simulate({ ...accounts, seeds: 1.5 }), RangeError);
});

test("simulate() catches a result that depends on the replica", { timeout: 300_000 }, async () => {
  // The state is the same everywhere; only what apply returns differs.
  class Local extends Accounts {
    readonly nodeId: number;
    constructor(nodeId: number) {
      super();
      this.nodeId = nodeId;
    }
    override apply(commands: readonly Command[]): number[] {
      return super.apply(commands).map((v) => v * 100 + this.nodeId);
    }
  }
  const report = await simulate({
    ...accounts,
    stateMachine: (node) => new Local(node.nodeId),
    seeds: 5,
    steps: 2000,
    shrinkRunsMax: 0,
  });
  assert.equal(report.failure?.invariant, "state-consistent", report.failure?.text);
  assert.match(report.failure.message, /command \d+ returned a different result on node/);
});
