/**
 * `RaftHost`: many Raft groups hosted together. Each group is a `RaftNode`
 * with its own state machine; the host ticks them all from one timer,
 * multiplexes their messages over one {@linkcode HostTransport} (batches of
 * (group, message) pairs) and writes the saves they issue in one turn as
 * one batch to a {@linkcode HostStorage} (one transaction and one sync).
 * {@linkcode MemoryHostStorage} keeps every group in memory, for tests.
 *
 * The host lives in `core/host/`: `raft_host.ts` (the class), `seams.ts`
 * (the host transport and host storage seams), `mux.ts` (each group's
 * transport as a view over the host's), `save_batcher.ts` (the storage
 * batches), `turn.ts` (the groups' shared hop to pending I/O),
 * `quiesce.ts` (idle groups at rest, the peer hosts' liveness),
 * `host_wire.ts` (host-level messages, group 0), `coalesce.ts` (the groups'
 * heartbeats folded into them) and `memory_host_storage.ts`. This file re-exports its public
 * names. docs/multi-raft.md says what exists and what is still to come.
 *
 * @module
 */

export {
  type GroupOptions,
  RaftHost,
  type RaftHostOptions,
  type RaftHostStatus,
} from "./host/raft_host.ts";
export type {
  GroupId,
  GroupMessage,
  GroupSave,
  HostId,
  HostStorage,
  HostTransport,
  HostTransportHandler,
} from "./host/seams.ts";
export type { GroupMuxStats } from "./host/mux.ts";
export type { QuiescenceStats } from "./host/quiesce.ts";
export type { SaveBatchStats } from "./host/save_batcher.ts";
export { MemoryHostStorage, type MemoryHostStorageStats } from "./host/memory_host_storage.ts";
