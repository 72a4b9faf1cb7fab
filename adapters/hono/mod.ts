/**
 * A Hono HTTP frontend for any `RaftNode`: cluster status, membership,
 * leadership transfer, health and readiness, Prometheus metrics, a live
 * cluster page, leader routing for the routes only the leader can serve,
 * and the peers' WebSocket on the same port (`peerSocket`, which hands each
 * socket to the WebSocket transport).
 *
 * The app is a plain `Hono` instance built on Web standards: serve it as it
 * is (`Deno.serve(app.fetch)`, `Bun.serve({ fetch: app.fetch })`), add your
 * own routes to it, or mount it in a larger app with `app.route()`.
 *
 * The server, not the app, times out slow and idle clients: `Bun.serve`
 * has `idleTimeout`, Node's and Deno's `node:http` servers have
 * `headersTimeout`, `requestTimeout` and `keepAliveTimeout`; `Deno.serve`
 * has none, so serve through `node:http` (`@hono/node-server`) on Deno
 * where clients are not trusted. The app bounds request bodies itself
 * (`bodyTimeoutMs`, 408).
 *
 * @example Embedding a replicated counter in an app
 * ```ts
 * import { createRaftApp, leaderOnly, MemberDirectory, RaftMetrics } from "@raft-ts/raft/hono";
 * import { RaftNode, type StateMachine } from "@raft-ts/raft";
 * import { MemoryStorage } from "@raft-ts/raft";
 *
 * let total = 0;
 * const counter: StateMachine<number> = {
 *   apply: (cmds) => cmds.map((c) => (total += c.data[0]!)),
 *   snapshot: () => new Uint8Array([total]),
 *   restore: (d) => void (total = d[0] ?? 0),
 * };
 * const node = await RaftNode.start({
 *   id: 1, peers: [1], storage: new MemoryStorage(), stateMachine: counter, tickMs: 5,
 *   transport: { start() {}, send() {}, close() {} },
 * });
 * const directory = new MemberDirectory();
 * const metrics = new RaftMetrics();
 * const app = createRaftApp(node, { directory, metrics, selfUrl: "http://127.0.0.1:8080" });
 * app.post("/add/:n", leaderOnly(node, { directory }), async (c) => {
 *   const n = Number(c.req.param("n"));
 *   return c.json({ total: await metrics.observeProposal(node.propose(new Uint8Array([n]))) });
 * });
 * await node.waitForLeader();
 * const res = await app.request("/add/5", { method: "POST" });
 * await node.close();
 * if ((await res.json()).total !== 5) throw new Error("unexpected");
 * ```
 *
 * @module
 */

export {
  type ClusterJson,
  type ClusterNodeJson,
  createRaftApp,
  leaderRoutingOptions,
  type MemberProgressJson,
  type MemberStatusJson,
  type PeerSocketOptions,
  type RaftAppOptions,
  type RaftNodeLike,
  type RaftStatusJson,
} from "./app.ts";
export {
  decodeMemberContext,
  encodeMemberContext,
  type MemberAddress,
  MemberDirectory,
  type MembershipSource,
} from "./directory.ts";
export {
  createRaftHostApp,
  type HostedGroupLike,
  type HostGroupJson,
  type RaftHostAppOptions,
  type RaftHostLike,
  type RaftHostStatusJson,
} from "./host_app.ts";
export {
  type ErrorBody,
  errorResponse,
  httpError,
  parseNodeId,
  pathKey,
  type PathKeyOptions,
  readJsonObject,
  type ReadJsonOptions,
  rejectUnknownFields,
} from "./http.ts";
export {
  idempotencyKeyHeader,
  type IdempotencyOptions,
  idempotencyOptions,
  parseIdempotencyKey,
} from "./idempotency.ts";
export {
  forwardedByHeader,
  leaderOnly,
  type LeaderRouting,
  type LeaderRoutingOptions,
  type LeaderStatusSource,
  routeToLeader,
  routingHeader,
} from "./leader.ts";
export {
  type LeaderSource,
  type MetricsSnapshot,
  type ProposalOutcome,
  RaftMetrics,
  type RaftMetricsOptions,
  roleName,
  type TransportMetricsLike,
  type TransportPeerMetricsLike,
} from "./metrics.ts";
export {
  type PeerActivity,
  TransportMonitor,
  type TransportMonitorOptions,
  type TransportMonitorStats,
} from "./monitor.ts";
export { clusterPage, type ClusterPageOptions } from "./page.ts";
export { peerSocket, type PeerSocketRouteOptions } from "./peer_socket.ts";

export type {
  HonoContext,
  HttpErrorStatus,
  HttpException,
  RaftApp,
  RaftMiddleware,
  UpgradeWebSocketLike,
  WebSocketEvents,
} from "./_hono_types.ts";

// The core types this subpath's signatures mention, so that its
// documentation stands on its own (the same types as the root export's).
export type { Logger } from "../../core/logger.ts";
export type {
  ConfChangeOptions,
  MemberProgress,
  MemberProgressState,
  RaftNodeEventName,
  RaftNodeEvents,
  RaftNodeStatus,
  RequestOptions,
  Transport,
  TransportHandler,
} from "../../core/node.ts";
export type {
  ConfChangeSingle,
  ConfChangeType,
  ConfState,
  Entry,
  EntryType,
  Index,
  Message,
  MessageType,
  NodeId,
  Snapshot,
  SnapshotMetadata,
  SnapshotStatus,
  StateType,
  Term,
} from "../../core/types.ts";
