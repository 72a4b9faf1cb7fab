/**
 * `RaftNode` clusters over the WebSocket transport, on real sockets and
 * real time: election and replication, a node whose server stops and comes
 * back (reached by the leader as soon as it is up, whatever the leader's
 * backoff), and a node added at run time (its address in the membership
 * change's context) that catches up by snapshot.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { RaftNode, type RaftNodeOptions } from "../../core/node.ts";
import { MemoryStorage } from "../../core/storage.ts";
import type { NodeId } from "../../core/types.ts";
import { encodePeerContext, WebSocketTransport, type WebSocketTransportOptions } from "./mod.ts";
import { closing } from "../../tests/_util.ts";
import { CaptureLogger, ListMachine, testOptions, waitFor } from "./_test_util.ts";

const enc = new TextEncoder();

interface Member {
  id: NodeId;
  node: RaftNode<number>;
  transport: WebSocketTransport;
  sm: ListMachine;
  storage: MemoryStorage;
  port: number;
  url: string;
}

const nodeOptions: Partial<RaftNodeOptions<number>> = {
  tickMs: 10,
  electionTick: 10,
  heartbeatTick: 1,
};

function transportOptions(
  id: NodeId,
  extra: Partial<WebSocketTransportOptions> = {},
): WebSocketTransportOptions {
  return testOptions(id, { server: "auto", client: "auto" }, {
    reconnectMaxMs: 200,
    logger: new CaptureLogger(`${id}: `),
    ...extra,
  });
}

class Cluster {
  readonly members = new Map<NodeId, Member>();

  static async create(
    size: number,
    extraNode: Partial<RaftNodeOptions<number>> = {},
    extraTransport: Partial<WebSocketTransportOptions> = {},
  ): Promise<Cluster> {
    const c = new Cluster();
    const ids = Array.from({ length: size }, (_, i) => i + 1);
    const transports = ids.map((id) =>
      new WebSocketTransport(transportOptions(id, extraTransport))
    );
    const addrs = await Promise.all(transports.map((t) => t.listen()));
    for (const t of transports) {
      ids.forEach((id, i) => t.addPeer(id, encodePeerContext({ url: addrs[i]!.url })));
    }
    await Promise.all(ids.map(async (id, i) => {
      const sm = new ListMachine();
      const storage = new MemoryStorage();
      const node = await RaftNode.start<number>({
        ...nodeOptions,
        ...extraNode,
        id,
        peers: ids,
        storage,
        transport: transports[i]!,
        stateMachine: sm,
      });
      c.members.set(id, {
        id,
        node,
        transport: transports[i]!,
        sm,
        storage,
        port: addrs[i]!.port,
        url: addrs[i]!.url,
      });
    }));
    return c;
  }

  /** Starts a closed member again on its port, with its storage and every member's address. */
  async restart(down: Member, extra: Partial<WebSocketTransportOptions> = {}): Promise<void> {
    const transport = new WebSocketTransport(transportOptions(down.id, {
      ...extra,
      port: down.port,
      peers: new Map([...this.members.values()].map((m) => [m.id, m.url])),
    }));
    await transport.listen();
    const sm = new ListMachine();
    const node = await RaftNode.start<number>({
      ...nodeOptions,
      id: down.id,
      storage: down.storage,
      transport,
      stateMachine: sm,
    });
    this.members.set(down.id, { ...down, node, transport, sm });
  }

  member(id: NodeId): Member {
    const m = this.members.get(id);
    assert.ok(m, `no member ${id}`);
    return m;
  }

  async leader(): Promise<Member> {
    const first = [...this.members.values()].find((m) => !m.node.closed)!;
    const id = await first.node.waitForLeader();
    await waitFor(() => this.member(id).node.status().raftState === 2, `node ${id} to lead`);
    return this.member(id);
  }

  async propose(leader: Member, prefix: string, n: number): Promise<void> {
    for (let i = 0; i < n; i++) await leader.node.propose(enc.encode(`${prefix}${i}`));
  }

  /** Waits until every running member applied exactly `want`. */
  async converge(want: string[], timeoutMs = 10_000): Promise<void> {
    await waitFor(
      () =>
        [...this.members.values()].every((m) =>
          m.node.closed || JSON.stringify(m.sm.values) === JSON.stringify(want)
        ),
      `every node to apply ${want.length} commands`,
      timeoutMs,
    );
  }

  async close(): Promise<void> {
    await Promise.all([...this.members.values()].map((m) => m.node.close()));
  }
}

/** Runs `fn` on a new cluster (see `Cluster.create`) and closes the cluster afterwards. */
async function withCluster(
  options: {
    size: number;
    node?: Partial<RaftNodeOptions<number>>;
    transport?: Partial<WebSocketTransportOptions>;
  },
  fn: (c: Cluster) => Promise<void>,
): Promise<void> {
  await closing(await Cluster.create(options.size, options.node, options.transport), fn);
}

function names(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i}`);
}

test("RaftNode over WebSocket: a 3-node cluster elects a leader and replicates", async () => {
  await withCluster({ size: 3 }, async (c) => {
    const leader = await c.leader();
    await c.propose(leader, "a", 20);
    await c.converge(names("a", 20));
    for (const m of c.members.values()) {
      const t = m.transport.metrics();
      assert.equal(t.protocolErrors, 0);
      assert.equal(t.connectionsRefused, 0);
      assert.ok(t.messagesSent > 0 && t.messagesReceived > 0, `node ${m.id} exchanged messages`);
      assert.ok(t.peers.every((p) => p.state === "open"), `node ${m.id} connected to all`);
    }
  });
});

test("RaftNode over WebSocket: a node whose server stops and restarts catches up", async () => {
  await withCluster({ size: 3 }, async (c) => {
    const leader = await c.leader();
    await c.propose(leader, "a", 10);
    await c.converge(names("a", 10));

    const down = [...c.members.values()].find((m) => m.id !== leader.id)!;
    await down.node.close(); // closes its transport: server and connections
    await waitFor(
      () => leader.transport.metrics().peers.find((p) => p.id === down.id)?.state !== "open",
      "the leader to notice",
    );
    await c.propose(leader, "b", 10); // the other two still make a quorum
    assert.equal(down.sm.values.length, 10);

    // Restart it on the same port with its storage; peers reconnect on their own.
    await c.restart(down);
    await c.converge([...names("a", 10), ...names("b", 10)]);
    const seen = leader.transport.metrics().peers.find((p) => p.id === down.id)!;
    assert.ok(seen.reconnects >= 1, "the leader reconnected to the restarted node");
    await c.propose(leader, "c", 1);
    await c.converge([...names("a", 10), ...names("b", 10), "c0"]);
  });
});

test("RaftNode over WebSocket: the leader reaches a restarted node as soon as it is up, whatever its backoff", async () => {
  // Backoffs of 15 to 60 s: within the test, only the restarted node's own
  // connection to the leader can end the leader's wait.
  await withCluster(
    { size: 3, transport: { reconnectBaseMs: 30_000, reconnectMaxMs: 60_000 } },
    async (c) => {
      const leader = await c.leader();
      await c.propose(leader, "a", 5);
      await c.converge(names("a", 5));
      const down = [...c.members.values()].find((m) => m.id !== leader.id)!;
      const toDown = () => leader.transport.metrics().peers.find((p) => p.id === down.id)!;
      await down.node.close();
      await waitFor(() => toDown().state === "backoff", "the leader to back off");
      const failures = toDown().connectFailures + toDown().disconnects;
      await c.propose(leader, "b", 5);

      await c.restart(down, { reconnectBaseMs: 30_000, reconnectMaxMs: 60_000 });
      await waitFor(
        () => toDown().state === "open",
        "the leader to dial the restarted node",
        10_000,
      );
      await c.converge([...names("a", 5), ...names("b", 5)]);
      assert.equal(
        toDown().connectFailures + toDown().disconnects,
        failures,
        "no retry was needed",
      );
    },
  );
});

test("RaftNode over WebSocket: a node added at run time catches up by snapshot", async () => {
  const compact = { snapshotEntries: 10, snapshotCatchUpEntries: 2 };
  const chunks = { snapshotChunkBytes: 64 };
  await withCluster({ size: 3, node: compact, transport: chunks }, async (c) => {
    const leader = await c.leader();
    await c.propose(leader, "a", 30);
    await c.converge(names("a", 30));
    assert.ok(leader.storage.firstIndex() > 2, "the leader compacted its log");

    // The new node knows the members' addresses; they learn its address
    // from the context of the membership change.
    const transport = new WebSocketTransport(transportOptions(4, {
      ...chunks,
      peers: new Map([...c.members.values()].map((m) => [m.id, m.url])),
    }));
    const addr = await transport.listen();
    const sm = new ListMachine();
    const storage = new MemoryStorage();
    const node = await RaftNode.start<number>({
      ...nodeOptions,
      ...compact,
      id: 4,
      storage,
      transport,
      stateMachine: sm,
    });
    c.members.set(4, { id: 4, node, transport, sm, storage, port: addr.port, url: addr.url });
    const cs = await leader.node.addVoter(4, { context: encodePeerContext({ url: addr.url }) });
    assert.deepEqual([...cs.voters].sort(), [1, 2, 3, 4]);

    await c.converge(names("a", 30));
    assert.equal(sm.restores, 1, "node 4 restored a snapshot");
    // The acknowledgement travels on another connection than node 4's
    // replies, so it may arrive after node 4 has caught up.
    const sentTo4 = () => leader.transport.metrics().peers.find((p) => p.id === 4)!;
    await waitFor(
      () => sentTo4().snapshotsSent >= 1,
      "the leader to see the snapshot acknowledged",
    );
    const sent = sentTo4();
    assert.ok(sent.framesSent > 3, "in several chunks");
    assert.ok(transport.metrics().peers.some((p) => p.snapshotsReceived >= 1));
    for (const m of c.members.values()) {
      if (m.id === 4) continue;
      assert.equal(
        m.transport.metrics().peers.find((p) => p.id === 4)?.url,
        addr.url,
        `node ${m.id} learned node 4's address`,
      );
    }
    // The four of them replicate new entries.
    await c.propose(leader, "b", 5);
    await c.converge([...names("a", 30), ...names("b", 5)]);
  });
});
