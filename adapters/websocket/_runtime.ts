/**
 * The runtime-specific halves of the transport behind two small interfaces:
 * a WebSocket server (Deno's `Deno.serve` + `Deno.upgradeWebSocket`, Bun's
 * `Bun.serve` websocket handlers, or `ws` on `node:http`) and a WebSocket
 * client (the standard `WebSocket` of Deno and Bun, or `ws`). The runtime is
 * detected at run time; `ws` is loaded only when used.
 *
 * @module
 */

import { hostProtocolName, protocolName } from "./_auth.ts";
import { joinBytes } from "../../core/util.ts";
import type { PeerConnection, PeerUpgradeDecision, PeerUpgradeRequest } from "./_inbound.ts";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";

/** What a connection reports when a peer's message is above the size limit (closed with 1009). */
const oversizedMessage = "message above the size limit (closed with code 1009)";
/**
 * Which server implementation to use: `Deno.serve`, `Bun.serve`, or `ws`
 * on `node:http` (the one Node uses; it runs on Deno and Bun too).
 *
 * @example Forcing `ws`
 * ```ts
 * import type { ServerKind } from "@raft-ts/raft/websocket";
 * const server: ServerKind = "ws";
 * if (server !== "ws") throw new Error("unexpected");
 * ```
 */
export type ServerKind = "deno" | "bun" | "ws";
/**
 * Which client implementation to use: the runtime's standard `WebSocket`
 * (Deno, Bun) or `ws`.
 *
 * @example Forcing `ws`
 * ```ts
 * import type { ClientKind } from "@raft-ts/raft/websocket";
 * const client: ClientKind = "ws";
 * if (client !== "ws") throw new Error("unexpected");
 * ```
 */
export type ClientKind = "native" | "ws";

/**
 * PEM certificate chain and private key for `wss://`.
 *
 * @example Usage
 * ```ts
 * import type { TlsConfig } from "@raft-ts/raft/websocket";
 * const tls: TlsConfig = { cert: "-----BEGIN CERTIFICATE-----\n…", key: "-----BEGIN PRIVATE KEY-----\n…" };
 * if (!tls.cert.startsWith("-----BEGIN")) throw new Error("unexpected");
 * ```
 */
export interface TlsConfig {
  /** The certificate chain, PEM. */
  cert: string;
  /** The private key, PEM. */
  key: string;
}

/** What the server knows of an upgrade request before accepting it. */
export interface UpgradeRequest extends PeerUpgradeRequest {
  /** The request path (without the query). */
  path: string;
  /** The client's address, when the runtime tells it. */
  remoteAddress: string;
}

/** The server side of one accepted connection. */
interface ServerSocket {
  send(data: Uint8Array): void;
  close(code: number, reason: string): void;
}

/**
 * What the server calls back into: the decision on each upgrade, whose
 * connection then gets the socket's events; and errors of the server.
 */
export interface ServerHooks {
  upgrade(req: UpgradeRequest): Promise<PeerUpgradeDecision>;
  error(message: string): void;
}

/** Where and how to listen. */
export interface ServerConfig {
  hostname: string;
  port: number;
  tls: TlsConfig | undefined;
  /** Larger incoming WebSocket messages close the connection (code 1009). */
  maxMessageBytes: number;
}

/** A listening server. */
export interface RunningServer {
  readonly port: number;
  /** Closes every connection and stops listening. */
  stop(): Promise<void>;
}

/** The client side of one connection. */
export interface ClientSocket {
  /** The subprotocol the server selected. */
  protocol(): string;
  send(data: Uint8Array | string): void;
  bufferedAmount(): number;
  close(code: number, reason: string): void;
}

/** What a client calls back into. */
export interface ClientEvents {
  open(): void;
  message(data: Uint8Array | string): void;
  /** Called once, last. */
  close(code: number, reason: string): void;
  error(message: string): void;
}

/** Client options. */
export interface ClientConfig {
  /** Extra CA certificates (PEM) to trust, where the client supports it. */
  ca: string | undefined;
  maxMessageBytes: number;
}

// ---------------------------------------------------------------------------
// Structural types of the runtime APIs used here (no runtime type packages).

interface BunServerWebSocketLike {
  data: unknown;
  send(data: Uint8Array): number;
  close(code?: number, reason?: string): void;
}

interface BunServerLike {
  readonly port: number;
  upgrade(req: Request, options: { data: unknown; headers: Record<string, string> }): boolean;
  requestIP(req: Request): { address: string } | null;
  stop(closeActiveConnections?: boolean): void | Promise<void>;
}

interface BunLike {
  serve(options: {
    hostname: string;
    port: number;
    tls?: TlsConfig;
    fetch(req: Request, server: BunServerLike): Promise<Response | undefined>;
    websocket: {
      maxPayloadLength: number;
      perMessageDeflate: boolean;
      backpressureLimit: number;
      open(ws: BunServerWebSocketLike): void;
      message(ws: BunServerWebSocketLike, msg: string | Uint8Array): void;
      close(ws: BunServerWebSocketLike, code: number, reason: string): void;
    };
  }): BunServerLike;
}

function bunGlobal(): BunLike | undefined {
  return (globalThis as { Bun?: BunLike }).Bun;
}

interface DenoServeHandlerInfoLike {
  remoteAddr: { hostname?: string; port?: number };
}

interface DenoHttpServerLike {
  readonly addr: { port: number };
  shutdown(): Promise<void>;
}

interface DenoLike {
  serve(
    options: {
      hostname: string;
      port: number;
      cert?: string;
      key?: string;
      onListen(): void;
      onError(e: unknown): Response;
    },
    handler: (req: Request, info: DenoServeHandlerInfoLike) => Promise<Response>,
  ): DenoHttpServerLike;
  upgradeWebSocket(req: Request): { socket: WebSocket; response: Response };
}

function denoGlobal(): DenoLike | undefined {
  return (globalThis as { Deno?: DenoLike }).Deno;
}

/** The server implementation for the current runtime. */
export function detectServer(): ServerKind {
  if (denoGlobal() !== undefined) return "deno";
  if (bunGlobal() !== undefined) return "bun";
  return "ws";
}

/** The client implementation for the current runtime. */
export function detectClient(): ClientKind {
  return denoGlobal() !== undefined || bunGlobal() !== undefined ? "native" : "ws";
}

function toBytes(data: unknown): Uint8Array | string {
  if (typeof data === "string") return data;
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (Array.isArray(data)) {
    // ws with fragments in "fragments" mode; not used, handled for safety.
    const parts = data as Uint8Array[];
    return joinBytes(parts, parts.reduce((a, p) => a + p.length, 0));
  }
  return new Uint8Array(0);
}

/** Keeps a close reason within the 123 bytes a close frame allows. */
export function closeReason(reason: string): string {
  const enc = new TextEncoder();
  if (enc.encode(reason).length <= 123) return reason;
  let r = reason;
  while (enc.encode(r).length > 120) r = r.slice(0, -1);
  return `${r}...`;
}

function isWebSocketUpgrade(h: string | null | undefined): boolean {
  return typeof h === "string" && h.toLowerCase() === "websocket";
}

// ---------------------------------------------------------------------------
// Servers

/**
 * Starts a WebSocket server of the given kind.
 *
 * @throws When the runtime lacks the implementation or the address is in use.
 */
export function startServer(
  kind: ServerKind,
  config: ServerConfig,
  hooks: ServerHooks,
): Promise<RunningServer> {
  switch (kind) {
    case "deno":
      return startDenoServer(config, hooks);
    case "bun":
      return startBunServer(config, hooks);
    case "ws":
      return startWsServer(config, hooks);
  }
}

function startDenoServer(config: ServerConfig, hooks: ServerHooks): Promise<RunningServer> {
  const D = denoGlobal();
  if (D === undefined) {
    return Promise.reject(new TypeError("Cannot start the 'deno' server: not running on Deno"));
  }
  const sockets = new Set<WebSocket>();
  const handler = async (req: Request, info: DenoServeHandlerInfoLike): Promise<Response> => {
    if (!isWebSocketUpgrade(req.headers.get("upgrade"))) {
      return new Response("Upgrade Required: this is a raft-ts WebSocket endpoint\n", {
        status: 426,
      });
    }
    const addr = info.remoteAddr;
    const decision = await hooks.upgrade({
      path: new URL(req.url).pathname,
      protocols: req.headers.get("sec-websocket-protocol"),
      remoteAddress: addr.hostname !== undefined ? `${addr.hostname}:${addr.port}` : "",
    });
    if (!decision.accept) return new Response(`${decision.reason}\n`, { status: decision.status });
    const conn = decision.connection;
    // Deno checks a `protocol` option against the offered list split at
    // ", " only, which misses `ws`'s comma-only lists: select it by hand.
    const { socket, response } = D.upgradeWebSocket(req);
    response.headers.set("sec-websocket-protocol", decision.protocol);
    socket.binaryType = "arraybuffer";
    sockets.add(socket);
    const ss: ServerSocket = {
      send(data: Uint8Array): void {
        if (socket.readyState === WebSocket.OPEN) socket.send(data);
      },
      close(code: number, reason: string): void {
        if (socket.readyState <= WebSocket.OPEN) socket.close(code, closeReason(reason));
      },
    };
    socket.onopen = () => conn.onOpen(ss);
    // The connection refuses messages above the limit (code 1009).
    socket.onmessage = (e: MessageEvent) => conn.onMessage(toBytes(e.data));
    socket.onerror = (e: Event) => {
      conn.onError((e as ErrorEvent).message ?? "socket error");
    };
    socket.onclose = (e: CloseEvent) => {
      sockets.delete(socket);
      conn.onClose(e.code, e.reason);
    };
    return response;
  };
  return new Promise<RunningServer>((resolve, reject) => {
    try {
      const options = {
        hostname: config.hostname,
        port: config.port,
        onListen(): void {},
        onError(e: unknown): Response {
          hooks.error(`request failed: ${e instanceof Error ? e.message : e}`);
          return new Response("Internal Server Error\n", { status: 500 });
        },
        ...(config.tls === undefined ? {} : { cert: config.tls.cert, key: config.tls.key }),
      };
      const server = D.serve(options, handler);
      resolve({
        port: server.addr.port,
        async stop(): Promise<void> {
          for (const s of sockets) {
            try {
              s.close(1001, "server stopping");
            } catch {
              // already closing
            }
          }
          sockets.clear();
          await server.shutdown();
        },
      });
    } catch (e) {
      reject(e);
    }
  });
}

function startBunServer(config: ServerConfig, hooks: ServerHooks): Promise<RunningServer> {
  const B = bunGlobal();
  if (B === undefined) {
    return Promise.reject(new TypeError("Cannot start the 'bun' server: not running on Bun"));
  }
  try {
    const server = B.serve({
      hostname: config.hostname,
      port: config.port,
      ...(config.tls === undefined ? {} : { tls: config.tls }),
      async fetch(req: Request, srv: BunServerLike): Promise<Response | undefined> {
        if (!isWebSocketUpgrade(req.headers.get("upgrade"))) {
          return new Response("Upgrade Required: this is a raft-ts WebSocket endpoint\n", {
            status: 426,
          });
        }
        const decision = await hooks.upgrade({
          path: new URL(req.url).pathname,
          protocols: req.headers.get("sec-websocket-protocol"),
          remoteAddress: srv.requestIP(req)?.address ?? "",
        });
        if (!decision.accept) {
          return new Response(`${decision.reason}\n`, { status: decision.status });
        }
        const ok = srv.upgrade(req, {
          data: decision.connection,
          headers: { "Sec-WebSocket-Protocol": decision.protocol },
        });
        return ok ? undefined : new Response("Cannot upgrade the connection\n", { status: 400 });
      },
      websocket: {
        maxPayloadLength: config.maxMessageBytes,
        perMessageDeflate: false,
        backpressureLimit: 16 * 1024 * 1024,
        open(ws: BunServerWebSocketLike): void {
          const ss: ServerSocket = {
            send(data: Uint8Array): void {
              ws.send(data);
            },
            close(code: number, reason: string): void {
              ws.close(code, closeReason(reason));
            },
          };
          (ws.data as PeerConnection).onOpen(ss);
        },
        message(ws: BunServerWebSocketLike, msg: string | Uint8Array): void {
          (ws.data as PeerConnection).onMessage(toBytes(msg));
        },
        close(ws: BunServerWebSocketLike, code: number, reason: string): void {
          const conn = ws.data as PeerConnection;
          if (code === 1009) conn.onError(oversizedMessage);
          conn.onClose(code, reason);
        },
      },
    });
    return Promise.resolve({
      port: server.port,
      async stop(): Promise<void> {
        await server.stop(true);
      },
    });
  } catch (e) {
    return Promise.reject(e);
  }
}

/** The parts of a `ws` socket used here, so the package type-checks without `@types/ws`. */
interface WsSocketLike {
  readonly readyState: number;
  readonly OPEN: number;
  readonly CONNECTING: number;
  readonly protocol: string;
  readonly bufferedAmount: number;
  send(data: Uint8Array | string): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  on(event: "open", listener: () => void): unknown;
  on(event: "message", listener: (data: unknown, isBinary: boolean) => void): unknown;
  on(event: "error", listener: (err: Error) => void): unknown;
  on(event: "close", listener: (code: number, reason: Uint8Array) => void): unknown;
  on(
    event: "unexpected-response",
    listener: (req: { destroy(): void }, res: { statusCode?: number }) => void,
  ): unknown;
}

/** The parts of the `ws` module used here (see {@linkcode WsSocketLike}). */
interface WsModule {
  WebSocketServer: new (options: {
    noServer: boolean;
    maxPayload: number;
    perMessageDeflate: boolean;
    handleProtocols: (set: Set<string>) => string | false;
  }) => {
    readonly clients: Set<WsSocketLike>;
    handleUpgrade(
      req: IncomingMessage,
      socket: Duplex,
      head: Uint8Array,
      callback: (ws: WsSocketLike) => void,
    ): void;
    close(): void;
  };
  WebSocket: new (
    url: string,
    protocols: string[],
    options: { perMessageDeflate: boolean; maxPayload: number; ca?: string },
  ) => WsSocketLike;
}
let wsModule: Promise<WsModule> | undefined;

function loadWs(): Promise<WsModule> {
  wsModule ??= import("ws").then((m): WsModule => m);
  return wsModule;
}

const statusText: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  426: "Upgrade Required",
  429: "Too Many Requests",
  503: "Service Unavailable",
};

async function startWsServer(
  config: ServerConfig,
  hooks: ServerHooks,
): Promise<RunningServer> {
  const { WebSocketServer } = await loadWs();
  const http = config.tls === undefined ? await import("node:http") : await import("node:https");
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: config.maxMessageBytes,
    perMessageDeflate: false,
    // The upgrade hook already decided which of the two the transport speaks.
    handleProtocols: (set: Set<string>) =>
      set.has(protocolName) ? protocolName : set.has(hostProtocolName) ? hostProtocolName : false,
  });
  const server = config.tls === undefined
    ? (http as typeof import("node:http")).createServer()
    : (http as typeof import("node:https")).createServer({
      cert: config.tls.cert,
      key: config.tls.key,
    });
  server.on("request", (_req, res) => {
    res.writeHead(426, { "content-type": "text/plain" });
    res.end("Upgrade Required: this is a raft-ts WebSocket endpoint\n");
  });
  server.on("upgrade", (req, socket, head) => {
    socket.on("error", () => {});
    void (async () => {
      const refuse = (status: number, reason: string): void => {
        const body = `${reason}\n`;
        socket.end(
          `HTTP/1.1 ${status} ${statusText[status] ?? "Error"}\r\nConnection: close\r\n` +
            `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${
              new TextEncoder().encode(body).length
            }\r\n\r\n${body}`,
        );
      };
      if (!isWebSocketUpgrade(req.headers.upgrade)) return refuse(426, "Upgrade Required");
      const decision = await hooks.upgrade({
        path: new URL(req.url ?? "/", "http://localhost").pathname,
        protocols: req.headers["sec-websocket-protocol"],
        remoteAddress: `${req.socket.remoteAddress ?? ""}:${req.socket.remotePort ?? ""}`,
      });
      if (!decision.accept) return refuse(decision.status, decision.reason);
      if (socket.destroyed) return;
      const conn = decision.connection;
      wss.handleUpgrade(req, socket, head, (ws) => {
        const ss: ServerSocket = {
          send(data: Uint8Array): void {
            if (ws.readyState === ws.OPEN) ws.send(data);
          },
          close(code: number, reason: string): void {
            if (ws.readyState <= ws.OPEN) ws.close(code, closeReason(reason));
          },
        };
        ws.on("message", (data: unknown, isBinary: boolean) => {
          const bytes = toBytes(data);
          conn.onMessage(isBinary ? bytes : new TextDecoder().decode(bytes as Uint8Array));
        });
        ws.on("error", (err: Error) =>
          conn.onError(
            (err as { code?: unknown }).code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH"
              ? oversizedMessage
              : err.message,
          ));
        ws.on("close", (code: number, reason: Uint8Array) => {
          conn.onClose(code, new TextDecoder().decode(reason));
        });
        conn.onOpen(ss);
      });
    })().catch((e) => {
      socket.destroy();
      hooks.error(e instanceof Error ? e.message : String(e));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr !== null ? addr.port : config.port;
  return {
    port,
    async stop(): Promise<void> {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
    },
  };
}

// ---------------------------------------------------------------------------
// Clients

/**
 * Opens a client connection. Events arrive through `events`; `close` is
 * always the last one, also when the connection never opens.
 */
export async function connectClient(
  kind: ClientKind,
  url: string,
  protocols: string[],
  config: ClientConfig,
  events: ClientEvents,
): Promise<ClientSocket> {
  if (kind === "ws") return await connectWs(url, protocols, config, events);
  return connectNative(url, protocols, config, events);
}

function connectNative(
  url: string,
  protocols: string[],
  config: ClientConfig,
  events: ClientEvents,
): ClientSocket {
  let ws: WebSocket;
  if (bunGlobal() !== undefined && config.ca !== undefined) {
    // Bun's WebSocket takes TLS options; the standard constructor does not.
    const Ctor = WebSocket as unknown as new (url: string, options: unknown) => WebSocket;
    ws = new Ctor(url, { protocols, tls: { ca: config.ca } });
  } else {
    ws = new WebSocket(url, protocols);
  }
  ws.binaryType = "arraybuffer";
  let closed = false;
  ws.onopen = () => events.open();
  ws.onmessage = (e: MessageEvent) => events.message(toBytes(e.data));
  ws.onerror = (e: Event) => {
    const msg = (e as ErrorEvent).message;
    events.error(typeof msg === "string" && msg !== "" ? msg : "connection error");
  };
  ws.onclose = (e: CloseEvent) => {
    if (closed) return;
    closed = true;
    events.close(e.code, e.reason);
  };
  return {
    protocol: () => ws.protocol,
    send(data: Uint8Array | string): void {
      ws.send(data);
    },
    bufferedAmount: () => ws.bufferedAmount,
    close(code: number, reason: string): void {
      if (ws.readyState <= WebSocket.OPEN) ws.close(code, closeReason(reason));
    },
  };
}

async function connectWs(
  url: string,
  protocols: string[],
  config: ClientConfig,
  events: ClientEvents,
): Promise<ClientSocket> {
  const { WebSocket: WsClient } = await loadWs();
  const ws = new WsClient(url, protocols, {
    perMessageDeflate: false,
    maxPayload: config.maxMessageBytes,
    ...(config.ca === undefined ? {} : { ca: config.ca }),
  });
  let refusedStatus: number | undefined;
  ws.on("open", () => events.open());
  ws.on("message", (data: unknown, isBinary: boolean) => {
    const bytes = toBytes(data);
    events.message(isBinary ? bytes : new TextDecoder().decode(bytes as Uint8Array));
  });
  ws.on("unexpected-response", (req: { destroy(): void }, res: { statusCode?: number }) => {
    refusedStatus = res.statusCode;
    events.error(`server refused the connection: HTTP ${res.statusCode}`);
    req.destroy();
    ws.terminate();
  });
  ws.on("error", (err: Error) => {
    if (refusedStatus === undefined) events.error(err.message);
  });
  ws.on("close", (code: number, reason: Uint8Array) => {
    events.close(code, new TextDecoder().decode(reason));
  });
  return {
    protocol: () => ws.protocol,
    send(data: Uint8Array | string): void {
      ws.send(data);
    },
    bufferedAmount: () => ws.bufferedAmount,
    close(code: number, reason: string): void {
      if (ws.readyState === ws.CONNECTING) ws.terminate();
      else if (ws.readyState === ws.OPEN) ws.close(code, closeReason(reason));
    },
  };
}
