import { test } from "node:test";
import assert from "node:assert/strict";
import { parseDirective, type TestData } from "../datadriven.ts";
import { handle } from "../interaction.ts";
import { InteractionEnv } from "./env.ts";

/** Runs `line` (with `input`) on `env` and returns its output. */
function run(env: InteractionEnv, line: string, input = ""): string {
  const { cmd, cmdArgs } = parseDirective(line);
  const d: TestData = { pos: "env_test:1", cmd, cmdArgs, input, expected: "" };
  return handle(env, d);
}

/** An environment with `n` quiet, bootstrapped voters. */
function quietEnv(n: number): InteractionEnv {
  const env = new InteractionEnv();
  const voters = Array.from({ length: n }, (_, i) => i + 1).join(",");
  assert.equal(run(env, "log-level none"), "ok");
  assert.equal(run(env, `add-nodes ${n} voters=(${voters}) index=2`), "ok");
  assert.equal(run(env, "log-level debug"), "ok");
  return env;
}

const errorCases: { name: string; line: string; input?: string; want: string }[] = [
  { name: "an unknown command", line: "frobnicate 1", want: "unknown command" },
  {
    name: "an unknown log level",
    line: "log-level loud",
    want: "log levels must be either of [DEBUG INFO WARN ERROR FATAL NONE]",
  },
  {
    name: "an unknown transition",
    line: "propose-conf-change 1 transition=sideways",
    input: "v2",
    want: "unknown transition sideways",
  },
  {
    name: "an unknown propose-conf-change key",
    line: "propose-conf-change 1 colour=red",
    input: "v2",
    want: "unknown command colour",
  },
  {
    name: "a v1 change with two operations",
    line: "propose-conf-change 1 v1=true",
    input: "v2 v3",
    want: "v1 conf change can only have one operation and no transition",
  },
  {
    name: "a v1 change with a transition",
    line: "propose-conf-change 1 v1=true transition=explicit",
    input: "v2",
    want: "v1 conf change can only have one operation and no transition",
  },
  {
    name: "a bad change list",
    line: "propose-conf-change 1",
    input: "x2",
    want: "unknown input: x2",
  },
  {
    name: "report-unreachable with one ID",
    line: "report-unreachable 1",
    want: "must specify exactly two node indexes: node on which to report, and reported node",
  },
  {
    name: "a compaction below the first index",
    line: "compact 1 1",
    want: "requested index is unavailable due to compaction",
  },
];

for (const c of errorCases) {
  test(`handle() prints the error of ${c.name}`, () => {
    const env = quietEnv(2);
    assert.equal(run(env, c.line, c.input), c.want);
  });
}

test("handle() under log-level none prints only the error", () => {
  const env = quietEnv(1);
  run(env, "log-level none");
  assert.equal(run(env, "campaign 1"), "ok");
  assert.equal(
    run(env, "propose-conf-change 1 transition=bogus", "v2"),
    "unknown transition bogus",
  );
});

test("add-nodes rejects an invalid read-only option, quoted like Go's %q", () => {
  const env = new InteractionEnv();
  assert.equal(run(env, "add-nodes 1 read-only=fast"), `invalid read-only option "fast"`);
  assert.equal(env.nodes.length, 0);
});

test("add-nodes refuses to bootstrap at index 1", () => {
  const env = new InteractionEnv();
  assert.equal(
    run(env, "add-nodes 1 voters=(1) index=1"),
    "index must be specified as > 1 due to bootstrap",
  );
});

test("add-nodes of an unbootstrapped node logs an empty configuration", () => {
  const env = new InteractionEnv();
  assert.equal(
    run(env, "add-nodes 1"),
    "INFO 1 switched to configuration voters=()\n" +
      "INFO 1 became follower at term 0\n" +
      "INFO newRaft 1 [peers: [], term: 0, commit: 0, applied: 0, lastindex: 0, lastterm: 0]\n",
  );
  assert.equal(run(env, "raft-log 1"), "log is empty: first index=1, last index=0");
});

test("add-nodes applies config overrides and ignores unknown keys", () => {
  const env = new InteractionEnv();
  run(env, "log-level none");
  run(
    env,
    "add-nodes 1 voters=(1) index=5 inflight=7 prevote=true checkquorum=true " +
      "async-storage-writes=true read-only=lease-based colour=red",
  );
  const cfg = env.node(0).config;
  assert.equal(cfg.applied, 5);
  assert.equal(cfg.maxInflightMsgs, 7);
  assert.equal(cfg.preVote, true);
  assert.equal(cfg.checkQuorum, true);
  assert.equal(cfg.asyncStorageWrites, true);
  assert.equal(cfg.readOnlyOption, 1);
  assert.equal(env.node(0).history[0]?.metadata.term, 1);
  assert.equal(env.node(0).storage.firstIndex(), 6);
});

test("propose on a node without a leader prints the log line and the error", () => {
  const env = quietEnv(2);
  assert.equal(
    run(env, "propose 1 foo"),
    "INFO 1 no leader at term 0; dropping proposal\nraft proposal dropped",
  );
});

test("deliver-msgs with nothing queued prints no messages", () => {
  const env = quietEnv(2);
  assert.equal(run(env, "deliver-msgs 1 drop=(2)"), "no messages\n");
});

test("the thread commands print that there is no work, indented for several nodes", () => {
  const env = quietEnv(2);
  assert.equal(run(env, "process-append-thread 1"), "no append work to perform");
  assert.equal(
    run(env, "process-apply-thread 1 2"),
    "> 1 processing apply thread\n  no apply work to perform\n" +
      "> 2 processing apply thread\n  no apply work to perform\n",
  );
});

test("process-ready with several nodes indents an empty Ready", () => {
  const env = quietEnv(2);
  assert.equal(
    run(env, "process-ready 1 2"),
    "> 1 handling Ready\n  <empty Ready>\n> 2 handling Ready\n  <empty Ready>\n",
  );
});

test("stabilize log-level= changes the level for that command only", () => {
  const env = quietEnv(1);
  run(env, "campaign 1");
  assert.equal(run(env, "stabilize log-level=none"), "ok");
  assert.equal(env.output.level, 0);
  assert.equal(run(env, "raft-state"), "1: StateLeader (Voter) Term:1 Lead:1\n");
});

test("stabilize restores the level even when the level name is bad", () => {
  const env = quietEnv(1);
  run(env, "log-level info");
  assert.equal(
    run(env, "stabilize log-level=loud"),
    "log levels must be either of [DEBUG INFO WARN ERROR FATAL NONE]",
  );
  assert.equal(env.output.level, 1);
});

test("status prints nothing on a follower and the progress on a leader", () => {
  const env = quietEnv(2);
  assert.equal(run(env, "status 1"), "ok");
  run(env, "campaign 1");
  run(env, "stabilize log-level=none");
  assert.equal(
    run(env, "status 1"),
    "1: StateReplicate match=3 next=4\n2: StateReplicate match=3 next=4\n",
  );
});

test("send-snapshot queues the sender's latest applied state", () => {
  const env = quietEnv(2);
  run(env, "campaign 1");
  run(env, "stabilize log-level=none");
  assert.equal(env.node(0).history.length, 2);
  assert.equal(
    run(env, "send-snapshot 1 2"),
    "1->2 MsgSnap Term:1 Log:0/0\n" +
      "  Snapshot: Index:3 Term:1 ConfState:Voters:[1 2] VotersOutgoing:[] Learners:[] " +
      "LearnersNext:[] AutoLeave:false",
  );
  assert.equal(env.messages.length, 1);
  assert.equal(env.messages[0]?.snapshot, env.node(0).history[1]);
});

test("compact prints the remaining stored log", () => {
  const env = quietEnv(1);
  run(env, "campaign 1");
  run(env, "stabilize log-level=none");
  run(env, "propose 1 a");
  run(env, "propose 1 b");
  run(env, "stabilize log-level=none");
  assert.equal(
    run(env, "raft-log 1"),
    '1/3 EntryNormal ""\n1/4 EntryNormal "a"\n1/5 EntryNormal "b"\n',
  );
  assert.equal(run(env, "compact 1 4"), '1/5 EntryNormal "b"\n');
  // The appender state machine concatenates the applied data.
  assert.equal(new TextDecoder().decode(env.node(0).storage.snapshot().data), "ab");
});
