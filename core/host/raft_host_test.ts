import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryHostNetwork, VirtualScheduler } from "../../adapters/memory/mod.ts";
import { type Hosts, startHosts } from "../../tests/_hosts.ts";
import { GroupNotFoundError, NodeClosedError } from "../errors.ts";
import { logMachine } from "../../tests/_util.ts";
import { StateType } from "../types.ts";
import { MemoryHostStorage } from "./memory_host_storage.ts";
import { RaftHost } from "./raft_host.ts";
import type { GroupId, HostId } from "./seams.ts";

// Tick 10 ms, election timeout 10 ticks; frames take 1 ms. Times are virtual.

const enc = new TextEncoder();

const groupIds = Array.from({ length: 16 }, (_, i) => i + 1);

function threeHosts(quiesce = true): Promise<Hosts> {
  return startHosts([1, 2, 3], groupIds, { quiesce });
}

async function withHosts(fn: (h: Hosts) => Promise<void>, quiesce = true): Promise<void> {
  const h = await threeHosts(quiesce);
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

test("RaftHost runs 16 groups on each of 3 hosts with one tick timer per host", async () => {
  await withHosts(async (h) => {
    const leaders = await h.allLed(groupIds);
    const perHost = h.ids.map((id) => [...leaders.values()].filter((l) => l === id).length);
    assert.equal(perHost.reduce((a, b) => a + b), 16);
    for (const id of h.ids) {
      const s = h.site(id);
      assert.equal(s.scheduler.live, 1, `host ${id} has ${s.scheduler.live} timers`);
      const st = s.host.status();
      assert.deepEqual(st.groupIds, groupIds);
      assert.equal(st.withoutLeader, 0);
      assert.deepEqual(st.leading, groupIds.filter((g) => leaders.get(g) === id));
      assert.ok(st.ticks > 0);
    }
  });
});

test("RaftHost serves proposals and linearizable reads on every group", async () => {
  await withHosts(async (h) => {
    const leaders = await h.allLed(groupIds);
    const results = await h.clock.run(Promise.all(
      groupIds.map((g) => h.site(leaders.get(g)!).host.group(g).propose(enc.encode(`g${g}=1`))),
    ));
    assert.deepEqual(results, groupIds.map(() => 1));
    // A read on any host, after the write was acknowledged, sees it.
    for (const g of groupIds) {
      for (const id of h.ids) {
        const s = h.site(id);
        const seen = await h.clock.run(s.host.group(g).read(() => s.logs.get(g)!.slice()));
        assert.deepEqual(seen, [`g${g}=1`], `group ${g} on host ${id}`);
      }
    }
    // Messages of many groups share frames.
    for (const id of h.ids) {
      const t = h.site(id).host.status().transport;
      assert.ok(t.sendBatches * 4 < t.messagesSent, JSON.stringify(t));
      assert.equal(t.droppedUnknownGroup, 0);
    }
  }, false); // every group heartbeats: their messages share the frames
});

test("RaftHost writes the saves of many groups as one storage batch", async () => {
  await withHosts(async (h) => {
    let leaders = await h.allLed(groupIds);
    // Every group led by host 1.
    await h.clock.run(Promise.all(
      groupIds.filter((g) => leaders.get(g) !== 1).map((g) =>
        h.site(leaders.get(g)!).host.group(g).transferLeadership(1)
      ),
    ));
    leaders = await h.allLed(groupIds);
    assert.ok([...leaders.values()].every((l) => l === 1));
    await h.clock.advance(100);
    const before = h.ids.map((id) => h.site(id).storage.stats);
    const host1 = h.site(1).host;
    const hops = h.site(1).scheduler.hops;
    await h.clock.run(Promise.all(groupIds.map((g) => host1.group(g).propose(enc.encode("x")))));
    // The groups' hops to pending I/O before their writes share one per
    // turn, as do the storage batch and the outbound messages: 7 hops in
    // this run for 16 groups (37 with a hop per group).
    const hopsTaken = h.site(1).scheduler.hops - hops;
    assert.ok(hopsTaken <= 8, `${hopsTaken} hops for 16 proposals`);
    for (const [i, id] of h.ids.entries()) {
      const now = h.site(id).storage.stats;
      const batches = now.batches - before[i]!.batches;
      const saves = now.saves - before[i]!.saves;
      // The leader appends 16 entries, then learns 16 commit indexes:
      // two turns, two batches; a follower's 16 appends arrive in one frame.
      assert.ok(saves >= 16, `host ${id}: ${saves} saves`);
      assert.ok(batches <= 2, `host ${id}: ${batches} batches for ${saves} saves`);
    }
    const s1 = host1.status().storage;
    assert.ok(s1.largestBatchSaves >= 16, JSON.stringify(s1));
  });
});

test("RaftHost adds and removes a group at run time and drops messages for a group it lacks", async () => {
  await withHosts(async (h) => {
    await h.allLed(groupIds);
    for (const id of h.ids) await h.addGroup(id, 17, h.ids);
    const leaders = await h.allLed([17]);
    const lead = leaders.get(17)!;
    assert.equal(await h.clock.run(h.site(lead).host.group(17).propose(enc.encode("a"))), 1);
    // Host 3 (a follower, or the leader) drops its replica; the others go on sending to it.
    const gone: HostId = lead === 3 ? 2 : 3;
    await h.clock.run(h.site(gone).host.removeGroup(17, { deleteData: true }));
    assert.equal(h.site(gone).host.hasGroup(17), false);
    assert.deepEqual(h.site(gone).storage.groupIds(), groupIds);
    assert.throws(() => h.site(gone).host.group(17), (e) => {
      assert.ok(e instanceof GroupNotFoundError);
      assert.equal(e.code, "group_not_found");
      assert.equal(e.groupId, 17);
      return true;
    });
    await h.clock.advance(200);
    const dropped = h.site(gone).host.status().transport.droppedUnknownGroup;
    assert.ok(dropped >= 10, `${dropped} messages dropped`);
    // The other 16 groups go on.
    const l1 = (await h.allLed([1])).get(1)!;
    assert.equal(await h.clock.run(h.site(l1).host.group(1).propose(enc.encode("b"))), 1);
    // Adding it twice is refused; a removed group can be added again.
    await assert.rejects(h.addGroup(lead, 17, h.ids), /Cannot add group 17: host \d runs it/);
    await assert.rejects(
      h.site(gone).host.removeGroup(17),
      (e) => e instanceof GroupNotFoundError,
    );
  });
});

test("RaftHost recovers every group after a host restarts and loses no acknowledged write", async () => {
  await withHosts(async (h) => {
    await h.allLed(groupIds);
    const acked = new Map<GroupId, string[]>(groupIds.map((g) => [g, []]));
    /** Proposes one write per group through its leader; records the acknowledged ones. */
    const round = async (tag: string): Promise<void> => {
      await h.clock.run(Promise.all(groupIds.map(async (g) => {
        for (const s of h.sites.values()) {
          if (!s.host.hasGroup(g) || s.host.closed) continue;
          const node = s.host.group(g);
          if (node.status().raftState !== StateType.StateLeader) continue;
          const cmd = `${tag}${g}`;
          try {
            await node.propose(enc.encode(cmd), { timeoutMs: 500 });
            acked.get(g)!.push(cmd);
          } catch {
            // Not acknowledged: may or may not be applied.
          }
        }
      })));
    };
    await round("a");
    // Host 2 stops while writes are in flight, and restarts from its storage.
    const old = h.site(2);
    const inFlight = round("b");
    await h.clock.advance(1);
    await h.clock.run(old.host.close());
    await assert.rejects(
      old.host.addGroup({ groupId: 99, stateMachine: logMachine([]) }),
      NodeClosedError,
    );
    await inFlight;
    // Hosts 1 and 3 elect a leader for the groups host 2 led.
    await h.allLed(groupIds);
    await round("c");
    const site = await h.startHost(2, old.storage);
    assert.deepEqual(old.storage.groupIds(), groupIds);
    for (const g of old.storage.groupIds()) await h.addGroup(2, g, undefined);
    const leaders = await h.allLed(groupIds);
    await round("d");
    // Every replica applies every acknowledged write, in one order.
    await h.clock.until(() =>
      groupIds.every((g) => {
        const commit = h.site(leaders.get(g)!).host.group(g).status().commit;
        return h.ids.every((id) => h.site(id).host.group(g).status().applied >= commit);
      }), 5_000);
    for (const g of groupIds) {
      const want = acked.get(g)!;
      assert.ok(want.length >= 3, `group ${g}: ${want.length} acknowledged writes`);
      for (const id of h.ids) {
        const log = h.site(id).logs.get(g)!;
        for (const cmd of want) assert.ok(log.includes(cmd), `group ${g}, host ${id} lost ${cmd}`);
        assert.deepEqual(log, h.site(1).logs.get(g), `group ${g}: host ${id} differs`);
      }
    }
    assert.equal(site.scheduler.live, 1);
  });
});

test("RaftHost refuses invalid options with a sentence", async () => {
  const clock = new VirtualScheduler();
  const net = new MemoryHostNetwork({ scheduler: clock });
  const storage = new MemoryHostStorage();
  await assert.rejects(
    RaftHost.start({ hostId: 0, transport: net.connect(9), storage, scheduler: clock }),
    {
      name: "RangeError",
      message: "Cannot start RaftHost as 'hostId' must be a positive integer: current value 0",
    },
  );
  await assert.rejects(
    RaftHost.start({ hostId: 1, transport: net.connect(1), storage, tickMs: -1 }),
    /Cannot start RaftHost as 'tickMs' must be a positive number: current value -1/,
  );
  await assert.rejects(
    // @ts-expect-error: the storage is missing
    RaftHost.start({ hostId: 2, transport: net.connect(2) }),
    { name: "TypeError", message: "Cannot start RaftHost as 'storage' is missing" },
  );
  const host = await RaftHost.start({
    hostId: 3,
    transport: net.connect(3),
    storage,
    scheduler: clock,
  });
  await assert.rejects(
    host.addGroup({ groupId: 1.5, stateMachine: logMachine([]) }),
    /Cannot add a group as 'groupId' must be a positive integer: current value 1.5/,
  );
  await assert.rejects(
    host.addGroup({ groupId: 1, stateMachine: logMachine([]), electionTick: 0 }),
    RangeError,
  );
  assert.equal(host.hasGroup(1), false);
  assert.deepEqual(storage.groupIds(), [], "a group that never started leaves no state");
  await clock.run(host.close());
  net.close();
});

test("RaftHost groups led by a partitioned host elect a leader elsewhere, and it catches up once healed", async () => {
  await withHosts(async (h) => {
    const leaders = await h.allLed(groupIds);
    // Cut off the host that leads the most groups.
    const led = (id: HostId): number => [...leaders.values()].filter((l) => l === id).length;
    const cut = [...h.ids].sort((a, b) => led(b) - led(a))[0]!;
    const rest = h.ids.filter((id) => id !== cut);
    assert.ok(led(cut) >= 6, `host ${cut} leads ${led(cut)} groups`);
    h.net.partition([cut], rest);
    const leaderAmong = (g: GroupId): HostId | undefined =>
      rest.find((id) => h.site(id).host.group(g).status().raftState === StateType.StateLeader);
    await h.clock.until(() => groupIds.every((g) => leaderAmong(g) !== undefined), 5_000);
    await h.clock.run(Promise.all(
      groupIds.map((g) => h.site(leaderAmong(g)!).host.group(g).propose(enc.encode(`p${g}`))),
    ));
    assert.ok(h.net.stats.dropped > 0);
    h.net.heal();
    await h.clock.until(
      () => groupIds.every((g) => h.site(cut).logs.get(g)!.includes(`p${g}`)),
      5_000,
    );
    assert.deepEqual(h.site(cut).host.status().leading, []);
  });
});
