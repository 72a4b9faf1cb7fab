import { test } from "node:test";
import assert from "node:assert/strict";
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import {
  errorResponse,
  httpError,
  parseNodeId,
  readJsonObject,
  rejectUnknownFields,
} from "./http.ts";

function echoApp(maxBytes: number): Hono {
  const app = new Hono();
  app.post("/", async (c) => c.json(await readJsonObject(c, maxBytes)));
  app.onError((
    e,
  ) => (e instanceof HTTPException ? e.getResponse() : new Response("boom", { status: 500 })));
  return app;
}

test("readJsonObject() accepts JSON objects and refuses everything else with 4xx", async () => {
  const app = echoApp(64);
  const post = (
    body: BodyInit | null,
    type = "application/json",
    headers: Record<string, string> = {},
  ) =>
    // Node's Request wants `duplex` with a streamed body; Deno and Bun ignore it.
    app.request("/", {
      method: "POST",
      headers: { "content-type": type, ...headers },
      body,
      duplex: "half",
    } as RequestInit);
  const ok = await post('{"a":[1,2]}');
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { a: [1, 2] });
  assert.equal((await post('{"a":1}', "application/merge-patch+json; charset=utf-8")).status, 200);

  const cases: [string, Response, number, string][] = [
    ["malformed", await post("{nope"), 400, "malformed_json"],
    ["empty", await post(""), 400, "malformed_json"],
    ["array", await post("[1]"), 400, "invalid_body"],
    ["null", await post("null"), 400, "invalid_body"],
    ["not UTF-8", await post(new Uint8Array([0x7b, 0xff, 0x7d])), 400, "malformed_json"],
    ["text", await post("{}", "text/plain"), 415, "unsupported_media_type"],
    ["large", await post(`{"a":"${"x".repeat(100)}"}`), 413, "body_too_large"],
    [
      "streamed large",
      await post(
        new ReadableStream({
          start(ctl) {
            for (let i = 0; i < 10; i++) ctl.enqueue(new TextEncoder().encode("          "));
            ctl.close();
          },
        }),
      ),
      413,
      "body_too_large",
    ],
  ];
  for (const [name, res, status, code] of cases) {
    assert.equal(res.status, status, name);
    assert.equal((await res.json()).error.code, code, name);
  }
});

test("errorResponse() and httpError() build the same JSON error shape", async () => {
  const res = errorResponse(409, "conflict", "Cannot do it", { key: "a" }, { "retry-after": "1" });
  assert.equal(res.status, 409);
  assert.equal(res.headers.get("retry-after"), "1");
  assert.deepEqual(await res.json(), {
    error: { key: "a", code: "conflict", message: "Cannot do it" },
  });
  const e = httpError(400, "bad", "Cannot parse");
  assert.equal(e.status, 400);
  assert.equal(e.message, "Cannot parse");
  assert.deepEqual(await e.getResponse().json(), {
    error: { code: "bad", message: "Cannot parse" },
  });
});

test("parseNodeId() accepts positive integers only", () => {
  assert.equal(parseNodeId("12", "id"), 12);
  assert.equal(parseNodeId(3, "id"), 3);
  for (
    const bad of [
      "0",
      "-1",
      "1.5",
      "abc",
      "",
      "1e3",
      0,
      -2,
      2.5,
      null,
      undefined,
      "99999999999999999",
    ]
  ) {
    assert.throws(
      () => parseNodeId(bad, "id"),
      (e: unknown) => (e as HTTPException).status === 400,
      String(bad),
    );
  }
});

test("rejectUnknownFields() names the unknown field", async () => {
  rejectUnknownFields({ a: 1 }, ["a", "b"]);
  try {
    rejectUnknownFields({ a: 1, c: 2 }, ["a", "b"]);
    assert.fail("expected a refusal");
  } catch (e) {
    const body = await (e as HTTPException).getResponse().json();
    assert.equal(body.error.code, "unknown_field");
    assert.equal(body.error.field, "c");
  }
});
