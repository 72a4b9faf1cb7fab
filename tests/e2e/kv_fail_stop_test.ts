/**
 * Fail-stop of `examples/kv_server.ts` on a disk that fills up: three
 * server processes (on the runtime running the test), node 3's data
 * directory on a 1 MiB tmpfs. Large writes fill it; node 3's storage fails
 * (SQLite: "database or disk is full"), and the process must print one
 * FATAL line (what failed, the file, what to do) and exit with status 1,
 * never linger answering 503. Nodes 1 and 2 keep serving. Then the disk
 * "returns" (the tmpfs is remounted larger, keeping its files), node 3 is
 * restarted and catches up, with every acknowledged write in its copy.
 *
 * Mounting a tmpfs needs root with CAP_SYS_ADMIN (a container run as root
 * has it unless dropped); elsewhere the test is skipped and says so.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { currentRuntime, KvClient, LocalCluster } from "../../examples/local_cluster.ts";

/** A small tmpfs, when this process may mount one. */
function smallDisk(path: string): boolean {
  if (process.platform !== "linux" || process.getuid?.() !== 0) return false;
  mkdirSync(path, { recursive: true });
  return spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", path]).status === 0;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const canMount = (() => {
  const probe = mkdtempSync(join(tmpdir(), "raft-ts-mount-"));
  const ok = smallDisk(probe);
  if (ok) spawnSync("umount", [probe]);
  rmSync(probe, { recursive: true, force: true });
  return ok;
})();

test(
  `kv_server (${currentRuntime()}): a full disk stops its node with one line and status 1; the others serve; restarted, it catches up`,
  {
    timeout: 120_000,
    skip: canMount ? false : "needs root with CAP_SYS_ADMIN to mount a small tmpfs",
  },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "raft-ts-failstop-"));
    const disk = join(dir, "disk");
    assert.ok(smallDisk(disk));
    let cluster: LocalCluster | undefined;
    try {
      cluster = await LocalCluster.start({
        dataDir: join(dir, "data"),
        runtime: currentRuntime(),
        tickMs: 50,
        log: "warn",
        nodeArgs: { 3: ["--data-dir", disk] },
      });
      const c = cluster;
      await c.waitForLeader();
      const client = new KvClient(
        () => c.ids().filter((id) => c.running(id)).map((id) => c.url(id)),
        15_000,
      );

      // Fill node 3's disk: 40 KB values, until its process exits (bounded).
      const acked = new Map<string, string>();
      const big = "x".repeat(40_000);
      for (let i = 0; i < 200 && c.running(3); i++) {
        const r = await client.put(`k${i}`, `${i}:${big}`);
        if (r.acked) acked.set(`k${i}`, `${i}:${big}`);
      }
      for (let i = 0; i < 200 && c.running(3); i++) await sleep(50);
      assert.ok(!c.running(3), "node 3 exited once its disk was full");
      assert.deepEqual(c.exitOf(3), { code: 1, signal: null });
      const log = readFileSync(c.logPath(3), "utf8").split("\n");
      const fatal = log.filter((l) => l.includes("FATAL"));
      assert.equal(fatal.length, 1, log.join("\n"));
      assert.match(
        fatal[0]!,
        /node 3 stopped: its storage failed \(write_failed\): .*node-3\.db.*full.*Check the disk .*restart/,
      );
      assert.ok(acked.size >= 5, `writes acknowledged before the failure: ${acked.size}`);

      // The other two keep serving: a write, and linearizable reads on both.
      const after = await client.put("after", "yes");
      assert.ok(after.acked, after.acked ? "" : after.error);
      acked.set("after", "yes");
      for (const id of [1, 2]) {
        assert.equal((await client.get("after", { via: c.url(id) }))?.value, "yes");
      }

      // The disk returns (bigger, files kept); node 3 restarts and catches up.
      assert.equal(
        spawnSync("mount", ["-o", "remount,size=64m", disk]).status,
        0,
        "remount the tmpfs larger",
      );
      await c.startNode(3);
      await c.waitForCatchUp(3, 30_000);
      for (const [k, v] of acked) {
        const item = await client.get(k, { via: c.url(3), consistency: "stale" });
        assert.equal(item?.value, v, `${k} on node 3`);
      }
      console.log(
        `fail-stop: node 3 exited 1 after ${acked.size - 1} acknowledged writes filled its disk; ` +
          `restarted, it holds all ${acked.size}`,
      );
    } finally {
      await cluster?.stop();
      spawnSync("umount", [disk]);
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
