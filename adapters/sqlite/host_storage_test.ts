import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { RaftInvariantError } from "../../core/_assert.ts";
import type { GroupId, GroupSave, HostId } from "../../core/host/seams.ts";
import type { Scheduler } from "../../core/node.ts";
import { MemoryHostStorage } from "../../core/host/memory_host_storage.ts";
import { RaftHost } from "../../core/host/raft_host.ts";
import type { StorageUpdate } from "../../core/node.ts";
import { newRand, randomIntN } from "../../core/rand.ts";
import { type Entry, newEntry, StateType } from "../../core/types.ts";
import { logMachine, storageChecks } from "../../tests/_util.ts";
import { MemoryHostNetwork, VirtualScheduler } from "../memory/mod.ts";
import type { SqliteDatabaseLike, SqliteValue } from "./_database.ts";
import {
  openSqliteDatabase,
  openSqliteHostStorage,
  openSqliteStorage,
  SqliteHostStorage,
  SqliteStorageError,
} from "./mod.ts";
import { applyHostWrite, crashGroupIds, hostDigest, nextHostStep } from "./_crash_host_model.ts";
import {
  assertKilled,
  runUntilKilled,
  tempDir,
  withRawDatabase,
  withTempDir,
} from "./_test_util.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function ents(from: number, to: number, term: number, tag = ""): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) {
    out.push(newEntry({ index: i, term, data: enc.encode(`${tag}${i}`) }));
  }
  return out;
}

function append(from: number, to: number, commit: number, tag = ""): StorageUpdate {
  return {
    hardState: { term: 1, vote: 1, commit },
    entries: ents(from, to, 1, tag),
    snapshot: undefined,
    mustSync: true,
  };
}

type Writer = "inline" | "worker";
const writers: readonly Writer[] = ["inline", "worker"];
/** A test name's suffix for a writer mode. */
const withWriter = (w: Writer): string => w === "worker" ? " (writer thread)" : "";

/** Opens the host file again (it must exist), runs `body` on it, and closes it. */
async function reopened(path: string, body: (host: SqliteHostStorage) => void): Promise<void> {
  const host = await openSqliteHostStorage(path, { create: false });
  try {
    body(host);
  } finally {
    await host.close();
  }
}

/** The data of a group's entries, decoded. */
function dataOf(host: SqliteHostStorage, g: GroupId): string[] {
  const s = host.openGroup(g);
  if (s.lastIndex() < s.firstIndex()) return [];
  return s.entries(s.firstIndex(), s.lastIndex() + 1, Infinity).map((e) => dec.decode(e.data));
}

// The storage suite on one group of a host's file, beside two groups
// that hold entries of their own: a group must read and write its own
// tables only.
const suiteCases: { cacheEntriesMax: number; writer: Writer }[] = [
  { cacheEntriesMax: 4096, writer: "inline" },
  { cacheEntriesMax: 3, writer: "inline" },
  // Without a cache, every read of a durable entry goes to the file.
  { cacheEntriesMax: 0, writer: "worker" },
];
for (const { cacheEntriesMax, writer } of suiteCases) {
  const neighbours = [1, 3];
  const cache = cacheEntriesMax === 4096 ? [] : [`${cacheEntriesMax}-entry cache`];
  const detail = [...cache, ...(writer === "worker" ? ["writer thread"] : [])].join(", ");
  storageChecks(
    `SqliteHostStorage group${detail === "" ? "" : ` (${detail})`}`,
    {
      async create() {
        const tmp = tempDir();
        const path = tmp.file("host.db");
        const open = async (create: boolean): Promise<SqliteHostStorage> => {
          const h = await openSqliteHostStorage(path, { create, cacheEntriesMax, writer });
          for (const g of neighbours) h.openGroup(g);
          return h;
        };
        let host = await open(true);
        await host.writeBatch(
          neighbours.map((g) => ({ groupId: g, update: append(1, 5, 5, `n${g}:`) })),
        );
        let storage = host.openGroup(2);
        return {
          storage,
          async reopen() {
            await host.close();
            host = await open(false);
            return storage = host.openGroup(2);
          },
          async dispose() {
            try {
              for (const g of neighbours) {
                assert.deepEqual(
                  dataOf(host, g),
                  ents(1, 5, 1, `n${g}:`).map((e) => dec.decode(e.data)),
                );
              }
            } finally {
              await host.close();
              tmp.remove();
            }
          },
        };
      },
    },
  );
}

/** A connection that counts the transactions committed through it. */
function countingCommits(raw: SqliteDatabaseLike): { db: SqliteDatabaseLike; commits(): number } {
  let commits = 0;
  return {
    db: {
      exec(sql: string): unknown {
        if (sql === "COMMIT") commits++;
        return raw.exec(sql);
      },
      prepare: (sql) => raw.prepare(sql),
      close: () => raw.close(),
    },
    commits: () => commits,
  };
}

for (const writer of writers) {
  test(`SqliteHostStorage.writeBatch() writes the saves of 16 groups in one transaction and one sync${withWriter(writer)}`, async () => {
    await withTempDir(async (tmp) => {
      const path = tmp.file("host.db");
      // Inline, the commits on the connection are counted too (a writer
      // thread commits on its own connection: its counters are the thread's).
      const c = writer === "inline" ? countingCommits(await openSqliteDatabase(path)) : undefined;
      const host = c !== undefined
        ? new SqliteHostStorage(c.db, { path })
        : await openSqliteHostStorage(path, { writer });
      const groups = Array.from({ length: 16 }, (_, i) => i + 1);
      for (const g of groups) host.openGroup(g);
      const before = host.stats;
      const commitsBefore = c?.commits();
      await host.writeBatch(groups.map((g) => ({ groupId: g, update: append(1, 3, 2, `g${g}:`) })));
      if (c !== undefined) assert.equal(c.commits() - commitsBefore!, 1);
      const after = host.stats;
      assert.equal(after.batches - before.batches, 1);
      assert.equal(after.saves - before.saves, 16);
      assert.equal(after.transactions - before.transactions, 1);
      assert.equal(after.syncs - before.syncs, 1);
      for (const g of groups) assert.deepEqual(dataOf(host, g), [`g${g}:1`, `g${g}:2`, `g${g}:3`]);

      // A batch that only moves commit indexes is not synced.
      await host.writeBatch(groups.map((g) => ({
        groupId: g,
        update: {
          hardState: { term: 1, vote: 1, commit: 3 },
          entries: [],
          snapshot: undefined,
          mustSync: false,
        },
      })));
      assert.equal(host.stats.transactions - after.transactions, 1);
      assert.equal(host.stats.syncs - after.syncs, 0);
      // Then the next synced one syncs it too.
      await host.writeBatch([{ groupId: 1, update: append(4, 4, 3, "g1:") }]);
      assert.equal(host.stats.syncs - after.syncs, 1);
      await host.close();

      await reopened(path, (again) => {
        assert.deepEqual(again.groupIds(), groups);
        for (const g of groups) {
          assert.equal(again.openGroup(g).initialState().hardState.commit, 3);
          assert.equal(again.openGroup(g).lastIndex(), g === 1 ? 4 : 3);
        }
      });
    });
  });
}

for (const writer of writers) {
  test(`SqliteHostStorage.writeBatch() writes nothing when one group's save fails its checks${withWriter(writer)}`, async () => {
    await withTempDir(async (tmp) => {
      const path = tmp.file("host.db");
      const host = await openSqliteHostStorage(path, { writer });
      for (const g of [1, 2, 3]) host.openGroup(g);
      const batch: GroupSave[] = [
        { groupId: 1, update: append(1, 2, 1) },
        // A gap: group 2's log is empty.
        { groupId: 2, update: append(5, 6, 1) },
        { groupId: 3, update: append(1, 2, 1) },
      ];
      const before = host.stats;
      assert.throws(() => host.writeBatch(batch), RaftInvariantError);
      assert.deepEqual(host.stats, before);
      for (const g of [1, 2, 3]) assert.equal(host.openGroup(g).lastIndex(), 0);
      await host.close();
      await reopened(path, (again) => {
        for (const g of [1, 2, 3]) assert.equal(again.openGroup(g).lastIndex(), 0);
      });
    });
  });
}

test("SqliteHostStorage refuses bad group IDs, batches and files with typed errors", async () => {
  await withTempDir(async (tmp) => {
    const hostPath = tmp.file("host.db");
    const host = await openSqliteHostStorage(hostPath);
    assert.throws(() => host.openGroup(0), /Cannot open a group as 'groupId' must be a positive/);
    assert.throws(() => host.openGroup(1.5), RangeError);
    host.openGroup(1);
    assert.throws(
      () => host.writeBatch([{ groupId: 2, update: append(1, 1, 0) }]),
      /Cannot write group 2: it was never opened/,
    );
    assert.throws(
      () =>
        host.writeBatch([
          { groupId: 1, update: append(1, 1, 0) },
          { groupId: 1, update: append(2, 2, 0) },
        ]),
      /Cannot write group 1: it has two saves in one batch/,
    );
    host.close();
    assert.throws(
      () => host.groupIds(),
      (e) => e instanceof SqliteStorageError && e.code === "closed",
    );
    host.close();

    // A host's file is not a single group's, nor the other way round.
    await assert.rejects(openSqliteStorage(hostPath), (e) => {
      assert.ok(e instanceof SqliteStorageError);
      assert.equal(e.code, "foreign");
      assert.match(e.message, /a raft-ts host storage \(open it with SqliteHostStorage\)/);
      return true;
    });
    const nodePath = tmp.file("node.db");
    (await openSqliteStorage(nodePath)).close();
    await assert.rejects(openSqliteHostStorage(nodePath), (e) => {
      assert.ok(e instanceof SqliteStorageError);
      assert.equal(e.code, "foreign");
      assert.match(e.message, /a single-group raft-ts log \(open it with SqliteStorage\)/);
      return true;
    });
    await assert.rejects(
      openSqliteHostStorage(tmp.file("none.db"), { create: false }),
      (e) => e instanceof SqliteStorageError && e.code === "not_found",
    );
    // A single-group file still opens as before.
    (await openSqliteStorage(nodePath, { create: false })).close();
  });
});

type Query = (sql: string, ...p: SqliteValue[]) => unknown[];

const damages: {
  name: string;
  code: string;
  damage(db: SqliteDatabaseLike, query: Query): void;
}[] = [
  {
    name: "an entry record that fails its checksum",
    code: "corrupt_record",
    damage(_db, query) {
      const row = query("SELECT first, record FROM raft_g2_log ORDER BY first LIMIT 1")[0] as {
        first: number;
        record: Uint8Array;
      };
      const record = new Uint8Array(row.record);
      record[record.length - 2]! ^= 0x40;
      query("UPDATE raft_g2_log SET record = ? WHERE first = ?", record, row.first);
    },
  },
  {
    name: "a missing row (a gap in the log)",
    code: "log_gap",
    damage(db) {
      db.exec("DELETE FROM raft_g2_log WHERE first = 3");
    },
  },
];

for (const [k, { name, code, damage }] of damages.entries()) {
  // Written by each writer mode in turn.
  const writer = writers[k % writers.length]!;
  test(`SqliteHostStorage.openGroup() reports ${name} of one group, naming the group${withWriter(writer)}`, async () => {
    await withTempDir(async (tmp) => {
      const path = tmp.file("host.db");
      const host = await openSqliteHostStorage(path, { writer });
      for (const g of [1, 2, 3]) host.openGroup(g);
      await host.writeBatch([1, 2, 3].map((g) => ({ groupId: g, update: append(1, 2, 1) })));
      await host.writeBatch([1, 2, 3].map((g) => ({ groupId: g, update: append(3, 4, 1) })));
      await host.writeBatch([1, 2, 3].map((g) => ({ groupId: g, update: append(5, 6, 1) })));
      await host.close();
      await withRawDatabase(path, damage);

      await reopened(path, (again) => {
        assert.deepEqual(again.groupIds(), [1, 2, 3]);
        assert.equal(again.openGroup(1).lastIndex(), 6);
        assert.throws(() => again.openGroup(2), (e) => {
          assert.ok(e instanceof SqliteStorageError);
          assert.equal(e.code, code);
          assert.equal(e.groupId, 2);
          assert.equal(e.path, path);
          assert.match(e.message, /\[group 2\]/);
          return true;
        });
        assert.equal(again.openGroup(3).lastIndex(), 6);
      });
    });
  });
}

for (const writer of writers) {
  test(`SqliteHostStorage.deleteGroup() drops a group's tables and leaves the others${withWriter(writer)}`, async () => {
    await withTempDir(async (tmp) => {
      const path = tmp.file("host.db");
      const host = await openSqliteHostStorage(path, { writer });
      for (const g of [1, 2, 3]) host.openGroup(g);
      // Not awaited: with a writer thread, the deletion waits for the batch.
      const batch = host.writeBatch(
        [1, 2, 3].map((g) => ({ groupId: g, update: append(1, 2, 1, `g${g}:`) })),
      );
      const deleted = host.deleteGroup(2);
      if (writer === "worker") {
        assert.throws(() => host.openGroup(2), /Cannot open group 2: it is being deleted/);
      }
      await batch;
      await deleted;
      assert.deepEqual(host.groupIds(), [1, 3]);
      await host.close();
      await withRawDatabase(path, (_db, query) => {
        const n = query("SELECT count(*) AS n FROM sqlite_master WHERE name LIKE 'raft_g2_%'");
        assert.equal(Number((n[0] as { n: number }).n), 0);
      });
      await reopened(path, (again) => {
        assert.deepEqual(again.groupIds(), [1, 3]);
        assert.deepEqual(dataOf(again, 3), ["g3:1", "g3:2"]);
        // Opened again, it starts empty.
        assert.equal(again.openGroup(2).lastIndex(), 0);
        assert.deepEqual(again.groupIds(), [1, 2, 3]);
      });
    });
  });
}

/**
 * Virtual time, or real time: a writer thread syncs in real time, which
 * virtual time would run past (its timeouts firing while a sync is in
 * flight).
 */
interface TestClock {
  scheduler: Scheduler | undefined;
  run<T>(p: Promise<T>): Promise<T>;
  until(pred: () => boolean, maxMs: number): Promise<void>;
}

function testClock(writer: Writer): TestClock {
  if (writer === "inline") {
    const v = new VirtualScheduler();
    return { scheduler: v, run: (p) => v.run(p), until: (pred, ms) => v.until(pred, ms) };
  }
  return {
    scheduler: undefined,
    run: (p) => p,
    async until(pred, ms) {
      // Bounded: at most ms / 5 polls.
      for (let waited = 0; !pred(); waited += 5) {
        if (waited > ms) throw new Error(`Cannot wait: the condition did not hold in ${ms} ms`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
  };
}

/** The network of a test's hosts, on its clock. */
function testNetwork(clock: TestClock): MemoryHostNetwork {
  const scheduler = clock.scheduler;
  return new MemoryHostNetwork({ ...(scheduler !== undefined ? { scheduler } : {}), delayMs: 1 });
}

interface Site {
  host: RaftHost<number>;
  storage: SqliteHostStorage;
  logs: Map<GroupId, string[]>;
}

/** Starts hosts 1..3 on their files, adding every group in the file (or `groups` when new). */
async function startHosts(
  clock: TestClock,
  net: MemoryHostNetwork,
  path: (id: HostId) => string,
  groups: GroupId[] | undefined,
  run: number,
  writer: Writer,
): Promise<Map<HostId, Site>> {
  const ids = [1, 2, 3];
  const sites = new Map<HostId, Site>();
  for (const id of ids) {
    const storage = await openSqliteHostStorage(path(id), {
      create: groups !== undefined,
      writer,
    });
    const host = await RaftHost.start<number>({
      hostId: id,
      transport: net.connect(id),
      storage,
      ...(clock.scheduler !== undefined ? { scheduler: clock.scheduler } : {}),
      tickMs: 10,
      groupDefaults: { electionTick: 10, rand: newRand(1000 * run + id) },
    });
    const logs = new Map<GroupId, string[]>();
    for (const g of groups ?? storage.groupIds()) {
      const log: string[] = [];
      logs.set(g, log);
      await host.addGroup({ groupId: g, stateMachine: logMachine(log), peers: ids });
    }
    sites.set(id, { host, storage, logs });
  }
  return sites;
}

async function leaders(
  clock: TestClock,
  sites: Map<HostId, Site>,
  groups: GroupId[],
): Promise<Map<GroupId, HostId>> {
  const leaderOf = (g: GroupId): HostId | undefined => {
    for (const [id, s] of sites) {
      if (s.host.group(g).status().raftState === StateType.StateLeader) return id;
    }
    return undefined;
  };
  await clock.until(() => groups.every((g) => leaderOf(g) !== undefined), 10_000);
  return new Map(groups.map((g) => [g, leaderOf(g)!]));
}

async function stopHosts(clock: TestClock, sites: Map<HostId, Site>): Promise<void> {
  await clock.run(Promise.all([...sites.values()].map((s) => s.host.close())));
  for (const s of sites.values()) await s.storage.close();
}

for (const writer of writers) {
  test(`RaftHost on SqliteHostStorage: 3 hosts x 8 groups recover every group from their files${withWriter(writer)}`, async () => {
    await withTempDir(async (tmp) => {
      const path = (id: HostId): string => tmp.file(`host-${id}.db`);
      const groups = [1, 2, 3, 4, 5, 6, 7, 8];
      let clock = testClock(writer);
      let net = testNetwork(clock);
      let sites = await startHosts(clock, net, path, groups, 1, writer);
      const led = await leaders(clock, sites, groups);
      for (const round of [1, 2]) {
        await clock.run(
          Promise.all(
            groups.map((g) =>
              sites.get(led.get(g)!)!.host.group(g).propose(enc.encode(`g${g}:${round}`))
            ),
          ),
        );
      }
      // Every host has applied both writes of every group.
      await clock.until(
        () => [...sites.values()].every((s) => groups.every((g) => s.logs.get(g)!.length === 2)),
        5_000,
      );
      const batched = [...sites.values()].map((s) => s.storage.stats);
      for (const st of batched) {
        assert.ok(st.saves > st.batches, `saves shared no batch: ${JSON.stringify(st)}`);
      }
      await stopHosts(clock, sites);
      net.close();

      // Restart every host from its file alone.
      clock = testClock(writer);
      net = testNetwork(clock);
      sites = await startHosts(clock, net, path, undefined, 2, writer);
      try {
        for (const s of sites.values()) assert.deepEqual(s.storage.groupIds(), groups);
        const again = await leaders(clock, sites, groups);
        // A third write per group commits the recovered log, which every replica applies.
        await clock.run(
          Promise.all(
            groups.map((g) =>
              sites.get(again.get(g)!)!.host.group(g).propose(enc.encode(`g${g}:3`))
            ),
          ),
        );
        await clock.until(
          () => [...sites.values()].every((s) => groups.every((g) => s.logs.get(g)!.length === 3)),
          5_000,
        );
        for (const [id, s] of sites) {
          for (const g of groups) {
            assert.deepEqual(
              s.logs.get(g),
              [`g${g}:1`, `g${g}:2`, `g${g}:3`],
              `group ${g} on host ${id}`,
            );
          }
        }
      } finally {
        await stopHosts(clock, sites);
        net.close();
      }
    });
  });
}

const crashWriter = fileURLToPath(new URL("./_crash_host_writer.ts", import.meta.url));

for (const writer of writers) {
  test(
    `SqliteHostStorage keeps every acknowledged batch of 8 groups across 25 SIGKILLs of its writer (seeded)${
      withWriter(writer)
    }`,
    { timeout: 180_000 },
    async () => {
      const tmp = tempDir();
      const path = tmp.file("crash-host.db");
      const master = newRand(writer === "worker" ? 0x4058 : 0x4057);
      // The model: the same steps on a MemoryHostStorage.
      const model = new MemoryHostStorage();
      for (const g of crashGroupIds) model.openGroup(g);
      let acked = 0;
      let inFlightLanded = 0;
      try {
        for (let run = 0; run < 25; run++) {
          const seed = randomIntN(master, 2 ** 31);
          const afterAcks = randomIntN(master, 20);
          const delayMs = randomIntN(master, 4);
          const args = [path, String(seed), writer];
          const r = await runUntilKilled(crashWriter, args, { afterAcks, delayMs });
          const label =
            `run ${run} (seed ${seed}, kill after ${afterAcks} acks + ${delayMs} ms, ${r.lastAck} acks)`;
          assertKilled(r, label);
          acked += r.lastAck;

          // The file (created by the first run, killed after it opened it)
          // opens, every group passes its checks...
          const host = await openSqliteHostStorage(path, { create: run === 0 });
          try {
            const got = hostDigest(host);
            // ...and holds the state after the last acknowledged step,
            const rand = newRand(seed);
            for (let n = 1; n <= r.lastAck; n++) {
              for (const w of nextHostStep(rand, model)) await applyHostWrite(model, w);
            }
            let want = hostDigest(model);
            // ...or after some writes of the step in flight: never a part of a batch.
            if (got !== want) {
              for (const w of nextHostStep(rand, model)) {
                await applyHostWrite(model, w);
                want = hostDigest(model);
                if (got === want) {
                  inFlightLanded++;
                  break;
                }
              }
            }
            assert.equal(got, want, `${label}: the file is at no step boundary or write after ack`);
          } finally {
            await host.close();
          }
        }
        assert.ok(acked >= 25 * 5, `only ${acked} steps were acknowledged`);
        const lastIndexes = crashGroupIds.map((g) => model.openGroup(g).lastIndex());
        assert.ok(lastIndexes.every((i) => i > 20), `logs stayed short: ${lastIndexes.join()}`);
        // Most batches held the saves of several groups.
        assert.ok(model.stats.saves > 3 * model.stats.batches, JSON.stringify(model.stats));
        assert.ok(inFlightLanded < 25, "every kill landed on a boundary");
      } finally {
        tmp.remove();
      }
    },
  );
}
