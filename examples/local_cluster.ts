/**
 * The local cluster demo: starts three `kv_server` processes on localhost,
 * writes and reads keys, kills the leader, shows the new leader and that
 * every acknowledged write survived, restarts the old leader and shows it
 * catching up from its SQLite log, then stops everything and prints a
 * summary. It exits by itself; `--keep` leaves the cluster running (with
 * the live page's demo buttons) until Ctrl-C.
 *
 * Run: `npm run demo` (which runs `deno task demo`), or directly
 * `deno run -A examples/local_cluster.ts [--keep] [--data-dir ./data] [--runtime bun|deno|node]`
 * (also `bun examples/local_cluster.ts`, `node examples/local_cluster.ts`);
 * `--help` lists the flags.
 *
 * The cluster helpers (`LocalCluster`, `KvClient`) are exported for the
 * end-to-end tests. A `LocalCluster` in demo mode restarts the processes it
 * started when the page's Restart button asks it to (through
 * `restartThrough` of `_demo_routes.ts`: its nodes get the URL in
 * `RAFT_DEMO_RESTART_URL`).
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { timingSafeEqual } from "hono/utils/buffer";
import { httpError, parseNodeId, type RaftStatusJson } from "../adapters/hono/mod.ts";
import type { KvItem } from "./kv_server.ts";
import {
  CliError,
  exitOnStartupError,
  type FlagTable,
  type FlagValues,
  helpText,
  isMainModule,
  parseFlags,
} from "./_cli.ts";
import { runtimeServer, type ServedHttp } from "./_serve.ts";
import { demoTokenHeader, demoTokenOf } from "./_demo_routes.ts";

/** The project's root directory. */
export const projectRoot: string = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The runtime that runs the `kv_server` processes. */
export type ServerRuntime = "bun" | "deno" | "node";

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The runtime this program runs on. */
export function currentRuntime(): ServerRuntime {
  if ((globalThis as { Bun?: unknown }).Bun !== undefined) return "bun";
  return (globalThis as { Deno?: unknown }).Deno !== undefined ? "deno" : "node";
}

/**
 * The command line that runs a script on a runtime.
 *
 * @param rt The runtime.
 * @param script The script's path.
 * @returns The program and its arguments.
 */
export function scriptCommand(rt: ServerRuntime, script: string): [string, string[]] {
  return [runtimeCommand(rt), rt === "deno" ? ["run", "-A", script] : [script]];
}

/** The command that runs a runtime: the project's npm-installed binary, or this process's. */
function runtimeCommand(rt: ServerRuntime): string {
  const local = join(projectRoot, "node_modules", ".bin", rt);
  if (existsSync(local)) return local;
  if (rt === currentRuntime()) return process.execPath;
  return rt;
}

/** Finds `n` free TCP ports on the loopback interface. */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () =>
      new Promise<ReturnType<typeof createServer>>((res, rej) => {
        const s = createServer();
        s.once("error", rej);
        s.listen(0, "127.0.0.1", () => res(s));
      })),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}

/** Options of {@linkcode LocalCluster.start}. */
export interface LocalClusterOptions {
  /**
   * Nodes in the cluster.
   * @default {3}
   */
  size?: number;
  /** Where the nodes keep their databases and logs. */
  dataDir: string;
  /**
   * The runtime of the server processes.
   * @default {"bun" when installed, else this runtime}
   */
  runtime?: ServerRuntime;
  /**
   * The Raft tick.
   * @default {50}
   */
  tickMs?: number;
  /**
   * The cluster secret.
   * @default {a random one}
   */
  secret?: string;
  /**
   * Enable the page's demo buttons, Restart included: the cluster then
   * serves its nodes (only) a loopback route that restarts a stopped one.
   * @default {false}
   */
  demo?: boolean;
  /**
   * The servers' log level.
   * @default {"info"}
   */
  log?: "debug" | "info" | "warn" | "quiet";
  /**
   * More flags for some nodes, by ID (they win over the shared ones, e.g.
   * `--data-dir` on another disk).
   * @default {{}}
   */
  nodeArgs?: Record<number, string[]>;
  /**
   * More environment variables of every node (e.g. a runtime's heap limit).
   * @default {{}}
   */
  env?: Record<string, string>;
}

interface NodeProc {
  id: number;
  port: number;
  url: string;
  child: ChildProcess | undefined;
  exited: Promise<void> | undefined;
  /** How the last process ended. */
  exit: { code: number | null; signal: string | null } | undefined;
}

/** Three (or more) `kv_server` processes on loopback, started and stopped together. */
export class LocalCluster {
  readonly dataDir: string;
  readonly runtime: ServerRuntime;
  readonly secret: string;
  readonly #nodes = new Map<number, NodeProc>();
  readonly #args: string[];
  readonly #nodeArgs: Record<number, string[]>;
  readonly #env: Record<string, string>;
  /** The route that restarts nodes for the page's Restart button (demo mode). */
  #restarts: ServedHttp | undefined;
  #stopping = false;

  private constructor(o: LocalClusterOptions, ports: number[]) {
    this.dataDir = o.dataDir;
    this.runtime = o.runtime ??
      (existsSync(join(projectRoot, "node_modules", ".bin", "bun")) ? "bun" : currentRuntime());
    this.secret = o.secret ??
      Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0"))
        .join("");
    ports.forEach((port, i) => {
      const id = i + 1;
      this.#nodes.set(id, {
        id,
        port,
        url: `http://127.0.0.1:${port}`,
        child: undefined,
        exited: undefined,
        exit: undefined,
      });
    });
    const peers = [...this.#nodes.values()].map((n) => `${n.id}=${n.url}`).join(",");
    this.#args = ["--tick-ms", String(o.tickMs ?? 50), ...(o.demo ? ["--demo"] : [])];
    this.#nodeArgs = o.nodeArgs ?? {};
    this.#env = {
      ...o.env,
      RAFT_PEERS: peers,
      RAFT_SECRET: this.secret,
      RAFT_DATA_DIR: this.dataDir,
      RAFT_LOG: o.log ?? "info",
    };
  }

  /**
   * Starts the processes and waits until each answers HTTP.
   *
   * @param options Size, data directory, runtime, tick.
   * @returns The running cluster.
   */
  static async start(options: LocalClusterOptions): Promise<LocalCluster> {
    mkdirSync(options.dataDir, { recursive: true });
    const c = new LocalCluster(options, await freePorts(options.size ?? 3));
    try {
      if (options.demo === true) await c.#serveRestarts();
      await Promise.all(c.ids().map((id) => c.startNode(id)));
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  /**
   * Serves `POST /nodes/:id/restart` on loopback for the nodes' demo routes
   * (with the demo token; a node whose process still runs 5 s later is
   * answered 409).
   */
  async #serveRestarts(): Promise<void> {
    const token = await demoTokenOf(this.secret);
    const app = new Hono();
    app.post("/nodes/:id/restart", async (c) => {
      const sent = c.req.header(demoTokenHeader);
      if (sent === undefined || !(await timingSafeEqual(sent, token))) {
        throw httpError(
          403,
          "demo_forbidden",
          `Cannot restart a node: the '${demoTokenHeader}' header is missing or wrong`,
        );
      }
      const id = parseNodeId(c.req.param("id"), "id");
      if (!this.#nodes.has(id)) {
        throw httpError(
          404,
          "unknown_node",
          `Cannot restart node ${id}: this cluster has no such node`,
        );
      }
      if (this.#stopping) {
        throw httpError(503, "stopping", `Cannot restart node ${id}: the cluster is stopping`);
      }
      // A node stopped by its Stop button answers nothing before its process ends.
      const exited = this.#nodes.get(id)!.exited;
      if (this.running(id)) await Promise.race([exited, sleep(5000)]);
      if (this.running(id)) {
        throw httpError(409, "node_running", `Cannot restart node ${id}: its process runs`);
      }
      await this.startNode(id).catch((e) => {
        throw httpError(500, "restart_failed", e instanceof Error ? e.message : String(e));
      });
      return c.json({ id, action: "restart", ok: true, pid: this.pid(id) ?? null });
    });
    app.onError((e, c) =>
      e instanceof HTTPException ? e.getResponse() : c.json(
        { error: { code: "internal", message: e.message } },
        500,
      )
    );
    const runtime = await runtimeServer();
    this.#restarts = await runtime.serve(app.fetch, "127.0.0.1", 0, undefined);
    this.#env.RAFT_DEMO_RESTART_URL = `http://127.0.0.1:${this.#restarts.port}`;
  }

  /** The node IDs. */
  ids(): number[] {
    return [...this.#nodes.keys()];
  }

  /** A node's API URL. */
  url(id: number): string {
    return this.#nodes.get(id)!.url;
  }

  /** A node's process ID, while it runs. */
  pid(id: number): number | undefined {
    return this.#nodes.get(id)!.child?.pid;
  }

  /**
   * How a node's last process ended, once it has.
   *
   * @param id The node.
   * @returns Its exit status or the signal that ended it.
   */
  exitOf(id: number): { code: number | null; signal: string | null } | undefined {
    const n = this.#nodes.get(id)!;
    return n.child === undefined ? n.exit : undefined;
  }

  /** Whether a node's process runs. */
  running(id: number): boolean {
    return this.#nodes.get(id)!.child !== undefined;
  }

  /** Where a node's log goes. */
  logPath(id: number): string {
    return join(this.dataDir, `node-${id}.log`);
  }

  /**
   * Starts (or restarts) one node's process and waits until it answers.
   *
   * @param id The node.
   */
  async startNode(id: number): Promise<void> {
    const n = this.#nodes.get(id)!;
    if (n.child !== undefined) throw new Error(`Cannot start node ${id}: it is running`);
    const script = join(projectRoot, "examples", "kv_server.ts");
    const [command, args] = scriptCommand(this.runtime, script);
    const log = createWriteStream(this.logPath(id), { flags: "a" });
    const child = spawn(
      command,
      [
        ...args,
        "--id",
        String(id),
        "--listen",
        `127.0.0.1:${n.port}`,
        ...this.#args,
        ...(this.#nodeArgs[id] ?? []),
      ],
      {
        cwd: projectRoot,
        env: { ...process.env, ...this.#env, NO_COLOR: "1" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    n.child = child;
    n.exited = new Promise<void>((res) => {
      child.once("exit", (code, signal) => {
        n.exit = { code, signal };
        if (n.child === child) n.child = undefined;
        log.end();
        res();
      });
    });
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (n.child !== child) {
        throw new Error(`Cannot start node ${id}: the process exited; see ${this.logPath(id)}`);
      }
      try {
        const res = await fetch(`${n.url}/healthz`);
        await res.body?.cancel();
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      await sleep(50);
    }
    throw new Error(`Cannot start node ${id}: no answer within 20 s; see ${this.logPath(id)}`);
  }

  /**
   * Kills a node's process.
   *
   * @param id The node.
   * @param signal The signal (SIGKILL: a crash).
   */
  async kill(id: number, signal: "SIGKILL" | "SIGTERM" = "SIGKILL"): Promise<void> {
    const n = this.#nodes.get(id)!;
    if (n.child === undefined) return;
    n.child.kill(signal);
    await n.exited;
  }

  /**
   * A node's status, or `null` when it does not answer.
   *
   * @param id The node.
   * @returns Its status.
   */
  async status(id: number): Promise<RaftStatusJson | null> {
    if (!this.running(id)) return null;
    try {
      const res = await fetch(`${this.url(id)}/raft/status`, { signal: AbortSignal.timeout(2000) });
      return res.ok ? (await res.json()) as RaftStatusJson : null;
    } catch {
      return null;
    }
  }

  /**
   * Waits until the running nodes agree on a leader.
   *
   * @param timeoutMs How long to wait.
   * @param not A node that must not be the leader (a killed one).
   * @returns The leader's ID and term.
   */
  async waitForLeader(timeoutMs = 15_000, not?: number): Promise<{ id: number; term: number }> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const sts = (await Promise.all(this.ids().map((id) => this.status(id))))
        .filter((s): s is RaftStatusJson => s !== null);
      const leader = sts.find((s) => s.role === "leader" && s.id !== not);
      if (
        leader !== undefined &&
        sts.every((s) => s.leaderId === leader.id && s.term === leader.term)
      ) {
        return { id: leader.id, term: leader.term };
      }
      await sleep(50);
    }
    throw new Error(`Cannot find a leader: none agreed on within ${timeoutMs} ms`);
  }

  /**
   * Waits until a node has applied everything the leader committed.
   *
   * @param id The node.
   * @param timeoutMs How long to wait.
   * @returns The node's status then.
   */
  async waitForCatchUp(id: number, timeoutMs = 15_000): Promise<RaftStatusJson> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const { id: lid } = await this.waitForLeader(Math.max(1, deadline - Date.now()));
      const [l, s] = await Promise.all([this.status(lid), this.status(id)]);
      if (l !== null && s !== null && s.applied >= l.commit && s.leaderId === lid) return s;
      await sleep(50);
    }
    throw new Error(`Cannot see node ${id} catch up within ${timeoutMs} ms`);
  }

  /** Stops every process (SIGTERM, then SIGKILL after 3 s). */
  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#restarts?.stop();
    await Promise.all([...this.#nodes.values()].map(async (n) => {
      if (n.child === undefined) return;
      n.child.kill("SIGTERM");
      const t = setTimeout(() => n.child?.kill("SIGKILL"), 3000);
      await n.exited;
      clearTimeout(t);
    }));
  }
}

/** The outcome of a write. */
export type WriteOutcome =
  | { acked: true; item: KvItem & { revision: number } }
  | { acked: false; unknown: boolean; error: string };

/**
 * A small HTTP client for the key-value API that follows leader redirects
 * and retries on other nodes while no leader is available.
 */
export class KvClient {
  readonly #urls: () => string[];
  readonly #timeoutMs: number;
  #next = 0;

  /**
   * Creates a client.
   *
   * @param urls The nodes' API URLs (read anew for every request).
   * @param timeoutMs How long one operation may take, retries included.
   */
  constructor(urls: () => string[], timeoutMs = 10_000) {
    this.#urls = urls;
    this.#timeoutMs = timeoutMs;
  }

  /**
   * Writes a key; acknowledged only when the leader applied it.
   *
   * @param key The key.
   * @param value The value.
   * @returns Whether it was acknowledged, or whether the outcome is unknown.
   */
  async put(key: string, value: string): Promise<WriteOutcome> {
    const deadline = Date.now() + this.#timeoutMs;
    let unknown = false;
    let last = "no attempt";
    while (Date.now() < deadline) {
      let url = this.#pick();
      for (let hop = 0; hop < 4; hop++) {
        let res: Response;
        try {
          res = await fetch(`${url}/kv/${encodeURIComponent(key)}`, {
            method: "PUT",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ value }),
            redirect: "manual",
            signal: AbortSignal.timeout(Math.max(1, Math.min(5000, deadline - Date.now()))),
          });
        } catch (e) {
          // The request may have reached the leader before the connection broke.
          unknown = true;
          last = `${url}: ${e instanceof Error ? e.message : e}`;
          break;
        }
        const body = await res.json().catch(() => ({}));
        if (res.status === 200) return { acked: true, item: body };
        last = `${url}: HTTP ${res.status} ${body?.error?.code ?? ""}`;
        if (res.status === 307 && res.headers.get("location") !== null) {
          url = new URL(res.headers.get("location")!).origin;
          continue;
        }
        if (res.status === 504) unknown = true;
        if (res.status < 500) return { acked: false, unknown, error: last };
        break;
      }
      await sleep(100);
    }
    return { acked: false, unknown, error: last };
  }

  /**
   * Reads a key.
   *
   * @param key The key.
   * @param options Which node to ask (any by default) and the consistency.
   * @returns The item, `null` when absent.
   * @throws {Error} When no node answered in time.
   */
  async get(
    key: string,
    options: { via?: string; consistency?: "linearizable" | "stale" } = {},
  ): Promise<KvItem | null> {
    const deadline = Date.now() + this.#timeoutMs;
    let last = "no attempt";
    while (Date.now() < deadline) {
      const url = options.via ?? this.#pick();
      const q = options.consistency === "stale" ? "?consistency=stale" : "";
      try {
        const res = await fetch(`${url}/kv/${encodeURIComponent(key)}${q}`, {
          signal: AbortSignal.timeout(5000),
        });
        const body = await res.json().catch(() => ({}));
        if (res.status === 200) return body as KvItem;
        if (res.status === 404 && body?.error?.code === "key_not_found") return null;
        last = `${url}: HTTP ${res.status} ${body?.error?.code ?? ""}`;
      } catch (e) {
        last = `${url}: ${e instanceof Error ? e.message : e}`;
      }
      await sleep(100);
    }
    throw new Error(`Cannot read '${key}': ${last}`);
  }

  #pick(): string {
    const urls = this.#urls();
    return urls[this.#next++ % urls.length]!;
  }
}

// ---------------------------------------------------------------------------
// The demo

const color = process.stdout.isTTY === true && process.env.NO_COLOR === undefined;
const bold = (s: string): string => (color ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string): string => (color ? `\x1b[2m${s}\x1b[0m` : s);

/** The flags of the demo. */
const demoFlags = {
  runtime: {
    type: "string",
    value: "bun|deno|node",
    help: "the runtime of the kv_server processes (default bun when installed, else this one)",
  },
  "data-dir": {
    type: "string",
    value: "DIR",
    help:
      "keep the nodes' databases and logs in DIR/demo-<time> (default: a temporary directory, removed)",
  },
  keep: {
    type: "boolean",
    help: "leave the cluster running, with the page's demo buttons, until Ctrl-C",
  },
  help: { type: "boolean", help: "print this help and exit" },
} as const satisfies FlagTable;

/** The demo's command line, parsed. */
interface DemoArgs {
  runtime: ServerRuntime | undefined;
  keep: boolean;
  /** Where the nodes keep their data; undefined: a temporary directory. */
  dataDir: string | undefined;
}

/**
 * Parses the demo's command line; prints the help for `--help`.
 *
 * @param args The arguments.
 * @returns The parsed arguments, or undefined after printing the help.
 */
function demoArgs(args: string[]): DemoArgs | undefined {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(helpText(
      "local_cluster.ts [--runtime bun|deno|node] [--data-dir DIR] [--keep]",
      demoFlags,
      [
        "Starts three kv_server processes on localhost, writes keys, kills the leader, shows the",
        "new leader and that every acknowledged write survived, restarts the old leader and shows",
        "it catching up, then stops everything (or keeps it running with --keep).",
      ],
    ));
    return undefined;
  }
  let values: FlagValues<typeof demoFlags>;
  try {
    values = parseFlags(args, demoFlags);
  } catch (e) {
    exitOnStartupError(e, "local_cluster: ");
  }
  const runtime = values.runtime;
  if (runtime !== undefined && runtime !== "bun" && runtime !== "deno" && runtime !== "node") {
    exitOnStartupError(
      new CliError(2, `Cannot use --runtime: expected bun, deno or node, got '${runtime}'`),
      "local_cluster: ",
    );
  }
  return { runtime, keep: values.keep === true, dataDir: values["data-dir"] };
}

/** The time since `since` (a `Date.now()`), in seconds, for the demo's output. */
function secs(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}

/**
 * Steps 1 and 2: waits for a leader, then writes ten keys and reads one back through a follower.
 *
 * @param cluster The cluster.
 * @param client A client of the running nodes.
 * @param acked Receives the acknowledged writes.
 * @returns The leader.
 */
async function electAndWrite(
  cluster: LocalCluster,
  client: KvClient,
  acked: Map<string, string>,
): Promise<{ id: number; term: number }> {
  const first = await cluster.waitForLeader();
  console.log(`\n${bold("1. Election")}  node ${first.id} is the leader (term ${first.term})`);
  const names = [
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
  ];
  const follower = cluster.ids().find((id) => id !== first.id)!;
  const t = Date.now();
  for (let i = 0; i < names.length; i++) {
    const key = `user/${i + 1}`;
    const r = await client.put(key, names[i]!);
    if (!r.acked) throw new Error(`write ${key} failed: ${r.error}`);
    acked.set(key, names[i]!);
  }
  console.log(
    `${
      bold("2. Writes")
    }    ${acked.size} keys written (PUT /kv/user/1..${acked.size}; followers redirect to the leader), all acknowledged in ${
      secs(t)
    }`,
  );
  const sample = await client.get("user/3", { via: cluster.url(follower) });
  console.log(
    `              GET /kv/user/3 on node ${follower} (linearizable) -> ${
      JSON.stringify(sample?.value)
    }`,
  );
  return first;
}

/**
 * Step 3: kills the leader, waits for the next one, writes three more keys
 * and reads every acknowledged write back.
 *
 * @param cluster The cluster.
 * @param client A client of the running nodes.
 * @param first The leader to kill.
 * @param acked The acknowledged writes; receives the new ones.
 * @returns The new leader and how many acknowledged writes were read back.
 * @throws {Error} When an acknowledged write is missing.
 */
async function killLeader(
  cluster: LocalCluster,
  client: KvClient,
  first: { id: number },
  acked: Map<string, string>,
): Promise<{ second: { id: number; term: number }; present: number }> {
  console.log(`${bold("3. Failure")}   killing the leader, node ${first.id} (SIGKILL)`);
  await cluster.kill(first.id);
  const t = Date.now();
  const second = await cluster.waitForLeader(15_000, first.id);
  console.log(
    `              new leader: node ${second.id} (term ${second.term}), elected in ${secs(t)}`,
  );
  const before = acked.size;
  for (const [i, v] of ["mallory", "niaj", "olivia"].entries()) {
    const key = `user/${before + i + 1}`;
    const r = await client.put(key, v);
    if (!r.acked) throw new Error(`write ${key} failed: ${r.error}`);
    acked.set(key, v);
  }
  let present = 0;
  for (const [k, v] of acked) if ((await client.get(k))?.value === v) present++;
  console.log(
    `              wrote 3 more keys; every acknowledged write is there: ${present}/${acked.size}`,
  );
  if (present !== acked.size) throw new Error("acknowledged writes are missing");
  return { second, present };
}

/**
 * Step 4: restarts the old leader and checks that its local copy catches up.
 *
 * @param cluster The cluster.
 * @param client A client of the running nodes.
 * @param id The node to restart.
 * @param acked The acknowledged writes.
 * @throws {Error} When the node's local copy misses an acknowledged write.
 */
async function restartAndCatchUp(
  cluster: LocalCluster,
  client: KvClient,
  id: number,
  acked: Map<string, string>,
): Promise<void> {
  console.log(`${bold("4. Recovery")}  restarting node ${id} from its SQLite log`);
  const t = Date.now();
  await cluster.startNode(id);
  const caught = await cluster.waitForCatchUp(id);
  let local = 0;
  for (const [k, v] of acked) {
    if ((await client.get(k, { via: cluster.url(id), consistency: "stale" }))?.value === v) {
      local++;
    }
  }
  console.log(
    `              node ${id} is a ${caught.role} again and caught up to index ${caught.applied} in ${
      secs(t)
    }; its local copy holds ${local}/${acked.size} keys`,
  );
  if (local !== acked.size) throw new Error("the restarted node did not catch up");
}

/** Leaves the cluster running until Ctrl-C, with how to use it. */
async function keepRunning(cluster: LocalCluster): Promise<never> {
  console.log(
    `\n${bold("The cluster keeps running.")} Open ${cluster.url(1)}/ for the live page`,
  );
  console.log(
    `(demo buttons: partition, heal, stop, restart), or try:\n  curl -L -X PUT -H 'content-type: application/json' -d '{"value":"hi"}' ${
      cluster.url(1)
    }/kv/greeting\n  curl ${cluster.url(2)}/kv?prefix=user/\nPress Ctrl-C to stop.`,
  );
  return await new Promise<never>(() => {});
}

async function demo(): Promise<void> {
  const args = demoArgs(process.argv.slice(2));
  if (args === undefined) return;
  const { runtime, keep } = args;
  const tempDir = args.dataDir === undefined;
  const dataDir = args.dataDir !== undefined
    ? resolve(args.dataDir, `demo-${Date.now()}`)
    : mkdtempSync(join(tmpdir(), "raft-ts-demo-"));
  const t0 = Date.now();

  const cluster = await LocalCluster.start({
    dataDir,
    log: "info",
    demo: keep,
    ...(runtime !== undefined ? { runtime } : {}),
  });
  let stopped = false;
  const shutdown = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await cluster.stop();
    if (tempDir) rmSync(dataDir, { recursive: true, force: true });
  };
  process.on("SIGINT", () => {
    shutdown().then(() => process.exit(130));
  });

  try {
    console.log(
      `${
        bold("raft-ts local cluster")
      }: ${cluster.ids().length} kv_server processes on ${cluster.runtime}, data in ${dataDir}\n`,
    );
    for (const id of cluster.ids()) {
      console.log(`  node ${id}  ${cluster.url(id)}  ${dim(`pid ${cluster.pid(id)}`)}`);
    }
    const client = new KvClient(() =>
      cluster.ids().filter((id) => cluster.running(id)).map((id) => cluster.url(id))
    );
    const acked = new Map<string, string>();
    const first = await electAndWrite(cluster, client, acked);
    const { second, present } = await killLeader(cluster, client, first, acked);
    await restartAndCatchUp(cluster, client, first.id, acked);
    if (keep) await keepRunning(cluster);

    await shutdown();
    console.log(`${bold("5. Stopped")}   all processes`);
    console.log(
      `\n${
        bold("Summary")
      }: ${cluster.ids().length} nodes, leaders node ${first.id} then node ${second.id}, ` +
        `${acked.size} writes acknowledged and ${present}/${acked.size} present after the leader was killed, ` +
        `node ${first.id} caught up after its restart. Total ${secs(t0)}.`,
    );
    console.log(
      dim(
        `Keep the cluster running to play with it: npm run demo -- --keep  (or deno task demo --keep)`,
      ),
    );
  } catch (e) {
    console.error(`\nDemo failed: ${e instanceof Error ? e.message : e}`);
    for (const id of cluster.ids()) console.error(`  log of node ${id}: ${cluster.logPath(id)}`);
    await cluster.stop();
    process.exit(1);
  }
}

if (isMainModule(import.meta)) await demo();
