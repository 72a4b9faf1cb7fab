/**
 * The key-value frontend of `examples/kv_server.ts` on Deno Deploy: a
 * single-node Raft cluster (Deploy has no peer-to-peer networking between
 * instances) whose log lives in Deno KV (Deploy has no disk), or in memory.
 * Same API: `PUT/GET/DELETE /kv/:key`, compare-and-swap, listing, the
 * cluster page at `/`, `/raft/status`, `/metrics`.
 *
 * Environment:
 * - `RAFT_STORAGE`: `kv` (default where `Deno.openKv` exists) or `memory`;
 * - `RAFT_KV_PREFIX`: the Deno KV key prefix (default `raft`);
 * - `RAFT_SECRET`: enables the admin routes (16+ bytes);
 * - `RAFT_ALLOWED_HOSTS`: the host names to answer, comma-separated
 *   (default: any; Deploy routes only the project's own domains here).
 *
 * Run locally: `deno run -A --unstable-kv examples/deno_deploy/main.ts`.
 * See README.md beside this file for deploying.
 *
 * @module
 */

import { MemoryStorage, RaftNode } from "../../mod.ts";
import { errorResponse, MemberDirectory, type RaftApp } from "../../adapters/hono/mod.ts";
import { createKvApp, type KvResult, KvStore } from "../kv_server.ts";
import { type DenoKvLike, type DenoKvStorage, openDenoKvStorage } from "./kv_storage.ts";

/** What the Deploy entry point needs from `Deno`. */
interface DenoLike {
  env: { get(name: string): string | undefined };
  openKv?: (path?: string) => Promise<DenoKvLike>;
  serve(handler: (req: Request) => Response | Promise<Response>): unknown;
}

/** Options of {@linkcode createDeployApp}. */
export interface DeployAppOptions {
  /** Where the log lives: a Deno KV handle, or `undefined` for memory. */
  kv: DenoKvLike | undefined;
  /** The Deno KV key prefix. */
  prefix?: string;
  /** The admin secret, if any. */
  secret?: string;
  /** The Raft tick. */
  tickMs?: number;
  /** Take a snapshot every this many entries (default 1000). */
  snapshotEntries?: number;
  /**
   * The host names the app answers (see the Hono app's `allowedHosts`).
   * @default false: any, as Deploy routes only the project's domains to it
   */
  allowedHosts?: readonly string[] | false;
}

/** The running single-node service. */
export interface DeployApp {
  /** The key-value app. */
  app: RaftApp;
  /** The request handler to serve: the app behind the ownership check. */
  fetch(req: Request): Promise<Response>;
  /** The node. */
  node: RaftNode<KvResult>;
  /** Stops the node. */
  close(): Promise<void>;
}

/**
 * Starts the single node and builds its app.
 *
 * @param options Storage, prefix, secret.
 * @returns The app, the handler to serve, the node.
 */
export async function createDeployApp(
  options: DeployAppOptions,
): Promise<DeployApp> {
  const storage: DenoKvStorage | MemoryStorage = options.kv === undefined
    ? new MemoryStorage()
    : await openDenoKvStorage(options.kv, { prefix: [options.prefix ?? "raft"] });
  const store = new KvStore();
  const node = await RaftNode.start<KvResult>({
    id: 1,
    peers: [1],
    storage,
    transport: { start() {}, send() {}, close() {} },
    stateMachine: store,
    tickMs: options.tickMs ?? 20,
    electionTick: 2,
    // Deno KV values are limited to 64 KiB: keep entries and snapshots chunked small.
    snapshotEntries: options.snapshotEntries ?? 1000,
    snapshotCatchUpEntries: 0,
  });
  node.campaign();
  const app = createKvApp(node, store, {
    directory: new MemberDirectory(),
    maxValueBytes: 16 * 1024,
    page: { title: "raft-ts key-value store on Deno Deploy", kvPath: "/kv" },
    allowedHosts: options.allowedHosts ?? false,
    ...(options.secret !== undefined ? { adminSecret: options.secret } : {}),
    ...(storage instanceof MemoryStorage ? {} : { storage }),
  });
  const fenced = storage instanceof MemoryStorage ? undefined : storage;
  const fetch = async (req: Request): Promise<Response> => {
    // Another instance may have taken the storage over: then this one must not answer.
    if (fenced !== undefined && !node.closed && !(await fenced.checkOwner())) await node.close();
    if (fenced !== undefined && node.closed) {
      return errorResponse(
        503,
        "instance_replaced",
        "Cannot serve the request: another instance now owns the data; retry",
        {},
        { "retry-after": "1" },
      );
    }
    return await app.fetch(req);
  };
  return { app, fetch, node, close: () => node.close() };
}

if (import.meta.main) {
  const D = (globalThis as unknown as { Deno: DenoLike }).Deno;
  const kind = D.env.get("RAFT_STORAGE") ?? (typeof D.openKv === "function" ? "kv" : "memory");
  if (kind !== "kv" && kind !== "memory") {
    throw new RangeError(`Cannot use RAFT_STORAGE: expected kv or memory, got '${kind}'`);
  }
  if (kind === "kv" && typeof D.openKv !== "function") {
    throw new TypeError("Cannot open Deno KV: run with --unstable-kv, or set RAFT_STORAGE=memory");
  }
  const secret = D.env.get("RAFT_SECRET");
  const prefix = D.env.get("RAFT_KV_PREFIX");
  const hosts = D.env.get("RAFT_ALLOWED_HOSTS");
  const service = await createDeployApp({
    kv: kind === "kv" ? await D.openKv!() : undefined,
    ...(prefix !== undefined ? { prefix } : {}),
    ...(secret !== undefined ? { secret } : {}),
    ...(hosts !== undefined ? { allowedHosts: hosts.split(",").map((h) => h.trim()) } : {}),
  });
  D.serve(service.fetch);
}
