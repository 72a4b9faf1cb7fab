/**
 * `createRaftApp`: a Hono app that serves a Raft node's cluster API —
 * status, membership, leadership transfer, health and readiness,
 * Prometheus metrics, the live cluster page — and, optionally, the peers'
 * WebSocket on the same port. Each group of routes is its own module,
 * mounted here with `app.route()`.
 *
 * @module
 */

import { Hono } from "hono";
import { routePath } from "hono/route";
import type { Logger } from "../../core/logger.ts";
import { discardLogger } from "../../core/logger.ts";
import type { RequestOptions } from "../../core/node.ts";
import { adminAuth } from "./_admin.ts";
import type { AppContext, RaftNodeLike } from "./_context.ts";
import { errorHandler, notFound, wrongMethod } from "./_errors.ts";
import type { RaftApp, UpgradeWebSocketLike } from "./_hono_types.ts";
import { acceptAnyPeerUrl, membersRoutes, webSocketPeerUrl } from "./_routes_members.ts";
import { metricsRoutes } from "./_routes_metrics.ts";
import { pageRoutes } from "./_routes_page.ts";
import { statusRoutes } from "./_routes_status.ts";
import { allowedHostsGuard, localHostNames, securityHeaders } from "./_security.ts";
import { MemberDirectory } from "./directory.ts";
import type { LeaderRouting, LeaderRoutingOptions } from "./leader.ts";
import { RaftMetrics, type TransportMetricsLike } from "./metrics.ts";
import type { TransportMonitor } from "./monitor.ts";
import type { ClusterPageOptions } from "./page.ts";
import { peerSocket } from "./peer_socket.ts";
import type { PeerAcceptor } from "../websocket/mod.ts";

export type { RaftNodeLike } from "./_context.ts";
export type {
  ClusterJson,
  ClusterNodeJson,
  MemberProgressJson,
  MemberStatusJson,
  RaftStatusJson,
} from "./_views.ts";

/** Serving the peers' WebSocket on the API's port (see `peerSocket`). */
export interface PeerSocketOptions {
  /** Hono's `upgradeWebSocket` for the runtime (`hono/deno` or `hono/bun`). */
  upgradeWebSocket: UpgradeWebSocketLike;
  /** The transport the sockets go to (a `WebSocketTransport` with `server: "none"`). */
  transport: PeerAcceptor;
  /**
   * The path peers dial on the API's port.
   * @default {"/raft"}
   */
  path?: string;
}

/** Options of {@linkcode createRaftApp}. */
export interface RaftAppOptions {
  /**
   * This node's HTTP API URL, as the other members reach it (for example
   * `http://10.0.0.1:8080`). Recorded in the directory.
   * @default {undefined}
   */
  selfUrl?: string;
  /**
   * The cluster's address book: where leader redirects and forwards go,
   * where the cluster page finds the other members. The app follows the
   * node's membership changes with it.
   * @default {a new, empty MemberDirectory}
   */
  directory?: MemberDirectory;
  /**
   * The bearer token (`Authorization: Bearer <secret>`) the admin routes
   * (membership, leadership transfer) require. Without it they answer 403.
   * @default {undefined}
   */
  adminSecret?: string;
  /**
   * How followers answer requests only the leader can serve.
   * @default {"redirect"}
   */
  leaderRouting?: LeaderRouting;
  /**
   * A leader this node has not heard from within this time (per the
   * transport `monitor`) is taken for gone: leader-only requests wait for
   * the next leader instead of being sent to it. Use the node's election
   * timeout (`tickMs * electionTick`).
   * @default {1000}
   */
  leaderTimeoutMs?: number;
  /**
   * How long a leader-only request on a follower waits for a leader it can
   * reach before answering 503 `no_leader`.
   * @default {3000}
   */
  leaderWaitMs?: number;
  /**
   * The counters behind `GET /metrics`; pass your own to count your
   * proposals with `metrics.observeProposal()`.
   * @default {a new RaftMetrics}
   */
  metrics?: RaftMetrics;
  /**
   * The monitor wrapping the node's transport: when each member was last
   * heard from, traffic counters and demo partitions. (Replication
   * progress comes from the node's status, monitor or not.)
   * @default {undefined}
   */
  monitor?: TransportMonitor;
  /**
   * The transport's own counters, for `GET /metrics` (for example
   * `() => transport.metrics()`).
   * @default {undefined}
   */
  transportMetrics?: () => TransportMetricsLike;
  /**
   * The largest request body the Raft routes accept, in bytes.
   * @default {65536}
   */
  maxBodyBytes?: number;
  /**
   * How long a request body may take to arrive; a slower one is answered
   * 408 `body_timeout`.
   * @default {10000}
   */
  bodyTimeoutMs?: number;
  /**
   * The host names this app answers to (the request's `Host`, port
   * ignored); any other host is answered 421 `host_not_allowed`, so that a
   * web page cannot reach the node through a domain name it rebinds to the
   * node's address (DNS rebinding). `false` answers every host.
   * @default {the host name of `selfUrl` (or of this node's directory entry), localhost, 127.0.0.1 and ::1}
   */
  allowedHosts?: readonly string[] | false;
  /**
   * Which peer URLs the node's transport can dial. `POST /raft/members`
   * refuses (400, nothing changed) a voter without a peer URL (in the body
   * or already in the directory) or with one this refuses: it would count
   * toward the quorum while no member can reach it. `false` accepts any
   * voter (a transport that finds its peers by other means).
   * @default {`ws:` and `wss:` URLs, as the WebSocket transport dials}
   */
  peerUrl?: ((url: string) => boolean) | false;
  /**
   * The timeout of membership changes and leadership transfers.
   * @default {the node's request timeout}
   */
  requestTimeoutMs?: number;
  /**
   * How long `GET /raft/cluster` waits for each member's status.
   * @default {1000}
   */
  memberStatusTimeoutMs?: number;
  /**
   * A member counts as active when it was heard from within this time.
   * @default {3000}
   */
  activeWindowMs?: number;
  /**
   * The cluster page at `GET /`, or `false` for none. Its demo buttons
   * (`demo: true`) call routes this app does not serve: the application
   * mounts them (the local cluster example does).
   * @default {{}}
   */
  page?: false | ClusterPageOptions;
  /**
   * Serve the peers' WebSocket on this app's port.
   * @default {undefined}
   */
  peerSocket?: PeerSocketOptions;
  /**
   * The `fetch` used to reach other members (forwarding, cluster view).
   * @default {globalThis.fetch}
   */
  fetch?: (request: Request) => Promise<Response>;
  /**
   * The wall clock, for "last heard from" ages.
   * @default {Date.now}
   */
  now?: () => number;
  /**
   * Where unexpected errors are logged.
   * @default {discardLogger}
   */
  logger?: Logger;
}

/**
 * Creates a Hono app that serves a Raft node's cluster API. Serve it as it
 * is (`Deno.serve(app.fetch)`, `Bun.serve({ fetch: app.fetch })`), add
 * your own routes to it, or mount it with `app.route()`.
 *
 * Routes:
 * - `GET /` — the live cluster page (unless `page: false`);
 * - `GET /raft/status` — this node: role, term, leader, commit, applied
 *   and last indexes, members with addresses and (on the leader) progress;
 * - `GET /raft/cluster` — every member's status, fetched from each one;
 * - `GET /raft/members` — the members;
 * - `POST /raft/members` (admin, leader) — add a member:
 *   `{"id": 4, "role": "voter" | "learner", "apiUrl": "http://…", "peerUrl": "ws://…"}`
 *   (a voter needs a `peerUrl` the transport can dial: see the `peerUrl` option);
 * - `DELETE /raft/members/:id` (admin, leader) — remove a member;
 * - `POST /raft/members/:id/promote` (admin, leader) — make a learner a voter;
 * - `POST /raft/transfer-leader` (admin) — `{"to": 2}`;
 * - `GET /healthz` — 200 while the node runs; `GET /readyz` — 200 while it
 *   knows a leader;
 * - `GET /metrics` — Prometheus text;
 * - `GET <peerSocket.path>` — the peers' WebSocket (with `peerSocket`).
 *
 * Every answer carries Hono's `secureHeaders` (the page also a content
 * security policy); requests for another host than `allowedHosts` are
 * answered 421.
 *
 * Errors are JSON (`{"error": {"code", "message", ...}}`) with a 4xx
 * status for bad requests (malformed JSON 400, unknown field 400, body too
 * large 413, missing secret 401, wrong secret 403, unknown route 404, wrong
 * method 405 with `Allow`) and 5xx for the cluster's state (no leader 503,
 * timeout 504). Leader-only routes on a follower follow `leaderRouting`.
 *
 * @param node The node to serve.
 * @param options Addresses, secret, routing, metrics and page.
 * @returns The app.
 * @throws {RangeError} When an option is out of range, or `adminSecret` is not a
 *   Bearer token (letters, digits and `-._~+/`, then optional `=` padding).
 *
 * @example Status of a single-node cluster
 * ```ts
 * import { createRaftApp } from "@raft-ts/raft/hono";
 * import { RaftNode, type StateMachine } from "@raft-ts/raft";
 * import { MemoryStorage } from "@raft-ts/raft";
 *
 * const sm: StateMachine<void> = { apply: (c) => c.map(() => undefined), snapshot: () => new Uint8Array(), restore: () => {} };
 * const node = await RaftNode.start({
 *   id: 1, peers: [1], storage: new MemoryStorage(), stateMachine: sm, tickMs: 5,
 *   transport: { start() {}, send() {}, close() {} },
 * });
 * await node.waitForLeader();
 * const app = createRaftApp(node, { selfUrl: "http://127.0.0.1:8080" });
 * const status = await (await app.request("/raft/status")).json();
 * await node.close();
 * if (status.role !== "leader" || status.members[0].apiUrl !== "http://127.0.0.1:8080") {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export function createRaftApp(node: RaftNodeLike, options: RaftAppOptions = {}): RaftApp {
  const ctx = appContext(node, options);
  const app = new Hono();

  // Request counting, by matched route (bounded label values).
  app.use("*", async function countRequests(c, next): Promise<void> {
    await next();
    const route = routePath(c, -1);
    ctx.metrics.countRequest(
      c.req.method,
      route === "*" || route === "/*" ? "unmatched" : route,
      c.res.status,
    );
  });
  if (options.allowedHosts !== false) {
    const self = ctx.directory.get(node.id)?.apiUrl;
    const hosts = options.allowedHosts ??
      [...localHostNames, ...(self === undefined ? [] : [new URL(self).host])];
    app.use("*", allowedHostsGuard(hosts));
  }
  app.use("*", securityHeaders());
  app.use("*", wrongMethod(app));

  if (options.page !== false) app.route("/", pageRoutes(options.page ?? {}));
  app.route("/", statusRoutes(ctx));
  app.route("/", membersRoutes(ctx));
  app.route("/", metricsRoutes(ctx));
  if (options.peerSocket !== undefined) {
    app.get(
      options.peerSocket.path ?? "/raft",
      peerSocket(options.peerSocket.transport, options.peerSocket),
    );
  }

  app.notFound(notFound);
  app.onError(errorHandler(ctx));
  return app;
}

/**
 * The leader routing {@linkcode createRaftApp} applies, for the
 * application's own leader-only routes (`routeToLeader`, `leaderOnly`):
 * the mode, the `fetch`, and, with a transport monitor, its word on
 * whether the known leader is gone.
 *
 * @param options The app's options.
 * @param directory The directory the app uses.
 * @returns The routing options.
 *
 * @example Routing a write route like the app's own
 * ```ts
 * import { Hono } from "hono";
 * import { leaderOnly, leaderRoutingOptions, MemberDirectory, TransportMonitor } from "@raft-ts/raft/hono";
 * import { StateType } from "@raft-ts/raft";
 *
 * const monitor = new TransportMonitor();
 * const directory = new MemberDirectory();
 * const routing = leaderRoutingOptions({ monitor, leaderTimeoutMs: 500 }, directory);
 * const leader = { id: 1, status: () => ({ leaderId: 1, raftState: StateType.StateLeader }) };
 * const app = new Hono();
 * app.post("/write", leaderOnly(leader, routing), (c) => c.text("ok"));
 * if ((await app.request("/write", { method: "POST" })).status !== 200) throw new Error("unexpected");
 * ```
 */
export function leaderRoutingOptions(
  options: RaftAppOptions,
  directory: MemberDirectory,
): LeaderRoutingOptions {
  const monitor = options.monitor;
  return {
    directory,
    mode: options.leaderRouting ?? "redirect",
    fetch: options.fetch ?? ((r: Request) => globalThis.fetch(r)),
    ...(monitor !== undefined
      ? {
        lastHeardFrom: (id: number) => monitor.peer(id)?.lastReceivedAt,
        unreachable: (id: number) => !monitor.reachable(id),
        now: () => monitor.now(),
      }
      : {}),
    ...(options.leaderTimeoutMs !== undefined ? { leaderTimeoutMs: options.leaderTimeoutMs } : {}),
    ...(options.leaderWaitMs !== undefined ? { leaderWaitMs: options.leaderWaitMs } : {}),
  };
}

/** Resolves the options into what the route modules share. */
function appContext(node: RaftNodeLike, o: RaftAppOptions): AppContext {
  const directory = o.directory ?? new MemberDirectory();
  if (o.selfUrl !== undefined) directory.set(node.id, { apiUrl: o.selfUrl });
  directory.watch(node);
  const metrics = o.metrics ?? new RaftMetrics();
  metrics.watch(node);
  const maxBodyBytes = o.maxBodyBytes ?? 65536;
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 1) {
    throw new RangeError(
      `Cannot create the Raft app as 'maxBodyBytes' must be a positive integer: current value ${maxBodyBytes}`,
    );
  }
  const fetch = o.fetch ?? ((r: Request) => globalThis.fetch(r));
  const requestOptions: RequestOptions = o.requestTimeoutMs === undefined
    ? {}
    : { timeoutMs: o.requestTimeoutMs };
  return {
    node,
    directory,
    metrics,
    monitor: o.monitor,
    transportMetrics: o.transportMetrics,
    routing: leaderRoutingOptions(o, directory),
    requestOptions,
    maxBodyBytes,
    bodyTimeoutMs: o.bodyTimeoutMs ?? 10_000,
    memberStatusTimeoutMs: o.memberStatusTimeoutMs ?? 1000,
    activeWindowMs: o.activeWindowMs ?? 3000,
    now: o.now ?? Date.now,
    fetch,
    logger: o.logger ?? discardLogger,
    peerUrlUsable: o.peerUrl === false ? acceptAnyPeerUrl : o.peerUrl ?? webSocketPeerUrl,
    admin: adminAuth(o.adminSecret),
  };
}
