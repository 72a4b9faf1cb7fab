import { test } from "node:test";
import assert from "node:assert/strict";
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import {
  type ClusterJson,
  createRaftApp,
  httpError,
  leaderOnly,
  MemberDirectory,
  type RaftApp,
  type RaftAppOptions,
  RaftMetrics,
  type RaftStatusJson,
  TransportMonitor,
} from "./mod.ts";
import { RaftNode, type StateMachine } from "../../core/node.ts";
import { MemoryStorage } from "../../core/storage.ts";
import { StateType } from "../../core/types.ts";
import { MemoryNetwork } from "../memory/mod.ts";
import { demoRoutes, restartThrough } from "../../examples/_demo_routes.ts";

/** The app's options, plus whether to mount the demo buttons' routes (default: yes). */
type TestAppOptions = RaftAppOptions & { demo?: boolean };

const secret = "test-secret-0123456789";
const demoToken = "demo-token-0123456789";
const demoAuth = { "raft-demo-token": demoToken };
const encoder = new TextEncoder();

/** A state machine that records commands as strings. */
function recorder(): StateMachine<string> & { log: string[] } {
  const log: string[] = [];
  return {
    log,
    apply: (cmds) =>
      cmds.map((c) => {
        const s = new TextDecoder().decode(c.data);
        log.push(s);
        return s;
      }),
    snapshot: () => encoder.encode(JSON.stringify(log)),
    restore: (data) => {
      log.splice(0, log.length, ...JSON.parse(new TextDecoder().decode(data)));
    },
  };
}

interface Member {
  id: number;
  node: RaftNode<string>;
  app: RaftApp;
  monitor: TransportMonitor;
  storage: MemoryStorage;
  sm: ReturnType<typeof recorder>;
  stopped: boolean;
}

const urlOf = (id: number): string => `http://node-${id}.test`;

/**
 * A cluster on the in-memory network whose apps reach each other through
 * an in-process `fetch` (no sockets).
 */
class TestCluster {
  readonly net = new MemoryNetwork();
  /** Added to the monitors' clock: a jump makes every peer look silent for that long. */
  clockSkewMs = 0;
  /** The nodes the demo's Restart button asked to restart. */
  readonly restarted: number[] = [];
  readonly members = new Map<number, Member>();
  readonly fetch = async (req: Request): Promise<Response> => {
    const host = new URL(req.url).host;
    const m = /^node-(\d+)\.test$/.exec(host);
    const member = m === null ? undefined : this.members.get(Number(m[1]));
    if (member === undefined || member.stopped) throw new TypeError(`connection refused: ${host}`);
    return await member.app.fetch(req);
  };

  async start(
    ids: number[],
    peers: number[],
    extra: TestAppOptions = {},
  ): Promise<void> {
    const { demo = true, ...appOptions } = extra;
    for (const id of ids) {
      const monitor = new TransportMonitor({ now: () => Date.now() + this.clockSkewMs });
      const storage = new MemoryStorage();
      const sm = recorder();
      const node = await RaftNode.start({
        id,
        peers,
        storage,
        transport: monitor.wrap(this.net.connect(id)),
        stateMachine: sm,
        tickMs: 10,
        requestTimeoutMs: 3000,
      });
      const directory = new MemberDirectory(
        [...new Set([...peers, ...ids])].map((p) => [p, { apiUrl: urlOf(p) }] as const),
      );
      const member: Member = {
        id,
        node,
        monitor,
        storage,
        sm,
        stopped: false,
        app: createRaftApp(node, {
          selfUrl: urlOf(id),
          directory,
          adminSecret: secret,
          monitor,
          fetch: this.fetch,
          page: { demo, demoToken },
          ...appOptions,
        }),
      };
      if (demo) {
        member.app.route(
          "/",
          demoRoutes(node, {
            token: demoToken,
            directory,
            monitor,
            fetch: this.fetch,
            stop: async () => {
              member.stopped = true;
              await node.close();
            },
            restart: (id) => {
              if (this.members.get(id)?.stopped !== true) {
                throw httpError(409, "node_running", `Cannot restart node ${id}: it runs`);
              }
              this.restarted.push(id);
              return Promise.resolve();
            },
          }),
        );
      }
      this.members.set(id, member);
    }
  }

  get(id: number): Member {
    return this.members.get(id)!;
  }

  /** The leader, once every running member knows it (followers learn it from its first append). */
  async leader(): Promise<Member> {
    for (let i = 0; i < 500; i++) {
      for (const m of this.members.values()) {
        if (!m.stopped && m.node.status().raftState === StateType.StateLeader) {
          const running = [...this.members.values()].filter((x) => !x.stopped);
          if (running.every((x) => x.node.status().leaderId === m.id)) return m;
        }
      }
      await sleep(10);
    }
    throw new Error("no leader elected");
  }

  followers(leader: Member): Member[] {
    return [...this.members.values()].filter((m) => m !== leader && !m.stopped);
  }

  async close(): Promise<void> {
    await Promise.all([...this.members.values()].map((m) => m.node.close()));
    this.net.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function until(pred: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await pred()) return;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function json(body: unknown, headers: Record<string, string> = {}): RequestInit {
  return {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  };
}

const auth = { authorization: `Bearer ${secret}` };

async function withCluster(
  fn: (c: TestCluster) => Promise<void>,
  ids = [1, 2, 3],
  extra: TestAppOptions = {},
): Promise<void> {
  const c = new TestCluster();
  await c.start(ids, ids, extra);
  try {
    await fn(c);
  } finally {
    await c.close();
  }
}

test("GET /raft/status reports role, indexes, members and the leader's view of progress", async () => {
  await withCluster(async (c) => {
    const leader = await c.leader();
    await leader.node.propose(encoder.encode("a"));
    const [f] = c.followers(leader);
    await until(() => f!.node.status().applied >= leader.node.status().applied, "follower apply");

    const status = async (): Promise<RaftStatusJson> =>
      (await (await leader.app.request("/raft/status")).json()) as RaftStatusJson;
    await until(
      async () =>
        (await status()).members.every((m) => m.progress?.match === leader.storage.lastIndex()),
      "every member's match reaches the leader's last index",
    );
    const ls = await status();
    assert.equal(ls.id, leader.id);
    assert.equal(ls.role, "leader");
    assert.equal(ls.leaderId, leader.id);
    assert.equal(ls.apiUrl, urlOf(leader.id));
    assert.equal(ls.lastIndex, leader.storage.lastIndex());
    assert.ok(ls.commit >= 2 && ls.applied === ls.commit, JSON.stringify(ls));
    assert.deepEqual(ls.members.map((m) => [m.id, m.role]), [[1, "voter"], [2, "voter"], [
      3,
      "voter",
    ]]);
    for (const m of ls.members) {
      assert.ok(m.progress !== null, `progress of ${m.id}`);
      assert.equal(m.progress.match, ls.lastIndex, `match of ${m.id}`);
      assert.equal(m.progress.next, ls.lastIndex + 1, `next of ${m.id}`);
      assert.equal(m.progress.state, "replicate", `state of ${m.id}`);
      assert.equal(m.progress.isLearner, false);
      assert.equal(m.progress.pendingSnapshot, 0);
      assert.equal(m.progress.active, true, `active of ${m.id}`);
      if (m.self) assert.equal(m.progress.lastHeardMsAgo, null);
      else assert.equal(typeof m.progress.lastHeardMsAgo, "number", `heard from ${m.id}`);
    }

    const fs = (await (await f!.app.request("/raft/status")).json()) as RaftStatusJson;
    assert.equal(fs.role, "follower");
    assert.equal(fs.leaderUrl, urlOf(leader.id));
    assert.ok(fs.members.every((m) => m.progress === null));
  });
});

test("GET /raft/status shows a cut-off follower falling behind, from the leader's progress", async () => {
  await withCluster(async (c) => {
    const leader = await c.leader();
    await leader.node.propose(encoder.encode("a"));
    const [f, g] = c.followers(leader);
    // A second app on the leader's node, without a transport monitor.
    const bare = createRaftApp(leader.node, { selfUrl: urlOf(leader.id) });
    const status = async (): Promise<RaftStatusJson> =>
      (await (await bare.request("/raft/status")).json()) as RaftStatusJson;
    const matchOf = (st: RaftStatusJson, id: number): number | undefined =>
      st.members.find((m) => m.id === id)?.progress?.match;
    await until(
      async () => matchOf(await status(), f!.id) === leader.node.status().lastIndex,
      "follower caught up",
    );
    const before = leader.node.status().lastIndex;

    c.net.isolate(f!.id);
    await leader.node.propose(encoder.encode("b"));
    await leader.node.propose(encoder.encode("c"));
    const cut = await status();
    assert.ok(cut.commit >= before + 2, JSON.stringify(cut));
    assert.equal(matchOf(cut, f!.id), before);
    await until(async () => matchOf(await status(), g!.id) === cut.commit, "other follower");
    const fp = cut.members.find((m) => m.id === f!.id)!.progress!;
    assert.equal(fp.lastHeardMsAgo, null, "no monitor: no transport facts");
    assert.equal(typeof fp.active, "boolean");

    c.net.heal();
    await until(
      async () => matchOf(await status(), f!.id) === leader.node.status().lastIndex,
      "follower catches up after the partition heals",
    );
    assert.ok(matchOf(await status(), f!.id)! >= before + 2);
  });
});

test("GET /raft/cluster gathers every member's status and marks unreachable ones", async () => {
  await withCluster(async (c) => {
    const leader = await c.leader();
    const res = await c.get(1).app.request("/raft/cluster");
    assert.equal(res.status, 200);
    const body = (await res.json()) as ClusterJson;
    assert.equal(body.self, 1);
    assert.deepEqual(body.nodes.map((n) => n.id), [1, 2, 3]);
    assert.ok(body.nodes.every((n) => n.status !== null && n.status.leaderId === leader.id));

    const victim = c.followers(leader)[0]!;
    victim.stopped = true;
    const again = (await (await leader.app.request("/raft/cluster")).json()) as ClusterJson;
    const down = again.nodes.find((n) => n.id === victim.id)!;
    assert.equal(down.status, null);
    assert.match(down.error!, /connection refused/);
  });
});

test("admin routes require the secret and refuse bad bodies without changing anything", async () => {
  await withCluster(async (c) => {
    const leader = await c.leader();
    const before = leader.node.status().confState;
    const cases: [string, RequestInit, number, string][] = [
      ["no secret", json({ id: 4 }), 401, "unauthorized"],
      ["wrong secret", json({ id: 4 }, { authorization: "Bearer nope" }), 403, "forbidden"],
      ["malformed JSON", { ...json(null, auth), body: '{"id": 4,' }, 400, "malformed_json"],
      ["not an object", { ...json([4], auth) }, 400, "invalid_body"],
      ["unknown field", json({ id: 4, rol: "voter" }, auth), 400, "unknown_field"],
      ["bad id", json({ id: -4 }, auth), 400, "invalid_node_id"],
      ["fractional id", json({ id: 4.5 }, auth), 400, "invalid_node_id"],
      ["bad role", json({ id: 4, role: "boss" }, auth), 400, "invalid_role"],
      ["bad url", json({ id: 4, apiUrl: "ftp://x" }, auth), 400, "invalid_url"],
      [
        "wrong content type",
        { method: "POST", headers: { ...auth, "content-type": "text/plain" }, body: "{}" },
        415,
        "unsupported_media_type",
      ],
      [
        "too large",
        json({ id: 4, apiUrl: `http://x/${"a".repeat(70_000)}` }, auth),
        413,
        "body_too_large",
      ],
    ];
    for (const [name, init, status, code] of cases) {
      const res = await leader.app.request("/raft/members", init);
      assert.equal(res.status, status, name);
      const body = await res.json();
      assert.equal(body.error.code, code, name);
      assert.equal(typeof body.error.message, "string", name);
    }
    const del = await leader.app.request("/raft/members/2", { method: "DELETE" });
    assert.equal(del.status, 401);
    const promote = await leader.app.request("/raft/members/abc/promote", {
      method: "POST",
      headers: auth,
    });
    assert.equal(promote.status, 400);
    const transfer = await leader.app.request("/raft/transfer-leader", json({ to: 9 }, auth));
    assert.equal(transfer.status, 409);
    assert.deepEqual(leader.node.status().confState, before);
  });
});

test("POST /raft/members refuses a voter no member could reach, and changes nothing", async () => {
  await withCluster(async (c) => {
    const leader = await c.leader();
    const follower = c.followers(leader)[0]!;
    const before = leader.node.status().confState;
    const cases: [string, Record<string, unknown>, string][] = [
      ["no peerUrl", { id: 4, apiUrl: urlOf(4) }, "peer_url_required"],
      ["no peerUrl, role given", { id: 4, role: "voter" }, "peer_url_required"],
      // The member context itself holds only WebSocket peer URLs.
      ["an http peerUrl", { id: 4, peerUrl: "http://node-4.test/raft" }, "invalid_url"],
    ];
    for (const m of [leader, follower]) {
      for (const [name, body, code] of cases) {
        const res = await m.app.request("/raft/members", json(body, auth));
        assert.equal(res.status, 400, `${name}: ${await res.clone().text()}`);
        const err = (await res.json()).error;
        assert.equal(err.code, code, name);
        if (code !== "invalid_url") {
          assert.match(err.message, /^Cannot add node 4 as a voter: .*quorum/, name);
        }
      }
    }
    await sleep(50);
    for (const m of [leader, follower]) assert.deepEqual(m.node.status().confState, before);
    assert.equal(leader.node.status().pendingProposals, 0);

    // A learner needs no peer URL; a voter with a WebSocket URL is added.
    const learner = await leader.app.request(
      "/raft/members",
      json({ id: 5, role: "learner" }, auth),
    );
    assert.equal(learner.status, 201, await learner.clone().text());
    const voter = await leader.app.request(
      "/raft/members",
      json({ id: 4, peerUrl: "ws://node-4.test/raft" }, auth),
    );
    assert.equal(voter.status, 201, await voter.clone().text());
    assert.deepEqual(leader.node.status().confState.voters, [1, 2, 3, 4]);
  });
  // A transport that dials only some URLs: the others are refused.
  await withCluster(
    async (c) => {
      const leader = await c.leader();
      const res = await leader.app.request(
        "/raft/members",
        json({ id: 2, peerUrl: "ws://node-2.test/raft" }, auth),
      );
      assert.equal(res.status, 400, await res.clone().text());
      assert.equal((await res.json()).error.code, "invalid_peer_url");
      assert.deepEqual(leader.node.status().confState.voters, [1]);
    },
    [1],
    { peerUrl: (url) => url.startsWith("wss:") },
  );
  // A transport that finds its peers by other means: no peer URL needed.
  await withCluster(
    async (c) => {
      const leader = await c.leader();
      const res = await leader.app.request("/raft/members", json({ id: 2 }, auth));
      assert.equal(res.status, 201, await res.clone().text());
    },
    [1],
    { peerUrl: false },
  );
});

test("admin routes answer 403 when no secret is configured", async () => {
  await withCluster(
    async (c) => {
      const leader = await c.leader();
      const res = await leader.app.request("/raft/members", json({ id: 4 }, auth));
      assert.equal(res.status, 403);
      assert.equal((await res.json()).error.code, "admin_disabled");
    },
    [1],
    { adminSecret: undefined as unknown as string },
  );
});

test("unknown routes answer 404 and wrong methods 405 with Allow", async () => {
  await withCluster(async (c) => {
    const app = c.get(1).app;
    const nf = await app.request("/nope");
    assert.equal(nf.status, 404);
    assert.equal((await nf.json()).error.code, "not_found");
    const wm = await app.request("/raft/status", { method: "POST" });
    assert.equal(wm.status, 405);
    assert.equal(wm.headers.get("allow"), "GET, HEAD");
    assert.equal((await wm.json()).error.code, "method_not_allowed");
    const wm2 = await app.request("/raft/members/2", { method: "PUT" });
    assert.equal(wm2.status, 405);
    assert.equal(wm2.headers.get("allow"), "DELETE");
  }, [1]);
});

test("membership routes add a learner, promote it and remove it; followers redirect", async () => {
  await withCluster(async (c) => {
    const leader = await c.leader();
    const follower = c.followers(leader)[0]!;

    const redirected = await follower.app.request(
      "/raft/members?x=1",
      json({ id: 4, role: "learner", apiUrl: urlOf(4) }, auth),
    );
    assert.equal(redirected.status, 307);
    assert.equal(redirected.headers.get("location"), `${urlOf(leader.id)}/raft/members?x=1`);
    const rb = await redirected.json();
    assert.equal(rb.error.code, "not_leader");
    assert.equal(rb.error.leaderId, leader.id);
    assert.deepEqual(follower.node.status().confState.learners, []);

    // The same request, forwarded by the follower on the client's request.
    const added = await follower.app.request(
      "/raft/members",
      json({ id: 4, role: "learner", apiUrl: urlOf(4) }, { ...auth, "raft-routing": "forward" }),
    );
    assert.equal(added.status, 201, await added.clone().text());
    assert.equal(added.headers.get("raft-forwarded-to"), String(leader.id));
    assert.deepEqual(leader.node.status().confState.learners, [4]);
    await c.start([4], []);
    await until(
      () => c.get(4).node.status().applied >= leader.node.status().commit,
      "learner catch-up",
    );
    // Every node learnt the new member's address from the change's context.
    const view = (await (await follower.app.request("/raft/status")).json()) as RaftStatusJson;
    assert.equal(view.members.find((m) => m.id === 4)?.apiUrl, urlOf(4));
    assert.equal(view.members.find((m) => m.id === 4)?.role, "learner");

    const notLearner = await leader.app.request("/raft/members/2/promote", {
      method: "POST",
      headers: auth,
    });
    assert.equal(notLearner.status, 409);
    const promoted = await leader.app.request("/raft/members/4/promote", {
      method: "POST",
      headers: auth,
    });
    assert.equal(promoted.status, 200, await promoted.clone().text());
    assert.deepEqual(leader.node.status().confState.voters, [1, 2, 3, 4]);

    const missing = await leader.app.request("/raft/members/9", {
      method: "DELETE",
      headers: auth,
    });
    assert.equal(missing.status, 404);
    const removed = await leader.app.request("/raft/members/4", {
      method: "DELETE",
      headers: auth,
    });
    assert.equal(removed.status, 200);
    assert.deepEqual(leader.node.status().confState.voters, [1, 2, 3]);
    // A removed ID is never admitted again; the answer says why.
    const again = await leader.app.request(
      "/raft/members",
      json({ id: 4, role: "learner", apiUrl: urlOf(4) }, auth),
    );
    assert.equal(again.status, 409);
    const ab = await again.json();
    assert.equal(ab.error.code, "invalid_membership_change");
    assert.equal(ab.error.reason, "removed_id");
    assert.deepEqual(leader.node.status().confState.learners, []);
  });
});

test("membership routes refuse each change whose intent does not hold, and change nothing", async () => {
  await withCluster(async (c) => {
    const leader = await c.leader();
    const post = async (path: string, body?: unknown): Promise<Response> =>
      await leader.app.request(
        path,
        body === undefined ? { method: "POST", headers: auth } : json(body, auth),
      );
    const added = await post("/raft/members", { id: 4, role: "learner", apiUrl: urlOf(4) });
    assert.equal(added.status, 201);
    const before = leader.node.status().confState;
    const cases: [string, () => Promise<Response>, number, string, RegExp][] = [
      [
        "add an existing voter",
        () => post("/raft/members", { id: 2, role: "voter", peerUrl: "ws://127.0.0.1:1/raft" }),
        409,
        "invalid_membership_change",
        /Cannot add node 2 as a voter: it is already a voter/,
      ],
      [
        "add an existing learner as a learner",
        () => post("/raft/members", { id: 4, role: "learner" }),
        409,
        "invalid_membership_change",
        /Cannot add node 4 as a learner: it is already a learner/,
      ],
      [
        "promote a voter",
        () => post("/raft/members/2/promote"),
        409,
        "not_a_learner",
        /not a learner/,
      ],
      ["demote a learner", () => post("/raft/members/4/demote"), 409, "not_a_voter", /not a voter/],
      [
        "demote a non-member",
        () => post("/raft/members/9/demote"),
        404,
        "member_not_found",
        /Cannot demote node 9: it is not a member/,
      ],
    ];
    for (const [name, call, status, code, message] of cases) {
      const res = await call();
      assert.equal(res.status, status, name);
      const body = await res.json();
      assert.equal(body.error.code, code, name);
      assert.match(body.error.message, message, name);
      assert.deepEqual(leader.node.status().confState, before, `${name} changed nothing`);
    }
    // What holds goes through: demote a follower, then promote it back.
    const f = c.followers(leader)[0]!.id;
    const demoted = await post(`/raft/members/${f}/demote`);
    assert.equal(demoted.status, 200, await demoted.clone().text());
    assert.deepEqual(leader.node.status().confState.learners, [f, 4].sort());
    const promoted = await post(`/raft/members/${f}/promote`);
    assert.equal(promoted.status, 200, await promoted.clone().text());
    assert.deepEqual(leader.node.status().confState.voters, [1, 2, 3]);
  });
});

test("POST /raft/transfer-leader hands leadership over", async () => {
  await withCluster(async (c) => {
    const leader = await c.leader();
    const target = c.followers(leader)[0]!;
    await until(
      () => target.node.status().applied >= leader.node.status().commit,
      "target caught up",
    );
    const res = await leader.app.request("/raft/transfer-leader", json({ to: target.id }, auth));
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal((await res.json()).leaderId, target.id);
    await until(
      () => target.node.status().raftState === StateType.StateLeader,
      "target leads",
    );
  });
});

test("GET /healthz and /readyz follow the node's state", async () => {
  await withCluster(async (c) => {
    const m = c.get(1);
    await c.leader();
    assert.equal((await m.app.request("/healthz")).status, 200);
    const ready = await m.app.request("/readyz");
    assert.equal(ready.status, 200);
    assert.equal((await ready.json()).leaderId, 1);
    await m.node.close();
    assert.equal((await m.app.request("/healthz")).status, 503);
    assert.equal((await m.app.request("/readyz")).status, 503);
  }, [1]);
});

test("GET /metrics exposes Prometheus text with proposals, latency and transport counters", async () => {
  const metrics = new RaftMetrics();
  await withCluster(
    async (c) => {
      const leader = await c.leader();
      await metrics.observeProposal(leader.node.propose(encoder.encode("x")));
      const follower = c.followers(leader)[0]!;
      await metrics.observeProposal(follower.node.propose(encoder.encode("y"))).catch(() => {});
      await leader.app.request("/raft/status");
      const res = await leader.app.request("/metrics");
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type")!, /^text\/plain; version=0.0.4/);
      const text = await res.text();
      for (
        const line of text.split("\n").filter((l) => l !== "" && !l.startsWith("#"))
      ) {
        assert.match(
          line,
          /^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [-+0-9.eInf]+$/,
          line,
        );
      }
      const st = leader.node.status();
      assert.match(text, new RegExp(`^raft_term ${st.term}$`, "m"));
      assert.match(text, /^raft_is_leader 1$/m);
      assert.match(text, /^raft_proposals_total\{result="ok"\} 1$/m);
      assert.match(text, /^raft_proposals_total\{result="not_leader"\} 1$/m);
      assert.match(text, /^raft_proposal_duration_seconds_count 2$/m);
      assert.match(text, /^raft_proposal_duration_seconds_bucket\{le="\+Inf"\} 2$/m);
      assert.match(text, /^raft_leader_changes_total [1-9]/m);
      assert.match(text, /^raft_transport_messages_sent_total\{type="MsgApp"\} [1-9]/m);
      assert.match(
        text,
        new RegExp(`^raft_peer_match_index\\{peer="${follower.id}"\\} [1-9]`, "m"),
      );
      assert.match(text, /^raft_elections_total [1-9]/m);
      assert.match(
        text,
        /^raft_http_requests_total\{method="GET",route="\/raft\/status",status="200"\} 1$/m,
      );
    },
    [1, 2, 3],
    { metrics },
  );
});

test("demo routes partition, heal and stop nodes, also through another node", async () => {
  await withCluster(async (c) => {
    const leader = await c.leader();
    const other = c.followers(leader)[0]!;
    // Partition the leader from another node's page.
    const res = await other.app.request(`/raft/demo/nodes/${leader.id}/partition`, {
      method: "POST",
      headers: demoAuth,
    });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(leader.monitor.isolated, true);
    const next = await (async () => {
      for (let i = 0; i < 500; i++) {
        const l = c.followers(leader).find((m) =>
          m.node.status().raftState === StateType.StateLeader
        );
        if (l !== undefined) return l;
        await sleep(10);
      }
      throw new Error("no new leader");
    })();
    assert.notEqual(next.id, leader.id);
    const st = (await (await leader.app.request("/raft/status")).json()) as RaftStatusJson;
    assert.equal(st.isolated, true);

    const heal = await leader.app.request(`/raft/demo/nodes/${leader.id}/heal`, {
      method: "POST",
      headers: demoAuth,
    });
    assert.equal(heal.status, 200);
    assert.equal(leader.monitor.isolated, false);
    await until(() => leader.node.status().leaderId === next.id, "old leader rejoins");

    const stop = await next.app.request(`/raft/demo/nodes/${other.id}/stop`, {
      method: "POST",
      headers: demoAuth,
    });
    assert.equal(stop.status, 202);
    await until(() => other.node.closed, "node stopped");
    const bad = await next.app.request(`/raft/demo/nodes/${next.id}/explode`, {
      method: "POST",
      headers: demoAuth,
    });
    assert.equal(bad.status, 404);
  });
});

test("the demo's restart is asked of the node that receives it, since the stopped one cannot answer", async () => {
  await withCluster(async (c) => {
    const stop = await c.get(1).app.request("/raft/demo/nodes/3/stop", {
      method: "POST",
      headers: demoAuth,
    });
    assert.equal(stop.status, 202);
    await until(() => c.get(3).node.closed, "node 3 stopped");
    const res = await c.get(1).app.request("/raft/demo/nodes/3/restart", {
      method: "POST",
      headers: demoAuth,
    });
    assert.equal(res.status, 200, await res.clone().text());
    assert.deepEqual(await res.json(), { id: 3, action: "restart", ok: true });
    assert.deepEqual(c.restarted, [3]);
    // The restart's own refusal is the answer.
    const running = await c.get(1).app.request("/raft/demo/nodes/2/restart", {
      method: "POST",
      headers: demoAuth,
    });
    assert.equal(running.status, 409);
    assert.equal((await running.json()).error.code, "node_running");
    assert.deepEqual(c.restarted, [3]);
    // Without a way to restart: 501.
    const bare = demoRoutes(c.get(1).node, { token: demoToken, directory: new MemberDirectory() });
    const none = await bare.request("/raft/demo/nodes/3/restart", {
      method: "POST",
      headers: demoAuth,
    });
    assert.equal(none.status, 501);
    assert.equal((await none.json()).error.code, "not_supported");
  });
});

test("restartThrough() asks the restart route with the token and passes its refusals on", async () => {
  const seen: string[] = [];
  let answer: () => Promise<Response> = () => Promise.resolve(Response.json({ ok: true }));
  const restart = restartThrough("http://127.0.0.1:9/x", "tok", (req) => {
    seen.push(`${req.method} ${req.url} ${req.headers.get("raft-demo-token")}`);
    return answer();
  });
  await restart(2);
  assert.deepEqual(seen, ["POST http://127.0.0.1:9/x/nodes/2/restart tok"]);
  const cases: [string, () => Promise<Response>, number, string][] = [
    [
      "a running node",
      () =>
        Promise.resolve(
          Response.json({ error: { code: "node_running", message: "runs" } }, { status: 409 }),
        ),
      409,
      "node_running",
    ],
    [
      "a failed start",
      () =>
        Promise.resolve(
          Response.json({ error: { code: "restart_failed", message: "exited" } }, { status: 500 }),
        ),
      502,
      "restart_failed",
    ],
    [
      "no JSON",
      () => Promise.resolve(new Response("nope", { status: 503 })),
      502,
      "restart_failed",
    ],
    ["no answer", () => Promise.reject(new TypeError("refused")), 502, "restart_unreachable"],
  ];
  for (const [name, a, status, code] of cases) {
    answer = a;
    const failure = await restart(2).then(() => undefined, (e: unknown) => e);
    assert.ok(failure instanceof HTTPException, name);
    const r = failure.getResponse();
    assert.equal(r.status, status, name);
    assert.equal((await r.json()).error.code, code, name);
  }
});

test("demo routes do not exist without demo mode", async () => {
  await withCluster(
    async (c) => {
      const res = await c.get(1).app.request("/raft/demo/nodes/1/stop", {
        method: "POST",
        headers: demoAuth,
      });
      assert.equal(res.status, 404);
      assert.equal(c.get(1).node.closed, false);
    },
    [1],
    { demo: false },
  );
});

test("demo routes refuse cross-site requests and requests without the token", async () => {
  await withCluster(async (c) => {
    const m = c.get(1);
    const own = urlOf(1);
    const cases: [string, Record<string, string>][] = [
      ["no token", {}],
      ["wrong token", { "raft-demo-token": "guess" }],
      ["another origin", { ...demoAuth, origin: "http://evil.example" }],
      ["a malformed origin", { ...demoAuth, origin: "not a url" }],
      ["another site", { ...demoAuth, "sec-fetch-site": "cross-site" }],
      ["a sibling site", { ...demoAuth, "sec-fetch-site": "same-site" }],
    ];
    for (const action of ["stop", "partition", "restart"]) {
      for (const [name, headers] of cases) {
        const res = await m.app.request(`${own}/raft/demo/nodes/1/${action}`, {
          method: "POST",
          headers,
        });
        assert.equal(res.status, 403, `${action}, ${name}`);
        assert.equal((await res.json()).error.code, "demo_forbidden", `${action}, ${name}`);
      }
    }
    // Nothing happened: the node runs, is not cut off, and no restart was asked for.
    await sleep(50);
    assert.deepEqual(c.restarted, []);
    assert.equal(m.node.closed, false);
    assert.equal(m.monitor.isolated, false);
    // The page's own request (same origin, with the token) is served.
    const ok = await m.app.request(`${own}/raft/demo/nodes/1/partition`, {
      method: "POST",
      headers: { ...demoAuth, origin: own, "sec-fetch-site": "same-origin" },
    });
    assert.equal(ok.status, 200, await ok.clone().text());
    assert.equal(m.monitor.isolated, true);
    // The page carries the token its buttons send.
    assert.match(await (await m.app.request("/")).text(), new RegExp(`"demoToken":"${demoToken}"`));
  }, [1]);
});

test("GET / serves the cluster page; page: false removes it", async () => {
  await withCluster(async (c) => {
    const res = await c.get(1).app.request("/");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type")!, /text\/html/);
    const html = await res.text();
    assert.match(html, /raft\/cluster/);
    assert.match(html, /"demo":true/);
    assert.match(html, /"demoRestart":false/);
    assert.match(html, /<link rel="icon" href="favicon.ico" type="image\/svg\+xml">/);
    const icon = await c.get(1).app.request("/favicon.ico");
    assert.equal(icon.status, 200);
    assert.equal(icon.headers.get("content-type"), "image/svg+xml");
    assert.equal(icon.headers.get("x-content-type-options"), "nosniff");
    assert.match(await icon.text(), /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"[^]*<\/svg>$/);
  }, [1]);
  await withCluster(
    async (c) => {
      assert.equal((await c.get(1).app.request("/")).status, 404);
      assert.equal((await c.get(1).app.request("/favicon.ico")).status, 404);
    },
    [1],
    { page: false },
  );
});

test("leaderOnly() lets the leader serve and errors map to JSON answers", async () => {
  await withCluster(async (c) => {
    const leader = await c.leader();
    const follower = c.followers(leader)[0]!;
    for (const m of [leader, follower]) {
      const directory = new MemberDirectory([1, 2, 3].map((id) => [id, { apiUrl: urlOf(id) }]));
      m.app.post("/write/:v", leaderOnly(m.node, { directory, fetch: c.fetch }), async (ctx) => {
        return ctx.json({ result: await m.node.propose(encoder.encode(ctx.req.param("v"))) });
      });
      // A route that proposes without the guard: NotLeaderError goes through onError.
      m.app.post("/unguarded/:v", async (ctx) => {
        return ctx.json({ result: await m.node.propose(encoder.encode(ctx.req.param("v"))) });
      });
    }
    const ok = await leader.app.request("/write/hello", { method: "POST" });
    assert.equal(ok.status, 200);
    assert.equal((await ok.json()).result, "hello");
    const redirect = await follower.app.request("/write/hello", { method: "POST" });
    assert.equal(redirect.status, 307);
    assert.equal(redirect.headers.get("location"), `${urlOf(leader.id)}/write/hello`);
    const viaError = await follower.app.request("/unguarded/x", { method: "POST" });
    assert.equal(viaError.status, 307);
    const forwarded = await follower.app.request("/write/fwd", {
      method: "POST",
      headers: { "raft-routing": "forward" },
    });
    assert.equal(forwarded.status, 200);
    assert.equal((await forwarded.json()).result, "fwd");
    const refused = await follower.app.request("/write/x", {
      method: "POST",
      headers: { "raft-routing": "error" },
    });
    assert.equal(refused.status, 421);
    // A forwarded request that lands on a follower is not forwarded again.
    const loop = await follower.app.request("/write/x", {
      method: "POST",
      headers: { "raft-forwarded-by": "9", "raft-routing": "forward" },
    });
    assert.equal(loop.status, 421);
    await follower.node.close();
    const closed = await follower.app.request("/unguarded/x", { method: "POST" });
    assert.equal(closed.status, 503);
    assert.equal((await closed.json()).error.code, "node_closed");
  });
});

test("a follower does not send writes to a leader it no longer hears from; it waits for the next", async () => {
  await withCluster(async (c) => {
    const old = await c.leader();
    const follower = c.followers(old)[0]!;
    for (const m of c.members.values()) {
      m.app.post(
        "/write/:v",
        leaderOnly(m.node, {
          directory: new MemberDirectory([1, 2, 3].map((id) => [id, { apiUrl: urlOf(id) }])),
          fetch: c.fetch,
          lastHeardFrom: (id) => m.monitor.peer(id)?.lastReceivedAt,
          now: () => m.monitor.now(),
          leaderTimeoutMs: 100,
          leaderWaitMs: 5000,
        }),
        async (ctx) => ctx.json(await m.node.propose(encoder.encode(ctx.req.param("v")))),
      );
    }
    // A healthy leader: the follower redirects to it at once.
    const before = await follower.app.request("/write/a", { method: "POST" });
    assert.equal(before.headers.get("location"), `${urlOf(old.id)}/write/a`);

    // The leader falls silent; the follower's clock says it was not heard from for 10 s.
    c.net.isolate(old.id);
    c.clockSkewMs = 10_000;
    assert.equal(follower.node.status().leaderId, old.id, "no election yet");
    const res = await follower.app.request("/write/b", { method: "POST" });
    const next = follower.node.status().leaderId;
    assert.notEqual(next, old.id);
    assert.notEqual(next, 0);
    if (next === follower.id) {
      // The follower was elected while the request waited: it served it.
      assert.equal(res.status, 200, await res.clone().text());
    } else {
      assert.equal(res.status, 307, await res.clone().text());
      assert.equal(res.headers.get("location"), `${urlOf(next)}/write/b`);
    }
    // Forwarded, the write succeeds on the new leader.
    const fwd = await follower.app.request("/write/c", {
      method: "POST",
      headers: { "raft-routing": "forward" },
    });
    assert.equal(fwd.status, 200, await fwd.clone().text());
    assert.equal(await fwd.json(), "c");
  });
});

test("a follower does not send writes to a leader its transport lost; it waits for the next", async () => {
  // A follower that still names node 1 as leader (heard from it just now),
  // whose transport lost the connection to it; node 3 wins the election later.
  let leaderId = 1;
  const follower = {
    id: 2,
    status: () => ({ leaderId, raftState: StateType.StateFollower }),
  };
  const directory = new MemberDirectory([1, 2, 3].map((id) => [id, { apiUrl: urlOf(id) }]));
  const route = (unreachable?: (id: number) => boolean) => {
    const app = new Hono();
    app.post(
      "/w",
      leaderOnly(follower, {
        directory,
        lastHeardFrom: () => 0,
        now: () => 0,
        ...(unreachable !== undefined ? { unreachable } : {}),
      }),
      (c) => c.text("never"),
    );
    return app;
  };
  const plain = await route().request("/w", { method: "POST" });
  assert.equal(plain.headers.get("location"), `${urlOf(1)}/w`, "without the transport's word");
  const elected = setTimeout(() => (leaderId = 3), 100);
  try {
    const res = await route((id) => id === 1).request("/w", { method: "POST" });
    assert.equal(res.status, 307);
    assert.equal(res.headers.get("location"), `${urlOf(3)}/w`);
  } finally {
    clearTimeout(elected);
  }
});

test("a follower without a known leader answers 503 no_leader", async () => {
  const c = new TestCluster();
  // Two of three voters never start: no election can succeed.
  await c.start([1], [1, 2, 3]);
  try {
    const m = c.get(1);
    const directory = new MemberDirectory();
    m.app.post("/w", leaderOnly(m.node, { directory }), (ctx) => ctx.text("never"));
    const res = await m.app.request("/w", { method: "POST" });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("retry-after"), "1");
    assert.equal((await res.json()).error.code, "no_leader");
    assert.equal((await m.app.request("/readyz")).status, 503);
  } finally {
    await c.close();
  }
});
