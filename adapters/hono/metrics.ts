/**
 * Prometheus text metrics for a Raft node: term, indexes, role, proposals
 * and their latency, leader changes and elections, transport counters and
 * HTTP requests.
 *
 * `RaftNode` has no counters of its own; {@linkcode RaftMetrics} counts
 * what passes through it: proposals wrapped with `observeProposal()`,
 * leader changes from the node's `leader` events, term increases from both
 * the events and the status read at each scrape.
 *
 * @module
 */

import type { RaftNodeStatus } from "../../core/node.ts";
import type { NodeId, Term } from "../../core/types.ts";
import { StateType } from "../../core/types.ts";
import type { TransportMonitorStats } from "./monitor.ts";

/** Counters of one peer, as a transport reports them (all optional). */
export interface TransportPeerMetricsLike {
  /** The peer's ID. */
  id: NodeId;
  /** Messages sent to the peer. */
  messagesSent?: number;
  /** Messages received from the peer. */
  messagesReceived?: number;
  /** Messages to the peer dropped. */
  messagesDropped?: number;
  /** Bytes sent to the peer. */
  bytesSent?: number;
  /** Bytes received from the peer. */
  bytesReceived?: number;
  /** Reconnections to the peer. */
  reconnects?: number;
  /** Failed connection attempts. */
  connectFailures?: number;
  /** Messages queued for the peer. */
  queuedMessages?: number;
}

/**
 * A transport's counters, structurally: the WebSocket transport's
 * `metrics()` result fits, and so does any object with some of these
 * fields.
 */
export interface TransportMetricsLike {
  /** Messages sent, over all peers. */
  messagesSent?: number;
  /** Messages received, over all peers. */
  messagesReceived?: number;
  /** Messages dropped, over all peers. */
  messagesDropped?: number;
  /** Bytes sent, over all peers. */
  bytesSent?: number;
  /** Bytes received, over all peers. */
  bytesReceived?: number;
  /** Inbound connections open. */
  inboundConnections?: number;
  /** Inbound connections refused. */
  connectionsRefused?: number;
  /** Connections closed for bad input. */
  protocolErrors?: number;
  /** Per-peer counters. */
  peers?: readonly TransportPeerMetricsLike[];
}

/** What one scrape renders, besides the counters the {@linkcode RaftMetrics} keeps. */
export interface MetricsSnapshot {
  /** The node's status (on the leader, with its members' progress). */
  status: RaftNodeStatus;
  /** The transport monitor's counters. */
  monitor?: TransportMonitorStats;
  /** The transport's own counters. */
  transport?: TransportMetricsLike;
}

/** Options of {@linkcode RaftMetrics}. */
export interface RaftMetricsOptions {
  /**
   * Upper bounds of the proposal latency histogram's buckets, in seconds, ascending.
   * @default {[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]}
   */
  buckets?: readonly number[];
  /**
   * The clock for latencies, in milliseconds.
   * @default {performance.now}
   */
  now?: () => number;
}

/** The outcome label of a proposal. */
export type ProposalOutcome =
  | "ok"
  | "not_leader"
  | "timeout"
  | "dropped"
  | "busy"
  | "closed"
  | "error";

const proposalOutcomes: readonly ProposalOutcome[] = [
  "ok",
  "not_leader",
  "timeout",
  "dropped",
  "busy",
  "closed",
  "error",
];

const defaultBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The driver's error codes mapped to outcome labels. */
function outcomeOf(e: unknown): ProposalOutcome {
  const code = (e as { code?: unknown } | null)?.code;
  switch (code) {
    case "not_leader":
      return "not_leader";
    case "timeout":
      return "timeout";
    case "proposal_dropped":
      return "dropped";
    case "busy":
      return "busy";
    case "node_closed":
      return "closed";
    default:
      return "error";
  }
}

const roleNames: Record<number, string> = {
  [StateType.StateFollower]: "follower",
  [StateType.StateCandidate]: "candidate",
  [StateType.StateLeader]: "leader",
  [StateType.StatePreCandidate]: "pre-candidate",
};

/**
 * Turns a Raft role into a lowercase name: `"follower"`, `"candidate"`,
 * `"leader"` or `"pre-candidate"`.
 *
 * @param state The role.
 * @returns Its name.
 *
 * @example Usage
 * ```ts
 * import { roleName } from "@raft-ts/raft/hono";
 * import { StateType } from "@raft-ts/raft";
 * if (roleName(StateType.StateLeader) !== "leader") throw new Error("unexpected");
 * ```
 */
export function roleName(state: StateType): string {
  return roleNames[state] ?? `state-${state}`;
}

/** Escapes a label value for the Prometheus text format. */
function esc(v: string): string {
  return v.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll('"', '\\"');
}

function num(v: number): string {
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  if (Number.isNaN(v)) return "NaN";
  return String(v);
}

/** Builds the text of one scrape. */
class Exposition {
  readonly #lines: string[] = [];

  metric(
    name: string,
    type: "gauge" | "counter" | "histogram",
    help: string,
    samples: readonly (readonly [Record<string, string>, number])[],
  ): void {
    if (samples.length === 0) return;
    this.#lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of samples) this.sample(name, labels, v);
  }

  sample(name: string, labels: Record<string, string>, v: number): void {
    const ls = Object.entries(labels).map(([k, x]) => `${k}="${esc(x)}"`).join(",");
    this.#lines.push(`${name}${ls === "" ? "" : `{${ls}}`} ${num(v)}`);
  }

  header(name: string, type: string, help: string): void {
    this.#lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  }

  text(): string {
    return `${this.#lines.join("\n")}\n`;
  }
}

/** What {@linkcode RaftMetrics.watch} subscribes to: a node's `leader` events. */
export interface LeaderSource {
  /**
   * Subscribes to leader changes.
   *
   * @param event `"leader"`.
   * @param fn The listener.
   * @returns A function that unsubscribes.
   */
  on(event: "leader", fn: (e: { leaderId: NodeId; term: Term }) => void): () => void;
  /**
   * The node's current term, the baseline for counting elections.
   *
   * @returns At least the term.
   */
  status?(): { term: Term };
}

/**
 * The counters behind `GET /metrics`, and their Prometheus rendering.
 * `createRaftApp` makes one (or uses the one in its options) and watches
 * the node with it; wrap your proposals with `observeProposal()` to get
 * the proposal counters and latency histogram.
 *
 * @example Timing proposals
 * ```ts
 * import { RaftMetrics } from "@raft-ts/raft/hono";
 * const metrics = new RaftMetrics();
 * await metrics.observeProposal(Promise.resolve("applied"));
 * await metrics.observeProposal(Promise.reject(Object.assign(new Error("x"), { code: "timeout" })))
 *   .catch(() => {});
 * const text = metrics.render({
 *   status: {
 *     id: 1, leaderId: 1, raftState: 2, term: 2, vote: 1, commit: 5, applied: 5, snapshotIndex: 0,
 *     leaderContactAgeMs: 0, electionTimeoutMs: 1000,
 *     confState: { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
 *     pendingProposals: 0, pendingReads: 0, closed: false, lastIndex: 5,
 *     progress: [{
 *       id: 1, match: 5, next: 6, state: "replicate", recentActive: true, isLearner: false,
 *       paused: false, pendingSnapshot: 0, inflight: 0,
 *     }],
 *   },
 * });
 * if (!text.includes('raft_proposals_total{result="timeout"} 1')) throw new Error(text);
 * if (!text.includes("raft_proposal_duration_seconds_count 2")) throw new Error(text);
 * ```
 */
export class RaftMetrics {
  readonly #buckets: readonly number[];
  readonly #now: () => number;
  readonly #bucketCounts: number[];
  #latencySum = 0;
  #latencyCount = 0;
  readonly #outcomes = new Map<ProposalOutcome, number>();
  #leaderChanges = 0;
  #elections = 0;
  #lastTerm: Term | undefined = undefined;
  readonly #requests = new Map<string, { labels: Record<string, string>; n: number }>();

  /**
   * Creates the counters.
   *
   * @param options Histogram buckets and clock.
   * @throws {RangeError} When the buckets are not ascending positive numbers.
   */
  constructor(options: RaftMetricsOptions = {}) {
    const b = options.buckets ?? defaultBuckets;
    for (let i = 0; i < b.length; i++) {
      const v = b[i]!;
      if (!(v > 0) || !Number.isFinite(v) || (i > 0 && v <= b[i - 1]!)) {
        throw new RangeError(
          `Cannot create RaftMetrics as 'buckets' must be ascending positive numbers: current value ${
            JSON.stringify(b)
          }`,
        );
      }
    }
    this.#buckets = [...b];
    this.#bucketCounts = b.map(() => 0);
    this.#now = options.now ?? (() => performance.now());
  }

  /**
   * Counts a proposal and times it until it settles (either way).
   *
   * @typeParam T The proposal's result.
   * @param proposal The promise `node.propose()` returned.
   * @returns The same outcome as `proposal`.
   */
  async observeProposal<T>(proposal: Promise<T>): Promise<T> {
    const start = this.#now();
    try {
      const v = await proposal;
      this.#record("ok", start);
      return v;
    } catch (e) {
      this.#record(outcomeOf(e), start);
      throw e;
    }
  }

  #record(outcome: ProposalOutcome, start: number): void {
    this.#outcomes.set(outcome, (this.#outcomes.get(outcome) ?? 0) + 1);
    const s = Math.max(0, this.#now() - start) / 1000;
    this.#latencySum += s;
    this.#latencyCount++;
    for (let i = 0; i < this.#buckets.length; i++) {
      if (s <= this.#buckets[i]!) this.#bucketCounts[i]!++;
    }
  }

  /**
   * Follows a node's leader changes (for `raft_leader_changes_total` and
   * `raft_elections_total`).
   *
   * @param node The node.
   * @returns A function that stops following.
   */
  watch(node: LeaderSource): () => void {
    if (node.status !== undefined) this.#noteTerm(node.status().term);
    return node.on("leader", (e) => {
      if (e.leaderId !== 0) this.#leaderChanges++;
      this.#noteTerm(e.term);
    });
  }

  #noteTerm(term: Term): void {
    if (this.#lastTerm !== undefined && term > this.#lastTerm) {
      this.#elections += term - this.#lastTerm;
    }
    if (this.#lastTerm === undefined || term > this.#lastTerm) this.#lastTerm = term;
  }

  /**
   * Counts an HTTP request.
   *
   * @param method The request method.
   * @param route The matched route pattern (not the raw path, to bound the label values).
   * @param status The response status.
   */
  countRequest(method: string, route: string, status: number): void {
    const key = `${method} ${route} ${status}`;
    const r = this.#requests.get(key);
    if (r !== undefined) r.n++;
    else if (this.#requests.size < 1000) {
      this.#requests.set(key, { labels: { method, route, status: String(status) }, n: 1 });
    }
  }

  /**
   * Renders every metric in the Prometheus text format (version 0.0.4).
   *
   * @param snap The node's status and the transport's counters.
   * @returns The exposition text.
   */
  render(snap: MetricsSnapshot): string {
    const st = snap.status;
    this.#noteTerm(st.term);
    const x = new Exposition();
    x.metric("raft_node_id", "gauge", "This node's ID.", [[{}, st.id]]);
    x.metric("raft_term", "gauge", "The current Raft term.", [[{}, st.term]]);
    x.metric("raft_leader_id", "gauge", "The leader this node knows of (0: none).", [
      [{}, st.leaderId],
    ]);
    x.metric(
      "raft_is_leader",
      "gauge",
      "1 when this node is the leader.",
      [[{}, st.raftState === StateType.StateLeader ? 1 : 0]],
    );
    x.metric(
      "raft_role",
      "gauge",
      "This node's role (1 for the current one).",
      Object.values(StateType).map((s) => [{ role: roleName(s) }, st.raftState === s ? 1 : 0]),
    );
    x.metric("raft_commit_index", "gauge", "The commit index.", [[{}, st.commit]]);
    x.metric("raft_applied_index", "gauge", "The index of the last applied entry.", [
      [{}, st.applied],
    ]);
    x.metric("raft_last_index", "gauge", "The index of the last log entry.", [
      [{}, st.lastIndex],
    ]);
    x.metric("raft_snapshot_index", "gauge", "The index of the latest snapshot.", [
      [{}, st.snapshotIndex],
    ]);
    x.metric("raft_pending_proposals", "gauge", "Proposals and membership changes in flight.", [
      [{}, st.pendingProposals],
    ]);
    x.metric("raft_pending_reads", "gauge", "Reads, transfers and leader waits in flight.", [
      [{}, st.pendingReads],
    ]);
    const cs = st.confState;
    x.metric("raft_members", "gauge", "Members of the configuration, by role.", [
      [{ role: "voter" }, cs.voters.length],
      [{ role: "learner" }, cs.learners.length],
      [{ role: "outgoing_voter" }, cs.votersOutgoing.length],
    ]);
    x.metric(
      "raft_proposals_total",
      "counter",
      "Proposals observed through this frontend, by outcome.",
      proposalOutcomes.map((o) => [{ result: o }, this.#outcomes.get(o) ?? 0]),
    );
    x.header(
      "raft_proposal_duration_seconds",
      "histogram",
      "Time from proposal to its outcome (applied, or the error).",
    );
    this.#buckets.forEach((b, i) => {
      x.sample("raft_proposal_duration_seconds_bucket", { le: num(b) }, this.#bucketCounts[i]!);
    });
    x.sample("raft_proposal_duration_seconds_bucket", { le: "+Inf" }, this.#latencyCount);
    x.sample("raft_proposal_duration_seconds_sum", {}, this.#latencySum);
    x.sample("raft_proposal_duration_seconds_count", {}, this.#latencyCount);
    x.metric("raft_leader_changes_total", "counter", "Times this node saw a new leader.", [
      [{}, this.#leaderChanges],
    ]);
    x.metric(
      "raft_elections_total",
      "counter",
      "Elections observed: term increases seen by this node since it started.",
      [[{}, this.#elections]],
    );
    if (snap.monitor !== undefined) {
      const m = snap.monitor;
      x.metric("raft_transport_messages_sent_total", "counter", "Raft messages sent, by type.", [
        ...Object.entries(m.sentByType).sort().map(([t, n]) =>
          [{ type: t }, n] as [Record<string, string>, number]
        ),
      ]);
      x.metric(
        "raft_transport_messages_received_total",
        "counter",
        "Raft messages received, by type.",
        Object.entries(m.receivedByType).sort().map(([t, n]) =>
          [{ type: t }, n] as [Record<string, string>, number]
        ),
      );
      x.metric(
        "raft_transport_isolated_dropped_total",
        "counter",
        "Messages dropped while the node was isolated (demo partitions).",
        [[{}, m.messagesDropped]],
      );
    }
    // The leader's progress tracking; `st.progress` is empty on other nodes.
    const peers = st.progress.filter((p) => p.id !== st.id);
    x.metric(
      "raft_peer_match_index",
      "gauge",
      "On the leader: the highest log index known to match on each peer.",
      peers.map((p) => [{ peer: String(p.id) }, p.match]),
    );
    x.metric(
      "raft_peer_inflight_messages",
      "gauge",
      "On the leader: appends sent to each peer and not yet acknowledged.",
      peers.map((p) => [{ peer: String(p.id) }, p.inflight]),
    );
    if (snap.transport !== undefined) this.#renderTransport(x, snap.transport);
    x.metric(
      "raft_http_requests_total",
      "counter",
      "HTTP requests answered, by method, route and status.",
      [...this.#requests.values()].map((r) => [r.labels, r.n]),
    );
    return x.text();
  }

  #renderTransport(x: Exposition, t: TransportMetricsLike): void {
    const totals: [keyof TransportMetricsLike, string, string][] = [
      ["messagesSent", "raft_transport_sent_messages_total", "Messages the transport sent."],
      [
        "messagesReceived",
        "raft_transport_received_messages_total",
        "Messages the transport received.",
      ],
      [
        "messagesDropped",
        "raft_transport_dropped_messages_total",
        "Messages the transport dropped.",
      ],
      ["bytesSent", "raft_transport_sent_bytes_total", "Bytes the transport sent."],
      ["bytesReceived", "raft_transport_received_bytes_total", "Bytes the transport received."],
      [
        "connectionsRefused",
        "raft_transport_refused_connections_total",
        "Inbound connections refused.",
      ],
      [
        "protocolErrors",
        "raft_transport_protocol_errors_total",
        "Connections closed for bad input.",
      ],
    ];
    for (const [field, name, help] of totals) {
      const v = t[field];
      if (typeof v === "number") x.metric(name, "counter", help, [[{}, v]]);
    }
    if (typeof t.inboundConnections === "number") {
      x.metric("raft_transport_inbound_connections", "gauge", "Inbound connections open.", [
        [{}, t.inboundConnections],
      ]);
    }
    const peers = t.peers ?? [];
    const perPeer: [keyof TransportPeerMetricsLike, string, string, "counter" | "gauge"][] = [
      [
        "messagesSent",
        "raft_transport_peer_sent_messages_total",
        "Messages sent, by peer.",
        "counter",
      ],
      [
        "messagesReceived",
        "raft_transport_peer_received_messages_total",
        "Messages received, by peer.",
        "counter",
      ],
      [
        "messagesDropped",
        "raft_transport_peer_dropped_messages_total",
        "Messages dropped, by peer.",
        "counter",
      ],
      ["reconnects", "raft_transport_peer_reconnects_total", "Reconnections, by peer.", "counter"],
      [
        "connectFailures",
        "raft_transport_peer_connect_failures_total",
        "Failed connection attempts, by peer.",
        "counter",
      ],
      [
        "queuedMessages",
        "raft_transport_peer_queued_messages",
        "Messages queued, by peer.",
        "gauge",
      ],
    ];
    for (const [field, name, help, type] of perPeer) {
      const samples: [Record<string, string>, number][] = [];
      for (const p of peers) {
        const v = p[field];
        if (typeof v === "number") samples.push([{ peer: String(p.id) }, v]);
      }
      x.metric(name, type, help, samples);
    }
  }
}
