import { MemoryStorage, RaftNode, type StateMachine } from "../../mod.ts";
import { createRaftApp, leaderOnly, MemberDirectory } from "../../adapters/hono/mod.ts";

// A replicated hit counter: apply() runs on every node, in log order.
let hits: Record<string, number> = {};
const page = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
const counter: StateMachine<number> = {
  apply: (cmds) => cmds.map((c) => (hits[page(c.data)] = (hits[page(c.data)] ?? 0) + 1)),
  snapshot: () => new TextEncoder().encode(JSON.stringify(hits)),
  restore: (data) => void (hits = JSON.parse(page(data))),
};

// One node; examples/kv_server.ts adds SQLite storage and WebSocket peers.
const storage = new MemoryStorage();
const transport = { start() {}, send() {}, close() {} };
const node = await RaftNode.start({ id: 1, peers: [1], storage, transport, stateMachine: counter });

// The cluster API (/raft/status, /metrics, the live page at /) plus your routes:
// writes resolve once committed and applied, reads are linearizable.
const directory = new MemberDirectory();
const app = createRaftApp(node, { directory });
app.post(
  "/hits/:page",
  leaderOnly(node, { directory }),
  async (c) => c.json({ hits: await node.propose(new TextEncoder().encode(c.req.param("page"))) }),
);
app.get(
  "/hits/:page",
  async (c) => c.json({ hits: await node.read(() => hits[c.req.param("page")] ?? 0) }),
);

Deno.serve({ port: 8080 }, app.fetch); // Bun: Bun.serve({ port: 8080, fetch: app.fetch });
