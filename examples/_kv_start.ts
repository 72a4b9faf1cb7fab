/**
 * Starting a node of `kv_server.ts`: its storage, transport, Raft node and
 * HTTP server, and the one-line failures of each step.
 *
 * @module
 */

import { accessSync, constants as fsConstants, mkdirSync } from "node:fs";
import { join } from "node:path";
import {
  consoleLogger,
  discardLogger,
  type Logger,
  MemoryStorage,
  type NodeStorage,
  RaftNode,
  type StateMachine,
  type Transport,
} from "../mod.ts";
import { SqliteStorageError } from "../adapters/sqlite/mod.ts";
import { type PeerAcceptor, WebSocketTransport } from "../adapters/websocket/mod.ts";
import { MemberDirectory, type RaftApp, TransportMonitor } from "../adapters/hono/mod.ts";
import { demoRoutes, demoTokenOf, restartThrough } from "./_demo_routes.ts";
import { CliError } from "./_cli.ts";
import { type RuntimeServer, runtimeServer, type ServedHttp } from "./_serve.ts";
import { createKvApp } from "./_kv_app.ts";
import { fsReason, type KvServerConfig } from "./_kv_config.ts";
import { type KvResult, type KvState, KvStore } from "./_kv_store.ts";
import { openKvState } from "./_kv_sqlite_store.ts";

// ---------------------------------------------------------------------------
// Startup failures, in one line

/** The one-line failure of a server that cannot listen (both example servers). */
export function listenError(e: unknown, address: string, flag: string): CliError {
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

/** Creates the data directory (0700) and checks that it is writable (both example servers). */
export function prepareDataDir(dir: string): void {
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
 * The one-line failure of a node whose latest snapshot was taken with the
 * other `--state` (its data cannot be restored), or `undefined`.
 */
function otherStateError(
  e: unknown,
  state: "sqlite" | "memory",
  where: string,
): CliError | undefined {
  const foreign = state === "sqlite"
    ? e instanceof SqliteStorageError && e.code === "corrupt_record" &&
      /snapshot header/.test(e.message)
    : e instanceof SyntaxError;
  if (!foreign) return undefined;
  const other = state === "sqlite" ? "memory" : "sqlite";
  return new CliError(
    1,
    `Cannot start with --state ${state}: the snapshot in '${where}' was taken with --state ${other}; start the node with --state ${other}`,
    { cause: e },
  );
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

/** A server's console logger at `--log`'s level, each line starting with `prefix`. */
export function serverLogger(prefix: string, level: KvServerConfig["log"]): Logger {
  if (level === "quiet") return discardLogger;
  return consoleLogger(level === "warn" ? "warning" : level, { prefix });
}

function toWsUrl(apiUrl: string, path: string): string {
  const u = new URL(apiUrl);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  u.pathname = path;
  return u.toString().replace(/\/$/, path === "/" ? "/" : "");
}

/** A host name as it goes before `:port` (IPv6 in brackets). */
export function formatHost(h: string): string {
  return h.includes(":") ? `[${h}]` : h;
}

/** The API URL of a listening address: a wildcard address is reached as `localhost`. */
export function listenUrl(hostname: string, port: number): string {
  const h = hostname === "0.0.0.0" || hostname === "::" ? "localhost" : formatHost(hostname);
  return `http://${h}:${port}`;
}

/** A running key-value server. */
export interface KvServer {
  /** The node. */
  node: RaftNode<KvResult>;
  /** The state machine. */
  store: KvState;
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
  const logger = serverLogger(`[node ${config.id}]`, config.log);
  const runtime = await runtimeServer({}, { denoServe: config.denoServe });
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

/** What {@linkcode openStorage} opened. */
interface OpenedState {
  storage: NodeStorage | MemoryStorage;
  /** The key-value state machine. */
  store: KvState & StateMachine<KvResult>;
  /** Closes the state machine and the storage. */
  close(): unknown;
  where: string;
}

/**
 * Opens the node's storage and its state machine: SQLite in the data
 * directory (the keys in its tables, or in memory), or memory.
 */
async function openStorage(
  config: KvServerConfig,
  logger: Logger,
  cleanups: (() => unknown)[],
): Promise<OpenedState> {
  if (config.dataDir === ":memory:") {
    return {
      storage: new MemoryStorage(),
      store: new KvStore(),
      close: () => {},
      where: "in memory (lost on exit)",
    };
  }
  prepareDataDir(config.dataDir);
  const where = join(config.dataDir, `node-${config.id}.db`);
  // Its save() is synchronous (it fsyncs, blocking the event loop); the
  // node yields to pending I/O before each write (`yieldBeforeSave`, on
  // by default), so requests that arrived meanwhile share the next fsync.
  const options = { logger, writer: config.sqliteWriter };
  let opened: OpenedState;
  try {
    opened = { ...await openKvState(where, config.state, options), where };
  } catch (e) {
    throw openError(e, where, config.dataDir);
  }
  cleanups.push(opened.close);
  return opened;
}

async function start(
  config: KvServerConfig,
  hooks: KvServerHooks,
  logger: Logger,
  runtime: RuntimeServer,
  cleanups: (() => unknown)[],
): Promise<KvServer> {
  const state = await openStorage(config, logger, cleanups);
  const { storage, store, where } = state;
  // Without a secret (a single node), peers and admin requests are refused:
  // the transport's key is random and the app has no admin secret.
  const secret = config.secret ?? randomSecret();
  const separatePeerPort = config.peerListen !== undefined;
  // On Node, peers' upgrades reach the transport once it exists.
  const peerAcceptor = laterAcceptor();

  // The API listens first, so that its real port is known (port 0).
  const serving: { app?: RaftApp } = {};
  const http = await listenApi(
    config,
    runtime,
    serving,
    separatePeerPort ? undefined : peerAcceptor,
  );
  cleanups.push(() => http.stop());
  const url = config.advertiseUrl ?? config.peers.get(config.id) ??
    listenUrl(config.hostname, http.port);

  const { peerWsUrls, ownPeerUrl } = peerUrlsOf(config, url);
  const { wsTransport, transportUrl } = await openTransport(
    config,
    secret,
    { peerWsUrls, ownPeerUrl },
    { logger, cleanups, peerAcceptor },
  );

  const monitor = new TransportMonitor();
  const transport: Transport = monitor.wrap(wsTransport);
  const node = await startNode(config, { storage, store, where }, transport, logger);
  cleanups.push(() => node.close());

  const directory = memberDirectory(config, url, ownPeerUrl, peerWsUrls);

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await node.close();
      await http.stop();
      await state.close();
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
    console.error(startupLine(config, url, http.port, ownPeerUrl ?? transportUrl, where));
  }
  return { node, store, app, url, where, close };
}

/** Starts the node on its storage and state; a state of the other `--state` is one line. */
async function startNode(
  config: KvServerConfig,
  state: Pick<Awaited<ReturnType<typeof openStorage>>, "storage" | "store" | "where">,
  transport: Transport,
  logger: Logger,
): Promise<RaftNode<KvResult>> {
  try {
    return await RaftNode.start<KvResult>({
      id: config.id,
      storage: state.storage,
      transport,
      stateMachine: state.store,
      // Without --peers, a cluster of one.
      peers: config.join ? [] : config.peers.size > 0 ? [...config.peers.keys()] : [config.id],
      tickMs: config.tickMs,
      electionTick: config.electionTick,
      snapshotEntries: config.snapshotEntries,
      snapshotCatchUpEntries: config.snapshotCatchUpEntries,
      sessionLimits: { keyTtlMs: config.idempotencyTtlMs },
      logger,
    });
  } catch (e) {
    throw otherStateError(e, config.state, state.where) ?? e;
  }
}

/**
 * The node's transport, its sockets taken from `peerAcceptor` (the API's
 * port) or, with `--peer-listen`, from its own port, whose URL it returns.
 */
async function openTransport(
  config: KvServerConfig,
  secret: string,
  { peerWsUrls, ownPeerUrl }: { peerWsUrls: Map<number, string>; ownPeerUrl: string | undefined },
  { logger, cleanups, peerAcceptor }: {
    logger: Logger;
    cleanups: (() => unknown)[];
    peerAcceptor: { target?: PeerAcceptor };
  },
): Promise<{ wsTransport: WebSocketTransport; transportUrl: string | undefined }> {
  // Peers dial the API's port, whose `/raft` route hands their sockets to
  // the transport; or, with --peer-listen, the transport's own port.
  const wsTransport = new WebSocketTransport({
    id: config.id,
    clusterId: config.clusterId,
    secret,
    ...(config.peerListen !== undefined
      ? { hostname: config.peerListen!.hostname, port: config.peerListen!.port }
      : { server: "none" as const }),
    peers: peerWsUrls,
    // Snapshots stream in chunks from and to the database: the state may outgrow memory.
    maxSnapshotBytes: config.maxSnapshotBytes,
    ...(ownPeerUrl !== undefined ? { advertiseUrl: ownPeerUrl } : {}),
    logger,
  });
  cleanups.push(() => wsTransport.close());
  peerAcceptor.target = wsTransport;
  const transportUrl = config.peerListen !== undefined
    ? (await wsTransport.listen().catch((e) => {
      const { hostname, port } = config.peerListen!;
      throw listenError(e, `${formatHost(hostname)}:${port}`, "--peer-listen");
    })).url
    : undefined;
  return { wsTransport, transportUrl };
}

/** A peer acceptor that hands sockets to its `target` once set, and refuses them until then. */
function laterAcceptor(): PeerAcceptor & { target?: PeerAcceptor } {
  return {
    acceptPeer(request) {
      return this.target?.acceptPeer(request) ??
        Promise.resolve({
          accept: false,
          status: 503,
          reason: "Cannot accept peers yet: starting",
        });
    },
  };
}

/** Serves the HTTP API (503 until `serving.app` is set); peers' sockets on `/raft` go to `acceptor`. */
async function listenApi(
  config: KvServerConfig,
  runtime: RuntimeServer,
  serving: { app?: RaftApp },
  acceptor: PeerAcceptor | undefined,
): Promise<ServedHttp> {
  // Bun throws at once when the port is taken; Deno and Node reject.
  return await Promise.resolve().then(() =>
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
      acceptor === undefined ? undefined : { path: "/raft", acceptor },
    )
  ).catch((e) => {
    throw listenError(e, `${formatHost(config.hostname)}:${config.port}`, "--listen");
  });
}

/** Every other member's WebSocket URL, by ID, and this node's own. */
function peerUrlsOf(
  config: KvServerConfig,
  url: string,
): { peerWsUrls: Map<number, string>; ownPeerUrl: string | undefined } {
  const peerWsUrls = new Map<number, string>();
  for (const [id, api] of config.peers) {
    const ws = config.peerListen !== undefined ? config.peerUrls.get(id) : toWsUrl(api, "/raft");
    if (ws !== undefined && id !== config.id) peerWsUrls.set(id, ws);
  }
  const ownPeerUrl = config.peerListen !== undefined
    ? config.peerUrls.get(config.id)
    : toWsUrl(url, "/raft");
  return { peerWsUrls, ownPeerUrl };
}

/** The members' API and peer URLs, this node's as it advertises them. */
function memberDirectory(
  config: KvServerConfig,
  url: string,
  ownPeerUrl: string | undefined,
  peerWsUrls: Map<number, string>,
): MemberDirectory {
  const directory = new MemberDirectory();
  for (const [id, api] of config.peers) {
    const peerUrl = id === config.id ? ownPeerUrl : peerWsUrls.get(id);
    directory.set(id, { apiUrl: api, ...(peerUrl !== undefined ? { peerUrl } : {}) });
  }
  directory.set(config.id, {
    apiUrl: url,
    ...(ownPeerUrl !== undefined ? { peerUrl: ownPeerUrl } : {}),
  });
  return directory;
}

/** The line a node prints once it serves. */
function startupLine(
  config: KvServerConfig,
  url: string,
  port: number,
  peersAt: string | undefined,
  where: string,
): string {
  const members = config.join
    ? "joining a cluster"
    : config.peers.size > 1
    ? `cluster of ${[...config.peers.keys()].join(",")}`
    : `single node${config.secret === undefined ? " (no secret: peers are refused)" : ""}`;
  const bound = `${formatHost(config.hostname)}:${port}`;
  return `[node ${config.id}] serving ${url}${
    url === listenUrl(config.hostname, port) ? "" : ` (listening on ${bound})`
  }, peers on ${peersAt}, data ${where}, ${members}`;
}

function randomSecret(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(32)), (b) => b.toString(16)).join("");
}
