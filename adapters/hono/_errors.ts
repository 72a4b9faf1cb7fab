/**
 * How the app answers what no route answered: errors thrown by handlers
 * (the driver's and Raft's typed errors become JSON answers; aborted
 * request bodies are logged as one line at a bounded rate), unknown
 * routes (404) and wrong methods (405 with `Allow`, through Hono's
 * `methodNotAllowed` middleware).
 *
 * @module
 */

import { HTTPException } from "hono/http-exception";
import { methodNotAllowed } from "hono/method-not-allowed";
import { ConfChangeError, RaftError } from "../../core/errors.ts";
import type { AppContext } from "./_context.ts";
import type { HonoContext, RaftApp, RaftMiddleware } from "./_hono_types.ts";
import { isAdminRequest } from "./_admin.ts";
import { RateLimitedLog } from "./_security.ts";
import { BodyAbortedError, errorResponse } from "./http.ts";
import { routeToLeader } from "./leader.ts";

/**
 * Maps the driver's and Raft's errors to JSON answers; `undefined` for
 * errors that are not theirs. `detail`: whether the answer may name the
 * fatal error that closed the node.
 */
export function nodeErrorResponse(e: unknown, detail: boolean): Response | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  const message = e instanceof Error ? e.message : String(e);
  if (e instanceof ConfChangeError) {
    return errorResponse(409, "invalid_membership_change", message, { reason: e.reason });
  }
  switch (code) {
    case "timeout":
      return errorResponse(
        504,
        "timeout",
        `${message}; the outcome is unknown (a write may still be applied)`,
      );
    case "busy":
      return errorResponse(503, "busy", message, {}, { "retry-after": "1" });
    case "paused":
      return errorResponse(503, "paused", message, {}, { "retry-after": "1" });
    case "leader_changed":
      return errorResponse(503, "leader_changed", message, {}, { "retry-after": "1" });
    case "node_closed":
      // The fatal error behind it, if any, is for the log and for admins only.
      return errorResponse(
        503,
        "node_closed",
        detail ? message : "Cannot serve the request: the node is closed",
      );
    case "not_leader":
      return errorResponse(
        503,
        "not_leader",
        message,
        { leaderId: (e as { leaderId?: number }).leaderId ?? 0 },
        { "retry-after": "1" },
      );
    case "key_reused":
      // IETF draft-ietf-httpapi-idempotency-key-header: a key reused for another request.
      return errorResponse(422, "idempotency_key_reused", message);
    case "session_stale":
    case "session_expired":
    case "session_busy":
      // Retrying the same command cannot help.
      return errorResponse(409, code, message);
    case "proposal_dropped":
      return errorResponse(
        503,
        "proposal_dropped",
        `${message}: it was not applied; retry`,
        {},
        { "retry-after": "1" },
      );
  }
  if (e instanceof RaftError) return errorResponse(503, e.code, message);
  return undefined;
}

/**
 * The middleware that answers 405 with `Allow` when the path exists for
 * other methods.
 */
export function wrongMethod(app: RaftApp): RaftMiddleware {
  return methodNotAllowed({
    app,
    onMethodNotAllowed(c, methods): Response {
      const list = [...new Set(methods)].sort().join(", ");
      return errorResponse(
        405,
        "method_not_allowed",
        `Cannot ${c.req.method} ${c.req.path}: allowed methods are ${list}`,
        {},
        { allow: list },
      );
    },
  });
}

/** The answer to a path no route serves. */
export function notFound(c: HonoContext): Response {
  return errorResponse(404, "not_found", `Cannot ${c.req.method} ${c.req.path}: no such route`);
}

/** The app's error handler. */
export function errorHandler(
  ctx: AppContext,
): (e: Error, c: HonoContext) => Promise<Response> {
  const bodyAborts = new RateLimitedLog(ctx.now);
  return async function onError(e, c): Promise<Response> {
    if (e instanceof BodyAbortedError) {
      bodyAborts.warn(
        ctx.logger,
        `${ctx.node.id} HTTP ${c.req.method} ${c.req.path}: ${e.message}`,
      );
    }
    if (e instanceof HTTPException) return e.getResponse();
    if ((e as { code?: unknown }).code === "not_leader") {
      // Leadership moved while the request was served: route it like one that came too late.
      const res = await routeToLeader(c, ctx.node, ctx.routing).catch(() => undefined);
      if (res !== undefined) return res;
    }
    const mapped = nodeErrorResponse(e, isAdminRequest(c));
    if (mapped !== undefined) return mapped;
    ctx.logger.error(
      `${ctx.node.id} HTTP ${c.req.method} ${c.req.path} failed: ${e.stack ?? e.message}`,
    );
    return errorResponse(500, "internal", `Cannot serve the request: ${e.message}`);
  };
}
