/**
 * Hono's types under the names this adapter's API uses, so that its
 * documentation stands on its own.
 *
 * @module
 */

import type { Context, Hono, MiddlewareHandler } from "hono";
import type { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { WSEvents } from "hono/ws";

/** A Hono app (Hono's `Hono` class): serve it with `app.fetch`, extend it, or mount it with `app.route()`. */
export type RaftApp = Hono;
/** Hono's request `Context`. */
export type HonoContext = Context;
/** A Hono middleware (Hono's `MiddlewareHandler`). */
export type RaftMiddleware = MiddlewareHandler;
/** Hono's `HTTPException`: throw it from a handler to answer with its response. */
export type HttpException = HTTPException;
/** An HTTP status that may carry a body (Hono's `ContentfulStatusCode`). */
export type HttpErrorStatus = ContentfulStatusCode;
/** Hono's WebSocket event listeners (`WSEvents`). */
export type WebSocketEvents = WSEvents;
/**
 * Hono's runtime-specific `upgradeWebSocket` (from `hono/deno` or
 * `hono/bun`), in the form that upgrades the request of a context with
 * the given listeners.
 */
export type UpgradeWebSocketLike = (
  c: HonoContext,
  events: WebSocketEvents,
) => Promise<Response>;
