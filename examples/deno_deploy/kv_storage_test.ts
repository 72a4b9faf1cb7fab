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
import type { NodeStorage } from "../../core/node.ts";
import {
  checkNodeStorage,
  NodeStorageCheckError,
  nodeStorageChecks,
  type NodeStorageFactory,
} from "../../testing/mod.ts";
import { storageChecks, wrapStorage } from "../../tests/_util.ts";

/**
 * An in-memory stand-in for Deno KV: ordered keys, versionstamps, atomic
 * checks. With `lagging`, a commit takes effect (and resolves) on a later
 * task, and {@linkcode FakeKv.crash} drops the commits still in flight, as a
 * process that dies before its commits are acknowledged loses them.
 */
class FakeKv implements DenoKvLike {
  readonly data = new Map<string, { key: KvKey; value: unknown; versionstamp: string }>();
  #version = 0;
  commits = 0;
  readonly #inFlight = new Set<ReturnType<typeof setTimeout>>();

  readonly lagging: boolean;

  constructor(lagging = false) {
    this.lagging = lagging;
  }

  /** Drops every commit in flight; their promises never settle. */
  crash(): void {
    for (const t of this.#inFlight) clearTimeout(t);
    this.#inFlight.clear();
  }

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
        const apply = (): { ok: boolean } => {
          for (const c of checks) {
            if ((this.data.get(FakeKv.#id(c.key))?.versionstamp ?? null) !== c.versionstamp) {
              return { ok: false };
            }
          }
          const stamp = String(++this.#version).padStart(20, "0");
          const before = new Set(this.data.keys());
          for (const o of ops) o();
          for (const [k, r] of this.data) {
            if (!before.has(k) || r.versionstamp === "") r.versionstamp = stamp;
          }
          this.commits++;
          return { ok: true };
        };
        if (!this.lagging) return Promise.resolve(apply());
        return new Promise((resolve) => {
          const t = setTimeout(() => {
            this.#inFlight.delete(t);
            resolve(apply());
          }, 0);
          this.#inFlight.add(t);
        });
      },
    };
    return op;
  }
}

/** A DenoKvStorage on a lagging FakeKv, for checkNodeStorage (crashes included). */
function kvStorageFactory(
  wrap: (s: NodeStorage) => NodeStorage = (s) => s,
): NodeStorageFactory {
  return {
    async create() {
      const kv = new FakeKv(true);
      const open = async (): Promise<NodeStorage> =>
        wrap(await openDenoKvStorage(kv, { prefix: ["n1"], maxMutationsPerCommit: 3 }));
      let storage = await open();
      return {
        storage,
        reopen: async () => storage = await open(),
        crash: async () => {
          kv.crash();
          return storage = await open();
        },
        dispose() {
          kv.crash();
        },
      };
    },
  };
}

// DenoKvStorage differs from MemoryStorage on purpose in two ways, which
// three checks assume it does not: a value holds at most 60 KiB (Deno KV's
// limit), and a reopen drops the entries kept behind the snapshot.
const kvStorageDiffers = new Set([
  "keeps entry types and payloads intact",
  "keeps its state across a reopen",
  "behaves like a MemoryStorage model over a seeded random run",
]);
storageChecks(
  "DenoKvStorage",
  kvStorageFactory(),
  nodeStorageChecks.filter((c) => !kvStorageDiffers.has(c)),
);

test("checkNodeStorage() catches a Deno KV storage that acknowledges saves before they commit", async () => {
  const early = kvStorageFactory((s) =>
    wrapStorage(s, {
      save: (u) => {
        const p = s.save(u);
        if (p instanceof Promise) p.catch(() => {});
      },
    })
  );
  const err = await checkNodeStorage(early).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof NodeStorageCheckError, String(err));
  const failed = err.results.filter((r) => r.outcome === "failed").map((r) => r.name);
  assert.ok(failed.includes("keeps a synced save across a crash"), failed.join("; "));
  assert.ok(
    failed.includes(
      "keeps every synced write and loses at most a suffix of the others across crashes",
    ),
    failed.join("; "),
  );
});

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
