// W2 / W2p (bench/workloads.ts `clusterLoop`, raftanchor -mode cluster3)
// driven on @coaty/consensus.raft, so that the TypeScript anchor is
// measured on exactly our workloads (its own bench.js pumps until quiet
// after every batch). bench/compare.ts copies this file next to an npm
// install of the package and runs it with Node:
//
//   node coaty_cluster.cjs --n 20000 --batch 1 --window 1 [--propmsg] [--runs 5] [--warmup 1]
//
// Prints one JSON object per measured run: { workload, per_sec, entries,
// seconds, readies, msgs }. Same loop as ours, step for step: bootstrap from
// a snapshot at index 1 holding the voters; electionTick 10, heartbeatTick
// 1, maxSizePerMsg 1 MiB, maxInflightMsgs 256; node 1 campaigns; per
// iteration the leader proposes up to `batch` entries (one `propose` each,
// or with --propmsg one MsgProp holding them all) keeping at most `window`
// uncommitted, then every node with a Ready handles it (MemoryStorage
// append + HardState, apply, advance), then every queued message is
// stepped; MemoryStorage compacted to applied - keep once applied passes
// the last compaction + 2 keep (keep = max(10000, 4 window)). Payloads are a
// fresh 128-character string per entry (coaty's entries carry strings, as
// its bench.js proposes).
"use strict";

process.env.DEBUG = "";
const P = "@coaty/consensus.raft/ported/";
const { RawNode } = require(P + "rawnode");
const { RaftConfig } = require(P + "raft");
const { MemoryStorage } = require(P + "storage");
const pb = require(P + "raftpb/raft.pb");

function parseArgs(argv) {
  const o = { n: 20000, batch: 1, window: 1, propmsg: false, runs: 5, warmup: 1, size: 128 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i].replace(/^--?/, "");
    if (a === "propmsg") o.propmsg = true;
    else if (a in o) o[a] = Number(argv[++i]);
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  return o;
}

function newNode(id, ids) {
  const storage = new MemoryStorage();
  storage.ApplySnapshot(
    new pb.Snapshot({
      metadata: new pb.SnapshotMetadata({
        index: 1,
        term: 1,
        confState: new pb.ConfState({ voters: ids }),
      }),
    }),
  );
  const rn = RawNode.NewRawNode(
    new RaftConfig({
      id,
      electionTick: 10,
      heartbeatTick: 1,
      storage,
      maxSizePerMsg: 1 << 20,
      maxInflightMsgs: 256,
    }),
  );
  return { id, rn, storage, applied: 1, lastCompacted: 1 };
}

function runOnce(o) {
  const ids = ["1", "2", "3"];
  const nodes = new Map(ids.map((id) => [id, newNode(id, ids)]));
  const leader = nodes.get("1");
  let outbox = [];
  let readies = 0;
  let msgs = 0;
  const keep = Math.max(10000, 4 * o.window);

  // One round: every node's Ready, then every queued message. Returns the
  // number of our entries the leader saw committed, and whether anything happened.
  const round = () => {
    let committedLeader = 0;
    let progressed = false;
    for (const n of nodes.values()) {
      if (!n.rn.hasReady()) continue;
      progressed = true;
      const rd = n.rn.ready();
      readies++;
      if (
        rd.hardState && !(rd.hardState.term === 0 && rd.hardState.vote === "" &&
          rd.hardState.commit === 0)
      ) {
        n.storage.SetHardState(rd.hardState);
      }
      if (rd.entries.length > 0) n.storage.Append(rd.entries);
      for (const m of rd.messages) outbox.push(m);
      const ce = rd.committedEntries;
      if (ce.length > 0) {
        if (n === leader) {
          for (const e of ce) if (e.type === 0 && e.data) committedLeader++;
        }
        n.applied = ce[ce.length - 1].index;
      }
      n.rn.advance(rd);
      if (n.applied > n.lastCompacted + 2 * keep) {
        n.storage.Compact(n.applied - keep);
        n.lastCompacted = n.applied - keep;
      }
    }
    const next = outbox;
    outbox = [];
    for (const m of next) {
      msgs++;
      progressed = true;
      nodes.get(m.to).rn.step(m);
    }
    return [committedLeader, progressed];
  };

  leader.rn.campaign();
  for (let i = 0; i < 100 && round()[1];) i++;
  if (leader.rn.raft.state !== 2) throw new Error("coaty: node 1 did not become leader");
  readies = 0;
  msgs = 0;

  const pad = "x".repeat(o.size);
  const payload = (seq) => (String(seq) + pad).slice(0, o.size);
  let seq = 0;
  let committed = 0;
  let idle = 0;
  const t0 = process.hrtime.bigint();
  for (let iter = 0; committed < o.n; iter++) {
    if (iter > 8 * o.n + 10000) throw new Error(`coaty: no progress (committed ${committed})`);
    if (seq < o.n) {
      const k = Math.min(o.window - (seq - committed), o.batch, o.n - seq);
      if (k > 0) {
        if (o.propmsg) {
          const entries = [];
          for (let j = 0; j < k; j++) entries.push({ data: payload(seq + j) });
          const err = leader.rn.step(
            new pb.Message({ type: pb.MessageType.MsgProp, from: "1", entries }),
          );
          if (err) throw new Error(`coaty: proposal refused: ${err.message ?? err}`);
        } else {
          for (let j = 0; j < k; j++) {
            const err = leader.rn.propose(payload(seq + j));
            if (err) throw new Error(`coaty: proposal refused: ${err.message ?? err}`);
          }
        }
        seq += k;
      }
    }
    const [c, progressed] = round();
    committed += c;
    if (!progressed && ++idle > 1000) throw new Error(`coaty: stalled at ${committed}`);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { entries: committed, seconds, readies, msgs };
}

const o = parseArgs(process.argv.slice(2));
const workload = o.propmsg ? "W2p" : "W2";
for (let r = 0; r < o.warmup + o.runs; r++) {
  const res = runOnce(o);
  if (r < o.warmup) continue;
  console.log(JSON.stringify({
    workload,
    runtime: "node",
    anchor: "coaty",
    batch: o.batch,
    window: o.window,
    per_sec: res.entries / res.seconds,
    ...res,
  }));
}
