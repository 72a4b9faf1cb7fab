/**
 * Serves a Hono app on loopback with the runtime running the tests (Bun,
 * Deno or Node), with Hono's WebSocket helper for that runtime. On Node the
 * app is served by `@hono/node-server` and WebSockets by `@hono/node-ws`.
 *
 * @module
 */

import type { AddressInfo } from "node:net";
import type { Hono } from "hono";
import type { RaftApp, UpgradeWebSocketLike } from "../../adapters/hono/mod.ts";

/** A served app. */
export interface Served {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  /** The port. */
  port: number;
  /** Stops serving. */
  stop(): Promise<void>;
}

interface BunLike {
  serve(o: {
    hostname: string;
    port: number;
    fetch: (req: Request, server: unknown) => Response | Promise<Response>;
    websocket: unknown;
  }): { port: number; stop(closeActive?: boolean): void | Promise<void> };
}

interface DenoLike {
  serve(
    o: { hostname: string; port: number; onListen?: () => void },
    handler: (req: Request, info: unknown) => Response | Promise<Response>,
  ): { addr: { port: number }; shutdown(): Promise<void> };
}

type NodeWebSocket = ReturnType<typeof import("@hono/node-ws").createNodeWebSocket>;

/** The apps served on Node, by port: an upgrade goes to the app of the port it came in on. */
const nodeApps = new Map<number, RaftApp>();
let nodeWebSocket: Promise<NodeWebSocket> | undefined;

/** Node's one `@hono/node-ws` helper of this process, shared by every served app. */
function nodeWebSockets(): Promise<NodeWebSocket> {
  nodeWebSocket ??= import("@hono/node-ws").then(({ createNodeWebSocket }) => {
    const byPort = {
      request(url: URL, init: RequestInit, env: { incoming: { socket: { localPort?: number } } }) {
        const app = nodeApps.get(env.incoming.socket.localPort ?? -1);
        return app === undefined
          ? new Response(null, { status: 404 })
          : app.request(url, init, env);
      },
    };
    return createNodeWebSocket({ app: byPort as unknown as Hono });
  });
  return nodeWebSocket;
}

function isDeno(): boolean {
  return (globalThis as { Deno?: unknown }).Deno !== undefined;
}

/** Hono's `upgradeWebSocket` for this runtime. */
export async function upgradeWebSocket(): Promise<UpgradeWebSocketLike> {
  if ((globalThis as { Bun?: unknown }).Bun !== undefined) {
    return (await import("hono/bun")).upgradeWebSocket as unknown as UpgradeWebSocketLike;
  }
  if (isDeno()) {
    return (await import("hono/deno")).upgradeWebSocket as unknown as UpgradeWebSocketLike;
  }
  return (await nodeWebSockets()).upgradeWebSocket as unknown as UpgradeWebSocketLike;
}

/** Serves `app` on Node with `@hono/node-server`, WebSockets included. */
async function serveOnNode(app: RaftApp): Promise<Served> {
  const { serve } = await import("@hono/node-server");
  const ws = await nodeWebSockets();
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, () => resolve(s));
  });
  ws.injectWebSocket(server);
  const port = (server.address() as AddressInfo).port;
  nodeApps.set(port, app);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        nodeApps.delete(port);
        for (const c of ws.wss.clients) {
          const socket = (c as unknown as { _socket?: { localPort?: number } })._socket;
          if (socket?.localPort === port) c.terminate();
        }
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}

/** Serves `app` on `127.0.0.1` and a free port. */
export async function serve(app: RaftApp): Promise<Served> {
  const bun = (globalThis as { Bun?: BunLike }).Bun;
  if (bun !== undefined) {
    const { websocket } = await import("hono/bun");
    const s = bun.serve({ hostname: "127.0.0.1", port: 0, fetch: app.fetch, websocket });
    return {
      url: `http://127.0.0.1:${s.port}`,
      port: s.port,
      stop: async () => void (await s.stop(true)),
    };
  }
  const deno = (globalThis as { Deno?: DenoLike }).Deno;
  if (deno === undefined) return serveOnNode(app);
  const s = deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  return { url: `http://127.0.0.1:${s.addr.port}`, port: s.addr.port, stop: () => s.shutdown() };
}
