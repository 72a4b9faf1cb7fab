/**
 * Starting a host of `sharded_kv.ts`: its storage (one SQLite file for
 * every group, or memory), its transport (one WebSocket connection per
 * peer host), the `RaftHost` with one key-value group per shard, the
 * leader balancer and the HTTP API.
 *
 * @module
 */

import { join } from "node:path";
import {
  type GroupId,
  type HostStorage,
  type Logger,
  MemoryHostStorage,
  RaftHost,
} from "../mod.ts";
import { MemberDirectory } from "../adapters/hono/mod.ts";
import { openSqliteHostStorage } from "../adapters/sqlite/mod.ts";
import { WebSocketHostTransport } from "../adapters/websocket/mod.ts";
import { CliError } from "./_cli.ts";
import { type KvResult, KvStore } from "./_kv_store.ts";
import { runtimeServer, type ServedHttp } from "./_serve.ts";
import { formatHost, listenError, listenUrl, prepareDataDir, serverLogger } from "./_kv_start.ts";
import type { ShardedKvConfig } from "./_sharded_kv_config.ts";
import { createShardedKvApp, LeaderBalancer } from "./_sharded_kv.ts";

/** A running host of the sharded store. */
export interface ShardedKvHost {
  /** The host. */
  host: RaftHost<KvResult>;
  /** Each group's state, by group ID. */
  stores: Map<GroupId, KvStore>;
  /** The API's URL. */
  url: string;
  /** The peer transport's URL (`undefined` for a single host). */
  peerUrl: string | undefined;
  /** The leader balancer. */
  balancer: LeaderBalancer;
  /** Stops the balancer, the host, the API and the storage. Idempotent. */
  close(): Promise<void>;
}

/** Callbacks of {@linkcode startShardedKvHost}. */
export interface ShardedKvHooks {
  /** A group stopped after a fatal error (storage or state machine): one line saying what. */
  onFatal?: (line: string) => void;
}

async function openHostStorage(
  config: ShardedKvConfig,
  logger: Logger,
): Promise<{ storage: HostStorage; where: string; close(): void | Promise<void> }> {
  if (config.dataDir === ":memory:") {
    return { storage: new MemoryHostStorage(), where: "in memory", close: () => {} };
  }
  const where = join(config.dataDir, `host-${config.id}.db`);
  prepareDataDir(config.dataDir);
  try {
    const storage = await openSqliteHostStorage(where, { logger, writer: config.sqliteWriter });
    return { storage, where, close: () => storage.close() };
  } catch (e) {
    throw new CliError(1, `Cannot open '${where}': ${e instanceof Error ? e.message : e}`, {
      cause: e,
    });
  }
}

/**
 * Starts one host of the sharded store.
 *
 * @param config The configuration.
 * @param hooks Where a group's fatal error goes.
 * @returns The running host.
 * @throws {CliError} With exit status 1 when a port cannot be bound or the
 *   data directory or database cannot be used; what was opened is closed.
 */
export async function startShardedKvHost(
  config: ShardedKvConfig,
  hooks: ShardedKvHooks = {},
): Promise<ShardedKvHost> {
  const logger = serverLogger(`[host ${config.id}]`, config.log);
  const cleanups: (() => unknown)[] = [];
  try {
    return await start(config, hooks, logger, cleanups);
  } catch (e) {
    for (const f of cleanups.reverse()) await Promise.resolve().then(f).catch(() => {});
    throw e;
  }
}

async function start(
  config: ShardedKvConfig,
  hooks: ShardedKvHooks,
  logger: Logger,
  cleanups: (() => unknown)[],
): Promise<ShardedKvHost> {
  const opened = await openHostStorage(config, logger);
  cleanups.push(opened.close);
  const hostIds = config.peers.size > 0 ? [...config.peers.keys()] : [config.id];
  const transport = new WebSocketHostTransport({
    id: config.id,
    clusterId: config.clusterId,
    secret: config.secret ?? crypto.randomUUID(),
    ...(config.peerListen !== undefined
      ? { hostname: config.peerListen.hostname, port: config.peerListen.port }
      : { server: "none" as const }),
    peers: new Map([...config.peerUrls].filter(([id]) => id !== config.id)),
    logger,
  });
  cleanups.push(() => transport.close());
  const peerUrl = config.peerListen !== undefined
    ? (await transport.listen().catch((e) => {
      const { hostname, port } = config.peerListen!;
      throw listenError(e, `${formatHost(hostname)}:${port}`, "--peer-listen");
    })).url
    : undefined;

  const host = await RaftHost.start<KvResult>({
    hostId: config.id,
    transport,
    storage: opened.storage,
    tickMs: config.tickMs,
    logger,
    quiesce: config.quiesce,
    groupDefaults: {
      electionTick: config.electionTick,
      heartbeatTick: 1,
      preVote: true,
      checkQuorum: true,
      snapshotEntries: config.snapshotEntries,
    },
  });
  cleanups.push(() => host.close());
  const existing = new Set(opened.storage.groupIds());
  const stores = new Map<GroupId, KvStore>();
  for (let groupId = 1; groupId <= config.groups; groupId++) {
    const store = new KvStore();
    stores.set(groupId, store);
    const node = await host.addGroup({
      groupId,
      stateMachine: store,
      ...(existing.has(groupId) ? {} : { peers: hostIds }),
    });
    node.on("fatal", ({ error }) =>
      hooks.onFatal?.(
        `group ${groupId} stopped: ${
          error.message.split("\n")[0]
        }; data ${opened.where}. Restart the host: it reopens its file and catches up from the others.`,
      ));
  }

  const directory = new MemberDirectory();
  for (const [id, apiUrl] of config.peers) directory.set(id, { apiUrl });
  const runtime = await runtimeServer();
  const serving: { fetch?: (req: Request, env: unknown) => Response | Promise<Response> } = {};
  const http: ServedHttp = await Promise.resolve().then(() =>
    runtime.serve(
      (req, env) =>
        serving.fetch?.(req, env) ??
          new Response('{"error":{"code":"starting","message":"Cannot serve yet"}}', {
            status: 503,
          }),
      config.hostname,
      config.port,
      undefined,
    )
  ).catch((e) => {
    throw listenError(e, `${formatHost(config.hostname)}:${config.port}`, "--listen");
  });
  cleanups.push(() => http.stop());
  const url = config.peers.get(config.id) ?? listenUrl(config.hostname, http.port);
  if (!directory.get(config.id)) directory.set(config.id, { apiUrl: url });
  const app = createShardedKvApp(host, stores, { directory, selfUrl: url, logger });
  serving.fetch = (req, env) => app.fetch(req, env);
  const balancer = new LeaderBalancer(host, { intervalMs: config.balanceMs, logger });

  if (config.log !== "quiet") {
    console.error(
      `[host ${config.id}] serving ${url}, peers on ${
        peerUrl ?? "(none)"
      }, ${config.groups} groups over hosts ${hostIds.join(",")}, data ${opened.where}`,
    );
  }
  let closing: Promise<void> | undefined;
  return {
    host,
    stores,
    url,
    peerUrl,
    balancer,
    close: () =>
      closing ??= (async () => {
        balancer.stop();
        await host.close();
        await http.stop();
        await opened.close();
      })(),
  };
}
