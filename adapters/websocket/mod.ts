/**
 * A WebSocket {@linkcode Transport} for `RaftNode`: real peers over the
 * network, on Deno, Bun and Node.
 *
 * Each node listens on one address (Deno: `Deno.serve` +
 * `Deno.upgradeWebSocket`; Bun: `Bun.serve` websocket handlers; Node: the
 * `ws` package on `node:http`), or takes its peers' sockets from a server
 * the application already runs (`server: "none"` and
 * {@linkcode WebSocketTransport.acceptPeer}: Hono's `upgradeWebSocket`,
 * `Deno.upgradeWebSocket`, `Bun.serve`, `ws`'s `handleUpgrade`), and keeps
 * one outbound connection per peer
 * (the standard `WebSocket` on Deno and Bun, `ws` on Node). Outbound
 * connections only send; inbound connections only receive (the one
 * exception: the receiver acknowledges each snapshot on the connection it
 * came in on).
 *
 * - Messages for one peer from one `send()` call travel as one binary
 *   WebSocket message of checksummed codec frames. Per-peer send queues are
 *   bounded in messages and bytes; what does not fit is dropped (Raft
 *   retransmits), counted and reported with `reportUnreachable`.
 * - Lost connections are re-established with exponential backoff and
 *   jitter; meanwhile messages are dropped and the peer is reported
 *   unreachable, so Raft probes it again once it is back.
 * - Snapshots (`MsgSnap`) are streamed in chunks, reassembled by the
 *   receiver within a size limit and acknowledged; the outcome reaches Raft
 *   through `reportSnapshot`.
 * - Every connection proves knowledge of the cluster secret in its upgrade
 *   request (an HMAC-SHA-256 token, offered as a WebSocket subprotocol,
 *   binding the cluster id, both node IDs and a timestamp, refused when
 *   replayed). Without it, the upgrade is refused with HTTP 401 before any
 *   message is read. Only members connect: the peers given at
 *   construction and those `addPeer` added (the driver calls it when a
 *   membership change is applied), until `removePeer`; anyone else is
 *   refused with 403, and a removed member stays refused. A connection is
 *   bound to the member it authenticated as: messages whose `from` is
 *   another node, corrupt or oversized frames and unknown message types
 *   close it with a reason, which is logged; the node keeps running.
 *   Refusals are logged at a bounded rate.
 * - Peer addresses come only from `peers` at construction and from the
 *   context of membership changes (see {@linkcode encodePeerContext}),
 *   never from what a peer's handshake claims; a node added at run time is
 *   reachable without restarts. A member that connects to us while our
 *   connection to it waits out a backoff is dialled at once.
 *
 * {@linkcode WebSocketHostTransport} is the same transport for a
 * `RaftHost` of many groups: one connection per peer host for every
 * group, each WebSocket message a batch of (group, message) pairs, group
 * snapshots streamed in chunks on the same connection.
 *
 * `wss://`: pass `tls` (PEM certificate chain and key) to serve TLS; Deno,
 * Bun and `ws` all support it. Clients verify the server certificate with
 * the runtime's trust store: on Deno add a private CA with `--cert` or
 * `DENO_CERT`; on Bun and with `ws`, pass it as `ca` (Bun also honours
 * `NODE_EXTRA_CA_CERTS`). Without TLS, traffic is authenticated but not
 * encrypted; use it only on a trusted network.
 *
 * @example Two transports exchanging a message
 * ```ts
 * import { WebSocketTransport } from "@raft-ts/raft/websocket";
 * import { type Message, MessageType, newMessage, type NodeId } from "@raft-ts/raft";
 * import type { TransportHandler } from "@raft-ts/raft";
 *
 * const secret = "an example secret of at least 16 bytes";
 * const a = new WebSocketTransport({ id: 1, clusterId: "demo", secret });
 * const b = new WebSocketTransport({ id: 2, clusterId: "demo", secret });
 * const bAddr = await b.listen();
 * await a.listen();
 * a.addPeer(2, WebSocketTransport.peerContext(bAddr.url));
 * b.addPeer(1, new Uint8Array()); // only members may connect; b never dials a here
 *
 * const received: Message[] = [];
 * const handler = (id: NodeId, onStep?: (m: Message) => void): TransportHandler => ({
 *   id,
 *   step: (m) => onStep?.(m),
 *   reportUnreachable: () => {},
 *   reportSnapshot: () => {},
 * });
 * const delivered = new Promise<void>((resolve) => {
 *   b.start(handler(2, (m) => {
 *     received.push(m);
 *     resolve();
 *   }));
 * });
 * a.start(handler(1));
 * a.send([newMessage({ type: MessageType.MsgHeartbeat, from: 1, to: 2, term: 1 })]);
 * await delivered;
 * if (received[0]?.type !== MessageType.MsgHeartbeat) throw new Error("unexpected");
 * await Promise.all([a.close(), b.close()]);
 * ```
 *
 * @module
 */

import type { Logger } from "../../core/logger.ts";
import { discardLogger } from "../../core/logger.ts";
import { checkNumberOption } from "../../core/node/options.ts";
import {
  globalScheduler,
  type Scheduler,
  type SnapshotStreams,
  type TimerHandle,
  type Transport,
  type TransportHandler,
} from "../../core/node.ts";
import type {
  ConfState,
  Entry,
  EntryType,
  Index,
  Message,
  MessageType,
  NodeId,
  Snapshot,
  SnapshotMetadata,
  SnapshotStatus,
  Term,
} from "../../core/types.ts";
import { importSecret, signToken } from "./_auth.ts";
import {
  InboundPeers,
  type PeerAcceptor,
  type PeerConnection,
  type PeerSocketLike,
  type PeerUpgradeDecision,
  type PeerUpgradeRequest,
} from "./_inbound.ts";
import {
  type Dialect,
  errorText,
  hostDialect,
  newPeerStats,
  nodeDialect,
  OutboundPeer,
  type PeerConnectionState,
  type PeerEnv,
  type PeerLimits,
  type PeerSink,
  type PeerStats,
} from "./_peer.ts";
import {
  type ClientKind,
  connectClient,
  detectClient,
  detectServer,
  type RunningServer,
  type ServerKind,
  startServer,
  type TlsConfig,
} from "./_runtime.ts";
import { CloseCode } from "./_wire.ts";
import {
  checkIdentity,
  peerLimits,
  validateCount,
  validateMs,
  type WebSocketPeerMetrics,
  type WebSocketTransportAddress,
  type WebSocketTransportMetrics,
  type WebSocketTransportOptions,
} from "./options.ts";
import { encodePeerContext, isPeerUrl, readPeerContext } from "./peer_context.ts";
import { hostCoreKey, type HostCoreOptions } from "./_host_core.ts";

export {
  decodePeerContext,
  encodePeerContext,
  isPeerUrl,
  type PeerContext,
  readPeerContext,
} from "./peer_context.ts";
export { WebSocketHostTransport, type WebSocketHostTransportMetrics } from "./host_transport.ts";
export type {
  GroupId,
  GroupMessage,
  HostId,
  HostTransport,
  HostTransportHandler,
} from "../../core/host/seams.ts";
export type {
  WebSocketPeerMetrics,
  WebSocketTransportAddress,
  WebSocketTransportMetrics,
  WebSocketTransportOptions,
} from "./options.ts";
export type {
  ClientKind,
  PeerAcceptor,
  PeerConnection,
  PeerConnectionState,
  PeerSocketLike,
  PeerUpgradeDecision,
  PeerUpgradeRequest,
  ServerKind,
  TlsConfig,
};
// The core types this module's API mentions, so its documentation is complete.
export type {
  ConfState,
  Entry,
  EntryType,
  Index,
  Logger,
  Message,
  MessageType,
  NodeId,
  Scheduler,
  Snapshot,
  SnapshotMetadata,
  SnapshotStatus,
  SnapshotStreams,
  Term,
  TimerHandle,
  Transport,
  TransportHandler,
};

// ---------------------------------------------------------------------------
// Helpers

type UrlSource = "static" | "context";

const wildcardHosts = new Set(["0.0.0.0", "::", "[::]", ""]);

function formatHost(h: string): string {
  return h.includes(":") && !h.startsWith("[") ? `[${h}]` : h;
}

// ---------------------------------------------------------------------------
// The transport

/**
 * A {@linkcode Transport} over WebSocket. Create it, `await listen()`,
 * then hand it to `RaftNode.start` (which calls `start()`); `close()`
 * stops it (`RaftNode.close()` does that).
 *
 * @example A three-node cluster over WebSocket
 * ```ts
 * import { encodePeerContext, WebSocketTransport } from "@raft-ts/raft/websocket";
 * import { RaftNode, type StateMachine } from "@raft-ts/raft";
 * import { MemoryStorage } from "@raft-ts/raft";
 *
 * const secret = "an example secret of at least 16 bytes";
 * const ids = [1, 2, 3];
 * const transports = ids.map((id) => new WebSocketTransport({ id, clusterId: "example", secret }));
 * const urls = await Promise.all(transports.map(async (t) => (await t.listen()).url));
 * for (const t of transports) {
 *   ids.forEach((id, i) => t.addPeer(id, encodePeerContext({ url: urls[i]! })));
 * }
 * const applied: string[][] = ids.map(() => []);
 * const nodes = await Promise.all(ids.map((id, i) => {
 *   const log = applied[i]!;
 *   const sm: StateMachine<void> = {
 *     apply: (cmds) => cmds.map((c) => void log.push(new TextDecoder().decode(c.data))),
 *     snapshot: () => new TextEncoder().encode(JSON.stringify(log)),
 *     restore: (d) => void log.splice(0, log.length, ...JSON.parse(new TextDecoder().decode(d))),
 *   };
 *   return RaftNode.start({
 *     id,
 *     peers: ids,
 *     storage: new MemoryStorage(),
 *     transport: transports[i]!,
 *     stateMachine: sm,
 *     tickMs: 10,
 *   });
 * }));
 * const leaderId = await nodes[0]!.waitForLeader();
 * await nodes[leaderId - 1]!.propose(new TextEncoder().encode("hello"));
 * await Promise.all(nodes.map((n) => n.close()));
 * ```
 */
export class WebSocketTransport implements Transport {
  readonly #id: NodeId;
  readonly #clusterId: string;
  readonly #key: Promise<CryptoKey>;
  readonly #hostname: string;
  readonly #port: number;
  readonly #path: string;
  readonly #advertiseUrl: string | undefined;
  readonly #tls: TlsConfig | undefined;
  readonly #ca: string | undefined;
  readonly #serverKind: ServerKind | "none";
  readonly #clientKind: ClientKind;
  readonly #limits: PeerLimits;
  readonly #scheduler: Scheduler;
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #logger: Logger;
  readonly #env: PeerEnv;
  readonly #inbound: InboundPeers;
  readonly #dialect: Dialect;

  /**
   * Snapshots whose state machine data the node holds in storage are
   * streamed from it chunk by chunk, read only when the socket has room,
   * and written to the receiver's storage as they arrive; the receiver
   * checks the whole data's length and CRC-32C before it steps the
   * snapshot (and refuses it otherwise, so the leader retries).
   */
  readonly streamsSnapshots = true;

  /** Where inbound messages and reports go: the handler's, or a host's. */
  #sink: PeerSink | undefined;
  #closed = false;
  #listening: Promise<WebSocketTransportAddress> | undefined;
  #address: WebSocketTransportAddress | undefined;
  #server: RunningServer | undefined;
  #closing: Promise<void> | undefined;

  /**
   * The members (but this node), each with its outbound state: the peers
   * given at construction and by `addPeer`, until `removePeer`. Only they
   * may connect, and only they are dialled.
   */
  readonly #peers = new Map<NodeId, OutboundPeer>();
  readonly #urlSource = new Map<NodeId, UrlSource>();
  /** Counters per member. */
  readonly #stats = new Map<NodeId, PeerStats>();
  /** Peers removed from the cluster: their connections are refused. */
  readonly #removed = new Set<NodeId>();
  #unknownDropped = 0;

  /**
   * Creates a transport; nothing listens or connects until `listen()` or `start()`.
   *
   * @param options Identity, secret, addresses and limits.
   * @throws {RangeError} When an option is out of range.
   * @throws {TypeError} When a peer URL is not a `ws://` or `wss://` URL.
   */
  constructor(options: WebSocketTransportOptions) {
    const o = options;
    const attach = (o as HostCoreOptions)[hostCoreKey];
    this.#dialect = attach === undefined ? nodeDialect : hostDialect;
    checkNumberOption("create WebSocketTransport", "id", o.id, "positiveInteger");
    const { secret, path, port } = checkIdentity(o);
    this.#limits = peerLimits(o);
    this.#id = o.id;
    this.#clusterId = o.clusterId;
    this.#key = importSecret(secret);
    // Surface a key import failure where it is used, not as an unhandled rejection.
    this.#key.catch(() => {});
    this.#hostname = o.hostname ?? "127.0.0.1";
    this.#port = port;
    this.#path = path;
    this.#advertiseUrl = o.advertiseUrl;
    this.#tls = o.tls;
    this.#ca = o.ca;
    this.#serverKind = o.server === undefined || o.server === "auto" ? detectServer() : o.server;
    this.#clientKind = o.client === undefined || o.client === "auto" ? detectClient() : o.client;
    const maxClockSkewMs = validateMs("maxClockSkewMs", o.maxClockSkewMs ?? 300_000);
    const maxInbound = validateCount("maxInboundConnections", o.maxInboundConnections ?? 256, 1);
    this.#scheduler = o.scheduler ?? globalScheduler;
    this.#random = o.random ?? Math.random;
    this.#now = o.now ?? Date.now;
    this.#logger = o.logger ?? discardLogger;
    this.#inbound = new InboundPeers({
      localId: this.#id,
      dialect: this.#dialect,
      clusterId: this.#clusterId,
      key: this.#key,
      maxClockSkewMs,
      maxInbound,
      limits: this.#limits,
      now: this.#now,
      logger: this.#logger,
      closed: (): boolean => this.#closed,
      sink: (): PeerSink | undefined => this.#sink,
      isMember: (id: NodeId): boolean => this.#peers.has(id),
      isRemoved: (id: NodeId): boolean => this.#removed.has(id),
      statsFor: (id: NodeId): PeerStats => this.#statsFor(id),
      connected: (id: NodeId): void => this.#peers.get(id)?.retryNow(),
    });

    this.#env = {
      localId: this.#id,
      dialect: this.#dialect,
      limits: this.#limits,
      scheduler: this.#scheduler,
      random: this.#random,
      logger: this.#logger,
      token: (to: NodeId): Promise<string> => this.#token(to),
      connect: (url, protocols, events) =>
        connectClient(
          this.#clientKind,
          url,
          protocols,
          { ca: this.#ca, maxMessageBytes: this.#limits.maxFrameBytes },
          events,
        ),
      sink: (): PeerSink | undefined => this.#sink,
    };

    for (const [id, url] of o.peers ?? new Map<NodeId, string>()) {
      if (!isPeerUrl(url)) {
        throw new TypeError(
          `Cannot create WebSocketTransport as the URL of peer ${id} must be a ws:// or wss:// URL: current value ${url}`,
        );
      }
      if (id === this.#id) continue;
      this.#addOutbound(id, url, "static");
    }
    attach?.({
      start: (sink: PeerSink): void => this.#start(sink),
      send: (messages: readonly Message[], groups: readonly number[]): void =>
        this.#send(messages, groups),
    });
  }

  /**
   * Builds the context bytes that carry a member's URL; the same as
   * `encodePeerContext({ url })`.
   *
   * @param url The member's URL.
   * @returns The context bytes.
   * @throws {TypeError} When `url` is not a `ws://` or `wss://` URL.
   *
   * @example Usage
   * ```ts
   * import { decodePeerContext, WebSocketTransport } from "@raft-ts/raft/websocket";
   * const ctx = WebSocketTransport.peerContext("ws://127.0.0.1:7001/raft");
   * if (decodePeerContext(ctx).url !== "ws://127.0.0.1:7001/raft") throw new Error("unexpected");
   * ```
   */
  static peerContext(url: string): Uint8Array {
    return encodePeerContext({ url });
  }

  /** This node's ID. */
  get id(): NodeId {
    return this.#id;
  }

  /** The listening URL, once `listen()` resolved. */
  get url(): string | undefined {
    return this.#address?.url;
  }

  /**
   * Starts listening (idempotent: later calls return the same promise).
   *
   * @returns Where it listens; with `port: 0`, the port picked.
   * @throws When the address cannot be bound, the transport is closed, or
   * it has no server of its own (`server: "none"`).
   *
   * @example Picking a free port
   * ```ts
   * import { WebSocketTransport } from "@raft-ts/raft/websocket";
   * const t = new WebSocketTransport({ id: 1, clusterId: "c", secret: "0123456789abcdef" });
   * const { port, url } = await t.listen();
   * if (port === 0 || !url.endsWith(`:${port}/raft`)) throw new Error("unexpected");
   * await t.close();
   * ```
   */
  listen(): Promise<WebSocketTransportAddress> {
    if (this.#closed) {
      return Promise.reject(new Error("Cannot listen: the transport is closed"));
    }
    if (this.#serverKind === "none") {
      return Promise.reject(
        new Error(
          `Cannot listen: the transport has no server of its own (server: "none"); hand it peers' sockets with acceptPeer()`,
        ),
      );
    }
    this.#listening ??= this.#listen(this.#serverKind);
    return this.#listening;
  }

  async #listen(kind: ServerKind): Promise<WebSocketTransportAddress> {
    const server = await startServer(kind, {
      hostname: this.#hostname,
      port: this.#port,
      tls: this.#tls,
      maxMessageBytes: this.#limits.maxFrameBytes,
    }, {
      upgrade: (req) =>
        req.path === this.#path
          ? this.#inbound.upgrade(req)
          : Promise.resolve(this.#inbound.refuse(req.remoteAddress, 404, `Not Found: ${req.path}`)),
      error: (message) => this.#inbound.error(undefined, message),
    });
    if (this.#closed) {
      await server.stop();
      throw new Error("Cannot listen: the transport is closed");
    }
    this.#server = server;
    const scheme = this.#tls === undefined ? "ws" : "wss";
    this.#address = {
      hostname: this.#hostname,
      port: server.port,
      url: `${scheme}://${formatHost(this.#hostname)}:${server.port}${this.#path}`,
    };
    this.#logger.info(`${this.#id} listening on ${this.#address.url} (${this.#serverKind})`);
    return this.#address;
  }

  /**
   * Starts delivering inbound messages to `handler` and connects to the
   * known peers; starts listening if `listen()` was not called (unless
   * `server` is `"none"`).
   *
   * @param handler The node's handler; its `id` must be this transport's.
   * @throws {Error} When already started or closed.
   * @throws {RangeError} When `handler.id` is not the transport's `id`.
   *
   * @example Usage
   * ```ts
   * import { WebSocketTransport } from "@raft-ts/raft/websocket";
   * const t = new WebSocketTransport({ id: 1, clusterId: "c", secret: "0123456789abcdef" });
   * await t.listen();
   * t.start({ id: 1, step() {}, reportUnreachable() {}, reportSnapshot() {} });
   * if (!t.metrics().started) throw new Error("unexpected");
   * await t.close();
   * ```
   */
  start(handler: TransportHandler): void {
    if (handler.id !== this.#id) {
      throw new RangeError(
        `Cannot start WebSocketTransport as the handler's id must be the transport's: current values ${handler.id}, ${this.#id}`,
      );
    }
    this.#start({
      receive: (_from: NodeId, messages: readonly Message[]): void => {
        for (const m of messages) {
          try {
            handler.step(m);
          } catch (e) {
            this.#logger.error(`${this.#id} handler failed to step a message: ${errorText(e)}`);
          }
        }
      },
      reportUnreachable: (id: NodeId): void => handler.reportUnreachable(id),
      reportSnapshot: (id: NodeId, status: SnapshotStatus): void =>
        handler.reportSnapshot(id, status),
      snapshots: (): SnapshotStreams | undefined => handler.snapshotStreams,
    });
  }

  #start(sink: PeerSink): void {
    const name = this.#dialect.name;
    if (this.#closed) throw new Error(`Cannot start ${name}: it is closed`);
    if (this.#sink !== undefined) throw new Error(`Cannot start ${name}: it is already started`);
    this.#sink = sink;
    if (this.#serverKind !== "none") {
      this.listen().catch((e) => {
        this.#logger.error(`${this.#id} cannot listen: ${errorText(e)}`);
      });
    }
    for (const p of this.#peers.values()) p.activate();
  }

  /**
   * Decides on a peer's WebSocket upgrade that another server received, so
   * that peers can share the application's port (use `server: "none"`).
   * The handshake is checked as on the transport's own server: the token
   * must be valid, fresh, not replayed, for this cluster and node, and from
   * a current member. On acceptance, upgrade the request selecting
   * `protocol` (the `Sec-WebSocket-Protocol` response header) and feed the
   * socket's events to `connection`; on refusal, answer `status` with
   * `reason`. Refusals are counted and logged at a bounded rate with
   * `remoteAddress`.
   *
   * The Hono adapter's `peerSocket()` does this for Hono apps.
   *
   * @param request The offered subprotocols and the client's address.
   * @returns The decision.
   *
   * @example Peers on a `Deno.serve` port next to other routes
   * ```ts
   * import { WebSocketTransport } from "@raft-ts/raft/websocket";
   *
   * const transport = new WebSocketTransport({
   *   id: 1,
   *   clusterId: "c",
   *   secret: "0123456789abcdef",
   *   server: "none",
   *   peers: new Map([[2, "ws://127.0.0.1:8002/raft"]]),
   * });
   * const handler = async (req: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>) => {
   *   if (new URL(req.url).pathname !== "/raft") return new Response("hello");
   *   const d = await transport.acceptPeer({
   *     protocols: req.headers.get("sec-websocket-protocol"),
   *     remoteAddress: `${info.remoteAddr.hostname}:${info.remoteAddr.port}`,
   *   });
   *   if (!d.accept) return new Response(d.reason, { status: d.status });
   *   const { socket, response } = Deno.upgradeWebSocket(req);
   *   response.headers.set("sec-websocket-protocol", d.protocol);
   *   socket.binaryType = "arraybuffer";
   *   socket.onopen = () => d.connection.onOpen(socket);
   *   socket.onmessage = (e) => d.connection.onMessage(e.data);
   *   socket.onclose = (e) => d.connection.onClose(e.code, e.reason);
   *   socket.onerror = () => d.connection.onError("socket error");
   *   return response;
   * };
   * // Deno.serve({ port: 8001 }, handler); then hand `transport` to RaftNode.start().
   * const res = await handler(new Request("http://127.0.0.1:8001/raft"), {
   *   remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 50000 },
   *   completed: Promise.resolve(),
   * });
   * if (res.status !== 503) throw new Error("refused until started");
   * await transport.close();
   * ```
   *
   * @example With `Bun.serve` and with `ws`
   * ```ts ignore
   * // Bun.serve: decide in fetch, carry the connection in the socket's data.
   * Bun.serve({
   *   async fetch(req, server) {
   *     const d = await transport.acceptPeer({
   *       protocols: req.headers.get("sec-websocket-protocol"),
   *       remoteAddress: server.requestIP(req)?.address,
   *     });
   *     if (!d.accept) return new Response(d.reason, { status: d.status });
   *     server.upgrade(req, { data: d.connection, headers: { "sec-websocket-protocol": d.protocol } });
   *   },
   *   websocket: {
   *     open: (ws) => ws.data.onOpen(ws),
   *     message: (ws, m) => ws.data.onMessage(m),
   *     close: (ws, code, reason) => ws.data.onClose(code, reason),
   *   },
   * });
   * // ws: decide on the server's "upgrade" event, then handleUpgrade.
   * const wss = new WebSocketServer({ noServer: true, handleProtocols: () => "raft-ts.v1" });
   * httpServer.on("upgrade", async (req, sock, head) => {
   *   const d = await transport.acceptPeer({
   *     protocols: req.headers["sec-websocket-protocol"],
   *     remoteAddress: `${req.socket.remoteAddress}:${req.socket.remotePort}`,
   *   });
   *   if (!d.accept) return sock.end(`HTTP/1.1 ${d.status} Refused\r\n\r\n`);
   *   wss.handleUpgrade(req, sock, head, (ws) => {
   *     ws.on("message", (data, isBinary) => d.connection.onMessage(isBinary ? data : String(data)));
   *     ws.on("close", (code, reason) => d.connection.onClose(code, String(reason)));
   *     d.connection.onOpen(ws);
   *   });
   * });
   * ```
   */
  acceptPeer(request: PeerUpgradeRequest): Promise<PeerUpgradeDecision> {
    return this.#inbound.upgrade(request);
  }

  /**
   * Sends messages; never blocks or throws. Messages for the same peer go
   * out as one WebSocket message; `MsgSnap` is streamed in chunks. What
   * cannot be sent is dropped, counted and reported (`reportUnreachable`,
   * and `reportSnapshot(…, SnapshotFailure)` for snapshots).
   *
   * @param messages The messages; they are not modified.
   *
   * @example Sending to an unknown peer drops and counts
   * ```ts
   * import { WebSocketTransport } from "@raft-ts/raft/websocket";
   * import { MessageType, newMessage } from "@raft-ts/raft";
   * const t = new WebSocketTransport({ id: 1, clusterId: "c", secret: "0123456789abcdef" });
   * t.send([newMessage({ type: MessageType.MsgHeartbeat, from: 1, to: 9 })]);
   * if (t.metrics().messagesDropped !== 1) throw new Error("unexpected");
   * await t.close();
   * ```
   */
  send(messages: readonly Message[]): void {
    this.#send(messages, undefined);
  }

  /** Sends messages, of the groups `groups` gives (between hosts): one batch per peer. */
  #send(messages: readonly Message[], groups: readonly number[] | undefined): void {
    if (this.#closed || messages.length === 0) return;
    const byPeer = new Map<NodeId, { list: Message[]; groups: number[] | undefined }>();
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      let b = byPeer.get(m.to);
      if (b === undefined) {
        b = { list: [], groups: groups === undefined ? undefined : [] };
        byPeer.set(m.to, b);
      }
      b.list.push(m);
      b.groups?.push(groups![i]!);
    }
    for (const [to, { list, groups }] of byPeer) {
      const peer = this.#peers.get(to);
      if (peer === undefined || to === this.#id) {
        this.#unknownDropped += list.length;
        this.#logger.debug(`${this.#id} dropped ${list.length} messages to unknown peer ${to}`);
        this.#sink?.reportUnreachable(to, groups === undefined ? undefined : new Set(groups));
        continue;
      }
      try {
        peer.send(list, groups);
      } catch (e) {
        this.#logger.error(`${this.#id} failed to send to ${to}: ${errorText(e)}`);
      }
    }
  }

  /**
   * Learns of a member: from now on it may connect to this node. When
   * `context` holds a peer context (see {@linkcode encodePeerContext}), the
   * member is dialed at its URL (unless `peers` gave it one at
   * construction); an empty context keeps the address already known, if
   * any.
   *
   * The driver calls it when a membership change that adds the member is
   * applied. A node being added is therefore admitted by each member once
   * that member applies the change; the leader applies it before it sends
   * the new node anything, and the new node admits the members it was
   * configured with (`peers`). A member that refuses the new node before it
   * applies the change dials the new node itself once it does, which
   * also cuts short the new node's backoff towards it.
   *
   * @param id The member.
   * @param context The context of the membership change.
   *
   * @example Usage
   * ```ts
   * import { encodePeerContext, WebSocketTransport } from "@raft-ts/raft/websocket";
   * const t = new WebSocketTransport({ id: 1, clusterId: "c", secret: "0123456789abcdef" });
   * t.addPeer(2, encodePeerContext({ url: "ws://127.0.0.1:1/raft" }));
   * if (t.metrics().peers[0]?.url !== "ws://127.0.0.1:1/raft") throw new Error("unexpected");
   * await t.close();
   * ```
   */
  addPeer(id: NodeId, context: Uint8Array): void {
    if (this.#closed || id === this.#id) return;
    this.#addPeer(id, context);
  }

  /**
   * Whether this transport could dial node `id` once added with
   * `context`: it knows an address for it already, or `context` carries a
   * `ws://` or `wss://` URL. `RaftNode` asks before it adds a voter.
   *
   * @param id The node to add.
   * @param context The context of the change.
   * @returns Why it could not; `undefined` when it could.
   *
   * @example A voter without an address
   * ```ts
   * import { encodePeerContext, WebSocketTransport } from "@raft-ts/raft/websocket";
   * const t = new WebSocketTransport({ id: 1, clusterId: "c", secret: "0123456789abcdef" });
   * if (t.checkPeer(2, new Uint8Array()) === undefined) throw new Error("expected a reason");
   * if (t.checkPeer(2, encodePeerContext({ url: "ws://127.0.0.1:1/raft" })) !== undefined) {
   *   throw new Error("unexpected");
   * }
   * await t.close();
   * ```
   */
  checkPeer(id: NodeId, context: Uint8Array): string | undefined {
    if (id === this.#id || readPeerContext(context).url !== undefined) return undefined;
    if (this.#peers.get(id)?.url !== undefined) return undefined;
    return `this transport has no address for node ${id}: give the change a context with a ws:// or wss:// URL (encodePeerContext({ url }))`;
  }

  #addPeer(id: NodeId, context: Uint8Array): void {
    this.#removed.delete(id);
    const ctx = readPeerContext(context);
    const url = ctx.url;
    if (context.length > 0 && url === undefined && ctx.apiUrl === undefined) {
      this.#logger.warning(
        `${this.#id} ignores the context of peer ${id}: not a peer context with a ws:// or wss:// URL`,
      );
    }
    const existing = this.#peers.get(id);
    if (existing === undefined) {
      this.#addOutbound(id, url, url === undefined ? undefined : "context");
      return;
    }
    if (url !== undefined && this.#urlSource.get(id) !== "static") {
      this.#urlSource.set(id, "context");
      existing.setUrl(url, this.#sink !== undefined);
    }
  }

  /**
   * Forgets a removed member: closes the connections with it, stops
   * dialling it and refuses its new connections (until a later membership
   * change adds it again).
   *
   * @param id The member.
   *
   * @example Usage
   * ```ts
   * import { encodePeerContext, WebSocketTransport } from "@raft-ts/raft/websocket";
   * const t = new WebSocketTransport({ id: 1, clusterId: "c", secret: "0123456789abcdef" });
   * t.addPeer(2, encodePeerContext({ url: "ws://127.0.0.1:1/raft" }));
   * t.removePeer(2);
   * if (t.metrics().peers.length !== 0) throw new Error("unexpected");
   * await t.close();
   * ```
   */
  removePeer(id: NodeId): void {
    if (this.#closed || id === this.#id) return;
    this.#removed.add(id);
    this.#peers.get(id)?.close("peer removed");
    this.#peers.delete(id);
    this.#urlSource.delete(id);
    this.#stats.delete(id);
    this.#inbound.drop(id, CloseCode.PolicyViolation, "removed from the cluster");
  }

  /**
   * The transport's counters and connection states, as plain data.
   *
   * @returns A fresh object.
   *
   * @example Exposing metrics as JSON
   * ```ts
   * import { WebSocketTransport } from "@raft-ts/raft/websocket";
   * const t = new WebSocketTransport({ id: 1, clusterId: "c", secret: "0123456789abcdef" });
   * const json = JSON.stringify(t.metrics());
   * if (!json.includes('"clusterId":"c"')) throw new Error("unexpected");
   * await t.close();
   * ```
   */
  metrics(): WebSocketTransportMetrics {
    const ids = new Set<NodeId>([...this.#peers.keys(), ...this.#stats.keys()]);
    const peers: WebSocketPeerMetrics[] = [];
    const totals = {
      messagesSent: 0,
      bytesSent: 0,
      messagesReceived: 0,
      bytesReceived: 0,
      messagesDropped: this.#unknownDropped,
    };
    for (const id of [...ids].sort((a, b) => a - b)) {
      const p = this.#peers.get(id);
      const s = this.#stats.get(id) ?? newPeerStats();
      totals.messagesSent += s.messagesSent;
      totals.bytesSent += s.bytesSent;
      totals.messagesReceived += s.messagesReceived;
      totals.bytesReceived += s.bytesReceived;
      totals.messagesDropped += s.messagesDropped;
      peers.push({
        id,
        url: p?.url,
        state: p?.state ?? "none",
        inboundConnections: this.#inbound.has(id) ? 1 : 0,
        messagesSent: s.messagesSent,
        bytesSent: s.bytesSent,
        framesSent: s.framesSent,
        messagesReceived: s.messagesReceived,
        bytesReceived: s.bytesReceived,
        framesReceived: s.framesReceived,
        messagesDropped: s.messagesDropped,
        queuedMessages: p?.queuedMessages ?? 0,
        queuedBytes: p?.queuedBytes ?? 0,
        connects: s.connects,
        reconnects: s.reconnects,
        connectFailures: s.connectFailures,
        disconnects: s.disconnects,
        snapshotsSent: s.snapshotsSent,
        snapshotsFailed: s.snapshotsFailed,
        snapshotsReceived: s.snapshotsReceived,
        lastError: s.lastError,
      });
    }
    return {
      id: this.#id,
      clusterId: this.#clusterId,
      url: this.#address?.url,
      server: this.#serverKind,
      client: this.#clientKind,
      started: this.#sink !== undefined,
      closed: this.#closed,
      inboundConnections: this.#inbound.count,
      connectionsRefused: this.#inbound.connectionsRefused,
      protocolErrors: this.#inbound.protocolErrors,
      ...totals,
      peers,
    };
  }

  /**
   * Closes every connection and stops listening. Idempotent.
   *
   * @returns A promise that settles once the server has stopped.
   *
   * @example Usage
   * ```ts
   * import { WebSocketTransport } from "@raft-ts/raft/websocket";
   * const t = new WebSocketTransport({ id: 1, clusterId: "c", secret: "0123456789abcdef" });
   * await t.listen();
   * await t.close();
   * if (!t.metrics().closed) throw new Error("unexpected");
   * ```
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#closed = true;
    for (const p of this.#peers.values()) p.close("transport closing");
    this.#inbound.closeAll(CloseCode.GoingAway, "node stopping");
    const listening = this.#listening;
    this.#closing = (async () => {
      if (listening !== undefined) {
        try {
          await listening;
        } catch {
          // never listened
        }
      }
      await this.#server?.stop();
    })();
    return this.#closing;
  }

  // -------------------------------------------------------------------------
  // Outbound

  #addOutbound(id: NodeId, url: string | undefined, source: UrlSource | undefined): OutboundPeer {
    const p = new OutboundPeer(id, url, this.#statsFor(id), this.#env);
    this.#peers.set(id, p);
    if (source !== undefined) this.#urlSource.set(id, source);
    if (this.#sink !== undefined) p.activate();
    return p;
  }

  #statsFor(id: NodeId): PeerStats {
    let s = this.#stats.get(id);
    if (s === undefined) {
      s = newPeerStats();
      this.#stats.set(id, s);
    }
    return s;
  }

  #advertised(): string {
    if (this.#advertiseUrl !== undefined) return this.#advertiseUrl;
    if (this.#address !== undefined && !wildcardHosts.has(this.#hostname)) return this.#address.url;
    return "";
  }

  async #token(to: NodeId): Promise<string> {
    return await signToken(await this.#key, {
      clusterId: this.#clusterId,
      from: this.#id,
      to,
      timestampMs: Math.floor(this.#now()),
      advertiseUrl: this.#advertised(),
    });
  }
}
