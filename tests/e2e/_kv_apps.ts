/**
 * Test helpers for the key-value server: its app over an in-memory
 * three-node cluster (the apps forward to each other in memory), and three
 * real `kv_server` processes whose logs are printed when a test fails.
 *
 * @module
 */

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createKvApp,
  type KvAppOptions,
  type KvResult,
  KvStore,
} from "../../examples/kv_server.ts";
import { currentRuntime, LocalCluster } from "../../examples/local_cluster.ts";
import { MemberDirectory, type RaftApp } from "../../adapters/hono/mod.ts";
import { MemoryNetwork } from "../../adapters/memory/mod.ts";
import { MemoryStorage, RaftNode, StateType } from "../../mod.ts";

/** One node of an in-memory key-value cluster. */
export interface KvMember {
  node: RaftNode<KvResult>;
  store: KvStore;
  storage: MemoryStorage;
  app: RaftApp;
}

/**
 * Starts three nodes (tick 10 ms) with the key-value app on each, at
 * `http://node-<id>`; forwarded requests reach the other apps in memory.
 *
 * @param options More options of every app.
 * @returns The members and a function that closes them.
 */
export async function startKvApps(
  options: KvAppOptions = {},
): Promise<{ members: KvMember[]; close(): Promise<void> }> {
  const net = new MemoryNetwork();
  const ids = [1, 2, 3];
  const members: KvMember[] = [];
  const apps = new Map<string, RaftApp>();
  const close = async (): Promise<void> => {
    await Promise.all(members.map((m) => m.node.close()));
    net.close();
  };
  try {
    for (const id of ids) {
      const storage = new MemoryStorage();
      const store = new KvStore();
      const node = await RaftNode.start<KvResult>({
        id,
        peers: ids,
        storage,
        transport: net.connect(id),
        stateMachine: store,
        tickMs: 10,
      });
      const app = createKvApp(node, store, {
        directory: new MemberDirectory(ids.map((i) => [i, { apiUrl: `http://node-${i}` }])),
        selfUrl: `http://node-${id}`,
        fetch: async (r) => await apps.get(new URL(r.url).host)!.fetch(r),
        ...options,
      });
      members.push({ node, store, storage, app });
      apps.set(`node-${id}`, app);
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { members, close };
}

/**
 * Waits for a leader among `members`.
 *
 * @param members The members.
 * @returns The leader.
 * @throws {Error} None within 5 s.
 */
export async function leaderOf(members: KvMember[]): Promise<KvMember> {
  for (let i = 0; i < 500; i++) {
    const l = members.find((m) => m.node.status().raftState === StateType.StateLeader);
    if (l !== undefined) return l;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error("no leader");
}

/**
 * Runs `fn` on three fresh `kv_server` processes (this runtime, tick 50 ms,
 * `--log warn`); prints the tails of their logs when it fails.
 *
 * @param fn The test.
 */
export async function withLocalCluster(
  fn: (cluster: LocalCluster) => Promise<void>,
): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), "raft-ts-e2e-"));
  let cluster: LocalCluster | undefined;
  let ok = false;
  try {
    cluster = await LocalCluster.start({
      dataDir,
      runtime: currentRuntime(),
      tickMs: 50,
      log: "warn",
    });
    await fn(cluster);
    ok = true;
  } finally {
    await cluster?.stop();
    if (!ok && cluster !== undefined) {
      for (const id of cluster.ids()) {
        const log = readFileSync(cluster.logPath(id), "utf8").split("\n").slice(-40).join("\n");
        console.error(`--- node ${id} log (tail)\n${log}`);
      }
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
}
