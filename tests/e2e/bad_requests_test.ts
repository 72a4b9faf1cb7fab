/**
 * Bad requests to the key-value server's HTTP API (the app of
 * `examples/kv_server.ts` over an in-memory three-node cluster) get clear
 * 4xx JSON answers and change nothing: no entry is appended to any log,
 * the data and the membership stay as they were.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import { serve } from "./_serve.ts";
import { leaderOf, startKvApps } from "./_kv_apps.ts";

const secret = "bad-requests-secret-0123";

function startCluster(): ReturnType<typeof startKvApps> {
  return startKvApps({ adminSecret: secret, maxValueBytes: 1024 });
}

const json = (body: string, method = "PUT", headers: Record<string, string> = {}): RequestInit => ({
  method,
  headers: { "content-type": "application/json", ...headers },
  body,
});

test("bad requests get clear 4xx answers and change nothing", async () => {
  const { members, close } = await startCluster();
  try {
    const leader = await leaderOf(members);
    const ok = await leader.app.request("/kv/a", json('{"value":"1"}'));
    assert.equal(ok.status, 200);
    await Promise.all(members.map((m) => m.node.read()));
    const before = members.map((m) => ({
      last: m.storage.lastIndex(),
      data: new TextDecoder().decode(m.store.snapshot()),
      conf: JSON.stringify(m.node.status().confState),
    }));

    const cases: [string, string, RequestInit, number, string][] = [
      ["malformed JSON", "/kv/a", json('{"value": "2"'), 400, "malformed_json"],
      ["JSON that is not an object", "/kv/a", json('"2"'), 400, "invalid_body"],
      ["missing value", "/kv/a", json("{}"), 400, "invalid_value"],
      ["value not a string", "/kv/a", json('{"value":2}'), 400, "invalid_value"],
      ["unknown field", "/kv/a", json('{"value":"2","ttl":5}'), 400, "unknown_field"],
      ["bad ifRevision", "/kv/a", json('{"value":"2","ifRevision":-1}'), 400, "invalid_revision"],
      ["bad ifValue", "/kv/a", json('{"value":"2","ifValue":3}'), 400, "invalid_value"],
      [
        "oversized value",
        "/kv/a",
        json(JSON.stringify({ value: "x".repeat(1025) })),
        413,
        "value_too_large",
      ],
      [
        "oversized body",
        "/kv/a",
        json(JSON.stringify({ value: "x".repeat(10_000) })),
        413,
        "body_too_large",
      ],
      [
        "not JSON",
        "/kv/a",
        { method: "PUT", headers: { "content-type": "text/plain" }, body: "2" },
        415,
        "unsupported_media_type",
      ],
      ["key too long", `/kv/${"k".repeat(1025)}`, json('{"value":"2"}'), 400, "invalid_key"],
      [
        "bad delete precondition",
        "/kv/a?ifRevision=x",
        { method: "DELETE" },
        400,
        "invalid_revision",
      ],
      ["unknown query parameter", "/kv/a?consistncy=stale", {}, 400, "unknown_field"],
      ["bad consistency", "/kv/a?consistency=eventual", {}, 400, "invalid_consistency"],
      ["bad limit", "/kv?limit=0", {}, 400, "invalid_limit"],
      ["prefix and range", "/kv?prefix=a&start=b", {}, 400, "invalid_range"],
      ["unknown route", "/kv-store/a", {}, 404, "not_found"],
      ["empty key", "/kv/", {}, 404, "not_found"],
      ["wrong method on a key", "/kv/a", { method: "PATCH" }, 405, "method_not_allowed"],
      ["wrong method on the list", "/kv", json("{}", "POST"), 405, "method_not_allowed"],
      [
        "admin route without the secret",
        "/raft/members",
        json('{"id":4}', "POST"),
        401,
        "unauthorized",
      ],
      [
        "admin route with a wrong secret",
        "/raft/members/2",
        { method: "DELETE", headers: { authorization: "Bearer guess" } },
        403,
        "forbidden",
      ],
      [
        "leadership transfer without the secret",
        "/raft/transfer-leader",
        json('{"to":2}', "POST"),
        401,
        "unauthorized",
      ],
      [
        "admin route with a malformed body",
        "/raft/members",
        json("{", "POST", { authorization: `Bearer ${secret}` }),
        400,
        "malformed_json",
      ],
    ];
    // Ask the leader and a follower: a follower refuses before redirecting.
    const follower = members.find((m) => m !== leader)!;
    for (const m of [leader, follower]) {
      for (const [name, path, init, status, code] of cases) {
        const res = await m.app.request(path, init);
        assert.equal(res.status, status, `${name}: ${await res.clone().text()}`);
        assert.match(res.headers.get("content-type")!, /^application\/json/, name);
        const body = await res.json();
        assert.equal(body.error.code, code, name);
        assert.match(body.error.message, /^Cannot /, name);
        if (status === 405) assert.ok(res.headers.get("allow")!.length > 0, name);
        if (status === 401) assert.match(res.headers.get("www-authenticate")!, /^Bearer/, name);
      }
    }

    await new Promise((r) => setTimeout(r, 50));
    const after = members.map((m) => ({
      last: m.storage.lastIndex(),
      data: new TextDecoder().decode(m.store.snapshot()),
      conf: JSON.stringify(m.node.status().confState),
    }));
    assert.deepEqual(after, before);

    // A failed compare-and-swap is a 412 and leaves the data as it was.
    const cas = await leader.app.request("/kv/a", json('{"value":"3","ifValue":"9"}'));
    assert.equal(cas.status, 412);
    const casBody = await cas.json();
    assert.equal(casBody.error.code, "precondition_failed");
    assert.equal(casBody.error.current.value, "1");
    const read = await (await follower.app.request("/kv/a")).json();
    assert.equal(read.value, "1");
    assert.equal(read.version, 1);
  } finally {
    await close();
  }
});

test("the key-value routes read, list, compare-and-swap and delete", async () => {
  const { members, close } = await startCluster();
  try {
    const leader = await leaderOf(members);
    const put = async (key: string, body: unknown) =>
      await leader.app.request(`/kv/${key}`, json(JSON.stringify(body)));
    assert.equal((await put("user/1", { value: "ann" })).status, 200);
    assert.equal((await put("user/2", { value: "bob", ifValue: null })).status, 200);
    assert.equal((await put("user/2", { value: "bea", ifValue: null })).status, 412);
    const created = await (await put("app/x", { value: "1", ifRevision: 0 })).json();
    assert.equal(created.version, 1);
    const swapped = await put("app/x", { value: "2", ifRevision: created.modRevision });
    assert.equal(swapped.status, 200);
    assert.equal((await swapped.json()).prev.value, "1");

    const follower = members.find((m) => m !== leader)!;
    const list = await (await follower.app.request("/kv?prefix=user/")).json();
    assert.deepEqual(list.items.map((i: { key: string }) => i.key), ["user/1", "user/2"]);
    assert.equal(list.more, false);
    const page = await (await follower.app.request("/kv?start=app/&end=user/2&limit=2")).json();
    assert.deepEqual(page.items.map((i: { key: string }) => i.key), ["app/x", "user/1"]);
    assert.equal(page.more, false);
    const limited = await (await follower.app.request("/kv?limit=1")).json();
    assert.equal(limited.more, true);

    const redirect = await follower.app.request("/kv/user/3", json('{"value":"c"}'));
    assert.equal(redirect.status, 307);
    assert.match(redirect.headers.get("location")!, /\/kv\/user\/3$/);

    const del = await leader.app.request("/kv/user/1", { method: "DELETE" });
    assert.equal(del.status, 200);
    assert.equal((await del.json()).prev.value, "ann");
    assert.equal((await leader.app.request("/kv/user/1", { method: "DELETE" })).status, 404);
    assert.equal((await follower.app.request("/kv/user/1")).status, 404);
    const stale = await follower.app.request("/kv/app/x?consistency=stale");
    assert.ok(stale.status === 200 || stale.status === 404);
  } finally {
    await close();
  }
});

/** Sends one raw HTTP/1.1 request (the target exactly as given) and returns the status and body. */
function rawGet(port: number, target: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const c = connect(port, "127.0.0.1", () => {
      c.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
    });
    let data = "";
    c.setEncoding("latin1");
    c.on("data", (d) => (data += d));
    c.on("error", reject);
    c.on("close", () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0);
      resolve({ status, body: data.slice(data.indexOf("\r\n\r\n") + 4) });
    });
  });
}

test("key paths mean one key on every runtime: decoded once, dot segments and control characters refused", async () => {
  const { members, close } = await startCluster();
  const leader = await leaderOf(members);
  const served = await serve(leader.app);
  try {
    for (const [key, value] of [["b", "plain"], ["%zz", "percent"], ["a/b", "slash"]]) {
      const res = await leader.app.request(
        `/kv/${encodeURIComponent(key!)}`,
        json(`{"value":"${value}"}`),
      );
      assert.equal(res.status, 200, key);
    }
    const valueOf = async (target: string): Promise<string | number> => {
      const res = await rawGet(served.port, target);
      return res.status === 200 ? JSON.parse(res.body).value : res.status;
    };
    assert.equal(await valueOf("/kv/%25zz"), "percent");
    assert.equal(await valueOf("/kv/a%2Fb"), "slash");
    assert.equal(await valueOf("/kv/a/b"), "slash");
    assert.equal(await valueOf("/kv/%zz"), 400);
    assert.equal(await valueOf("/kv/a%0Ab"), 400);
    assert.equal(await valueOf("/kv/a%2F..%2Fb"), 400);
    // Bun, and Node's server adapter (through `new URL()`), resolve dot segments before the
    // app sees the URL; on Deno they reach the app, which refuses them.
    const resolved = (globalThis as { Deno?: unknown }).Deno === undefined;
    assert.equal(await valueOf("/kv/a/../b"), resolved ? "plain" : 400);
    assert.equal(await valueOf("/kv/a/%2e%2e/b"), resolved ? "plain" : 400);
  } finally {
    await served.stop();
    await close();
  }
});
