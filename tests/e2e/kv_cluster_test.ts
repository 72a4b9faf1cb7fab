/**
 * End to end: three `kv_server` processes on loopback (run by the runtime
 * running the test), a bounded client workload through the HTTP API while
 * the leader is killed (SIGKILL) and restarted from its SQLite file, then a
 * check that every acknowledged write is readable, on every node, with the
 * value last acknowledged; with the keys in SQLite and in memory.
 *
 * Each key has one sequential writer that writes increasing values
 * (`w<worker>-<n>`), so the check is exact: the final value of a key is the
 * last acknowledged one, or a later attempt whose outcome was unknown (the
 * connection broke or the request timed out) — never an older one, never
 * a value that was not written.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { currentRuntime, KvClient, LocalCluster } from "../../examples/local_cluster.ts";

const workers = 4;
const writesPerWorker = 30;

interface KeyHistory {
  key: string;
  /** The sequence number of the last acknowledged write (0: none). */
  acked: number;
  /** The highest sequence number attempted. */
  attempted: number;
  /** Attempts after the last acknowledgement whose outcome is unknown. */
  unknownAfterAck: number[];
}

function seqOf(value: string): number {
  const m = /^w\d+-(\d+)$/.exec(value);
  if (m === null) throw new Error(`unexpected value ${value}`);
  return Number(m[1]);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// The keys in SQLite tables (a restarted node replays nothing it applied)
// and in memory (rebuilt from the log).
for (const state of ["sqlite", "memory"] as const) {
  test(
    `kv_server cluster (${currentRuntime()}, --state ${state}): acknowledged writes survive killing and restarting the leader`,
    { timeout: 60_000 },
    async () => {
      const dataDir = mkdtempSync(join(tmpdir(), "raft-ts-e2e-"));
      const cluster = await LocalCluster.start({
        dataDir,
        runtime: currentRuntime(),
        tickMs: 50,
        log: "warn",
        nodeArgs: { 1: ["--state", state], 2: ["--state", state], 3: ["--state", state] },
      });
      let ok = false;
      try {
        const t0 = Date.now();
        const first = await cluster.waitForLeader();
        const client = new KvClient(
          () => cluster.ids().filter((id) => cluster.running(id)).map((id) => cluster.url(id)),
          15_000,
        );

        // A few bad requests against the real server: clear 4xx, nothing changes.
        const url = cluster.url(first.id);
        const bad = await fetch(`${url}/kv/x`, {
          method: "PUT",
          headers: { "content-type": "application/json" },
          body: "{oops",
        });
        assert.equal(bad.status, 400);
        assert.equal((await bad.json()).error.code, "malformed_json");
        const admin = await fetch(`${url}/raft/members`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: '{"id":9}',
        });
        assert.equal(admin.status, 401);
        await admin.body?.cancel();
        const wrong = await fetch(`${url}/kv/x`, { method: "PATCH" });
        assert.equal(wrong.status, 405);
        await wrong.body?.cancel();
        assert.equal(await client.get("x"), null);

        const histories: KeyHistory[] = [];
        let done = 0;
        const run = async (w: number): Promise<void> => {
          const h: KeyHistory = { key: `k${w}`, acked: 0, attempted: 0, unknownAfterAck: [] };
          histories.push(h);
          for (let n = 1; n <= writesPerWorker; n++) {
            h.attempted = n;
            const r = await client.put(h.key, `w${w}-${n}`);
            if (r.acked) {
              assert.equal(r.item.value, `w${w}-${n}`);
              h.acked = n;
              h.unknownAfterAck = [];
            } else if (r.unknown) {
              h.unknownAfterAck.push(n);
            } else {
              throw new Error(`write ${h.key}=${n} refused: ${r.error}`);
            }
            done++;
          }
        };
        const workload = Promise.all(Array.from({ length: workers }, (_, w) => run(w + 1)));

        // Kill the leader once a third of the writes are done; restart it after another third.
        const total = workers * writesPerWorker;
        while (done < total / 3) await sleep(10);
        await cluster.kill(first.id);
        const second = await cluster.waitForLeader(20_000, first.id);
        assert.notEqual(second.id, first.id);
        assert.ok(second.term > first.term);
        while (done < (2 * total) / 3 && Date.now() - t0 < 40_000) await sleep(10);
        await cluster.startNode(first.id);
        await workload;

        // Every node catches up; then every key reads as last acknowledged (or a later unknown attempt).
        for (const id of cluster.ids()) await cluster.waitForCatchUp(id, 20_000);
        // The leader's progress tracking agrees: every member's log matches up to its last index.
        const caughtUp = async (): Promise<boolean> => {
          const { id: lid } = await cluster.waitForLeader();
          const ls = await cluster.status(lid);
          return ls !== null && ls.members.length === 3 &&
            ls.members.every((m) =>
              m.progress?.match === ls.lastIndex && m.progress.state === "replicate"
            );
        };
        for (let i = 0; i < 100 && !(await caughtUp()); i++) await sleep(50);
        assert.ok(await caughtUp(), "the leader sees every member caught up");
        let exact = 0;
        for (const h of histories) {
          assert.ok(h.acked > 0, `${h.key}: no write acknowledged`);
          const item = await client.get(h.key);
          assert.ok(item !== null, `${h.key}: missing`);
          const seq = seqOf(item.value);
          assert.ok(
            seq === h.acked || h.unknownAfterAck.includes(seq),
            `${h.key}: read ${item.value}, last acknowledged ${h.acked}, unknown after it ${h.unknownAfterAck}`,
          );
          if (seq === h.acked) exact++;
          for (const id of cluster.ids()) {
            const local = await client.get(h.key, { via: cluster.url(id), consistency: "stale" });
            assert.equal(local?.value, item.value, `${h.key} on node ${id}`);
          }
        }
        assert.ok(exact >= 1);
        const unknown = histories.reduce((n, h) => n + h.unknownAfterAck.length, 0);
        console.log(
          `  ${total} writes, leader ${first.id} -> ${second.id}, ${exact}/${histories.length} keys exact, ` +
            `${unknown} outcomes unknown at the end, ${((Date.now() - t0) / 1000).toFixed(1)} s`,
        );
        ok = true;
      } finally {
        await cluster.stop();
        if (!ok) {
          for (const id of cluster.ids()) {
            const log = readFileSync(cluster.logPath(id), "utf8").split("\n").slice(-40).join("\n");
            console.error(`--- node ${id} log (tail)\n${log}`);
          }
        }
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  );
}
