/**
 * `GET /`: the live cluster page, with a content security policy that lets
 * only its own inline script and style run; `GET /favicon.ico`: its icon.
 *
 * @module
 */

import { Hono } from "hono";
import type { RaftApp, RaftMiddleware } from "./_hono_types.ts";
import { pagePolicy } from "./_security.ts";
import { clusterPage, clusterPageIcon, type ClusterPageOptions } from "./page.ts";

/** The page route and its icon, to mount with `app.route("/", ...)`. */
export function pageRoutes(options: ClusterPageOptions): RaftApp {
  const html = clusterPage(options);
  let policy: Promise<RaftMiddleware> | undefined;
  const app = new Hono();
  app.get(
    "/",
    async function pageSecurityHeaders(c, next): Promise<Response | void> {
      return await (await (policy ??= pagePolicy(html)))(c, next);
    },
    (c) => c.html(html),
  );
  app.get("/favicon.ico", (c) =>
    c.body(clusterPageIcon, 200, {
      "content-type": "image/svg+xml",
      "cache-control": "public, max-age=86400",
    }));
  return app;
}
