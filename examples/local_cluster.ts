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
 * end-to-end tests; `demoRoutes` serves the page's demo buttons (mounted by
 * `kv_server.ts --demo`). A `LocalCluster` in demo mode restarts the
 * processes it started when the page's Restart button asks it to (through
 * `restartThrough`: its nodes get the URL in `RAFT_DEMO_RESTART_URL`).
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
import {
  forwardedByHeader,
  type HonoContext,
  httpError,
  type Logger,
  type MemberDirectory,
  parseNodeId,
  type RaftApp,
  type RaftNodeLike,
  type RaftStatusJson,
  type TransportMonitor,
} from "../adapters/hono/mod.ts";
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
// The page's demo buttons

/** The request header that carries the demo token. */
const demoTokenHeader = "raft-demo-token";

/**
 * Refuses a demo request from another origin or without the token.
 *
 * @throws {HTTPException} 403 `demo_forbidden`.
 */
async function checkDemoRequest(c: HonoContext, token: string): Promise<void> {
  const refuse = (why: string): never => {
    throw httpError(403, "demo_forbidden", `Cannot run a demo action: ${why}`);
  };
  const site = c.req.header("sec-fetch-site");
  if (site !== undefined && site !== "same-origin" && site !== "none") {
    refuse(`the request comes from another site (Sec-Fetch-Site: ${site})`);
  }
  const origin = c.req.header("origin");
  if (origin !== undefined) {
    const host = c.req.header("host") ?? new URL(c.req.url).host;
    let originHost: string | undefined;
    try {
      originHost = new URL(origin).host;
    } catch {
      originHost = undefined;
    }
    if (originHost !== host) {
      refuse(`the request comes from another origin (${origin.slice(0, 100)})`);
    }
  }
  const sent = c.req.header(demoTokenHeader);
  if (sent === undefined || !(await timingSafeEqual(sent, token))) {
    refuse(`the '${demoTokenHeader}' header is missing or wrong`);
  }
}

/**
 * The demo token of a cluster, derived from its secret (the same on every
 * node, and not the secret itself: the page shows it to whoever loads it).
 *
 * @param secret The cluster secret.
 * @returns The token, 64 hex digits.
 */
export async function demoTokenOf(secret: string): Promise<string> {
  const data = new TextEncoder().encode(`raft-ts demo token\n${secret}`);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Options of {@linkcode demoRoutes}. */
export interface DemoRoutesOptions {
  /**
   * The token each request must carry in the `Raft-Demo-Token` header (the
   * page embeds it: another site cannot read the page, so it cannot press
   * the buttons). The same on every node, since a button may act on
   * another node through this one.
   */
  token: string;
  /** Where the other members' API URLs are found (a button may act on another node). */
  directory: MemberDirectory;
  /** The monitor wrapping the node's transport: it cuts the node off for "partition". */
  monitor?: TransportMonitor;
  /**
   * Stops this node (for a server: close the node and exit the process).
   * @default {closes the node}
   */
  stop?: () => void | Promise<void>;
  /**
   * Restarts a stopped node, any node (it cannot do it itself): resolves
   * once it runs, or throws (an `HTTPException` is answered as it is).
   * Without it, `restart` is answered 501 `not_supported`.
   * @default {undefined}
   */
  restart?: (id: number) => Promise<void>;
  /**
   * The `fetch` that reaches other members.
   * @default {globalThis.fetch}
   */
  fetch?: (request: Request) => Promise<Response>;
  /**
   * How long another member may take to answer.
   * @default {1000}
   */
  memberTimeoutMs?: number;
  /** Where a failed stop is logged. */
  logger?: Logger;
}

/**
 * The routes behind the cluster page's demo buttons:
 * `POST /raft/demo/nodes/:id/{partition|heal|stop|restart}`. A request for
 * another node is passed on to it (one hop), except `restart`, which the
 * node that receives it asks its `restart` option to do (the other node is
 * down). Each request must come from the same
 * origin (an `Origin` or `Sec-Fetch-Site` header, when sent, must say so)
 * and carry the token; others are answered 403 `demo_forbidden`. For local
 * demos only: mount them with `app.route("/", demoRoutes(node, options))`
 * next to `createRaftApp` (whose `allowedHosts` check keeps rebound domain
 * names out), and give the page the same token (`page.demoToken`).
 *
 * @param node The node these buttons act on.
 * @param options The directory, the monitor, and how to stop.
 * @returns A Hono app to mount.
 */
export function demoRoutes(node: RaftNodeLike, options: DemoRoutesOptions): RaftApp {
  const app = new Hono();
  const doFetch = options.fetch ?? ((r: Request) => fetch(r));
  const memberTimeoutMs = options.memberTimeoutMs ?? 1000;

  async function passOn(id: number, action: string): Promise<Response> {
    const url = options.directory.get(id)?.apiUrl;
    if (url === undefined) {
      throw httpError(
        404,
        "member_address_unknown",
        `Cannot reach node ${id}: its API address is unknown`,
      );
    }
    const request = new Request(`${url}/raft/demo/nodes/${id}/${action}`, {
      method: "POST",
      headers: { [forwardedByHeader]: String(node.id), [demoTokenHeader]: options.token },
      signal: AbortSignal.timeout(memberTimeoutMs),
    });
    const res = await doFetch(request).catch((e) => {
      throw httpError(
        502,
        "member_unreachable",
        `Cannot ${action} node ${id}: ${e instanceof Error ? e.message : String(e)}`,
      );
    });
    // The member's answer, read whole and passed on with its status and
    // type only: its transfer headers describe the other connection (Node's
    // server refuses some of them).
    const body = await res.arrayBuffer();
    const type = res.headers.get("content-type");
    return new Response(body, {
      status: res.status,
      headers: type === null ? {} : { "content-type": type },
    });
  }

  app.post("/raft/demo/nodes/:id/:action{partition|heal|stop|restart}", async (c) => {
    await checkDemoRequest(c, options.token);
    const id = parseNodeId(c.req.param("id"), "id");
    const action = c.req.param("action");
    if (action === "restart") {
      if (options.restart === undefined) {
        throw httpError(
          501,
          "not_supported",
          `Cannot restart node ${id}: nothing here can start its process (the app was created without 'restart')`,
        );
      }
      await options.restart(id);
      return c.json({ id, action, ok: true });
    }
    if (id !== node.id) {
      if (c.req.header(forwardedByHeader) !== undefined) {
        throw httpError(409, "wrong_node", `Cannot ${action} node ${id}: this is node ${node.id}`);
      }
      return await passOn(id, action);
    }
    if (action === "stop") {
      const stop = options.stop ?? ((): Promise<void> => node.close());
      // Answer first, then stop.
      setTimeout(() => {
        Promise.resolve().then(stop).catch((e) =>
          options.logger?.error(`demo stop failed: ${e instanceof Error ? e.message : e}`)
        );
      }, 20);
      return c.json({ id, action, ok: true }, 202);
    }
    if (options.monitor === undefined) {
      throw httpError(
        501,
        "not_supported",
        `Cannot ${action} node ${id}: the app was created without a transport monitor`,
      );
    }
    options.monitor.isolated = action === "partition";
    return c.json({ id, action, ok: true, isolated: options.monitor.isolated });
  });
  return app;
}

/**
 * The `restart` of {@linkcode demoRoutes} for a node that a
 * {@linkcode LocalCluster} started: asks the cluster's restart route
 * (`RAFT_DEMO_RESTART_URL`) to start the node's process again.
 *
 * @param url The restart route's base URL.
 * @param token The demo token.
 * @param fetchFn The `fetch` that reaches it.
 * @returns The function to pass as `restart`.
 */
export function restartThrough(
  url: string,
  token: string,
  fetchFn: (request: Request) => Promise<Response> = (r) => fetch(r),
): (id: number) => Promise<void> {
  return async function restart(id: number): Promise<void> {
    const request = new Request(`${url}/nodes/${id}/restart`, {
      method: "POST",
      headers: { [demoTokenHeader]: token },
      // Starting a process takes up to 20 s (LocalCluster.startNode).
      signal: AbortSignal.timeout(25_000),
    });
    const res = await fetchFn(request).catch((e) => {
      throw httpError(
        502,
        "restart_unreachable",
        `Cannot restart node ${id}: ${url} does not answer (${e instanceof Error ? e.message : e})`,
      );
    });
    const body = await res.json().catch(() => undefined) as
      | { error?: { code?: string; message?: string } }
      | undefined;
    if (res.ok) return;
    const status = res.status === 409 || res.status === 404 ? res.status : 502;
    throw httpError(
      status,
      body?.error?.code ?? "restart_failed",
      body?.error?.message ?? `Cannot restart node ${id}: ${url} answered HTTP ${res.status}`,
    );
  };
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

async function demo(): Promise<void> {
  const args = process.argv.slice(2);
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
    return;
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
  const keep = values.keep === true;
  const tempDir = values["data-dir"] === undefined;
  const dataDir = values["data-dir"] !== undefined
    ? resolve(values["data-dir"], `demo-${Date.now()}`)
    : mkdtempSync(join(tmpdir(), "raft-ts-demo-"));
  const t0 = Date.now();
  const secs = (since: number): string => `${((Date.now() - since) / 1000).toFixed(1)} s`;

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

    let t = Date.now();
    const first = await cluster.waitForLeader();
    console.log(`\n${bold("1. Election")}  node ${first.id} is the leader (term ${first.term})`);

    const acked = new Map<string, string>();
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
    t = Date.now();
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

    console.log(`${bold("3. Failure")}   killing the leader, node ${first.id} (SIGKILL)`);
    await cluster.kill(first.id);
    t = Date.now();
    const second = await cluster.waitForLeader(15_000, first.id);
    console.log(
      `              new leader: node ${second.id} (term ${second.term}), elected in ${secs(t)}`,
    );
    for (const [i, v] of ["mallory", "niaj", "olivia"].entries()) {
      const key = `user/${names.length + i + 1}`;
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

    console.log(`${bold("4. Recovery")}  restarting node ${first.id} from its SQLite log`);
    t = Date.now();
    await cluster.startNode(first.id);
    const caught = await cluster.waitForCatchUp(first.id);
    let local = 0;
    for (const [k, v] of acked) {
      if (
        (await client.get(k, { via: cluster.url(first.id), consistency: "stale" }))?.value === v
      ) {
        local++;
      }
    }
    console.log(
      `              node ${first.id} is a ${caught.role} again and caught up to index ${caught.applied} in ${
        secs(t)
      }; its local copy holds ${local}/${acked.size} keys`,
    );
    if (local !== acked.size) throw new Error("the restarted node did not catch up");

    if (keep) {
      console.log(
        `\n${bold("The cluster keeps running.")} Open ${cluster.url(1)}/ for the live page`,
      );
      console.log(
        `(demo buttons: partition, heal, stop, restart), or try:\n  curl -L -X PUT -H 'content-type: application/json' -d '{"value":"hi"}' ${
          cluster.url(1)
        }/kv/greeting\n  curl ${cluster.url(2)}/kv?prefix=user/\nPress Ctrl-C to stop.`,
      );
      await new Promise<never>(() => {});
    }

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
