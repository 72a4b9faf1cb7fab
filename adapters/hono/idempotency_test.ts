import { test } from "node:test";
import assert from "node:assert/strict";
import { Hono } from "hono";
import { idempotencyOptions, parseIdempotencyKey } from "./idempotency.ts";
import { readJsonObject } from "./http.ts";

test("parseIdempotencyKey() reads a Structured Field String or a bare key", () => {
  const cases: [string, string, string | undefined][] = [
    ["quoted", '"8e03978e-40d5-43e8"', "8e03978e-40d5-43e8"],
    ["bare", "8e03978e-40d5-43e8", "8e03978e-40d5-43e8"],
    ["quoted with spaces and escapes", '"a b \\"c\\" \\\\"', 'a b "c" \\'],
    ["surrounding whitespace", '  "k"  ', "k"],
    ["255 characters", `"${"k".repeat(255)}"`, "k".repeat(255)],
    ["256 characters", `"${"k".repeat(256)}"`, undefined],
    ["empty string", '""', undefined],
    ["empty value", "", undefined],
    ["two strings", '"a", "b"', undefined],
    ["two bare keys", "a, b", undefined],
    ["unbalanced quote", '"a', undefined],
    ["a parameter", '"a";x=1', undefined],
    ["an unknown escape", '"a\\n"', undefined],
    ["a control character", '"a\tb"', undefined],
    ["not ASCII", '"caf\u00e9"', undefined],
  ];
  for (const [name, value, want] of cases) assert.equal(parseIdempotencyKey(value), want, name);
});

test("idempotencyOptions() fingerprints the method, path, query and body", async () => {
  const app = new Hono();
  app.all("/*", async (c) => {
    if (c.req.header("content-type") !== undefined) await readJsonObject(c, 1024);
    const o = await idempotencyOptions(c);
    return c.json({ key: o.idempotencyKey ?? null, fp: Array.from(o.fingerprint ?? []) });
  });
  const fp = async (path: string, method: string, body?: string, key = '"k"') => {
    const headers: Record<string, string> = { "idempotency-key": key };
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await app.request(path, { method, headers, ...(body ? { body } : {}) });
    return (await res.json()) as { key: string; fp: number[] };
  };
  const base = await fp("/kv/a", "PUT", '{"value":"1"}');
  assert.equal(base.key, "k");
  assert.equal(base.fp.length, 16);
  assert.deepEqual((await fp("/kv/a", "PUT", '{"value":"1"}', "k")).fp, base.fp);
  const others = [
    await fp("/kv/b", "PUT", '{"value":"1"}'),
    await fp("/kv/a", "POST", '{"value":"1"}'),
    await fp("/kv/a", "PUT", '{"value":"2"}'),
    await fp("/kv/a?x=1", "PUT", '{"value":"1"}'),
  ];
  for (const o of others) assert.notDeepEqual(o.fp, base.fp);
  const none = await app.request("/kv/a", { method: "DELETE" });
  assert.deepEqual(await none.json(), { key: null, fp: [] });
  const bad = await app.request("/kv/a", {
    method: "DELETE",
    headers: { "idempotency-key": '""' },
  });
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error.code, "invalid_idempotency_key");
});
