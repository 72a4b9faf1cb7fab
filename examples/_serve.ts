/**
 * Serving an app on the runtime at hand: `Bun.serve`, `Deno.serve`, or on
 * Node `@hono/node-server`, where peers' WebSocket upgrades are decided by
 * the transport (`acceptPeer`) and completed by `ws`.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { Server as NodeHttpServer } from "node:http";
import type { UpgradeWebSocketLike } from "../adapters/hono/mod.ts";
import type { PeerAcceptor, PeerSocketLike } from "../adapters/websocket/mod.ts";

/** What serves requests: an app's `fetch`. */
export type FetchHandler = (req: Request, env: unknown) => Response | Promise<Response>;

/** A listening HTTP server. */
export interface ServedHttp {
  /** The bound port. */
  port: number;
  /** Stops listening and closes every connection. */
  stop(): Promise<void>;
}

interface BunServeLike {
  serve(o: {
    hostname: string;
    port: number;
    fetch: (req: Request, server: unknown) => Response | Promise<Response>;
    websocket: unknown;
    idleTimeout?: number;
  }): { port: number; stop(closeActive?: boolean): void | Promise<void> };
}

interface DenoServeLike {
  serve(
    o: { hostname: string; port: number; onListen?: () => void },
    handler: (req: Request, info: unknown) => Response | Promise<Response>,
  ): { addr: { port: number }; shutdown(): Promise<void> };
}

/** How a runtime serves the app, and how peers' sockets reach the transport. */
export interface RuntimeServer {
  /** Hono's WebSocket helper for the `/raft` route (Bun, Deno); `undefined` on Node. */
  upgradeWebSocket: UpgradeWebSocketLike | undefined;
  /**
   * Serves `fetch`; on Node, upgrades on `peerPath` go to `peers`.
   *
   * @throws {CliError} When the port cannot be bound.
   */
  serve(
    fetch: FetchHandler,
    hostname: string,
    port: number,
    peers: { path: string; acceptor: PeerAcceptor } | undefined,
  ): Promise<ServedHttp>;
}

/** Hono's WebSocket helpers for the runtime, and a function that serves an app. */
export async function runtimeServer(): Promise<RuntimeServer> {
  const bun = (globalThis as { Bun?: BunServeLike }).Bun;
  if (bun !== undefined) {
    const { upgradeWebSocket, websocket } = await import("hono/bun");
    return {
      upgradeWebSocket: upgradeWebSocket as unknown as UpgradeWebSocketLike,
      serve(fetch, hostname, port) {
        // Bun closes a connection idle this many seconds (slow headers included);
        // request bodies have their own deadline in the app (408).
        const s = bun.serve({ hostname, port, fetch, websocket, idleTimeout: 15 });
        return Promise.resolve({ port: s.port, stop: async () => void (await s.stop(true)) });
      },
    };
  }
  const deno = (globalThis as { Deno?: DenoServeLike }).Deno;
  if (deno !== undefined) {
    const { upgradeWebSocket } = await import("hono/deno");
    return {
      upgradeWebSocket: upgradeWebSocket as unknown as UpgradeWebSocketLike,
      serve(fetch, hostname, port) {
        const s = deno.serve({ hostname, port, onListen() {} }, fetch);
        return Promise.resolve({ port: s.addr.port, stop: () => s.shutdown() });
      },
    };
  }
  return { upgradeWebSocket: undefined, serve: serveOnNode };
}

/**
 * Serves on Node with `@hono/node-server`; peers' upgrades on `peers.path`
 * are decided by the transport and completed by `ws`.
 */
async function serveOnNode(
  fetch: FetchHandler,
  hostname: string,
  port: number,
  peers: { path: string; acceptor: PeerAcceptor } | undefined,
): Promise<ServedHttp> {
  const { createAdaptorServer } = await import("@hono/node-server");
  const { WebSocketServer } = await import("ws");
  const server = createAdaptorServer({
    fetch,
    hostname,
    port,
    // Slow or idle clients are cut off, as Bun's idleTimeout does.
    serverOptions: { headersTimeout: 15_000, requestTimeout: 30_000, keepAliveTimeout: 5_000 },
  }) as NodeHttpServer;
  // The subprotocol the transport selected, by upgrade request.
  const selected = new WeakMap<object, string>();
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    handleProtocols: (_offered, req) => selected.get(req) ?? false,
    // The transport checks each frame against its own limit (16 MiB by default).
    maxPayload: 64 * 1024 * 1024,
  });
  server.on("upgrade", (req, socket, head) => {
    socket.on("error", () => {});
    const refuse = (status: number, reason: string): void => {
      socket.end(
        `HTTP/1.1 ${status} Refused\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
          `Content-Length: ${new TextEncoder().encode(reason).length}\r\n\r\n${reason}`,
      );
    };
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    if (peers === undefined || path !== peers.path) return refuse(404, "Not Found");
    peers.acceptor.acceptPeer({
      protocols: req.headers["sec-websocket-protocol"],
      remoteAddress: `${req.socket.remoteAddress ?? ""}:${req.socket.remotePort ?? ""}`,
    }).then((d) => {
      if (!d.accept) return refuse(d.status, d.reason);
      if (socket.destroyed) return;
      selected.set(req, d.protocol);
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on("message", (data, isBinary) => {
          const bytes = Array.isArray(data)
            ? new Uint8Array(Buffer.concat(data))
            : new Uint8Array(data as ArrayBuffer | Uint8Array);
          d.connection.onMessage(isBinary ? bytes : new TextDecoder().decode(bytes));
        });
        ws.on("error", (err) => d.connection.onError(err.message));
        ws.on("close", (code, reason) => d.connection.onClose(code, reason.toString("utf8")));
        d.connection.onOpen(ws as unknown as PeerSocketLike);
      });
    }).catch(() => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address();
  return {
    port: typeof addr === "object" && addr !== null ? addr.port : port,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close();
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}
