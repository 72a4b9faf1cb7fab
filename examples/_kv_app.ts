/**
 * The HTTP API of `kv_server.ts`: the key-value routes (`/kv`, `/kv/:key`,
 * `/kv/:key/incr`) on top of the Raft app of `adapters/hono`.
 *
 * @module
 */

import type { RaftNode } from "../mod.ts";
import {
  createRaftApp,
  type HonoContext,
  httpError,
  type IdempotencyOptions,
  idempotencyOptions,
  type LeaderRoutingOptions,
  leaderRoutingOptions,
  MemberDirectory,
  pathKey,
  type RaftApp,
  type RaftAppOptions,
  RaftMetrics,
  readJsonObject,
  rejectUnknownFields,
  routeToLeader,
} from "../adapters/hono/mod.ts";
import type { KvCommand, KvItem, KvRange, KvResult, KvState } from "./_kv_store.ts";

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
  store: KvState,
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

  const shard: KvShard = { node, store };
  addKvRoutes(app, {
    shardOf: () => shard,
    shards: [shard],
    routing,
    maxValueBytes,
    maxKeyBytes,
    metrics,
  });
  return app;
}

/** One Raft group of a key-value store: its node and the state it replicates. */
export interface KvShard {
  /** The node replicating `store`. */
  node: RaftNode<KvResult>;
  /** The group's state machine. */
  store: KvState;
}

/** What {@linkcode addKvRoutes} serves: the shards, how keys map to them, the limits. */
export interface KvRoutesOptions {
  /** The shard that holds a key. */
  shardOf(key: string): KvShard;
  /** Every shard (a listing reads each of them). */
  shards: readonly KvShard[];
  /** How writes that reach a follower of their shard are routed. */
  routing: LeaderRoutingOptions;
  /** The largest value, in UTF-8 bytes. */
  maxValueBytes: number;
  /** The largest key, in UTF-8 bytes. */
  maxKeyBytes: number;
  /** Where proposals are counted. */
  metrics: RaftMetrics;
}

/**
 * Adds the key-value routes (`/kv`, `/kv/:key`, `/kv/:key/incr`) to an
 * app, over one shard or many.
 *
 * @param app The app.
 * @param options The shards and limits.
 */
export function addKvRoutes(app: RaftApp, options: KvRoutesOptions): void {
  const kv: KvRoutes = {
    ...options,
    // Keys in paths: percent-decoded once; '.'/'..' segments and control characters refused.
    keyRoute: "/kv/:key{[\\s\\S]+}",
    keyOf(c: HonoContext): string {
      return pathKey(c, "/kv/", options.maxKeyBytes);
    },
    async propose(shard: KvShard, cmd: KvCommand, once: IdempotencyOptions): Promise<KvResult> {
      return await options.metrics.observeProposal(
        shard.node.propose(utf8.encode(JSON.stringify(cmd)), once),
      );
    },
  };
  addReadRoutes(app, kv);
  addWriteRoutes(app, kv);
}

/** What the key-value routes share: the shards and the limits. */
interface KvRoutes extends KvRoutesOptions {
  /** The route of one key. */
  keyRoute: string;
  /** The key of a request to `keyRoute`. */
  keyOf(c: HonoContext): string;
  /** Proposes a command to a shard, counted in the metrics. */
  propose(shard: KvShard, cmd: KvCommand, options: IdempotencyOptions): Promise<KvResult>;
}

/** Whether `?consistency=` asks for a read of this node's state without the leader. */
function stale(q: string | undefined): boolean {
  if (q === undefined || q === "linearizable") return false;
  if (q === "stale") return true;
  throw httpError(
    400,
    "invalid_consistency",
    `Cannot read: 'consistency' must be "linearizable" or "stale", not ${JSON.stringify(q)}`,
  );
}

/** A revision given in a body field or query parameter `name`. */
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

/** Throws the HTTP error of a command that did not apply. */
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

/** A listing's answer. */
interface KvListing {
  items: KvItem[];
  more: boolean;
  /** The store's revision (one shard only: each shard counts its own). */
  revision?: number;
}

/**
 * Lists a range of keys over every shard: each shard's first `limit` keys
 * of the range (read linearizably, unless `stale`), merged in key order.
 */
async function listShards(
  shards: readonly KvShard[],
  range: KvRange,
  staleRead: boolean,
): Promise<KvListing> {
  const read = <T>(shard: KvShard, f: () => T): T | Promise<T> =>
    staleRead ? f() : shard.node.read(f);
  if (shards.length === 1) {
    const { store } = shards[0]!;
    return await read(shards[0]!, () => ({ ...store.range(range), revision: store.revision }));
  }
  const parts = await Promise.all(shards.map((s) => read(s, () => s.store.range(range))));
  const items = parts.flatMap((p) => p.items).sort((a, b) => a.key < b.key ? -1 : 1);
  return {
    items: items.slice(0, range.limit),
    more: items.length > range.limit || parts.some((p) => p.more),
  };
}

/** `GET /kv` (a listing) and `GET /kv/:key`. */
function addReadRoutes(app: RaftApp, kv: KvRoutes): void {
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
    return c.json(await listShards(kv.shards, range, stale(q.consistency)));
  });

  app.get(kv.keyRoute, async (c) => {
    const key = kv.keyOf(c);
    const q = c.req.query();
    rejectUnknownFields(q, ["consistency"]);
    const { node, store } = kv.shardOf(key);
    const item = stale(q.consistency) ? store.get(key) : await node.read(() => store.get(key));
    if (item === null) throw httpError(404, "key_not_found", `Cannot find key '${key}'`);
    return c.json(item);
  });
}

/** `PUT /kv/:key`, `POST /kv/:key/incr` and `DELETE /kv/:key`. */
function addWriteRoutes(app: RaftApp, kv: KvRoutes): void {
  app.put(kv.keyRoute, async (c) => {
    const key = kv.keyOf(c);
    const body = await readJsonObject(c, 2 * kv.maxValueBytes + 4096);
    rejectUnknownFields(body, ["value", "ifValue", "ifRevision"]);
    if (typeof body.value !== "string") {
      throw httpError(400, "invalid_value", "Cannot write: 'value' must be a string");
    }
    const size = utf8.encode(body.value).length;
    if (size > kv.maxValueBytes) {
      throw httpError(
        413,
        "value_too_large",
        `Cannot write: the value is ${size} bytes, more than the limit of ${kv.maxValueBytes}`,
        { maxValueBytes: kv.maxValueBytes },
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
    const shard = kv.shardOf(key);
    const redirect = await routeToLeader(c, shard.node, kv.routing);
    if (redirect !== undefined) return redirect;
    const r = await kv.propose(shard, cmd, once);
    if (!r.ok) failure(r, key);
    return c.json({ ...r.item!, revision: r.revision, prev: r.prev });
  });

  app.post(`${kv.keyRoute}/incr`, async (c) => {
    const key = pathKey(c, "/kv/", kv.maxKeyBytes, { suffix: "/incr" });
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
    const shard = kv.shardOf(key);
    const redirect = await routeToLeader(c, shard.node, kv.routing);
    if (redirect !== undefined) return redirect;
    const r = await kv.propose(shard, { op: "incr", key, by }, once);
    if (!r.ok) failure(r, key);
    return c.json({ ...r.item!, revision: r.revision, prev: r.prev });
  });

  app.delete(kv.keyRoute, async (c) => {
    const key = kv.keyOf(c);
    const q = c.req.query();
    rejectUnknownFields(q, ["ifRevision"]);
    const cmd: KvCommand = { op: "delete", key };
    const ifRevision = revisionParam(q.ifRevision, "ifRevision");
    if (ifRevision !== undefined) cmd.ifRevision = ifRevision;
    const once = await idempotencyOptions(c);
    const shard = kv.shardOf(key);
    const redirect = await routeToLeader(c, shard.node, kv.routing);
    if (redirect !== undefined) return redirect;
    const r = await kv.propose(shard, cmd, once);
    if (!r.ok) failure(r, key);
    return c.json({ key, deleted: true, revision: r.revision, prev: r.prev });
  });
}
