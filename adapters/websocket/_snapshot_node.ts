/**
 * One `RaftNode` over the WebSocket transport on a `SqliteStorage`, in its
 * own process, whose state machine stands for a large state it never
 * holds in memory: `stateBytes` bytes generated from a seed that every
 * command changes. Its snapshot is a stream of those bytes; its
 * `restoreStream` checks every byte against the seed. Driven through JSON
 * lines by the snapshot streaming tests (peak RSS, crashes mid-install).
 *
 * Usage: `deno run -A _snapshot_node.ts <id> <db path> <state bytes> <port>`
 * (port 0: any). The cluster secret comes from `RAFT_TS_SECRET`.
 *
 * Output lines: `{"type":"listening","url","port"}`, then
 * `{"type":"started","applied","seed","count"}` once the node started (its
 * state restored), and one reply per input line.
 * Input lines: `{"type":"start","peers":{"<id>":"<url>"},"bootstrap":bool}`,
 * `{"type":"propose","n"}`, `{"type":"addLearner","id","url"}`,
 * `{"type":"state"}`, `{"type":"exit"}`.
 *
 * @module
 */

import process from "node:process";
import { readFileSync } from "node:fs";
import { type Command, RaftNode, type StateMachine } from "../../core/node.ts";
import { crc32c } from "../../core/crc32c.ts";
import { openSqliteStorage } from "../sqlite/mod.ts";
import { encodePeerContext, WebSocketTransport } from "./mod.ts";
import { addPeerUrls, printLine, serveLines } from "./_test_util.ts";

const headerBytes = 12;
const pieceBytes = 1 << 20;

/** Fills `out` with the bytes after the header of the state of `seed`, from position `at`. */
function generate(seed: number, at: number, out: Uint8Array): void {
  for (let i = 0; i < out.length; i++) {
    const p = at + i;
    // A cheap position hash: any byte can be checked on its own.
    let x = (Math.imul(p >>> 2, 0x9e3779b1) ^ seed) >>> 0;
    x = Math.imul(x ^ (x >>> 15), 0x85ebca6b) >>> 0;
    out[i] = (x >>> ((p & 3) * 8)) & 255;
  }
}

/** A state of `size` bytes that exists only as a seed and a count of commands. */
class GeneratedMachine implements StateMachine<number> {
  seed = 1;
  count = 0;
  restoredChunks = 0;
  readonly size: number;

  constructor(size: number) {
    this.size = Math.max(size, headerBytes);
  }

  apply(cmds: readonly Command[]): number[] {
    return cmds.map((c) => {
      this.seed = crc32c(c.data, this.seed);
      this.count++;
      return c.index;
    });
  }

  snapshot(): ReadableStream<Uint8Array> {
    const { seed, count, size } = this;
    let at = 0;
    return new ReadableStream<Uint8Array>({
      pull(ctl): void {
        if (at >= size) return ctl.close();
        const n = Math.min(pieceBytes, size - at);
        const b = new Uint8Array(n);
        let k = 0;
        if (at === 0) {
          const v = new DataView(b.buffer);
          v.setUint32(0, seed);
          v.setUint32(4, count);
          v.setUint32(8, size);
          k = headerBytes;
        }
        generate(seed, at + k - headerBytes, b.subarray(k));
        at += n;
        ctl.enqueue(b);
      },
    });
  }

  restore(data: Uint8Array): Promise<void> {
    return this.restoreStream((async function* (): AsyncGenerator<Uint8Array> {
      yield data;
    })());
  }

  async restoreStream(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const head = new Uint8Array(headerBytes);
    let at = 0;
    let seed = 0;
    let expect: Uint8Array = new Uint8Array(0);
    for await (const c of chunks) {
      this.restoredChunks++;
      let k = 0;
      while (at < headerBytes && k < c.length) head[at++] = c[k++]!;
      if (at === headerBytes) seed = new DataView(head.buffer).getUint32(0);
      const rest = c.subarray(k);
      if (rest.length === 0) continue;
      if (expect.length < rest.length) expect = new Uint8Array(rest.length);
      const want = expect.subarray(0, rest.length);
      generate(seed, at - headerBytes, want);
      for (let i = 0; i < rest.length; i++) {
        if (rest[i] !== want[i]) throw new Error(`restored byte ${at + i} differs`);
      }
      at += rest.length;
    }
    const v = new DataView(head.buffer);
    if (at !== v.getUint32(8)) throw new Error(`restored ${at} of ${v.getUint32(8)} bytes`);
    this.seed = v.getUint32(0);
    this.count = v.getUint32(4);
  }
}

const out = printLine;

/** The peak and current RSS in bytes (Linux; 0 elsewhere). */
function memory(): { rssBytes: number; peakRssBytes: number } {
  try {
    const s = readFileSync("/proc/self/status", "utf8");
    const kb = (k: string): number =>
      Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0) * 1024;
    return { rssBytes: kb("VmRSS"), peakRssBytes: kb("VmHWM") };
  } catch {
    return { rssBytes: 0, peakRssBytes: 0 };
  }
}

const [idArg, dbPath, sizeArg, portArg] = process.argv.slice(2);
const id = Number(idArg);
const sm = new GeneratedMachine(Number(sizeArg));
const storage = await openSqliteStorage(dbPath!);
const transport = new WebSocketTransport({
  id,
  clusterId: "snapshot-stream",
  secret: process.env.RAFT_TS_SECRET ?? "",
  reconnectBaseMs: 20,
  reconnectMaxMs: 200,
  port: Number(portArg ?? 0),
  maxSnapshotBytes: 2 ** 40,
  snapshotAckTimeoutMs: 600_000,
});
const addr = await transport.listen();
out({ type: "listening", id, url: addr.url, port: addr.port });
let node: RaftNode<number> | undefined;

async function handle(cmd: {
  type: string;
  peers?: Record<string, string>;
  bootstrap?: boolean;
  n?: number;
  id?: number;
  url?: string;
}): Promise<void> {
  switch (cmd.type) {
    case "start": {
      addPeerUrls(transport, cmd.peers);
      node = await RaftNode.start<number>({
        id,
        peers: cmd.bootstrap === true ? [id] : [],
        storage,
        transport,
        stateMachine: sm,
        tickMs: 10,
        electionTick: 10,
        snapshotEntries: 20,
        snapshotCatchUpEntries: 2,
      });
      out({ type: "started", id, applied: node.status().applied, seed: sm.seed, count: sm.count });
      return;
    }
    case "propose": {
      await node!.waitForLeader();
      for (let i = 0; i < (cmd.n ?? 1); i++) {
        await node!.propose(new TextEncoder().encode(`c${sm.count}-${i}`));
      }
      out({ type: "proposed", id, applied: node!.status().applied });
      return;
    }
    case "addLearner": {
      await node!.addLearner(cmd.id!, { context: encodePeerContext({ url: cmd.url! }) });
      out({ type: "added", id: cmd.id });
      return;
    }
    case "state": {
      const st = node!.status();
      out({
        type: "state",
        id,
        applied: st.applied,
        snapshotIndex: st.snapshotIndex,
        seed: sm.seed,
        count: sm.count,
        restoredChunks: sm.restoredChunks,
        ...memory(),
      });
      return;
    }
    case "exit":
      out({ type: "closing", id, step: "node" });
      await node?.close();
      out({ type: "closing", id, step: "transport" });
      await transport.close();
      out({ type: "closing", id, step: "storage" });
      await storage.close();
      out({ type: "bye", id });
      process.exit(0);
      return;
    default:
      out({ type: "error", id, message: `unknown command ${cmd.type}` });
  }
}

serveLines(id, handle, true);
