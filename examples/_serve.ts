/**
 * Serving an app on the runtime at hand: `Bun.serve` on Bun; elsewhere
 * `@hono/node-server` over `node:http`, on Deno too, because `Deno.serve`
 * has no header, request or keep-alive timeout while Deno's `node:http`
 * enforces Node's. On Deno and Node, peers' WebSocket upgrades are decided
 * by the transport (`acceptPeer`) and completed by `ws`.
 *
 * Every runtime cuts off slow and idle clients ({@linkcode HttpTimeouts}):
 * a client that never finishes its headers, a request that never finishes
 * arriving, a keep-alive connection left idle.
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

/**
 * How long a client may take. Deno and Node enforce each (their `node:http`
 * `headersTimeout`, `requestTimeout` and `keepAliveTimeout`, checked every
 * second at most: a limit is met within it plus one second); Bun has one
 * knob, `idleTimeout` in whole seconds (at most 255), which is set to the
 * larger of `headersMs` and `idleMs` and closes a connection that sends
 * nothing for that long (Bun checks every few seconds), and Bun closes a
 * connection whose headers are not complete after about 10 s whatever the
 * knob. Request bodies also have the app's own deadline (`bodyTimeoutMs`,
 * answered 408).
 */
export interface HttpTimeouts {
  /**
   * A request's line and headers must arrive within this many milliseconds;
   * a slower client is disconnected (answered 408 first on Deno and Node).
   * @default {10000}
   */
  headersMs: number;
  /**
   * The whole request, headers and body, must arrive within this many
   * milliseconds (Deno, Node); at least `headersMs`.
   * @default {30000}
   */
  requestMs: number;
  /**
   * A keep-alive connection with no request in progress is closed after
   * this many milliseconds.
   * @default {10000}
   */
  idleMs: number;
}

/** The timeouts a server has unless told otherwise. */
export const defaultHttpTimeouts: Readonly<HttpTimeouts> = Object.freeze({
  headersMs: 10_000,
  requestMs: 30_000,
  idleMs: 10_000,
});

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
  /** Hono's WebSocket helper for the `/raft` route (Bun, `Deno.serve`); `undefined` on `node:http`. */
  upgradeWebSocket: UpgradeWebSocketLike | undefined;
  /**
   * Serves `fetch`; on Deno and Node, upgrades on `peerPath` go to `peers`.
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

/**
 * Hono's WebSocket helpers for the runtime, and a function that serves an app.
 *
 * @param timeouts How long clients may take; {@linkcode defaultHttpTimeouts} for what is missing.
 * @param options `denoServe`: on Deno, serve with `Deno.serve`, which has
 *   none of the timeouts (for a server behind a proxy that enforces them).
 * @returns The runtime's server.
 * @throws {RangeError} When a timeout is not a positive integer, or `headersMs` exceeds `requestMs`.
 */
export async function runtimeServer(
  timeouts: Partial<HttpTimeouts> = {},
  options: { denoServe?: boolean } = {},
): Promise<RuntimeServer> {
  const limits = checkTimeouts({ ...defaultHttpTimeouts, ...timeouts });
  const deno = (globalThis as { Deno?: DenoServeLike }).Deno;
  if (options.denoServe === true && deno !== undefined) {
    // Less CPU per request than node:http, and no timeouts at all.
    const { upgradeWebSocket } = await import("hono/deno");
    return {
      upgradeWebSocket: upgradeWebSocket as unknown as UpgradeWebSocketLike,
      serve(fetch, hostname, port) {
        const s = deno.serve({ hostname, port, onListen() {} }, fetch);
        return Promise.resolve({ port: s.addr.port, stop: () => s.shutdown() });
      },
    };
  }
  const bun = (globalThis as { Bun?: BunServeLike }).Bun;
  if (bun !== undefined) {
    const { upgradeWebSocket, websocket } = await import("hono/bun");
    // Bun's one timeout, in whole seconds: slow headers, slow bodies and idle connections.
    const idleTimeout = Math.min(255, Math.ceil(Math.max(limits.headersMs, limits.idleMs) / 1000));
    return {
      upgradeWebSocket: upgradeWebSocket as unknown as UpgradeWebSocketLike,
      serve(fetch, hostname, port) {
        const s = bun.serve({ hostname, port, fetch, websocket, idleTimeout });
        return Promise.resolve({ port: s.port, stop: async () => void (await s.stop(true)) });
      },
    };
  }
  // Deno too: its `node:http` enforces the timeouts, `Deno.serve` has none.
  const onDeno = (globalThis as { Deno?: unknown }).Deno !== undefined;
  return {
    upgradeWebSocket: undefined,
    async serve(fetch, hostname, port, peers) {
      const { createAdaptorServer } = await import("@hono/node-server");
      const server = createAdaptorServer({
        fetch,
        hostname,
        port,
        serverOptions: nodeServerOptions(limits),
        // Its lighter global `Request` and `Response` would replace Deno's, and
        // `Deno.serve` (the transport's own port, `--peer-listen`) refuses those.
        ...(onDeno ? { overrideGlobalObjects: false } : {}),
      }) as NodeHttpServer;
      return await listenWithPeers(server, hostname, port, peers);
    },
  };
}

function checkTimeouts(t: HttpTimeouts): HttpTimeouts {
  for (const name of ["headersMs", "requestMs", "idleMs"] as const) {
    if (!Number.isSafeInteger(t[name]) || t[name] <= 0) {
      throw new RangeError(
        `Cannot serve HTTP as '${name}' must be a positive integer: current value ${t[name]}`,
      );
    }
  }
  if (t.headersMs > t.requestMs) {
    throw new RangeError(
      `Cannot serve HTTP as 'headersMs' must not exceed 'requestMs': current values ${t.headersMs}, ${t.requestMs}`,
    );
  }
  return t;
}

/** `node:http` server options enforcing `t` (Deno's `node:http` honours them as Node does). */
function nodeServerOptions(t: HttpTimeouts): {
  headersTimeout: number;
  requestTimeout: number;
  keepAliveTimeout: number;
  connectionsCheckingInterval: number;
} {
  return {
    headersTimeout: t.headersMs,
    requestTimeout: t.requestMs,
    keepAliveTimeout: t.idleMs,
    // Node checks the first two on this interval (30 s by default, which let a
    // slow client stay up to 30 s past its limit).
    connectionsCheckingInterval: Math.min(1000, t.headersMs),
  };
}

/**
 * Listens with a `node:http` server (Deno, Node); peers' upgrades on
 * `peers.path` are decided by the transport and completed by `ws`.
 */
async function listenWithPeers(
  server: NodeHttpServer,
  hostname: string,
  port: number,
  peers: { path: string; acceptor: PeerAcceptor } | undefined,
): Promise<ServedHttp> {
  const { WebSocketServer } = await import("ws");
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
