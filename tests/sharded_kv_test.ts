/**
 * The sharded key-value store's parts in one process, on virtual time:
 * 3 hosts × 8 groups (MemoryHostNetwork, MemoryHostStorage), the leader
 * balancer, and the HTTP API of each host (requests through `app.request`,
 * redirects followed by the test's client).
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryHostNetwork, VirtualScheduler } from "../adapters/memory/mod.ts";
import { MemberDirectory, type RaftApp } from "../adapters/hono/mod.ts";
import { MemoryHostStorage, RaftHost } from "../mod.ts";
import type { GroupId, HostId } from "../mod.ts";
import {
  createShardedKvApp,
  groupOfKey,
  LeaderBalancer,
  preferredLeader,
} from "../examples/_sharded_kv.ts";
import { type KvResult, KvStore } from "../examples/_kv_store.ts";
import { parseShardedKvConfig } from "../examples/_sharded_kv_config.ts";
import { CliError } from "../examples/_cli.ts";

const hostIds: HostId[] = [1, 2, 3];
const groups = 8;
const urlOf = (h: HostId): string => `http://127.0.0.1:${8000 + h}`;

interface Site {
  host: RaftHost<KvResult>;
  stores: Map<GroupId, KvStore>;
  app: RaftApp;
  balancer: LeaderBalancer;
}

async function startSites(clock: VirtualScheduler, net: MemoryHostNetwork): Promise<Site[]> {
  const directory = new MemberDirectory();
  for (const h of hostIds) directory.set(h, { apiUrl: urlOf(h) });
  const sites: Site[] = [];
  for (const h of hostIds) {
    const host = await RaftHost.start<KvResult>({
      hostId: h,
      transport: net.connect(h),
      storage: new MemoryHostStorage(),
      scheduler: clock,
      tickMs: 10,
      groupDefaults: { electionTick: 10, heartbeatTick: 1, preVote: true, checkQuorum: true },
    });
    const stores = new Map<GroupId, KvStore>();
    for (let g = 1; g <= groups; g++) {
      const store = new KvStore();
      stores.set(g, store);
      await host.addGroup({ groupId: g, peers: hostIds, stateMachine: store });
    }
    const app = createShardedKvApp(host, stores, { directory, selfUrl: urlOf(h) });
    const balancer = new LeaderBalancer(host, { intervalMs: 100, scheduler: clock });
    sites.push({ host, stores, app, balancer });
  }
  return sites;
}

/** Sends a request to a host's app, following redirects to other hosts (3 at most). */
async function request(
  clock: VirtualScheduler,
  sites: Site[],
  h: HostId,
  path: string,
  init: RequestInit = {},
): Promise<Response> {
  let url = `${urlOf(h)}${path}`;
  for (let hop = 0; hop < 3; hop++) {
    const port = Number(new URL(url).port);
    const site = sites[port - 8001]!;
    const res = await clock.run(Promise.resolve(site.app.request(url, init)));
    if (res.status !== 307) return res;
    await res.body?.cancel();
    url = res.headers.get("location")!;
  }
  throw new Error(`too many redirects for ${path}`);
}

test("keys map to groups evenly, and each group prefers one host round-robin", () => {
  const counts = new Array(groups + 1).fill(0);
  for (let i = 0; i < 8000; i++) counts[groupOfKey(`key-${i}`, groups)]++;
  assert.equal(counts[0], 0);
  for (let g = 1; g <= groups; g++) assert.ok(counts[g] > 800 && counts[g] < 1200, `${counts}`);
  assert.equal(groupOfKey("a", 1), 1);
  assert.deepEqual([1, 2, 3, 4].map((g) => preferredLeader(g, [3, 1, 2])), [1, 2, 3, 1]);
  assert.equal(preferredLeader(1, []), 0);
});

test("3 hosts × 8 groups: leaders balance to their preferred hosts, writes on any host reach their group", async () => {
  const clock = new VirtualScheduler();
  const net = new MemoryHostNetwork({ scheduler: clock, delayMs: 1 });
  const sites = await startSites(clock, net);
  try {
    for (const s of sites) {
      for (let g = 1; g <= groups; g++) await clock.run(s.host.group(g).waitForLeader());
    }
    // Balancing: within a few rounds every group is led by its preferred host.
    await clock.run(new Promise<void>((r) => clock.setTimeout(r, 2000)));
    for (let g = 1; g <= groups; g++) {
      const want = preferredLeader(g, hostIds);
      for (const s of sites) assert.equal(s.host.group(g).status().leaderId, want, `group ${g}`);
    }
    const perHost = sites.map((s) => s.host.status().leading.length);
    assert.deepEqual(perHost, [3, 3, 2]);
    // A second look moves nothing.
    assert.equal(sites.reduce((n, s) => n + s.balancer.balanceOnce(), 0), 0);

    // Writes through every host, to keys of every group; reads through another host.
    const keys = Array.from({ length: 48 }, (_, i) => `user/${i}`);
    for (const [i, key] of keys.entries()) {
      const res = await request(clock, sites, hostIds[i % 3]!, `/kv/${key}`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ value: `v${i}` }),
      });
      assert.equal(res.status, 200, await res.clone().text());
    }
    for (const [i, key] of keys.entries()) {
      const res = await request(clock, sites, hostIds[(i + 1) % 3]!, `/kv/${key}`);
      assert.equal(res.status, 200);
      assert.equal((await res.json()).value, `v${i}`);
      // The key lives in its group's store only.
      const g = groupOfKey(key, groups);
      for (let other = 1; other <= groups; other++) {
        assert.equal(sites[0]!.stores.get(other)!.get(key) !== null, other === g);
      }
    }
    // A listing merges every group, in key order, with the limit.
    const list = await request(clock, sites, 2, `/kv?prefix=user/&limit=10`);
    const body = await list.json();
    assert.deepEqual(
      body.items.map((it: { key: string }) => it.key),
      [...keys].sort().slice(0, 10),
    );
    assert.equal(body.more, true);

    // The host's status names the groups and the leaders per host.
    const st = await (await request(clock, sites, 3, "/raft/status")).json();
    assert.equal(st.groups, groups);
    assert.deepEqual(st.leadersPerHost, { 1: 3, 2: 3, 3: 2 });
    assert.deepEqual(st.leading, [3, 6]);
    const gs = await (await request(clock, sites, 1, "/raft/groups")).json();
    assert.equal(gs.groups.length, groups);
    assert.equal(gs.groups.filter((g: { role: string }) => g.role === "leader").length, 3);
    assert.equal((await request(clock, sites, 1, "/readyz")).status, 200);
    const page = await request(clock, sites, 1, "/");
    assert.match(await page.text(), /sharded key-value store/);
  } finally {
    for (const s of sites) s.balancer.stop();
    await clock.run(Promise.all(sites.map((s) => s.host.close())));
    net.close();
  }
});

test("a preferred host that is partitioned away leads nothing; healed, it takes its groups back", async () => {
  const clock = new VirtualScheduler();
  const net = new MemoryHostNetwork({ scheduler: clock, delayMs: 1 });
  const sites = await startSites(clock, net);
  try {
    await clock.run(new Promise<void>((r) => clock.setTimeout(r, 2000)));
    assert.equal(sites[1]!.host.status().leading.length, 3);
    net.partition([2], [1, 3]);
    await clock.run(new Promise<void>((r) => clock.setTimeout(r, 2000)));
    // Hosts 1 and 3 lead all 8 groups between them.
    assert.equal(
      sites[0]!.host.status().leading.length + sites[2]!.host.status().leading.length,
      groups,
    );
    net.heal();
    await clock.run(new Promise<void>((r) => clock.setTimeout(r, 3000)));
    for (let g = 1; g <= groups; g++) {
      assert.equal(sites[0]!.host.group(g).status().leaderId, preferredLeader(g, hostIds));
    }
  } finally {
    for (const s of sites) s.balancer.stop();
    await clock.run(Promise.all(sites.map((s) => s.host.close())));
    net.close();
  }
});

test("the leader balancer looks less often while nothing changes, and again soon after a change", async () => {
  const clock = new VirtualScheduler();
  const net = new MemoryHostNetwork({ scheduler: clock, delayMs: 1 });
  const sites = await startSites(clock, net);
  try {
    await clock.run(new Promise<void>((r) => clock.setTimeout(r, 2000)));
    const site = sites[0]!;
    // Balanced: every look moves nothing, so the interval grows to its bound (16 × 100 ms).
    await clock.run(new Promise<void>((r) => clock.setTimeout(r, 5000)));
    assert.equal(site.balancer.intervalMs, 1600);
    let looks = 0;
    const status = site.host.group(1).status.bind(site.host.group(1));
    site.host.group(1).status = () => {
      looks++;
      return status();
    };
    await clock.run(new Promise<void>((r) => clock.setTimeout(r, 3200)));
    assert.ok(looks >= 1 && looks <= 3, `${looks} looks in 3.2 s`);
    // A group of host 1 changes leader: the interval is back at once, and balancing follows.
    const moved = site.host.status().leading[0]!;
    await clock.run(site.host.group(moved).transferLeadership(2));
    assert.equal(site.balancer.intervalMs, 100);
    await clock.run(new Promise<void>((r) => clock.setTimeout(r, 1000)));
    assert.equal(site.host.group(moved).status().leaderId, 1, "the group came back to host 1");
  } finally {
    for (const s of sites) s.balancer.stop();
    await clock.run(Promise.all(sites.map((s) => s.host.close())));
    net.close();
  }
});

test("sharded_kv's flags: defaults, and one-line errors naming the flag", () => {
  const peers = "1=http://127.0.0.1:8001,2=http://127.0.0.1:8002";
  const urls = "1=ws://127.0.0.1:9001,2=ws://127.0.0.1:9002";
  const c = parseShardedKvConfig(
    ["--id", "1", "--peer-listen", "127.0.0.1:9001"],
    { RAFT_PEERS: peers, RAFT_PEER_URLS: urls, RAFT_SECRET: "0123456789abcdef" },
  );
  assert.equal(c.groups, 16);
  assert.equal(c.quiesce, true);
  assert.equal(c.sqliteWriter, "inline");
  assert.equal(
    parseShardedKvConfig(["--id", "1", "--sqlite-writer", "worker"], {}).sqliteWriter,
    "worker",
  );
  assert.equal(
    parseShardedKvConfig(["--id", "1", "--quiesce", "off"], {}).quiesce,
    false,
  );
  assert.equal(c.peers.size, 2);
  assert.deepEqual(c.peerListen, { hostname: "127.0.0.1", port: 9001 });
  const bad = (args: string[], env: Record<string, string>, re: RegExp): void => {
    assert.throws(() => parseShardedKvConfig(args, env), (e: Error) => {
      assert.ok(e instanceof CliError && e.exitCode === 2, String(e));
      assert.match(e.message, re);
      return true;
    });
  };
  bad([], {}, /--id/);
  bad(["--id", "1", "--groups", "0"], {}, /--groups/);
  bad(["--id", "3"], { RAFT_PEERS: peers }, /must include this host/);
  bad(["--id", "1"], { RAFT_PEERS: peers, RAFT_SECRET: "0123456789abcdef" }, /--peer-listen/);
  bad(["--id", "1", "--peer-listen", "127.0.0.1:9001"], {
    RAFT_PEERS: peers,
    RAFT_PEER_URLS: "1=ws://127.0.0.1:9001",
    RAFT_SECRET: "0123456789abcdef",
  }, /no URL for host 2/);
  bad(["--id", "1", "--peer-listen", "127.0.0.1:9001"], {
    RAFT_PEERS: peers,
    RAFT_PEER_URLS: urls,
  }, /secret/);
  bad(["--id", "1", "--bogus"], {}, /unknown flag '--bogus'/);
  bad(["--id", "1", "--quiesce", "maybe"], {}, /--quiesce/);
  bad(["--id", "1", "--sqlite-writer", "thread"], {}, /--sqlite-writer/);
});
