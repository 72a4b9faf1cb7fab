/**
 * One port for clients and peers: a route that accepts a peer's WebSocket
 * on the HTTP API's port and relays it, frame by frame in both directions,
 * to the transport's own listener (typically on `127.0.0.1` and a private
 * port). The transport authenticates the connection exactly as if the peer
 * had dialled it: the proxy opens the upstream connection with the peer's
 * subprotocols (which carry the handshake token) *before* it accepts the
 * peer's upgrade, so a refused handshake is refused over HTTP.
 *
 * The proxy takes Hono's runtime-specific `upgradeWebSocket` (from
 * `hono/deno` or `hono/bun`) as a handle, so this module imports no
 * runtime. On Bun, serve the app with `Bun.serve({ fetch: app.fetch,
 * websocket })`, `websocket` also from `hono/bun`.
 *
 * @module
 */

import type { WSContext, WSEvents } from "hono/ws";
import type { RaftMiddleware, UpgradeWebSocketLike } from "./_hono_types.ts";
import { errorResponse } from "./http.ts";

/** Options of {@linkcode peerProxy}. */
export interface PeerProxyOptions {
  /** Hono's `upgradeWebSocket` for the runtime (`hono/deno` or `hono/bun`). */
  upgradeWebSocket: UpgradeWebSocketLike;
  /**
   * The transport's own WebSocket URL (for example `ws://127.0.0.1:41234/raft`),
   * or `undefined` while it is not listening.
   */
  target: () => string | undefined;
  /**
   * How long opening the upstream connection may take.
   * @default {5000}
   */
  connectTimeoutMs?: number;
  /**
   * Frames buffered in either direction while the other side is not open yet, at most.
   * @default {1024}
   */
  maxBufferedFrames?: number;
}

type Frame = string | ArrayBuffer | Uint8Array<ArrayBuffer>;

function parseProtocols(h: string | undefined): string[] {
  if (h === undefined || h === "") return [];
  return h.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
}

/** Close codes an application may send; others are replaced by 1000 (with the reason kept). */
function sendableCode(code: number): number {
  return code === 1000 || (code >= 3000 && code <= 4999) ? code : 1000;
}

function openUpstream(url: string, protocols: string[], timeoutMs: number): Promise<WebSocket> {
  return new Promise<WebSocket>((resolve, reject) => {
    let ws: WebSocket;
    try {
      ws = new WebSocket(url, protocols);
    } catch (e) {
      reject(e);
      return;
    }
    ws.binaryType = "arraybuffer";
    const timer = setTimeout(() => {
      ws.close();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    ws.onopen = () => {
      clearTimeout(timer);
      resolve(ws);
    };
    ws.onerror = () => {};
    ws.onclose = (e: CloseEvent) => {
      clearTimeout(timer);
      reject(new Error(`the transport refused the connection (close code ${e.code})`));
    };
  });
}

/** Relays one accepted peer connection to its upstream. */
class Relay {
  readonly #up: WebSocket;
  readonly #max: number;
  #down: WSContext | undefined;
  /** Upstream frames that arrived before the peer's socket opened. */
  #toDown: Frame[] = [];
  /** Sends to upstream in arrival order, also when a frame needs an async conversion. */
  #chain: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(up: WebSocket, maxBuffered: number) {
    this.#up = up;
    this.#max = maxBuffered;
    up.onmessage = (e: MessageEvent) => this.#fromUpstream(e.data as Frame);
    up.onclose = (e: CloseEvent) => this.#close(sendableCode(e.code), e.reason, "down");
    up.onerror = () => {};
  }

  events(): WSEvents {
    return {
      onOpen: (_e, ws) => {
        // A standard WebSocket (Deno) delivers Blobs by default; Bun's server
        // socket is not one, and Hono expects its default binary type.
        if (ws.raw instanceof WebSocket) ws.raw.binaryType = "arraybuffer";
        this.#down = ws;
        if (this.#closed) {
          ws.close(1000, "upstream closed");
          return;
        }
        for (const f of this.#toDown) ws.send(f);
        this.#toDown = [];
      },
      onMessage: (e) => this.#fromPeer(e.data),
      onClose: (e) => this.#close(sendableCode(e.code), e.reason, "up"),
      onError: () => this.#close(1000, "peer connection error", "up"),
    };
  }

  #fromUpstream(data: Frame): void {
    if (this.#closed) return;
    if (this.#down === undefined) {
      if (this.#toDown.length >= this.#max) {
        this.#close(1000, "proxy buffer full", "both");
        return;
      }
      this.#toDown.push(data);
      return;
    }
    this.#down.send(data);
  }

  #fromPeer(data: unknown): void {
    if (this.#closed) return;
    this.#chain = this.#chain.then(async () => {
      if (this.#closed || this.#up.readyState !== WebSocket.OPEN) return;
      if (typeof data === "string" || data instanceof ArrayBuffer) this.#up.send(data);
      else if (data instanceof Uint8Array) this.#up.send(data);
      else if (data instanceof Blob) this.#up.send(await data.arrayBuffer());
    });
  }

  #close(code: number, reason: string, side: "up" | "down" | "both"): void {
    if (this.#closed) return;
    this.#closed = true;
    if (side !== "down" && this.#up.readyState <= WebSocket.OPEN) {
      try {
        this.#up.close(code, reason);
      } catch {
        this.#up.close();
      }
    }
    if (side !== "up" && this.#down !== undefined) {
      try {
        this.#down.close(code, reason);
      } catch {
        this.#down.close();
      }
    }
  }
}

/**
 * A route handler that relays peer WebSocket connections to the
 * transport's own listener, so that peers and clients share one port.
 * Mount it on the path peers dial (the `peerPath` option of
 * `createRaftApp` does this).
 *
 * @param options Hono's `upgradeWebSocket`, the transport's URL, limits.
 * @returns The handler.
 * @throws {TypeError} When the runtime has no global `WebSocket`.
 *
 * @example Mounting the relay (Deno)
 * ```ts ignore
 * import { Hono } from "hono";
 * import { upgradeWebSocket } from "hono/deno";
 * import { peerProxy } from "./mod.ts";
 *
 * const transportUrl = "ws://127.0.0.1:41234/raft"; // from `await transport.listen()`
 * const app = new Hono();
 * app.get("/raft", peerProxy({ upgradeWebSocket, target: () => transportUrl }));
 * Deno.serve({ port: 8080 }, app.fetch);
 * ```
 */
export function peerProxy(options: PeerProxyOptions): RaftMiddleware {
  if (typeof WebSocket !== "function") {
    throw new TypeError(
      "Cannot create the peer proxy: this runtime has no global WebSocket (Deno, Bun and Node 22+ do)",
    );
  }
  const timeoutMs = options.connectTimeoutMs ?? 5000;
  const maxBuffered = options.maxBufferedFrames ?? 1024;
  return async function peerProxyHandler(c): Promise<Response> {
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      return errorResponse(
        426,
        "upgrade_required",
        "Cannot serve the request: this is the Raft peer endpoint, which only accepts WebSocket upgrades",
      );
    }
    const url = options.target();
    if (url === undefined) {
      return errorResponse(
        503,
        "transport_not_listening",
        "Cannot accept the peer connection: the transport is not listening yet",
        {},
        { "retry-after": "1" },
      );
    }
    const protocols = parseProtocols(c.req.header("sec-websocket-protocol"));
    let up: WebSocket;
    try {
      up = await openUpstream(url, protocols, timeoutMs);
    } catch (e) {
      return errorResponse(
        401,
        "peer_refused",
        `Cannot accept the peer connection: ${
          e instanceof Error ? e.message : String(e)
        } (wrong cluster secret, cluster ID or node ID?)`,
      );
    }
    const relay = new Relay(up, maxBuffered);
    try {
      return await options.upgradeWebSocket(c, relay.events());
    } catch (e) {
      up.close();
      return errorResponse(
        500,
        "upgrade_failed",
        `Cannot accept the peer connection: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  };
}
