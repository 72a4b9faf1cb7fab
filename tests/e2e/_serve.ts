/**
 * Serves a Hono app on loopback with the runtime running the tests (Bun or
 * Deno), with Hono's WebSocket helper for that runtime.
 *
 * @module
 */

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

/** Hono's `upgradeWebSocket` for this runtime. */
export async function upgradeWebSocket(): Promise<UpgradeWebSocketLike> {
  if ((globalThis as { Bun?: unknown }).Bun !== undefined) {
    return (await import("hono/bun")).upgradeWebSocket as unknown as UpgradeWebSocketLike;
  }
  return (await import("hono/deno")).upgradeWebSocket as unknown as UpgradeWebSocketLike;
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
  const deno = (globalThis as { Deno?: DenoLike }).Deno!;
  const s = deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  return { url: `http://127.0.0.1:${s.addr.port}`, port: s.addr.port, stop: () => s.shutdown() };
}
