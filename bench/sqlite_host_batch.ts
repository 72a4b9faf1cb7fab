/**
 * What a host-wide batch saves: the saves of `--groups` groups (one
 * 256-byte entry and a HardState each, as one Ready of each group) written
 * three ways, taking turns round by round so that all of them see the same
 * disk weather:
 *
 * - `host batch`: one `SqliteHostStorage.writeBatch` (one transaction, one sync);
 * - `host saves`: each group's `save` on the same host file (a transaction each);
 * - `files`: one `SqliteStorage` file per group, a `save` each.
 *
 * It prints the median time of a round per case, the ratios to the batch,
 * and the syncs per batch that the host storage counted.
 *
 * ```sh
 * deno run -A bench/sqlite_host_batch.ts [--groups 64] [--rounds 40] [--dir /path/on/the/disk] [--case host-batch]
 * bun bench/sqlite_host_batch.ts [--groups 64] [--rounds 40] [--dir /path/on/the/disk]
 * ```
 *
 * `--case` runs one case only (for counting its system calls with `strace -c`).
 *
 * @module
 */

import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import {
  openSqliteHostStorage,
  openSqliteStorage,
  type SqliteStorage,
} from "../adapters/sqlite/mod.ts";
import type { StorageUpdate } from "../core/node.ts";
import { newEntry } from "../core/types.ts";
import { makeTempDir, removeDir, sqliteDriverName } from "./_disk.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    groups: { type: "string", default: "64" },
    rounds: { type: "string", default: "40" },
    dir: { type: "string" },
    case: { type: "string" },
  },
});
const groups = Number(values.groups);
const rounds = Number(values.rounds);
if (!Number.isSafeInteger(groups) || groups < 1 || !Number.isSafeInteger(rounds) || rounds < 1) {
  throw new RangeError(
    "Cannot run the benchmark as --groups and --rounds must be positive integers",
  );
}
const only = values.case;
const dir = makeTempDir("raft-host-bench-", values.dir);
const groupIds = Array.from({ length: groups }, (_, i) => i + 1);
const payload = new Uint8Array(256).fill(7);

/** The save of round `r` (entry `r`, committing the one before it). */
function update(r: number): StorageUpdate {
  return {
    hardState: { term: 1, vote: 1, commit: r - 1 },
    entries: [newEntry({ term: 1, index: r, data: payload })],
    snapshot: undefined,
    mustSync: true,
  };
}

interface Case {
  name: string;
  round(r: number): void;
  /** Milliseconds per round. */
  ms: number[];
}

const batchHost = await openSqliteHostStorage(join(dir, "batch.db"));
const savesHost = await openSqliteHostStorage(join(dir, "saves.db"));
const files: SqliteStorage[] = [];
for (const g of groupIds) files.push(await openSqliteStorage(join(dir, `group-${g}.db`)));
for (const g of groupIds) batchHost.openGroup(g);
const savesGroups = groupIds.map((g) => savesHost.openGroup(g));

const cases: Case[] = [
  {
    name: "host-batch",
    round: (r: number): void => {
      const u = update(r);
      batchHost.writeBatch(groupIds.map((groupId) => ({ groupId, update: u })));
    },
    ms: [],
  },
  {
    name: "host-saves",
    round: (r: number): void => {
      const u = update(r);
      for (const s of savesGroups) s.save(u);
    },
    ms: [],
  },
  {
    name: "files",
    round: (r: number): void => {
      const u = update(r);
      for (const s of files) s.save(u);
    },
    ms: [],
  },
].filter((c) => only === undefined || c.name === only);

const syncsBefore = batchHost.stats;
for (let r = 1; r <= rounds; r++) {
  for (const c of cases) {
    const t0 = performance.now();
    c.round(r);
    c.ms.push(performance.now() - t0);
  }
}
const syncs = batchHost.stats;
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};
const g = globalThis as { Deno?: { version: { deno: string } }; Bun?: { version: string } };
const runtime = g.Bun !== undefined
  ? `bun ${g.Bun.version}`
  : g.Deno !== undefined
  ? `deno ${g.Deno.version.deno}`
  : `node ${process.versions.node}`;
console.log(`${runtime} (${sqliteDriverName()}), ${groups} groups, ${rounds} rounds, in ${dir}`);
const base = cases.find((c) => c.name === "host-batch");
for (const c of cases) {
  const m = median(c.ms);
  const ratio = base !== undefined ? ` (${(m / median(base.ms)).toFixed(1)}x the batch)` : "";
  console.log(`${c.name.padEnd(10)} ${m.toFixed(2)} ms per round of ${groups} saves${ratio}`);
}
if (base !== undefined) {
  const batches = syncs.batches - syncsBefore.batches;
  console.log(
    `host-batch: ${batches} batches, ${
      syncs.transactions - syncsBefore.transactions
    } transactions, ${syncs.syncs - syncsBefore.syncs} synced commits`,
  );
}
for (const s of [batchHost, savesHost, ...files]) s.close();
removeDir(dir);
