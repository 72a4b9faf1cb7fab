/**
 * Exactly-once writes of the key-value server's HTTP API (the app of
 * `examples/kv_server.ts` over an in-memory three-node cluster whose apps
 * forward to each other in memory): `POST /kv/:key/incr`, and the
 * `Idempotency-Key` header on `PUT`, `DELETE` and `incr` (the same request
 * gets the first answer, on any node, and applies once; another request
 * with the same key is refused 422; a malformed key 400).
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { parseKvServerConfig } from "../../examples/kv_server.ts";
import { type KvMember, leaderOf, startKvApps } from "./_kv_apps.ts";

interface Cluster {
  leader: KvMember;
  follower: KvMember;
  members: KvMember[];
}

/** Three nodes whose apps reach each other in memory; closed after `fn`. */
async function withKvCluster(fn: (c: Cluster) => Promise<void>): Promise<void> {
  const { members, close } = await startKvApps();
  try {
    const leader = await leaderOf(members);
    await Promise.all(members.map((m) => m.node.read()));
    await fn({ leader, follower: members.find((m) => m !== leader)!, members });
  } finally {
    await close();
  }
}

function incr(key: string | undefined, body?: unknown, headers: Record<string, string> = {}) {
  const h: Record<string, string> = { ...headers };
  if (key !== undefined) h["idempotency-key"] = key;
  if (body !== undefined) h["content-type"] = "application/json";
  return {
    method: "POST",
    headers: h,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  };
}

async function answer(res: Response): Promise<{ status: number; body: unknown }> {
  return { status: res.status, body: await res.json() };
}

async function counter(m: KvMember, key: string): Promise<string | undefined> {
  return (await m.node.read(() => m.store.get(key)))?.value;
}

test("POST /kv/:key/incr adds to an integer counter", async () => {
  await withKvCluster(async ({ leader }) => {
    const app = leader.app;
    const one = await answer(await app.request("/kv/c/incr", incr(undefined)));
    assert.equal(one.status, 200);
    assert.equal((one.body as { value: string }).value, "1");
    assert.equal((one.body as { prev: unknown }).prev, null);
    const six = await answer(await app.request("/kv/c/incr", incr(undefined, { by: 5 })));
    assert.equal((six.body as { value: string }).value, "6");
    const down = await answer(await app.request("/kv/c/incr", incr(undefined, { by: -10 })));
    assert.equal((down.body as { value: string }).value, "-4");
    // A key ending in /incr is a key like any other.
    const nested = await answer(await app.request("/kv/a/incr/incr", incr(undefined)));
    assert.equal((nested.body as { key: string }).key, "a/incr");

    const put = (key: string, value: string) =>
      app.request(`/kv/${key}`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ value }),
      });
    await put("s", "text");
    await put("big", String(Number.MAX_SAFE_INTEGER));
    const cases: [string, RequestInit, number, string][] = [
      ["a value that is not an integer", incr(undefined), 409, "not_an_integer"],
      ["'by' not an integer", incr(undefined, { by: 1.5 }), 400, "invalid_by"],
      ["'by' a string", incr(undefined, { by: "1" }), 400, "invalid_by"],
      ["an unknown field", incr(undefined, { step: 1 }), 400, "unknown_field"],
    ];
    for (const [name, init, status, code] of cases) {
      const path = name.startsWith("a value") ? "/kv/s/incr" : "/kv/c/incr";
      const r = await answer(await app.request(path, init));
      assert.equal(r.status, status, name);
      assert.equal((r.body as { error: { code: string } }).error.code, code, name);
    }
    const overflow = await answer(await app.request("/kv/big/incr", incr(undefined)));
    assert.equal(overflow.status, 409, "past the safe integer range");
    assert.equal((overflow.body as { error: { code: string } }).error.code, "not_an_integer");
    assert.equal(await counter(leader, "c"), "-4");
    assert.equal(await counter(leader, "s"), "text");
  });
});

test("an Idempotency-Key makes a write apply once: a retry on any node gets the first answer", async () => {
  await withKvCluster(async ({ leader, follower }) => {
    const first = await answer(await leader.app.request("/kv/c/incr", incr('"k-1"', { by: 2 })));
    assert.equal(first.status, 200);
    assert.equal((first.body as { value: string }).value, "2");
    // The same request: on the leader, forwarded by a follower, and with the key unquoted.
    const again = await answer(await leader.app.request("/kv/c/incr", incr('"k-1"', { by: 2 })));
    const forwarded = await answer(
      await follower.app.request(
        "/kv/c/incr",
        incr('"k-1"', { by: 2 }, { "raft-routing": "forward" }),
      ),
    );
    const bare = await answer(await leader.app.request("/kv/c/incr", incr("k-1", { by: 2 })));
    assert.deepEqual(again, first);
    assert.deepEqual(forwarded, first);
    assert.deepEqual(bare, first);
    assert.equal(await counter(leader, "c"), "2", "the counter moved once");
    // Without a key, or with another one, the increment applies.
    const plain = await answer(await leader.app.request("/kv/c/incr", incr(undefined, { by: 2 })));
    assert.equal((plain.body as { value: string }).value, "4");
    const other = await answer(await leader.app.request("/kv/c/incr", incr('"k-2"', { by: 2 })));
    assert.equal((other.body as { value: string }).value, "6");

    // PUT and DELETE too: the retry gets the first answer, not a new revision or a 404.
    const put = (key: string) => ({
      method: "PUT",
      headers: { "content-type": "application/json", "idempotency-key": key },
      body: '{"value":"v"}',
    });
    const put1 = await answer(await leader.app.request("/kv/p", put('"p-1"')));
    const put2 = await answer(await leader.app.request("/kv/p", put('"p-1"')));
    assert.equal(put1.status, 200);
    assert.deepEqual(put2, put1);
    const del = { method: "DELETE", headers: { "idempotency-key": '"d-1"' } };
    const del1 = await answer(await leader.app.request("/kv/p", del));
    const del2 = await answer(await leader.app.request("/kv/p", del));
    assert.equal(del1.status, 200);
    assert.deepEqual(del2, del1);
    // A failed comparison is an answer too: the retry gets the same 412.
    const cas = {
      method: "PUT",
      headers: { "content-type": "application/json", "idempotency-key": '"cas-1"' },
      body: '{"value":"w","ifRevision":1}',
    };
    const cas1 = await answer(await leader.app.request("/kv/q", cas));
    await leader.app.request("/kv/q", put('"q-1"'));
    const cas2 = await answer(await leader.app.request("/kv/q", cas));
    assert.equal(cas1.status, 412);
    assert.deepEqual(cas2, cas1);
  });
});

test("an Idempotency-Key reused for another request is refused with 422 and applies nothing", async () => {
  await withKvCluster(async ({ leader, follower }) => {
    const first = await leader.app.request("/kv/c/incr", incr('"k"', { by: 1 }));
    assert.equal(first.status, 200);
    const cases: [string, string, RequestInit][] = [
      ["another body", "/kv/c/incr", incr('"k"', { by: 2 })],
      ["the same body written differently", "/kv/c/incr", {
        ...incr('"k"', { by: 1 }),
        body: '{ "by": 1 }',
      }],
      ["no body", "/kv/c/incr", incr('"k"')],
      ["another key", "/kv/d/incr", incr('"k"', { by: 1 })],
      ["another method", "/kv/c", {
        method: "PUT",
        headers: { "content-type": "application/json", "idempotency-key": '"k"' },
        body: '{"value":"1"}',
      }],
    ];
    for (const [name, path, init] of cases) {
      for (const m of [leader, follower]) {
        const h = new Headers(init.headers);
        if (m === follower) h.set("raft-routing", "forward");
        const r = await answer(await m.app.request(path, { ...init, headers: h }));
        assert.equal(r.status, 422, `${name} (node ${m.node.id})`);
        assert.equal(
          (r.body as { error: { code: string } }).error.code,
          "idempotency_key_reused",
          name,
        );
      }
    }
    assert.equal(await counter(leader, "c"), "1");
    assert.equal(await counter(leader, "d"), undefined);
  });
});

test("a malformed Idempotency-Key is refused with 400 before anything is proposed", async () => {
  await withKvCluster(async ({ leader, members }) => {
    const before = members.map((m) => m.storage.lastIndex());
    const keys: [string, string][] = [
      ["empty", '""'],
      ["two values", '"a", "b"'],
      ["unbalanced quote", '"abc'],
      ["a space in a bare key", "a b"],
      ["too long", `"${"k".repeat(256)}"`],
      ["a bad escape", '"a\\b"'],
      ["not ASCII", '"caf\u00e9"'],
    ];
    for (const [name, key] of keys) {
      for (const path of ["/kv/c/incr", "/kv/c"]) {
        const init = path.endsWith("incr") ? incr(key) : {
          method: "PUT",
          headers: { "content-type": "application/json", "idempotency-key": key },
          body: '{"value":"1"}',
        };
        const r = await answer(await leader.app.request(path, init));
        assert.equal(r.status, 400, `${name} on ${path}`);
        assert.equal(
          (r.body as { error: { code: string } }).error.code,
          "invalid_idempotency_key",
          name,
        );
      }
    }
    await Promise.all(members.map((m) => m.node.read()));
    assert.deepEqual(members.map((m) => m.storage.lastIndex()), before);
    assert.equal(await counter(leader, "c"), undefined);
    // The longest key is accepted.
    const ok = await leader.app.request("/kv/c/incr", incr(`"${"k".repeat(255)}"`));
    assert.equal(ok.status, 200);
  });
});

test("kv_server keeps idempotency keys for --idempotency-ttl-ms (24 h by default)", () => {
  assert.equal(parseKvServerConfig(["--id", "1"], {}).idempotencyTtlMs, 86_400_000);
  assert.equal(
    parseKvServerConfig(["--id", "1", "--idempotency-ttl-ms", "60000"], {}).idempotencyTtlMs,
    60_000,
  );
  assert.equal(
    parseKvServerConfig(["--id", "1"], { RAFT_IDEMPOTENCY_TTL_MS: "5000" }).idempotencyTtlMs,
    5000,
  );
  assert.throws(
    () => parseKvServerConfig(["--id", "1", "--idempotency-ttl-ms", "1.5"], {}),
    /--idempotency-ttl-ms: expected a positive integer/,
  );
});
