/**
 * An in-process network between `RaftHost`s: each host gets a
 * `HostTransport`; every `send` becomes one frame per destination host,
 * holding all of that host's (group, message) pairs, as one WebSocket
 * frame per peer would.
 *
 * @module
 */

import { decodeMessage, encodeMessage } from "../../core/codec.ts";
import type { GroupMessage, HostId, HostTransport, HostTransportHandler } from "../../core/host.ts";
import { globalScheduler, type Scheduler, type TimerHandle } from "../../core/node.ts";
import { checkNumberOption } from "../../core/node/options.ts";
import { MessageType, SnapshotStatus } from "../../core/types.ts";
import { cloneMessage } from "./network.ts";

/** Options of {@linkcode MemoryHostNetwork}. */
export interface MemoryHostNetworkOptions {
  /**
   * Where delays are scheduled (use the hosts' scheduler).
   * @default {globalScheduler}
   */
  scheduler?: Scheduler;
  /**
   * Delay of every frame, in milliseconds. With the global scheduler, `0`
   * delivers on the next microtask; with another scheduler every frame is
   * a timer.
   * @default {0}
   */
  delayMs?: number;
  /**
   * Round-trip each message through the binary codec instead of
   * deep-copying it, as a real transport would.
   * @default {false}
   */
  codec?: boolean;
}

/** Counters of a {@linkcode MemoryHostNetwork}. */
export interface HostNetworkStats {
  /** Frames sent: one per (send call, destination host). */
  frames: number;
  /** Messages handed to the network. */
  messages: number;
  /** Messages handed to a receiving host. */
  delivered: number;
  /** Messages lost: cut links, unknown or closed hosts. */
  dropped: number;
}

/** One host's end of the network. */
interface Endpoint {
  readonly hostId: HostId;
  handler: HostTransportHandler | undefined;
  closed: boolean;
}

/**
 * Connects `RaftHost`s in one process. Each host gets a `HostTransport`
 * from `connect(hostId)`. Messages are copied (or encoded and decoded).
 * A frame to a host that is not connected, or across a cut link, is lost,
 * and its messages are reported unreachable to their groups (a lost
 * `MsgSnap` as a failed snapshot, a delivered one as finished).
 *
 * @example Two hosts
 * ```ts
 * import { MemoryHostNetwork } from "@raft-ts/raft/memory";
 * import { type GroupMessage, MessageType, newMessage } from "@raft-ts/raft";
 *
 * const net = new MemoryHostNetwork();
 * const got: GroupMessage[] = [];
 * const handler = (hostId: number) => ({
 *   hostId,
 *   receive: (_from: number, batch: readonly GroupMessage[]) => got.push(...batch),
 *   reportUnreachable: () => {},
 *   reportSnapshot: () => {},
 * });
 * const a = net.connect(1);
 * const b = net.connect(2);
 * a.start(handler(1));
 * b.start(handler(2));
 * a.send([7, 8].map((groupId) => ({
 *   groupId,
 *   message: newMessage({ type: MessageType.MsgHeartbeat, from: 1, to: 2, term: 1 }),
 * })));
 * await new Promise((r) => setTimeout(r, 0));
 * if (got.length !== 2 || net.stats.frames !== 1) throw new Error("unexpected");
 * net.close();
 * ```
 */
export class MemoryHostNetwork {
  readonly #scheduler: Scheduler;
  readonly #delayMs: number;
  readonly #codec: boolean;
  readonly #endpoints = new Map<HostId, Endpoint>();
  /** Cut links, as "from>to". */
  readonly #cut = new Set<string>();
  /** Frames in flight. */
  readonly #timers = new Set<TimerHandle>();
  readonly #stats: HostNetworkStats = { frames: 0, messages: 0, delivered: 0, dropped: 0 };

  /**
   * Creates a network with no hosts.
   *
   * @param options The scheduler, delay and copying.
   * @throws {RangeError} `delayMs` is negative or not a number.
   */
  constructor(options: MemoryHostNetworkOptions = {}) {
    this.#scheduler = options.scheduler ?? globalScheduler;
    this.#delayMs = checkNumberOption(
      "configure MemoryHostNetwork",
      "delayMs",
      options.delayMs ?? 0,
      "nonNegative",
    );
    this.#codec = options.codec ?? false;
  }

  /** A copy of the counters. */
  get stats(): HostNetworkStats {
    return { ...this.#stats };
  }

  /**
   * Creates the transport of host `hostId`. A host restarted after its
   * transport was closed connects again with the same ID.
   *
   * @param hostId The host.
   * @returns The host's transport.
   * @throws {Error} When a transport for `hostId` is open already.
   */
  connect(hostId: HostId): HostTransport {
    if (this.#endpoints.has(hostId)) {
      throw new Error(`Cannot connect host ${hostId}: it is connected already`);
    }
    const ep: Endpoint = { hostId, handler: undefined, closed: false };
    this.#endpoints.set(hostId, ep);
    return {
      start: (handler: HostTransportHandler): void => {
        if (handler.hostId !== hostId) {
          throw new Error(
            `Cannot start the transport of host ${hostId} for host ${handler.hostId}`,
          );
        }
        ep.handler = handler;
      },
      send: (batch: readonly GroupMessage[]): void => {
        if (!ep.closed) this.#send(ep, batch);
      },
      close: (): void => {
        ep.closed = true;
        ep.handler = undefined;
        if (this.#endpoints.get(hostId) === ep) this.#endpoints.delete(hostId);
      },
    };
  }

  /**
   * Cuts every link between a host of `a` and a host of `b`, both ways.
   *
   * @param a Some hosts.
   * @param b Other hosts.
   */
  partition(a: readonly HostId[], b: readonly HostId[]): void {
    for (const x of a) {
      for (const y of b) {
        if (x === y) continue;
        this.#cut.add(`${x}>${y}`);
        this.#cut.add(`${y}>${x}`);
      }
    }
  }

  /** Restores every link. */
  heal(): void {
    this.#cut.clear();
  }

  /** Cancels every frame in flight and disconnects every host. */
  close(): void {
    for (const t of this.#timers) this.#scheduler.clearTimeout(t);
    this.#timers.clear();
    this.#endpoints.clear();
  }

  #send(from: Endpoint, batch: readonly GroupMessage[]): void {
    // One frame per destination host, in the order of first appearance.
    const frames = new Map<HostId, GroupMessage[]>();
    for (const p of batch) {
      let f = frames.get(p.message.to);
      if (f === undefined) frames.set(p.message.to, f = []);
      f.push({ groupId: p.groupId, message: this.#copy(p) });
    }
    for (const [to, pairs] of frames) {
      this.#stats.frames++;
      this.#stats.messages += pairs.length;
      if (!this.#endpoints.has(to) || this.#cut.has(`${from.hostId}>${to}`)) {
        this.#lose(from, pairs);
        continue;
      }
      const deliver = (): void => this.#deliver(from, to, pairs);
      if (this.#delayMs === 0 && this.#scheduler === globalScheduler) {
        queueMicrotask(deliver);
        continue;
      }
      const handle = this.#scheduler.setTimeout(() => {
        this.#timers.delete(handle);
        deliver();
      }, this.#delayMs);
      this.#timers.add(handle);
    }
  }

  #copy(p: GroupMessage): GroupMessage["message"] {
    return this.#codec ? decodeMessage(encodeMessage(p.message)) : cloneMessage(p.message);
  }

  #deliver(from: Endpoint, to: HostId, pairs: GroupMessage[]): void {
    const ep = this.#endpoints.get(to);
    if (ep?.handler === undefined || this.#cut.has(`${from.hostId}>${to}`)) {
      this.#lose(from, pairs);
      return;
    }
    this.#stats.delivered += pairs.length;
    ep.handler.receive(from.hostId, pairs);
    const h = from.handler;
    if (h === undefined || from.closed) return;
    for (const p of pairs) {
      if (p.message.type === MessageType.MsgSnap) {
        h.reportSnapshot(p.groupId, to, SnapshotStatus.SnapshotFinish);
      }
    }
  }

  #lose(from: Endpoint, pairs: readonly GroupMessage[]): void {
    this.#stats.dropped += pairs.length;
    queueMicrotask(() => {
      const h = from.handler;
      if (h === undefined || from.closed) return;
      for (const p of pairs) {
        if (p.message.type === MessageType.MsgSnap) {
          h.reportSnapshot(p.groupId, p.message.to, SnapshotStatus.SnapshotFailure);
        } else {
          h.reportUnreachable(p.groupId, p.message.to);
        }
      }
    });
  }
}
