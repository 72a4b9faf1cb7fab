/**
 * `GET /`: the live cluster page, with a content security policy that lets
 * only its own inline script and style run.
 *
 * @module
 */

import { Hono } from "hono";
import type { RaftApp, RaftMiddleware } from "./_hono_types.ts";
import { pagePolicy } from "./_security.ts";
import { clusterPage, type ClusterPageOptions } from "./page.ts";

/** The page route, to mount with `app.route("/", ...)`. */
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
  return app;
}
