/**
 * A {@linkcode Transport} wrapper that watches the traffic of a node: it
 * counts messages by type and direction and remembers when each peer was
 * last heard from. It can also cut the node off from its peers, both
 * directions, which the cluster page uses to demonstrate partitions.
 *
 * Replication progress (each member's match and next index) is not the
 * monitor's business: it comes from `RaftNode.status().progress`.
 *
 * @module
 */

import type { Transport, TransportHandler } from "../../core/node.ts";
import {
  type Message,
  messageTypeNames,
  type NodeId,
  type SnapshotStatus,
} from "../../core/types.ts";

/** What the monitor knows about one peer. */
export interface PeerActivity {
  /** The peer's ID. */
  id: NodeId;
  /** Messages sent to the peer. */
  messagesSent: number;
  /** Messages received from the peer. */
  messagesReceived: number;
  /** When a message from the peer last arrived (`now()` units), or `undefined`. */
  lastReceivedAt: number | undefined;
  /**
   * When the transport last reported the peer unreachable (a lost
   * connection, a failed dial, a dropped message; `now()` units), or `undefined`.
   */
  unreachableAt: number | undefined;
}

/** The monitor's counters. */
export interface TransportMonitorStats {
  /** Messages handed to the transport. */
  messagesSent: number;
  /** Messages delivered to the node. */
  messagesReceived: number;
  /** Messages dropped by the monitor while the node is isolated (both directions). */
  messagesDropped: number;
  /** Messages sent, by type name (`"MsgApp"`). */
  sentByType: Record<string, number>;
  /** Messages received, by type name. */
  receivedByType: Record<string, number>;
}

/** Options of {@linkcode TransportMonitor}. */
export interface TransportMonitorOptions {
  /**
   * The clock for `lastReceivedAt`, in milliseconds.
   * @default {Date.now}
   */
  now?: () => number;
}

function typeName(t: number): string {
  return messageTypeNames[t] ?? `Msg${t}`;
}

/**
 * Watches (and can cut) the traffic between a node and its peers. Wrap the
 * transport before starting the node, then hand the monitor to
 * `createRaftApp` for "last heard from" ages, transport metrics and the
 * demo partition button.
 *
 * @example Wrapping a transport
 * ```ts
 * import { TransportMonitor } from "@raft-ts/raft/hono";
 * import { MemoryNetwork } from "../memory/mod.ts";
 * import { RaftNode, type StateMachine } from "@raft-ts/raft";
 * import { MemoryStorage } from "@raft-ts/raft";
 *
 * const sm: StateMachine<void> = { apply: (c) => c.map(() => undefined), snapshot: () => new Uint8Array(), restore: () => {} };
 * const net = new MemoryNetwork();
 * const monitors = [1, 2].map(() => new TransportMonitor());
 * const nodes = await Promise.all([1, 2].map((id, i) =>
 *   RaftNode.start({
 *     id,
 *     peers: [1, 2],
 *     storage: new MemoryStorage(),
 *     transport: monitors[i]!.wrap(net.connect(id)),
 *     stateMachine: sm,
 *     tickMs: 5,
 *   })
 * ));
 * const leader = await nodes[0]!.waitForLeader();
 * await nodes[leader - 1]!.propose(new Uint8Array([1]));
 * const follower = leader === 1 ? 2 : 1;
 * const seen = monitors[leader - 1]!.peer(follower);
 * if (seen === undefined || seen.messagesReceived < 1 || seen.lastReceivedAt === undefined) {
 *   throw new Error("no reply seen");
 * }
 * await Promise.all(nodes.map((n) => n.close()));
 * net.close();
 * ```
 */
export class TransportMonitor {
  readonly #now: () => number;
  readonly #peers = new Map<NodeId, PeerActivity>();
  readonly #sentByType = new Map<string, number>();
  readonly #receivedByType = new Map<string, number>();
  #sent = 0;
  #received = 0;
  #dropped = 0;
  #isolated = false;
  #wrapped = false;

  /**
   * Creates a monitor.
   *
   * @param options The clock.
   */
  constructor(options: TransportMonitorOptions = {}) {
    this.#now = options.now ?? Date.now;
  }

  /**
   * The monitor's clock: the time `lastReceivedAt` is measured on.
   *
   * @returns The time, in milliseconds.
   *
   * @example Usage
   * ```ts
   * import { TransportMonitor } from "@raft-ts/raft/hono";
   * if (new TransportMonitor({ now: () => 42 }).now() !== 42) throw new Error("unexpected");
   * ```
   */
  now(): number {
    return this.#now();
  }

  /**
   * Whether the node is cut off from its peers: while set, messages in both
   * directions are dropped (and counted in `messagesDropped`).
   */
  get isolated(): boolean {
    return this.#isolated;
  }

  set isolated(v: boolean) {
    this.#isolated = v;
  }

  /**
   * Wraps a transport. A monitor watches one transport.
   *
   * @param inner The transport that carries the messages.
   * @returns A transport to hand to `RaftNode.start`.
   * @throws {TypeError} When the monitor already wraps a transport.
   */
  wrap(inner: Transport): Transport {
    if (this.#wrapped) {
      throw new TypeError("Cannot wrap the transport: this monitor already wraps one");
    }
    this.#wrapped = true;
    const start = (handler: TransportHandler): void => {
      inner.start({
        id: handler.id,
        step: (m: Message): void => {
          if (this.#isolated) {
            this.#dropped++;
            return;
          }
          this.#onReceive(m);
          handler.step(m);
        },
        reportUnreachable: (id: NodeId): void => {
          this.#activity(id).unreachableAt = this.#now();
          handler.reportUnreachable(id);
        },
        reportSnapshot: (id: NodeId, status: SnapshotStatus): void =>
          handler.reportSnapshot(id, status),
        // Snapshot data in chunks goes past the monitor, which counts messages only.
        ...(handler.snapshotStreams !== undefined
          ? { snapshotStreams: handler.snapshotStreams }
          : {}),
      });
    };
    const send = (messages: readonly Message[]): void => {
      if (this.#isolated) {
        this.#dropped += messages.length;
        return;
      }
      for (const m of messages) this.#onSend(m);
      inner.send(messages);
    };
    return {
      // A transport that streams snapshots still does through the monitor.
      streamsSnapshots: inner.streamsSnapshots === true,
      start,
      send,
      addPeer(id: NodeId, context: Uint8Array): void {
        inner.addPeer?.(id, context);
      },
      removePeer: (id: NodeId): void => {
        this.#peers.delete(id);
        inner.removePeer?.(id);
      },
      checkPeer(id: NodeId, context: Uint8Array): string | undefined {
        return inner.checkPeer?.(id, context);
      },
      close(): void | Promise<void> {
        return inner.close();
      },
    };
  }

  /**
   * What is known about one peer.
   *
   * @param id The peer.
   * @returns A copy, or `undefined` when nothing was exchanged with it.
   */
  peer(id: NodeId): PeerActivity | undefined {
    const p = this.#peers.get(id);
    return p === undefined ? undefined : { ...p };
  }

  /**
   * Whether a peer may be reached: `false` when the transport reported it
   * unreachable (its connection lost, for example) later than the last
   * message heard from it.
   *
   * @param id The peer.
   * @returns Whether nothing says the peer is unreachable.
   *
   * @example A peer never reported unreachable
   * ```ts
   * import { TransportMonitor } from "@raft-ts/raft/hono";
   * if (!new TransportMonitor().reachable(2)) throw new Error("unexpected");
   * ```
   */
  reachable(id: NodeId): boolean {
    const p = this.#peers.get(id);
    if (p?.unreachableAt === undefined) return true;
    return p.lastReceivedAt !== undefined && p.lastReceivedAt >= p.unreachableAt;
  }

  /**
   * What is known about every peer.
   *
   * @returns Copies, by ascending ID.
   */
  peers(): PeerActivity[] {
    return [...this.#peers.values()].sort((a, b) => a.id - b.id).map((p) => ({ ...p }));
  }

  /**
   * The counters.
   *
   * @returns A fresh object.
   */
  stats(): TransportMonitorStats {
    return {
      messagesSent: this.#sent,
      messagesReceived: this.#received,
      messagesDropped: this.#dropped,
      sentByType: Object.fromEntries(this.#sentByType),
      receivedByType: Object.fromEntries(this.#receivedByType),
    };
  }

  #activity(id: NodeId): PeerActivity {
    let p = this.#peers.get(id);
    if (p === undefined) {
      p = {
        id,
        messagesSent: 0,
        messagesReceived: 0,
        lastReceivedAt: undefined,
        unreachableAt: undefined,
      };
      this.#peers.set(id, p);
    }
    return p;
  }

  #onSend(m: Message): void {
    this.#sent++;
    const name = typeName(m.type);
    this.#sentByType.set(name, (this.#sentByType.get(name) ?? 0) + 1);
    this.#activity(m.to).messagesSent++;
  }

  #onReceive(m: Message): void {
    this.#received++;
    const name = typeName(m.type);
    this.#receivedByType.set(name, (this.#receivedByType.get(name) ?? 0) + 1);
    const p = this.#activity(m.from);
    p.messagesReceived++;
    p.lastReceivedAt = this.#now();
  }
}
