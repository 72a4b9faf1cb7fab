/**
 * The membership and leadership routes (admin): `GET /raft/members`,
 * `POST /raft/members`, `DELETE /raft/members/:id`,
 * `POST /raft/members/:id/promote`, `POST /raft/members/:id/demote` and
 * `POST /raft/transfer-leader`.
 *
 * @module
 */

import { Hono } from "hono";
import { type AppContext, memberIds } from "./_context.ts";
import type { HonoContext, RaftApp } from "./_hono_types.ts";
import { memberView, statusJson } from "./_views.ts";
import { encodeMemberContext, type MemberAddress } from "./directory.ts";
import { httpError, parseNodeId, readJsonObject, rejectUnknownFields } from "./http.ts";
import { routeToLeader } from "./leader.ts";

/** A member to add, as `POST /raft/members` reads it from the body. */
interface NewMember {
  id: number;
  role: "voter" | "learner";
  address: MemberAddress;
  context: Uint8Array;
}

async function readNewMember(ctx: AppContext, c: HonoContext): Promise<NewMember> {
  const body = await readJsonObject(c, ctx.maxBodyBytes, { timeoutMs: ctx.bodyTimeoutMs });
  rejectUnknownFields(body, ["id", "role", "apiUrl", "peerUrl"]);
  const id = parseNodeId(body.id, "id");
  const role = body.role ?? "voter";
  if (role !== "voter" && role !== "learner") {
    throw httpError(
      400,
      "invalid_role",
      `Cannot add the member: 'role' must be "voter" or "learner", not ${JSON.stringify(role)}`,
      { field: "role" },
    );
  }
  const address: MemberAddress = {};
  for (const field of ["apiUrl", "peerUrl"] as const) {
    const v = body[field];
    if (v === undefined) continue;
    if (typeof v !== "string" || v.length > 2048) {
      throw httpError(
        400,
        "invalid_url",
        `Cannot add the member: '${field}' must be a URL string`,
        {
          field,
        },
      );
    }
    address[field] = v;
  }
  let context: Uint8Array;
  try {
    context = encodeMemberContext(address);
  } catch (e) {
    throw httpError(400, "invalid_url", `Cannot add the member: ${(e as Error).message}`);
  }
  if (role === "voter") {
    const known = ctx.directory.get(id)?.peerUrl;
    if (address.peerUrl === undefined && known !== undefined && ctx.peerUrlUsable(known)) {
      address.peerUrl = known;
      context = encodeMemberContext(address);
    }
    checkVoterPeerUrl(ctx, id, address.peerUrl);
  }
  return { id, role, address, context };
}

/**
 * Refuses a voter the node's transport could not reach: it would count
 * toward the quorum while nobody can send it a message.
 */
function checkVoterPeerUrl(ctx: AppContext, id: number, peerUrl: string | undefined): void {
  if (ctx.peerUrlUsable === acceptAnyPeerUrl) return;
  const [code, why] = peerUrl === undefined
    ? ["peer_url_required", "'peerUrl' is missing"]
    : ctx.peerUrlUsable(peerUrl)
    ? [undefined, ""]
    : ["invalid_peer_url", `the transport cannot dial 'peerUrl' ${JSON.stringify(peerUrl)}`];
  if (code === undefined) return;
  throw httpError(
    400,
    code,
    `Cannot add node ${id} as a voter: ${why}, so no member could reach it and the cluster could lose its quorum; give the URL its transport listens on (or add it as a learner)`,
    { field: "peerUrl" },
  );
}

/** The check that accepts any peer URL, or none (`peerUrl: false`). */
export function acceptAnyPeerUrl(): boolean {
  return true;
}

/** The default peer URL check: the WebSocket transport dials `ws:` and `wss:` URLs. */
export function webSocketPeerUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return (u.protocol === "ws:" || u.protocol === "wss:") && u.hostname !== "";
  } catch {
    return false;
  }
}

/** The membership routes, to mount with `app.route("/", ...)`. */
export function membersRoutes(ctx: AppContext): RaftApp {
  const { node, admin, requestOptions } = ctx;
  const app = new Hono();

  app.get("/raft/members", (c) => c.json({ members: statusJson(ctx).members }));

  app.post("/raft/members", admin, async (c) => {
    const m = await readNewMember(ctx, c);
    const redirect = await routeToLeader(c, node, ctx.routing);
    if (redirect !== undefined) return redirect;
    const options = { ...requestOptions, context: m.context };
    const cs =
      await (m.role === "voter" ? node.addVoter(m.id, options) : node.addLearner(m.id, options));
    ctx.directory.set(m.id, m.address);
    return c.json({ added: m.id, role: m.role, members: memberView(ctx, cs) }, 201);
  });

  app.delete("/raft/members/:id", admin, async (c) => {
    const id = parseNodeId(c.req.param("id"), "id");
    if (!memberIds(node.status().confState).includes(id)) {
      throw httpError(404, "member_not_found", `Cannot remove node ${id}: it is not a member`);
    }
    const redirect = await routeToLeader(c, node, ctx.routing);
    if (redirect !== undefined) return redirect;
    const cs = await node.removeNode(id, requestOptions);
    return c.json({ removed: id, members: memberView(ctx, cs) });
  });

  // Promote a learner, demote a voter: the same route with its own role check.
  const roleChanges = [
    { verb: "promote", done: "promoted", from: "learners", code: "not_a_learner", is: "a learner" },
    { verb: "demote", done: "demoted", from: "voters", code: "not_a_voter", is: "a voter" },
  ] as const;
  for (const r of roleChanges) {
    app.post(`/raft/members/:id/${r.verb}`, admin, async (c) => {
      const id = parseNodeId(c.req.param("id"), "id");
      const cs0 = node.status().confState;
      if (!memberIds(cs0).includes(id)) {
        throw httpError(404, "member_not_found", `Cannot ${r.verb} node ${id}: it is not a member`);
      }
      if (!cs0[r.from].includes(id)) {
        throw httpError(409, r.code, `Cannot ${r.verb} node ${id}: it is not ${r.is}`);
      }
      const redirect = await routeToLeader(c, node, ctx.routing);
      if (redirect !== undefined) return redirect;
      const cs = await (r.verb === "promote"
        ? node.promote(id, requestOptions)
        : node.demote(id, requestOptions));
      return c.json({ [r.done]: id, members: memberView(ctx, cs) });
    });
  }

  app.post("/raft/transfer-leader", admin, async (c) => {
    const body = await readJsonObject(c, ctx.maxBodyBytes, { timeoutMs: ctx.bodyTimeoutMs });
    rejectUnknownFields(body, ["to"]);
    const to = parseNodeId(body.to, "to");
    if (!node.status().confState.voters.includes(to)) {
      throw httpError(
        409,
        "not_a_voter",
        `Cannot transfer leadership to node ${to}: it is not a voter`,
      );
    }
    await node.transferLeadership(to, requestOptions);
    const st = node.status();
    return c.json({ leaderId: st.leaderId, term: st.term });
  });

  return app;
}
