/**
 * The options, address and metrics types of `WebSocketTransport`
 * (re-exported by the `websocket` entry point), and the checks of the options.
 *
 * @module
 */

import type { Logger } from "../../core/logger.ts";
import type { Scheduler } from "../../core/node.ts";
import type { NodeId } from "../../core/types.ts";
import { checkNumberOption } from "../../core/node/options.ts";
import { type PeerConnectionState, type PeerLimits, wireOverheadBytes } from "./_peer.ts";
import { isPeerUrl } from "./peer_context.ts";
import type { ClientKind, ServerKind, TlsConfig } from "./_runtime.ts";

/**
 * Options of {@linkcode WebSocketTransport}. Only `id`, `clusterId` and
 * `secret` are required.
 *
 * @example A node that listens on all interfaces and knows two peers
 * ```ts
 * import type { WebSocketTransportOptions } from "@raft-ts/raft/websocket";
 * const options: WebSocketTransportOptions = {
 *   id: 1,
 *   clusterId: "orders",
 *   secret: "a long random secret shared by the cluster",
 *   hostname: "0.0.0.0",
 *   port: 7001,
 *   advertiseUrl: "ws://10.0.0.1:7001/raft",
 *   peers: new Map([[2, "ws://10.0.0.2:7001/raft"], [3, "ws://10.0.0.3:7001/raft"]]),
 * };
 * if (options.peers?.size !== 2) throw new Error("unexpected");
 * ```
 */
export interface WebSocketTransportOptions {
  /** This node's ID; the handler given to `start()` must carry the same. */
  id: NodeId;
  /**
   * The cluster's name, 1 to 64 printable ASCII characters. Connections
   * from a node of another cluster are refused.
   */
  clusterId: string;
  /**
   * The secret every node of the cluster shares, at least 16 bytes (a
   * string is UTF-8 encoded). Connections that cannot prove it are refused.
   */
  secret: string | Uint8Array;
  /**
   * The address to listen on.
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * The port to listen on; 0 picks a free one (see `listen()`).
   * @default {0}
   */
  port?: number;
  /**
   * The path of the WebSocket endpoint; other paths answer 404.
   * @default {"/raft"}
   */
  path?: string;
  /**
   * This node's URL as peers should dial it, sent in the handshake (for
   * their logs: peers dial only addresses from their own configuration and
   * from membership changes).
   * @default {the listening URL, unless listening on a wildcard address}
   */
  advertiseUrl?: string;
  /**
   * The members known at start, with their addresses: node ID to `ws://`
   * or `wss://` URL. Only members may connect; later ones come from
   * `addPeer`. These addresses take precedence over ones given later.
   * @default {new Map()}
   */
  peers?: ReadonlyMap<NodeId, string>;
  /**
   * Serve `wss://` with this certificate chain and key (PEM).
   * @default {undefined}
   */
  tls?: TlsConfig;
  /**
   * Extra CA certificates (PEM) the client trusts, for `ws` and Bun's
   * client. Deno's client takes them from `--cert` or `DENO_CERT`.
   * @default {undefined}
   */
  ca?: string;
  /**
   * The server implementation: detected from the runtime, or forced; or
   * `"none"` when another server (the application's HTTP server) hands
   * peers' sockets to {@linkcode WebSocketTransport.acceptPeer}: then the
   * transport never listens itself, and `hostname`, `port`, `path` and
   * `tls` are unused.
   * @default {"auto"}
   */
  server?: "auto" | "none" | ServerKind;
  /**
   * The client implementation: the standard `WebSocket` on Deno and Bun,
   * `ws` elsewhere, or forced.
   * @default {"auto"}
   */
  client?: "auto" | ClientKind;
  /**
   * The largest WebSocket message sent or accepted, in bytes; a peer that
   * sends a larger one is disconnected.
   * @default {16777216}
   */
  maxFrameBytes?: number;
  /**
   * Messages waiting to be sent to one peer at most; more are dropped.
   * @default {4096}
   */
  maxQueuedMessages?: number;
  /**
   * Bytes waiting to be sent to one peer at most; more are dropped. At least `maxFrameBytes`.
   * @default {67108864}
   */
  maxQueuedBytes?: number;
  /**
   * The size of the chunks snapshots are streamed in.
   * @default {1048576}
   */
  snapshotChunkBytes?: number;
  /**
   * The largest snapshot sent or accepted, in bytes.
   * @default {1073741824}
   */
  maxSnapshotBytes?: number;
  /**
   * How long a sent snapshot may wait for the receiver's acknowledgement
   * before it is reported failed.
   * @default {30000}
   */
  snapshotAckTimeoutMs?: number;
  /**
   * How long a connection attempt may take.
   * @default {5000}
   */
  connectTimeoutMs?: number;
  /**
   * The first reconnection delay cap; it doubles with each failure.
   * @default {100}
   */
  reconnectBaseMs?: number;
  /**
   * The largest reconnection delay.
   * @default {5000}
   */
  reconnectMaxMs?: number;
  /**
   * How far a handshake's timestamp may be from this node's clock.
   * @default {300000}
   */
  maxClockSkewMs?: number;
  /**
   * Inbound connections (open or being authenticated) at most; more are refused with 503.
   * @default {256}
   */
  maxInboundConnections?: number;
  /**
   * Where reconnection, connection and acknowledgement timers come from.
   * @default {globalScheduler}
   */
  scheduler?: Scheduler;
  /**
   * Randomness in `[0, 1)` for the backoff jitter.
   * @default {Math.random}
   */
  random?: () => number;
  /**
   * The wall clock for handshake timestamps, in ms since the epoch.
   * @default {Date.now}
   */
  now?: () => number;
  /**
   * Where connection events and refused input are logged.
   * @default {discardLogger}
   */
  logger?: Logger;
}

/**
 * Where a transport listens, as `listen()` returns it.
 *
 * @example Usage
 * ```ts
 * import { WebSocketTransport, type WebSocketTransportAddress } from "@raft-ts/raft/websocket";
 * const t = new WebSocketTransport({ id: 1, clusterId: "c", secret: "0123456789abcdef" });
 * const addr: WebSocketTransportAddress = await t.listen();
 * if (addr.url !== `ws://127.0.0.1:${addr.port}/raft`) throw new Error("unexpected");
 * await t.close();
 * ```
 */
export interface WebSocketTransportAddress {
  /** The address it is bound to. */
  hostname: string;
  /** The port it is bound to. */
  port: number;
  /** The URL peers dial: `ws://hostname:port/path` (or `wss://`). */
  url: string;
}

/**
 * Counters and state of the connections with one peer.
 *
 * @example Finding peers that are not connected
 * ```ts
 * import { WebSocketTransport, type WebSocketPeerMetrics } from "@raft-ts/raft/websocket";
 * const t = new WebSocketTransport({
 *   id: 1,
 *   clusterId: "c",
 *   secret: "0123456789abcdef",
 *   peers: new Map([[2, "ws://127.0.0.1:9/raft"]]),
 * });
 * const down: WebSocketPeerMetrics[] = t.metrics().peers.filter((p) => p.state !== "open");
 * if (down.length !== 1) throw new Error("unexpected");
 * await t.close();
 * ```
 */
export interface WebSocketPeerMetrics {
  /** The peer's ID. */
  id: NodeId;
  /** The peer's URL, if known. */
  url: string | undefined;
  /** The state of the outbound connection (`"none"` for a peer only seen inbound). */
  state: PeerConnectionState | "none";
  /** Open inbound connections from the peer (0 or 1). */
  inboundConnections: number;
  /** Raft messages handed to the socket. */
  messagesSent: number;
  /** Bytes handed to the socket. */
  bytesSent: number;
  /** WebSocket messages handed to the socket. */
  framesSent: number;
  /** Raft messages received and stepped. */
  messagesReceived: number;
  /** Bytes received. */
  bytesReceived: number;
  /** WebSocket messages received. */
  framesReceived: number;
  /** Raft messages dropped (queue full, peer unreachable, too large). */
  messagesDropped: number;
  /** Messages waiting in the send queue. */
  queuedMessages: number;
  /** Bytes waiting in the send queue. */
  queuedBytes: number;
  /** Outbound connections established. */
  connects: number;
  /** Outbound connections established after the first. */
  reconnects: number;
  /** Outbound connection attempts that failed. */
  connectFailures: number;
  /** Established outbound connections that were lost. */
  disconnects: number;
  /** Snapshots sent and acknowledged. */
  snapshotsSent: number;
  /** Snapshots that could not be sent. */
  snapshotsFailed: number;
  /** Snapshots received. */
  snapshotsReceived: number;
  /** The last outbound connection error. */
  lastError: string | undefined;
}

/**
 * A transport's counters: plain data, ready for `JSON.stringify`.
 *
 * @example Serving metrics over HTTP
 * ```ts
 * import { WebSocketTransport, type WebSocketTransportMetrics } from "@raft-ts/raft/websocket";
 * const t = new WebSocketTransport({ id: 1, clusterId: "c", secret: "0123456789abcdef" });
 * const handler = (): Response => Response.json(t.metrics() satisfies WebSocketTransportMetrics);
 * const body = await handler().json();
 * if (body.id !== 1) throw new Error("unexpected");
 * await t.close();
 * ```
 */
export interface WebSocketTransportMetrics {
  /** This node's ID. */
  id: NodeId;
  /** The cluster's name. */
  clusterId: string;
  /** The listening URL, once listening. */
  url: string | undefined;
  /** The server implementation (`"none"`: sockets come through `acceptPeer`). */
  server: ServerKind | "none";
  /** The client implementation. */
  client: ClientKind;
  /** Whether `start()` was called. */
  started: boolean;
  /** Whether `close()` was called. */
  closed: boolean;
  /** Open inbound connections. */
  inboundConnections: number;
  /** Upgrade requests refused (authentication, cluster, membership, limits). */
  connectionsRefused: number;
  /** Connections closed because of bad input. */
  protocolErrors: number;
  /** Raft messages sent, over all peers. */
  messagesSent: number;
  /** Bytes sent, over all peers. */
  bytesSent: number;
  /** Raft messages received, over all peers. */
  messagesReceived: number;
  /** Bytes received, over all peers. */
  bytesReceived: number;
  /** Raft messages dropped, over all peers (and to unknown peers). */
  messagesDropped: number;
  /** Per peer, by ascending ID. */
  peers: WebSocketPeerMetrics[];
}

// ---------------------------------------------------------------------------
// Checks of the options

const defaultMaxFrameBytes = 16 << 20;

export function validateCount(name: string, v: number, min: number): number {
  return checkNumberOption("create WebSocketTransport", name, v, { integerAtLeast: min });
}

export function validateMs(name: string, v: number): number {
  return checkNumberOption("create WebSocketTransport", name, v, "positive");
}

/**
 * Checks the options that name the transport, authenticate it and say where it listens.
 *
 * @param o The transport's options.
 * @returns The secret as bytes, the path and the port, defaults filled in.
 * @throws {RangeError} When `clusterId`, `secret`, `path` or `port` is out of range.
 * @throws {TypeError} When `advertiseUrl` is not a `ws://` or `wss://` URL.
 */
export function checkIdentity(
  o: WebSocketTransportOptions,
): { secret: Uint8Array; path: string; port: number } {
  if (typeof o.clusterId !== "string" || !/^[\x21-\x7e]{1,64}$/.test(o.clusterId)) {
    throw new RangeError(
      `Cannot create WebSocketTransport as 'clusterId' must be 1 to 64 printable ASCII characters: current value ${
        String(o.clusterId)
      }`,
    );
  }
  const secret = typeof o.secret === "string" ? new TextEncoder().encode(o.secret) : o.secret;
  if (!(secret instanceof Uint8Array) || secret.length < 16) {
    throw new RangeError(
      `Cannot create WebSocketTransport as 'secret' must be at least 16 bytes: current length ${
        secret instanceof Uint8Array ? secret.length : "none"
      }`,
    );
  }
  const path = o.path ?? "/raft";
  if (!path.startsWith("/")) {
    throw new RangeError(
      `Cannot create WebSocketTransport as 'path' must start with '/': current value ${path}`,
    );
  }
  if (o.advertiseUrl !== undefined && !isPeerUrl(o.advertiseUrl)) {
    throw new TypeError(
      `Cannot create WebSocketTransport as 'advertiseUrl' must be a ws:// or wss:// URL: current value ${o.advertiseUrl}`,
    );
  }
  const port = o.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(
      `Cannot create WebSocketTransport as 'port' must be an integer from 0 to 65535: current value ${port}`,
    );
  }
  return { secret, path, port };
}

/**
 * Checks the limits of peer connections and fills in their defaults.
 *
 * @param o The transport's options.
 * @returns The limits.
 * @throws {RangeError} When a limit is out of range.
 */
export function peerLimits(o: WebSocketTransportOptions): PeerLimits {
  const maxFrameBytes = validateCount(
    "maxFrameBytes",
    o.maxFrameBytes ?? defaultMaxFrameBytes,
    1024,
  );
  const snapshotChunkBytes = validateCount(
    "snapshotChunkBytes",
    o.snapshotChunkBytes ?? Math.min(1 << 20, maxFrameBytes - wireOverheadBytes),
    1,
  );
  if (snapshotChunkBytes + wireOverheadBytes > maxFrameBytes) {
    throw new RangeError(
      `Cannot create WebSocketTransport as 'snapshotChunkBytes' must be at most 'maxFrameBytes' - ${wireOverheadBytes}: current values ${snapshotChunkBytes}, ${maxFrameBytes}`,
    );
  }
  const maxQueuedBytes = validateCount("maxQueuedBytes", o.maxQueuedBytes ?? 64 << 20, 1);
  if (maxQueuedBytes < maxFrameBytes) {
    throw new RangeError(
      `Cannot create WebSocketTransport as 'maxQueuedBytes' must be at least 'maxFrameBytes': current values ${maxQueuedBytes}, ${maxFrameBytes}`,
    );
  }
  return {
    maxFrameBytes,
    maxQueuedMessages: validateCount("maxQueuedMessages", o.maxQueuedMessages ?? 4096, 1),
    maxQueuedBytes,
    snapshotChunkBytes,
    maxSnapshotBytes: validateCount("maxSnapshotBytes", o.maxSnapshotBytes ?? 1 << 30, 0),
    snapshotAckTimeoutMs: validateMs("snapshotAckTimeoutMs", o.snapshotAckTimeoutMs ?? 30_000),
    connectTimeoutMs: validateMs("connectTimeoutMs", o.connectTimeoutMs ?? 5000),
    reconnectBaseMs: validateMs("reconnectBaseMs", o.reconnectBaseMs ?? 100),
    reconnectMaxMs: validateMs("reconnectMaxMs", o.reconnectMaxMs ?? 5000),
  };
}
