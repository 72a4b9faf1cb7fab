/**
 * The configuration of `kv_server.ts`: its flags, their environment
 * variables, and their parsing into a {@linkcode KvServerConfig}.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { defaultSessionLimits } from "../mod.ts";
import type { LeaderRouting } from "../adapters/hono/mod.ts";
import {
  CliError,
  flagReader,
  type FlagSpec,
  type FlagTable,
  helpText,
  parseFlags,
} from "./_cli.ts";

const utf8 = new TextEncoder();

/** The log level flag of both example servers. */
export const logFlag = {
  type: "string",
  value: "LEVEL",
  env: "RAFT_LOG",
  help: "debug, info (default), warn or quiet",
} as const satisfies FlagSpec;

/** Where SQLite writes, a flag of both example servers. */
export const sqliteWriterFlag = {
  type: "string",
  value: "inline|worker",
  env: "RAFT_SQLITE_WRITER",
  help: "where SQLite writes: on the event loop (default inline) or on a thread of its own",
} as const satisfies FlagSpec;

/**
 * Reads `--sqlite-writer`.
 *
 * @param text The flag's value, if given.
 * @param fallback The value when it is not.
 * @returns The writer.
 * @throws {CliError} With exit status 2 when it is neither.
 */
export function sqliteWriterOf(
  text: string | undefined,
  fallback: "inline" | "worker",
): "inline" | "worker" {
  return oneOf(text ?? fallback, ["inline", "worker"], "--sqlite-writer");
}

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
  state: {
    type: "string",
    value: "sqlite|memory",
    env: "RAFT_STATE",
    help:
      "where the keys live: memory (default; rebuilt from the snapshot and the log at start) or tables of node-<id>.db (a restart applies nothing again; state larger than memory); one kind per cluster",
  },
  "sqlite-writer": sqliteWriterFlag,
  "deno-serve": {
    type: "boolean",
    env: "RAFT_DENO_SERVE",
    help: "on Deno, serve with Deno.serve: less CPU per request, but no header or idle timeouts",
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
  "snapshot-catch-up-entries": {
    type: "string",
    value: "N",
    env: "RAFT_SNAPSHOT_CATCH_UP_ENTRIES",
    help:
      "entries kept in the log behind a snapshot, for followers that lag a little (default 5000)",
  },
  "max-snapshot-bytes": {
    type: "string",
    value: "N",
    env: "RAFT_MAX_SNAPSHOT_BYTES",
    help: "the largest snapshot sent to or accepted from a peer (default 1099511627776: 1 TiB)",
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
  log: logFlag,
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
   * On Deno, serve with `Deno.serve` instead of `node:http`: less CPU per
   * request, but slow and idle clients are never cut off (for a server
   * behind a proxy that enforces its own timeouts).
   */
  denoServe: boolean;
  /**
   * Where the keys live: in SQLite tables of the node's database file, or
   * in memory (rebuilt from the snapshot and the log at each start).
   */
  state: "sqlite" | "memory";
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
  /** Entries kept in the log behind a snapshot (fewer: a lagging follower gets a snapshot sooner). */
  snapshotCatchUpEntries: number;
  /** The largest snapshot the transport sends or accepts. */
  maxSnapshotBytes: number;
  /** The largest value. */
  maxValueBytes: number;
  /** How long an `Idempotency-Key`'s first answer is kept (the node's `sessionLimits.keyTtlMs`). */
  idempotencyTtlMs: number;
}

/** Used by the flags of both example servers. */
export function configError(message: string): CliError {
  return new CliError(2, message);
}

/** Used by the flags of both example servers. */
export function parseHostPort(s: string, what: string): { hostname: string; port: number } {
  const m = /^(.*):(\d{1,5})$/.exec(s);
  const port = m === null ? NaN : Number(m[2]);
  if (m === null || m[1] === "" || port > 65535) {
    throw configError(`Cannot use ${what}: expected host:port, got '${s}'`);
  }
  return { hostname: m[1]!.replace(/^\[(.*)\]$/, "$1"), port };
}

/** A URL with one of `protocols`, a host and no query or fragment; trailing slashes dropped. */
export function checkUrl(url: string, protocols: readonly string[], what: string): string {
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

/** Used by the flags of both example servers. */
export function parseIdMap(
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

/** Used by the flags of both example servers. */
export function positiveInt(s: string, what: string): number {
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
export function secretOf(
  values: { "secret-file"?: string | undefined; secret?: string | undefined },
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

/** The value if it is one of `allowed`; else an error naming the flag. */
/** Used by the flags of both example servers. */
export function oneOf<const T extends string>(
  value: string,
  allowed: readonly T[],
  flag: string,
): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  const list = `${allowed.slice(0, -1).join(", ")} or ${allowed[allowed.length - 1]}`;
  throw configError(`Cannot use ${flag}: expected ${list}, got '${value}'`);
}

/** Refuses a missing secret where peers need one, and a secret that cannot be a Bearer token. */
/** Used by the flags of both example servers. */
export function checkSecret(
  secret: string | undefined,
  join: boolean,
  peers: Map<number, string>,
  id: number,
): void {
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
  const get = flagReader(values, kvServerFlags, env);
  const flag = (f: "join" | "demo" | "deno-serve"): boolean =>
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
  checkSecret(secret, join, peers, id);
  const routing = oneOf(
    get("routing") ?? "redirect",
    ["redirect", "forward", "error"],
    "--routing",
  );
  const log = oneOf(get("log") ?? "info", ["debug", "info", "warn", "quiet"], "--log");
  const dataDir = get("data-dir") ?? "./data";
  if (dataDir === "") throw configError("Cannot use --data-dir: it is empty");
  const sqliteWriter = sqliteWriterOf(get("sqlite-writer"), "inline");
  const state = oneOf(get("state") ?? "memory", ["sqlite", "memory"], "--state");
  if (state === "sqlite" && dataDir === ":memory:") {
    throw configError(
      "Cannot use --state sqlite with --data-dir :memory:: the keys live in the database file",
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
    denoServe: flag("deno-serve"),
    state,
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
    snapshotCatchUpEntries: positiveInt(
      get("snapshot-catch-up-entries") ?? "5000",
      "--snapshot-catch-up-entries",
    ),
    maxSnapshotBytes: positiveInt(
      get("max-snapshot-bytes") ?? String(2 ** 40),
      "--max-snapshot-bytes",
    ),
    maxValueBytes: positiveInt(get("max-value-bytes") ?? "65536", "--max-value-bytes"),
    idempotencyTtlMs: positiveInt(
      get("idempotency-ttl-ms") ?? String(defaultSessionLimits.keyTtlMs),
      "--idempotency-ttl-ms",
    ),
  };
}

/** A file-system error, in words. */
export function fsReason(e: unknown): string {
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
