// Smoke tests for the benchmarks: every workload runs once at a tiny size,
// prints the documented output, and commits what it proposed. Fast enough
// for CI on both runtimes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { type JsonResult, main, parseArgs, workloadNames } from "./main.ts";
import { formatRate, latencyStats, spread } from "./stats.ts";
import { runCluster, runSingle, type WorkloadOptions } from "./workloads.ts";

const tiny: Record<string, string[]> = {
  W1: ["--n", "300", "--batch", "1"],
  W2: ["--n", "300", "--batch", "1", "--window", "1"],
  W2p: ["--n", "600", "--batch", "16", "--window", "64"],
  W3: ["--n", "600", "--batch", "16", "--window", "64"],
  M1: ["--n", "3000", "--batch", "64", "--window", "256"],
};

function runJson(argv: string[]): JsonResult[] {
  const lines: string[] = [];
  main([...argv, "--runs", "2", "--warmup", "1", "--json"], (l) => lines.push(l));
  return lines.map((l) => JSON.parse(l) as JsonResult);
}

for (const name of workloadNames) {
  test(`bench/main.ts ${name} --json prints one JSON object per run, every entry committed`, () => {
    const args = tiny[name]!;
    const rs = runJson([name, ...args]);
    assert.equal(rs.length, 2);
    const n = Number(args[1]);
    for (const [i, r] of rs.entries()) {
      assert.equal(r.workload, name);
      assert.equal(r.run, i + 1);
      assert.ok(["deno", "bun", "node"].includes(r.runtime), r.runtime);
      assert.equal(r.mode, name === "W1" ? "single" : "cluster3");
      assert.equal(r.entries, n);
      assert.equal(r.propmsg, name === "W2p");
      assert.equal(r.codec, name === "W3");
      for (
        const k of [
          "per_sec",
          "mean_us",
          "p50_us",
          "p99_us",
          "max_us",
          "rss_mb",
          "heap_mb",
        ] as const
      ) {
        assert.ok(Number.isFinite(r[k]) && r[k] > 0, `${k} = ${r[k]}`);
      }
      assert.ok(r.p50_us <= r.p99_us && r.p99_us <= r.max_us);
      assert.ok(r.readies > 0);
      if (name === "W1") assert.equal(r.msgs, 0);
      else assert.ok(r.msgs > 0);
      if (name === "M1") {
        assert.equal(r.memory?.length, 10);
        assert.equal(typeof r.rss_growth, "number");
      } else {
        assert.equal(r.memory, undefined);
      }
    }
  });
}

test("bench/main.ts prints a line per run and a SUMMARY line without --json", () => {
  const lines: string[] = [];
  main(["W2", "--n", "200", "--batch", "4", "--window", "8", "--runs", "3"], (l) => lines.push(l));
  assert.equal(lines.length, 5);
  assert.match(lines[0]!, /^# (deno|bun|node) /);
  for (let i = 1; i <= 3; i++) {
    assert.match(
      lines[i]!,
      new RegExp(`^run ${i}: W2 cluster3 n=200 batch=4 window=8 .* /s \\| mean `),
    );
  }
  assert.match(
    lines[4]!,
    /^SUMMARY W2 cluster3 n=200 .* \| per_sec min\/med\/max \d+ \/ \d+ \/ \d+ \|/,
  );
});

test("parseArgs() maps workloads to raftanchor's modes and applies its defaults and clamps", () => {
  const w1 = parseArgs(["W1"]);
  assert.equal(w1.mode, "single");
  assert.equal(w1.n, 200000);
  assert.equal(w1.batch, 64);
  assert.equal(w1.runs, 3);
  assert.equal(w1.warmup, 1);
  assert.equal(parseArgs(["--mode", "cluster3", "--codec"]).workload, "W3");
  assert.equal(parseArgs(["-mode=cluster3", "-propmsg"]).workload, "W2p");
  const m1 = parseArgs(["M1"]);
  assert.equal(m1.n, 1_000_000);
  assert.equal(m1.memorySamples, 10);
  const clamped = parseArgs(["W2", "--size", "2", "--batch", "0", "--window", "3", "--batch", "8"]);
  assert.equal(clamped.size, 8);
  assert.equal(clamped.batch, 8);
  assert.equal(clamped.window, 8);
  assert.throws(() => parseArgs(["W9"]), RangeError);
  assert.throws(() => parseArgs(["W1", "--mode", "cluster3"]), RangeError);
  assert.throws(() => parseArgs(["W1", "--fsync"]), /not implemented/);
  assert.throws(() => parseArgs(["W1", "--n"]), /missing value/);
  assert.throws(() => parseArgs(["W1", "--bogus", "1"]), /unknown flag/);
});

test("runSingle() and runCluster() commit every entry, with fresh payloads too", () => {
  const o: WorkloadOptions = {
    mode: "cluster3",
    n: 500,
    batch: 8,
    window: 32,
    size: 128,
    codec: true,
    propMsg: false,
    memorySamples: 0,
    freshPayloads: true,
  };
  assert.equal(runCluster(o).entries, 500);
  assert.equal(runSingle({ ...o, mode: "single" }).entries, 500);
});

test("runCluster() and runSingle() compact storage, so a long run keeps a bounded log", () => {
  // keep = 10000: storage is compacted to applied - 10000 once applied passes
  // the last compaction + 20000. After 25000 entries it holds about 15000
  // (compacted once, near 20000 applied) instead of 25000.
  const o: WorkloadOptions = {
    mode: "cluster3",
    n: 25000,
    batch: 256,
    window: 1024,
    size: 8,
    codec: false,
    propMsg: true,
    memorySamples: 0,
    freshPayloads: false,
  };
  for (const r of [runCluster(o), runSingle({ ...o, mode: "single", batch: 64 })]) {
    assert.equal(r.entries, 25000);
    assert.ok(r.storedEntries > 0 && r.storedEntries <= 15300, `${r.storedEntries}`);
  }
});

test("latencyStats() and spread() pick samples as raftanchor does", () => {
  const s = latencyStats(new Float64Array([0.004, 0.001, 0.003, 0.002]), 4);
  assert.deepEqual(s, { meanUs: 2.5, p50Us: 3, p99Us: 4, maxUs: 4 });
  assert.deepEqual(latencyStats(new Float64Array(4), 0), {
    meanUs: 0,
    p50Us: 0,
    p99Us: 0,
    maxUs: 0,
  });
  assert.deepEqual(spread([5, 1, 4, 2]), { min: 1, median: 4, max: 5 });
  assert.equal(formatRate(187_000), "187k");
  assert.equal(formatRate(950), "950");
});
