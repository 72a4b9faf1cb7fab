/**
 * A sharded key-value store: the key space split into G Raft groups, every
 * process (a host) running a replica of each group in one `RaftHost`: one
 * SQLite file for all of its groups (one transaction and one fsync per
 * batch of many groups' writes), one WebSocket connection per peer host for
 * all groups, one tick timer. Leaders spread over the hosts: each group has
 * a preferred host (round-robin by group ID), and its leader hands
 * leadership to it once that host is caught up, so G groups over H hosts
 * give each host about G/H leaders.
 *
 * Keys map to groups by hash (FNV-1a of the key's UTF-8 bytes, modulo G),
 * so writes spread evenly and a range listing reads every group. The HTTP
 * API is `kv_server.ts`'s (`PUT/GET/DELETE /kv/:key`, `POST
 * /kv/:key/incr`, `GET /kv?prefix=`), served by the key's group; a write
 * that reaches a host which does not lead the key's group is redirected
 * (307) to the one that does. `GET /raft/status` and `GET /raft/groups`
 * show the groups (leaders per host, groups without a leader, quiesced
 * groups); `/` is a live page of them. Runs on Bun, Deno and Node.
 *
 * Every host runs every group and the set of hosts is fixed by `--peers`;
 * a group's state machine lives in memory and is rebuilt from the group's
 * snapshot and log at start.
 *
 * @example Three hosts × 16 groups on one machine (one terminal each)
 * ```sh
 * head -c 24 /dev/urandom | base64 > cluster.secret
 * export RAFT_SECRET_FILE=cluster.secret RAFT_GROUPS=16
 * export RAFT_PEERS=1=http://127.0.0.1:8001,2=http://127.0.0.1:8002,3=http://127.0.0.1:8003
 * export RAFT_PEER_URLS=1=ws://127.0.0.1:9001,2=ws://127.0.0.1:9002,3=ws://127.0.0.1:9003
 * bun examples/sharded_kv.ts --id 1 --listen 127.0.0.1:8001 --peer-listen 127.0.0.1:9001
 * deno run -A examples/sharded_kv.ts --id 2 --listen 127.0.0.1:8002 --peer-listen 127.0.0.1:9002
 * node examples/sharded_kv.ts --id 3 --listen 127.0.0.1:8003 --peer-listen 127.0.0.1:9003
 * curl -X PUT -H 'content-type: application/json' -d '{"value":"world"}' -L http://127.0.0.1:8001/kv/hello
 * ```
 *
 * @module
 */

import process from "node:process";
import { exitOnStartupError, isMainModule } from "./_cli.ts";
import { parseShardedKvConfig, type ShardedKvConfig, shardedKvHelp } from "./_sharded_kv_config.ts";
import { type ShardedKvHost, startShardedKvHost } from "./_sharded_kv_start.ts";

export { createShardedKvApp, groupOfKey, LeaderBalancer, preferredLeader } from "./_sharded_kv.ts";
export { parseShardedKvConfig, type ShardedKvConfig } from "./_sharded_kv_config.ts";
export { type ShardedKvHost, startShardedKvHost } from "./_sharded_kv_start.ts";

/** Runs a host from the command line; see the module's documentation. */
async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(shardedKvHelp);
    return;
  }
  let config: ShardedKvConfig;
  let server: ShardedKvHost;
  try {
    config = parseShardedKvConfig(args, process.env);
    server = await startShardedKvHost(config, {
      onFatal: (line) => {
        console.error(`[host ${config.id}] FATAL ${line}`);
        const timer = setTimeout(() => process.exit(1), 1000);
        void server?.close().catch(() => {}).finally(() => {
          clearTimeout(timer);
          process.exit(1);
        });
      },
    });
  } catch (e) {
    exitOnStartupError(e, "sharded_kv: ");
  }
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) process.exit(1);
    stopping = true;
    server.close().then(
      () => {
        if (config.log !== "quiet") console.error(`[host ${config.id}] stopped on ${signal}`);
        process.exit(0);
      },
      (e) => {
        console.error(`[host ${config.id}] stopped on ${signal}, but closing failed: ${e}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}

if (isMainModule(import.meta)) await main();
