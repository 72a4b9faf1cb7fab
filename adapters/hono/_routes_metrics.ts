/**
 * `GET /metrics`: the node's counters in Prometheus text format.
 *
 * @module
 */

import { Hono } from "hono";
import type { AppContext } from "./_context.ts";
import type { RaftApp } from "./_hono_types.ts";

/** The metrics route, to mount with `app.route("/", ...)`. */
export function metricsRoutes(ctx: AppContext): RaftApp {
  const app = new Hono();
  app.get("/metrics", (c) => {
    const text = ctx.metrics.render({
      status: ctx.node.status(),
      ...(ctx.monitor !== undefined ? { monitor: ctx.monitor.stats() } : {}),
      ...(ctx.transportMetrics !== undefined ? { transport: ctx.transportMetrics() } : {}),
    });
    return c.body(text, 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
  });
  return app;
}
