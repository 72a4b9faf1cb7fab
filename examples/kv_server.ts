/**
 * A replicated key-value store in one file: a Raft node with SQLite storage,
 * peers over WebSocket, and an HTTP API built on the Hono adapter. Runs on
 * Bun (`bun examples/kv_server.ts ...`) and on Deno
 * (`deno run -A examples/kv_server.ts ...`).
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
 * - `GET /kv?prefix=user/` or `GET /kv?start=a&end=m` (end exclusive),
 *   `&limit=100` — sorted listing.
 * - Plus the cluster API of `adapters/hono` (`/raft/status`, `/metrics`,
 *   the live page at `/`, ...).
 *
 * Writes that reach a follower are redirected to the leader (307), or
 * forwarded with `--routing forward` or the request header
 * `Raft-Routing: forward`.
 *
 * Configuration: flags or environment variables.
 *
 * | flag                 | env                  | meaning                                                   |
 * | -------------------- | -------------------- | --------------------------------------------------------- |
 * | `--id`               | `RAFT_ID`            | this node's ID (required)                                 |
 * | `--listen`           | `RAFT_LISTEN`        | `host:port` of the HTTP API (default `127.0.0.1:8080`)    |
 * | `--advertise`        | `RAFT_ADVERTISE`     | the API URL peers and clients use (default: from listen)  |
 * | `--peers`            | `RAFT_PEERS`         | `1=http://h1:8001,2=http://h2:8002,...` (all members)     |
 * | `--peer-listen`      | `RAFT_PEER_LISTEN`   | `host:port` for peers on a second port (default: shared)  |
 * | `--peer-urls`        | `RAFT_PEER_URLS`     | `1=ws://h1:7001/raft,...` with `--peer-listen`            |
 * | `--data-dir`         | `RAFT_DATA_DIR`      | where `node-<id>.db` lives (default `./data`; `:memory:`) |
 * | `--secret`           | `RAFT_SECRET`        | cluster secret, 16+ bytes (peers and admin routes)        |
 * | `--cluster-id`       | `RAFT_CLUSTER_ID`    | cluster name (default `kv`)                               |
 * | `--join`             | `RAFT_JOIN`          | do not bootstrap: wait to be added with POST /raft/members |
 * | `--routing`          | `RAFT_ROUTING`       | `redirect` (default), `forward` or `error`                |
 * | `--tick-ms`          | `RAFT_TICK_MS`       | Raft tick (default 100)                                   |
 * | `--snapshot-entries` | `RAFT_SNAPSHOT_ENTRIES` | entries between snapshots (default 100000, as etcd)   |
 * | `--demo`             | `RAFT_DEMO`          | demo buttons on the page (partition, stop)                |
 * | `--log`              | `RAFT_LOG`           | `debug`, `info` (default), `warn`, `quiet`                |
 *
 * @example Three nodes on one machine (one terminal each)
 * ```sh
 * export RAFT_SECRET=change-me-to-something-long RAFT_PEERS=1=http://127.0.0.1:8001,2=http://127.0.0.1:8002,3=http://127.0.0.1:8003
 * bun examples/kv_server.ts --id 1 --listen 127.0.0.1:8001
 * bun examples/kv_server.ts --id 2 --listen 127.0.0.1:8002
 * bun examples/kv_server.ts --id 3 --listen 127.0.0.1:8003
 * curl -X PUT -H 'content-type: application/json' -d '{"value":"world"}' -L http://127.0.0.1:8001/kv/hello
 * ```
 *
 * @module
 */

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import {
  type Command,
  type Logger,
  MemoryStorage,
  type NodeStorage,
  RaftNode,
  type StateMachine,
  type Transport,
} from "../mod.ts";
import { openSqliteStorage, type SqliteStorage } from "../adapters/sqlite/mod.ts";
import { WebSocketTransport } from "../adapters/websocket/mod.ts";
import {
  createRaftApp,
  type HonoContext,
  httpError,
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
  type UpgradeWebSocketLike,
} from "../adapters/hono/mod.ts";
import { demoRoutes, demoTokenOf } from "./local_cluster.ts";

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
  | { op: "delete"; key: string; ifRevision?: number };

/** What applying a command produced. */
export type KvResult =
  | { ok: true; revision: number; item: KvItem | null; prev: KvItem | null }
  | { ok: false; revision: number; reason: "precondition_failed"; current: KvItem | null }
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
    const failed = (cmd.ifRevision !== undefined && (prev?.modRevision ?? 0) !== cmd.ifRevision) ||
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
    if (cmd.op !== "put" || typeof cmd.value !== "string") {
      return { ok: false, revision: c.index, reason: "invalid_command", current: null };
    }
    const rec: Rec = {
      value: cmd.value,
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

  async function propose(cmd: KvCommand): Promise<KvResult> {
    return await metrics.observeProposal(node.propose(utf8.encode(JSON.stringify(cmd))));
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
    const redirect = await routeToLeader(c, node, routing);
    if (redirect !== undefined) return redirect;
    const r = await propose(cmd);
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
    const redirect = await routeToLeader(c, node, routing);
    if (redirect !== undefined) return redirect;
    const r = await propose(cmd);
    if (!r.ok) failure(r, key);
    return c.json({ key, deleted: true, revision: r.revision, prev: r.prev });
  });

  return app;
}

// ---------------------------------------------------------------------------
// Configuration

/** The server's configuration. */
export interface KvServerConfig {
  /** This node's ID. */
  id: number;
  /** Where the HTTP API listens. */
  hostname: string;
  /** The HTTP API's port (0: any free port). */
  port: number;
  /** The API URL others use (default: from hostname and port). */
  advertiseUrl: string | undefined;
  /** Every member's API URL, by ID (this node's included). */
  peers: Map<number, string>;
  /** Peers on a second port: where this node's transport listens. */
  peerListen: { hostname: string; port: number } | undefined;
  /** Peers on a second port: every member's WebSocket URL. */
  peerUrls: Map<number, string>;
  /** Where the database lives, or `":memory:"`. */
  dataDir: string;
  /** The cluster secret. */
  secret: string;
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
  /** Log level. */
  log: "debug" | "info" | "warn" | "quiet";
  /** Take a snapshot every this many entries. */
  snapshotEntries: number;
  /** The largest value. */
  maxValueBytes: number;
}

function parseHostPort(s: string, what: string): { hostname: string; port: number } {
  const m = /^(.*):(\d{1,5})$/.exec(s);
  const port = m === null ? NaN : Number(m[2]);
  if (m === null || m[1] === "" || port > 65535) {
    throw new RangeError(`Cannot use ${what}: expected host:port, got '${s}'`);
  }
  return { hostname: m[1]!.replace(/^\[(.*)\]$/, "$1"), port };
}

function parseIdMap(s: string, what: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const part of s.split(",").map((p) => p.trim()).filter((p) => p !== "")) {
    const m = /^(\d+)=(.+)$/.exec(part);
    if (m === null || !(Number(m[1]) > 0)) {
      throw new RangeError(`Cannot use ${what}: expected id=url pairs, got '${part}'`);
    }
    out.set(Number(m[1]), m[2]!.replace(/\/+$/, ""));
  }
  return out;
}

function positiveInt(s: string, what: string): number {
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw new RangeError(`Cannot use ${what}: expected a positive integer, got '${s}'`);
  }
  return n;
}

/**
 * Reads the configuration from flags, falling back to environment variables.
 *
 * @param args The command-line arguments (without the program).
 * @param env The environment.
 * @returns The configuration.
 * @throws {RangeError} When a value is missing or invalid.
 */
export function parseKvServerConfig(
  args: readonly string[],
  env: Record<string, string | undefined>,
): KvServerConfig {
  const { values } = parseArgs({
    args: [...args],
    strict: true,
    options: {
      id: { type: "string" },
      listen: { type: "string" },
      advertise: { type: "string" },
      peers: { type: "string" },
      "peer-listen": { type: "string" },
      "peer-urls": { type: "string" },
      "data-dir": { type: "string" },
      secret: { type: "string" },
      "cluster-id": { type: "string" },
      join: { type: "boolean" },
      routing: { type: "string" },
      "tick-ms": { type: "string" },
      "election-tick": { type: "string" },
      demo: { type: "boolean" },
      log: { type: "string" },
      "snapshot-entries": { type: "string" },
      "max-value-bytes": { type: "string" },
    },
  });
  const get = (flag: keyof typeof values, name: string): string | undefined => {
    const v = values[flag];
    return typeof v === "string" ? v : env[name];
  };
  const flag = (f: "join" | "demo", name: string): boolean =>
    values[f] === true || ["1", "true", "yes"].includes(env[name] ?? "");

  const idText = get("id", "RAFT_ID");
  if (idText === undefined) throw new RangeError("Cannot start: --id (or RAFT_ID) is required");
  const id = positiveInt(idText, "--id");
  const listen = parseHostPort(get("listen", "RAFT_LISTEN") ?? "127.0.0.1:8080", "--listen");
  const advertiseUrl = get("advertise", "RAFT_ADVERTISE")?.replace(/\/+$/, "");
  const peers = parseIdMap(get("peers", "RAFT_PEERS") ?? "", "--peers");
  const peerListenText = get("peer-listen", "RAFT_PEER_LISTEN");
  const peerUrls = parseIdMap(get("peer-urls", "RAFT_PEER_URLS") ?? "", "--peer-urls");
  const secret = get("secret", "RAFT_SECRET");
  if (secret === undefined || utf8.encode(secret).length < 16) {
    throw new RangeError(
      "Cannot start: --secret (or RAFT_SECRET) must be given, at least 16 bytes, the same on every node",
    );
  }
  if (!/^[A-Za-z0-9._~+/-]+=*$/.test(secret)) {
    throw new RangeError(
      "Cannot start: --secret (or RAFT_SECRET) is sent as a Bearer token, so it may hold only letters, digits and -._~+/ (then optional '=' padding)",
    );
  }
  const routing = get("routing", "RAFT_ROUTING") ?? "redirect";
  if (routing !== "redirect" && routing !== "forward" && routing !== "error") {
    throw new RangeError(
      `Cannot use --routing: expected redirect, forward or error, got '${routing}'`,
    );
  }
  const log = get("log", "RAFT_LOG") ?? "info";
  if (log !== "debug" && log !== "info" && log !== "warn" && log !== "quiet") {
    throw new RangeError(`Cannot use --log: expected debug, info, warn or quiet, got '${log}'`);
  }
  const join = flag("join", "RAFT_JOIN");
  if (!join && !peers.has(id)) {
    if (peers.size > 0) {
      throw new RangeError(`Cannot start: --peers must include this node (${id})`);
    }
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
    dataDir: get("data-dir", "RAFT_DATA_DIR") ?? "./data",
    secret,
    clusterId: get("cluster-id", "RAFT_CLUSTER_ID") ?? "kv",
    join,
    routing,
    tickMs: positiveInt(get("tick-ms", "RAFT_TICK_MS") ?? "100", "--tick-ms"),
    electionTick: positiveInt(
      get("election-tick", "RAFT_ELECTION_TICK") ?? "10",
      "--election-tick",
    ),
    demo: flag("demo", "RAFT_DEMO"),
    log,
    snapshotEntries: positiveInt(
      get("snapshot-entries", "RAFT_SNAPSHOT_ENTRIES") ?? "100000",
      "--snapshot-entries",
    ),
    maxValueBytes: positiveInt(
      get("max-value-bytes", "RAFT_MAX_VALUE_BYTES") ?? "65536",
      "--max-value-bytes",
    ),
  };
}

// ---------------------------------------------------------------------------
// Serving on Bun or Deno

type FetchHandler = (req: Request, env: unknown) => Response | Promise<Response>;

interface ServedHttp {
  port: number;
  stop(): Promise<void>;
}

interface BunServeLike {
  serve(o: {
    hostname: string;
    port: number;
    fetch: (req: Request, server: unknown) => Response | Promise<Response>;
    websocket: unknown;
    idleTimeout?: number;
  }): { port: number; stop(closeActive?: boolean): void | Promise<void> };
}

interface DenoServeLike {
  serve(
    o: { hostname: string; port: number; onListen?: () => void },
    handler: (req: Request, info: unknown) => Response | Promise<Response>,
  ): { addr: { port: number }; shutdown(): Promise<void> };
}

/** Hono's WebSocket helpers for the runtime, and a function that serves an app. */
async function runtimeServer(): Promise<{
  upgradeWebSocket: UpgradeWebSocketLike;
  serve(fetch: FetchHandler, hostname: string, port: number): ServedHttp;
}> {
  const bun = (globalThis as { Bun?: BunServeLike }).Bun;
  if (bun !== undefined) {
    const { upgradeWebSocket, websocket } = await import("hono/bun");
    return {
      upgradeWebSocket: upgradeWebSocket as unknown as UpgradeWebSocketLike,
      serve(fetch, hostname, port) {
        // Bun closes a connection idle this many seconds (slow headers included);
        // request bodies have their own deadline in the app (408).
        const s = bun.serve({ hostname, port, fetch, websocket, idleTimeout: 15 });
        return { port: s.port, stop: async () => void (await s.stop(true)) };
      },
    };
  }
  const deno = (globalThis as { Deno?: DenoServeLike }).Deno;
  if (deno !== undefined) {
    const { upgradeWebSocket } = await import("hono/deno");
    return {
      upgradeWebSocket: upgradeWebSocket as unknown as UpgradeWebSocketLike,
      serve(fetch, hostname, port) {
        const s = deno.serve({ hostname, port, onListen() {} }, fetch);
        return { port: s.addr.port, stop: () => s.shutdown() };
      },
    };
  }
  throw new TypeError("Cannot serve: this example runs on Bun or Deno");
}

function consoleLogger(id: number, level: KvServerConfig["log"]): Logger {
  const rank = { debug: 0, info: 1, warn: 2, quiet: 9 }[level];
  const out = (lvl: number, tag: string) => (msg: string): void => {
    if (lvl >= rank) console.error(`[node ${id}] ${tag} ${msg}`);
  };
  return {
    debug: out(0, "DEBUG"),
    info: out(1, "INFO"),
    warning: out(2, "WARN"),
    error: out(3, "ERROR"),
    fatal: out(3, "FATAL"),
    panic: out(3, "PANIC"),
  };
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
  /** Stops the HTTP server, the node and the storage. */
  close(): Promise<void>;
}

/**
 * Starts a key-value server: storage, transport, node and HTTP API.
 *
 * @param config The configuration.
 * @param onStop Called by the demo "stop" button after the server closed.
 * @returns The running server.
 */
export async function startKvServer(
  config: KvServerConfig,
  onStop: () => void = () => {},
): Promise<KvServer> {
  const logger = consoleLogger(config.id, config.log);
  const runtime = await runtimeServer();

  let storage: NodeStorage | MemoryStorage;
  let sqlite: SqliteStorage | undefined;
  let where: string;
  if (config.dataDir === ":memory:") {
    storage = new MemoryStorage();
    where = "in memory (lost on exit)";
  } else {
    mkdirSync(config.dataDir, { recursive: true });
    where = join(config.dataDir, `node-${config.id}.db`);
    // Its save() is synchronous (it fsyncs, blocking the event loop); the
    // node yields to pending I/O before each write (`yieldBeforeSave`, on
    // by default), so requests that arrived meanwhile share the next fsync.
    sqlite = await openSqliteStorage(where, { logger });
    storage = sqlite;
  }

  // The API listens first, so that its real port is known (port 0).
  const serving: { app?: RaftApp } = {};
  const http = runtime.serve(
    (req, env) =>
      serving.app === undefined
        ? new Response('{"error":{"code":"starting","message":"Cannot serve yet: starting"}}', {
          status: 503,
          headers: { "content-type": "application/json", "retry-after": "1" },
        })
        : serving.app.fetch(req, env),
    config.hostname,
    config.port,
  );
  const url = config.advertiseUrl ?? `http://${formatHost(config.hostname)}:${http.port}`;

  const separatePeerPort = config.peerListen !== undefined;
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
    secret: config.secret,
    ...(separatePeerPort
      ? { hostname: config.peerListen!.hostname, port: config.peerListen!.port }
      : { server: "none" as const }),
    peers: peerWsUrls,
    ...(ownPeerUrl !== undefined ? { advertiseUrl: ownPeerUrl } : {}),
    logger,
  });
  const transportUrl = separatePeerPort ? (await wsTransport.listen()).url : undefined;

  const monitor = new TransportMonitor();
  const transport: Transport = monitor.wrap(wsTransport);
  const store = new KvStore();
  const node = await RaftNode.start<KvResult>({
    id: config.id,
    storage,
    transport,
    stateMachine: store,
    peers: config.join ? [] : [...config.peers.keys()],
    tickMs: config.tickMs,
    electionTick: config.electionTick,
    snapshotEntries: config.snapshotEntries,
    logger,
  });

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
      sqlite?.close();
    })();
    return closing;
  };

  const demoToken = await demoTokenOf(config.secret);
  const app = createKvApp(node, store, {
    selfUrl: url,
    directory,
    adminSecret: config.secret,
    leaderRouting: config.routing,
    leaderTimeoutMs: config.tickMs * config.electionTick,
    monitor,
    transportMetrics: () => wsTransport.metrics(),
    maxValueBytes: config.maxValueBytes,
    logger,
    page: config.demo ? { demo: true, demoToken } : {},
    ...(separatePeerPort ? {} : {
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
          onStop();
        },
      }),
    );
  }
  serving.app = app;
  logger.info(
    `listening on ${url} (peers on ${ownPeerUrl ?? transportUrl}), data ${where}, ` +
      `${
        config.join ? "joining" : `cluster of ${[...config.peers.keys()].join(",") || config.id}`
      }`,
  );
  return { node, store, app, url, close };
}

async function main(): Promise<void> {
  let config: KvServerConfig;
  try {
    config = parseKvServerConfig(process.argv.slice(2), process.env);
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    console.error(
      "Usage: kv_server.ts --id N --listen host:port --peers 1=http://...,2=... --secret S",
    );
    process.exit(2);
  }
  if (config.peers.size === 0 && !config.join) {
    config.peers.set(config.id, `http://${formatHost(config.hostname)}:${config.port}`);
  }
  const server = await startKvServer(config, () => process.exit(0));
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    server.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

if (import.meta.main) await main();
