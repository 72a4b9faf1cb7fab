/**
 * How fast `SqliteStorage` makes appends durable, next to the bare fsync
 * rate of the same disk. Runs on Deno (`node:sqlite`) and Bun
 * (`bun:sqlite`):
 *
 * ```sh
 * deno run -A bench/sqlite_append.ts [--seconds 3] [--rounds 6] [--dir /path/on/the/disk] [--json]
 * bun bench/sqlite_append.ts [--seconds 3] [--rounds 6] [--dir /path/on/the/disk] [--json]
 * ```
 *
 * For batches of 1, 16 and 256 entries of 128 bytes, it calls
 * `save({ entries, hardState })` (one Ready: one transaction, synced before
 * it returns) in a loop and prints saves per second, entries per second and
 * the latency of a save. The baseline is a loop of `writeSync` of 4 KiB +
 * `fdatasyncSync` on a file in the same directory: the most syncs per
 * second the disk gives one writer. The cases take turns in `--rounds`
 * slices of `--seconds` each, so that all of them see the same disk
 * weather; the rates printed are the medians over the rounds.
 *
 * @module
 */

import { rmSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { type Entry, newEntry } from "../core/types.ts";
import { openSqliteDatabase, openSqliteStorage } from "../adapters/sqlite/mod.ts";
import { FsyncFile, makeTempDir, removeDatabase, removeDir, sqliteDriverName } from "./_disk.ts";

/** The figures of one measured loop. */
export interface AppendResult {
  /** What was measured: `"fdatasync"` or `"batch <n>"`. */
  name: string;
  /** Entries per save (0 for the fsync baseline). */
  batch: number;
  /** Synced operations (saves, or fdatasync calls). */
  ops: number;
  /** Synced operations per second. */
  opsPerSec: number;
  /** Entries appended and synced per second. */
  entriesPerSec: number;
  /** Median latency of one operation, in milliseconds. */
  p50Ms: number;
  /** 99th percentile latency, in milliseconds. */
  p99Ms: number;
  /** Median over the rounds of this case's rate over the bare fdatasync rate of the same round. */
  perFdatasync: number;
}

const entryBytes = 128;
const batches = [1, 16, 256] as const;

function runtimeName(): string {
  const g = globalThis as { Deno?: { version: { deno: string } }; Bun?: { version: string } };
  const driver = sqliteDriverName();
  if (g.Bun !== undefined) return `bun ${g.Bun.version} (${driver})`;
  if (g.Deno !== undefined) return `deno ${g.Deno.version.deno} (${driver})`;
  return `node ${process.versions.node} (${driver})`;
}

function percentile(sortedMs: Float64Array, p: number): number {
  if (sortedMs.length === 0) return 0;
  return sortedMs[Math.min(sortedMs.length - 1, Math.floor((sortedMs.length * p) / 100))]!;
}

/** A synced operation under measurement, with its samples so far. */
interface Case {
  name: string;
  batch: number;
  op: () => void;
  close: () => void;
  /** Latency of every call, in milliseconds. */
  samples: number[];
  /** Operations per second of each round. */
  roundRates: number[];
}

/** Calls the case's operation for `seconds` (at least 5 times), recording its latencies. */
function runRound(c: Case, seconds: number): void {
  const start = performance.now();
  const until = start + seconds * 1000;
  let now = start;
  let n = 0;
  while (now < until || n < 5) {
    c.op();
    const t = performance.now();
    c.samples.push(t - now);
    now = t;
    n++;
  }
  c.roundRates.push(n / ((now - start) / 1000));
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.floor(s.length / 2)]!;
}

function result(c: Case, base: Case): AppendResult {
  const sorted = Float64Array.from(c.samples).sort();
  const opsPerSec = median(c.roundRates);
  return {
    name: c.name,
    batch: c.batch,
    ops: c.samples.length,
    opsPerSec,
    entriesPerSec: opsPerSec * c.batch,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    perFdatasync: median(c.roundRates.map((r, k) => r / base.roundRates[k]!)),
  };
}

/**
 * The bare fsync rate: rewrites 4 KiB at the start of a file and
 * `fdatasync`s it (`_disk.ts`, mode `overwrite`).
 *
 * @param dir A directory on the disk to measure.
 * @returns The case.
 */
function fdatasyncCase(dir: string): Case {
  const file = new FsyncFile(dir, 4096, "overwrite");
  return {
    name: "fdatasync",
    batch: 0,
    samples: [],
    roundRates: [],
    op: () => file.sync(),
    close: () => file.close(),
  };
}

/**
 * Appends batches of 128-byte entries through `SqliteStorage.save()`, each
 * with a HardState that commits the previous batch, in a fresh file.
 *
 * @param dir A directory on the disk to measure.
 * @param batch Entries per save.
 * @returns The case.
 */
async function appendCase(dir: string, batch: number): Promise<Case> {
  const file = join(dir, `append-${batch}.db`);
  const storage = await openSqliteStorage(file);
  const data = new Uint8Array(entryBytes).fill(0x61);
  let last = 0;
  return {
    name: `batch ${batch}`,
    batch,
    samples: [],
    roundRates: [],
    op(): void {
      const entries: Entry[] = new Array(batch);
      for (let k = 0; k < batch; k++) entries[k] = newEntry({ index: last + 1 + k, term: 1, data });
      storage.save({
        hardState: { term: 1, vote: 1, commit: last },
        entries,
        snapshot: undefined,
        mustSync: true,
      });
      last += batch;
    },
    close(): void {
      storage.close();
      removeDatabase(file);
    },
  };
}

/**
 * Measures the bare fdatasync rate and SqliteStorage appends of 1, 16 and
 * 256 entries per save, taking turns.
 *
 * @param dir A directory on the disk to measure.
 * @param seconds Time per case.
 * @param rounds How many turns the time of each case is split into.
 * @returns One result per case, the fdatasync baseline first.
 *
 * @example Usage
 * ```ts ignore
 * import { benchSqliteAppend } from "./sqlite_append.ts";
 * const results = await benchSqliteAppend("/tmp", 1, 2);
 * console.log(results.map((r) => `${r.name}: ${r.opsPerSec.toFixed(0)}/s`).join("\n"));
 * ```
 */
export async function benchSqliteAppend(
  dir: string,
  seconds: number,
  rounds: number,
): Promise<AppendResult[]> {
  const cases: Case[] = [fdatasyncCase(dir)];
  try {
    for (const b of batches) cases.push(await appendCase(dir, b));
    for (let r = 0; r < rounds; r++) {
      for (const c of cases) runRound(c, seconds / rounds);
    }
    return cases.map((c) => result(c, cases[0]!));
  } finally {
    for (const c of cases) c.close();
  }
}

async function sqliteVersion(dir: string): Promise<string> {
  const file = join(dir, "version.db");
  const db = await openSqliteDatabase(file);
  const st = db.prepare("SELECT sqlite_version() AS v");
  try {
    return String((st.get() as { v: unknown }).v);
  } finally {
    st.finalize?.();
    db.close();
    rmSync(file, { force: true });
  }
}

function parseArgs(
  argv: string[],
): { seconds: number; rounds: number; dir: string | undefined; json: boolean } {
  let seconds = 3;
  let rounds = 6;
  let dir: string | undefined;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!.replace(/^--?/, "");
    const [key, inline] = a.split("=", 2) as [string, string | undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new RangeError(`Cannot parse arguments: --${key} needs a value`);
      return v;
    };
    if (key === "seconds") seconds = Number(value());
    else if (key === "rounds") rounds = Number(value());
    else if (key === "dir") dir = value();
    else if (key === "json") json = true;
    else throw new RangeError(`Cannot parse arguments: unknown flag --${key}`);
  }
  if (!(seconds > 0)) {
    throw new RangeError(
      `Cannot run the benchmark as 'seconds' must be positive: current value ${seconds}`,
    );
  }
  if (!(Number.isSafeInteger(rounds) && rounds > 0)) {
    throw new RangeError(
      `Cannot run the benchmark as 'rounds' must be a positive integer: current value ${rounds}`,
    );
  }
  return { seconds, rounds, dir, json };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const dir = makeTempDir("raft-sqlite-bench-", args.dir);
  try {
    const version = await sqliteVersion(dir);
    const results = await benchSqliteAppend(dir, args.seconds, args.rounds);
    const runtime = runtimeName();
    if (args.json) {
      for (const r of results) console.log(JSON.stringify({ runtime, sqlite: version, dir, ...r }));
      return;
    }
    console.log(
      `${runtime}, SQLite ${version}, in ${dir}, ${args.seconds} s per case in ${args.rounds} rounds`,
    );
    console.log(
      "case".padEnd(12) + "syncs/s".padStart(10) + "entries/s".padStart(12) +
        "p50 ms".padStart(9) + "p99 ms".padStart(9),
    );
    for (const r of results) {
      console.log(
        r.name.padEnd(12) + r.opsPerSec.toFixed(0).padStart(10) +
          (r.batch === 0 ? "-" : r.entriesPerSec.toFixed(0)).padStart(12) +
          r.p50Ms.toFixed(3).padStart(9) + r.p99Ms.toFixed(3).padStart(9),
      );
    }
    for (const r of results.slice(1)) {
      console.log(`${r.name}: ${r.perFdatasync.toFixed(2)} saves per bare fdatasync`);
    }
  } finally {
    removeDir(dir);
  }
}

if (import.meta.main) await main();
