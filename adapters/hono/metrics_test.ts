import { test } from "node:test";
import assert from "node:assert/strict";
import { RaftMetrics } from "./metrics.ts";
import type { RaftNodeStatus } from "../../core/node.ts";

const status: RaftNodeStatus = {
  id: 3,
  leaderId: 1,
  leaderContactAgeMs: 0,
  electionTimeoutMs: 1000,
  raftState: 0,
  term: 7,
  vote: 1,
  commit: 10,
  applied: 9,
  snapshotIndex: 0,
  confState: {
    voters: [1, 2, 3],
    learners: [4],
    votersOutgoing: [],
    learnersNext: [],
    autoLeave: false,
  },
  pendingProposals: 0,
  pendingReads: 0,
  closed: false,
  lastIndex: 11,
  progress: [],
};

test("RaftMetrics histogram buckets are cumulative and outcomes come from error codes", async () => {
  let t = 0;
  const m = new RaftMetrics({ buckets: [0.01, 0.1, 1], now: () => t });
  const timed = (ms: number, outcome: Promise<unknown>) => {
    const p = m.observeProposal(outcome);
    t += ms;
    return p.catch(() => {});
  };
  await timed(5, Promise.resolve(1));
  await timed(50, Promise.reject(Object.assign(new Error("x"), { code: "proposal_dropped" })));
  await timed(5000, Promise.reject(new Error("plain")));
  const text = m.render({ status });
  assert.match(text, /^raft_proposal_duration_seconds_bucket\{le="0.01"\} 1$/m);
  assert.match(text, /^raft_proposal_duration_seconds_bucket\{le="0.1"\} 2$/m);
  assert.match(text, /^raft_proposal_duration_seconds_bucket\{le="1"\} 2$/m);
  assert.match(text, /^raft_proposal_duration_seconds_bucket\{le="\+Inf"\} 3$/m);
  assert.match(text, /^raft_proposal_duration_seconds_sum 5.055$/m);
  assert.match(text, /^raft_proposals_total\{result="dropped"\} 1$/m);
  assert.match(text, /^raft_proposals_total\{result="error"\} 1$/m);
  assert.match(text, /^raft_members\{role="learner"\} 1$/m);
  assert.match(text, /^raft_role\{role="follower"\} 1$/m);
  assert.equal(text.match(/^# TYPE raft_proposal_duration_seconds histogram$/gm)?.length, 1);
  assert.throws(() => new RaftMetrics({ buckets: [1, 0.5] }), RangeError);
});

test("RaftMetrics counts elections from term increases and renders transport counters", () => {
  const m = new RaftMetrics();
  let fire: ((e: { leaderId: number; term: number }) => void) | undefined;
  m.watch({ on: (_e, fn) => ((fire = fn), () => {}), status: () => ({ term: 2 }) });
  fire!({ leaderId: 0, term: 3 });
  fire!({ leaderId: 2, term: 3 });
  m.countRequest("GET", "/kv/:key", 200);
  m.countRequest("GET", "/kv/:key", 200);
  const text = m.render({
    status,
    transport: {
      messagesSent: 5,
      bytesSent: 100,
      peers: [{ id: 2, messagesSent: 5, reconnects: 1 }, { id: 3 }],
    },
  });
  // Terms 2 -> 3 -> 7 (status at render).
  assert.match(text, /^raft_elections_total 5$/m);
  assert.match(text, /^raft_leader_changes_total 1$/m);
  assert.match(text, /^raft_transport_sent_messages_total 5$/m);
  assert.match(text, /^raft_transport_peer_reconnects_total\{peer="2"\} 1$/m);
  assert.doesNotMatch(text, /peer="3"/);
  assert.match(
    text,
    /^raft_http_requests_total\{method="GET",route="\/kv\/:key",status="200"\} 2$/m,
  );
  assert.match(text, /^raft_last_index 11$/m);
  assert.doesNotMatch(text, /raft_peer_match_index/, "a follower has no progress to report");
});

test("RaftMetrics renders the leader's view of its peers from the status's progress", () => {
  const pr = (id: number, match: number, inflight: number) => ({
    id,
    match,
    next: match + 1 + inflight,
    state: "replicate" as const,
    recentActive: true,
    isLearner: id === 4,
    paused: false,
    pendingSnapshot: 0,
    inflight,
  });
  const text = new RaftMetrics().render({
    status: {
      ...status,
      id: 1,
      raftState: 2,
      progress: [pr(1, 11, 0), pr(2, 9, 2), pr(3, 11, 0), pr(4, 4, 1)],
    },
  });
  assert.match(text, /^raft_peer_match_index\{peer="2"\} 9$/m);
  assert.match(text, /^raft_peer_match_index\{peer="3"\} 11$/m);
  assert.match(text, /^raft_peer_match_index\{peer="4"\} 4$/m);
  assert.match(text, /^raft_peer_inflight_messages\{peer="2"\} 2$/m);
  assert.doesNotMatch(text, /peer="1"/, "the leader itself is not a peer");
});
