/**
 * One `RaftNode` over the WebSocket transport in its own process, driven
 * through JSON lines for the mixed-runtime test (`mixed_runtime_test.ts`).
 * Runs on Deno (`deno run -A _cluster_node.ts <id>`) and Bun
 * (`bun _cluster_node.ts <id>`). The cluster secret comes from the
 * `RAFT_TS_SECRET` environment variable.
 *
 * Output lines: `{"type":"listening","id","url","runtime"}` once listening;
 * `{"type":"proposed",...}` per proposal; `{"type":"state",...}` on request;
 * `{"type":"error",...}` on a bad command.
 * Input lines: `{"type":"start","peers":{"<id>":"<url>",...}}`,
 * `{"type":"propose","value":"..."}`, `{"type":"state"}`, `{"type":"exit"}`.
 *
 * @module
 */

import process from "node:process";
import { NotLeaderError, RaftNode } from "../../core/node.ts";
import { MemoryStorage } from "../../core/storage.ts";
import { WebSocketTransport } from "./mod.ts";
import { addPeerUrls, ListMachine, printLine, serveLines } from "./_test_util.ts";

const runtime = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined"
  ? "deno"
  : typeof (globalThis as { Bun?: unknown }).Bun !== "undefined"
  ? "bun"
  : "node";

const out = printLine;

const id = Number(process.argv[2]);
const secret = process.env.RAFT_TS_SECRET ?? "";
const transport = new WebSocketTransport({
  id,
  clusterId: "mixed-runtime",
  secret,
  reconnectBaseMs: 20,
  reconnectMaxMs: 200,
});
const addr = await transport.listen();
out({ type: "listening", id, url: addr.url, runtime });

const sm = new ListMachine();
let node: RaftNode<number> | undefined;

async function handle(cmd: { type: string; peers?: Record<string, string>; value?: string }) {
  switch (cmd.type) {
    case "start": {
      const peers = addPeerUrls(transport, cmd.peers);
      node = await RaftNode.start<number>({
        id,
        peers,
        storage: new MemoryStorage(),
        transport,
        stateMachine: sm,
        tickMs: 10,
        electionTick: 10,
      });
      out({ type: "started", id });
      return;
    }
    case "propose": {
      const value = cmd.value ?? "";
      try {
        const index = await node!.propose(new TextEncoder().encode(value));
        out({ type: "proposed", id, value, index });
      } catch (e) {
        out({
          type: "proposed",
          id,
          value,
          error: e instanceof Error ? e.message : String(e),
          leaderId: e instanceof NotLeaderError ? e.leaderId : 0,
        });
      }
      return;
    }
    case "state": {
      const st = node?.status();
      const m = transport.metrics();
      out({
        type: "state",
        id,
        runtime,
        leaderId: st?.leaderId ?? 0,
        raftState: st?.raftState ?? 0,
        values: sm.values,
        messagesSent: m.messagesSent,
        messagesReceived: m.messagesReceived,
        protocolErrors: m.protocolErrors,
      });
      return;
    }
    case "exit":
      await node?.close();
      await transport.close();
      out({ type: "bye", id });
      process.exit(0);
      return;
    default:
      out({ type: "error", id, message: `unknown command ${cmd.type}` });
  }
}

serveLines(id, handle);
