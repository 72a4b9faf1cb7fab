/**
 * Test your state machine (and your storage) the way raft-ts tests itself.
 *
 * - {@linkcode simulate} runs your `StateMachine` on a simulated cluster of
 *   the real `RaftNode` driver, on virtual time, with the real codec, disks
 *   that lose unsynced writes in a crash, and seeded faults (loss,
 *   duplication, reordering, partitions, crashes, power loss, slow disks,
 *   clock skew, membership changes, leader transfers, compaction and
 *   snapshot install). After every step it checks Raft's invariants,
 *   replica agreement (every replica's own `snapshot()` gives the same
 *   bytes after the same command, and every command the same result) and
 *   snapshot fidelity (`restore(snapshot())` then `snapshot()` gives the
 *   same bytes); at the end, liveness once the faults heal, and the
 *   clients' history against your model for linearizability. A failure
 *   comes with its seed, step and property, a shrunk event trace and a
 *   one-line replay command.
 *   With `exactlyOnce` (see {@linkcode kvExactlyOnce}), clients also
 *   append unique tokens through client sessions, retrying across
 *   timeouts, leader changes and crashes, and the final state must hold
 *   every acknowledged append once and every other at most once.
 * - {@linkcode checkOperations} is the linearizability checker on its own.
 * - {@linkcode checkNodeStorage} runs the behavioural suite of a durable
 *   `NodeStorage`, crash points between write and sync included.
 *
 * ## Test your state machine
 *
 * Give `simulate` a factory of your state machine, a workload (a seeded
 * generator of client operations: proposals, and reads of the local state
 * machine) and, optionally, a model of its semantics. Here a counter
 * whose `apply` reads the clock, which makes replicas disagree:
 *
 * @example Catch a non-deterministic apply
 * ```ts
 * import type { Command, StateMachine } from "@raft-ts/raft";
 * import { simulate, type Workload } from "@raft-ts/raft/testing";
 *
 * class Counter implements StateMachine<number> {
 *   value = 0;
 *   updatedAt = 0;
 *   apply(commands: readonly Command[]): number[] {
 *     return commands.map((c) => {
 *       this.value += c.data[0]!;
 *       this.updatedAt = Date.now(); // the bug: replicas apply at different times
 *       return this.value;
 *     });
 *   }
 *   snapshot(): Uint8Array {
 *     return new TextEncoder().encode(JSON.stringify([this.value, this.updatedAt]));
 *   }
 *   restore(data: Uint8Array): void {
 *     [this.value, this.updatedAt] = JSON.parse(new TextDecoder().decode(data));
 *   }
 * }
 *
 * type Op = { add: number } | { get: true };
 * const workload = (): Workload<Counter, number, Op, number> => ({
 *   next: (rand) => rand.chance(0.3) ? { get: true } : { add: rand.range(1, 9) },
 *   request: (op) =>
 *     "add" in op
 *       ? { propose: new Uint8Array([op.add]), output: (value) => value }
 *       : { read: (sm) => sm.value },
 * });
 *
 * const report = await simulate({
 *   stateMachine: () => new Counter(),
 *   workload,
 *   seeds: 5,
 *   steps: 3000,
 *   shrinkRunsMax: 4,
 * });
 * if (report.ok) throw new Error("the clock in apply went unnoticed");
 * console.log(report.failure!.replayCommand);
 * // RAFT_SIM_REPLAY=1:…:f…:o… deno test -A
 * ```
 *
 * @module
 */

export type { FailoverStats, WorkloadStats } from "./_clients.ts";
export type { InvariantName } from "./_invariants.ts";
export { type FaultKind, faultKinds, type SimProfile } from "./_sim_profile.ts";
export type {
  NodeContext,
  SimEvent,
  SimKeep,
  SimOptions,
  SimResult,
  SimSetup,
  SimStats,
} from "./_sim_options.ts";
export {
  formatFailure,
  formatSummary,
  parseReplay,
  replayToken,
  runSimulation,
  type SimFailure,
  simulate,
  type SimulateOptions,
  type SimulateReport,
} from "./simulate.ts";
export type { SimRand, Workload, WorkloadRequest, WorkloadShape } from "./workload.ts";
export {
  assertLinearizable,
  checkOperations,
  type CheckOptions,
  type CheckReport,
  type CheckResult,
  type ExplainedOperation,
  type Explanation,
  formatExplanation,
  type FormatOptions,
  LinearizabilityError,
  type Model,
  type Operation,
  type Partition,
  type PartitionReport,
  type StepResult,
  type StuckOperation,
} from "./linearizability.ts";
export {
  type KvInput,
  kvModel,
  type KvOperation,
  type KvOutput,
  type KvState,
  type KvValue,
} from "./kv_model.ts";
export {
  decodeKvCommand,
  encodeKvCommand,
  type KvCommand,
  type KvResult,
  KvStateMachine,
} from "./kv_state_machine.ts";
export { kvSimulation, kvWorkload } from "./kv_workload.ts";
export {
  type ExactlyOnceProfile,
  type ExactlyOnceSetup,
  type ExactlyOnceStats,
  kvExactlyOnce,
  type SessionClient,
} from "./exactly_once.ts";
export {
  checkNodeStorage,
  type CheckNodeStorageOptions,
  NodeStorageCheckError,
  type NodeStorageCheckResult,
  nodeStorageChecks,
  type NodeStorageFactory,
  type NodeStorageInstance,
  type StorageView,
  viewOf,
} from "./storage_check.ts";
