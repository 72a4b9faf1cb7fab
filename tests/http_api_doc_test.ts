/**
 * `docs/http-api.md` against the routes the apps register: every route of
 * `createRaftApp` (with the page and the peers' socket), `createRaftHostApp`, `createKvApp` and
 * the demo routes has a heading `### METHOD /path` in the document, and
 * every such heading names a route, so the document cannot fall behind.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { MemoryStorage, RaftNode } from "../mod.ts";
import { createRaftHostApp, MemberDirectory, type RaftApp } from "../adapters/hono/mod.ts";
import type { PeerAcceptor } from "../adapters/websocket/mod.ts";
import { createKvApp, KvStore } from "../examples/kv_server.ts";
import { demoRoutes } from "../examples/_demo_routes.ts";

const docPath = new URL("../docs/http-api.md", import.meta.url);

/** `METHOD /path` of every route, with parameters' patterns left out (`:key{...}` -> `:key`). */
function routesOf(app: RaftApp): Set<string> {
  const out = new Set<string>();
  for (const r of app.routes) {
    // Middleware (`app.use`) registers under ALL.
    if (r.method === "ALL") continue;
    out.add(`${r.method} ${r.path.replace(/\{[^}]*\}/g, "")}`);
  }
  return out;
}

/** `METHOD /path` of every `### METHOD /path` heading. */
function documented(markdown: string): Set<string> {
  const out = new Set<string>();
  for (const m of markdown.matchAll(/^### (GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) (\/\S*)$/gm)) {
    out.add(`${m[1]} ${m[2]}`);
  }
  return out;
}

test("docs/http-api.md has a heading for every route the apps register, and no other", async () => {
  const node = await RaftNode.start({
    id: 1,
    peers: [1],
    storage: new MemoryStorage(),
    stateMachine: new KvStore(),
    transport: { start() {}, send() {}, close() {} },
    tickMs: 5,
  });
  try {
    const refuse: PeerAcceptor = {
      acceptPeer: () => Promise.resolve({ accept: false, status: 503, reason: "test" }),
    };
    const kv = createKvApp(node, new KvStore(), {
      peerSocket: {
        upgradeWebSocket: () => Promise.resolve(new Response(null, { status: 101 })),
        transport: refuse,
      },
    });
    const demo = demoRoutes(node, { token: "t", directory: new MemberDirectory() });
    const host = createRaftHostApp({
      hostId: 1,
      groupIds: [],
      status: () => {
        throw new Error("not called");
      },
      group: () => node,
    });
    const routes = new Set([...routesOf(kv), ...routesOf(demo), ...routesOf(host)]);
    // The enumeration sees the routes of each layer.
    for (
      const r of ["GET /raft/status", "GET /", "GET /raft", "PUT /kv/:key", "GET /raft/groups"]
    ) {
      assert.ok(routes.has(r), `${r} in ${[...routes].join(", ")}`);
    }
    const doc = documented(readFileSync(docPath, "utf8"));
    const missing = [...routes].filter((r) => !doc.has(r)).sort();
    const stale = [...doc].filter((r) => !routes.has(r)).sort();
    assert.deepEqual(missing, [], "routes without a heading in docs/http-api.md");
    assert.deepEqual(stale, [], "headings in docs/http-api.md without a route");
  } finally {
    await node.close();
  }
});
