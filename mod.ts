/**
 * raft-ts: the Raft consensus algorithm for TypeScript, a port of etcd
 * raft's design, pure and deterministic at its core.
 *
 * `RawNode` is the synchronous engine. Drive it with a loop: `tick()` on a
 * clock, `step()` for each message received, `propose()` for work; when
 * `hasReady()`, take `ready()`, persist its entries and HardState, send its
 * messages, apply its committed entries, then call `advance()`.
 *
 * @example The Ready loop of a single-node cluster
 * ```ts
 * import { MemoryStorage, newConfState, newSnapshot, RawNode } from "@raft-ts/raft";
 *
 * const storage = new MemoryStorage();
 * storage.applySnapshot(
 *   newSnapshot({ index: 1, term: 1, confState: newConfState({ voters: [1] }) }),
 * );
 * const node = new RawNode({ id: 1, electionTick: 10, heartbeatTick: 1, storage, applied: 1 });
 *
 * node.campaign();
 * const applied: string[] = [];
 * for (let round = 0; round < 10 && node.hasReady(); round++) {
 *   const rd = node.ready();
 *   if (rd.hardState.term !== 0) storage.setHardState(rd.hardState);
 *   storage.append(rd.entries);
 *   // A multi-node cluster sends rd.messages to its peers here.
 *   for (const e of rd.committedEntries) applied.push(new TextDecoder().decode(e.data));
 *   node.advance(rd);
 *   if (round === 2) node.propose(new TextEncoder().encode("hello"));
 * }
 * ```
 *
 * @module
 */

export * from "./core/types.ts";
export * from "./core/errors.ts";
export { RaftInvariantError } from "./core/_assert.ts";
export type { Logger } from "./core/logger.ts";
export { discardLogger, prefixedLogger } from "./core/logger.ts";
export { consoleLogger } from "./adapters/console/logger.ts";
export type { ConsoleLoggerOptions, LogLevel } from "./adapters/console/logger.ts";
export type { Storage } from "./core/storage.ts";
export { MemoryStorage } from "./core/storage.ts";
export { mustSync, type Peer, ProgressType, RawNode } from "./core/raw_node.ts";
export type { Config } from "./core/raft.ts";
export { validateConfig } from "./core/raft.ts";
export type { ValidatedConfig } from "./core/raft.ts";
export { Progress, ProgressMap } from "./core/tracker/progress.ts";
export { ProgressState } from "./core/tracker/state.ts";
export { Inflights } from "./core/tracker/inflights.ts";
export { TrackerConfig } from "./core/tracker/tracker.ts";
export { JointConfig } from "./core/quorum/joint.ts";
export { MajorityConfig } from "./core/quorum/majority.ts";
export type { AckedIndexer } from "./core/quorum/quorum.ts";
export { MapAckIndexer, VoteResult } from "./core/quorum/quorum.ts";
export type { BasicStatus, Status } from "./core/status.ts";
export { statusToJSON } from "./core/status.ts";
export * from "./core/codec.ts";
export * from "./core/describe.ts";
export { newRand } from "./core/rand.ts";
export * from "./core/node.ts";
export * from "./core/host.ts";
