/**
 * One cluster, two runtimes: a node on Deno and two on Bun, each in its own
 * process (`_cluster_node.ts`), talk over the WebSocket transport, elect a
 * leader and replicate.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type ChildLine, ChildNode } from "./_test_util.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const script = fileURLToPath(new URL("./_cluster_node.ts", import.meta.url));
const bin = (name: string): string =>
  fileURLToPath(new URL(`../../node_modules/.bin/${name}`, import.meta.url));
const denoBin = bin("deno");
const bunBin = bin("bun");
const secret = "mixed runtime secret, long enough";

test(
  "WebSocketTransport joins Deno and Bun processes in one cluster",
  { skip: !existsSync(denoBin) || !existsSync(bunBin) ? "deno or bun binary missing" : false },
  async () => {
    const children = [
      new ChildNode(1, denoBin, ["run", "-A", "--quiet", script, "1"], root, secret),
      new ChildNode(2, bunBin, [script, "2"], root, secret),
      new ChildNode(3, bunBin, [script, "3"], root, secret),
    ];
    try {
      const listening = await Promise.all(children.map((c) => c.next("listening")));
      assert.deepEqual(listening.map((l) => l.runtime), ["deno", "bun", "bun"]);
      const peers = Object.fromEntries(listening.map((l) => [String(l.id), l.url]));
      for (const c of children) c.send({ type: "start", peers });
      await Promise.all(children.map((c) => c.next("started")));

      let leaderId = 0;
      for (let tries = 0; tries < 200 && leaderId === 0; tries++) {
        const states = await Promise.all(children.map((c) => c.state()));
        const leaders = new Set(states.map((s) => s.leaderId));
        const l = states[0]!.leaderId;
        if (leaders.size === 1 && l !== 0) leaderId = l;
        else await new Promise((r) => setTimeout(r, 50));
      }
      assert.notEqual(leaderId, 0, "the three processes agree on a leader");

      const leader = children.find((c) => c.id === leaderId)!;
      const values = Array.from({ length: 10 }, (_, i) => `v${i}`);
      for (const v of values) {
        leader.send({ type: "propose", value: v });
        const r = await leader.next("proposed", (l) => l.value === v);
        assert.equal(r.error, undefined, `proposal ${v}: ${r.error}`);
      }
      let states: ChildLine[] = [];
      for (let tries = 0; tries < 200; tries++) {
        states = await Promise.all(children.map((c) => c.state()));
        if (states.every((s) => JSON.stringify(s.values) === JSON.stringify(values))) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      for (const s of states) {
        assert.deepEqual(s.values, values, `node ${s.id} (${s.runtime}) applied every value`);
        assert.equal(s.protocolErrors, 0);
        assert.ok(s.messagesReceived > 0);
      }

      for (const c of children) c.send({ type: "exit" });
      await Promise.all(children.map((c) => c.next("bye")));
    } finally {
      for (const c of children) c.kill();
    }
  },
);
