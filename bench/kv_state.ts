/**
 * The key-value example's two state machines under one single-node
 * `RaftNode` on SQLite storage (W4's durable log, with the state applied):
 * puts/s with `window` proposals in flight, keys in SQLite tables of the
 * node's file (`SqliteKvStore`) against keys in memory (`KvStore`), each
 * run on a fresh file, alternating, and the ratio of their medians.
 *
 * ```sh
 * deno run -A bench/kv_state.ts [--puts 20000] [--windows 1,100,2000] [--runs 3]
 * bun bench/kv_state.ts
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RaftNode } from "../mod.ts";
import { MemoryNetwork } from "../adapters/memory/mod.ts";
import { openKvState } from "../examples/_kv_sqlite_store.ts";
import type { KvResult } from "../examples/_kv_store.ts";

const { values } = parseArgs({
  options: {
    puts: { type: "string", default: "20000" },
    windows: { type: "string", default: "1,100,2000" },
    runs: { type: "string", default: "3" },
  },
});
const puts = Number(values.puts);
const windows = values.windows.split(",").map(Number);
const runs = Number(values.runs);
const utf8 = new TextEncoder();
const value = "x".repeat(256);

/** One run: puts/s of `puts` distinct keys with `window` in flight. */
async function run(state: "sqlite" | "memory", window: number, n: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "raft-kv-state-"));
  const path = join(dir, "n.db");
  const { storage, store, close } = await openKvState(path, state);
  const net = new MemoryNetwork();
  const node = await RaftNode.start<KvResult>({
    id: 1,
    peers: [1],
    storage,
    transport: net.connect(1),
    stateMachine: store,
    tickMs: 10,
    snapshotEntries: 100_000,
    maxPendingProposals: Math.max(window, 1000),
  });
  try {
    await node.waitForLeader();
    const t0 = performance.now();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < n) {
        const i = next++;
        const key = `k${String(i).padStart(7, "0")}`;
        const r = await node.propose(utf8.encode(JSON.stringify({ op: "put", key, value })));
        if (!r.ok) throw new Error(`put ${key} failed`);
      }
    };
    await Promise.all(Array.from({ length: window }, worker));
    return n / ((performance.now() - t0) / 1000);
  } finally {
    await node.close();
    net.close();
    await close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

for (const window of windows) {
  // Batch 1 syncs once per put: a tenth of the puts keeps it short.
  const n = window === 1 ? Math.max(1, Math.floor(puts / 10)) : puts;
  const rates = { sqlite: [] as number[], memory: [] as number[] };
  await run("sqlite", window, Math.min(n, 500)); // warm-up (JIT)
  for (let r = 0; r < runs; r++) {
    rates.memory.push(await run("memory", window, n));
    rates.sqlite.push(await run("sqlite", window, n));
  }
  const m = median(rates.memory);
  const s = median(rates.sqlite);
  console.log(
    `window ${window}, ${n} puts of 256 B: memory ${m.toFixed(0)}/s, sqlite ${
      s.toFixed(0)
    }/s (sqlite/memory ${(s / m).toFixed(2)}); runs memory ${
      rates.memory.map((x) => x.toFixed(0)).join(" ")
    }, sqlite ${rates.sqlite.map((x) => x.toFixed(0)).join(" ")}`,
  );
}
