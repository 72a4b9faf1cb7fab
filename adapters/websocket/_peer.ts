/**
 * The outbound half of the transport for one peer: one send-only client
 * connection, reconnected with exponential backoff and jitter; a bounded
 * send queue; and the snapshot stream with its acknowledgement.
 *
 * @module
 */

import { encodeMessageFrame } from "../../core/codec.ts";
import type { Logger } from "../../core/logger.ts";
import type { Scheduler, SnapshotStreams, TimerHandle } from "../../core/node.ts";
import {
  emptyBytes,
  type Message,
  MessageType,
  type NodeId,
  SnapshotStatus,
} from "../../core/types.ts";
import { hostProtocolName, protocolName } from "./_auth.ts";
import type { ClientEvents, ClientSocket } from "./_runtime.ts";
import type { WebSocketPeerMetrics } from "./options.ts";
import {
  AckStatus,
  CloseCode,
  decodeWire,
  encodeGroupMessageFrame,
  encodeSnapshotBegin,
  encodeSnapshotChunk,
  FrameKind,
  maxHeaderBytes,
  packMessages,
  WireError,
} from "./_wire.ts";

/**
 * The state of the outbound connection to a peer: `no-address` (no URL
 * known), `idle` (not started), `connecting`, `open`, `backoff` (waiting to
 * retry after a failure; messages are dropped), `closed` (removed).
 *
 * @example Usage
 * ```ts
 * import type { PeerConnectionState } from "@raft-ts/raft/websocket";
 * const healthy = (s: PeerConnectionState): boolean => s === "open";
 * if (healthy("backoff")) throw new Error("unexpected");
 * ```
 */
export type PeerConnectionState =
  | "no-address"
  | "idle"
  | "connecting"
  | "open"
  | "backoff"
  | "closed";

/** Counters kept per peer, for both directions: the counters of the peer's metrics. */
export type PeerStats = Omit<
  WebSocketPeerMetrics,
  "id" | "url" | "state" | "inboundConnections" | "queuedMessages" | "queuedBytes"
>;

/** Fresh zeroed counters. */
export function newPeerStats(): PeerStats {
  return {
    messagesSent: 0,
    bytesSent: 0,
    framesSent: 0,
    messagesReceived: 0,
    bytesReceived: 0,
    framesReceived: 0,
    messagesDropped: 0,
    connects: 0,
    reconnects: 0,
    connectFailures: 0,
    disconnects: 0,
    snapshotsSent: 0,
    snapshotsFailed: 0,
    snapshotsReceived: 0,
    lastError: undefined,
  };
}

/**
 * What a connection carries: one node's messages (`raft-ts.v1`), or the
 * (group, message) pairs of every group of a host (`raft-ts.host.v1`). The
 * two refuse each other at the handshake.
 */
export interface Dialect {
  /** The subprotocol. */
  readonly protocol: string;
  /** Whether messages are tagged with their group. */
  readonly grouped: boolean;
  /** The transport's class, for messages. */
  readonly name: string;
}

/** One node's messages. */
export const nodeDialect: Dialect = {
  protocol: protocolName,
  grouped: false,
  name: "WebSocketTransport",
};
/** The messages of every group of a host. */
export const hostDialect: Dialect = {
  protocol: hostProtocolName,
  grouped: true,
  name: "WebSocketHostTransport",
};

/** The limits an outbound peer works within (validated by the transport). */
export interface PeerLimits {
  maxFrameBytes: number;
  maxQueuedMessages: number;
  maxQueuedBytes: number;
  snapshotChunkBytes: number;
  maxSnapshotBytes: number;
  snapshotAckTimeoutMs: number;
  connectTimeoutMs: number;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
}

/**
 * Where inbound traffic and delivery outcomes go: a node's handler (every
 * message of group 0) or a host's (messages of many groups).
 */
export interface PeerSink {
  /** Takes the messages of one frame, each of its group (`groups[i]`, 0 for a node's). */
  receive(from: NodeId, messages: readonly Message[], groups: readonly number[] | undefined): void;
  /** Messages of `groups` (every group for a node) could not reach `id`. */
  reportUnreachable(id: NodeId, groups: Iterable<number> | undefined): void;
  reportSnapshot(id: NodeId, status: SnapshotStatus, groupId: number): void;
  /** A group's snapshot streams, when it gave them (snapshot data held in storage). */
  snapshots(groupId: number): SnapshotStreams | undefined;
}

/** What an outbound peer needs from the transport. */
export interface PeerEnv {
  readonly localId: NodeId;
  readonly dialect: Dialect;
  readonly limits: PeerLimits;
  readonly scheduler: Scheduler;
  readonly random: () => number;
  readonly logger: Logger;
  /** A fresh handshake token for a connection to `to`. */
  token(to: NodeId): Promise<string>;
  /** Opens a client connection. */
  connect(url: string, protocols: string[], events: ClientEvents): Promise<ClientSocket>;
  /** Where reports go, once started. */
  sink(): PeerSink | undefined;
}

/** Bytes in the socket's own buffer above which we stop handing it more. */
const socketHighWaterBytes = 1 << 20;
/** How often a full socket buffer is polled for room, in ms. */
const pumpIntervalMs = 1;

interface QueuedFrame {
  data: Uint8Array;
  /** Raft messages in it. */
  count: number;
  /** Between hosts: the groups of its messages. */
  groups: readonly number[] | undefined;
}

/** Snapshots of other groups waiting for the one being streamed, at most. */
export const pendingSnapshotsMax = 1024;

interface PendingSnapshot {
  message: Message;
  groupId: number;
}

interface OutboundSnapshot {
  streamId: number;
  /** The group (0 for a node's). */
  groupId: number;
  /**
   * The MsgSnap with its snapshot data left out (sent inline), or with it
   * (the state machine's data, held in storage, is streamed).
   */
  header: Message;
  /** The bytes that follow the header: the snapshot's data, or its stored data. */
  total: number;
  /** Bytes sent so far. */
  offset: number;
  /** The bytes being sent: all the data (inline), or the chunk read last (streamed). */
  chunk: Uint8Array;
  /** Bytes of `chunk` sent. */
  chunkAt: number;
  /** Streamed: the reader of the stored data's chunks. */
  source: AsyncIterator<Uint8Array> | undefined;
  /** Streamed: a chunk is being read. */
  reading: boolean;
  begun: boolean;
  awaitingAck: boolean;
}

/** Ends the reading of a snapshot's stored data, if any; never throws. */
function release(s: OutboundSnapshot | undefined): void {
  const src = s?.source;
  if (src === undefined) return;
  s!.source = undefined;
  try {
    void src.return?.()?.catch?.(() => {});
  } catch {
    // The reader is gone already.
  }
}

/**
 * Backoff before reconnection attempt `attempt` (0 for the first retry):
 * the cap doubles from `baseMs` up to `maxMs`, and the delay is drawn
 * uniformly from the upper half of the cap ("equal jitter").
 */
export function backoffDelayMs(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number,
): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return cap / 2 + random() * (cap / 2);
}

/** The outbound connection to one peer. */
export class OutboundPeer {
  readonly id: NodeId;
  readonly stats: PeerStats;
  #url: string | undefined;
  #state: PeerConnectionState;
  readonly #env: PeerEnv;
  /** Bumped whenever the current socket is abandoned; stale events are ignored. */
  #gen = 0;
  #socket: ClientSocket | undefined;
  #attempt = 0;
  #queue: QueuedFrame[] = [];
  #queuedMessages = 0;
  #queuedBytes = 0;
  #snap: OutboundSnapshot | undefined;
  /** Snapshots of other groups waiting for `#snap`, in order; at most `pendingSnapshotsMax`. */
  readonly #pending = new Map<number, Message>();
  #nextStreamId = 1;
  /**
   * The groups whose last snapshot for this peer was refused as above
   * `maxSnapshotBytes` (one entry per group at most): Raft sends it again
   * and again, and only the first refusal (after one within the limit, or
   * at start) is an error in the log.
   */
  readonly #refusedForSize = new Set<number>();
  #retryTimer: TimerHandle | undefined;
  #connectTimer: TimerHandle | undefined;
  #pumpTimer: TimerHandle | undefined;
  #ackTimer: TimerHandle | undefined;
  /** The error reported by the socket before it closed. */
  #pendingError: string | undefined;
  /** Failures in a row; the first is logged as a warning, the rest at debug. */
  #failuresInRow = 0;

  constructor(id: NodeId, url: string | undefined, stats: PeerStats, env: PeerEnv) {
    this.id = id;
    this.#url = url;
    this.#state = url === undefined ? "no-address" : "idle";
    this.stats = stats;
    this.#env = env;
  }

  get url(): string | undefined {
    return this.#url;
  }

  get state(): PeerConnectionState {
    return this.#state;
  }

  get queuedMessages(): number {
    return this.#queuedMessages;
  }

  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** Connects now if the peer has an address and is not connected. */
  activate(): void {
    if (this.#state === "idle") void this.#connect();
  }

  /**
   * The peer connected to us, so it is up: when waiting out a backoff,
   * connect now, from the first backoff step again.
   */
  retryNow(): void {
    if (this.#state !== "backoff") return;
    this.#env.logger.debug(`${this.#env.localId} peer ${this.id} connected to us; dialling it now`);
    this.#attempt = 0;
    this.#clearTimer("retry");
    void this.#connect();
  }

  /** Points the peer at a new address, reconnecting if it changed. */
  setUrl(url: string, active: boolean): void {
    if (this.#state === "closed" || url === this.#url) return;
    this.#url = url;
    if (this.#state !== "no-address" && this.#state !== "idle") {
      this.#env.logger.info(`${this.#env.localId} peer ${this.id} moved to ${url}; reconnecting`);
      this.#teardown(CloseCode.Normal, "peer address changed");
      this.#unreachable(this.#dropQueue());
    }
    this.#state = "idle";
    this.#attempt = 0;
    if (active) this.activate();
  }

  /** Stops for good: closes the connection, forgets queued messages, reports nothing. */
  close(reason: string): void {
    if (this.#state === "closed") return;
    this.#teardown(CloseCode.GoingAway, reason);
    this.#clearTimer("ack");
    this.#queue = [];
    this.#queuedMessages = 0;
    this.#queuedBytes = 0;
    release(this.#snap);
    this.#snap = undefined;
    this.#pending.clear();
    this.#state = "closed";
  }

  /**
   * Sends messages addressed to this peer (all from one `send()` call);
   * between hosts, `groups[i]` is the group of `messages[i]`.
   */
  send(messages: readonly Message[], groups: readonly number[] | undefined): void {
    if (this.#state === "closed") {
      this.stats.messagesDropped += messages.length;
      return;
    }
    const grouped = groups !== undefined;
    const snaps: PendingSnapshot[] = [];
    const frames: Uint8Array[] = [];
    /** Between hosts: the group of each frame, and the groups of the messages dropped. */
    const frameGroups: number[] = [];
    const lost: number[] = [];
    let dropped = 0;
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      const g = groups?.[i] ?? 0;
      if (m.type === MessageType.MsgSnap && m.snapshot !== undefined) {
        snaps.push({ message: m, groupId: g });
        continue;
      }
      try {
        frames.push(grouped ? encodeGroupMessageFrame(g, m) : encodeMessageFrame(m));
        if (grouped) frameGroups.push(g);
      } catch (e) {
        dropped++;
        if (grouped) lost.push(g);
        this.#env.logger.error(
          `${this.#env.localId} cannot encode a message to ${this.id}: ${errorText(e)}`,
        );
      }
    }
    if (this.#state === "no-address" || this.#state === "backoff") {
      // Unreachable for now: Raft retransmits once the peer is back.
      this.#drop(
        frames.length + dropped,
        grouped ? [...frameGroups, ...lost] : undefined,
        snaps,
      );
      return;
    }
    if (this.#state === "idle") void this.#connect();
    const limits = this.#env.limits;
    const kind = grouped ? FrameKind.GroupMessages : FrameKind.Messages;
    let at = 0;
    for (const f of packMessages(frames, limits.maxFrameBytes, kind)) {
      const fg = grouped ? frameGroups.slice(at, at + f.count) : undefined;
      at += f.count;
      const tooLarge = f.data.length > limits.maxFrameBytes;
      if (
        tooLarge ||
        this.#queuedMessages + f.count > limits.maxQueuedMessages ||
        this.#queuedBytes + f.data.length > limits.maxQueuedBytes
      ) {
        dropped += f.count;
        if (fg !== undefined) lost.push(...fg);
        if (tooLarge) {
          this.#env.logger.error(
            `${this.#env.localId} cannot send a message of ${f.data.length} bytes to ${this.id}: above maxFrameBytes (${limits.maxFrameBytes})`,
          );
        }
        continue;
      }
      this.#queue.push({ data: f.data, count: f.count, groups: fg });
      this.#queuedMessages += f.count;
      this.#queuedBytes += f.data.length;
    }
    if (dropped > 0) {
      this.stats.messagesDropped += dropped;
      this.#env.logger.debug(
        `${this.#env.localId} dropped ${dropped} messages to ${this.id}: send queue full or message too large`,
      );
      this.#unreachable(grouped ? lost : undefined);
    }
    for (const p of snaps) this.#startSnapshot(p.message, p.groupId);
    this.#flush();
  }

  /** Tells the sink that messages of `groups` (all, for a node) could not reach this peer. */
  #unreachable(groups: Iterable<number> | undefined): void {
    this.#env.sink()?.reportUnreachable(this.id, groups);
  }

  #snapshotFailed(groupId: number): void {
    this.stats.snapshotsFailed++;
    this.#env.sink()?.reportSnapshot(this.id, SnapshotStatus.SnapshotFailure, groupId);
  }

  #drop(
    count: number,
    groups: readonly number[] | undefined,
    snaps: readonly PendingSnapshot[],
  ): void {
    this.stats.messagesDropped += count + snaps.length;
    if (count + snaps.length > 0) {
      this.#unreachable(
        groups === undefined ? undefined : [...groups, ...snaps.map((p) => p.groupId)],
      );
    }
    for (const p of snaps) this.#snapshotFailed(p.groupId);
  }

  /**
   * Drops what waits to be sent; snapshots in flight or waiting are
   * reported failed.
   *
   * @returns Between hosts, the groups whose messages were dropped.
   */
  #dropQueue(): Set<number> | undefined {
    const lost = this.#env.dialect.grouped ? new Set<number>() : undefined;
    for (const f of this.#queue) for (const g of f.groups ?? []) lost?.add(g);
    this.stats.messagesDropped += this.#queuedMessages;
    this.#queue = [];
    this.#queuedMessages = 0;
    this.#queuedBytes = 0;
    const s = this.#snap;
    release(s);
    this.#snap = undefined;
    this.#clearTimer("ack");
    const failed = [...this.#pending.keys()];
    this.#pending.clear();
    if (s !== undefined) failed.unshift(s.groupId);
    for (const g of failed) {
      this.stats.messagesDropped++;
      lost?.add(g);
      this.#snapshotFailed(g);
    }
    return lost;
  }

  /**
   * Starts streaming a group's snapshot, or queues it behind the one being
   * streamed (one stream at a time per connection; other traffic passes
   * between its chunks). A newer snapshot of the same group supersedes the
   * older one.
   */
  #startSnapshot(m: Message, groupId: number): void {
    const cur = this.#snap;
    if (cur !== undefined && cur.groupId !== groupId) {
      if (this.#pending.has(groupId)) this.stats.messagesDropped++; // superseded
      else if (this.#pending.size >= pendingSnapshotsMax) {
        this.#drop(0, this.#env.dialect.grouped ? [] : undefined, [{ message: m, groupId }]);
        return;
      }
      this.#pending.set(groupId, m);
      return;
    }
    const snap = m.snapshot!;
    const limits = this.#env.limits;
    let stored: number | undefined;
    let source: AsyncIterator<Uint8Array> | undefined;
    const one = [{ message: m, groupId }];
    const groups = this.#env.dialect.grouped ? [] : undefined;
    try {
      const streams = this.#env.sink()?.snapshots(groupId);
      stored = streams?.dataBytes(snap);
      if (stored !== undefined) source = streams!.read(snap)[Symbol.asyncIterator]();
    } catch (e) {
      this.#env.logger.error(
        `${this.#env.localId} cannot read snapshot ${snap.metadata.index} for ${this.id}: ${
          errorText(e)
        }`,
      );
      this.#drop(0, groups, one);
      return;
    }
    const total = stored ?? snap.data.length;
    if (total > limits.maxSnapshotBytes) {
      const log = this.#refusedForSize.has(groupId)
        ? this.#env.logger.debug
        : this.#env.logger.error;
      log.call(
        this.#env.logger,
        `${this.#env.localId} cannot send a snapshot of ${total} bytes to ${this.id}: above maxSnapshotBytes (${limits.maxSnapshotBytes})`,
      );
      this.#refusedForSize.add(groupId);
      release({ source } as OutboundSnapshot);
      this.#drop(0, groups, one);
      return;
    }
    this.#refusedForSize.delete(groupId);
    if (cur !== undefined) {
      // A newer snapshot supersedes one still streaming; Raft moved on.
      this.#env.logger.debug(
        `${this.#env.localId} snapshot stream ${cur.streamId} to ${this.id} superseded`,
      );
      release(cur);
      this.#clearTimer("ack");
      this.stats.messagesDropped++;
    }
    this.#snap = {
      streamId: this.#nextStreamId++,
      groupId,
      header: source !== undefined ? m : { ...m, snapshot: { ...snap, data: emptyBytes } },
      total,
      offset: 0,
      chunk: source !== undefined ? emptyBytes : snap.data,
      chunkAt: 0,
      source,
      reading: false,
      begun: false,
      awaitingAck: false,
    };
  }

  /** Starts the next waiting snapshot, once none is streaming. */
  #nextSnapshot(): void {
    for (const [g, m] of this.#pending) {
      if (this.#snap !== undefined) return;
      this.#pending.delete(g);
      this.#startSnapshot(m, g);
    }
  }

  /** A streamed snapshot failed on this side: reported, and its stream abandoned. */
  #failSnapshot(s: OutboundSnapshot, why: string): void {
    if (this.#snap !== s) return;
    release(s);
    this.#snap = undefined;
    this.#env.logger.warning(`${this.#env.localId} snapshot to ${this.id} failed: ${why}`);
    this.stats.messagesDropped++;
    this.#snapshotFailed(s.groupId);
    // The receiver discards the partial stream when the next one begins or the connection closes.
    this.#nextSnapshot();
    this.#flush();
  }

  /** Reads the next chunk of a streamed snapshot's stored data, then carries on sending. */
  #read(s: OutboundSnapshot): void {
    const src = s.source!;
    s.reading = true;
    src.next().then(
      (r) => {
        s.reading = false;
        if (this.#snap !== s) return;
        if (r.done === true) {
          if (s.offset !== s.total) {
            this.#failSnapshot(s, `its stored data ended at ${s.offset} of ${s.total} bytes`);
            return;
          }
          release(s);
        } else {
          if (!(r.value instanceof Uint8Array) || s.offset + r.value.length > s.total) {
            this.#failSnapshot(s, `its stored data is longer than ${s.total} bytes`);
            return;
          }
          s.chunk = r.value;
          s.chunkAt = 0;
        }
        this.#flush();
      },
      (e: unknown) => {
        s.reading = false;
        this.#failSnapshot(s, `cannot read its stored data: ${errorText(e)}`);
      },
    );
  }

  /** Hands queued frames, then snapshot chunks, to the socket while it has room. */
  #flush(): void {
    const sock = this.#socket;
    if (this.#state !== "open" || sock === undefined) return;
    try {
      while (this.#queue.length > 0 && sock.bufferedAmount() < socketHighWaterBytes) {
        const f = this.#queue.shift()!;
        this.#queuedMessages -= f.count;
        this.#queuedBytes -= f.data.length;
        sock.send(f.data);
        this.stats.messagesSent += f.count;
        this.stats.bytesSent += f.data.length;
        this.stats.framesSent++;
      }
      if (this.#queue.length === 0) this.#pumpSnapshot(sock);
    } catch (e) {
      this.#fail(`send failed: ${errorText(e)}`, true);
      return;
    }
    const s = this.#snap;
    // A chunk being read carries on with #flush() once it is in.
    const more = this.#queue.length > 0 || (s !== undefined && !s.awaitingAck && !s.reading);
    if (more && this.#pumpTimer === undefined) {
      this.#pumpTimer = this.#env.scheduler.setTimeout(() => {
        this.#pumpTimer = undefined;
        this.#flush();
      }, pumpIntervalMs);
    }
  }

  #pumpSnapshot(sock: ClientSocket): void {
    const s = this.#snap;
    if (s === undefined || s.awaitingAck || s.reading) return;
    const chunkBytes = this.#env.limits.snapshotChunkBytes;
    if (!s.begun) {
      const group = this.#env.dialect.grouped ? s.groupId : undefined;
      const b = encodeSnapshotBegin(s.streamId, s.total, s.header, group);
      sock.send(b);
      s.begun = true;
      this.stats.bytesSent += b.length;
      this.stats.framesSent++;
    }
    // Flow control: a chunk is read from storage only when the socket has
    // room for it, so at most one stored chunk is held at a time.
    while (s.offset < s.total && sock.bufferedAmount() < socketHighWaterBytes) {
      if (s.chunkAt === s.chunk.length) {
        if (s.source === undefined) break;
        this.#read(s);
        return;
      }
      const end = Math.min(s.chunk.length, s.chunkAt + chunkBytes);
      const c = encodeSnapshotChunk(s.streamId, s.offset, s.chunk.subarray(s.chunkAt, end));
      sock.send(c);
      s.offset += end - s.chunkAt;
      s.chunkAt = end;
      this.stats.bytesSent += c.length;
      this.stats.framesSent++;
    }
    if (s.offset === s.total && s.source !== undefined) {
      // Every byte is sent: the reader must end there.
      this.#read(s);
      return;
    }
    if (s.offset === s.total) {
      s.awaitingAck = true;
      this.#ackTimer = this.#env.scheduler.setTimeout(() => {
        this.#ackTimer = undefined;
        if (this.#snap !== s) return;
        this.#snap = undefined;
        this.#env.logger.warning(
          `${this.#env.localId} snapshot to ${this.id} not acknowledged within ${this.#env.limits.snapshotAckTimeoutMs} ms`,
        );
        this.#snapshotFailed(s.groupId);
        this.#nextSnapshot();
        this.#flush();
      }, this.#env.limits.snapshotAckTimeoutMs);
    }
  }

  #onAck(streamId: number, status: AckStatus): void {
    const s = this.#snap;
    if (s === undefined || s.streamId !== streamId) return; // superseded or timed out
    this.#snap = undefined;
    this.#clearTimer("ack");
    if (status === AckStatus.Received) {
      this.stats.snapshotsSent++;
      this.stats.messagesSent++;
      this.#env.sink()?.reportSnapshot(this.id, SnapshotStatus.SnapshotFinish, s.groupId);
    } else {
      this.stats.messagesDropped++;
      this.#env.logger.warning(`${this.#env.localId} peer ${this.id} refused a snapshot`);
      this.#snapshotFailed(s.groupId);
    }
    this.#nextSnapshot();
    this.#flush();
  }

  async #connect(): Promise<void> {
    const url = this.#url;
    if (url === undefined || this.#state === "closed") return;
    this.#state = "connecting";
    this.#clearTimer("retry");
    const gen = ++this.#gen;
    this.#pendingError = undefined;
    let sock: ClientSocket;
    try {
      const token = await this.#env.token(this.id);
      if (gen !== this.#gen) return;
      this.#connectTimer = this.#env.scheduler.setTimeout(() => {
        this.#connectTimer = undefined;
        if (gen === this.#gen) {
          this.#fail(`no connection within ${this.#env.limits.connectTimeoutMs} ms`, false);
        }
      }, this.#env.limits.connectTimeoutMs);
      sock = await this.#env.connect(url, [this.#env.dialect.protocol, token], {
        open: () => {
          if (gen === this.#gen) this.#onOpen();
        },
        message: (data) => {
          if (gen === this.#gen) this.#onMessage(data);
        },
        error: (msg) => {
          if (gen === this.#gen) this.#pendingError = msg;
        },
        close: (code, reason) => {
          if (gen !== this.#gen) return;
          const wasOpen = this.#state === "open";
          const why = this.#pendingError ??
            `connection closed (code ${code}${reason === "" ? "" : `: ${reason}`})`;
          this.#fail(why, wasOpen);
        },
      });
    } catch (e) {
      if (gen === this.#gen) this.#fail(`cannot connect: ${errorText(e)}`, false);
      return;
    }
    if (gen !== this.#gen) {
      sock.close(CloseCode.Normal, "abandoned");
      return;
    }
    this.#socket = sock;
  }

  #onOpen(): void {
    const sock = this.#socket;
    if (sock === undefined) return;
    this.#clearTimer("connect");
    const want = this.#env.dialect.protocol;
    if (sock.protocol() !== want) {
      this.#fail(`server selected subprotocol '${sock.protocol()}', not '${want}'`, false);
      return;
    }
    this.#state = "open";
    this.#attempt = 0;
    this.stats.connects++;
    if (this.stats.connects > 1) this.stats.reconnects++;
    if (this.#failuresInRow > 0 || this.stats.connects > 1) {
      this.#env.logger.info(`${this.#env.localId} connected to peer ${this.id} at ${this.#url}`);
    }
    this.#failuresInRow = 0;
    this.#flush();
  }

  #onMessage(data: Uint8Array | string): void {
    try {
      if (typeof data === "string") {
        throw new WireError(CloseCode.UnsupportedData, "text frames are not accepted");
      }
      const f = decodeWire(data, this.#env.limits.maxFrameBytes);
      if (f.kind !== FrameKind.SnapshotAck) {
        throw new WireError(CloseCode.ProtocolError, "only snapshot acknowledgements flow back");
      }
      this.#onAck(f.streamId, f.status);
    } catch (e) {
      const code = e instanceof WireError ? e.closeCode : CloseCode.ProtocolError;
      const why = `bad frame from peer ${this.id}: ${errorText(e)}`;
      this.#env.logger.warning(`${this.#env.localId} closing the connection to ${this.id}: ${why}`);
      this.#socket?.close(code, why);
      this.#fail(why, true);
    }
  }

  /** The connection failed or was lost: report, drop what waits, retry later. */
  #fail(why: string, wasOpen: boolean): void {
    if (this.#state === "closed") return;
    this.#teardown(CloseCode.Normal, "reconnecting");
    this.stats.lastError = why;
    if (wasOpen) {
      this.stats.disconnects++;
      this.#env.logger.warning(`${this.#env.localId} lost the connection to ${this.id}: ${why}`);
    } else {
      this.stats.connectFailures++;
      const line = `${this.#env.localId} cannot connect to ${this.id} at ${this.#url}: ${why}`;
      if (this.#failuresInRow === 0) this.#env.logger.warning(line);
      else this.#env.logger.debug(line);
    }
    this.#failuresInRow++;
    this.#unreachable(this.#dropQueue());
    this.#state = "backoff";
    const limits = this.#env.limits;
    const delay = backoffDelayMs(
      this.#attempt++,
      limits.reconnectBaseMs,
      limits.reconnectMaxMs,
      this.#env.random,
    );
    this.#retryTimer = this.#env.scheduler.setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#state === "backoff") void this.#connect();
    }, delay);
  }

  /** Abandons the current socket and timers (not the queue). */
  #teardown(code: number, reason: string): void {
    this.#gen++;
    const sock = this.#socket;
    this.#socket = undefined;
    this.#clearTimer("retry");
    this.#clearTimer("connect");
    this.#clearTimer("pump");
    if (sock !== undefined) {
      try {
        sock.close(code, reason);
      } catch {
        // already closed
      }
    }
  }

  #clearTimer(which: "retry" | "connect" | "pump" | "ack"): void {
    const s = this.#env.scheduler;
    switch (which) {
      case "retry":
        if (this.#retryTimer !== undefined) s.clearTimeout(this.#retryTimer);
        this.#retryTimer = undefined;
        break;
      case "connect":
        if (this.#connectTimer !== undefined) s.clearTimeout(this.#connectTimer);
        this.#connectTimer = undefined;
        break;
      case "pump":
        if (this.#pumpTimer !== undefined) s.clearTimeout(this.#pumpTimer);
        this.#pumpTimer = undefined;
        break;
      case "ack":
        if (this.#ackTimer !== undefined) s.clearTimeout(this.#ackTimer);
        this.#ackTimer = undefined;
        break;
    }
  }
}

/** An error's message. */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Bytes a WebSocket message of ours may need beyond its payload. */
export const wireOverheadBytes: number = maxHeaderBytes + 8;
