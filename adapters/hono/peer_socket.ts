/**
 * One port for clients and peers: a route that upgrades a peer's WebSocket
 * with Hono's `upgradeWebSocket` and hands the socket itself to the
 * transport (`WebSocketTransport.acceptPeer`), so that peer traffic takes
 * no second hop. The transport checks the handshake before the upgrade, so
 * a refused peer is refused over HTTP.
 *
 * The route takes Hono's runtime-specific `upgradeWebSocket` (from
 * `hono/deno` or `hono/bun`) as a handle, so this module imports no
 * runtime. On Bun, serve the app with `Bun.serve({ fetch: app.fetch,
 * websocket })`, `websocket` also from `hono/bun`.
 *
 * @module
 */

import type { WSContext, WSEvents } from "hono/ws";
import type { PeerAcceptor, PeerConnection } from "../websocket/mod.ts";
import type {
  HonoContext,
  HttpErrorStatus,
  RaftMiddleware,
  UpgradeWebSocketLike,
} from "./_hono_types.ts";
import { errorResponse } from "./http.ts";

/** Options of {@linkcode peerSocket}. */
export interface PeerSocketRouteOptions {
  /** Hono's `upgradeWebSocket` for the runtime (`hono/deno` or `hono/bun`). */
  upgradeWebSocket: UpgradeWebSocketLike;
  /**
   * The client's address (`host:port`) for the transport's logs.
   * @default {the socket's peer on Deno, Bun and Node, from the context's `env`}
   */
  remoteAddress?: (c: HonoContext) => string | undefined;
}

interface DenoInfoLike {
  remoteAddr?: { hostname?: string; port?: number };
}

interface BunServerLike {
  requestIP?(req: Request): { address: string; port: number } | null;
}

interface NodeBindingsLike {
  incoming?: { socket?: { remoteAddress?: string; remotePort?: number } };
}

/**
 * The TCP peer of the request on Deno (`Deno.serve`'s info), Bun (the
 * server) and Node (`@hono/node-server`'s `incoming` request).
 */
function socketAddress(c: HonoContext): string | undefined {
  const env = c.env as (DenoInfoLike & BunServerLike & NodeBindingsLike) | undefined;
  if (env === undefined || env === null) return undefined;
  const deno = env.remoteAddr;
  if (deno?.hostname !== undefined) return `${deno.hostname}:${deno.port}`;
  if (typeof env.requestIP === "function") {
    const ip = env.requestIP(c.req.raw);
    if (ip !== null) return `${ip.address}:${ip.port}`;
  }
  const node = env.incoming?.socket;
  if (node?.remoteAddress !== undefined) return `${node.remoteAddress}:${node.remotePort}`;
  return undefined;
}

function events(conn: PeerConnection): WSEvents {
  return {
    onOpen: (_e, ws: WSContext) => {
      // A standard WebSocket (Deno) delivers Blobs by default.
      if (ws.raw instanceof WebSocket) ws.raw.binaryType = "arraybuffer";
      conn.onOpen(ws);
    },
    onMessage: (e) => conn.onMessage(e.data as ArrayBuffer | Uint8Array | Blob | string),
    onClose: (e) => conn.onClose(e.code, e.reason),
    onError: () => conn.onError("socket error"),
  };
}

/**
 * A route handler that takes peers' WebSocket connections on the app's
 * port and hands each socket to the transport (built with
 * `server: "none"`). Mount it on the path peers dial (the `peerSocket`
 * option of `createRaftApp` does this).
 *
 * @param transport The transport (anything with `acceptPeer`).
 * @param options Hono's `upgradeWebSocket`, and where the client's address comes from.
 * @returns The handler.
 *
 * @example Peers and clients on one port (Deno)
 * ```ts
 * import { Hono } from "hono";
 * import { upgradeWebSocket } from "hono/deno";
 * import { peerSocket, type UpgradeWebSocketLike } from "@raft-ts/raft/hono";
 * import { WebSocketTransport } from "@raft-ts/raft/websocket";
 *
 * const transport = new WebSocketTransport({
 *   id: 1,
 *   clusterId: "c",
 *   secret: "0123456789abcdef",
 *   server: "none",
 * });
 * const app = new Hono();
 * app.get("/raft", peerSocket(transport, { upgradeWebSocket: upgradeWebSocket as UpgradeWebSocketLike }));
 * // Deno.serve({ port: 8080 }, app.fetch); then RaftNode.start({ transport, ... }).
 * const res = await app.request("/raft");
 * if (res.status !== 426) throw new Error("plain requests are not upgrades");
 * await transport.close();
 * ```
 */
export function peerSocket(
  transport: PeerAcceptor,
  options: PeerSocketRouteOptions,
): RaftMiddleware {
  const remoteAddress = options.remoteAddress ?? socketAddress;
  return async function peerSocketHandler(c): Promise<Response> {
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      return errorResponse(
        426,
        "upgrade_required",
        "Cannot serve the request: this is the Raft peer endpoint, which only accepts WebSocket upgrades",
      );
    }
    const address = remoteAddress(c);
    const d = await transport.acceptPeer({
      protocols: c.req.header("sec-websocket-protocol"),
      ...(address !== undefined ? { remoteAddress: address } : {}),
    });
    if (!d.accept) {
      return errorResponse(
        d.status as HttpErrorStatus,
        "peer_refused",
        `Cannot accept the peer connection: ${d.reason}`,
        {},
        d.status === 503 ? { "retry-after": "1" } : {},
      );
    }
    try {
      return await options.upgradeWebSocket(c, events(d.connection));
    } catch (e) {
      return errorResponse(
        500,
        "upgrade_failed",
        `Cannot accept the peer connection: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  };
}
