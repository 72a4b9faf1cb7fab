/**
 * `createRaftApp`: a Hono app that serves a Raft node's cluster API —
 * status, membership, leadership transfer, health and readiness,
 * Prometheus metrics, the live cluster page — and, optionally, the peers'
 * WebSocket on the same port.
 *
 * @module
 */

import { Hono } from "hono";
import type { HonoContext, RaftApp, RaftMiddleware, UpgradeWebSocketLike } from "./_hono_types.ts";
import { HTTPException } from "hono/http-exception";
import { routePath } from "hono/route";
import type { Logger } from "../../core/logger.ts";
import { discardLogger } from "../../core/logger.ts";
import type {
  ConfChangeOptions,
  MemberProgress,
  MemberProgressState,
  RaftNodeEventName,
  RaftNodeEvents,
  RaftNodeStatus,
  RequestOptions,
} from "../../core/node.ts";
import { ConfChangeError, RaftError } from "../../core/errors.ts";
import type { ConfState, NodeId } from "../../core/types.ts";
import { encodeMemberContext, type MemberAddress, MemberDirectory } from "./directory.ts";
import {
  errorResponse,
  httpError,
  parseNodeId,
  readJsonObject,
  rejectUnknownFields,
} from "./http.ts";
import { forwardedByHeader, type LeaderRouting, routeToLeader } from "./leader.ts";
import { RaftMetrics, roleName, type TransportMetricsLike } from "./metrics.ts";
import type { TransportMonitor } from "./monitor.ts";
import { clusterPage } from "./page.ts";
import { peerSocket } from "./peer_socket.ts";
import type { PeerAcceptor } from "../websocket/mod.ts";

/**
 * The part of `RaftNode` the app uses. `RaftNode` fits it; so does a test
 * double.
 */
export interface RaftNodeLike {
  /** The node's ID. */
  readonly id: NodeId;
  /** Whether the node is closed. */
  readonly closed: boolean;
  /**
   * The node's state.
   *
   * @returns A fresh status object.
   */
  status(): RaftNodeStatus;
  /**
   * Subscribes to an event.
   *
   * @param event The event's name.
   * @param fn The listener.
   * @returns A function that unsubscribes.
   */
  on<K extends RaftNodeEventName>(event: K, fn: (e: RaftNodeEvents[K]) => void): () => void;
  /**
   * Adds a voter.
   *
   * @param id The new voter.
   * @param options Context and timeout.
   * @returns The membership after the change.
   */
  addVoter(id: NodeId, options?: ConfChangeOptions): Promise<ConfState>;
  /**
   * Adds a learner.
   *
   * @param id The new learner.
   * @param options Context and timeout.
   * @returns The membership after the change.
   */
  addLearner(id: NodeId, options?: ConfChangeOptions): Promise<ConfState>;
  /**
   * Promotes a learner to a voter.
   *
   * @param id The learner.
   * @param options Context and timeout.
   * @returns The membership after the change.
   */
  promote(id: NodeId, options?: ConfChangeOptions): Promise<ConfState>;
  /**
   * Removes a member.
   *
   * @param id The member.
   * @param options Context and timeout.
   * @returns The membership after the change.
   */
  removeNode(id: NodeId, options?: ConfChangeOptions): Promise<ConfState>;
  /**
   * Hands leadership to another voter.
   *
   * @param to The new leader.
   * @param options Timeout.
   * @returns Nothing, once `to` leads.
   */
  transferLeadership(to: NodeId, options?: RequestOptions): Promise<void>;
  /**
   * Closes the node.
   *
   * @returns A promise that settles once the node is stopped.
   */
  close(): Promise<void>;
}

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

/** Demo mode: buttons on the cluster page to partition, heal or stop nodes. */
export interface DemoOptions {
  /**
   * Stops this node (for a server: close the node and exit the process).
   * @default {closes the node}
   */
  stop?: () => void | Promise<void>;
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
   * The cluster page at `GET /`, or `false` for none.
   * @default {{}}
   */
  page?: false | { title?: string; refreshMs?: number; kvPath?: string };
  /**
   * Demo mode (unauthenticated buttons that partition and stop nodes: for
   * local demos only), or `false`.
   * @default {false}
   */
  demo?: false | DemoOptions;
  /**
   * Serve the peers' WebSocket on this app's port.
   * @default {undefined}
   */
  peerSocket?: PeerSocketOptions;
  /**
   * The `fetch` used to reach other members (forwarding, cluster view, demo actions).
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
 * The leader's view of one member's log, as `GET /raft/status` reports it:
 * the node's {@linkcode MemberProgress} without the ID, plus when the
 * member was last heard from.
 */
export interface MemberProgressJson {
  /** The highest index known to match the leader's log. */
  match: number;
  /** The index of the next entry the leader sends it: `match < next`. */
  next: number;
  /** `"probe"`, `"replicate"` or `"snapshot"`: how the leader replicates to it. */
  state: MemberProgressState;
  /** The leader's `recentActive` flag for it (Raft's own activity tracking). */
  recentActive: boolean;
  /** Whether it is a learner. */
  isLearner: boolean;
  /** Whether sending entries to it is throttled. */
  paused: boolean;
  /** The index of the snapshot being sent to it, or 0. */
  pendingSnapshot: number;
  /** Appends sent to it and not yet acknowledged. */
  inflight: number;
  /**
   * Milliseconds since it was last heard from (`null`: never, self, or no
   * transport monitor).
   */
  lastHeardMsAgo: number | null;
  /**
   * Whether it was heard from recently: within `activeWindowMs` with a
   * transport monitor, else the leader's `recentActive`; always for self.
   */
  active: boolean;
}

/** One member, as `GET /raft/status` reports it. */
export interface MemberStatusJson {
  /** The member's ID. */
  id: NodeId;
  /** `"voter"` or `"learner"`. */
  role: "voter" | "learner";
  /** Whether it is a voter of the outgoing configuration (joint consensus). */
  outgoing: boolean;
  /** Its HTTP API URL, when known. */
  apiUrl: string | null;
  /** Its peer URL, when known. */
  peerUrl: string | null;
  /** Whether it is the node that answered. */
  self: boolean;
  /** Whether the answering node sees it as the leader. */
  leader: boolean;
  /** The leader's view of its log; `null` unless the answering node leads. */
  progress: MemberProgressJson | null;
}

/** The body of `GET /raft/status`. */
export interface RaftStatusJson {
  /** The answering node's ID. */
  id: NodeId;
  /** Its HTTP API URL, when known. */
  apiUrl: string | null;
  /** `"follower"`, `"candidate"`, `"pre-candidate"` or `"leader"`. */
  role: string;
  /** The current term. */
  term: number;
  /** The vote in the current term (0: none). */
  vote: NodeId;
  /** The known leader (0: none). */
  leaderId: NodeId;
  /** The leader's HTTP API URL, when known. */
  leaderUrl: string | null;
  /** The commit index. */
  commit: number;
  /** The applied index. */
  applied: number;
  /** The index of the last entry in the answering node's log. */
  lastIndex: number;
  /** The latest snapshot's index. */
  snapshotIndex: number;
  /** Whether the configuration is joint. */
  joint: boolean;
  /** The members, by ascending ID. */
  members: MemberStatusJson[];
  /** Proposals and membership changes in flight. */
  pendingProposals: number;
  /** Reads, transfers and leader waits in flight. */
  pendingReads: number;
  /** Whether the node is closed. */
  closed: boolean;
  /** Whether the node is cut off from its peers (demo partition). */
  isolated: boolean;
}

/** One node in `GET /raft/cluster`. */
export interface ClusterNodeJson {
  /** The member's ID. */
  id: NodeId;
  /** Its HTTP API URL, when known. */
  apiUrl: string | null;
  /** Its status, or `null` when it could not be reached. */
  status: RaftStatusJson | null;
  /** Why it could not be reached. */
  error: string | null;
}

/** The body of `GET /raft/cluster`. */
export interface ClusterJson {
  /** The answering node. */
  self: NodeId;
  /** Every member, by ascending ID. */
  nodes: ClusterNodeJson[];
}

const roleOf = roleName;

function members(cs: ConfState): NodeId[] {
  return [...new Set([...cs.voters, ...cs.learners, ...cs.votersOutgoing, ...cs.learnersNext])]
    .sort((a, b) => a - b);
}

async function digest(s: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s)));
}

/** Compares secrets through their digests, in time independent of where they differ. */
async function sameSecret(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([digest(a), digest(b)]);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i]! ^ y[i]!;
  return diff === 0;
}

/** Turns a Hono route pattern into a regular expression over paths. */
function patternRegExp(path: string): RegExp {
  let re = "";
  for (const part of path.split("/").slice(1)) {
    re += "/";
    if (part === "*") re += ".*";
    else if (part.startsWith(":")) {
      const m = /^:[^{]+(?:\{(.+)\})?\??$/.exec(part);
      re += m?.[1] !== undefined ? `(?:${m[1]})` : "[^/]+";
    } else re += part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re || "/"}$`);
}

/**
 * Maps the driver's and Raft's errors to JSON answers; `undefined` for
 * errors that are not theirs.
 */
function nodeErrorResponse(e: unknown): Response | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  const message = e instanceof Error ? e.message : String(e);
  if (e instanceof ConfChangeError) {
    return errorResponse(409, "invalid_membership_change", message);
  }
  switch (code) {
    case "timeout":
      return errorResponse(
        504,
        "timeout",
        `${message}; the outcome is unknown (a write may still be applied)`,
      );
    case "busy":
      return errorResponse(503, "busy", message, {}, { "retry-after": "1" });
    case "node_closed":
      return errorResponse(503, "node_closed", message);
    case "not_leader":
      return errorResponse(
        503,
        "not_leader",
        message,
        { leaderId: (e as { leaderId?: number }).leaderId ?? 0 },
        { "retry-after": "1" },
      );
    case "proposal_dropped":
      return errorResponse(
        503,
        "proposal_dropped",
        `${message}: it was not applied; retry`,
        {},
        { "retry-after": "1" },
      );
  }
  if (e instanceof RaftError) return errorResponse(503, e.code, message);
  return undefined;
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
 *   `{"id": 4, "role": "voter" | "learner", "apiUrl": "http://…", "peerUrl": "ws://…"}`;
 * - `DELETE /raft/members/:id` (admin, leader) — remove a member;
 * - `POST /raft/members/:id/promote` (admin, leader) — make a learner a voter;
 * - `POST /raft/transfer-leader` (admin) — `{"to": 2}`;
 * - `GET /healthz` — 200 while the node runs; `GET /readyz` — 200 while it
 *   knows a leader;
 * - `GET /metrics` — Prometheus text;
 * - `GET <peerSocket.path>` — the peers' WebSocket (with `peerSocket`);
 * - `POST /raft/demo/nodes/:id/{partition|heal|stop}` — demo mode only.
 *
 * Errors are JSON (`{"error": {"code", "message", ...}}`) with a 4xx
 * status for bad requests (malformed JSON 400, unknown field 400, body too
 * large 413, missing secret 401, wrong secret 403, unknown route 404, wrong
 * method 405 with `Allow`) and 5xx for the cluster's state (no leader 503,
 * timeout 504). Leader-only routes on a follower follow `leaderRouting`.
 *
 * @param node The node to serve.
 * @param options Addresses, secret, routing, metrics, page and demo mode.
 * @returns The app.
 * @throws {RangeError} When an option is out of range.
 *
 * @example Status of a single-node cluster
 * ```ts
 * import { createRaftApp } from "./mod.ts";
 * import { RaftNode, type StateMachine } from "../../core/node.ts";
 * import { MemoryStorage } from "../../core/storage.ts";
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
  const o = options;
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
  const memberTimeoutMs = o.memberStatusTimeoutMs ?? 1000;
  const activeWindowMs = o.activeWindowMs ?? 3000;
  const now = o.now ?? Date.now;
  const logger = o.logger ?? discardLogger;
  const doFetch = o.fetch ?? ((r: Request) => fetch(r));
  const routing = { directory, mode: o.leaderRouting ?? "redirect", fetch: doFetch } as const;
  const requestOptions: RequestOptions = o.requestTimeoutMs === undefined
    ? {}
    : { timeoutMs: o.requestTimeoutMs };
  const demo = o.demo === undefined || o.demo === false ? undefined : o.demo;

  const app = new Hono();

  // Request counting, by matched route (bounded label values).
  app.use("*", async function countRequests(c, next): Promise<void> {
    await next();
    const route = routePath(c, -1);
    metrics.countRequest(
      c.req.method,
      route === "*" || route === "/*" ? "unmatched" : route,
      c.res.status,
    );
  });

  const admin: RaftMiddleware = async function requireAdmin(c, next): Promise<Response | void> {
    if (o.adminSecret === undefined) {
      return errorResponse(
        403,
        "admin_disabled",
        "Cannot run an admin operation: no admin secret is configured on this node",
      );
    }
    const h = c.req.header("authorization");
    const m = h === undefined ? null : /^Bearer\s+(.+)$/i.exec(h.trim());
    if (m === null) {
      return errorResponse(
        401,
        "unauthorized",
        "Cannot run an admin operation: send the cluster secret as 'Authorization: Bearer <secret>'",
        {},
        { "www-authenticate": 'Bearer realm="raft"' },
      );
    }
    if (!(await sameSecret(m[1]!, o.adminSecret))) {
      return errorResponse(403, "forbidden", "Cannot run an admin operation: wrong secret");
    }
    await next();
  };

  function progressJson(p: MemberProgress, t: number): MemberProgressJson {
    const json: MemberProgressJson = {
      match: p.match,
      next: p.next,
      state: p.state,
      recentActive: p.recentActive,
      isLearner: p.isLearner,
      paused: p.paused,
      pendingSnapshot: p.pendingSnapshot,
      inflight: p.inflight,
      lastHeardMsAgo: null,
      active: p.recentActive,
    };
    if (p.id === node.id) json.active = true;
    else if (o.monitor !== undefined) {
      const heard = o.monitor.peer(p.id)?.lastReceivedAt;
      json.lastHeardMsAgo = heard === undefined ? null : Math.max(0, t - heard);
      json.active = json.lastHeardMsAgo !== null && json.lastHeardMsAgo <= activeWindowMs;
    }
    return json;
  }

  function statusJson(): RaftStatusJson {
    const st = node.status();
    const cs = st.confState;
    const t = now();
    // Empty unless this node leads; sorted by ID, like members(cs).
    const progressById = new Map(st.progress.map((p) => [p.id, p]));
    const list: MemberStatusJson[] = members(cs).map((id) => {
      const a = directory.get(id) ?? {};
      const p = progressById.get(id);
      const progress = p === undefined ? null : progressJson(p, t);
      return {
        id,
        role: cs.voters.includes(id) || (cs.votersOutgoing.includes(id) &&
            !cs.learners.includes(id) && !cs.learnersNext.includes(id))
          ? "voter"
          : "learner",
        outgoing: cs.votersOutgoing.includes(id),
        apiUrl: a.apiUrl ?? null,
        peerUrl: a.peerUrl ?? null,
        self: id === node.id,
        leader: id === st.leaderId,
        progress,
      };
    });
    return {
      id: node.id,
      apiUrl: directory.get(node.id)?.apiUrl ?? null,
      role: roleOf(st.raftState),
      term: st.term,
      vote: st.vote,
      leaderId: st.leaderId,
      leaderUrl: st.leaderId === 0 ? null : directory.get(st.leaderId)?.apiUrl ?? null,
      commit: st.commit,
      applied: st.applied,
      lastIndex: st.lastIndex,
      snapshotIndex: st.snapshotIndex,
      joint: cs.votersOutgoing.length > 0,
      members: list,
      pendingProposals: st.pendingProposals,
      pendingReads: st.pendingReads,
      closed: st.closed,
      isolated: o.monitor?.isolated ?? false,
    };
  }

  async function fetchMember(id: NodeId, path: string, init: RequestInit = {}): Promise<Response> {
    const url = directory.get(id)?.apiUrl;
    if (url === undefined) {
      throw httpError(
        404,
        "member_address_unknown",
        `Cannot reach node ${id}: its API address is unknown`,
      );
    }
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), memberTimeoutMs);
    try {
      return await doFetch(new Request(`${url}${path}`, { ...init, signal: ac.signal }));
    } finally {
      clearTimeout(timer);
    }
  }

  async function memberStatus(id: NodeId): Promise<ClusterNodeJson> {
    const apiUrl = directory.get(id)?.apiUrl ?? null;
    if (id === node.id) return { id, apiUrl, status: statusJson(), error: null };
    if (apiUrl === null) return { id, apiUrl, status: null, error: "address unknown" };
    try {
      const res = await fetchMember(id, "/raft/status");
      if (!res.ok) {
        await res.body?.cancel();
        return { id, apiUrl, status: null, error: `HTTP ${res.status}` };
      }
      return { id, apiUrl, status: (await res.json()) as RaftStatusJson, error: null };
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      return { id, apiUrl, status: null, error: msg };
    }
  }

  async function leaderGate(c: HonoContext): Promise<Response | undefined> {
    return await routeToLeader(c, node, routing);
  }

  function memberView(cs: ConfState): { id: NodeId; role: string; apiUrl: string | null }[] {
    return members(cs).map((id) => ({
      id,
      role: cs.learners.includes(id) ? "learner" : "voter",
      apiUrl: directory.get(id)?.apiUrl ?? null,
    }));
  }

  // --- Page, status, cluster view

  if (o.page !== false) {
    const html = clusterPage({
      ...(o.page ?? {}),
      demo: demo !== undefined,
    });
    app.get("/", (c) => c.html(html));
  }

  app.get("/raft/status", (c) => c.json(statusJson()));

  app.get("/raft/cluster", async (c) => {
    const ids = members(node.status().confState);
    const nodes = await Promise.all(ids.map((id) => memberStatus(id)));
    const body: ClusterJson = { self: node.id, nodes };
    return c.json(body);
  });

  app.get("/raft/members", (c) => c.json({ members: statusJson().members }));

  // --- Membership and leadership (admin)

  app.post("/raft/members", admin, async (c) => {
    const body = await readJsonObject(c, maxBodyBytes);
    rejectUnknownFields(body, ["id", "role", "apiUrl", "peerUrl"]);
    const id = parseNodeId(body.id, "id");
    const role = body.role ?? "voter";
    if (role !== "voter" && role !== "learner") {
      throw httpError(
        400,
        "invalid_role",
        `Cannot add the member: 'role' must be "voter" or "learner", not ${JSON.stringify(role)}`,
        { field: "role" },
      );
    }
    const address: MemberAddress = {};
    for (const field of ["apiUrl", "peerUrl"] as const) {
      const v = body[field];
      if (v === undefined) continue;
      if (typeof v !== "string" || v.length > 2048) {
        throw httpError(
          400,
          "invalid_url",
          `Cannot add the member: '${field}' must be a URL string`,
          {
            field,
          },
        );
      }
      address[field] = v;
    }
    let context: Uint8Array;
    try {
      context = encodeMemberContext(address);
    } catch (e) {
      throw httpError(400, "invalid_url", `Cannot add the member: ${(e as Error).message}`);
    }
    const redirect = await leaderGate(c);
    if (redirect !== undefined) return redirect;
    const cs = await (role === "voter"
      ? node.addVoter(id, { ...requestOptions, context })
      : node.addLearner(id, { ...requestOptions, context }));
    directory.set(id, address);
    return c.json({ added: id, role, members: memberView(cs) }, 201);
  });

  app.delete("/raft/members/:id", admin, async (c) => {
    const id = parseNodeId(c.req.param("id"), "id");
    if (!members(node.status().confState).includes(id)) {
      throw httpError(404, "member_not_found", `Cannot remove node ${id}: it is not a member`);
    }
    const redirect = await leaderGate(c);
    if (redirect !== undefined) return redirect;
    const cs = await node.removeNode(id, requestOptions);
    return c.json({ removed: id, members: memberView(cs) });
  });

  app.post("/raft/members/:id/promote", admin, async (c) => {
    const id = parseNodeId(c.req.param("id"), "id");
    const cs0 = node.status().confState;
    if (!members(cs0).includes(id)) {
      throw httpError(404, "member_not_found", `Cannot promote node ${id}: it is not a member`);
    }
    if (!cs0.learners.includes(id)) {
      throw httpError(409, "not_a_learner", `Cannot promote node ${id}: it is not a learner`);
    }
    const redirect = await leaderGate(c);
    if (redirect !== undefined) return redirect;
    const cs = await node.promote(id, requestOptions);
    return c.json({ promoted: id, members: memberView(cs) });
  });

  app.post("/raft/transfer-leader", admin, async (c) => {
    const body = await readJsonObject(c, maxBodyBytes);
    rejectUnknownFields(body, ["to"]);
    const to = parseNodeId(body.to, "to");
    if (!node.status().confState.voters.includes(to)) {
      throw httpError(
        409,
        "not_a_voter",
        `Cannot transfer leadership to node ${to}: it is not a voter`,
      );
    }
    await node.transferLeadership(to, requestOptions);
    const st = node.status();
    return c.json({ leaderId: st.leaderId, term: st.term });
  });

  // --- Health, readiness, metrics

  app.get("/healthz", (c) => {
    const st = node.status();
    return st.closed
      ? c.json({ ok: false, reason: "node closed" }, 503)
      : c.json({ ok: true, id: node.id, role: roleOf(st.raftState) });
  });

  app.get("/readyz", (c) => {
    const st = node.status();
    if (st.closed) return c.json({ ready: false, reason: "node closed" }, 503);
    if (st.leaderId === 0) return c.json({ ready: false, reason: "no leader known" }, 503);
    return c.json({ ready: true, leaderId: st.leaderId, term: st.term });
  });

  app.get("/metrics", (c) => {
    const st = node.status();
    const text = metrics.render({
      status: st,
      ...(o.monitor !== undefined ? { monitor: o.monitor.stats() } : {}),
      ...(o.transportMetrics !== undefined ? { transport: o.transportMetrics() } : {}),
    });
    return c.body(text, 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
  });

  // --- Peers on the same port

  if (o.peerSocket !== undefined) {
    app.get(o.peerSocket.path ?? "/raft", peerSocket(o.peerSocket.transport, o.peerSocket));
  }

  // --- Demo mode

  if (demo !== undefined) {
    app.post("/raft/demo/nodes/:id/:action{partition|heal|stop}", async (c) => {
      const id = parseNodeId(c.req.param("id"), "id");
      const action = c.req.param("action");
      if (id !== node.id) {
        if (c.req.header(forwardedByHeader) !== undefined) {
          throw httpError(
            409,
            "wrong_node",
            `Cannot ${action} node ${id}: this is node ${node.id}`,
          );
        }
        try {
          const res = await fetchMember(id, `/raft/demo/nodes/${id}/${action}`, {
            method: "POST",
            headers: { [forwardedByHeader]: String(node.id) },
          });
          return new Response(res.body, { status: res.status, headers: res.headers });
        } catch (e) {
          if (e instanceof HTTPException) throw e;
          throw httpError(
            502,
            "member_unreachable",
            `Cannot ${action} node ${id}: ${e instanceof Error ? e.message : String(e)}`,
          );
        }
      }
      if (action === "stop") {
        const stop = demo.stop ?? ((): Promise<void> => node.close());
        // Answer first, then stop.
        setTimeout(() => {
          Promise.resolve().then(stop).catch((e) =>
            logger.error(`demo stop failed: ${e instanceof Error ? e.message : e}`)
          );
        }, 20);
        return c.json({ id, action, ok: true }, 202);
      }
      if (o.monitor === undefined) {
        throw httpError(
          501,
          "not_supported",
          `Cannot ${action} node ${id}: the app was created without a transport monitor`,
        );
      }
      o.monitor.isolated = action === "partition";
      return c.json({ id, action, ok: true, isolated: o.monitor.isolated });
    });
  }

  // --- Errors

  app.notFound((c) => {
    const path = c.req.path;
    const allowed = new Set<string>();
    for (const r of app.routes) {
      if (r.method === "ALL") continue;
      if (patternRegExp(r.path).test(path)) allowed.add(r.method);
    }
    if (allowed.has("GET")) allowed.add("HEAD");
    if (allowed.size > 0 && !allowed.has(c.req.method)) {
      const list = [...allowed].sort().join(", ");
      return errorResponse(
        405,
        "method_not_allowed",
        `Cannot ${c.req.method} ${path}: allowed methods are ${list}`,
        {},
        { allow: list },
      );
    }
    return errorResponse(404, "not_found", `Cannot ${c.req.method} ${path}: no such route`);
  });

  app.onError(async (e, c) => {
    if (e instanceof HTTPException) return e.getResponse();
    if ((e as { code?: unknown }).code === "not_leader") {
      // Leadership moved while the request was served: route it like one that came too late.
      const res = await routeToLeader(c, node, routing).catch(() => undefined);
      if (res !== undefined) return res;
    }
    const mapped = nodeErrorResponse(e);
    if (mapped !== undefined) return mapped;
    logger.error(`${node.id} HTTP ${c.req.method} ${c.req.path} failed: ${e.stack ?? e.message}`);
    return errorResponse(500, "internal", `Cannot serve the request: ${e.message}`);
  });

  return app;
}
