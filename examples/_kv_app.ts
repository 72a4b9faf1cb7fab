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
import type { KvCommand, KvRange, KvResult, KvState } from "./_kv_store.ts";

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

  const kv: KvRoutes = {
    node,
    store,
    routing,
    maxValueBytes,
    maxKeyBytes,
    // Keys in paths: percent-decoded once; '.'/'..' segments and control characters refused.
    keyRoute: "/kv/:key{[\\s\\S]+}",
    keyOf(c: HonoContext): string {
      return pathKey(c, "/kv/", maxKeyBytes);
    },
    async propose(cmd: KvCommand, options: IdempotencyOptions): Promise<KvResult> {
      return await metrics.observeProposal(
        node.propose(utf8.encode(JSON.stringify(cmd)), options),
      );
    },
  };
  addReadRoutes(app, kv);
  addWriteRoutes(app, kv);

  return app;
}

/** What the key-value routes share: the node, its store and the limits. */
interface KvRoutes {
  node: RaftNode<KvResult>;
  store: KvState;
  routing: LeaderRoutingOptions;
  maxValueBytes: number;
  maxKeyBytes: number;
  /** The route of one key. */
  keyRoute: string;
  /** The key of a request to `keyRoute`. */
  keyOf(c: HonoContext): string;
  /** Proposes a command, counted in the metrics. */
  propose(cmd: KvCommand, options: IdempotencyOptions): Promise<KvResult>;
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
    const list = () => ({ ...kv.store.range(range), revision: kv.store.revision });
    return c.json(stale(q.consistency) ? list() : await kv.node.read(list));
  });

  app.get(kv.keyRoute, async (c) => {
    const key = kv.keyOf(c);
    const q = c.req.query();
    rejectUnknownFields(q, ["consistency"]);
    const item = stale(q.consistency)
      ? kv.store.get(key)
      : await kv.node.read(() => kv.store.get(key));
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
    const redirect = await routeToLeader(c, kv.node, kv.routing);
    if (redirect !== undefined) return redirect;
    const r = await kv.propose(cmd, once);
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
    const redirect = await routeToLeader(c, kv.node, kv.routing);
    if (redirect !== undefined) return redirect;
    const r = await kv.propose({ op: "incr", key, by }, once);
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
    const redirect = await routeToLeader(c, kv.node, kv.routing);
    if (redirect !== undefined) return redirect;
    const r = await kv.propose(cmd, once);
    if (!r.ok) failure(r, key);
    return c.json({ key, deleted: true, revision: r.revision, prev: r.prev });
  });
}
