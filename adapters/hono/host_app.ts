/**
 * The HTTP face of a `RaftHost` (many Raft groups in one process):
 * `GET /raft/status` (the host and a summary of its groups: how many, led
 * by which host, without a leader, quiesced), `GET /raft/groups` (one line
 * per group), `GET /healthz`, `GET /readyz` and a live page at `/` that
 * shows the groups. Applications add their own routes (a sharded store's)
 * to the app it returns.
 *
 * @module
 */

import { Hono } from "hono";
import type { GroupId, HostId } from "../../core/host/seams.ts";
import type { RaftHostStatus } from "../../core/host/raft_host.ts";
import type { Logger } from "../../core/logger.ts";
import { discardLogger } from "../../core/logger.ts";
import type { NodeId, StateType } from "../../core/types.ts";
import type { HonoContext, RaftApp } from "./_hono_types.ts";
import { nodeErrorResponse, notFound, wrongMethod } from "./_errors.ts";
import { allowedHostsGuard, localHostNames, pagePolicy, securityHeaders } from "./_security.ts";
import { errorResponse } from "./http.ts";
import { HTTPException } from "hono/http-exception";
import { roleName } from "./metrics.ts";
import { hostPage } from "./_host_page.ts";

/** What the host app reads of one group's node. */
export interface HostedGroupLike {
  /** The node's role, leader, term and indexes. */
  status(): {
    leaderId: NodeId;
    raftState: StateType;
    term: number;
    commit: number;
    applied: number;
    closed?: boolean;
  };
}

/** What the host app reads of a host (a `RaftHost` has all of it). */
export interface RaftHostLike {
  /** The host's ID. */
  readonly hostId: HostId;
  /** The groups it runs. */
  readonly groupIds: GroupId[];
  /** The host's counters and groups. */
  status(): RaftHostStatus;
  /** One group's node. */
  group(groupId: GroupId): HostedGroupLike;
}

/** Options of {@linkcode createRaftHostApp}. */
export interface RaftHostAppOptions {
  /**
   * The host names this app answers to (the request's `Host`, port
   * ignored); any other is answered 421 `host_not_allowed` (DNS
   * rebinding). `false` answers every host.
   * @default {localhost, 127.0.0.1 and ::1, and the host of `selfUrl`}
   */
  allowedHosts?: readonly string[] | false;
  /**
   * This host's HTTP API URL as others reach it (its host name is allowed).
   * @default {undefined}
   */
  selfUrl?: string;
  /**
   * Whether to serve the live page at `/`; its title.
   * @default {{ title: "raft-ts host" }}
   */
  page?: false | { title?: string };
  /**
   * Where unexpected errors of routes are logged.
   * @default {discardLogger}
   */
  logger?: Logger;
}

/** One group in {@linkcode RaftHostStatusJson.groups}. */
export interface HostGroupJson {
  /** The group. */
  groupId: GroupId;
  /** This host's role in it. */
  role: string;
  /** The leader's host (0: none known). */
  leaderId: NodeId;
  /** The term. */
  term: number;
  /** The commit index. */
  commit: number;
  /** The applied index. */
  applied: number;
}

/** The body of `GET /raft/status` of a host app. */
export interface RaftHostStatusJson {
  /** The host. */
  hostId: HostId;
  /** Whether the host is closed. */
  closed: boolean;
  /** How many groups it runs. */
  groups: number;
  /** The groups this host leads, ascending. */
  leading: GroupId[];
  /** For each host that leads any group (as this host sees it): how many. */
  leadersPerHost: Record<string, number>;
  /** Groups without a known leader. */
  withoutLeader: number;
  /** Groups that stopped after a fatal error. */
  failed: number;
  /** Quiesced groups (idle: not ticked, no heartbeats), when the host reports them. */
  quiesced: number | null;
  /** The host's counters (ticks, storage batches, transport). */
  host: RaftHostStatus;
}

/** The summary of a host's groups, as `GET /raft/status` answers it. */
function hostStatusJson(host: RaftHostLike): RaftHostStatusJson {
  const st = host.status();
  const leadersPerHost: Record<string, number> = { ...st.leadersPerHost };
  const quiesced = (st as { quiesced?: unknown }).quiesced;
  return {
    hostId: st.hostId,
    closed: st.closed,
    groups: st.groupIds.length,
    leading: st.leading,
    leadersPerHost,
    withoutLeader: st.withoutLeader,
    failed: st.failed,
    quiesced: typeof quiesced === "number" ? quiesced : null,
    host: st,
  };
}

/** One line per group, ascending. */
function groupsJson(host: RaftHostLike): HostGroupJson[] {
  const out: HostGroupJson[] = [];
  for (const groupId of [...host.groupIds].sort((a, b) => a - b)) {
    let st: ReturnType<HostedGroupLike["status"]>;
    try {
      st = host.group(groupId).status();
    } catch {
      continue;
    }
    out.push({
      groupId,
      role: roleName(st.raftState),
      leaderId: st.leaderId,
      term: st.term,
      commit: st.commit,
      applied: st.applied,
    });
  }
  return out;
}

/**
 * An HTTP app for a host of many Raft groups: its status, its groups, its
 * health and a live page; add the application's routes to it.
 *
 * - `GET /raft/status`: {@linkcode RaftHostStatusJson};
 * - `GET /raft/groups`: `{ hostId, groups: HostGroupJson[] }`;
 * - `GET /healthz`: 200 while the host runs;
 * - `GET /readyz`: 200 once every group knows a leader, else 503;
 * - `GET /`: the live page (groups, leaders per host, quiesced groups).
 *
 * Errors the groups' nodes throw in the application's routes become the
 * same JSON answers as in `createRaftApp` (503 `not_leader`, 504
 * `timeout`, ...).
 *
 * @param host The host (a `RaftHost`).
 * @param options Allowed host names, the page, the logger.
 * @returns The app.
 *
 * @example A host's status over HTTP
 * ```ts
 * import { MemoryHostStorage, RaftHost } from "@raft-ts/raft";
 * import { MemoryHostNetwork, VirtualScheduler } from "@raft-ts/raft/memory";
 * import { createRaftHostApp } from "@raft-ts/raft/hono";
 *
 * const clock = new VirtualScheduler();
 * const net = new MemoryHostNetwork({ scheduler: clock });
 * const host = await RaftHost.start({
 *   hostId: 1,
 *   transport: net.connect(1),
 *   storage: new MemoryHostStorage(),
 *   scheduler: clock,
 *   tickMs: 10,
 * });
 * const stateMachine = { apply: () => [], snapshot: () => new Uint8Array(), restore: () => {} };
 * await host.addGroup({ groupId: 1, peers: [1], stateMachine });
 * await clock.run(host.group(1).waitForLeader());
 * const app = createRaftHostApp(host);
 * const res = await app.request("http://localhost/raft/status");
 * const body = await res.json();
 * if (body.groups !== 1 || body.leading[0] !== 1) throw new Error("unexpected");
 * await clock.run(host.close());
 * net.close();
 * ```
 */
export function createRaftHostApp(host: RaftHostLike, options: RaftHostAppOptions = {}): RaftApp {
  const logger = options.logger ?? discardLogger;
  const app = new Hono();
  if (options.allowedHosts !== false) {
    const self = options.selfUrl === undefined ? [] : [new URL(options.selfUrl).host];
    app.use("*", allowedHostsGuard(options.allowedHosts ?? [...localHostNames, ...self]));
  }
  app.use("*", securityHeaders());
  app.use("*", wrongMethod(app));

  if (options.page !== false) {
    const html = hostPage(options.page?.title ?? "raft-ts host");
    const policy = pagePolicy(html);
    app.get("/", async (c, next) => await (await policy)(c, next), (c) => c.html(html));
  }
  app.get("/raft/status", (c) => c.json(hostStatusJson(host)));
  app.get("/raft/groups", (c) => c.json({ hostId: host.hostId, groups: groupsJson(host) }));
  app.get("/healthz", (c) => {
    const st = host.status();
    return st.closed
      ? c.json({ ok: false, reason: "host closed" }, 503)
      : c.json({ ok: true, id: host.hostId, groups: st.groupIds.length });
  });
  app.get("/readyz", (c) => {
    const st = host.status();
    if (st.closed) return c.json({ ready: false, reason: "host closed" }, 503);
    if (st.withoutLeader > 0 || st.failed > 0) {
      return c.json({
        ready: false,
        reason: `${st.withoutLeader} groups know no leader, ${st.failed} failed`,
      }, 503);
    }
    return c.json({ ready: true, groups: st.groupIds.length });
  });

  app.notFound(notFound);
  app.onError((e: Error, c: HonoContext): Response => {
    if (e instanceof HTTPException) return e.getResponse();
    const mapped = nodeErrorResponse(e, false);
    if (mapped !== undefined) return mapped;
    logger.error(`host ${host.hostId} HTTP ${c.req.method} ${c.req.path} failed: ${e.message}`);
    return errorResponse(500, "internal", `Cannot serve the request: ${e.message}`);
  });
  return app;
}
