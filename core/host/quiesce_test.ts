import { test } from "node:test";
import assert from "node:assert/strict";
import { type Hosts, type HostsOptions, startHosts } from "../../tests/_hosts.ts";
import { MessageType, newMessage, ReadOnlyOption, StateType } from "../types.ts";
import type { GroupId, HostId, HostTransport } from "./seams.ts";
import { hostGroupId, readHostNotices } from "./host_wire.ts";

// Tick 10 ms, election timeout 10 ticks, heartbeat every tick; frames take
// 1 ms. Times are virtual.

const enc = new TextEncoder();
const tickMs = 10;
const electionTick = 10;

function range(n: number): GroupId[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}

async function withIdleHosts(
  groups: number,
  options: HostsOptions,
  fn: (h: Hosts, groupIds: GroupId[], leaders: Map<GroupId, HostId>) => Promise<void>,
): Promise<void> {
  const groupIds = range(groups);
  const h = await startHosts([1, 2, 3], groupIds, options);
  try {
    const leaders = await h.allLed(groupIds);
    if (options.quiesce !== false) {
      await h.clock.until(() => h.ids.every((id) => h.site(id).host.status().quiesced === groups));
    }
    await fn(h, groupIds, leaders);
  } finally {
    await h.close();
  }
}

/** Messages (of groups and hosts) the network carried in one virtual second. */
async function messagesPerSecond(h: Hosts): Promise<number> {
  const before = h.net.stats.messages;
  await h.clock.advance(1000);
  return h.net.stats.messages - before;
}

/** The host with the most leaders, and the groups it leads. */
function busiestLeader(leaders: Map<GroupId, HostId>): { host: HostId; led: GroupId[] } {
  const led = new Map<HostId, GroupId[]>();
  for (const [g, l] of leaders) led.set(l, [...(led.get(l) ?? []), g]);
  const [host, groups] = [...led].sort((a, b) => b[1].length - a[1].length)[0]!;
  return { host, led: groups };
}

test("RaftHost lets idle groups rest: only host-level heartbeats go, as many for 64 groups as for 16", async () => {
  const rates: number[] = [];
  for (const groups of [16, 64]) {
    await withIdleHosts(groups, {}, async (h) => {
      const rate = await messagesPerSecond(h);
      rates.push(rate);
      for (const id of h.ids) {
        const st = h.site(id).host.status();
        assert.equal(st.quiesced, groups, `host ${id}`);
        assert.ok(st.quiescence.hostHeartbeatsSent > 0);
        assert.ok(st.quiescence.hostHeartbeatsReceived > 0);
      }
    });
  }
  // 3 hosts, each to its 2 peers, once per tick (heartbeatTick 1): 600 a second.
  assert.deepEqual(rates, [600, 600]);
});

test("RaftHost with quiescence off keeps every group ticking and heartbeating", async () => {
  await withIdleHosts(16, { quiesce: false }, async (h) => {
    await h.clock.advance(500);
    const rate = await messagesPerSecond(h);
    // 16 leaders, each a heartbeat and its response per follower per tick.
    assert.equal(rate, 16 * 2 * 2 * (1000 / tickMs));
    for (const id of h.ids) {
      const st = h.site(id).host.status();
      assert.equal(st.quiesced, 0);
      assert.equal(st.quiescence.hostHeartbeatsSent, 0);
      assert.equal(st.transport.heartbeatsCoalesced, 0);
    }
  });
});

test("RaftHost wakes a resting group for a proposal and a follower's read, then lets it rest again", async () => {
  await withIdleHosts(16, {}, async (h, groupIds, leaders) => {
    const g = groupIds[0]!;
    const leader = h.site(leaders.get(g)!);
    assert.equal(leader.host.isQuiesced(g), true);
    const proposed = leader.host.group(g).propose(enc.encode("x"));
    assert.equal(leader.host.status().quiesced, 15, "the proposal woke its group at once");
    assert.equal(leader.host.isQuiesced(g), false);
    assert.equal(leader.host.isQuiesced(groupIds[1]!), true);
    assert.equal(leader.host.isQuiesced(9999), false, "a group the host does not run");
    assert.equal(await h.clock.run(proposed), 1);
    const follower = h.site(h.ids.find((id) => id !== leaders.get(g))!);
    const seen = await h.clock.run(
      follower.host.group(g).read(() => follower.logs.get(g)!.slice()),
    );
    assert.deepEqual(seen, ["x"]);
    assert.ok(leader.host.status().quiescence.wakes >= 1);
    await h.clock.until(() => h.ids.every((id) => h.site(id).host.status().quiesced === 16));
    assert.ok(h.ids.every((id) => h.site(id).host.isQuiesced(g)));
    // Nothing else moved: the other groups kept their leaders and terms.
    for (const other of groupIds) assert.equal(h.leaderOf(other), leaders.get(other));
  });
});

test("RaftHost folds the heartbeats of awake groups into one host-level message per peer host", async () => {
  await withIdleHosts(16, {}, async (h, groupIds, leaders) => {
    // Every group busy for a while: a write after another, for 300 ms.
    const until = h.clock.nowMs() + 300;
    const busy = async (g: GroupId): Promise<void> => {
      const node = h.site(leaders.get(g)!).host.group(g);
      for (let i = 0; h.clock.nowMs() < until; i++) await node.propose(enc.encode(`${i}`));
    };
    await h.clock.run(Promise.all(groupIds.map(busy)));
    const leading = new Set(leaders.values());
    for (const id of h.ids) {
      const t = h.site(id).host.status().transport;
      if (leading.has(id)) assert.ok(t.heartbeatsCoalesced > 0, `host ${id}`);
      assert.ok(t.heartbeatsExpanded > 0, `host ${id}`);
    }
  });
});

/**
 * Waits until each of `led` has a leader among `rest` in a later term
 * than `terms` gives, agreed by all of `rest`, and checks that it took no
 * longer than the bound of quiescence from `t0`: the liveness timeout
 * (electionTick ticks from the last frame heard), the heartbeatTick (1) +
 * 2 ticks before the chosen replica campaigns, a PreVote and a vote round
 * trip (4 × 1 ms and the turns between). (Were that replica lost too, the
 * others would wake one tick later and elect on their randomized election
 * timeout, below 2 × electionTick ticks.)
 */
async function electedWithinBound(
  h: Hosts,
  led: readonly GroupId[],
  rest: readonly HostId[],
  terms: ReadonlyMap<GroupId, number>,
  t0: number,
): Promise<void> {
  const elected = (g: GroupId): boolean => {
    const lead = h.site(rest[0]!).host.group(g).status().leaderId;
    return rest.includes(lead) && rest.every((id) => {
      const st = h.site(id).host.group(g).status();
      return st.leaderId === lead && st.term > terms.get(g)!;
    }) && h.site(lead).host.group(g).status().raftState === StateType.StateLeader;
  };
  await h.clock.until(() => led.every(elected), 5_000);
  const tookMs = h.clock.nowMs() - t0;
  const boundMs = (electionTick + 1 + 2) * tickMs + 10;
  assert.ok(tookMs <= boundMs, `took ${tookMs} ms, bound ${boundMs} ms`);
}

/** Connects host `id` to the network as a bare transport that ignores what it receives. */
function bareHost(h: Hosts, id: HostId): HostTransport {
  const t = h.net.connect(id);
  t.start({ hostId: id, receive: () => {}, reportUnreachable: () => {}, reportSnapshot: () => {} });
  return t;
}

/** Group 1's leader, once one is elected, moved off host 4 if it is there. */
async function leaderBesides4(h: Hosts): Promise<HostId> {
  const lead = (await h.allLed([1])).get(1)!;
  if (lead !== 4) return lead;
  await h.clock.run(h.site(4).host.group(1).transferLeadership(1));
  return (await h.allLed([1])).get(1)!;
}

for (const fault of ["partition", "crash"] as const) {
  test(`RaftHost: when the leader host of resting groups is lost (${fault}), each group elects within the bound`, async () => {
    await withIdleHosts(16, {}, async (h, _groupIds, leaders) => {
      const { host: lost, led } = busiestLeader(leaders);
      const rest = h.ids.filter((id) => id !== lost);
      const terms = new Map(led.map((g) => [g, h.site(lost).host.group(g).status().term]));
      const t0 = h.clock.nowMs();
      if (fault === "partition") h.net.partition([lost], rest);
      else await h.clock.run(h.site(lost).host.close());
      await electedWithinBound(h, led, rest, terms, t0);
      for (const id of rest) {
        assert.ok(h.site(id).host.status().quiescence.livenessWakes >= led.length);
      }
      if (fault === "crash") return;
      // Healed: the old leader's replicas learn the newer term and catch up
      // (the new leaders rested without waiting for them; its host coming
      // back wakes them). First, let everything rest on both sides.
      await h.clock.advance(300);
      h.net.heal();
      const caughtUp = (g: GroupId): boolean => {
        const lead = h.leaderOf(g);
        if (lead === undefined) return false;
        const last = h.site(lead).host.group(g).status().lastIndex;
        return h.site(lost).host.group(g).status().lastIndex === last;
      };
      await h.clock.until(() => led.every(caughtUp), 2_000);
    });
  });
}

test("RaftHost: a follower woken after its leader host crashed, before the silence is noticed, still elects within the bound", async () => {
  // Host simulation seed 21567395: a replica left on a host that was down
  // while it was removed campaigned and woke a resting follower 46 ms after
  // the leader host crashed. Awake, that follower kept its leader's lease
  // and was the voter chosen to campaign, yet did not: the group waited a
  // randomized election timeout. Here host 9, in no group, sends every
  // follower of the crashed host's groups a vote 20 ms after the crash.
  await withIdleHosts(16, {}, async (h, _groupIds, leaders) => {
    const { host: lost, led } = busiestLeader(leaders);
    const rest = h.ids.filter((id) => id !== lost);
    const terms = new Map(led.map((g) => [g, h.site(lost).host.group(g).status().term]));
    const stray = bareHost(h, 9);
    const t0 = h.clock.nowMs();
    await h.clock.run(h.site(lost).host.close());
    await h.clock.advance(20);
    const wokenBefore = rest.map((id) => h.site(id).host.status().quiesced);
    stray.send(led.flatMap((g) =>
      rest.map((to) => ({
        groupId: g,
        message: newMessage({
          type: MessageType.MsgVote,
          from: 9,
          to,
          term: terms.get(g)! + 1,
          logTerm: 1,
          index: 1,
        }),
      }))
    ));
    await h.clock.advance(5);
    rest.forEach((id, i) => {
      assert.equal(
        h.site(id).host.status().quiesced,
        wokenBefore[i]! - led.length,
        `the votes woke host ${id}'s replicas`,
      );
    });
    await electedWithinBound(h, led, rest, terms, t0);
    stray.close();
  });
});

test("RaftHost: a follower host cut off from resting groups does not depose their live leaders", async () => {
  await withIdleHosts(16, {}, async (h, groupIds, leaders) => {
    // The host leading the fewest groups is cut off; the groups it does not lead are watched.
    const counts = h.ids.map((id) => [...leaders.values()].filter((l) => l === id).length);
    const cut = h.ids[counts.indexOf(Math.min(...counts))]!;
    const watched = groupIds.filter((g) => leaders.get(g) !== cut);
    const terms = new Map(
      watched.map((g) => [g, h.site(leaders.get(g)!).host.group(g).status().term]),
    );
    h.net.partition([cut], h.ids.filter((id) => id !== cut));
    // Long enough for its replicas to wake, forget their leaders and campaign (PreVote) in vain.
    await h.clock.advance(1000);
    assert.ok(h.site(cut).host.status().quiescence.livenessWakes >= watched.length);
    h.net.heal();
    await h.clock.advance(1000);
    for (const g of watched) {
      assert.equal(h.leaderOf(g), leaders.get(g), `group ${g}`);
      for (const id of h.ids) {
        assert.equal(h.site(id).host.group(g).status().term, terms.get(g), `group ${g} on ${id}`);
      }
    }
  });
});

test("RaftHost: a woken leader serves a lease read only once CheckQuorum confirmed it", async () => {
  const leaseBased = { groupDefaults: { readOnlyOption: ReadOnlyOption.ReadOnlyLeaseBased } };
  await withIdleHosts(4, leaseBased, async (h, groupIds, leaders) => {
    // A leader that still has its quorum serves the read, one election timeout after it wakes.
    const g = groupIds[0]!;
    const leader = h.site(leaders.get(g)!);
    const t0 = h.clock.nowMs();
    await h.clock.run(leader.host.group(g).read());
    // It waited for the CheckQuorum an election timeout after it woke (the first tick comes sooner).
    const waitedMs = h.clock.nowMs() - t0;
    assert.ok(waitedMs > (electionTick - 1) * tickMs, `after ${waitedMs} ms`);

    // A leader cut off while resting never serves it.
    await h.clock.until(() => leader.host.status().quiesced === 4);
    const g2 = groupIds[1]!;
    const cutOff = h.site(leaders.get(g2)!);
    h.net.partition([cutOff.host.hostId], h.ids.filter((id) => id !== cutOff.host.hostId));
    let ran = false;
    const read = cutOff.host.group(g2).read(() => (ran = true), { timeoutMs: 2000 });
    await assert.rejects(h.clock.run(read));
    assert.equal(ran, false);
    assert.notEqual(cutOff.host.group(g2).status().raftState, StateType.StateLeader);
    h.net.heal();
  });
});

test("RaftHost: a resting leader's notice gives each follower at most the commit it acknowledged, so a lagging replica cannot commit entries it does not share", async () => {
  // Every quiesce notice sent, with the log of the host it was sent to at that moment.
  const seen: {
    to: HostId;
    groupId: GroupId;
    commit: number;
    lastIndex: number;
    theirs: number;
  }[] = [];
  /** The hosts, once started (the transports are wrapped before). */
  const ref: { hosts?: Hosts } = {};
  const h = await startHosts([1, 2, 3], [1], {
    wrapTransport: (_id, t) => ({
      start: (handler) => t.start(handler),
      close: () => t.close(),
      send: (batch) => {
        for (const p of batch) {
          if (p.groupId !== hostGroupId) continue;
          const n = readHostNotices(p.message);
          if (typeof n === "string") continue;
          for (const q of n.quiesce) {
            const to = ref.hosts?.sites.get(p.message.to);
            const theirs = to === undefined || to.host.closed || !to.host.hasGroup(q.groupId)
              ? 0
              : to.host.group(q.groupId).status().lastIndex;
            seen.push({
              to: p.message.to,
              groupId: q.groupId,
              commit: q.commit,
              lastIndex: q.lastIndex,
              theirs,
            });
          }
        }
        t.send(batch);
      },
    }),
  });
  ref.hosts = h;
  try {
    const leader = (await h.allLed([1])).get(1)!;
    const lagging = h.ids.find((id) => id !== leader)!;
    const other = h.ids.find((id) => id !== leader && id !== lagging)!;
    // The lagging host is cut off while the group writes and then rests.
    h.net.partition([lagging], [leader, other]);
    for (let i = 0; i < 5; i++) {
      await h.clock.run(h.site(leader).host.group(1).propose(enc.encode(`w${i}`)));
    }
    await h.clock.until(() => h.site(leader).host.isQuiesced(1), 5_000);
    // The notices leave at the end of that turn.
    await h.clock.advance(tickMs);
    const toLagging = seen.filter((s) => s.to === lagging);
    assert.ok(toLagging.length > 0, "the resting leader sent the cut-off host a notice");
    for (const s of seen) {
      assert.ok(
        s.commit <= s.theirs,
        `notice to host ${s.to}: commit ${s.commit} beyond its log (last index ${s.theirs})`,
      );
    }
    assert.ok(toLagging.every((s) => s.commit < s.lastIndex), "the lagging host may not rest");
    // Healed, the lagging host catches up and the group rests again.
    h.net.heal();
    await h.clock.until(() => h.site(lagging).host.group(1).status().applied >= 6, 5_000);
    await h.clock.until(() => h.ids.every((id) => h.site(id).host.isQuiesced(1)), 5_000);
  } finally {
    await h.close();
  }
});

for (const preVote of [true, false]) {
  test(`RaftHost: a replica removed while its host was down campaigns in vain and wakes no resting member (preVote ${preVote})`, async () => {
    let votes = 0;
    const h = await startHosts([1, 2, 3, 4], [1], {
      groupDefaults: { preVote },
      wrapTransport: (id, t) => ({
        ...t,
        send: (batch): void => {
          for (const p of batch) {
            const type = p.message.type;
            if (id === 4 && (type === MessageType.MsgVote || type === MessageType.MsgPreVote)) {
              votes++;
            }
          }
          t.send(batch);
        },
      }),
    });
    try {
      const lead = await leaderBesides4(h);
      const members = [1, 2, 3];
      // Host 4 goes down; its replica is removed meanwhile and never learns it.
      const old = h.site(4);
      await h.clock.run(old.host.close());
      await h.clock.run(h.site(lead).host.group(1).removeNode(4));
      await h.clock.until(() => members.every((id) => h.site(id).host.status().quiesced === 1));
      const term = h.site(lead).host.group(1).status().term;
      const wakes = members.map((id) => h.site(id).host.status().quiescence.wakes);
      votes = 0;
      await h.startHost(4, old.storage);
      await h.addGroup(4, 1, undefined);
      // Host 4's replica campaigns again and again (its election timeout is 100 to 200 ms).
      await h.clock.advance(1000);
      assert.ok(votes >= 3 * 3, `the removed replica sent ${votes} (Pre)Votes`);
      members.forEach((id, i) => {
        const st = h.site(id).host.group(1).status();
        assert.equal(st.term, term, `host ${id} kept its term`);
        assert.equal(st.leaderId, lead, `host ${id} kept its leader`);
        assert.equal(h.site(id).host.status().quiesced, 1, `host ${id} rests`);
        assert.equal(h.site(id).host.status().quiescence.wakes, wakes[i], `host ${id} never woke`);
      });
    } finally {
      await h.close();
    }
  });
}

test("RaftHost drops a message whose sender is not the host that sent it", async () => {
  await withIdleHosts(1, {}, async (h, _groupIds, leaders) => {
    const lead = leaders.get(1)!;
    const victim = h.ids.find((id) => id !== lead)!;
    const term = h.site(victim).host.group(1).status().term;
    const stray = bareHost(h, 9);
    // Host 9 speaks for the leader: a vote at a higher term, sent as if from it.
    stray.send([{
      groupId: 1,
      message: newMessage({ type: MessageType.MsgVote, from: lead, to: victim, term: term + 5 }),
    }]);
    await h.clock.advance(50);
    const st = h.site(victim).host.status();
    assert.equal(st.transport.droppedWrongSender, 1);
    assert.equal(st.quiesced, 1, "it woke nothing");
    assert.equal(h.site(victim).host.group(1).status().term, term);
    stray.close();
  });
});

test("RaftHost: a group drops every message of a member it removed", async () => {
  const h = await startHosts([1, 2, 3, 4], [1], { quiesce: false });
  try {
    const lead = await leaderBesides4(h);
    await h.clock.run(h.site(4).host.close());
    await h.clock.run(h.site(lead).host.group(1).removeNode(4));
    await h.clock.advance(100);
    const follower = [1, 2, 3].find((id) => id !== lead)!;
    const term = h.site(follower).host.group(1).status().term;
    // Whoever speaks as host 4 now: a MsgTimeoutNow would make a follower campaign at once.
    const ghost = bareHost(h, 4);
    ghost.send([{
      groupId: 1,
      message: newMessage({ type: MessageType.MsgTimeoutNow, from: 4, to: follower, term }),
    }]);
    await h.clock.advance(100);
    const st = h.site(follower).host.group(1).status();
    assert.equal(st.term, term);
    assert.equal(st.leaderId, lead);
    ghost.close();
  } finally {
    await h.close();
  }
});

test("RaftHost: a host added to a resting group gets the host-level heartbeats, and its replica rests too", async () => {
  const h = await startHosts([1, 2, 3, 4], []);
  try {
    for (const id of [1, 2, 3]) await h.addGroup(id, 1, [1, 2, 3]);
    await h.clock.until(() =>
      [1, 2, 3].some((id) => h.site(id).host.group(1).status().raftState === StateType.StateLeader)
    );
    const lead = [1, 2, 3].find((id) =>
      h.site(id).host.group(1).status().raftState === StateType.StateLeader
    )!;
    await h.clock.until(() => [1, 2, 3].every((id) => h.site(id).host.status().quiesced === 1));
    // Host 4 shares no group yet: nobody sends it host-level heartbeats.
    const before = h.site(4).host.status().quiescence.hostHeartbeatsReceived;
    await h.clock.advance(200);
    assert.equal(h.site(4).host.status().quiescence.hostHeartbeatsReceived, before);
    await h.clock.run(h.site(lead).host.group(1).addVoter(4));
    await h.addGroup(4, 1, undefined);
    await h.clock.until(
      () => [1, 2, 3, 4].every((id) => h.site(id).host.status().quiesced === 1),
      5_000,
    );
    const received = h.site(4).host.status().quiescence.hostHeartbeatsReceived;
    await h.clock.advance(200);
    assert.ok(h.site(4).host.status().quiescence.hostHeartbeatsReceived > received);
    assert.equal(h.site(4).host.group(1).status().leaderId, lead);
  } finally {
    await h.close();
  }
});
