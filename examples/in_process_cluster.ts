/**
 * A three-node Raft cluster in one process, driven by hand with RawNode:
 * it elects a leader, replicates a few commands, isolates the leader,
 * elects a new one, and shows that every committed command survived.
 *
 * Run: `deno run examples/in_process_cluster.ts` (or `bun examples/in_process_cluster.ts`).
 *
 * @module
 */

import {
  type Entry,
  EntryType,
  MemoryStorage,
  type Message,
  newConfState,
  newSnapshot,
  RawNode,
  StateType,
  stateTypeNames,
} from "../mod.ts";

interface Peer {
  id: number;
  node: RawNode;
  storage: MemoryStorage;
  applied: string[];
}

const ids = [1, 2, 3];
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function startPeer(id: number): Peer {
  const storage = new MemoryStorage();
  storage.applySnapshot(
    newSnapshot({ index: 1, term: 1, confState: newConfState({ voters: ids }) }),
  );
  const node = new RawNode({
    id,
    storage,
    electionTick: 10,
    heartbeatTick: 1,
    applied: 1,
    maxSizePerMsg: 1024 * 1024,
    maxInflightMsgs: 256,
    preVote: true,
    checkQuorum: true,
  });
  return { id, node, storage, applied: [] };
}

const peers = ids.map(startPeer);
const byId = new Map(peers.map((p) => [p.id, p]));
/** Nodes whose traffic is cut off from everyone else. */
const isolated = new Set<number>();
let inFlight: Message[] = [];

function apply(p: Peer, entries: Entry[]): void {
  for (const e of entries) {
    if (e.type === EntryType.EntryNormal && e.data.length > 0) {
      p.applied.push(decoder.decode(e.data));
    }
  }
}

/** Runs every Ready and delivers every message until the cluster is quiet. */
function settle(): void {
  for (let round = 0; round < 1000; round++) {
    let busy = false;
    for (const p of peers) {
      if (!p.node.hasReady()) continue;
      busy = true;
      const rd = p.node.ready();
      // Persist first: entries and HardState must be durable before the
      // messages that depend on them are sent.
      if (rd.hardState.term !== 0) p.storage.setHardState(rd.hardState);
      p.storage.append(rd.entries);
      inFlight.push(...rd.messages);
      apply(p, rd.committedEntries);
      p.node.advance(rd);
    }
    const batch = inFlight;
    inFlight = [];
    for (const m of batch) {
      if (isolated.has(m.from) || isolated.has(m.to)) continue;
      byId.get(m.to)?.node.step(m);
      busy = true;
    }
    if (!busy) return;
  }
  throw new Error("cluster did not settle");
}

function tick(n: number): void {
  for (let i = 0; i < n; i++) {
    for (const p of peers) p.node.tick();
    settle();
  }
}

function leader(among: Peer[] = peers): Peer | undefined {
  return among.find((p) => p.node.basicStatus().raftState === StateType.StateLeader);
}

function show(title: string): void {
  console.log(`\n${title}`);
  for (const p of peers) {
    const st = p.node.basicStatus();
    const role = stateTypeNames[st.raftState]!.replace("State", "").toLowerCase();
    const note = isolated.has(p.id) ? " (isolated)" : "";
    console.log(
      `  node ${p.id}: ${role.padEnd(9)} term ${st.term}  commit ${st.commit}  ` +
        `applied [${p.applied.join(", ")}]${note}`,
    );
  }
}

// 1. Election: node 1 campaigns, the others vote for it.
peers[0]!.node.campaign();
settle();
const first = leader();
if (first === undefined) throw new Error("no leader elected");
show(`node ${first.id} was elected leader`);

// 2. Replication: the leader proposes three commands.
for (const cmd of ["x=1", "y=2", "z=3"]) first.node.propose(encoder.encode(cmd));
settle();
show("three commands committed and applied everywhere");

// 3. Failure: the leader is cut off; the others elect a new leader.
isolated.add(first.id);
const rest = peers.filter((p) => p !== first);
for (let i = 0; i < 50 && leader(rest) === undefined; i++) tick(1);
const second = leader(rest);
if (second === undefined) throw new Error("no new leader elected");
second.node.propose(encoder.encode("w=4"));
settle();
show(`node ${first.id} isolated; node ${second.id} took over and committed w=4`);

// 4. Recovery: the old leader rejoins, steps down and catches up.
isolated.delete(first.id);
tick(5);
show(`node ${first.id} rejoined and caught up`);

const expected = ["x=1", "y=2", "z=3", "w=4"].join(",");
const ok = peers.every((p) => p.applied.join(",") === expected);
console.log(`\n${ok ? "OK" : "MISMATCH"}: every node applied ${expected}`);
if (!ok) throw new Error("nodes disagree");
