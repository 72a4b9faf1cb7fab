import { test } from "node:test";
import assert from "node:assert/strict";
import {
  type DenoKvAtomicLike,
  type DenoKvLike,
  type KvKey,
  openDenoKvStorage,
} from "./kv_storage.ts";
import { createDeployApp } from "./main.ts";
import { newEntry } from "../../core/types.ts";

/** An in-memory stand-in for Deno KV: ordered keys, versionstamps, atomic checks. */
class FakeKv implements DenoKvLike {
  readonly data = new Map<string, { key: KvKey; value: unknown; versionstamp: string }>();
  #version = 0;
  commits = 0;

  static #id(key: KvKey): string {
    return JSON.stringify(key);
  }

  static #compare(a: KvKey, b: KvKey): number {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const x = a[i]!;
      const y = b[i]!;
      if (x === y) continue;
      if (typeof x !== typeof y) return typeof x < typeof y ? -1 : 1;
      return x < y ? -1 : 1;
    }
    return a.length - b.length;
  }

  get(key: KvKey): Promise<{ value: unknown; versionstamp: string | null }> {
    const r = this.data.get(FakeKv.#id(key));
    return Promise.resolve(r === undefined ? { value: null, versionstamp: null } : r);
  }

  async *list(
    selector: { prefix: KvKey },
  ): AsyncIterable<{ key: readonly unknown[]; value: unknown }> {
    const p = selector.prefix;
    const rows = [...this.data.values()]
      .filter((r) => r.key.length > p.length && p.every((x, i) => r.key[i] === x))
      .sort((a, b) => FakeKv.#compare(a.key, b.key));
    for (const r of rows) yield { key: r.key, value: r.value };
  }

  atomic(): DenoKvAtomicLike {
    const checks: { key: KvKey; versionstamp: string | null }[] = [];
    const ops: (() => void)[] = [];
    const op: DenoKvAtomicLike = {
      check: (...cs) => {
        checks.push(...cs);
        return op;
      },
      set: (key, value) => {
        ops.push(() => {
          const v = value instanceof Uint8Array ? value.slice() : structuredClone(value);
          this.data.set(FakeKv.#id(key), { key: [...key], value: v, versionstamp: "" });
        });
        return op;
      },
      delete: (key) => {
        ops.push(() => this.data.delete(FakeKv.#id(key)));
        return op;
      },
      commit: () => {
        for (const c of checks) {
          if ((this.data.get(FakeKv.#id(c.key))?.versionstamp ?? null) !== c.versionstamp) {
            return Promise.resolve({ ok: false });
          }
        }
        const stamp = String(++this.#version).padStart(20, "0");
        const before = new Set(this.data.keys());
        for (const o of ops) o();
        for (const [k, r] of this.data) {
          if (!before.has(k) || r.versionstamp === "") r.versionstamp = stamp;
        }
        this.commits++;
        return Promise.resolve({ ok: true });
      },
    };
    return op;
  }
}

const put = (value: string): RequestInit => ({
  method: "PUT",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ value }),
});

async function waitLeader(node: { waitForLeader(): Promise<number> }): Promise<void> {
  await node.waitForLeader();
}

test("DenoKvStorage keeps the log, HardState and snapshots across restarts", async () => {
  const kv = new FakeKv();
  const a = await createDeployApp({ kv, snapshotEntries: 10, tickMs: 5 });
  await waitLeader(a.node);
  for (let i = 0; i < 25; i++) {
    const res = await a.fetch(new Request(`http://x/kv/k${i % 7}`, put(`v${i}`)));
    assert.equal(res.status, 200, await res.text());
  }
  const big = "x".repeat(16 * 1024);
  assert.equal((await a.fetch(new Request("http://x/kv/big", put(big)))).status, 200);
  const before = a.node.status();
  assert.ok(before.snapshotIndex > 0, "a snapshot was taken");
  await a.close();
  // Compaction removed the entries covered by the snapshot.
  const logKeys = [...kv.data.values()].filter((r) => r.key[1] === "log").map((r) =>
    r.key[2] as number
  );
  assert.ok(
    Math.min(...logKeys) > before.snapshotIndex,
    `log starts after the snapshot: ${logKeys}`,
  );

  const b = await createDeployApp({ kv, snapshotEntries: 10, tickMs: 5 });
  try {
    await waitLeader(b.node);
    for (let k = 0; k < 7; k++) {
      const last = [...Array(25).keys()].filter((i) => i % 7 === k).at(-1)!;
      const res = await b.fetch(new Request(`http://x/kv/k${k}`));
      assert.equal((await res.json()).value, `v${last}`);
    }
    assert.equal((await (await b.fetch(new Request("http://x/kv/big"))).json()).value, big);
    assert.ok(b.node.status().commit >= before.commit);
  } finally {
    await b.close();
  }
});

test("DenoKvStorage fences off an instance once another one opens the storage", async () => {
  const kv = new FakeKv();
  const a = await createDeployApp({ kv, tickMs: 5 });
  await waitLeader(a.node);
  assert.equal((await a.fetch(new Request("http://x/kv/a", put("1")))).status, 200);
  const b = await createDeployApp({ kv, tickMs: 5 });
  try {
    await waitLeader(b.node);
    const refused = await a.fetch(new Request("http://x/kv/a", put("2")));
    assert.equal(refused.status, 503);
    assert.equal((await refused.json()).error.code, "instance_replaced");
    assert.equal(a.node.closed, true);
    assert.equal((await b.fetch(new Request("http://x/kv/a", put("3")))).status, 200);
    assert.equal((await (await b.fetch(new Request("http://x/kv/a"))).json()).value, "3");
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

test("DenoKvStorage.save() replaces a conflicting suffix and rejects writes once fenced", async () => {
  const kv = new FakeKv();
  const s = await openDenoKvStorage(kv, { prefix: ["n1"], maxMutationsPerCommit: 2 });
  await s.save({
    hardState: { term: 1, vote: 1, commit: 0 },
    entries: [1, 2, 3, 4].map((index) => newEntry({ index, term: 1 })),
    snapshot: undefined,
    mustSync: true,
  });
  await s.save({
    hardState: { term: 2, vote: 2, commit: 2 },
    entries: [newEntry({ index: 3, term: 2 })],
    snapshot: undefined,
    mustSync: true,
  });
  assert.equal(s.lastIndex(), 3);
  const again = await openDenoKvStorage(kv, { prefix: ["n1"] });
  assert.equal(again.lastIndex(), 3);
  assert.equal(again.term(3), 2);
  assert.deepEqual(again.initialState().hardState, { term: 2, vote: 2, commit: 2 });
  assert.equal(await s.checkOwner(), false);
  assert.equal(await again.checkOwner(), true);
  await assert.rejects(
    s.save({
      hardState: { term: 3, vote: 0, commit: 2 },
      entries: [],
      snapshot: undefined,
      mustSync: true,
    }),
    /another instance opened/,
  );
  assert.deepEqual((await openDenoKvStorage(kv, { prefix: ["n1"] })).initialState().hardState, {
    term: 2,
    vote: 2,
    commit: 2,
  });
});

const denoKv =
  (globalThis as { Deno?: { openKv?: (path: string) => Promise<DenoKvLike & { close(): void }> } })
    .Deno?.openKv;

test(
  "DenoKvStorage works on a real Deno KV",
  {
    skip: denoKv === undefined ? "Deno KV is not available (Deno with --unstable-kv only)" : false,
  },
  async () => {
    const kv = await denoKv!(":memory:");
    try {
      const a = await createDeployApp({ kv, snapshotEntries: 5, tickMs: 5 });
      await waitLeader(a.node);
      for (let i = 0; i < 12; i++) {
        assert.equal((await a.fetch(new Request(`http://x/kv/k${i}`, put(`v${i}`)))).status, 200);
      }
      await a.close();
      const b = await createDeployApp({ kv, snapshotEntries: 5, tickMs: 5 });
      await waitLeader(b.node);
      const list = await (await b.fetch(new Request("http://x/kv?prefix=k"))).json();
      assert.equal(list.items.length, 12);
      await b.close();
    } finally {
      kv.close();
    }
  },
);
