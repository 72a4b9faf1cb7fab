/**
 * A user's program, as `consumer_runtimes_test.ts` copies it into an empty
 * folder and runs it on Deno, Bun and Node: it imports the package by name,
 * starts a 3-node cluster in this process (SQLite files in the folder given
 * as its argument, one written through a writer thread; WebSocket transport
 * on loopback, free ports), writes a
 * key on the leader, reads it linearizably on a follower, prints one line,
 * closes everything and exits 0.
 *
 * Written in erasable TypeScript only, so that each runtime runs it as it
 * is: Deno and Bun natively, Node 24 by stripping its types.
 *
 * @module
 */

import { type Command, RaftNode, type StateMachine } from "@raft-ts/raft";
import { openSqliteStorage, type SqliteStorage } from "@raft-ts/raft/sqlite";
import { WebSocketTransport } from "@raft-ts/raft/websocket";
import { join } from "node:path";
import process from "node:process";

const g = globalThis as { Deno?: { version: { deno: string } }; Bun?: { version: string } };
const runtime = g.Deno !== undefined
  ? `deno ${g.Deno.version.deno}`
  : g.Bun !== undefined
  ? `bun ${g.Bun.version}`
  : `node ${process.versions.node}`;

const dataDir = process.argv[2];
if (dataDir === undefined) {
  console.error("usage: main.ts <data folder>");
  process.exit(2);
}

// A program that hangs fails with a sentence instead of a test timeout.
const watchdog = setTimeout(() => {
  console.error(`${runtime}: no result after 90 s`);
  process.exit(3);
}, 90_000);

/** A map of keys to values; a command is the JSON `[key, value]`. */
class KvMachine implements StateMachine<string> {
  readonly map = new Map<string, string>();

  apply(commands: readonly Command[]): string[] {
    return commands.map((c) => {
      const [key, value] = JSON.parse(new TextDecoder().decode(c.data)) as [string, string];
      this.map.set(key, value);
      return value;
    });
  }

  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify([...this.map]));
  }

  restore(data: Uint8Array): void {
    const entries = JSON.parse(new TextDecoder().decode(data)) as [string, string][];
    this.map.clear();
    for (const [k, v] of entries) this.map.set(k, v);
  }
}

const ids = [1, 2, 3];
const secret = "a cluster secret of at least 16 bytes";
// Port 0: each transport listens on a port the system picks free.
const transports = ids.map((id) => new WebSocketTransport({ id, clusterId: "consumer", secret }));
const urls = await Promise.all(transports.map(async (t) => (await t.listen()).url));
for (const [i, t] of transports.entries()) {
  for (const [j, id] of ids.entries()) {
    if (i !== j) t.addPeer(id, WebSocketTransport.peerContext(urls[j]!));
  }
}
const storages: SqliteStorage[] = [];
for (const id of ids) {
  // Node 3 writes through a writer thread, so the worker's module must ship too.
  const writer = id === 3 ? "worker" : "inline";
  storages.push(await openSqliteStorage(join(dataDir, `node-${id}.db`), { writer }));
}
const machines = ids.map(() => new KvMachine());
const nodes = await Promise.all(ids.map((id, i) =>
  RaftNode.start<string>({
    id,
    peers: ids,
    storage: storages[i]!,
    transport: transports[i]!,
    stateMachine: machines[i]!,
    tickMs: 10,
  })
));

const leaderId = await nodes[0]!.waitForLeader({ timeoutMs: 60_000 });
const leader = nodes[ids.indexOf(leaderId)]!;
const follower = nodes.find((n) => n.id !== leaderId)!;
const written = `hello from ${runtime.split(" ")[0]}`;
await leader.propose(new TextEncoder().encode(JSON.stringify(["greeting", written])), {
  timeoutMs: 30_000,
});
const read = await follower.read(() => machines[ids.indexOf(follower.id)]!.map.get("greeting"), {
  timeoutMs: 30_000,
});

await Promise.all(nodes.map((n) => n.close()));
for (const s of storages) s.close();
clearTimeout(watchdog);
console.log(
  `${runtime}: 3 nodes on SQLite and WebSocket (${
    urls.map((u) => new URL(u).protocol).join("")
  }); ` +
    `node ${leaderId} wrote greeting=${JSON.stringify(written)}, ` +
    `node ${follower.id} read greeting=${JSON.stringify(read)}`,
);
