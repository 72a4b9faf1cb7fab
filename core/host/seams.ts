/**
 * The seams of a host: what the application hands `RaftHost` besides a
 * scheduler. A {@linkcode HostTransport} carries the messages of every
 * group between hosts, as batches of (group, message) pairs; a
 * {@linkcode HostStorage} holds every group's log and writes the saves of
 * many groups as one batch.
 *
 * A group's members are hosts: the replica of a group on host `h` has Raft
 * ID `h`, so a message's `to` names the host it goes to.
 *
 * @module
 */

import type { NodeStorage, SnapshotStreams, StorageUpdate } from "../node/seams.ts";
import type { Message, NodeId, SnapshotStatus } from "../types.ts";

/** A Raft group's ID within a host; a positive safe integer. */
export type GroupId = number;

/** A host's ID; also the Raft ID of each of its replicas. A positive safe integer. */
export type HostId = NodeId;

/** One message of one group, as a host transport carries it. */
export interface GroupMessage {
  /** The group the message belongs to. */
  readonly groupId: GroupId;
  /** The message; its `to` is the destination host. */
  readonly message: Message;
}

/** What a host transport hands inbound traffic and delivery outcomes to. */
export interface HostTransportHandler {
  /** The local host's ID. */
  readonly hostId: HostId;
  /**
   * Takes a batch of messages received from a peer host (one frame's
   * worth). Messages for groups the host does not run are dropped and
   * counted. Never throws.
   *
   * @param from The sending host.
   * @param batch The messages, owned by the host from now on.
   */
  receive(from: HostId, batch: readonly GroupMessage[]): void;
  /**
   * Reports that a message of a group could not be delivered to a peer.
   *
   * @param groupId The group.
   * @param to The peer host.
   */
  reportUnreachable(groupId: GroupId, to: HostId): void;
  /**
   * Reports the outcome of sending a group's snapshot (a `MsgSnap`).
   *
   * @param groupId The group.
   * @param to The peer host.
   * @param status `SnapshotFinish` or `SnapshotFailure`.
   */
  reportSnapshot(groupId: GroupId, to: HostId, status: SnapshotStatus): void;
  /**
   * A group's snapshot data in chunks, for a transport that streams it
   * (its `streamsSnapshots` is true): what `TransportHandler.snapshotStreams`
   * is for one node. `undefined` when the group does not run here or keeps
   * its snapshots as one array (then its `MsgSnap` carries the data).
   *
   * @param groupId The group.
   * @returns The group's streams, if any.
   */
  snapshotStreams?(groupId: GroupId): SnapshotStreams | undefined;
}

/**
 * Carries the messages of every group of a host to its peer hosts: one
 * transport (one connection per peer host) for all groups. Each call to
 * `send` hands over the messages of many groups; a transport sends the
 * pairs for one peer host together (one frame on a connection).
 * Delivery is best effort, as for `Transport`.
 */
export interface HostTransport {
  /**
   * Whether the transport carries snapshot data held in storage in chunks
   * (through `handler.snapshotStreams(groupId)`), as
   * `Transport.streamsSnapshots` says for one node.
   */
  readonly streamsSnapshots?: boolean;
  /**
   * Starts delivering inbound batches to the host. Called once, first.
   *
   * @param handler Where to deliver batches and reports.
   */
  start(handler: HostTransportHandler): void;
  /**
   * Sends messages of many groups, each to the host its `message.to`
   * names; must not block. The messages must not be modified.
   *
   * @param batch The messages.
   */
  send(batch: readonly GroupMessage[]): void;
  /** Stops delivering and sending; may return a Promise. */
  close(): void | Promise<void>;
}

/** One group's save within a host-wide batch. */
export interface GroupSave {
  /** The group. */
  readonly groupId: GroupId;
  /** What the group's Ready writes. */
  readonly update: StorageUpdate;
}

/**
 * The durable storage of every group of a host. Reads, snapshots and
 * compaction go to each group's own {@linkcode NodeStorage}; the Ready
 * writes of all groups go through `writeBatch`, many groups at once: one
 * transaction and one sync per batch.
 */
export interface HostStorage {
  /**
   * The groups that have state in this storage, for a host to reopen
   * after a restart.
   *
   * @returns Their IDs, ascending.
   */
  groupIds(): GroupId[];
  /**
   * Opens (creating when new) the storage of one group. The host calls
   * its read side, `createSnapshot` and `compact`; its `save` is never
   * called: writes arrive through `writeBatch`.
   *
   * @param groupId The group.
   * @returns The group's storage.
   */
  openGroup(groupId: GroupId): NodeStorage;
  /**
   * Writes the saves of many groups durably (each group's save as
   * `NodeStorage.save` would: snapshot, entries, HardState), at most one
   * save per group, atomically if it can; returns (or settles) once all of
   * them are durable. A rejection fails every group in the batch.
   *
   * @param batch The saves.
   * @returns Nothing, or a Promise that settles once the batch is durable.
   */
  writeBatch(batch: readonly GroupSave[]): void | Promise<void>;
  /**
   * Deletes a group's state (after the host removed the group).
   *
   * @param groupId The group.
   * @returns Nothing, or a Promise.
   */
  deleteGroup(groupId: GroupId): void | Promise<void>;
}
