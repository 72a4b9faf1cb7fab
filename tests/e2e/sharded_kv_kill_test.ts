/**
 * End to end, the sharded key-value store under kill -9: three
 * `examples/sharded_kv.ts` processes (run by the runtime running the test)
 * × 16 groups on loopback, one SQLite file per process. Clients put and read
 * keys of every group through random hosts while the host leading the most
 * groups is killed (SIGKILL) and later restarted. Then every group must
 * have a leader on every host, and the whole history (with a final read of
 * every key) must be linearizable per key, checked with
 * `@raft-ts/raft/testing`'s checker: no acknowledged write is lost, no
 * read sees a value that was overwritten or never written.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import {
  currentRuntime,
  freePorts,
  projectRoot,
  scriptCommand,
} from "../../examples/local_cluster.ts";
import { assertLinearizable, kvModel, type KvOperation } from "../../testing/mod.ts";

const hosts = [1, 2, 3];
const groups = 16;
const keys = Array.from({ length: 48 }, (_, i) => `key-${i}`);
const clients = 6;
const requestTimeoutMs = 5_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

class Hosts {
  readonly dir = mkdtempSync(join(tmpdir(), "raft-ts-sharded-"));
  readonly procs = new Map<number, { child: ChildProcess; exited: Promise<void> }>();
  apiPorts: number[] = [];
  peerPorts: number[] = [];
  readonly secret = "sharded-e2e-secret-0123456789";

  async init(): Promise<void> {
    const ports = await freePorts(2 * hosts.length);
    this.apiPorts = ports.slice(0, hosts.length);
    this.peerPorts = ports.slice(hosts.length);
  }

  url(id: number): string {
    return `http://127.0.0.1:${this.apiPorts[id - 1]}`;
  }

  start(id: number): void {
    const [cmd, args] = scriptCommand(
      currentRuntime(),
      join(projectRoot, "examples", "sharded_kv.ts"),
    );
    const out = createWriteStream(join(this.dir, `host-${id}.log`), { flags: "a" });
    const child = spawn(cmd, [
      ...args,
      "--id",
      String(id),
      "--listen",
      `127.0.0.1:${this.apiPorts[id - 1]}`,
      "--peer-listen",
      `127.0.0.1:${this.peerPorts[id - 1]}`,
      "--groups",
      String(groups),
      "--tick-ms",
      "50",
      "--balance-ms",
      "200",
      // Both writer modes: host 1 writes inline, the others on a writer thread.
      "--sqlite-writer",
      id === 1 ? "inline" : "worker",
      "--log",
      "warn",
    ], {
      cwd: projectRoot,
      env: {
        ...process.env,
        RAFT_PEERS: hosts.map((h) => `${h}=${this.url(h)}`).join(","),
        RAFT_PEER_URLS: hosts.map((h) => `${h}=ws://127.0.0.1:${this.peerPorts[h - 1]}/raft`)
          .join(","),
        RAFT_SECRET: this.secret,
        RAFT_DATA_DIR: this.dir,
        NO_COLOR: "1",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout!.pipe(out, { end: false });
    child.stderr!.pipe(out, { end: false });
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    this.procs.set(id, { child, exited });
  }

  async kill(id: number): Promise<void> {
    const p = this.procs.get(id);
    if (p === undefined) return;
    p.child.kill("SIGKILL");
    await p.exited;
    this.procs.delete(id);
  }

  log(id: number): string {
    try {
      return readFileSync(join(this.dir, `host-${id}.log`), "utf8").split("\n").slice(-15)
        .map((l) => `  [host ${id}] ${l}`).join("\n");
    } catch {
      return "";
    }
  }

  /** Waits until every running host answers /readyz (every group has a leader). */
  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    let last = "";
    while (performance.now() < deadline) {
      const states = await Promise.all([...this.procs.keys()].map(async (id) => {
        try {
          const res = await fetch(`${this.url(id)}/readyz`, { signal: AbortSignal.timeout(2000) });
          const body = await res.json();
          return res.status === 200 ? "ok" : `host ${id}: ${body.reason}`;
        } catch (e) {
          return `host ${id}: ${e instanceof Error ? e.message : e}`;
        }
      }));
      if (states.every((s) => s === "ok")) return;
      last = states.filter((s) => s !== "ok").join("; ");
      await sleep(200);
    }
    throw new Error(
      `not ready within ${timeoutMs} ms: ${last}\n${hosts.map((h) => this.log(h)).join("\n")}`,
    );
  }

  async leadersPerHost(id: number): Promise<Record<string, number>> {
    const res = await fetch(`${this.url(id)}/raft/status`, { signal: AbortSignal.timeout(2000) });
    return (await res.json()).leadersPerHost;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.procs.keys()].map((id) => this.kill(id)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One request, redirects followed by hand (3 at most); `undefined` when no answer came. */
async function call(
  url: string,
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; body: unknown } | undefined> {
  let target = `${url}${path}`;
  for (let hop = 0; hop < 3; hop++) {
    try {
      const res = await fetch(target, {
        ...init,
        redirect: "manual",
        signal: AbortSignal.timeout(requestTimeoutMs),
      });
      const body = await res.json().catch(() => null);
      if (res.status === 307 && res.headers.get("location") !== null) {
        target = res.headers.get("location")!;
        continue;
      }
      return { status: res.status, body };
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Runs one client until `stop.done`, recording its operations. */
async function client(
  c: number,
  h: Hosts,
  history: KvOperation[],
  stop: { done: boolean },
  counts: { acked: number; unknown: number },
): Promise<void> {
  let seq = 0;
  while (!stop.done) {
    const key = keys[Math.floor(Math.random() * keys.length)]!;
    const live = [...h.procs.keys()];
    const host = live[Math.floor(Math.random() * live.length)]!;
    const call0 = performance.now();
    if (Math.random() < 0.5) {
      const value = `c${c}-${++seq}`;
      const a = await call(h.url(host), `/kv/${key}`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ value }),
      });
      // Only a 200 is known to have applied; an error answer after the
      // proposal (timeout, leader change) or no answer may have applied too.
      const acked = a?.status === 200;
      // 503 no_leader: refused while waiting for a leader, before any proposal.
      const refusedBeforeProposal = a !== undefined && a.status === 503 &&
        (a.body as { error?: { code?: string } } | null)?.error?.code === "no_leader";
      if (acked) counts.acked++;
      else counts.unknown++;
      history.push({
        clientId: c,
        call: call0,
        input: { op: "put", key, value },
        ...(acked ? { return: performance.now(), output: { ok: true } } : {}),
        ...(refusedBeforeProposal ? { return: performance.now(), output: { ok: false } } : {}),
      });
    } else {
      const a = await call(h.url(host), `/kv/${key}`);
      if (a?.status === 200 || a?.status === 404) {
        const value = a.status === 200 ? (a.body as { value: string }).value : null;
        history.push({
          clientId: c,
          call: call0,
          return: performance.now(),
          input: { op: "get", key },
          output: { value },
        });
      }
    }
    if (!stop.done && (h.procs.size < hosts.length)) await sleep(5);
  }
}

test(
  `sharded_kv (${currentRuntime()}): 3 hosts × ${groups} groups, kill -9 of the busiest host under load: every group elects, the history is linearizable`,
  { timeout: 240_000 },
  async () => {
    const h = new Hosts();
    await h.init();
    let ok = false;
    try {
      for (const id of hosts) h.start(id);
      await h.waitReady(60_000);
      const history: KvOperation[] = [];
      const stop = { done: false };
      const counts = { acked: 0, unknown: 0 };
      const running = Array.from(
        { length: clients },
        (_, c) => client(c + 1, h, history, stop, counts),
      );
      await sleep(3000);
      const per = await h.leadersPerHost(1);
      const victim = Number(
        Object.entries(per).sort((a, b) => b[1] - a[1])[0]?.[0] ?? hosts[0],
      );
      const before = counts.acked;
      await h.kill(victim);
      await sleep(4000);
      // The survivors lead every group.
      await h.waitReady(30_000);
      const duringKill = counts.acked - before;
      h.start(victim);
      await h.waitReady(60_000);
      await sleep(2000);
      stop.done = true;
      await Promise.all(running);

      // A final read of every key, from every host in turn.
      for (const [i, key] of keys.entries()) {
        const host = hosts[i % hosts.length]!;
        const t = performance.now();
        const a = await call(h.url(host), `/kv/${key}`);
        assert.ok(
          a?.status === 200 || a?.status === 404,
          `final read of ${key}: ${JSON.stringify(a)}`,
        );
        history.push({
          clientId: 0,
          call: t,
          return: performance.now(),
          input: { op: "get", key },
          output: { value: a.status === 200 ? (a.body as { value: string }).value : null },
        });
      }
      const report = assertLinearizable(kvModel, history);
      assert.ok(counts.acked > 50, `acknowledged writes: ${counts.acked}`);
      assert.ok(duringKill > 0, "writes were acknowledged while the host was down");
      console.log(
        `  host ${victim} (leading ${
          per[victim]
        } groups) killed: ${counts.acked} writes acknowledged (${duringKill} while it was down), ${counts.unknown} unknown, ${history.length} operations linearizable (${report.result})`,
      );
      ok = true;
    } finally {
      if (!ok) console.log(hosts.map((id) => h.log(id)).join("\n"));
      await h.stop();
    }
  },
);
