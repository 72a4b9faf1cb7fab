/**
 * The bare disk sync rate, shared by the durable benchmarks (`main.ts` W4,
 * `sqlite_append.ts`): write a block to a file and `fdatasync` it, as the
 * Go anchor's `raftanchor -mode fsync` does, either appending (Go's way: the
 * file grows, so every sync also commits its new size) or rewriting the
 * same block in place (what a preallocated or reused log pays, such as
 * SQLite's WAL after a checkpoint; on ext4 about twice as fast).
 *
 * @module
 */

import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { latencyStats } from "./stats.ts";

/** How a sync probe writes: `append` (as `raftanchor`) or `overwrite` (in place). */
export type FsyncMode = "append" | "overwrite";

/** A file that takes one block write + `fdatasync` per `sync()` call. */
export class FsyncFile {
  /** The file's path (removed by `close()`). */
  readonly path: string;
  /** How it writes. */
  readonly mode: FsyncMode;
  readonly #fd: number;
  readonly #block: Uint8Array;

  /**
   * Creates (truncates) the file.
   *
   * @param dir A directory on the disk to measure.
   * @param size Bytes written before each sync (Go's `-fsync-size`, 4096).
   * @param mode Append (the file grows) or rewrite the block at offset 0.
   */
  constructor(dir: string, size = 4096, mode: FsyncMode = "append") {
    this.path = join(dir, `fsync-probe-${mode}.dat`);
    this.mode = mode;
    this.#fd = openSync(this.path, "w");
    this.#block = new Uint8Array(size);
    for (let i = 0; i < size; i++) this.#block[i] = i & 0xff;
  }

  /** Writes the block and waits for `fdatasync`. */
  sync(): void {
    if (this.mode === "append") writeSync(this.#fd, this.#block);
    else writeSync(this.#fd, this.#block, 0, this.#block.length, 0);
    fdatasyncSync(this.#fd);
  }

  /** Closes and removes the file. */
  close(): void {
    closeSync(this.#fd);
    rmSync(this.path, { force: true });
  }
}

/** The figures of a sync probe (the fields of `raftanchor`'s fsync mode). */
export interface FsyncProbeResult {
  /** Syncs made. */
  syncs: number;
  /** Wall time, seconds. */
  seconds: number;
  /** Syncs per second. */
  perSec: number;
  /** Mean time of a write + sync, µs. */
  meanUs: number;
  /** Median, µs. */
  p50Us: number;
  /** 99th percentile, µs. */
  p99Us: number;
  /** Largest, µs. */
  maxUs: number;
}

/**
 * Makes `n` block writes + `fdatasync` in a fresh file, timing each one.
 *
 * @param dir A directory on the disk to measure.
 * @param n Syncs to make (at least 1).
 * @param size Bytes per write.
 * @param mode Append or overwrite.
 * @returns The rate and latencies.
 *
 * @example Usage
 * ```ts ignore
 * import { probeFsync } from "./_disk.ts";
 * const r = probeFsync("/tmp", 100, 4096, "overwrite");
 * console.log(`${r.perSec.toFixed(0)} syncs/s, p50 ${r.p50Us} µs`);
 * ```
 */
export function probeFsync(
  dir: string,
  n: number,
  size = 4096,
  mode: FsyncMode = "append",
): FsyncProbeResult {
  const f = new FsyncFile(dir, size, mode);
  const samples = new Float64Array(Math.max(1, n));
  let count = 0;
  try {
    const start = performance.now();
    let t0 = start;
    for (let i = 0; i < n; i++) {
      f.sync();
      const t = performance.now();
      samples[count++] = t - t0;
      t0 = t;
    }
    const seconds = (t0 - start) / 1000;
    return { syncs: count, seconds, perSec: count / seconds, ...latencyStats(samples, count) };
  } finally {
    f.close();
  }
}

/**
 * Joins probe results taken around a measurement (for example half before,
 * half after) into one: total syncs over total time, latencies of the first
 * (the percentiles of the parts are not combined exactly: the larger part's
 * are kept).
 *
 * @param parts Probe results.
 * @returns The combined figures.
 */
export function joinProbes(parts: readonly FsyncProbeResult[]): FsyncProbeResult {
  let syncs = 0;
  let seconds = 0;
  let meanSum = 0;
  let maxUs = 0;
  let largest = parts[0]!;
  for (const p of parts) {
    syncs += p.syncs;
    seconds += p.seconds;
    meanSum += p.meanUs * p.syncs;
    maxUs = Math.max(maxUs, p.maxUs);
    if (p.syncs > largest.syncs) largest = p;
  }
  return {
    syncs,
    seconds,
    perSec: syncs / seconds,
    meanUs: Math.round((meanSum / syncs) * 10) / 10,
    p50Us: largest.p50Us,
    p99Us: largest.p99Us,
    maxUs,
  };
}

/**
 * Creates a fresh directory for benchmark files.
 *
 * @param prefix The name's start.
 * @param parent Where (the system's temporary directory by default).
 * @returns Its path; remove it with `removeDir`.
 */
export function makeTempDir(prefix: string, parent: string = tmpdir()): string {
  return mkdtempSync(join(parent, prefix));
}

/**
 * Removes a directory and everything in it; no error when it is gone.
 *
 * @param dir The directory.
 */
export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Removes an SQLite database file and its `-wal` / `-shm` companions.
 *
 * @param path The database file.
 */
export function removeDatabase(path: string): void {
  for (const suffix of ["", "-wal", "-shm", "-journal"]) rmSync(path + suffix, { force: true });
}

/**
 * The SQLite driver the runtime's `openSqliteStorage` uses.
 *
 * @returns `"bun:sqlite"` on Bun, `"node:sqlite"` elsewhere.
 */
export function sqliteDriverName(): string {
  return (globalThis as { Bun?: unknown }).Bun !== undefined ? "bun:sqlite" : "node:sqlite";
}
