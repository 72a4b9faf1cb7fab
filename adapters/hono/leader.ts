/**
 * Leader routing: requests only the leader can serve (writes, membership
 * changes), when they reach a follower, are answered with the leader's
 * address in one of three ways:
 *
 * - `"redirect"`: `307 Temporary Redirect` to the same path on the leader
 *   (method and body preserved), with a JSON body naming the leader;
 * - `"forward"`: the follower sends the request to the leader itself and
 *   relays the answer (one hop at most: a forwarded request that reaches a
 *   follower is answered `421`);
 * - `"error"`: `421 Misdirected Request` with the leader's ID and URL.
 *
 * A client may ask for another mode per request with the header
 * `Raft-Routing: redirect | forward | error`.
 *
 * A follower never sends a client to a leader it has reason to think is
 * gone: when it knows no leader, or has not heard from the one it knows
 * within `leaderTimeoutMs` (with `lastHeardFrom`, such as a
 * `TransportMonitor`'s), or its transport lost the leader's connection
 * since (with `unreachable`), it waits up to `leaderWaitMs` for a leader it
 * hears from (or to lead itself), then routes the request; after that the
 * answer is `503 no_leader` with `Retry-After`.
 *
 * Note that clients following a redirect to another origin drop the
 * `Authorization` header (the Fetch standard requires it); admin clients
 * should follow redirects themselves, or use `"forward"`.
 *
 * @module
 */

import type { HonoContext, RaftMiddleware } from "./_hono_types.ts";
import type { NodeId, StateType } from "../../core/types.ts";
import { StateType as States } from "../../core/types.ts";
import { rememberedBody } from "./_body.ts";
import type { MemberDirectory } from "./directory.ts";
import { errorResponse } from "./http.ts";

/** How a follower answers a request only the leader can serve. */
export type LeaderRouting = "redirect" | "forward" | "error";

/** The request header that marks a forwarded request (its value: the forwarding node's ID). */
export const forwardedByHeader = "raft-forwarded-by";
/** The request header with which a client picks the {@linkcode LeaderRouting} for one request. */
export const routingHeader = "raft-routing";

/** What leader routing needs to know of a node. */
export interface LeaderStatusSource {
  /** This node's ID. */
  readonly id: NodeId;
  /**
   * The node's role and known leader.
   *
   * @returns At least the leader's ID and this node's role, and whether
   *   the node is closed (a closed node routes nowhere: the route runs and
   *   answers with the node's own error).
   */
  status(): { leaderId: NodeId; raftState: StateType; closed?: boolean };
}

/** Options of {@linkcode routeToLeader} and {@linkcode leaderOnly}. */
export interface LeaderRoutingOptions {
  /** Where members' API URLs are found. */
  directory: MemberDirectory;
  /**
   * How to answer on a follower.
   * @default {"redirect"}
   */
  mode?: LeaderRouting;
  /**
   * How long a forwarded request may take.
   * @default {10000}
   */
  forwardTimeoutMs?: number;
  /**
   * The `fetch` used to forward requests.
   * @default {globalThis.fetch}
   */
  fetch?: (input: Request) => Promise<Response>;
  /**
   * When this node last heard from a member, on the `now` clock (for
   * example `(id) => monitor.peer(id)?.lastReceivedAt` with a
   * `TransportMonitor`); without it, a known leader is never taken for gone.
   * @default {undefined}
   */
  lastHeardFrom?: (id: NodeId) => number | undefined;
  /**
   * Whether the transport lost a member since it last heard from it (for
   * example `(id) => !monitor.reachable(id)` with a `TransportMonitor`): a
   * leader so lost is taken for gone at once, without waiting out
   * `leaderTimeoutMs` (a killed leader's connections break at once).
   * @default {undefined}
   */
  unreachable?: (id: NodeId) => boolean;
  /**
   * A leader not heard from within this time is taken for gone (use the
   * node's election timeout, `tickMs * electionTick`).
   * @default {1000}
   */
  leaderTimeoutMs?: number;
  /**
   * How long a request waits for a leader when none is known or the known
   * one is gone.
   * @default {3000}
   */
  leaderWaitMs?: number;
  /**
   * The clock of `lastHeardFrom`, in milliseconds.
   * @default {Date.now}
   */
  now?: () => number;
}

/** How often a request waiting for a leader looks at the node's status again. */
const leaderPollMs = 20;

/**
 * The leader to route to: `undefined` when this node leads, 0 when none
 * is known (or the known one is gone) after the wait.
 */
async function usableLeader(
  node: LeaderStatusSource,
  options: LeaderRoutingOptions,
): Promise<NodeId | undefined> {
  const now = options.now ?? Date.now;
  const timeoutMs = options.leaderTimeoutMs ?? 1000;
  const waitMs = options.leaderWaitMs ?? 3000;
  const gone = (id: NodeId): boolean => {
    if (options.unreachable?.(id) === true) return true;
    const heard = options.lastHeardFrom?.(id);
    return heard !== undefined && now() - heard > timeoutMs;
  };
  const polls = Math.ceil(waitMs / leaderPollMs);
  // Let the transport see connections that broke as the request arrived.
  if (options.unreachable !== undefined) await new Promise((r) => setTimeout(r, 0));
  for (let i = 0;; i++) {
    const st = node.status();
    if (st.raftState === States.StateLeader) return undefined;
    const id = st.leaderId;
    if (id !== 0 && id !== node.id && !gone(id)) return id;
    if (i >= polls) return 0;
    await new Promise((r) => setTimeout(r, leaderPollMs));
  }
}

const hopByHop = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "upgrade",
  "proxy-connection",
  "te",
  "trailer",
  "host",
  "content-length",
  "content-encoding",
]);

function copyHeaders(h: Headers): Headers {
  const out = new Headers();
  h.forEach((v, k) => {
    if (!hopByHop.has(k.toLowerCase())) out.set(k, v);
  });
  return out;
}

/**
 * Answers a request that needs the leader: `undefined` when this node is
 * the leader (serve the request), otherwise the response to return (a
 * redirect, the leader's own answer, or an error).
 *
 * @param c The Hono context.
 * @param node The node.
 * @param options The directory and the routing mode.
 * @returns `undefined` on the leader, or the response.
 *
 * @example In a route
 * ```ts
 * import { Hono } from "hono";
 * import { MemberDirectory, routeToLeader } from "@raft-ts/raft/hono";
 * import { StateType } from "@raft-ts/raft";
 *
 * const follower = { id: 2, status: () => ({ leaderId: 1, raftState: StateType.StateFollower }) };
 * const directory = new MemberDirectory([[1, { apiUrl: "http://10.0.0.1:8080" }]]);
 * const app = new Hono();
 * app.post("/write", async (c) => (await routeToLeader(c, follower, { directory })) ?? c.text("ok"));
 * const res = await app.request("/write?x=1", { method: "POST" });
 * if (res.status !== 307 || res.headers.get("location") !== "http://10.0.0.1:8080/write?x=1") {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export async function routeToLeader(
  c: HonoContext,
  node: LeaderStatusSource,
  options: LeaderRoutingOptions,
): Promise<Response | undefined> {
  const st = node.status();
  if (st.raftState === States.StateLeader || st.closed === true) return undefined;
  const mode = pickMode(c, options.mode ?? "redirect");
  const leaderId = await usableLeader(node, options);
  if (leaderId === undefined) return undefined;
  if (leaderId === 0) {
    return errorResponse(
      503,
      "no_leader",
      `Cannot serve the request: node ${node.id} knows no leader it can reach (an election may be under way); retry shortly`,
      { nodeId: node.id },
      { "retry-after": "1" },
    );
  }
  const leaderUrl = options.directory.get(leaderId)?.apiUrl;
  if (leaderUrl === undefined) {
    return errorResponse(
      503,
      "leader_address_unknown",
      `Cannot serve the request: node ${node.id} is not the leader, and the address of the leader (node ${leaderId}) is unknown`,
      { nodeId: node.id, leaderId },
      { "retry-after": "1" },
    );
  }
  const url = new URL(c.req.url);
  const target = `${leaderUrl}${url.pathname}${url.search}`;
  const details = { nodeId: node.id, leaderId, leaderUrl };
  const message =
    `Cannot serve the request on node ${node.id}: it is not the leader; the leader is node ${leaderId} at ${leaderUrl}`;
  if (mode === "redirect") {
    return errorResponse(307, "not_leader", message, details, { location: target });
  }
  if (mode === "error" || c.req.header(forwardedByHeader) !== undefined) {
    return errorResponse(421, "not_leader", message, details);
  }
  return await forward(c, node.id, leaderId, target, options);
}

function pickMode(c: HonoContext, fallback: LeaderRouting): LeaderRouting {
  const h = c.req.header(routingHeader)?.trim().toLowerCase();
  return h === "redirect" || h === "forward" || h === "error" ? h : fallback;
}

async function forward(
  c: HonoContext,
  selfId: NodeId,
  leaderId: NodeId,
  target: string,
  options: LeaderRoutingOptions,
): Promise<Response> {
  const headers = copyHeaders(c.req.raw.headers);
  headers.set(forwardedByHeader, String(selfId));
  headers.delete(routingHeader);
  const method = c.req.method;
  const body = method === "GET" || method === "HEAD"
    ? undefined
    : rememberedBody(c.req.raw) ?? new Uint8Array(await c.req.arrayBuffer());
  const timeoutMs = options.forwardTimeoutMs ?? 10_000;
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    const init: RequestInit = { method, headers, redirect: "manual", signal: ac.signal };
    if (body !== undefined) init.body = body as Uint8Array<ArrayBuffer>;
    const f = options.fetch ?? ((r: Request) => fetch(r));
    const res = await f(new Request(target, init));
    const out = copyHeaders(res.headers);
    out.set("raft-forwarded-to", String(leaderId));
    const data = await res.arrayBuffer();
    return new Response(method === "HEAD" ? null : data, { status: res.status, headers: out });
  } catch (e) {
    return errorResponse(
      502,
      "leader_unreachable",
      `Cannot forward the request to the leader (node ${leaderId} at ${target}): ${
        ac.signal.aborted ? `no answer within ${timeoutMs} ms` : e instanceof Error ? e.message : e
      }`,
      { nodeId: selfId, leaderId },
      { "retry-after": "1" },
    );
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A middleware that lets only the leader serve the routes after it (see
 * {@linkcode routeToLeader} for what followers answer).
 *
 * @param node The node.
 * @param options The directory and the routing mode.
 * @returns The middleware.
 *
 * @example Guarding a write route
 * ```ts
 * import { Hono } from "hono";
 * import { leaderOnly, MemberDirectory } from "@raft-ts/raft/hono";
 * import { StateType } from "@raft-ts/raft";
 *
 * const leader = { id: 1, status: () => ({ leaderId: 1, raftState: StateType.StateLeader }) };
 * const app = new Hono();
 * app.post("/write", leaderOnly(leader, { directory: new MemberDirectory() }), (c) => c.text("ok"));
 * if ((await app.request("/write", { method: "POST" })).status !== 200) throw new Error("unexpected");
 * ```
 */
export function leaderOnly(
  node: LeaderStatusSource,
  options: LeaderRoutingOptions,
): RaftMiddleware {
  return async function leaderOnlyMiddleware(c, next): Promise<Response | void> {
    const res = await routeToLeader(c, node, options);
    if (res !== undefined) return res;
    await next();
  };
}
