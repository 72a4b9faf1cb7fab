/**
 * The inbound half of the transport: deciding whether to accept a peer's
 * WebSocket upgrade (handshake token, cluster, membership, replay), then
 * reading what an accepted connection sends (batches of messages, snapshot
 * streams) and stepping it. The same code serves the transport's own
 * server and sockets that another server upgraded (`acceptPeer`).
 *
 * @module
 */

import type { Logger } from "../../core/logger.ts";
import type { SnapshotReceiver } from "../../core/node.ts";
import { isLocalMsg } from "../../core/util.ts";
import { type Message, MessageType, messageTypeNames, type NodeId } from "../../core/types.ts";
import {
  type HandshakeClaims,
  hostProtocolName,
  isRefusal,
  protocolName,
  ReplayCache,
  verifyToken,
} from "./_auth.ts";
import {
  type Dialect,
  errorText,
  type PeerLimits,
  type PeerSink,
  type PeerStats,
} from "./_peer.ts";
import { closeReason } from "./_runtime.ts";
import {
  AckStatus,
  CloseCode,
  decodeWire,
  encodeSnapshotAck,
  FrameKind,
  WireError,
  type WireFrame,
} from "./_wire.ts";

/**
 * A peer's WebSocket upgrade request, as the server that received it sees
 * it, for {@linkcode PeerAcceptor.acceptPeer}.
 *
 * @example From a standard `Request`
 * ```ts
 * import type { PeerUpgradeRequest } from "@raft-ts/raft/websocket";
 * const req = new Request("http://127.0.0.1:8080/raft", {
 *   headers: { "sec-websocket-protocol": "raft-ts.v1, rt1.abc.def" },
 * });
 * const upgrade: PeerUpgradeRequest = {
 *   protocols: req.headers.get("sec-websocket-protocol"),
 *   remoteAddress: "10.0.0.2:51234",
 * };
 * if (typeof upgrade.protocols !== "string") throw new Error("unexpected");
 * ```
 */
export interface PeerUpgradeRequest {
  /**
   * The subprotocols the client offers: the `Sec-WebSocket-Protocol`
   * header as it came (comma-separated), or the list.
   */
  protocols: string | readonly string[] | null | undefined;
  /**
   * The client's address (`host:port`), for logs: the socket's peer, not a
   * header a client can set.
   * @default {"unknown"}
   */
  remoteAddress?: string;
}

/**
 * What the transport needs of a server-side WebSocket it did not open: a
 * standard `WebSocket` (Deno), Bun's `ServerWebSocket`, a `ws` socket and
 * Hono's `WSContext` all fit.
 *
 * @example Usage
 * ```ts
 * import type { PeerSocketLike } from "@raft-ts/raft/websocket";
 * const sent: Uint8Array[] = [];
 * const socket: PeerSocketLike = { send: (d) => void sent.push(d), close: () => {} };
 * socket.send(new Uint8Array([1]));
 * if (sent.length !== 1) throw new Error("unexpected");
 * ```
 */
export interface PeerSocketLike {
  /**
   * Sends a binary message.
   *
   * @param data The message.
   */
  send(data: Uint8Array<ArrayBuffer>): unknown;
  /**
   * Closes the socket.
   *
   * @param code The WebSocket close code.
   * @param reason Why (at most 123 bytes).
   */
  close(code?: number, reason?: string): unknown;
}

/**
 * An accepted peer connection: feed it the socket's events. It reads the
 * peer's messages and steps them; it writes only snapshot
 * acknowledgements back.
 *
 * @example Wiring a standard server-side `WebSocket`
 * ```ts ignore
 * socket.binaryType = "arraybuffer";
 * socket.onopen = () => connection.onOpen(socket);
 * socket.onmessage = (e) => connection.onMessage(e.data);
 * socket.onclose = (e) => connection.onClose(e.code, e.reason);
 * socket.onerror = () => connection.onError("socket error");
 * ```
 */
export interface PeerConnection {
  /** The authenticated peer's ID. */
  readonly peerId: NodeId;
  /**
   * The socket is open: the connection replaces any older one of the same peer.
   *
   * @param socket The server-side socket.
   */
  onOpen(socket: PeerSocketLike): void;
  /**
   * A message arrived (binary: bytes, `ArrayBuffer` or `Blob`; text is refused).
   *
   * @param data The message.
   */
  onMessage(data: Uint8Array | ArrayBuffer | Blob | string): void;
  /**
   * The socket closed.
   *
   * @param code The close code.
   * @param reason The close reason.
   */
  onClose(code?: number, reason?: string): void;
  /**
   * The socket reported an error (logged; a close follows).
   *
   * @param message What went wrong.
   */
  onError(message: string): void;
}

/**
 * The answer to a peer's upgrade request: upgrade it selecting `protocol`
 * and hand the socket's events to `connection`, or answer `status` with
 * `reason` as the body.
 *
 * @example Usage
 * ```ts
 * import type { PeerUpgradeDecision } from "@raft-ts/raft/websocket";
 * const answer = (d: PeerUpgradeDecision): number => (d.accept ? 101 : d.status);
 * if (answer({ accept: false, status: 401, reason: "Unauthorized" }) !== 401) throw new Error("unexpected");
 * ```
 */
export type PeerUpgradeDecision =
  | {
    /** Upgrade the request. */
    accept: true;
    /** The subprotocol to select in the upgrade response. */
    protocol: string;
    /** Where the socket's events go. */
    connection: PeerConnection;
  }
  | {
    /** Refuse the request. */
    accept: false;
    /** The HTTP status to answer. */
    status: number;
    /** Why, one line (for the response body). */
    reason: string;
  };

/**
 * Something that takes peers' WebSocket connections from another server:
 * {@linkcode WebSocketTransport} is one.
 *
 * @example Usage
 * ```ts
 * import { type PeerAcceptor, WebSocketTransport } from "@raft-ts/raft/websocket";
 * const t = new WebSocketTransport({ id: 1, clusterId: "c", secret: "0123456789abcdef", server: "none" });
 * const acceptor: PeerAcceptor = t;
 * const d = await acceptor.acceptPeer({ protocols: null });
 * if (d.accept || d.status !== 503) throw new Error("not started: 503");
 * await t.close();
 * ```
 */
export interface PeerAcceptor {
  /**
   * Decides whether to accept a peer's WebSocket upgrade.
   *
   * @param request The upgrade request's subprotocols and client address.
   * @returns Accept (with the connection to feed) or refuse (with an HTTP status).
   */
  acceptPeer(request: PeerUpgradeRequest): Promise<PeerUpgradeDecision>;
}

/** What the inbound side needs from the transport. */
export interface InboundEnv {
  readonly localId: NodeId;
  readonly dialect: Dialect;
  readonly clusterId: string;
  readonly key: Promise<CryptoKey>;
  readonly maxClockSkewMs: number;
  readonly maxInbound: number;
  readonly limits: PeerLimits;
  /** The wall clock, ms since the epoch. */
  readonly now: () => number;
  readonly logger: Logger;
  closed(): boolean;
  /** Where messages go, once started. */
  sink(): PeerSink | undefined;
  /** Whether `id` is a current member (given at construction or by `addPeer`). */
  isMember(id: NodeId): boolean;
  /** Whether `id` was removed from the cluster. */
  isRemoved(id: NodeId): boolean;
  statsFor(id: NodeId): PeerStats;
  /** An authenticated connection from member `id` opened. */
  connected(id: NodeId): void;
}

/** Handshakes remembered per peer within the skew window at most. */
export const handshakesPerPeerMax = 1024;
/** Refusals logged in a burst; after it, one a second. */
const refusalLogBurst = 10;
const refusalLogIntervalMs = 1000;

interface InboundSnapshot {
  streamId: number;
  /** The group (0 on a node's connection). */
  groupId: number;
  message: Message;
  /** Inline: the snapshot's data, filled as chunks arrive. */
  buf: Uint8Array | undefined;
  /** Streamed: where the state machine's data goes (the node's storage). */
  rx: SnapshotReceiver | undefined;
  /** The bytes that follow the header. */
  total: number;
  received: number;
  /** Streamed: the writes not yet settled, in order. */
  writing: Promise<void> | undefined;
  /** Streamed: bytes handed to writes not yet settled. */
  pendingBytes: number;
  /** Streamed: the first write that failed. */
  failed: string | undefined;
}

/** Bytes of a streamed snapshot received but not yet written, above which the transfer is refused. */
export const snapshotPendingBytesMax = 64 << 20;

/** Discards what a partial streamed snapshot wrote; never throws. */
function abandon(s: InboundSnapshot | undefined): void {
  const rx = s?.rx;
  if (rx === undefined) return;
  s!.rx = undefined;
  const wait = s!.writing ?? Promise.resolve();
  void wait.then(() => rx.abort()).catch(() => {});
}

function typeName(t: number): string {
  return (messageTypeNames as Record<number, string>)[t] ?? String(t);
}

function parseProtocols(p: PeerUpgradeRequest["protocols"]): string[] {
  if (p === null || p === undefined) return [];
  const list = typeof p === "string" ? p.split(",") : p;
  return list.map((s) => s.trim()).filter((s) => s.length > 0);
}

/**
 * Lets `burst` lines through, then one per `intervalMs`, and counts the
 * lines it holds back, so a flood of bad requests cannot flood the log.
 */
export class LogBudget {
  readonly #burst: number;
  readonly #intervalMs: number;
  #tokens: number;
  #lastMs: number | undefined;
  #held = 0;

  constructor(burst: number, intervalMs: number) {
    this.#burst = burst;
    this.#intervalMs = intervalMs;
    this.#tokens = burst;
  }

  /** Lines held back since the last one let through, or `undefined` to hold this one back too. */
  take(nowMs: number): number | undefined {
    if (this.#lastMs !== undefined && nowMs > this.#lastMs) {
      this.#tokens = Math.min(
        this.#burst,
        this.#tokens + (nowMs - this.#lastMs) / this.#intervalMs,
      );
    }
    this.#lastMs = nowMs;
    if (this.#tokens < 1) {
      this.#held++;
      return undefined;
    }
    this.#tokens--;
    const held = this.#held;
    this.#held = 0;
    return held;
  }
}

/** One accepted inbound connection, bound to the member it authenticated as. */
class InboundConn implements PeerConnection {
  readonly peerId: NodeId;
  readonly remote: string;
  readonly #owner: InboundPeers;
  socket: PeerSocketLike | undefined;
  closed = false;
  snap: InboundSnapshot | undefined;
  /** A snapshot stream refused for its size: its chunks are skipped. */
  refusedStream: number | undefined;
  /** Messages waiting behind a `Blob` being read, so they are handled in order. */
  #chain: Promise<void> | undefined;

  constructor(owner: InboundPeers, peerId: NodeId, remote: string) {
    this.#owner = owner;
    this.peerId = peerId;
    this.remote = remote;
  }

  onOpen(socket: PeerSocketLike): void {
    this.#owner.open(this, socket);
  }

  onMessage(data: Uint8Array | ArrayBuffer | Blob | string): void {
    if (this.#chain === undefined && !(data instanceof Blob)) {
      this.#owner.message(this, data instanceof ArrayBuffer ? new Uint8Array(data) : data);
      return;
    }
    const prev = this.#chain ?? Promise.resolve();
    const next = prev.then(async () => {
      const bytes = data instanceof Blob
        ? new Uint8Array(await data.arrayBuffer())
        : data instanceof ArrayBuffer
        ? new Uint8Array(data)
        : data;
      this.#owner.message(this, bytes);
    }).catch((e) => this.#owner.error(this, `cannot read a message: ${errorText(e)}`))
      .finally(() => {
        if (this.#chain === next) this.#chain = undefined;
      });
    this.#chain = next;
  }

  onClose(code = 1005, reason = ""): void {
    this.#owner.closed(this, code, reason);
  }

  onError(message: string): void {
    this.#owner.error(this, message);
  }
}

/** The inbound connections of a transport and the rules for accepting them. */
export class InboundPeers {
  readonly #env: InboundEnv;
  readonly #replays = new ReplayCache(handshakesPerPeerMax);
  readonly #refusalLog = new LogBudget(refusalLogBurst, refusalLogIntervalMs);
  /** The current inbound connection of each peer. */
  readonly #current = new Map<NodeId, InboundConn>();
  /** Every open inbound connection (current or being replaced). */
  readonly #all = new Set<InboundConn>();
  #pendingUpgrades = 0;
  #connectionsRefused = 0;
  #protocolErrors = 0;

  constructor(env: InboundEnv) {
    this.#env = env;
  }

  /** Open inbound connections. */
  get count(): number {
    return this.#all.size;
  }

  /** Upgrade requests refused. */
  get connectionsRefused(): number {
    return this.#connectionsRefused;
  }

  /** Connections closed for bad input. */
  get protocolErrors(): number {
    return this.#protocolErrors;
  }

  /** Whether `id` has an open inbound connection. */
  has(id: NodeId): boolean {
    return this.#current.has(id);
  }

  /** Refuses an upgrade (counted, and logged at a bounded rate). */
  refuse(remote: string, status: number, reason: string): PeerUpgradeDecision {
    this.#connectionsRefused++;
    const held = this.#refusalLog.take(this.#env.now());
    if (held !== undefined) {
      this.#env.logger.warning(
        `${this.#env.localId} refused a connection from ${remote}: ${status} ${reason}${
          held > 0 ? ` (${held} more refusals not logged)` : ""
        }`,
      );
    }
    return { accept: false, status, reason };
  }

  /**
   * Decides on an upgrade request: the token must be valid and fresh,
   * for this cluster and this node, from a current member, not replayed.
   */
  async upgrade(req: PeerUpgradeRequest): Promise<PeerUpgradeDecision> {
    const env = this.#env;
    const remote = req.remoteAddress || "unknown";
    if (env.closed()) return this.refuse(remote, 503, "Service Unavailable: the node is stopping");
    if (env.sink() === undefined) {
      return this.refuse(remote, 503, "Service Unavailable: the node has not started");
    }
    const protocols = parseProtocols(req.protocols);
    const token = protocols.find((p) => p.startsWith("rt1."));
    const mismatch = dialectMismatch(env.dialect, protocols);
    if (mismatch !== undefined) return this.refuse(remote, 400, mismatch);
    if (!protocols.includes(env.dialect.protocol) || token === undefined) {
      return this.refuse(remote, 401, "Unauthorized: no handshake token");
    }
    if (this.#all.size + this.#pendingUpgrades >= env.maxInbound) {
      return this.refuse(remote, 503, "Service Unavailable: too many connections");
    }
    this.#pendingUpgrades++;
    let claims: HandshakeClaims | { reason: string };
    try {
      claims = await verifyToken(await env.key, token, env.now(), env.maxClockSkewMs);
    } finally {
      this.#pendingUpgrades--;
    }
    if (isRefusal(claims)) return this.refuse(remote, 401, `Unauthorized: ${claims.reason}`);
    if (env.closed()) return this.refuse(remote, 503, "Service Unavailable: the node is stopping");
    const from = claims.from;
    if (claims.clusterId !== env.clusterId) {
      return this.refuse(
        remote,
        403,
        `Forbidden: node ${from} is in cluster '${claims.clusterId}', this node is in '${env.clusterId}'`,
      );
    }
    if (claims.to !== env.localId) {
      return this.refuse(
        remote,
        403,
        `Forbidden: the connection is meant for node ${claims.to}, this is node ${env.localId}`,
      );
    }
    if (from === env.localId || from === 0) {
      return this.refuse(remote, 403, `Forbidden: a peer cannot claim node ID ${from}`);
    }
    if (env.isRemoved(from)) {
      return this.refuse(remote, 403, `Forbidden: node ${from} was removed from the cluster`);
    }
    if (!env.isMember(from)) {
      return this.refuse(remote, 403, `Forbidden: node ${from} is not a member of the cluster`);
    }
    const added = this.#replays.add(
      from,
      claims.nonce,
      claims.timestampMs + env.maxClockSkewMs,
      env.now(),
    );
    if (added === "replayed") {
      return this.refuse(remote, 401, "Unauthorized: handshake token replayed");
    }
    if (added === "full") {
      return this.refuse(
        remote,
        429,
        `Too Many Requests: more than ${handshakesPerPeerMax} recent handshakes from node ${from}`,
      );
    }
    return {
      accept: true,
      protocol: env.dialect.protocol,
      connection: new InboundConn(this, from, remote),
    };
  }

  open(conn: InboundConn, socket: PeerSocketLike): void {
    const env = this.#env;
    if (conn.socket !== undefined || conn.closed) return;
    conn.socket = socket;
    if (env.closed() || !env.isMember(conn.peerId)) {
      conn.closed = true;
      closeSocket(socket, CloseCode.GoingAway, env.closed() ? "node stopping" : "not a member");
      return;
    }
    this.#all.add(conn);
    const old = this.#current.get(conn.peerId);
    this.#current.set(conn.peerId, conn);
    env.statsFor(conn.peerId);
    if (old !== undefined) this.#close(old, CloseCode.Normal, "replaced by a newer connection");
    env.logger.debug(`${env.localId} accepted a connection from ${conn.peerId} (${conn.remote})`);
    env.connected(conn.peerId);
  }

  closed(conn: InboundConn, code: number, reason: string): void {
    conn.closed = true;
    abandon(conn.snap);
    conn.snap = undefined;
    this.#all.delete(conn);
    if (this.#current.get(conn.peerId) === conn) this.#current.delete(conn.peerId);
    this.#env.logger.debug(
      `${this.#env.localId} connection from ${conn.peerId} closed (${code}${
        reason ? `: ${reason}` : ""
      })`,
    );
  }

  error(conn: InboundConn | undefined, message: string): void {
    this.#env.logger.warning(
      `${this.#env.localId} connection ${
        conn === undefined ? "" : `from ${conn.peerId} (${conn.remote}) `
      }failed: ${message}`,
    );
  }

  /** Closes the connections of a removed member. */
  drop(id: NodeId, code: number, reason: string): void {
    for (const c of [...this.#all]) if (c.peerId === id) this.#close(c, code, reason);
  }

  /** Closes every connection. */
  closeAll(code: number, reason: string): void {
    for (const c of [...this.#all]) this.#close(c, code, reason);
  }

  #close(conn: InboundConn, code: number, reason: string): void {
    if (conn.closed) return;
    conn.closed = true;
    abandon(conn.snap);
    conn.snap = undefined;
    this.#all.delete(conn);
    if (this.#current.get(conn.peerId) === conn) this.#current.delete(conn.peerId);
    if (conn.socket !== undefined) closeSocket(conn.socket, code, reason);
  }

  /** Closes a connection that sent bad input; the node carries on. */
  #reject(conn: InboundConn, code: number, reason: string): void {
    this.#protocolErrors++;
    this.#env.logger.warning(
      `${this.#env.localId} closed the connection from ${conn.peerId} (${conn.remote}): ${reason}`,
    );
    this.#close(conn, code, reason);
  }

  /** Why a message from `conn` must be refused, or undefined. */
  #invalid(conn: InboundConn, m: Message): string | undefined {
    if (m.from !== conn.peerId) {
      return `message claims to be from node ${m.from} but the connection is authenticated as node ${conn.peerId}`;
    }
    if (m.to !== this.#env.localId) {
      return `message addressed to node ${m.to}, this is node ${this.#env.localId}`;
    }
    if (isLocalMsg(m.type)) return `local message type ${typeName(m.type)} from a peer`;
    return undefined;
  }

  message(conn: InboundConn, data: Uint8Array | string): void {
    if (conn.closed || conn.socket === undefined) return;
    const sink = this.#env.sink();
    if (sink === undefined) return;
    if (typeof data === "string") {
      this.#reject(conn, CloseCode.UnsupportedData, "text frames are not accepted");
      return;
    }
    const limits = this.#env.limits;
    if (data.length > limits.maxFrameBytes) {
      this.#reject(
        conn,
        CloseCode.TooBig,
        `message of ${data.length} bytes is above maxFrameBytes (${limits.maxFrameBytes})`,
      );
      return;
    }
    const stats = this.#env.statsFor(conn.peerId);
    stats.bytesReceived += data.length;
    stats.framesReceived++;
    let f: WireFrame;
    try {
      f = decodeWire(data, limits.maxFrameBytes);
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      this.#reject(conn, e.closeCode, e.message);
      return;
    }
    const grouped = this.#env.dialect.grouped;
    const foreign = grouped
      ? f.kind === FrameKind.Messages || f.kind === FrameKind.SnapshotBegin
      : f.kind === FrameKind.GroupMessages || f.kind === FrameKind.GroupSnapshotBegin;
    if (foreign) {
      const what = grouped ? "a single-group frame on a host connection" : "a host frame";
      this.#reject(conn, CloseCode.ProtocolError, `unexpected frame kind ${f.kind}: ${what}`);
      return;
    }
    switch (f.kind) {
      case FrameKind.Messages:
      case FrameKind.GroupMessages: {
        // All or nothing: one bad message refuses the whole batch.
        for (const m of f.messages) {
          const why = this.#invalid(conn, m);
          if (why !== undefined) {
            this.#reject(conn, CloseCode.PolicyViolation, why);
            return;
          }
        }
        stats.messagesReceived += f.messages.length;
        this.#deliver(
          sink,
          conn.peerId,
          f.messages,
          f.kind === FrameKind.GroupMessages ? f.groups : undefined,
        );
        return;
      }
      case FrameKind.SnapshotBegin:
      case FrameKind.GroupSnapshotBegin:
        this.#snapshotBegin(conn, f, sink, stats);
        return;
      case FrameKind.SnapshotChunk:
        this.#snapshotChunk(conn, f, sink, stats);
        return;
      case FrameKind.SnapshotAck:
        this.#reject(conn, CloseCode.ProtocolError, "acknowledgement on an inbound connection");
        return;
    }
  }

  /** Starts receiving the snapshot stream `f` opens, or refuses it. */
  #snapshotBegin(
    conn: InboundConn,
    f: Extract<
      WireFrame,
      { kind: typeof FrameKind.SnapshotBegin | typeof FrameKind.GroupSnapshotBegin }
    >,
    sink: PeerSink,
    stats: PeerStats,
  ): void {
    const limits = this.#env.limits;
    const m = f.message;
    const why = this.#invalid(conn, m) ??
      (m.type !== MessageType.MsgSnap || m.snapshot === undefined
        ? `snapshot stream header holds a ${typeName(m.type)}`
        : undefined);
    if (why !== undefined) {
      this.#reject(conn, CloseCode.PolicyViolation, why);
      return;
    }
    abandon(conn.snap);
    conn.snap = undefined;
    if (f.dataBytes > limits.maxSnapshotBytes) {
      this.#refuseStream(
        conn,
        f.streamId,
        `of ${f.dataBytes} bytes from ${conn.peerId}: above maxSnapshotBytes (${limits.maxSnapshotBytes})`,
      );
      return;
    }
    let rx: SnapshotReceiver | undefined;
    const groupId = f.groupId ?? 0;
    if (m.snapshot!.data.length > 0) {
      // Streamed: the header carries the snapshot's data, the chunks
      // the state machine's data the sender holds in storage.
      const streams = sink.snapshots(groupId);
      if (streams === undefined) {
        this.#refuseStream(
          conn,
          f.streamId,
          "it is streamed and the node takes no snapshot streams",
        );
        return;
      }
      try {
        const want = streams.dataBytes(m.snapshot!);
        if (want !== f.dataBytes) {
          throw new RangeError(
            `its header describes ${want ?? "no"} data bytes, the stream ${f.dataBytes}`,
          );
        }
        rx = streams.receive(m.snapshot!);
      } catch (e) {
        this.#refuseStream(conn, f.streamId, `from ${conn.peerId}: ${errorText(e)}`);
        return;
      }
    }
    conn.snap = {
      streamId: f.streamId,
      groupId,
      message: m,
      buf: rx === undefined ? new Uint8Array(f.dataBytes) : undefined,
      rx,
      total: f.dataBytes,
      received: 0,
      writing: undefined,
      pendingBytes: 0,
      failed: undefined,
    };
    if (f.dataBytes === 0) this.#completeSnapshot(conn, sink, stats);
  }

  /** Takes the chunk `f` of the snapshot stream being received. */
  #snapshotChunk(
    conn: InboundConn,
    f: Extract<WireFrame, { kind: typeof FrameKind.SnapshotChunk }>,
    sink: PeerSink,
    stats: PeerStats,
  ): void {
    if (f.streamId === conn.refusedStream) return;
    const s = conn.snap;
    if (s === undefined || s.streamId !== f.streamId) {
      this.#reject(
        conn,
        CloseCode.ProtocolError,
        `chunk of unknown snapshot stream ${f.streamId}`,
      );
      return;
    }
    if (f.offset !== s.received || s.received + f.chunk.length > s.total) {
      this.#reject(
        conn,
        CloseCode.ProtocolError,
        `snapshot chunk at ${f.offset} of ${f.chunk.length} bytes does not continue the stream (at ${s.received} of ${s.total})`,
      );
      return;
    }
    if (s.buf !== undefined) s.buf.set(f.chunk, s.received);
    else if (!this.#write(conn, s, f.chunk)) return;
    s.received += f.chunk.length;
    if (s.received === s.total) this.#completeSnapshot(conn, sink, stats);
  }

  /**
   * Refuses a snapshot stream: its chunks are skipped, the sender told (and it retries).
   *
   * @param what Completes "refused a snapshot …": from whom and why.
   */
  #refuseStream(conn: InboundConn, streamId: number, what: string): void {
    this.#env.logger.warning(`${this.#env.localId} refused a snapshot ${what}`);
    conn.refusedStream = streamId;
    sendTo(conn, encodeSnapshotAck(streamId, AckStatus.Refused));
  }

  /**
   * Writes a chunk of a streamed snapshot to the node's storage, after the
   * writes before it.
   *
   * @returns False when the transfer was refused instead.
   */
  #write(conn: InboundConn, s: InboundSnapshot, chunk: Uint8Array): boolean {
    const rx = s.rx!;
    if (s.failed === undefined && s.writing === undefined) {
      try {
        const r = rx.write(chunk);
        if (r === undefined) return true;
        s.pendingBytes += chunk.length;
        s.writing = this.#settle(s, r, chunk.length);
        return true;
      } catch (e) {
        s.failed = errorText(e);
      }
    }
    if (s.failed === undefined && s.pendingBytes + chunk.length > snapshotPendingBytesMax) {
      s.failed = `storage writes fell ${snapshotPendingBytesMax} bytes behind`;
    }
    if (s.failed !== undefined) {
      abandon(s);
      conn.snap = undefined;
      this.#refuseStream(conn, s.streamId, `from ${conn.peerId}: cannot write it: ${s.failed}`);
      return false;
    }
    // Each frame is a buffer of its own: the chunk can wait for its turn.
    s.pendingBytes += chunk.length;
    s.writing = this.#settle(
      s,
      s.writing!.then(() => s.failed === undefined ? rx.write(chunk) : undefined),
      chunk.length,
    );
    return true;
  }

  /** Tracks one write of a streamed snapshot. */
  #settle(s: InboundSnapshot, w: Promise<void> | void, bytes: number): Promise<void> {
    const p: Promise<void> = Promise.resolve(w).then(
      () => {
        s.pendingBytes -= bytes;
        if (s.writing === p) s.writing = undefined;
      },
      (e: unknown) => {
        s.pendingBytes -= bytes;
        s.failed ??= errorText(e);
        if (s.writing === p) s.writing = undefined;
      },
    );
    return p;
  }

  #completeSnapshot(conn: InboundConn, sink: PeerSink, stats: PeerStats): void {
    const s = conn.snap!;
    conn.snap = undefined;
    const m = s.message;
    const groups = this.#env.dialect.grouped ? [s.groupId] : undefined;
    if (s.buf !== undefined) {
      const full: Message = { ...m, snapshot: { ...m.snapshot!, data: s.buf } };
      stats.messagesReceived++;
      stats.snapshotsReceived++;
      this.#deliver(sink, conn.peerId, [full], groups);
      sendTo(conn, encodeSnapshotAck(s.streamId, AckStatus.Received));
      return;
    }
    // Streamed: once every write settled, the data is checked and made
    // durable; only then is the snapshot stepped (Raft installs it).
    const rx = s.rx!;
    s.rx = undefined;
    void (async (): Promise<void> => {
      let snap;
      try {
        await s.writing;
        if (s.failed !== undefined) throw new Error(s.failed);
        snap = await rx.finish();
      } catch (e) {
        try {
          await rx.abort();
        } catch {
          // Discarding is best effort; the storage drops staging on open.
        }
        this.#env.logger.warning(
          `${this.#env.localId} refused a snapshot from ${conn.peerId}: ${errorText(e)}`,
        );
        sendTo(conn, encodeSnapshotAck(s.streamId, AckStatus.Refused));
        return;
      }
      if (this.#env.closed()) return;
      stats.messagesReceived++;
      stats.snapshotsReceived++;
      this.#deliver(sink, conn.peerId, [{ ...m, snapshot: snap }], groups);
      sendTo(conn, encodeSnapshotAck(s.streamId, AckStatus.Received));
    })();
  }

  #deliver(
    sink: PeerSink,
    from: NodeId,
    messages: readonly Message[],
    groups: readonly number[] | undefined,
  ): void {
    try {
      sink.receive(from, messages, groups);
    } catch (e) {
      this.#env.logger.error(
        `${this.#env.localId} handler failed to take messages: ${errorText(e)}`,
      );
    }
  }
}

/**
 * Why a client speaking the other dialect (a single node's or a host's)
 * is refused, or `undefined` when it does not offer the other one.
 */
function dialectMismatch(d: Dialect, protocols: readonly string[]): string | undefined {
  const other = d.grouped ? protocolName : hostProtocolName;
  if (protocols.includes(d.protocol) || !protocols.includes(other)) return undefined;
  return d.grouped
    ? `Bad Request: this is a host of many groups (${hostProtocolName}); a single-group WebSocketTransport (${protocolName}) cannot connect to it`
    : `Bad Request: this is a single-group node (${protocolName}); a WebSocketHostTransport (${hostProtocolName}) cannot connect to it`;
}

function sendTo(conn: InboundConn, data: Uint8Array): void {
  try {
    conn.socket?.send(data as Uint8Array<ArrayBuffer>);
  } catch {
    // The socket is closing; its close event follows.
  }
}

function closeSocket(socket: PeerSocketLike, code: number, reason: string): void {
  try {
    socket.close(code, closeReason(reason));
  } catch {
    // already closed
  }
}
