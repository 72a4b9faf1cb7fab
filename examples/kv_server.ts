/**
 * A replicated key-value store in one file: a Raft node with SQLite storage,
 * peers over WebSocket, and an HTTP API built on the Hono adapter. Runs on
 * Bun (`bun examples/kv_server.ts ...`), Deno
 * (`deno run -A examples/kv_server.ts ...`) and Node 22.18+ (`node
 * examples/kv_server.ts ...`, served by `@hono/node-server`, peers by `ws`).
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

import { accessSync, constants as fsConstants, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import {
  type Command,
  consoleLogger,
  defaultSessionLimits,
  discardLogger,
  type Logger,
  MemoryStorage,
  type NodeStorage,
  RaftNode,
  type StateMachine,
  type Transport,
} from "../mod.ts";
import {
  openSqliteStorage,
  type SqliteStorage,
  SqliteStorageError,
} from "../adapters/sqlite/mod.ts";
import { type PeerAcceptor, WebSocketTransport } from "../adapters/websocket/mod.ts";
import {
  createRaftApp,
  type HonoContext,
  httpError,
  type IdempotencyOptions,
  idempotencyOptions,
  type LeaderRouting,
  leaderRoutingOptions,
  MemberDirectory,
  pathKey,
  type RaftApp,
  type RaftAppOptions,
  RaftMetrics,
  readJsonObject,
  rejectUnknownFields,
  routeToLeader,
  TransportMonitor,
} from "../adapters/hono/mod.ts";
import { demoRoutes, demoTokenOf, restartThrough } from "./local_cluster.ts";
import {
  CliError,
  exitOnStartupError,
  type FlagTable,
  type FlagValues,
  helpText,
  isMainModule,
  parseFlags,
} from "./_cli.ts";
import { type RuntimeServer, runtimeServer } from "./_serve.ts";

// ---------------------------------------------------------------------------
// The state machine

/** One key's record. */
export interface KvItem {
  /** The key. */
  key: string;
  /** The value. */
  value: string;
  /** The log index of the write that created the key. */
  createRevision: number;
  /** The log index of the last write to the key. */
  modRevision: number;
  /** Writes to the key since it was created (1 for the first). */
  version: number;
}

/** A command, as proposed through Raft. */
export type KvCommand =
  | { op: "put"; key: string; value: string; ifRevision?: number; ifValue?: string | null }
  | { op: "delete"; key: string; ifRevision?: number }
  | { op: "incr"; key: string; by: number };

/** What applying a command produced. */
export type KvResult =
  | { ok: true; revision: number; item: KvItem | null; prev: KvItem | null }
  | { ok: false; revision: number; reason: "precondition_failed"; current: KvItem | null }
  | { ok: false; revision: number; reason: "not_an_integer"; current: KvItem | null }
  | { ok: false; revision: number; reason: "not_found" | "invalid_command"; current: null };

/** Options of a range listing. */
export interface KvRange {
  /** Keys starting with this. */
  prefix?: string;
  /** Keys at or after this. */
  start?: string;
  /** Keys before this. */
  end?: string;
  /** Items at most. */
  limit: number;
}

type Rec = Omit<KvItem, "key">;

/** The value of a counter: a decimal safe integer, or `undefined`. */
function integerOf(value: string): number | undefined {
  if (!/^-?(?:0|[1-9][0-9]{0,15})$/.test(value)) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * A sorted in-memory map, replicated by applying the same commands in the
 * same order on every node. Deterministic: the result of a command depends
 * only on the commands before it.
 */
export class KvStore implements StateMachine<KvResult> {
  readonly #map = new Map<string, Rec>();
  /** The keys, sorted (by UTF-16 code units, as `<` compares). */
  #keys: string[] = [];
  #revision = 0;

  /** The index of the last applied command. */
  get revision(): number {
    return this.#revision;
  }

  /** The number of keys. */
  get size(): number {
    return this.#keys.length;
  }

  /**
   * Reads a key.
   *
   * @param key The key.
   * @returns The item, or `null`.
   */
  get(key: string): KvItem | null {
    const r = this.#map.get(key);
    return r === undefined ? null : { key, ...r };
  }

  /**
   * Lists keys in order.
   *
   * @param range The keys to list.
   * @returns The items and whether more follow.
   */
  range(range: KvRange): { items: KvItem[]; more: boolean } {
    const from = range.prefix ?? range.start ?? "";
    const items: KvItem[] = [];
    for (let i = this.#lowerBound(from); i < this.#keys.length; i++) {
      const k = this.#keys[i]!;
      if (range.prefix !== undefined && !k.startsWith(range.prefix)) break;
      if (range.end !== undefined && k >= range.end) break;
      if (items.length === range.limit) return { items, more: true };
      items.push({ key: k, ...this.#map.get(k)! });
    }
    return { items, more: false };
  }

  #lowerBound(key: string): number {
    let lo = 0;
    let hi = this.#keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#keys[mid]! < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Applies committed commands.
   *
   * @param commands The commands, in log order.
   * @returns One result per command.
   */
  apply(commands: readonly Command[]): KvResult[] {
    return commands.map((c) => this.#applyOne(c));
  }

  #applyOne(c: Command): KvResult {
    this.#revision = c.index;
    let cmd: KvCommand;
    try {
      cmd = JSON.parse(new TextDecoder().decode(c.data)) as KvCommand;
    } catch {
      return { ok: false, revision: c.index, reason: "invalid_command", current: null };
    }
    if (typeof cmd?.key !== "string") {
      return { ok: false, revision: c.index, reason: "invalid_command", current: null };
    }
    const prev = this.get(cmd.key);
    const ifRevision = cmd.op === "incr" ? undefined : cmd.ifRevision;
    const failed = (ifRevision !== undefined && (prev?.modRevision ?? 0) !== ifRevision) ||
      (cmd.op === "put" && cmd.ifValue !== undefined && (prev?.value ?? null) !== cmd.ifValue);
    if (failed) {
      return { ok: false, revision: c.index, reason: "precondition_failed", current: prev };
    }
    if (cmd.op === "delete") {
      if (prev === null) {
        return { ok: false, revision: c.index, reason: "not_found", current: null };
      }
      this.#map.delete(cmd.key);
      this.#keys.splice(this.#lowerBound(cmd.key), 1);
      return { ok: true, revision: c.index, item: null, prev };
    }
    let value: string;
    if (cmd.op === "incr") {
      const n = integerOf(prev?.value ?? "0");
      if (!Number.isSafeInteger(cmd.by)) {
        return { ok: false, revision: c.index, reason: "invalid_command", current: null };
      }
      if (n === undefined || !Number.isSafeInteger(n + cmd.by)) {
        return { ok: false, revision: c.index, reason: "not_an_integer", current: prev };
      }
      value = String(n + cmd.by);
    } else if (cmd.op === "put" && typeof cmd.value === "string") {
      value = cmd.value;
    } else {
      return { ok: false, revision: c.index, reason: "invalid_command", current: null };
    }
    const rec: Rec = {
      value,
      createRevision: prev?.createRevision ?? c.index,
      modRevision: c.index,
      version: (prev?.version ?? 0) + 1,
    };
    if (prev === null) this.#keys.splice(this.#lowerBound(cmd.key), 0, cmd.key);
    this.#map.set(cmd.key, rec);
    return { ok: true, revision: c.index, item: { key: cmd.key, ...rec }, prev };
  }

  /**
   * Serializes the whole map.
   *
   * @returns JSON bytes.
   */
  snapshot(): Uint8Array {
    const items = this.#keys.map((k) => [k, this.#map.get(k)!] as const);
    return new TextEncoder().encode(JSON.stringify({ revision: this.#revision, items }));
  }

  /**
   * Replaces the map with a snapshot's.
   *
   * @param data What `snapshot()` returned.
   */
  restore(data: Uint8Array): void {
    const s = JSON.parse(new TextDecoder().decode(data)) as {
      revision: number;
      items: [string, Rec][];
    };
    this.#map.clear();
    for (const [k, r] of s.items) this.#map.set(k, r);
    this.#keys = s.items.map(([k]) => k);
    this.#revision = s.revision;
  }
}

// ---------------------------------------------------------------------------
// The HTTP API

/** Options of {@linkcode createKvApp}. */
export interface KvAppOptions extends RaftAppOptions {
  /**
   * The largest value, in UTF-8 bytes.
   * @default {65536}
   */
  maxValueBytes?: number;
  /**
   * The largest key, in UTF-8 bytes.
   * @default {1024}
   */
  maxKeyBytes?: number;
}

const utf8 = new TextEncoder();

/**
 * The key-value routes on top of the Raft app of `adapters/hono`.
 *
 * @param node The node replicating `store`.
 * @param store The state machine.
 * @param options The Raft app's options plus size limits.
 * @returns The app.
 */
export function createKvApp(
  node: RaftNode<KvResult>,
  store: KvStore,
  options: KvAppOptions = {},
): RaftApp {
  const maxValueBytes = options.maxValueBytes ?? 65536;
  const maxKeyBytes = options.maxKeyBytes ?? 1024;
  const directory = options.directory ?? new MemberDirectory();
  const metrics = options.metrics ?? new RaftMetrics();
  // Writes route like the app's own (a leader not heard from is taken for gone).
  const routing = leaderRoutingOptions(options, directory);
  const app = createRaftApp(node, {
    ...options,
    page: options.page === false
      ? false
      : { title: "raft-ts key-value store", kvPath: "/kv", ...options.page },
    directory,
    metrics,
  });

  // Keys in paths: percent-decoded once; '.'/'..' segments and control characters refused.
  const keyRoute = "/kv/:key{[\\s\\S]+}";
  const keyOf = (c: HonoContext): string => pathKey(c, "/kv/", maxKeyBytes);

  function stale(q: string | undefined): boolean {
    if (q === undefined || q === "linearizable") return false;
    if (q === "stale") return true;
    throw httpError(
      400,
      "invalid_consistency",
      `Cannot read: 'consistency' must be "linearizable" or "stale", not ${JSON.stringify(q)}`,
    );
  }

  function revisionParam(v: unknown, name: string): number | undefined {
    if (v === undefined) return undefined;
    const n = typeof v === "string" && /^\d{1,15}$/.test(v) ? Number(v) : v;
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
      throw httpError(
        400,
        "invalid_revision",
        `Cannot use '${name}': it must be a non-negative integer, not ${JSON.stringify(v)}`,
      );
    }
    return n;
  }

  async function propose(cmd: KvCommand, options: IdempotencyOptions): Promise<KvResult> {
    return await metrics.observeProposal(
      node.propose(utf8.encode(JSON.stringify(cmd)), options),
    );
  }

  function failure(r: KvResult & { ok: false }, key: string): never {
    if (r.reason === "precondition_failed") {
      throw httpError(
        412,
        "precondition_failed",
        `Cannot write '${key}': the comparison failed (current revision ${
          r.current?.modRevision ?? 0
        })`,
        { current: r.current },
      );
    }
    if (r.reason === "not_an_integer") {
      throw httpError(
        409,
        "not_an_integer",
        `Cannot increment '${key}': its value is not an integer, or the sum is out of the safe integer range`,
        { current: r.current },
      );
    }
    if (r.reason === "not_found") {
      throw httpError(404, "key_not_found", `Cannot delete '${key}': no such key`);
    }
    throw httpError(500, "invalid_command", `Cannot apply the command for '${key}'`);
  }

  app.get("/kv", async (c) => {
    const q = c.req.query();
    rejectUnknownFields(q, ["prefix", "start", "end", "limit", "consistency"]);
    if (q.prefix !== undefined && (q.start !== undefined || q.end !== undefined)) {
      throw httpError(400, "invalid_range", "Cannot list: use either 'prefix' or 'start'/'end'");
    }
    const limit = q.limit === undefined ? 100 : Number(q.limit);
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > 1000) {
      throw httpError(
        400,
        "invalid_limit",
        "Cannot list: 'limit' must be an integer from 1 to 1000",
      );
    }
    const range: KvRange = { limit };
    if (q.prefix !== undefined) range.prefix = q.prefix;
    if (q.start !== undefined) range.start = q.start;
    if (q.end !== undefined) range.end = q.end;
    const list = () => ({ ...store.range(range), revision: store.revision });
    return c.json(stale(q.consistency) ? list() : await node.read(list));
  });

  app.get(keyRoute, async (c) => {
    const key = keyOf(c);
    const q = c.req.query();
    rejectUnknownFields(q, ["consistency"]);
    const item = stale(q.consistency) ? store.get(key) : await node.read(() => store.get(key));
    if (item === null) throw httpError(404, "key_not_found", `Cannot find key '${key}'`);
    return c.json(item);
  });

  app.put(keyRoute, async (c) => {
    const key = keyOf(c);
    const body = await readJsonObject(c, 2 * maxValueBytes + 4096);
    rejectUnknownFields(body, ["value", "ifValue", "ifRevision"]);
    if (typeof body.value !== "string") {
      throw httpError(400, "invalid_value", "Cannot write: 'value' must be a string");
    }
    const size = utf8.encode(body.value).length;
    if (size > maxValueBytes) {
      throw httpError(
        413,
        "value_too_large",
        `Cannot write: the value is ${size} bytes, more than the limit of ${maxValueBytes}`,
        { maxValueBytes },
      );
    }
    if (body.ifValue !== undefined && body.ifValue !== null && typeof body.ifValue !== "string") {
      throw httpError(400, "invalid_value", "Cannot write: 'ifValue' must be a string or null");
    }
    const cmd: KvCommand = { op: "put", key, value: body.value };
    const ifRevision = revisionParam(body.ifRevision, "ifRevision");
    if (ifRevision !== undefined) cmd.ifRevision = ifRevision;
    if (body.ifValue !== undefined) cmd.ifValue = body.ifValue as string | null;
    const once = await idempotencyOptions(c);
    const redirect = await routeToLeader(c, node, routing);
    if (redirect !== undefined) return redirect;
    const r = await propose(cmd, once);
    if (!r.ok) failure(r, key);
    return c.json({ ...r.item!, revision: r.revision, prev: r.prev });
  });

  app.post(`${keyRoute}/incr`, async (c) => {
    const key = pathKey(c, "/kv/", maxKeyBytes, { suffix: "/incr" });
    // The body is optional: none means `{"by": 1}`.
    const bodyless = c.req.header("content-type") === undefined &&
      (c.req.header("content-length") ?? "0") === "0" &&
      c.req.header("transfer-encoding") === undefined;
    const body = bodyless ? {} : await readJsonObject(c, 4096);
    rejectUnknownFields(body, ["by"]);
    const by = body.by ?? 1;
    if (typeof by !== "number" || !Number.isSafeInteger(by)) {
      throw httpError(400, "invalid_by", "Cannot increment: 'by' must be an integer");
    }
    const once = await idempotencyOptions(c);
    const redirect = await routeToLeader(c, node, routing);
    if (redirect !== undefined) return redirect;
    const r = await propose({ op: "incr", key, by }, once);
    if (!r.ok) failure(r, key);
    return c.json({ ...r.item!, revision: r.revision, prev: r.prev });
  });

  app.delete(keyRoute, async (c) => {
    const key = keyOf(c);
    const q = c.req.query();
    rejectUnknownFields(q, ["ifRevision"]);
    const cmd: KvCommand = { op: "delete", key };
    const ifRevision = revisionParam(q.ifRevision, "ifRevision");
    if (ifRevision !== undefined) cmd.ifRevision = ifRevision;
    const once = await idempotencyOptions(c);
    const redirect = await routeToLeader(c, node, routing);
    if (redirect !== undefined) return redirect;
    const r = await propose(cmd, once);
    if (!r.ok) failure(r, key);
    return c.json({ key, deleted: true, revision: r.revision, prev: r.prev });
  });

  return app;
}

// ---------------------------------------------------------------------------
// Configuration

/** The flags of `kv_server.ts` and their environment variables (`--help` prints them). */
export const kvServerFlags = {
  id: { type: "string", value: "N", env: "RAFT_ID", help: "this node's ID (required)" },
  listen: {
    type: "string",
    value: "host:port",
    env: "RAFT_LISTEN",
    help: "where the HTTP API listens (default 127.0.0.1:8080; port 0: any free port)",
  },
  advertise: {
    type: "string",
    value: "URL",
    env: "RAFT_ADVERTISE",
    help: "the API URL peers and clients use (default: this node's --peers URL, else --listen)",
  },
  peers: {
    type: "string",
    value: "1=URL,2=URL",
    env: "RAFT_PEERS",
    help: "every member's API URL (http:// or https://), this node's included",
  },
  "peer-listen": {
    type: "string",
    value: "host:port",
    env: "RAFT_PEER_LISTEN",
    help: "peers on a second port (default: the API's port, path /raft)",
  },
  "peer-urls": {
    type: "string",
    value: "1=URL,2=URL",
    env: "RAFT_PEER_URLS",
    help: "with --peer-listen: every member's ws:// or wss:// URL",
  },
  "data-dir": {
    type: "string",
    value: "DIR",
    env: "RAFT_DATA_DIR",
    help: "where node-<id>.db lives, created 0700 (default ./data; :memory: keeps nothing)",
  },
  "sqlite-writer": {
    type: "string",
    value: "inline|worker",
    env: "RAFT_SQLITE_WRITER",
    help: "where SQLite writes: on the event loop (default inline) or on a thread of its own",
  },
  "secret-file": {
    type: "string",
    value: "FILE",
    env: "RAFT_SECRET_FILE",
    help: "a file holding the cluster secret (16+ bytes, the same on every node)",
  },
  secret: {
    type: "string",
    value: "S",
    env: "RAFT_SECRET",
    help: "the cluster secret itself (as a flag it shows in `ps`: prefer the file or variable)",
  },
  "cluster-id": {
    type: "string",
    value: "NAME",
    env: "RAFT_CLUSTER_ID",
    help: "the cluster's name (default kv)",
  },
  join: {
    type: "boolean",
    env: "RAFT_JOIN",
    help: "do not bootstrap: wait to be added with POST /raft/members",
  },
  routing: {
    type: "string",
    value: "MODE",
    env: "RAFT_ROUTING",
    help: "how followers answer writes: redirect (default), forward or error",
  },
  "tick-ms": { type: "string", value: "MS", env: "RAFT_TICK_MS", help: "Raft tick (default 100)" },
  "election-tick": {
    type: "string",
    value: "N",
    env: "RAFT_ELECTION_TICK",
    help: "ticks before an election (default 10)",
  },
  "snapshot-entries": {
    type: "string",
    value: "N",
    env: "RAFT_SNAPSHOT_ENTRIES",
    help: "entries between snapshots (default 100000, as etcd)",
  },
  "max-value-bytes": {
    type: "string",
    value: "N",
    env: "RAFT_MAX_VALUE_BYTES",
    help: "the largest value (default 65536)",
  },
  "idempotency-ttl-ms": {
    type: "string",
    value: "MS",
    env: "RAFT_IDEMPOTENCY_TTL_MS",
    help:
      "how long an Idempotency-Key's first answer is kept (default 86400000: 24 h; the same on every node)",
  },
  demo: { type: "boolean", env: "RAFT_DEMO", help: "demo buttons on the page (partition, stop)" },
  "demo-restart-url": {
    type: "string",
    value: "URL",
    env: "RAFT_DEMO_RESTART_URL",
    help: "with --demo: what restarts stopped nodes (a Restart button; local_cluster.ts sets it)",
  },
  log: {
    type: "string",
    value: "LEVEL",
    env: "RAFT_LOG",
    help: "debug, info (default), warn or quiet",
  },
  help: { type: "boolean", help: "print this help and exit" },
} as const satisfies FlagTable;

/** The `--help` text of `kv_server.ts`. */
export const kvServerHelp: string = helpText(
  "kv_server.ts --id N [--listen host:port] [--peers 1=URL,2=URL,...] [--secret-file FILE] [flags]",
  kvServerFlags,
  [
    "A flag wins over its environment variable. A single node (no --peers, or only itself)",
    "needs no secret; peers and admin routes are then refused. A cluster needs one secret,",
    "the same on every node: --secret-file FILE or RAFT_SECRET (--secret shows in `ps`).",
    "",
    "Exit status: 0 after SIGTERM/SIGINT, 2 for bad configuration, 1 when the environment",
    "fails (port in use, database locked, data directory unusable) or the node stops after",
    "a fatal error (a failing disk): restart it once the cause is fixed.",
  ],
);

/** The server's configuration. */
export interface KvServerConfig {
  /** This node's ID. */
  id: number;
  /** Where the HTTP API listens. */
  hostname: string;
  /** The HTTP API's port (0: any free port). */
  port: number;
  /** The API URL others use (default: from `peers`, else from hostname and port). */
  advertiseUrl: string | undefined;
  /** Every member's API URL, by ID (this node's included). */
  peers: Map<number, string>;
  /** Peers on a second port: where this node's transport listens. */
  peerListen: { hostname: string; port: number } | undefined;
  /** Peers on a second port: every member's WebSocket URL. */
  peerUrls: Map<number, string>;
  /** Where the database lives, or `":memory:"`. */
  dataDir: string;
  /** Where SQLite writes: on the event loop, or on the storage's writer thread. */
  sqliteWriter: "inline" | "worker";
  /**
   * The cluster secret; `undefined` for a single node, which then refuses
   * peers and admin requests.
   */
  secret: string | undefined;
  /** Where the secret came from (`"flag"`: visible in `ps`). */
  secretSource: "file" | "flag" | "env" | undefined;
  /** The cluster's name. */
  clusterId: string;
  /** Join an existing cluster instead of bootstrapping. */
  join: boolean;
  /** How followers answer writes. */
  routing: LeaderRouting;
  /** The Raft tick. */
  tickMs: number;
  /** Ticks before an election. */
  electionTick: number;
  /** Demo buttons on the page. */
  demo: boolean;
  /** With `demo`: the route that restarts stopped nodes (see `restartThrough`). */
  demoRestartUrl: string | undefined;
  /** Log level. */
  log: "debug" | "info" | "warn" | "quiet";
  /** Take a snapshot every this many entries. */
  snapshotEntries: number;
  /** The largest value. */
  maxValueBytes: number;
  /** How long an `Idempotency-Key`'s first answer is kept (the node's `sessionLimits.keyTtlMs`). */
  idempotencyTtlMs: number;
}

function configError(message: string): CliError {
  return new CliError(2, message);
}

function parseHostPort(s: string, what: string): { hostname: string; port: number } {
  const m = /^(.*):(\d{1,5})$/.exec(s);
  const port = m === null ? NaN : Number(m[2]);
  if (m === null || m[1] === "" || port > 65535) {
    throw configError(`Cannot use ${what}: expected host:port, got '${s}'`);
  }
  return { hostname: m[1]!.replace(/^\[(.*)\]$/, "$1"), port };
}

/** A URL with one of `protocols`, a host and no query or fragment; trailing slashes dropped. */
function checkUrl(url: string, protocols: readonly string[], what: string): string {
  let u: URL | undefined;
  try {
    u = new URL(url);
  } catch {
    u = undefined;
  }
  if (u === undefined || !protocols.includes(u.protocol) || u.hostname === "") {
    throw configError(
      `Cannot use ${what}: '${url}' is not a ${protocols.map((p) => `${p}//`).join(" or ")} URL`,
    );
  }
  if (u.search !== "" || u.hash !== "" || u.username !== "" || u.password !== "") {
    throw configError(`Cannot use ${what}: '${url}' must not carry credentials, a query or a #`);
  }
  return url.replace(/\/+$/, "");
}

function parseIdMap(
  s: string,
  protocols: readonly string[],
  what: string,
): Map<number, string> {
  const out = new Map<number, string>();
  for (const part of s.split(",").map((p) => p.trim()).filter((p) => p !== "")) {
    const m = /^(\d+)=(.+)$/.exec(part);
    if (m === null || !Number.isSafeInteger(Number(m[1])) || !(Number(m[1]) > 0)) {
      throw configError(`Cannot use ${what}: expected id=url pairs, got '${part}'`);
    }
    if (out.has(Number(m[1]))) {
      throw configError(`Cannot use ${what}: node ${m[1]} is given twice`);
    }
    out.set(Number(m[1]), checkUrl(m[2]!, protocols, `${what} (node ${m[1]})`));
  }
  return out;
}

function positiveInt(s: string, what: string): number {
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw configError(`Cannot use ${what}: expected a positive integer, got '${s}'`);
  }
  return n;
}

function readSecretFile(path: string, what: string): string {
  try {
    // A trailing newline (as `echo` writes) is not part of the secret.
    return readFileSync(path, "utf8").replace(/[\r\n]+$/, "");
  } catch (e) {
    throw configError(`Cannot read ${what} '${path}': ${fsReason(e)}`);
  }
}

/** The secret and where it came from: a flag wins over the environment; a file over a value. */
function secretOf(
  values: FlagValues<typeof kvServerFlags>,
  env: Record<string, string | undefined>,
): { secret: string | undefined; source: KvServerConfig["secretSource"] } {
  if (values["secret-file"] !== undefined && values.secret !== undefined) {
    throw configError("Cannot start: give either --secret-file or --secret, not both");
  }
  if (values["secret-file"] !== undefined) {
    return { secret: readSecretFile(values["secret-file"], "--secret-file"), source: "file" };
  }
  if (values.secret !== undefined) return { secret: values.secret, source: "flag" };
  if (env.RAFT_SECRET_FILE !== undefined && env.RAFT_SECRET !== undefined) {
    throw configError("Cannot start: set either RAFT_SECRET_FILE or RAFT_SECRET, not both");
  }
  if (env.RAFT_SECRET_FILE !== undefined) {
    return { secret: readSecretFile(env.RAFT_SECRET_FILE, "RAFT_SECRET_FILE"), source: "file" };
  }
  if (env.RAFT_SECRET !== undefined) return { secret: env.RAFT_SECRET, source: "env" };
  return { secret: undefined, source: undefined };
}

/**
 * Reads the configuration from flags, falling back to environment variables.
 *
 * @param args The command-line arguments (without the program).
 * @param env The environment.
 * @returns The configuration.
 * @throws {CliError} With exit status 2 when a flag or value is unknown,
 *   missing or invalid; the message names it.
 */
export function parseKvServerConfig(
  args: readonly string[],
  env: Record<string, string | undefined>,
): KvServerConfig {
  const values = parseFlags(args, kvServerFlags);
  const get = (flag: keyof typeof values): string | undefined => {
    const v = values[flag];
    const name = kvServerFlags[flag] as { env?: string };
    return typeof v === "string" ? v : name.env === undefined ? undefined : env[name.env];
  };
  const flag = (f: "join" | "demo"): boolean =>
    values[f] === true || ["1", "true", "yes"].includes(env[kvServerFlags[f].env] ?? "");

  const idText = get("id");
  if (idText === undefined) throw configError("Cannot start: --id (or RAFT_ID) is required");
  const id = positiveInt(idText, "--id");
  const listen = parseHostPort(get("listen") ?? "127.0.0.1:8080", "--listen");
  const advertiseText = get("advertise");
  const advertiseUrl = advertiseText === undefined
    ? undefined
    : checkUrl(advertiseText, ["http:", "https:"], "--advertise");
  const peers = parseIdMap(get("peers") ?? "", ["http:", "https:"], "--peers");
  const peerListenText = get("peer-listen");
  const peerUrls = parseIdMap(get("peer-urls") ?? "", ["ws:", "wss:"], "--peer-urls");
  const join = flag("join");
  if (!join && peers.size > 0 && !peers.has(id)) {
    throw configError(`Cannot start: --peers must include this node (${id})`);
  }
  if (peerListenText === undefined && peerUrls.size > 0) {
    throw configError("Cannot use --peer-urls without --peer-listen");
  }
  if (peerListenText !== undefined) {
    const missing = [...peers.keys(), id].filter((p) => !peerUrls.has(p));
    if (missing.length > 0) {
      throw configError(
        `Cannot use --peer-listen: --peer-urls has no URL for node ${missing.join(", ")}`,
      );
    }
  }

  const { secret, source } = secretOf(values, env);
  const others = [...peers.keys()].filter((p) => p !== id);
  if (secret === undefined && (join || others.length > 0)) {
    throw configError(
      `Cannot start: ${
        join ? "joining a cluster" : `a cluster of ${peers.size} nodes`
      } needs the cluster secret: pass --secret-file FILE (16+ bytes, the same on every node) or set RAFT_SECRET`,
    );
  }
  if (secret !== undefined && utf8.encode(secret).length < 16) {
    throw configError(
      "Cannot start: the cluster secret (--secret-file, RAFT_SECRET or --secret) must be at least 16 bytes",
    );
  }
  if (secret !== undefined && !/^[A-Za-z0-9._~+/-]+=*$/.test(secret)) {
    throw configError(
      "Cannot start: the cluster secret is sent as a Bearer token, so it may hold only letters, digits and -._~+/ (then optional '=' padding)",
    );
  }
  const routing = get("routing") ?? "redirect";
  if (routing !== "redirect" && routing !== "forward" && routing !== "error") {
    throw configError(
      `Cannot use --routing: expected redirect, forward or error, got '${routing}'`,
    );
  }
  const log = get("log") ?? "info";
  if (log !== "debug" && log !== "info" && log !== "warn" && log !== "quiet") {
    throw configError(`Cannot use --log: expected debug, info, warn or quiet, got '${log}'`);
  }
  const dataDir = get("data-dir") ?? "./data";
  if (dataDir === "") throw configError("Cannot use --data-dir: it is empty");
  const sqliteWriter = get("sqlite-writer") ?? "inline";
  if (sqliteWriter !== "inline" && sqliteWriter !== "worker") {
    throw configError(
      `Cannot use --sqlite-writer: expected inline or worker, got '${sqliteWriter}'`,
    );
  }
  const restartText = get("demo-restart-url");
  if (restartText !== undefined && !flag("demo")) {
    throw configError("Cannot use --demo-restart-url without --demo");
  }
  return {
    id,
    hostname: listen.hostname,
    port: listen.port,
    advertiseUrl,
    peers,
    peerListen: peerListenText === undefined
      ? undefined
      : parseHostPort(peerListenText, "--peer-listen"),
    peerUrls,
    dataDir,
    sqliteWriter,
    secret,
    secretSource: source,
    clusterId: get("cluster-id") ?? "kv",
    join,
    routing,
    tickMs: positiveInt(get("tick-ms") ?? "100", "--tick-ms"),
    electionTick: positiveInt(get("election-tick") ?? "10", "--election-tick"),
    demo: flag("demo"),
    demoRestartUrl: restartText === undefined
      ? undefined
      : checkUrl(restartText, ["http:", "https:"], "--demo-restart-url"),
    log,
    snapshotEntries: positiveInt(get("snapshot-entries") ?? "100000", "--snapshot-entries"),
    maxValueBytes: positiveInt(get("max-value-bytes") ?? "65536", "--max-value-bytes"),
    idempotencyTtlMs: positiveInt(
      get("idempotency-ttl-ms") ?? String(defaultSessionLimits.keyTtlMs),
      "--idempotency-ttl-ms",
    ),
  };
}

// ---------------------------------------------------------------------------
// Startup failures, in one line

/** A file-system error, in words. */
function fsReason(e: unknown): string {
  const code = (e as { code?: unknown }).code;
  switch (code) {
    case "ENOENT":
      return "no such file or directory";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EROFS":
      return "the file system is read-only";
    case "ENOTDIR":
      return "a part of the path is not a directory";
    case "EEXIST":
      return "it exists and is not a directory";
    case "ENOSPC":
      return "the disk is full";
    case "EISDIR":
      return "it is a directory";
  }
  return e instanceof Error ? e.message.split("\n")[0]! : String(e);
}

/** The one-line failure of a server that cannot listen. */
function listenError(e: unknown, address: string, flag: string): CliError {
  const code = (e as { code?: unknown }).code;
  const why = code === "EADDRINUSE"
    ? "the port is in use by another process; stop it or pick another port"
    : code === "EADDRNOTAVAIL"
    ? "the address is not one of this machine's"
    : code === "EACCES" || code === "EPERM"
    ? "permission denied (ports below 1024 need privileges)"
    : e instanceof Error
    ? e.message.split("\n")[0]!
    : String(e);
  return new CliError(1, `Cannot listen on ${address} (${flag}): ${why}`, { cause: e });
}

/** Creates the data directory (0700) and checks that it is writable. */
function prepareDataDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    accessSync(dir, fsConstants.W_OK | fsConstants.X_OK);
  } catch (e) {
    throw new CliError(1, `Cannot use --data-dir '${dir}': ${fsReason(e)}`, { cause: e });
  }
}

/** The one-line failure of a database that cannot be opened. */
function openError(e: unknown, file: string, dir: string): CliError {
  if (e instanceof SqliteStorageError && e.code === "locked") {
    return new CliError(
      1,
      `Cannot open '${file}': the database is locked by another process (another kv_server on --data-dir '${dir}'?); stop it or pick another --data-dir`,
      { cause: e },
    );
  }
  const fsCode = (e as { cause?: { code?: unknown } }).cause?.code;
  if (typeof fsCode === "string" && /^E[A-Z]+$/.test(fsCode)) {
    return new CliError(
      1,
      `Cannot use --data-dir '${dir}': cannot create '${file}': ${fsReason({ code: fsCode })}`,
      { cause: e },
    );
  }
  const text = e instanceof Error ? e.message.split("\n")[0]! : String(e);
  return new CliError(1, `${text} (--data-dir '${dir}')`, { cause: e });
}

/**
 * The one line a node's fatal error prints: what failed, the file, what to do.
 *
 * @param id The node.
 * @param error The error that closed it.
 * @param where Its database file, or where its data lives.
 * @returns The line.
 */
export function fatalErrorLine(id: number, error: Error, where: string): string {
  let storage: SqliteStorageError | undefined;
  for (let e: unknown = error, i = 0; e instanceof Error && i < 8; e = e.cause, i++) {
    if (e instanceof SqliteStorageError) {
      storage = e;
      break;
    }
  }
  const text = (e: Error): string => e.message.split("\n")[0]!;
  if (storage !== undefined) {
    const file = storage.message.includes(storage.path) ? "" : ` (file '${storage.path}')`;
    return `node ${id} stopped: its storage failed (${storage.code}): ${
      text(storage)
    }${file}. Check the disk (free space, permissions, I/O errors), then restart it: the node reopens its file and catches up from the cluster.`;
  }
  return `node ${id} stopped after a fatal error: ${
    text(error)
  }. Its data (${where}) is as last saved; restart it, and if the error repeats, the log holds a command the state machine cannot apply.`;
}

// ---------------------------------------------------------------------------
// Running the server

function serverLogger(id: number, level: KvServerConfig["log"]): Logger {
  if (level === "quiet") return discardLogger;
  return consoleLogger(level === "warn" ? "warning" : level, { prefix: `[node ${id}]` });
}

function toWsUrl(apiUrl: string, path: string): string {
  const u = new URL(apiUrl);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  u.pathname = path;
  return u.toString().replace(/\/$/, path === "/" ? "/" : "");
}

function formatHost(h: string): string {
  return h.includes(":") ? `[${h}]` : h;
}

/** The API URL of a listening address: a wildcard address is reached as `localhost`. */
function listenUrl(hostname: string, port: number): string {
  const h = hostname === "0.0.0.0" || hostname === "::" ? "localhost" : formatHost(hostname);
  return `http://${h}:${port}`;
}

/** A running key-value server. */
export interface KvServer {
  /** The node. */
  node: RaftNode<KvResult>;
  /** The state machine. */
  store: KvStore;
  /** The app. */
  app: RaftApp;
  /** The API URL. */
  url: string;
  /** The database file, or where the data lives. */
  where: string;
  /** Stops the HTTP server, the node and the storage. */
  close(): Promise<void>;
}

/** What {@linkcode startKvServer} reports. */
export interface KvServerHooks {
  /** Called by the demo "stop" button after the server closed. */
  onStop?: () => void;
  /**
   * Called once when the node stops after a fatal error (its storage or
   * state machine failed): the server no longer serves and should exit.
   */
  onFatal?: (error: Error) => void;
}

/**
 * Starts a key-value server: storage, transport, node and HTTP API.
 *
 * @param config The configuration.
 * @param hooks The demo stop button's and a fatal error's callbacks.
 * @returns The running server.
 * @throws {CliError} With exit status 1 when the environment fails: the
 *   data directory cannot be used, the database is locked or cannot be
 *   opened, a port is in use. What was opened is closed again.
 */
export async function startKvServer(
  config: KvServerConfig,
  hooks: KvServerHooks = {},
): Promise<KvServer> {
  const logger = serverLogger(config.id, config.log);
  const runtime = await runtimeServer();
  const cleanups: (() => unknown)[] = [];
  const undo = async (): Promise<void> => {
    for (const f of cleanups.reverse()) await Promise.resolve().then(f).catch(() => {});
  };
  try {
    return await start(config, hooks, logger, runtime, cleanups);
  } catch (e) {
    await undo();
    throw e;
  }
}

async function start(
  config: KvServerConfig,
  hooks: KvServerHooks,
  logger: Logger,
  runtime: RuntimeServer,
  cleanups: (() => unknown)[],
): Promise<KvServer> {
  let storage: NodeStorage | MemoryStorage;
  let sqlite: SqliteStorage | undefined;
  let where: string;
  if (config.dataDir === ":memory:") {
    storage = new MemoryStorage();
    where = "in memory (lost on exit)";
  } else {
    prepareDataDir(config.dataDir);
    where = join(config.dataDir, `node-${config.id}.db`);
    // Its save() is synchronous (it fsyncs, blocking the event loop); the
    // node yields to pending I/O before each write (`yieldBeforeSave`, on
    // by default), so requests that arrived meanwhile share the next fsync.
    try {
      sqlite = await openSqliteStorage(where, { logger, writer: config.sqliteWriter });
    } catch (e) {
      throw openError(e, where, config.dataDir);
    }
    const opened = sqlite;
    cleanups.push(() => opened.close());
    storage = sqlite;
  }
  // Without a secret (a single node), peers and admin requests are refused:
  // the transport's key is random and the app has no admin secret.
  const secret = config.secret ?? randomSecret();
  const separatePeerPort = config.peerListen !== undefined;
  // On Node, peers' upgrades reach the transport once it exists.
  const peerAcceptor: PeerAcceptor & { target?: PeerAcceptor } = {
    acceptPeer(request) {
      return this.target?.acceptPeer(request) ??
        Promise.resolve({
          accept: false,
          status: 503,
          reason: "Cannot accept peers yet: starting",
        });
    },
  };

  // The API listens first, so that its real port is known (port 0).
  const serving: { app?: RaftApp } = {};
  // Deno and Bun throw at once when the port is taken; Node rejects.
  const http = await Promise.resolve().then(() =>
    runtime.serve(
      (req, env) =>
        serving.app === undefined
          ? new Response('{"error":{"code":"starting","message":"Cannot serve yet: starting"}}', {
            status: 503,
            headers: { "content-type": "application/json", "retry-after": "1" },
          })
          : serving.app.fetch(req, env),
      config.hostname,
      config.port,
      separatePeerPort ? undefined : { path: "/raft", acceptor: peerAcceptor },
    )
  ).catch((e) => {
    throw listenError(e, `${formatHost(config.hostname)}:${config.port}`, "--listen");
  });
  cleanups.push(() => http.stop());
  const url = config.advertiseUrl ?? config.peers.get(config.id) ??
    listenUrl(config.hostname, http.port);

  const peerWsUrls = new Map<number, string>();
  for (const [id, api] of config.peers) {
    const ws = separatePeerPort ? config.peerUrls.get(id) : toWsUrl(api, "/raft");
    if (ws !== undefined && id !== config.id) peerWsUrls.set(id, ws);
  }
  const ownPeerUrl = separatePeerPort ? config.peerUrls.get(config.id) : toWsUrl(url, "/raft");
  // Peers dial the API's port, whose `/raft` route hands their sockets to
  // the transport; or, with --peer-listen, the transport's own port.
  const wsTransport = new WebSocketTransport({
    id: config.id,
    clusterId: config.clusterId,
    secret,
    ...(separatePeerPort
      ? { hostname: config.peerListen!.hostname, port: config.peerListen!.port }
      : { server: "none" as const }),
    peers: peerWsUrls,
    ...(ownPeerUrl !== undefined ? { advertiseUrl: ownPeerUrl } : {}),
    logger,
  });
  cleanups.push(() => wsTransport.close());
  peerAcceptor.target = wsTransport;
  const transportUrl = separatePeerPort
    ? (await wsTransport.listen().catch((e) => {
      const { hostname, port } = config.peerListen!;
      throw listenError(e, `${formatHost(hostname)}:${port}`, "--peer-listen");
    })).url
    : undefined;

  const monitor = new TransportMonitor();
  const transport: Transport = monitor.wrap(wsTransport);
  const store = new KvStore();
  const node = await RaftNode.start<KvResult>({
    id: config.id,
    storage,
    transport,
    stateMachine: store,
    // Without --peers, a cluster of one.
    peers: config.join ? [] : config.peers.size > 0 ? [...config.peers.keys()] : [config.id],
    tickMs: config.tickMs,
    electionTick: config.electionTick,
    snapshotEntries: config.snapshotEntries,
    sessionLimits: { keyTtlMs: config.idempotencyTtlMs },
    logger,
  });
  cleanups.push(() => node.close());

  const directory = new MemberDirectory();
  for (const [id, api] of config.peers) {
    const peerUrl = id === config.id ? ownPeerUrl : peerWsUrls.get(id);
    directory.set(id, { apiUrl: api, ...(peerUrl !== undefined ? { peerUrl } : {}) });
  }
  directory.set(config.id, {
    apiUrl: url,
    ...(ownPeerUrl !== undefined ? { peerUrl: ownPeerUrl } : {}),
  });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await node.close();
      await http.stop();
      await sqlite?.close();
    })();
    return closing;
  };
  // Fail-stop: a node closed by a fatal error serves nothing any more.
  node.on("fatal", ({ error }) => hooks.onFatal?.(error));

  const demoToken = await demoTokenOf(secret);
  const app = createKvApp(node, store, {
    selfUrl: url,
    directory,
    ...(config.secret !== undefined ? { adminSecret: config.secret } : {}),
    leaderRouting: config.routing,
    leaderTimeoutMs: config.tickMs * config.electionTick,
    monitor,
    transportMetrics: () => wsTransport.metrics(),
    maxValueBytes: config.maxValueBytes,
    logger,
    page: config.demo
      ? { demo: true, demoToken, demoRestart: config.demoRestartUrl !== undefined }
      : {},
    ...(separatePeerPort || runtime.upgradeWebSocket === undefined ? {} : {
      peerSocket: {
        upgradeWebSocket: runtime.upgradeWebSocket,
        transport: wsTransport,
        path: "/raft",
      },
    }),
  });

  if (config.demo) {
    app.route(
      "/",
      demoRoutes(node, {
        token: demoToken,
        directory,
        monitor,
        logger,
        stop: async () => {
          logger.info("stopping (demo stop button)");
          await close();
          hooks.onStop?.();
        },
        ...(config.demoRestartUrl !== undefined
          ? { restart: restartThrough(config.demoRestartUrl, demoToken) }
          : {}),
      }),
    );
  }
  serving.app = app;
  if (config.log !== "quiet") {
    const members = config.join
      ? "joining a cluster"
      : config.peers.size > 1
      ? `cluster of ${[...config.peers.keys()].join(",")}`
      : `single node${config.secret === undefined ? " (no secret: peers are refused)" : ""}`;
    const bound = `${formatHost(config.hostname)}:${http.port}`;
    console.error(
      `[node ${config.id}] serving ${url}${
        url === listenUrl(config.hostname, http.port) ? "" : ` (listening on ${bound})`
      }, peers on ${ownPeerUrl ?? transportUrl}, data ${where}, ${members}`,
    );
  }
  return { node, store, app, url, where, close };
}

function randomSecret(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(32)), (b) => b.toString(16)).join("");
}

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
