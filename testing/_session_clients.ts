/**
 * The exactly-once workload's clients (see exactly_once.ts) and its
 * checker. Each client holds a session, reaches any member (nodes forward
 * proposals), and appends unique tokens `<client>.<n>` to keys `a0`,
 * `a1`, ...: an attempt whose outcome is unknown is retried with the same
 * sequence number until the operation's timeout, on the same node or, when
 * that node is down or timed out, on another. A command refused because
 * its session expired or was evicted is given up (an earlier attempt may
 * have applied) and the next one opens a new session.
 *
 * @module
 */

import { ProposalDroppedError } from "../core/errors.ts";
import {
  BusyError,
  LeaderChangedError,
  NodeClosedError,
  NotLeaderError,
  SessionError,
  TimeoutError,
} from "../core/node.ts";
import { readEnvelope } from "../core/node/envelope.ts";
import type { NodeId } from "../core/types.ts";
import { ClientLoops, type NodeHandle } from "./_clients.ts";
import type { SimClock } from "./_clock.ts";
import type { Prng } from "./_prng.ts";
import type {
  ExactlyOnceProfile,
  ExactlyOnceSetup,
  ExactlyOnceStats,
  SessionClient,
} from "./exactly_once.ts";

/**
 * The default {@linkcode SessionClient}: the node's client sessions.
 *
 * @returns The client.
 */
export function nodeSessionClient<R>(): SessionClient<R> {
  return {
    open: async (node, options) => (await node.openSession(options)).id,
    propose: (node, session, seq, data, options) =>
      node.resumeSession(session, seq).propose(data, options),
    close: (node, session, nextSeq, options) => node.resumeSession(session, nextSeq).close(options),
  };
}

/** What the clients need from the simulated cluster. */
export interface SessionClusterAccess<S, R> {
  /** The virtual clock. */
  readonly clock: SimClock;
  /** The members a client may contact. */
  members(): readonly NodeId[];
  /** The running node `id`, if it runs. */
  node(id: NodeId): NodeHandle<S, R> | undefined;
  /** Adds a line to the run's trace. */
  note(line: string): void;
}

/** Timing of the clients. */
export interface SessionClientsTiming {
  /** Timeout of one attempt, in ms. */
  requestTimeoutMs: number;
  /** Time a client spends on one append, retries included, in ms. */
  opTimeoutMs: number;
}

type Outcome = "pending" | "acknowledged" | "unknown" | "refused" | "not-sent";

/** One append and what its client knows of it. */
interface AppendRecord {
  readonly client: number;
  readonly key: string;
  readonly token: string;
  /** The session and sequence number it was sent with, once sent. */
  session: number | undefined;
  seq: number | undefined;
  attempts: number;
  outcome: Outcome;
  /** Where its result said the token is. */
  position: number | undefined;
}

/** A client's session, as the client knows it. */
interface ClientState {
  session: { id: number; nextSeq: number } | undefined;
  /** The node the client talks to; 0: pick one. */
  target: NodeId;
}

/** The key of an exactly-once client's append, by index. */
export function appendKey(i: number): string {
  return `a${i}`;
}

/** A map counter. */
function bump(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

/** The exactly-once clients of one run. */
export class SessionClients<S, R> extends ClientLoops {
  readonly #access: SessionClusterAccess<S, R>;
  readonly #rand: Prng;
  readonly #profile: ExactlyOnceProfile;
  readonly #setup: ExactlyOnceSetup<S, R>;
  readonly #client: SessionClient<R>;
  readonly #timing: SessionClientsTiming;
  readonly #records: AppendRecord[] = [];
  /** Committed entries per session command (`<session>/<seq>`). */
  readonly #copies = new Map<string, number>();
  /** Committed entries per idempotency key. */
  readonly #keyCopies = new Map<string, number>();
  #attempts = 0;
  #opened = 0;
  #closed = 0;

  /**
   * Creates the clients; {@linkcode SessionClients.start} starts them.
   *
   * @param access The cluster.
   * @param rand The clients' randomness.
   * @param profile What the seed drew.
   * @param setup The state machine's append command and tokens.
   * @param timing The clients' timeouts.
   */
  constructor(
    access: SessionClusterAccess<S, R>,
    rand: Prng,
    profile: ExactlyOnceProfile,
    setup: ExactlyOnceSetup<S, R>,
    timing: SessionClientsTiming,
  ) {
    super();
    this.#access = access;
    this.#rand = rand;
    this.#profile = profile;
    this.#setup = setup;
    this.#client = setup.client ?? nodeSessionClient<R>();
    this.#timing = timing;
  }

  /** Starts every client's loop. */
  start(): void {
    this.startLoops(this.#profile.clients, this.#rand);
  }

  /**
   * An entry was committed (each index once): counts the copies of each
   * session command and idempotency key.
   *
   * @param data The entry's data.
   */
  committed(data: Uint8Array): void {
    const tag = readEnvelope(data)?.session;
    if (tag?.kind === "session") bump(this.#copies, `${tag.id}/${tag.seq}`);
    else if (tag?.kind === "key") bump(this.#keyCopies, tag.key);
  }

  protected override async loop(client: number, rand: Prng): Promise<void> {
    const clock = this.#access.clock;
    const label = `once${client}`;
    const st: ClientState = { session: undefined, target: 0 };
    for (let n = 1; !this.stopped; n++) {
      await clock.sleep(rand.uniform(0, this.#profile.thinkMs), label);
      if (this.stopped) break;
      const rec: AppendRecord = {
        client,
        key: appendKey(rand.int(this.#profile.keys)),
        token: `${client}.${n}`,
        session: undefined,
        seq: undefined,
        attempts: 0,
        outcome: "pending",
        position: undefined,
      };
      this.#records.push(rec);
      this.opStarted();
      try {
        await this.#append(client, rand, st, rec);
        const every = this.#profile.reopenEvery;
        if (every > 0 && n % every === 0 && st.session !== undefined) await this.#close(rand, st);
      } finally {
        this.opEnded();
      }
    }
  }

  /** The node to talk to: the current one while it runs, else a random member. */
  #reach(rand: Prng, st: ClientState): NodeHandle<S, R> | undefined {
    const members = this.#access.members();
    if (st.target === 0 || !members.includes(st.target)) {
      if (members.length === 0) return undefined;
      st.target = rand.pick(members);
    }
    const node = this.#access.node(st.target);
    if (node === undefined || node.raft.closed) {
      // Refused connection: nothing was sent.
      st.target = 0;
      return undefined;
    }
    return node;
  }

  #backoff(client: number, rand: Prng): Promise<void> {
    return this.#access.clock.sleep(rand.uniform(5, 40), `once${client}`);
  }

  /** After an attempt failed with an unknown or no outcome: where to try next; rethrows the unexpected. */
  #failed(e: unknown, rand: Prng, st: ClientState): void {
    if (e instanceof NotLeaderError) {
      st.target = e.leaderId;
    } else if (e instanceof NodeClosedError) {
      st.target = 0;
    } else if (e instanceof TimeoutError || e instanceof LeaderChangedError) {
      // Sometimes the retry goes to another node.
      if (rand.chance(0.5)) st.target = 0;
    } else if (!(e instanceof ProposalDroppedError || e instanceof BusyError)) {
      throw e;
    }
  }

  async #append(client: number, rand: Prng, st: ClientState, rec: AppendRecord): Promise<void> {
    const clock = this.#access.clock;
    const deadline = clock.now + this.#timing.opTimeoutMs;
    const data = this.#setup.append(rec.key, rec.token);
    while (clock.now < deadline) {
      const node = this.#reach(rand, st);
      if (node === undefined) {
        await this.#backoff(client, rand);
        continue;
      }
      const timeoutMs = Math.max(
        1,
        Math.min(this.#timing.requestTimeoutMs, deadline - clock.now),
      );
      const s = st.session;
      if (s === undefined) {
        // Nothing of this append was sent yet.
        try {
          const id = await this.#client.open(node.raft, { timeoutMs });
          st.session = { id, nextSeq: 1 };
          this.#opened++;
          this.#access.note(`once client ${client} opened session ${id} via node ${st.target}`);
        } catch (e) {
          this.#failed(e, rand, st);
          await this.#backoff(client, rand);
        }
        continue;
      }
      rec.session = s.id;
      rec.seq ??= s.nextSeq;
      rec.attempts++;
      this.#attempts++;
      try {
        const r = await this.#client.propose(node.raft, s.id, rec.seq, data, { timeoutMs });
        s.nextSeq = rec.seq + 1;
        rec.outcome = "acknowledged";
        rec.position = this.#setup.position?.(r);
        return;
      } catch (e) {
        if (e instanceof SessionError && e.code === "session_expired") {
          // Not applied now; an earlier attempt may have been. Never retried in another session.
          st.session = undefined;
          rec.outcome = "refused";
          this.#access.note(
            `once client ${client}: ${rec.token} refused, session ${s.id} expired or was evicted`,
          );
          return;
        }
        if (e instanceof SessionError && e.code === "session_stale") {
          // Applied; its result was not kept.
          s.nextSeq = rec.seq + 1;
          rec.outcome = "acknowledged";
          return;
        }
        this.#failed(e, rand, st);
        await this.#backoff(client, rand);
      }
    }
    if (rec.seq === undefined) {
      rec.outcome = "not-sent";
      return;
    }
    // Given up: the next command acknowledges this one's number, so a late
    // copy of it can no longer apply.
    if (st.session !== undefined) st.session.nextSeq = rec.seq + 1;
    rec.outcome = "unknown";
  }

  /** Closes the client's session (one attempt); it opens another for its next append. */
  async #close(rand: Prng, st: ClientState): Promise<void> {
    const s = st.session!;
    st.session = undefined;
    const node = this.#reach(rand, st);
    if (node === undefined) return;
    try {
      await this.#client.close(node.raft, s.id, s.nextSeq, {
        timeoutMs: this.#timing.requestTimeoutMs,
      });
      this.#closed++;
    } catch (e) {
      if (e instanceof SessionError) return;
      this.#failed(e, rand, st);
    }
  }

  /**
   * Checks the final state: every replica holds the same tokens; every
   * token was appended by a client, to that key, and is there at most
   * once; every acknowledged append is there, at the position its result
   * named.
   *
   * @param replicas The running members' state machines, all caught up.
   * @returns The counters, and the first violation found.
   */
  check(
    replicas: readonly { id: NodeId; sm: S }[],
  ): { stats: ExactlyOnceStats; violation: string | undefined } {
    const keys = Array.from({ length: this.#profile.keys }, (_, i) => appendKey(i));
    const problems: string[] = [];
    const lists = replicas.map((r) => keys.map((k) => this.#setup.tokens(r.sm, k)));
    for (let i = 1; i < replicas.length; i++) {
      for (let k = 0; k < keys.length; k++) {
        const a = lists[0]![k]!;
        const b = lists[i]![k]!;
        if (a.length !== b.length || a.some((t, j) => b[j] !== t)) {
          problems.push(
            `replicas disagree on key ${keys[k]}: node ${
              replicas[0]!.id
            } holds ${a.length} tokens, node ${
              replicas[i]!.id
            } ${b.length}, first difference at position ${
              a.findIndex((t, j) => b[j] !== t) + 1 || Math.min(a.length, b.length) + 1
            }`,
          );
        }
      }
    }
    const byToken = new Map(this.#records.map((r) => [r.token, r]));
    const found = new Map<string, { key: string; positions: number[] }>();
    keys.forEach((key, k) => {
      (lists[0]?.[k] ?? []).forEach((t, j) => {
        const f = found.get(t);
        if (f === undefined) found.set(t, { key, positions: [j + 1] });
        else f.positions.push(j + 1);
        const rec = byToken.get(t);
        if (rec === undefined) problems.push(`key ${key} holds ${t}, which no client appended`);
        else if (rec.key !== key) problems.push(`key ${key} holds ${t}, appended to ${rec.key}`);
      });
    });
    const stats: ExactlyOnceStats = {
      commands: this.#records.length,
      acknowledged: 0,
      unacknowledged: 0,
      refused: 0,
      unacknowledgedApplied: 0,
      notSent: 0,
      attempts: this.#attempts,
      retried: 0,
      deduplicated: 0,
      deduplicatedCommands: 0,
      keyDeduplicated: 0,
      doubleApplications: 0,
      sessionsOpened: this.#opened,
      sessionsClosed: this.#closed,
    };
    for (const n of this.#keyCopies.values()) stats.keyDeduplicated += n - 1;
    for (const rec of this.#records) {
      const f = found.get(rec.token);
      const times = f?.positions.length ?? 0;
      const what = () =>
        `${rec.token} (client ${rec.client}, ${rec.outcome}, ${rec.attempts} attempts, session ${rec.session} seq ${rec.seq})`;
      if (rec.attempts > 1) stats.retried++;
      if (rec.outcome === "acknowledged") stats.acknowledged++;
      else if (rec.outcome === "unknown" || rec.outcome === "refused") {
        stats.unacknowledged++;
        if (rec.outcome === "refused") stats.refused++;
        if (times > 0) stats.unacknowledgedApplied++;
      } else if (rec.outcome === "not-sent") stats.notSent++;
      if (times > 1) {
        stats.doubleApplications += times - 1;
        problems.push(`${what()} is applied ${times} times, to ${f!.key} at ${f!.positions}`);
      }
      if (rec.outcome === "acknowledged" && times === 0) {
        problems.push(`acknowledged ${what()} is missing from ${rec.key}`);
      }
      if (
        rec.outcome === "acknowledged" && times === 1 && rec.position !== undefined &&
        rec.position !== f!.positions[0]
      ) {
        problems.push(
          `${what()} was answered with position ${rec.position} but is at ${f!.positions[0]}`,
        );
      }
      if ((rec.outcome === "pending" || rec.outcome === "not-sent") && times > 0) {
        problems.push(`${what()} was never sent but is applied`);
      }
      const copies = rec.seq === undefined ? 0 : this.#copies.get(`${rec.session}/${rec.seq}`) ?? 0;
      if (times === 1 && copies > 1) {
        stats.deduplicated += copies - 1;
        stats.deduplicatedCommands++;
      }
    }
    const shown = problems.slice(0, 8);
    if (problems.length > shown.length) shown.push(`(${problems.length - shown.length} more)`);
    return {
      stats,
      violation: problems.length === 0
        ? undefined
        : `${problems.length} problems: ${shown.join("; ")}`,
    };
  }
}
