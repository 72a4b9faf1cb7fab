/**
 * {@linkcode WebSocketHostTransport}: the {@linkcode HostTransport} of a
 * `RaftHost` over WebSocket. It is a `WebSocketTransport` speaking the
 * group-tagged dialect, so authentication, TLS, reconnection with backoff,
 * bounded queues and the handling of hostile input are the same code.
 *
 * @module
 */

import type {
  GroupMessage,
  HostId,
  HostTransport,
  HostTransportHandler,
} from "../../core/host/seams.ts";
import type { SnapshotStreams } from "../../core/node.ts";
import type { Message, NodeId, SnapshotStatus } from "../../core/types.ts";
import type { PeerUpgradeDecision, PeerUpgradeRequest } from "./_inbound.ts";
import type { PeerSink } from "./_peer.ts";
import { type HostCore, hostCoreKey, type HostCoreOptions } from "./_host_core.ts";
import { WebSocketTransport } from "./mod.ts";
import type {
  WebSocketTransportAddress,
  WebSocketTransportMetrics,
  WebSocketTransportOptions,
} from "./options.ts";

/**
 * Counters of a {@linkcode WebSocketHostTransport}: the connection
 * counters of a `WebSocketTransport` (each peer's `messagesSent` counts
 * (group, message) pairs, its `framesSent` the WebSocket messages that
 * carried them), and what the host handed over and was told.
 *
 * @example Pairs per frame
 * ```ts
 * import type { WebSocketHostTransportMetrics } from "@raft-ts/raft/websocket";
 * const perFrame = (m: WebSocketHostTransportMetrics): number =>
 *   m.peers.reduce((n, p) => n + p.messagesSent, 0) /
 *   Math.max(1, m.peers.reduce((n, p) => n + p.framesSent, 0));
 * if (typeof perFrame !== "function") throw new Error("unexpected");
 * ```
 */
export interface WebSocketHostTransportMetrics extends WebSocketTransportMetrics {
  /** Calls to `send`: the batches the host handed over. */
  sendCalls: number;
  /** (group, message) pairs handed to `send`. */
  pairsSent: number;
  /** (group, message) pairs received and handed to the host. */
  pairsReceived: number;
  /** `reportUnreachable(groupId, host)` calls made to the host. */
  unreachableReports: number;
}

/**
 * A {@linkcode HostTransport} over WebSocket: one outbound connection per
 * peer host carries the messages of every group, and each WebSocket
 * message carries the (group, message) pairs one `send` call has for that
 * host (a group ID before each message frame). Group ID 0 is reserved for
 * host-level traffic and is carried like any other.
 *
 * It is built on `WebSocketTransport` and takes the same options (`id` is
 * the host's ID, `peers` the peer hosts): the same handshake (cluster
 * secret, membership, replay), TLS, reconnection with backoff and jitter,
 * bounded per-peer queues (what does not fit is dropped, counted and
 * reported with `reportUnreachable(groupId, host)` for each group it held)
 * and hostile-input handling (a malformed frame, an unknown frame kind, a
 * group ID out of range or an oversized frame closes that connection with
 * a logged reason). A single-group `WebSocketTransport` and a host
 * transport refuse each other's connections with HTTP 400 and a reason.
 *
 * Snapshots: a group's `MsgSnap` is sent as a stream of chunks on the same
 * connection, between the other groups' messages (queued messages go
 * first); snapshots of different groups to one host are streamed one after
 * the other, and a newer snapshot of a group supersedes its older one. A
 * group whose storage keeps snapshot data in chunks streams it from
 * storage (through the host's `snapshotStreams(groupId)`); otherwise the
 * data travels from the `MsgSnap` itself, in chunks too. Each outcome
 * reaches the host as `reportSnapshot(groupId, host, status)`.
 *
 * @example Two hosts with one group over WebSocket
 * ```ts
 * import { MemoryHostStorage, RaftHost, type StateMachine } from "@raft-ts/raft";
 * import { encodePeerContext, WebSocketHostTransport } from "@raft-ts/raft/websocket";
 *
 * const secret = "an example secret of at least 16 bytes";
 * const ids = [1, 2];
 * const transports = ids.map((id) => new WebSocketHostTransport({ id, clusterId: "demo", secret }));
 * const urls = await Promise.all(transports.map(async (t) => (await t.listen()).url));
 * for (const t of transports) {
 *   ids.forEach((id, i) => t.addPeer(id, encodePeerContext({ url: urls[i]! })));
 * }
 * const hosts = await Promise.all(ids.map((hostId, i) =>
 *   RaftHost.start({
 *     hostId,
 *     transport: transports[i]!,
 *     storage: new MemoryHostStorage(),
 *     tickMs: 10,
 *   })
 * ));
 * const log: string[] = [];
 * const sm = (): StateMachine<void> => ({
 *   apply: (cmds) => cmds.map((c) => void log.push(new TextDecoder().decode(c.data))),
 *   snapshot: () => new Uint8Array(),
 *   restore: () => {},
 * });
 * for (const h of hosts) await h.addGroup({ groupId: 7, peers: ids, stateMachine: sm() });
 * const leader = await hosts[0]!.group(7).waitForLeader();
 * await hosts[leader - 1]!.group(7).propose(new TextEncoder().encode("hello"));
 * await Promise.all(hosts.map((h) => h.close()));
 * ```
 */
export class WebSocketHostTransport implements HostTransport {
  readonly #inner: WebSocketTransport;
  readonly #core: HostCore;
  #sendCalls = 0;
  #pairsSent = 0;
  #pairsReceived = 0;
  #unreachableReports = 0;

  /** Group snapshots are streamed in chunks, from storage when the group's storage keeps chunks. */
  readonly streamsSnapshots = true;

  /**
   * Creates a host transport; nothing listens or connects until `listen()` or `start()`.
   *
   * @param options As `WebSocketTransport`'s: `id` is this host's ID,
   * `peers` the peer hosts' URLs.
   * @throws {RangeError} When an option is out of range.
   * @throws {TypeError} When a peer URL is not a `ws://` or `wss://` URL.
   */
  constructor(options: WebSocketTransportOptions) {
    let core: HostCore | undefined;
    const o: HostCoreOptions = { ...options, [hostCoreKey]: (c: HostCore) => (core = c) };
    this.#inner = new WebSocketTransport(o);
    this.#core = core!;
  }

  /** This host's ID. */
  get id(): HostId {
    return this.#inner.id;
  }

  /** The listening URL, once `listen()` resolved. */
  get url(): string | undefined {
    return this.#inner.url;
  }

  /**
   * Starts listening (idempotent), as `WebSocketTransport.listen()`.
   *
   * @returns Where it listens; with `port: 0`, the port picked.
   * @throws When the address cannot be bound, the transport is closed, or
   * it has no server of its own (`server: "none"`).
   *
   * @example Picking a free port
   * ```ts
   * import { WebSocketHostTransport } from "@raft-ts/raft/websocket";
   * const t = new WebSocketHostTransport({ id: 1, clusterId: "c", secret: "0123456789abcdef" });
   * const { port } = await t.listen();
   * if (port === 0) throw new Error("unexpected");
   * await t.close();
   * ```
   */
  listen(): Promise<WebSocketTransportAddress> {
    return this.#inner.listen();
  }

  /**
   * Starts delivering inbound batches to the host and connects to the
   * known peer hosts; `RaftHost.start` calls it.
   *
   * @param handler The host's handler; its `hostId` must be this transport's `id`.
   * @throws {Error} When already started or closed.
   * @throws {RangeError} When `handler.hostId` is not the transport's `id`.
   *
   * @example Usage
   * ```ts
   * import { WebSocketHostTransport } from "@raft-ts/raft/websocket";
   * const t = new WebSocketHostTransport({ id: 1, clusterId: "c", secret: "0123456789abcdef" });
   * t.start({ hostId: 1, receive() {}, reportUnreachable() {}, reportSnapshot() {} });
   * if (!t.metrics().started) throw new Error("unexpected");
   * await t.close();
   * ```
   */
  start(handler: HostTransportHandler): void {
    if (handler.hostId !== this.id) {
      throw new RangeError(
        `Cannot start WebSocketHostTransport as the handler's hostId must be the transport's id: current values ${handler.hostId}, ${this.id}`,
      );
    }
    const sink: PeerSink = {
      receive: (from: NodeId, messages: readonly Message[], groups?: readonly number[]): void => {
        const batch: GroupMessage[] = new Array(messages.length);
        for (let i = 0; i < messages.length; i++) {
          batch[i] = { groupId: groups?.[i] ?? 0, message: messages[i]! };
        }
        this.#pairsReceived += batch.length;
        handler.receive(from, batch);
      },
      reportUnreachable: (id: NodeId, groups: Iterable<number> | undefined): void => {
        for (const g of new Set(groups)) {
          this.#unreachableReports++;
          handler.reportUnreachable(g, id);
        }
      },
      reportSnapshot: (id: NodeId, status: SnapshotStatus, groupId: number): void =>
        handler.reportSnapshot(groupId, id, status),
      snapshots: (groupId: number): SnapshotStreams | undefined =>
        handler.snapshotStreams?.(groupId),
    };
    this.#core.start(sink);
  }

  /**
   * Sends messages of many groups; never blocks or throws. The pairs for
   * one peer host leave as one WebSocket message (split only above
   * `maxFrameBytes`); a `MsgSnap` is streamed in chunks. What cannot be
   * sent is dropped, counted and reported (`reportUnreachable(groupId,
   * host)` once per group, `reportSnapshot(…, SnapshotFailure)` for
   * snapshots).
   *
   * @param batch The pairs; they are not modified.
   *
   * @example Sending to an unknown host drops, counts and reports
   * ```ts
   * import { WebSocketHostTransport } from "@raft-ts/raft/websocket";
   * import { MessageType, newMessage } from "@raft-ts/raft";
   * const t = new WebSocketHostTransport({ id: 1, clusterId: "c", secret: "0123456789abcdef" });
   * const reported: number[] = [];
   * t.start({
   *   hostId: 1,
   *   receive() {},
   *   reportUnreachable: (groupId) => void reported.push(groupId),
   *   reportSnapshot() {},
   * });
   * const m = newMessage({ type: MessageType.MsgHeartbeat, from: 1, to: 9 });
   * t.send([{ groupId: 3, message: m }, { groupId: 4, message: m }]);
   * if (t.metrics().messagesDropped !== 2 || reported.join() !== "3,4") throw new Error("unexpected");
   * await t.close();
   * ```
   */
  send(batch: readonly GroupMessage[]): void {
    if (batch.length === 0) return;
    this.#sendCalls++;
    this.#pairsSent += batch.length;
    const messages: Message[] = new Array(batch.length);
    const groups: number[] = new Array(batch.length);
    for (let i = 0; i < batch.length; i++) {
      messages[i] = batch[i]!.message;
      groups[i] = batch[i]!.groupId;
    }
    this.#core.send(messages, groups);
  }

  /**
   * Decides on a peer host's WebSocket upgrade that another server
   * received, as `WebSocketTransport.acceptPeer` (use `server: "none"`).
   *
   * @param request The offered subprotocols and the client's address.
   * @returns The decision.
   *
   * @example Refused before start
   * ```ts
   * import { WebSocketHostTransport } from "@raft-ts/raft/websocket";
   * const t = new WebSocketHostTransport({ id: 1, clusterId: "c", secret: "0123456789abcdef", server: "none" });
   * const d = await t.acceptPeer({ protocols: null });
   * if (d.accept || d.status !== 503) throw new Error("unexpected");
   * await t.close();
   * ```
   */
  acceptPeer(request: PeerUpgradeRequest): Promise<PeerUpgradeDecision> {
    return this.#inner.acceptPeer(request);
  }

  /**
   * Learns of a peer host: from now on it may connect, and it is dialled
   * at the URL `context` carries (see `encodePeerContext`), as
   * `WebSocketTransport.addPeer`.
   *
   * @param id The peer host.
   * @param context Its peer context.
   *
   * @example Usage
   * ```ts
   * import { encodePeerContext, WebSocketHostTransport } from "@raft-ts/raft/websocket";
   * const t = new WebSocketHostTransport({ id: 1, clusterId: "c", secret: "0123456789abcdef" });
   * t.addPeer(2, encodePeerContext({ url: "ws://127.0.0.1:1/raft" }));
   * if (t.metrics().peers[0]?.url !== "ws://127.0.0.1:1/raft") throw new Error("unexpected");
   * await t.close();
   * ```
   */
  addPeer(id: HostId, context: Uint8Array): void {
    this.#inner.addPeer(id, context);
  }

  /**
   * Forgets a peer host: closes its connections and refuses new ones, as
   * `WebSocketTransport.removePeer`.
   *
   * @param id The peer host.
   *
   * @example Usage
   * ```ts
   * import { encodePeerContext, WebSocketHostTransport } from "@raft-ts/raft/websocket";
   * const t = new WebSocketHostTransport({ id: 1, clusterId: "c", secret: "0123456789abcdef" });
   * t.addPeer(2, encodePeerContext({ url: "ws://127.0.0.1:1/raft" }));
   * t.removePeer(2);
   * if (t.metrics().peers.length !== 0) throw new Error("unexpected");
   * await t.close();
   * ```
   */
  removePeer(id: HostId): void {
    this.#inner.removePeer(id);
  }

  /**
   * The transport's counters and connection states, as plain data.
   *
   * @returns A fresh object.
   *
   * @example Usage
   * ```ts
   * import { WebSocketHostTransport } from "@raft-ts/raft/websocket";
   * const t = new WebSocketHostTransport({ id: 1, clusterId: "c", secret: "0123456789abcdef" });
   * if (t.metrics().sendCalls !== 0) throw new Error("unexpected");
   * await t.close();
   * ```
   */
  metrics(): WebSocketHostTransportMetrics {
    return {
      ...this.#inner.metrics(),
      sendCalls: this.#sendCalls,
      pairsSent: this.#pairsSent,
      pairsReceived: this.#pairsReceived,
      unreachableReports: this.#unreachableReports,
    };
  }

  /**
   * Closes every connection and stops listening. Idempotent.
   *
   * @returns A promise that settles once the server has stopped.
   *
   * @example Usage
   * ```ts
   * import { WebSocketHostTransport } from "@raft-ts/raft/websocket";
   * const t = new WebSocketHostTransport({ id: 1, clusterId: "c", secret: "0123456789abcdef" });
   * await t.close();
   * if (!t.metrics().closed) throw new Error("unexpected");
   * ```
   */
  close(): Promise<void> {
    return this.#inner.close();
  }
}
