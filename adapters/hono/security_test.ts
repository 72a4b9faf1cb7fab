import { test } from "node:test";
import assert from "node:assert/strict";
import { Hono } from "hono";
import { createRaftApp, type Logger, pathKey, type RaftAppOptions, readJsonObject } from "./mod.ts";
import { RaftNode, type StateMachine } from "../../core/node.ts";
import { MemoryStorage } from "../../core/storage.ts";

const secret = "security-secret-0123456789";
const selfUrl = "http://10.1.2.3:8080";

/** A single-node cluster whose state machine fails (fatally) on the command "boom". */
async function withNode(
  fn: (node: RaftNode<string>, app: Hono) => Promise<void>,
  options: RaftAppOptions = {},
): Promise<void> {
  const sm: StateMachine<string> = {
    apply: (cmds) =>
      cmds.map((c) => {
        const s = new TextDecoder().decode(c.data);
        if (s === "boom") throw new Error("disk at /var/lib/secret-path failed");
        return s;
      }),
    snapshot: () => new Uint8Array(),
    restore: () => {},
  };
  const node = await RaftNode.start({
    id: 1,
    peers: [1],
    storage: new MemoryStorage(),
    stateMachine: sm,
    tickMs: 5,
    transport: { start() {}, send() {}, close() {} },
  });
  try {
    await node.waitForLeader();
    const app = createRaftApp(node, { selfUrl, adminSecret: secret, ...options });
    await fn(node, app);
  } finally {
    await node.close();
  }
}

test("the app answers only its own host names (421 for others), unless allowedHosts is false", async () => {
  await withNode(async (_node, app) => {
    const status = async (url: string, headers: Record<string, string> = {}): Promise<number> =>
      (await app.request(url, { headers })).status;
    for (const url of ["http://10.1.2.3:8080/raft/status", "http://localhost/raft/status"]) {
      assert.equal(await status(url), 200, url);
    }
    assert.equal(await status("http://127.0.0.1:9999/readyz"), 200);
    assert.equal(await status("http://[::1]:8080/readyz"), 200);
    assert.equal(await status("http://LOCALHOST:8080/readyz"), 200);
    for (const url of ["http://evil.example/raft/status", "http://10.1.2.4:8080/kv/a"]) {
      const res = await app.request(url);
      assert.equal(res.status, 421, url);
      assert.equal((await res.json()).error.code, "host_not_allowed", url);
    }
    // A Host header naming another host is refused too (DNS rebinding).
    assert.equal(await status("http://10.1.2.3:8080/", { host: "rebound.example:8080" }), 421);
  });
  await withNode(async (_node, app) => {
    assert.equal((await app.request("http://evil.example/readyz")).status, 200);
  }, { allowedHosts: false });
  await withNode(async (_node, app) => {
    assert.equal((await app.request("http://kv.internal/readyz")).status, 200);
    assert.equal((await app.request("http://localhost/readyz")).status, 421);
  }, { allowedHosts: ["kv.internal"] });
});

async function sha256Source(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return `'sha256-${btoa(String.fromCharCode(...new Uint8Array(digest)))}'`;
}

test("the page and the API send security headers; the page's policy admits only its own script and style", async () => {
  await withNode(async (_node, app) => {
    const page = await app.request("/");
    assert.equal(page.status, 200);
    const html = await page.text();
    const csp = page.headers.get("content-security-policy") ?? "";
    const script = /<script>([\s\S]*?)<\/script>/.exec(html)![1]!;
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, /connect-src 'self'/);
    assert.ok(csp.includes(`script-src ${await sha256Source(script)}`), csp);
    assert.ok(csp.includes(`style-src ${await sha256Source(style)}`), csp);
    assert.ok(!csp.includes("unsafe-inline"), csp);
    assert.equal(page.headers.get("x-frame-options"), "DENY");
    assert.equal(page.headers.get("x-content-type-options"), "nosniff");
    const api = await app.request("/raft/status");
    assert.equal(api.headers.get("x-content-type-options"), "nosniff");
    assert.equal(api.headers.get("x-frame-options"), "SAMEORIGIN");
    assert.equal(api.headers.get("strict-transport-security"), null);
    const missing = await app.request("/nope");
    assert.equal(missing.headers.get("x-content-type-options"), "nosniff");
  });
});

test("a closed node's 503 names its fatal error to admins only", async () => {
  await withNode(async (node, app) => {
    app.post("/write/:v", async (c) => {
      return c.json(await node.propose(new TextEncoder().encode(c.req.param("v"))));
    });
    await assert.rejects(node.propose(new TextEncoder().encode("boom")));
    for (let i = 0; i < 200 && !node.closed; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(node.closed, true);

    const plain = await app.request("/write/x", { method: "POST" });
    assert.equal(plain.status, 503);
    const body = await plain.json();
    assert.equal(body.error.code, "node_closed");
    assert.doesNotMatch(JSON.stringify(body), /secret-path|disk/);

    const admin = await app.request("/raft/members", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${secret}` },
      body: JSON.stringify({ id: 2, role: "learner" }),
    });
    assert.equal(admin.status, 503);
    const adminBody = await admin.json();
    assert.equal(adminBody.error.code, "node_closed");
    assert.match(adminBody.error.message, /secret-path/);

    // It was the leader; stopped, it says so.
    const status = await (await app.request("/raft/status")).json();
    assert.equal(status.role, "stopped");
    assert.equal(status.leaderId, 0);
  });
});

/** A request whose URL is exactly `url`, as `Deno.serve` hands over a raw request target. */
function rawRequest(url: string): Request {
  const req = new Request("http://localhost/kv/placeholder");
  Object.defineProperty(req, "url", { value: url });
  return req;
}

test("pathKey() decodes once and refuses dot segments, control characters and bad escapes", async () => {
  const app = new Hono();
  app.get("/kv/:key{[\\s\\S]+}", (c) => c.json({ key: pathKey(c, "/kv/", 16) }));
  const cases: [string, string | number][] = [
    ["/kv/a", "a"],
    ["/kv/a/b", "a/b"],
    ["/kv/a%2Fb", "a/b"],
    ["/kv/%25zz", "%zz"],
    ["/kv/%2541", "%41"],
    ["/kv/%C3%A9", "é"],
    ["/kv/a..b", "a..b"],
    ["/kv/.hidden", ".hidden"],
    ["/kv/a?x=/../", "a"],
    ["/kv/%zz", 400],
    ["/kv/a%0Ab", 400],
    ["/kv/a%0Db", 400],
    ["/kv/a%00", 400],
    ["/kv/a%7F", 400],
    ["/kv/a/../b", 400],
    ["/kv/a/./b", 400],
    ["/kv/..", 400],
    ["/kv/a/%2e%2E/b", 400],
    ["/kv/a%2F..%2Fb", 400],
    ["/kv/x123456789abcdefg", 400],
  ];
  for (const [path, want] of cases) {
    const res = await app.fetch(rawRequest(`http://localhost${path}`));
    if (typeof want === "number") {
      assert.equal(res.status, want, path);
    } else {
      assert.equal(res.status, 200, path);
      assert.equal((await res.json()).key, want, path);
    }
  }
});

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const keep = (msg: string): void => void lines.push(msg);
  return { lines, debug() {}, info() {}, warning: keep, error: keep, fatal: keep, panic: keep };
}

test("request bodies that stall answer 408; aborted ones 400, logged as one short line at a bounded rate", async () => {
  const logger = recordingLogger();
  await withNode(async (_node, app) => {
    app.post("/echo", async (c) => c.json(await readJsonObject(c, 1024, { timeoutMs: 50 })));
    const post = async (body: ReadableStream<Uint8Array>): Promise<Response> =>
      await app.request("/echo", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
        duplex: "half",
      } as RequestInit);
    const stalled = await post(
      new ReadableStream({ start: (ctl) => ctl.enqueue(new TextEncoder().encode("{")) }),
    );
    assert.equal(stalled.status, 408);
    assert.equal((await stalled.json()).error.code, "body_timeout");
    for (let i = 0; i < 5; i++) {
      const aborted = await post(
        new ReadableStream({
          pull: (ctl) => ctl.error(new Error("connection reset by peer")),
        }),
      );
      assert.equal(aborted.status, 400);
      assert.equal((await aborted.json()).error.code, "body_aborted");
    }
    assert.equal(logger.lines.length, 1, logger.lines.join("\n"));
    assert.match(logger.lines[0]!, /client closed the connection/);
    assert.doesNotMatch(logger.lines[0]!, /\n\s+at /);
  }, { logger, now: () => 1000 });
});
