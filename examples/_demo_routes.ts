/**
 * The routes behind the cluster page's demo buttons (partition, heal, stop,
 * restart), which `kv_server.ts --demo` mounts, and the demo token that
 * guards them.
 *
 * @module
 */

import { Hono } from "hono";
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
  type TransportMonitor,
} from "../adapters/hono/mod.ts";

/** The request header that carries the demo token. */
export const demoTokenHeader = "raft-demo-token";

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
 * `LocalCluster` (local_cluster.ts) started: asks the cluster's restart route
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
