/**
 * `RaftNode`: the driver that turns a {@linkcode RawNode} into a replicated
 * state machine. It owns the tick timer and the Ready loop (persist, send,
 * install snapshots, apply, advance), matches applied entries to the
 * promises of the proposals that made them, serves linearizable reads
 * through ReadIndex, changes the membership, takes snapshots and compacts
 * the log.
 *
 * What it needs from the application:
 * - a {@linkcode NodeStorage} (the synchronous `Storage` read side plus one
 *   `save` call per Ready, which may return a Promise), or a `MemoryStorage`;
 * - a {@linkcode Transport} that carries messages between nodes;
 * - a {@linkcode StateMachine} that applies commands and takes snapshots.
 *
 * Time enters only through a {@linkcode Scheduler}; the default uses the
 * global timers, and a simulation can pass a virtual one. The driver is the
 * only part of `core/` that schedules anything.
 *
 * The driver lives in `core/node/`, a file per concern: `raft_node.ts`
 * (the class), `ready_loop.ts`, `apply.ts`, `requests.ts` (the requests
 * waiting for an outcome), `snapshots.ts` (the snapshot policy),
 * `membership.ts` and `envelope.ts`, `inbound.ts` (checks of peer
 * messages), `replicated.ts` (removed members, member addresses and the
 * session table, carried in snapshots), `sessions.ts` and
 * `client_session.ts` (exactly-once commands), `result_codec.ts`,
 * `events.ts`, `options.ts`, `seams.ts` and `scheduler.ts`. This file
 * re-exports its public names.
 *
 * @module
 */

export {
  BusyError,
  LeaderChangedError,
  NodeClosedError,
  NodeError,
  type NodeErrorCode,
  NotLeaderError,
  PausedError,
  SessionError,
  type SessionErrorCode,
  TimeoutError,
} from "./errors.ts";
export { globalScheduler, type Scheduler, type TimerHandle } from "./node/scheduler.ts";
export {
  type Command,
  memoryNodeStorage,
  type NodeStorage,
  type SnapshotChunkStore,
  type SnapshotData,
  type SnapshotDataDescriptor,
  type SnapshotReceiver,
  type SnapshotStaging,
  type SnapshotStreams,
  type StateMachine,
  type StorageUpdate,
  type Transport,
  type TransportHandler,
} from "./node/seams.ts";
export type {
  ConfChangeOptions,
  ProposeOptions,
  RaftNodeOptions,
  RequestOptions,
} from "./node/options.ts";
export { ClientSession } from "./node/client_session.ts";
export { jsonResultCodec, type ResultCodec } from "./node/result_codec.ts";
export { defaultSessionLimits, type SessionLimits } from "./node/sessions.ts";
export type { MembershipIntent } from "./node/envelope.ts";
export type {
  MemberProgress,
  MemberProgressState,
  RaftNodeEventName,
  RaftNodeEvents,
  RaftNodeStatus,
} from "./node/events.ts";
export { RaftNode } from "./node/raft_node.ts";
