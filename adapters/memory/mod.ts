/**
 * In-memory adapters for `RaftNode`: a network that connects nodes in one
 * process (with loss, delay, duplication and partitions under the test's
 * control) and a virtual-time scheduler, for tests, simulations and demos.
 * {@linkcode MemoryHostNetwork} connects `RaftHost`s the same way, one
 * frame per destination host for the messages of many groups.
 *
 * @example A three-node cluster on virtual time
 * ```ts
 * import { MemoryNetwork, VirtualScheduler } from "@raft-ts/raft/memory";
 * import { RaftNode, type StateMachine, MemoryStorage } from "@raft-ts/raft";
 *
 * const clock = new VirtualScheduler();
 * const net = new MemoryNetwork({ scheduler: clock, seed: 7, delayMs: 1, jitterMs: 2 });
 * const logs = new Map<number, string[]>();
 * const nodes = await Promise.all([1, 2, 3].map((id) => {
 *   const log: string[] = [];
 *   logs.set(id, log);
 *   const sm: StateMachine<number> = {
 *     apply: (cmds) => cmds.map((c) => log.push(new TextDecoder().decode(c.data))),
 *     snapshot: () => new TextEncoder().encode(JSON.stringify(log)),
 *     restore: (data) => {
 *       log.splice(0, log.length, ...JSON.parse(new TextDecoder().decode(data)));
 *     },
 *   };
 *   return RaftNode.start({
 *     id,
 *     peers: [1, 2, 3],
 *     storage: new MemoryStorage(),
 *     transport: net.connect(id),
 *     stateMachine: sm,
 *     scheduler: clock,
 *     tickMs: 10,
 *   });
 * }));
 * const leaderId = await clock.run(nodes[0]!.waitForLeader());
 * const leader = nodes.find((n) => n.id === leaderId)!;
 * await clock.run(leader.propose(new TextEncoder().encode("hello")));
 * await clock.until(() => [...logs.values()].every((l) => l[0] === "hello"));
 * await Promise.all(nodes.map((n) => n.close()));
 * net.close();
 * ```
 *
 * @module
 */

export {
  cloneMessage,
  MemoryNetwork,
  type MemoryNetworkOptions,
  type MessageFilter,
  type NetworkStats,
  VirtualScheduler,
} from "./network.ts";
export {
  type HostNetworkStats,
  MemoryHostNetwork,
  type MemoryHostNetworkOptions,
} from "./host_network.ts";
