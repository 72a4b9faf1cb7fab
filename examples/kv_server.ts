/**
 * A replicated key-value store in one program: a Raft node with SQLite storage,
 * peers over WebSocket, and an HTTP API built on the Hono adapter. Runs on
 * Bun (`bun examples/kv_server.ts ...`), Deno
 * (`deno run -A examples/kv_server.ts ...`) and Node 22.18+ (`node
 * examples/kv_server.ts ...`, served by `@hono/node-server`, peers by `ws`).
 * This file runs it; the parts live beside it: the state machine
 * (`_kv_store.ts`), the HTTP routes (`_kv_app.ts`), the flags
 * (`_kv_config.ts`) and the startup (`_kv_start.ts`).
 *
 * API (JSON everywhere; errors are `{"error": {"code", "message"}}`):
 * Keys in paths are percent-decoded exactly once (`/kv/a%2Fb` is the key
 * `a/b`); a key with a `.` or `..` segment or a control character is
 * refused with 400 (see `pathKey` of `adapters/hono`).
 *
 * - `PUT /kv/:key` `{"value": "v"}` — write; acknowledged (200) only once
 *   the write is committed and applied. Compare-and-swap with
 *   `"ifValue": "old"` (or `null`: the key must not exist) and/or
 *   `"ifRevision": n` (the key's `modRevision`; 0: must not exist); a failed
 *   comparison answers 412 with the current item.
 * - `GET /kv/:key` — read, linearizable by default; `?consistency=stale`
 *   reads this node's state without asking the leader.
 * - `DELETE /kv/:key` (optionally `?ifRevision=n`).
 * - `POST /kv/:key/incr` (optionally `{"by": n}`, default 1) — adds to an
 *   integer counter (a missing key counts as 0) and answers as `PUT`
 *   does; a value that is not an integer answers 409 `not_an_integer`.
 *   Not idempotent: send it with an `Idempotency-Key` to retry safely.
 * - `GET /kv?prefix=user/` or `GET /kv?start=a&end=m` (end exclusive),
 *   `&limit=100` — sorted listing.
 * - Plus the cluster API of `adapters/hono` (`/raft/status`, `/metrics`,
 *   the live page at `/`, ...).
 *
 * Writes that reach a follower are redirected to the leader (307), or
 * forwarded with `--routing forward` or the request header
 * `Raft-Routing: forward`.
 *
 * Exactly-once writes: `PUT`, `DELETE` and `POST .../incr` honour an
 * `Idempotency-Key` request header (IETF
 * `draft-ietf-httpapi-idempotency-key-header`; `"key"` or `key`, 1 to 255
 * printable ASCII characters). The first request with a key applies; the
 * same key with the same request (method, path with query, body bytes),
 * sent again to any node, also after a leader change, gets the first
 * answer (status and body) without applying again; a retry that arrives
 * while the first is still in flight waits for its answer. The same key
 * with another request answers 422 `idempotency_key_reused`, a malformed
 * key 400 `invalid_idempotency_key`. Keys live in the replicated state
 * (they travel in snapshots) for `--idempotency-ttl-ms` (24 h by default),
 * counted on the leaders' clocks as stamped in the log, at most 100,000
 * keys (the oldest is dropped first). Answers that never reached the log
 * (400, 503 `no_leader`, ...) are not kept: a retry runs anew.
 *
 * Configuration: flags or environment variables; `--help` prints the
 * table ({@linkcode kvServerFlags}). A single node needs no secret (it then
 * refuses peers and admin requests); a cluster shares one secret, given
 * with `--secret-file` or `RAFT_SECRET` (`--secret` works too, but shows
 * in `ps`). The data directory is created 0700 and the database 0600.
 *
 * Startup failures print one line and exit with status 2 (bad
 * configuration: the flag is named) or 1 (the environment: a port in use,
 * a database locked by another process, a data directory that cannot be
 * used). A node whose storage or state machine fails stops (fail-stop),
 * prints one line (what failed, the file, what to do) and exits with
 * status 1, so that a supervisor restarts it; SIGTERM and SIGINT stop it
 * with one line and status 0.
 *
 * @example Three nodes on one machine (one terminal each)
 * ```sh
 * head -c 24 /dev/urandom | base64 > cluster.secret
 * export RAFT_SECRET_FILE=cluster.secret RAFT_PEERS=1=http://127.0.0.1:8001,2=http://127.0.0.1:8002,3=http://127.0.0.1:8003
 * bun examples/kv_server.ts --id 1 --listen 127.0.0.1:8001
 * deno run -A examples/kv_server.ts --id 2 --listen 127.0.0.1:8002
 * node examples/kv_server.ts --id 3 --listen 127.0.0.1:8003
 * curl -X PUT -H 'content-type: application/json' -d '{"value":"world"}' -L http://127.0.0.1:8001/kv/hello
 * ```
 *
 * @module
 */

import { join } from "node:path";
import process from "node:process";
import { exitOnStartupError, isMainModule } from "./_cli.ts";
import { type KvServerConfig, kvServerHelp, parseKvServerConfig } from "./_kv_config.ts";
import { fatalErrorLine, type KvServer, startKvServer } from "./_kv_start.ts";

export {
  type KvCommand,
  type KvItem,
  type KvRange,
  type KvResult,
  type KvState,
  KvStore,
} from "./_kv_store.ts";
export { SqliteKvStore } from "./_kv_sqlite_store.ts";
export { createKvApp, type KvAppOptions } from "./_kv_app.ts";
export {
  type KvServerConfig,
  kvServerFlags,
  kvServerHelp,
  parseKvServerConfig,
} from "./_kv_config.ts";
export { fatalErrorLine, type KvServer, type KvServerHooks, startKvServer } from "./_kv_start.ts";

/** Runs the server from the command line; see the module's documentation. */
async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(kvServerHelp);
    return;
  }
  const prefix = "kv_server: ";
  let config: KvServerConfig;
  let server: KvServer;
  const running: { server?: KvServer } = {};
  try {
    config = parseKvServerConfig(args, process.env);
    if (config.secretSource === "flag" && config.log !== "quiet") {
      console.error(
        `[node ${config.id}] WARN --secret is visible to every user in \`ps\`; pass --secret-file FILE or set RAFT_SECRET instead`,
      );
    }
    let fatal: Error | undefined;
    server = await startKvServer(config, {
      onStop: () => process.exit(0),
      onFatal: (e) => {
        fatal = e;
        exitAfterFatal(config, running.server, e);
      },
    });
    running.server = server;
    // A node that failed while starting (before the listener was there).
    if (server.node.closed && fatal === undefined) {
      exitAfterFatal(config, server, server.node.error ?? new Error("the node closed"));
    }
  } catch (e) {
    exitOnStartupError(e, prefix);
  }
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      // A second signal: do not wait for the close.
      process.exit(1);
    }
    stopping = true;
    server.close().then(
      () => {
        if (config.log !== "quiet") {
          console.error(`[node ${config.id}] stopped on ${signal}; data ${server.where}`);
        }
        process.exit(0);
      },
      (e) => {
        console.error(
          `[node ${config.id}] stopped on ${signal}, but closing failed: ${
            e instanceof Error ? e.message : e
          }`,
        );
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}

/**
 * Fail-stop: one line saying what failed and what to do, then exit status
 * 1 (a supervisor restarts the process), after closing what can be closed
 * within a second.
 */
function exitAfterFatal(config: KvServerConfig, server: KvServer | undefined, e: Error): void {
  const where = server?.where ??
    (config.dataDir === ":memory:" ? "in memory" : join(config.dataDir, `node-${config.id}.db`));
  console.error(`[node ${config.id}] FATAL ${fatalErrorLine(config.id, e, where)}`);
  const timer = setTimeout(() => process.exit(1), 1000);
  void (server?.close() ?? Promise.resolve()).catch(() => {}).finally(() => {
    clearTimeout(timer);
    process.exit(1);
  });
}

if (isMainModule(import.meta)) await main();
