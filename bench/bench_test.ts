// Smoke tests for the benchmarks: every workload runs once at a tiny size,
// prints the documented output, and commits what it proposed; W5 starts a
// tiny kv_server cluster. Fast enough for CI on both runtimes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { joinProbes, makeTempDir, probeFsync, removeDir } from "./_disk.ts";
import { keyOf, parseKvHttpArgs, runKvHttp } from "./kv_http.ts";
import { type JsonResult, main, parseArgs, workloadNames } from "./main.ts";
import { formatRate, latencyStats, spread } from "./stats.ts";
import { runCluster, runSingle, type WorkloadOptions } from "./workloads.ts";

const tiny: Record<string, string[]> = {
  W1: ["--n", "300", "--batch", "1"],
  W2: ["--n", "300", "--batch", "1", "--window", "1"],
  W2p: ["--n", "600", "--batch", "16", "--window", "64"],
  W3: ["--n", "600", "--batch", "16", "--window", "64"],
  M1: ["--n", "3000", "--batch", "64", "--window", "256"],
  W4: ["--n", "40", "--batch", "1", "--probe-syncs", "20"],
  disk: ["--n", "20"],
};

async function runJson(argv: string[]): Promise<JsonResult[]> {
  const lines: string[] = [];
  await main([...argv, "--runs", "2", "--warmup", "1", "--json"], (l) => lines.push(l));
  return lines.map((l) => JSON.parse(l) as JsonResult);
}

const isBun = (globalThis as { Bun?: unknown }).Bun !== undefined;

for (const name of workloadNames) {
  test(`bench/main.ts ${name} --json prints one JSON object per run, every entry committed`, async () => {
    const args = tiny[name]!;
    const rs = await runJson([name, ...args]);
    assert.equal(rs.length, 2);
    const n = Number(args[1]);
    for (const [i, r] of rs.entries()) {
      assert.equal(r.workload, name);
      assert.equal(r.run, i + 1);
      assert.ok(["deno", "bun", "node"].includes(r.runtime), r.runtime);
      assert.equal(
        r.mode,
        name === "W1" || name === "W4" ? "single" : name === "disk" ? "fsync" : "cluster3",
      );
      assert.equal(r.entries, n);
      assert.equal(r.fsync, name === "W4");
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
      if (name === "disk") {
        assert.equal(r.readies, 0);
        assert.equal(r.syncs, n);
      } else {
        assert.ok(r.readies > 0);
      }
      if (name === "W1" || name === "W4" || name === "disk") assert.equal(r.msgs, 0);
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

test("bench/main.ts W4 syncs every Ready to SQLite and measures the bare fsync rate beside it", async () => {
  const dir = makeTempDir("raft-ts-bench-test-");
  try {
    for (const batch of [1, 16]) {
      const n = batch * 20;
      const rs = await runJson([
        "W4",
        "--n",
        `${n}`,
        "--batch",
        `${batch}`,
        "--dir",
        dir,
        "--probe-syncs",
        "10",
      ]);
      for (const r of rs) {
        assert.equal(r.entries, n);
        assert.equal(r.driver, isBun ? "bun:sqlite" : "node:sqlite");
        // One transaction per Ready that had entries or a new HardState: here every Ready.
        assert.equal(r.syncs, r.readies);
        assert.ok(r.readies >= n / batch, `${r.readies} readies for ${n / batch} batches`);
        assert.ok(r.persist_seconds! > 0 && r.persist_seconds! <= r.seconds);
        assert.ok(r.fsync_per_sec! > 0 && r.fsync_append_per_sec! > 0 && r.fsync_p50_us! > 0);
        assert.ok(
          Math.abs(r.per_fsync! - r.per_sec / r.fsync_per_sec!) < 0.01 * r.per_fsync! + 1e-3,
        );
      }
    }
    // The database files (and the probes' files) are gone; the directory given stays.
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    removeDir(dir);
  }
});

test("probeFsync() times every sync and joinProbes() adds the parts up", () => {
  const dir = makeTempDir("raft-ts-bench-test-");
  try {
    const a = probeFsync(dir, 5, 512, "append");
    const b = probeFsync(dir, 3, 512, "overwrite");
    assert.equal(a.syncs, 5);
    assert.ok(a.perSec > 0 && a.p50Us > 0 && a.p50Us <= a.maxUs);
    const j = joinProbes([a, b]);
    assert.equal(j.syncs, 8);
    assert.ok(Math.abs(j.seconds - (a.seconds + b.seconds)) < 1e-9);
    assert.equal(j.p50Us, a.p50Us);
    assert.equal(j.maxUs, Math.max(a.maxUs, b.maxUs));
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    removeDir(dir);
  }
});

test("bench/main.ts prints a line per run and a SUMMARY line without --json", async () => {
  const lines: string[] = [];
  await main(
    ["W2", "--n", "200", "--batch", "4", "--window", "8", "--runs", "3"],
    (l) => lines.push(l),
  );
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
  const w4 = parseArgs(["W1", "--fsync", "--batch", "1"]);
  assert.equal(w4.workload, "W4");
  assert.equal(w4.n, 2000);
  assert.equal(parseArgs(["W4"]).n, 100_000);
  assert.equal(parseArgs(["-mode", "single", "-fsync", "-dir", "/x"]).dir, "/x");
  assert.match(parseArgs(["W4", "--batch", "64"]).label, /fsync=true$/);
  const disk = parseArgs(["--mode", "fsync", "--fsync-size", "512"]);
  assert.equal(disk.workload, "disk");
  assert.equal(disk.n, 1000);
  assert.equal(disk.fsyncSize, 512);
  assert.equal(parseArgs(["W2", "--fsync"]).fsync, true);
  assert.throws(() => parseArgs(["W4", "--mode", "cluster3"]), RangeError);
  assert.throws(() => parseArgs(["W1", "--n"]), /missing value/);
  assert.throws(() => parseArgs(["W1", "--bogus", "1"]), /unknown flag/);
});

test("runSingle() and runCluster() commit every entry, with fresh payloads too", async () => {
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
  assert.equal((await runCluster(o)).entries, 500);
  assert.equal((await runSingle({ ...o, mode: "single" })).entries, 500);
});

test("runCluster() and runSingle() compact storage, so a long run keeps a bounded log", async () => {
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
  for (const r of [await runCluster(o), await runSingle({ ...o, mode: "single", batch: 64 })]) {
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

test("runCluster() with fsync keeps three SQLite logs and removes them afterwards", async () => {
  const dir = makeTempDir("raft-ts-bench-test-");
  try {
    const r = await runCluster({
      mode: "cluster3",
      n: 64,
      batch: 8,
      window: 16,
      size: 128,
      codec: false,
      propMsg: false,
      memorySamples: 0,
      freshPayloads: true,
      fsync: true,
      dir,
    });
    assert.equal(r.entries, 64);
    assert.ok(r.syncs >= 3 * (64 / 16), `${r.syncs} syncs`);
    assert.ok(r.persistSeconds > 0);
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    removeDir(dir);
  }
});

test("kv_http.ts: keys are 8 distinct characters, and the flags parse", () => {
  assert.equal(keyOf(0, 8), "00000000");
  assert.equal(keyOf(35 * 36 + 1, 8), "000000z1");
  assert.equal(new Set(Array.from({ length: 1000 }, (_, i) => keyOf(i, 8))).size, 1000);
  const o = parseKvHttpArgs(["--quick", "--concurrency", "1,8", "--client=http", "--peer-port"]);
  assert.deepEqual(o.concurrency, [1, 8]);
  assert.equal(o.total(1), 200);
  assert.equal(o.total(100), 2000);
  assert.equal(o.runs, 1);
  assert.equal(o.client, "http");
  assert.equal(o.peerPort, true);
  assert.equal(o.runtime, "bun");
  assert.equal(o.idempotencyKey, "off");
  assert.equal(parseKvHttpArgs(["--idempotency-key", "both"]).idempotencyKey, "both");
  assert.throws(() => parseKvHttpArgs(["--idempotency-key", "yes"]), RangeError);
  assert.equal(parseKvHttpArgs(["--total", "7"]).total(100), 7);
  assert.throws(() => parseKvHttpArgs(["--runtime", "node"]), RangeError);
  assert.throws(() => parseKvHttpArgs(["--bogus"]), /unknown/);
});

test("kv_http.ts W5 runs three kv_servers, puts through the leader, and stops them", {
  timeout: 60_000,
}, async () => {
  const parent = makeTempDir("raft-ts-bench-test-");
  const o = parseKvHttpArgs([
    "--data-dir",
    parent,
    "--concurrency",
    "1,8",
    "--total",
    "40",
    "--warmup",
    "10",
    "--runs",
    "1",
    "--tick-ms",
    "50",
    "--seconds",
    "20",
    "--timeout",
    "50",
  ]);
  const lines: string[] = [];
  const t0 = performance.now();
  let rs;
  try {
    rs = await runKvHttp(o, (l) => lines.push(l), () => {});
    // Stopped: every server exited, then their data directory was removed.
    assert.deepEqual(readdirSync(parent), []);
  } finally {
    removeDir(parent);
  }
  const secs = (performance.now() - t0) / 1000;
  assert.equal(rs.length, 2);
  for (const [i, r] of rs.entries()) {
    assert.equal(r.concurrency, [1, 8][i]);
    assert.equal(r.errors, 0);
    assert.equal(r.total, 40);
    assert.ok(r.per_sec > 0 && r.p50_ms > 0 && r.p50_ms <= r.p99_ms && r.p99_ms <= r.max_ms);
    assert.equal(r.key_size, 8);
    assert.equal(r.val_size, 256);
  }
  assert.match(lines.at(-1)!, /^SUMMARY W5 kv-http bun c8 \(1 runs\) \| puts\/s min\/med\/max /);
  assert.ok(secs < 20, `took ${secs.toFixed(1)} s`);
});
