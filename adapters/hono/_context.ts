/**
 * What the route modules of {@linkcode createRaftApp} share: the node, the
 * resolved options, and the lookups several routes use.
 *
 * @module
 */

import type { Logger } from "../../core/logger.ts";
import type {
  ConfChangeOptions,
  RaftNodeEventName,
  RaftNodeEvents,
  RaftNodeStatus,
  RequestOptions,
} from "../../core/node.ts";
import type { ConfState, NodeId } from "../../core/types.ts";
import type { RaftMiddleware } from "./_hono_types.ts";
import type { MemberDirectory } from "./directory.ts";
import { httpError } from "./http.ts";
import type { LeaderRoutingOptions } from "./leader.ts";
import type { RaftMetrics, TransportMetricsLike } from "./metrics.ts";
import type { TransportMonitor } from "./monitor.ts";

/**
 * The part of `RaftNode` the app uses. `RaftNode` fits it; so does a test
 * double.
 */
export interface RaftNodeLike {
  /** The node's ID. */
  readonly id: NodeId;
  /** Whether the node is closed. */
  readonly closed: boolean;
  /**
   * The node's state.
   *
   * @returns A fresh status object.
   */
  status(): RaftNodeStatus;
  /**
   * Subscribes to an event.
   *
   * @param event The event's name.
   * @param fn The listener.
   * @returns A function that unsubscribes.
   */
  on<K extends RaftNodeEventName>(event: K, fn: (e: RaftNodeEvents[K]) => void): () => void;
  /**
   * Adds a voter.
   *
   * @param id The new voter.
   * @param options Context and timeout.
   * @returns The membership after the change.
   */
  addVoter(id: NodeId, options?: ConfChangeOptions): Promise<ConfState>;
  /**
   * Adds a learner.
   *
   * @param id The new learner.
   * @param options Context and timeout.
   * @returns The membership after the change.
   */
  addLearner(id: NodeId, options?: ConfChangeOptions): Promise<ConfState>;
  /**
   * Promotes a learner to a voter.
   *
   * @param id The learner.
   * @param options Context and timeout.
   * @returns The membership after the change.
   */
  promote(id: NodeId, options?: ConfChangeOptions): Promise<ConfState>;
  /**
   * Demotes a voter to a learner.
   *
   * @param id The voter.
   * @param options Context and timeout.
   * @returns The membership after the change.
   */
  demote(id: NodeId, options?: ConfChangeOptions): Promise<ConfState>;
  /**
   * Removes a member.
   *
   * @param id The member.
   * @param options Context and timeout.
   * @returns The membership after the change.
   */
  removeNode(id: NodeId, options?: ConfChangeOptions): Promise<ConfState>;
  /**
   * Hands leadership to another voter.
   *
   * @param to The new leader.
   * @param options Timeout.
   * @returns Nothing, once `to` leads.
   */
  transferLeadership(to: NodeId, options?: RequestOptions): Promise<void>;
  /**
   * Closes the node.
   *
   * @returns A promise that settles once the node is stopped.
   */
  close(): Promise<void>;
}

/** The node and the resolved options, as every route module sees them. */
export interface AppContext {
  readonly node: RaftNodeLike;
  readonly directory: MemberDirectory;
  readonly metrics: RaftMetrics;
  readonly monitor: TransportMonitor | undefined;
  readonly transportMetrics: (() => TransportMetricsLike) | undefined;
  readonly routing: LeaderRoutingOptions;
  /** The timeout of membership changes and transfers (empty: the node's own). */
  readonly requestOptions: RequestOptions;
  readonly maxBodyBytes: number;
  /** How long a request body may take to arrive. */
  readonly bodyTimeoutMs: number;
  readonly memberStatusTimeoutMs: number;
  readonly activeWindowMs: number;
  readonly now: () => number;
  readonly fetch: (request: Request) => Promise<Response>;
  readonly logger: Logger;
  /** Whether the node's transport can dial a member's peer URL. */
  readonly peerUrlUsable: (url: string) => boolean;
  /** The middleware in front of every admin route. */
  readonly admin: RaftMiddleware;
}

/** Every member of a configuration (incoming, outgoing, learners), by ascending ID. */
export function memberIds(cs: ConfState): NodeId[] {
  return [...new Set([...cs.voters, ...cs.learners, ...cs.votersOutgoing, ...cs.learnersNext])]
    .sort((a, b) => a - b);
}

/**
 * Sends a request to another member's API, given up after
 * `memberStatusTimeoutMs`.
 *
 * @throws {HTTPException} 404 `member_address_unknown` when its API URL is unknown.
 */
export async function fetchMember(
  ctx: AppContext,
  id: NodeId,
  path: string,
  init: RequestInit = {},
): Promise<Response> {
  const url = ctx.directory.get(id)?.apiUrl;
  if (url === undefined) {
    throw httpError(
      404,
      "member_address_unknown",
      `Cannot reach node ${id}: its API address is unknown`,
    );
  }
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ctx.memberStatusTimeoutMs);
  try {
    return await ctx.fetch(new Request(`${url}${path}`, { ...init, signal: ac.signal }));
  } finally {
    clearTimeout(timer);
  }
}
