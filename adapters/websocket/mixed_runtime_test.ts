/**
 * One cluster, two runtimes: a node on Deno and two on Bun, each in its own
 * process (`_cluster_node.ts`), talk over the WebSocket transport, elect a
 * leader and replicate.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import process from "node:process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { waitFor } from "./_test_util.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const script = fileURLToPath(new URL("./_cluster_node.ts", import.meta.url));
const bin = (name: string): string =>
  fileURLToPath(new URL(`../../node_modules/.bin/${name}`, import.meta.url));
const denoBin = bin("deno");
const bunBin = bin("bun");
const secret = "mixed runtime secret, long enough";

// deno-lint-ignore no-explicit-any
type Line = Record<string, any>;

class Child {
  readonly id: number;
  readonly proc: ChildProcess;
  readonly lines: Line[] = [];
  stderr = "";

  constructor(id: number, cmd: string, args: string[]) {
    this.id = id;
    this.proc = spawn(cmd, args, {
      cwd: root,
      env: { ...process.env, RAFT_TS_SECRET: secret, NO_COLOR: "1" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    createInterface({ input: this.proc.stdout! }).on("line", (l: string) => {
      try {
        this.lines.push(JSON.parse(l));
      } catch {
        this.stderr += `stdout: ${l}\n`;
      }
    });
    this.proc.stderr!.on("data", (d: Uint8Array) => (this.stderr += new TextDecoder().decode(d)));
  }

  send(cmd: Line): void {
    this.proc.stdin!.write(`${JSON.stringify(cmd)}\n`);
  }

  async next(
    type: string,
    pred: (l: Line) => boolean = () => true,
    timeoutMs = 15_000,
  ): Promise<Line> {
    let found: Line | undefined;
    try {
      await waitFor(
        () => {
          const i = this.lines.findIndex((l) => l.type === type && pred(l));
          if (i < 0) return false;
          found = this.lines.splice(i, 1)[0];
          return true;
        },
        `node ${this.id} to report '${type}'`,
        timeoutMs,
      );
    } catch (e) {
      throw new Error(`${(e as Error).message}; stderr:\n${this.stderr}`);
    }
    return found!;
  }

  async state(): Promise<Line> {
    this.send({ type: "state" });
    return await this.next("state");
  }

  kill(): void {
    if (this.proc.exitCode === null) this.proc.kill("SIGKILL");
  }
}

test(
  "WebSocketTransport joins Deno and Bun processes in one cluster",
  { skip: !existsSync(denoBin) || !existsSync(bunBin) ? "deno or bun binary missing" : false },
  async () => {
    const children = [
      new Child(1, denoBin, ["run", "-A", "--quiet", script, "1"]),
      new Child(2, bunBin, [script, "2"]),
      new Child(3, bunBin, [script, "3"]),
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
      let states: Line[] = [];
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
