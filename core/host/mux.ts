/**
 * The host's side of its {@linkcode HostTransport}: each group gets a
 * `Transport` that is a view over it; what the groups send in one turn
 * leaves as one batch; what arrives is handed to each message's group, and
 * messages for a group the host does not run are dropped and counted.
 *
 * @module
 */

import type { Logger } from "../logger.ts";
import type { SnapshotStreams, Transport, TransportHandler } from "../node/seams.ts";
import type { Scheduler } from "../node/scheduler.ts";
import { coalesceHeartbeats } from "./coalesce.ts";
import { hostGroupId } from "./host_wire.ts";
import { NextTurn } from "./turn.ts";
import type { Message, NodeId, SnapshotStatus } from "../types.ts";
import type {
  GroupId,
  GroupMessage,
  HostId,
  HostTransport,
  HostTransportHandler,
} from "./seams.ts";

/** Pairs gathered for one send at most; a full outbox is sent at once. */
const outboxPairsMax = 65_536;

/** Counters of a {@linkcode GroupMux}. */
export interface GroupMuxStats {
  /** Calls to the host transport's `send`. */
  sendBatches: number;
  /** Messages handed to the host transport. */
  messagesSent: number;
  /** Messages received for the groups of this host. */
  messagesReceived: number;
  /** Messages received for a group this host does not run (or not addressed to it), dropped. */
  droppedUnknownGroup: number;
  /**
   * Messages whose sender is not the host whose frame carried them,
   * dropped: a peer host speaks only for its own replicas.
   */
  droppedWrongSender: number;
  /** Heartbeats and responses of the groups folded into host-level messages when sent. */
  heartbeatsCoalesced: number;
  /** Heartbeats and responses of the groups expanded from host-level messages received. */
  heartbeatsExpanded: number;
}

/** The host's side of the traffic: liveness, host-level messages, resting groups. */
export interface HostTraffic {
  /** A frame came from a peer host. */
  heard(from: HostId): void;
  /**
   * A host-level message (group 0) came from a peer host.
   *
   * @returns The groups' messages it carried (coalesced heartbeats), to deliver.
   */
  receive(from: HostId, message: Message): readonly GroupMessage[];
  /** A message of a group is about to be stepped. */
  beforeStep(groupId: GroupId, message: Message): void;
}

/** Multiplexes the groups of one host over one {@linkcode HostTransport}. */
export class GroupMux {
  readonly #hostId: HostId;
  readonly #transport: HostTransport;
  readonly #logger: Logger;
  /** The started groups' handlers. */
  readonly #handlers = new Map<GroupId, TransportHandler>();
  /** Messages waiting for the end of the turn; at most `outboxPairsMax`. */
  #outbox: GroupMessage[] = [];
  readonly #nextFlush: NextTurn;
  #closed = false;
  /** Where host-level traffic goes; set once by the host. */
  #traffic: HostTraffic | undefined = undefined;
  readonly #stats: GroupMuxStats = {
    sendBatches: 0,
    messagesSent: 0,
    messagesReceived: 0,
    droppedUnknownGroup: 0,
    droppedWrongSender: 0,
    heartbeatsCoalesced: 0,
    heartbeatsExpanded: 0,
  };
  /** Whether the groups' heartbeats leave folded into host-level messages. */
  #coalesce = false;

  /**
   * Starts the host transport.
   *
   * @param hostId The host.
   * @param transport The host's transport.
   * @param scheduler Where the hop that ends a turn comes from.
   * @param logger Where dropped sends are logged.
   */
  constructor(hostId: HostId, transport: HostTransport, scheduler: Scheduler, logger: Logger) {
    this.#hostId = hostId;
    this.#transport = transport;
    this.#nextFlush = new NextTurn(scheduler, () => this.#flush());
    this.#logger = logger;
    const handler: HostTransportHandler = {
      hostId,
      receive: (from: HostId, batch: readonly GroupMessage[]): void => this.#receive(from, batch),
      reportUnreachable: (groupId: GroupId, to: HostId): void => {
        this.#handlers.get(groupId)?.reportUnreachable(to);
      },
      reportSnapshot: (groupId: GroupId, to: HostId, status: SnapshotStatus): void => {
        this.#handlers.get(groupId)?.reportSnapshot(to, status);
      },
      snapshotStreams: (groupId: GroupId): SnapshotStreams | undefined =>
        this.#handlers.get(groupId)?.snapshotStreams,
    };
    transport.start(handler);
  }

  /**
   * Routes host-level traffic (group 0) and the groups' inbound messages
   * through the host.
   *
   * @param traffic The host's side.
   * @param coalesce Whether the groups' heartbeats and responses leave
   *   folded into one host-level message per peer host and turn.
   */
  setTraffic(traffic: HostTraffic, coalesce: boolean): void {
    this.#traffic = traffic;
    this.#coalesce = coalesce;
  }

  /**
   * Sends a host-level message (group 0) with the groups' messages of this turn.
   *
   * @param message The message; its `to` is the peer host.
   */
  sendHost(message: Message): void {
    this.#push(hostGroupId, [message]);
  }

  /**
   * Steps a message into a group as if it had arrived.
   *
   * @param groupId The group.
   * @param message The message.
   */
  deliver(groupId: GroupId, message: Message): void {
    this.#handlers.get(groupId)?.step(message);
  }

  /** A copy of the counters. */
  get stats(): GroupMuxStats {
    return { ...this.#stats };
  }

  /**
   * The transport of one group: a view over the host's.
   *
   * @param groupId The group.
   * @returns Its transport.
   */
  view(groupId: GroupId): Transport {
    let mine: TransportHandler | undefined;
    return {
      ...(this.#transport.streamsSnapshots === true ? { streamsSnapshots: true } : {}),
      start: (handler: TransportHandler): void => {
        mine = handler;
        this.#handlers.set(groupId, handler);
      },
      send: (messages: readonly Message[]): void => this.#push(groupId, messages),
      close: (): void => {
        if (mine !== undefined && this.#handlers.get(groupId) === mine) {
          this.#handlers.delete(groupId);
        }
        mine = undefined;
      },
    };
  }

  /**
   * Sends what is waiting, then closes the host transport.
   *
   * @returns A Promise that settles once the transport is closed.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    await this.#transport.close();
  }

  #push(groupId: GroupId, messages: readonly Message[]): void {
    if (this.#closed) return;
    for (const message of messages) this.#outbox.push({ groupId, message });
    if (this.#outbox.length >= outboxPairsMax) {
      this.#flush();
      return;
    }
    if (this.#outbox.length > 0) this.#nextFlush.schedule();
  }

  #flush(): void {
    this.#nextFlush.cancel();
    let batch = this.#outbox;
    if (batch.length === 0 || this.#closed) return;
    this.#outbox = [];
    if (this.#coalesce) {
      const c = coalesceHeartbeats(this.#hostId, batch);
      batch = c.batch;
      this.#stats.heartbeatsCoalesced += c.folded;
    }
    this.#stats.sendBatches++;
    this.#stats.messagesSent += batch.length;
    try {
      this.#transport.send(batch);
    } catch (e) {
      // The messages may be lost; Raft retries. Tell each group its peers are unreachable.
      this.#logger.warning(
        `host ${this.#hostId} could not send ${batch.length} messages: ${
          e instanceof Error ? e.message : e
        }`,
      );
      for (const p of batch) this.#handlers.get(p.groupId)?.reportUnreachable(p.message.to);
    }
  }

  #receive(from: NodeId, batch: readonly GroupMessage[]): void {
    if (this.#closed) return;
    const traffic = this.#traffic;
    traffic?.heard(from);
    for (const p of batch) {
      if (p.groupId === hostGroupId && traffic !== undefined && p.message.to === this.#hostId) {
        const expanded = traffic.receive(from, p.message);
        this.#stats.heartbeatsExpanded += expanded.length;
        for (const e of expanded) this.#deliverInbound(from, e, traffic);
        continue;
      }
      this.#deliverInbound(from, p, traffic);
    }
  }

  #deliverInbound(from: NodeId, p: GroupMessage, traffic: HostTraffic | undefined): void {
    if (p.message.from !== from) {
      this.#stats.droppedWrongSender++;
      return;
    }
    const h = this.#handlers.get(p.groupId);
    if (h === undefined || p.message.to !== this.#hostId) {
      this.#stats.droppedUnknownGroup++;
      return;
    }
    this.#stats.messagesReceived++;
    traffic?.beforeStep(p.groupId, p.message);
    h.step(p.message);
  }
}
