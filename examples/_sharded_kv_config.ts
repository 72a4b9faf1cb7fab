/**
 * The flags of `sharded_kv.ts` and their parsing (flags, else environment
 * variables), with one-line errors naming the flag.
 *
 * @module
 */

import { flagReader, type FlagTable, helpText, parseFlags } from "./_cli.ts";
import {
  checkSecret,
  configError,
  logFlag,
  oneOf,
  parseHostPort,
  parseIdMap,
  positiveInt,
  secretOf,
  sqliteWriterFlag,
  sqliteWriterOf,
} from "./_kv_config.ts";

/** The flags of `sharded_kv.ts`. */
export const shardedKvFlags = {
  id: { type: "string", value: "N", env: "RAFT_ID", help: "this host's ID (required)" },
  listen: {
    type: "string",
    value: "host:port",
    env: "RAFT_LISTEN",
    help: "where the HTTP API listens (default 127.0.0.1:8080; port 0: any free port)",
  },
  peers: {
    type: "string",
    value: "1=URL,2=URL",
    env: "RAFT_PEERS",
    help: "every host's API URL (http://), this host's included; every host runs every group",
  },
  "peer-listen": {
    type: "string",
    value: "host:port",
    env: "RAFT_PEER_LISTEN",
    help: "where this host's peer transport listens (required with other hosts)",
  },
  "peer-urls": {
    type: "string",
    value: "1=URL,2=URL",
    env: "RAFT_PEER_URLS",
    help: "every host's peer transport URL (ws:// or wss://)",
  },
  groups: {
    type: "string",
    value: "G",
    env: "RAFT_GROUPS",
    help: "how many groups the key space is split into (default 16; the same on every host)",
  },
  "data-dir": {
    type: "string",
    value: "DIR",
    env: "RAFT_DATA_DIR",
    help:
      "where host-<id>.db lives (every group in one file; default ./data; :memory: keeps nothing)",
  },
  "sqlite-writer": sqliteWriterFlag,
  "secret-file": {
    type: "string",
    value: "FILE",
    env: "RAFT_SECRET_FILE",
    help: "the file holding the cluster secret (16+ bytes, the same on every host)",
  },
  secret: { type: "string", value: "S", help: "the cluster secret itself (visible in `ps`)" },
  "cluster-id": {
    type: "string",
    value: "NAME",
    env: "RAFT_CLUSTER_ID",
    help: "the cluster's name (default sharded-kv)",
  },
  "tick-ms": { type: "string", value: "MS", env: "RAFT_TICK_MS", help: "the tick (default 100)" },
  "election-tick": {
    type: "string",
    value: "N",
    env: "RAFT_ELECTION_TICK",
    help: "ticks before an election (default 10)",
  },
  quiesce: {
    type: "string",
    value: "on|off",
    env: "RAFT_QUIESCE",
    help: "whether idle groups rest (no ticks, no heartbeats; default on)",
  },
  "balance-ms": {
    type: "string",
    value: "MS",
    env: "RAFT_BALANCE_MS",
    help: "how often leaders are handed to their groups' preferred hosts (default 1000)",
  },
  "snapshot-entries": {
    type: "string",
    value: "N",
    env: "RAFT_SNAPSHOT_ENTRIES",
    help: "take a group's snapshot every N entries (default 10000)",
  },
  log: logFlag,
  help: { type: "boolean", help: "print this table" },
} as const satisfies FlagTable;

/** `sharded_kv.ts --help`. */
export const shardedKvHelp: string = helpText(
  "sharded_kv.ts --id N --listen host:port --peers 1=URL,... --peer-listen host:port --peer-urls 1=URL,...",
  shardedKvFlags,
  [
    "Every host runs a replica of every group; each key belongs to one group (a hash of the key).",
    "Writes that reach a host which does not lead the key's group are redirected (307) to the one that does.",
  ],
);

/** The configuration of a sharded key-value host. */
export interface ShardedKvConfig {
  /** This host's ID. */
  id: number;
  /** Where the HTTP API listens. */
  hostname: string;
  /** The API's port (0: any free port). */
  port: number;
  /** Every host's API URL, by ID. */
  peers: Map<number, string>;
  /** Where the peer transport listens; `undefined` for a single host. */
  peerListen: { hostname: string; port: number } | undefined;
  /** Every host's peer transport URL, by ID. */
  peerUrls: Map<number, string>;
  /** Groups in the key space. */
  groups: number;
  /** Where the database lives, or `":memory:"`. */
  dataDir: string;
  /** Where SQLite writes: on the event loop, or on the host storage's writer thread. */
  sqliteWriter: "inline" | "worker";
  /** The cluster secret (a single host may have none). */
  secret: string | undefined;
  /** The cluster's name. */
  clusterId: string;
  /** The tick, in ms. */
  tickMs: number;
  /** Ticks before an election. */
  electionTick: number;
  /** Whether idle groups rest (`RaftHostOptions.quiesce`). */
  quiesce: boolean;
  /** The leader balancer's interval, in ms. */
  balanceMs: number;
  /** Entries between two snapshots of a group. */
  snapshotEntries: number;
  /** Log level. */
  log: "debug" | "info" | "warn" | "quiet";
}

/**
 * Reads the configuration from flags, falling back to environment variables.
 *
 * @param args The command-line arguments (without the program).
 * @param env The environment.
 * @returns The configuration.
 * @throws {CliError} With exit status 2, naming the flag.
 */
export function parseShardedKvConfig(
  args: readonly string[],
  env: Record<string, string | undefined>,
): ShardedKvConfig {
  const values = parseFlags(args, shardedKvFlags);
  const get = flagReader(values, shardedKvFlags, env);
  const idText = get("id");
  if (idText === undefined) throw configError("Cannot start: --id (or RAFT_ID) is required");
  const id = positiveInt(idText, "--id");
  const listen = parseHostPort(get("listen") ?? "127.0.0.1:8080", "--listen");
  const peers = parseIdMap(get("peers") ?? "", ["http:", "https:"], "--peers");
  if (peers.size > 0 && !peers.has(id)) {
    throw configError(`Cannot start: --peers must include this host (${id})`);
  }
  const peerUrls = parseIdMap(get("peer-urls") ?? "", ["ws:", "wss:"], "--peer-urls");
  const peerListenText = get("peer-listen");
  const others = [...peers.keys()].filter((p) => p !== id);
  if (others.length > 0 && peerListenText === undefined) {
    throw configError("Cannot start: other hosts in --peers need --peer-listen and --peer-urls");
  }
  const missing = [...peers.keys()].filter((p) => !peerUrls.has(p));
  if (others.length > 0 && missing.length > 0) {
    throw configError(`Cannot use --peer-urls: no URL for host ${missing.join(", ")}`);
  }
  const { secret } = secretOf(values, env);
  checkSecret(secret, false, peers, id);
  const groups = positiveInt(get("groups") ?? "16", "--groups");
  if (groups > 65_536) throw configError("Cannot use --groups: at most 65536");
  const dataDir = get("data-dir") ?? "./data";
  if (dataDir === "") throw configError("Cannot use --data-dir: it is empty");
  return {
    id,
    hostname: listen.hostname,
    port: listen.port,
    peers,
    peerListen: peerListenText === undefined
      ? undefined
      : parseHostPort(peerListenText, "--peer-listen"),
    peerUrls,
    groups,
    dataDir,
    sqliteWriter: sqliteWriterOf(get("sqlite-writer"), "inline"),
    secret,
    clusterId: get("cluster-id") ?? "sharded-kv",
    tickMs: positiveInt(get("tick-ms") ?? "100", "--tick-ms"),
    electionTick: positiveInt(get("election-tick") ?? "10", "--election-tick"),
    quiesce: oneOf(get("quiesce") ?? "on", ["on", "off"], "--quiesce") === "on",
    balanceMs: positiveInt(get("balance-ms") ?? "1000", "--balance-ms"),
    snapshotEntries: positiveInt(get("snapshot-entries") ?? "10000", "--snapshot-entries"),
    log: oneOf(get("log") ?? "info", ["debug", "info", "warn", "quiet"], "--log"),
  };
}
