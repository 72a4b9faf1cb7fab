/**
 * The status and health routes: `GET /raft/status`, `GET /raft/cluster`,
 * `GET /healthz` and `GET /readyz`.
 *
 * @module
 */

import { Hono } from "hono";
import type { NodeId } from "../../core/types.ts";
import { type AppContext, fetchMember, memberIds } from "./_context.ts";
import type { RaftApp } from "./_hono_types.ts";
import {
  type ClusterJson,
  type ClusterNodeJson,
  type RaftStatusJson,
  statusJson,
} from "./_views.ts";
import { roleName } from "./metrics.ts";

async function memberStatus(ctx: AppContext, id: NodeId): Promise<ClusterNodeJson> {
  const apiUrl = ctx.directory.get(id)?.apiUrl ?? null;
  if (id === ctx.node.id) return { id, apiUrl, status: statusJson(ctx), error: null };
  if (apiUrl === null) return { id, apiUrl, status: null, error: "address unknown" };
  try {
    const res = await fetchMember(ctx, id, "/raft/status");
    if (!res.ok) {
      await res.body?.cancel();
      return { id, apiUrl, status: null, error: `HTTP ${res.status}` };
    }
    return { id, apiUrl, status: (await res.json()) as RaftStatusJson, error: null };
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    return { id, apiUrl, status: null, error: msg };
  }
}

/** The status and health routes, to mount with `app.route("/", ...)`. */
export function statusRoutes(ctx: AppContext): RaftApp {
  const { node } = ctx;
  const app = new Hono();

  app.get("/raft/status", (c) => c.json(statusJson(ctx)));

  app.get("/raft/cluster", async (c) => {
    const ids = memberIds(node.status().confState);
    const nodes = await Promise.all(ids.map((id) => memberStatus(ctx, id)));
    const body: ClusterJson = { self: node.id, nodes };
    return c.json(body);
  });

  app.get("/healthz", (c) => {
    const st = node.status();
    return st.closed
      ? c.json({ ok: false, reason: "node closed" }, 503)
      : c.json({ ok: true, id: node.id, role: roleName(st.raftState) });
  });

  app.get("/readyz", (c) => {
    const st = node.status();
    if (st.closed) return c.json({ ready: false, reason: "node closed" }, 503);
    if (st.leaderId === 0) return c.json({ ready: false, reason: "no leader known" }, 503);
    return c.json({ ready: true, leaderId: st.leaderId, term: st.term });
  });

  return app;
}
