/**
 * `GET /`: the live cluster page.
 *
 * @module
 */

import { Hono } from "hono";
import type { RaftApp } from "./_hono_types.ts";
import { clusterPage, type ClusterPageOptions } from "./page.ts";

/** The page route, to mount with `app.route("/", ...)`. */
export function pageRoutes(options: ClusterPageOptions): RaftApp {
  const html = clusterPage(options);
  const app = new Hono();
  app.get("/", (c) => c.html(html));
  return app;
}
