/**
 * Exactly-once commands (Raft thesis §6.3): the replicated table that lets
 * a command tagged with a client session and a sequence number, or with an
 * idempotency key, apply once however often it is retried.
 *
 * The table is part of the replicated state: every node changes it only
 * from committed entries, in log order, from the data they carry (no local
 * clock, no local randomness), so every node holds the same table at the
 * same index; it travels in snapshots. Time comes from the entries: each
 * one carries the time its proposer stamped it with, and the table's clock
 * is the highest stamp applied so far.
 *
 * - A **session** is registered by an entry (its ID is that entry's index).
 *   Its commands carry a sequence number and the lowest sequence number
 *   whose result the client has not yet seen (`ackBelow`); the table keeps
 *   the results from `ackBelow` on. A command whose number it already has
 *   a result for is a duplicate: it is not applied again, and the recorded
 *   result is returned. A session unused for `sessionTtlMs` of the table's
 *   clock expires; past `sessionsMax`, registering a session evicts the
 *   least recently used one. A command of an expired or evicted session is
 *   refused (not applied).
 * - An **idempotency key** names one command (an HTTP request's
 *   `Idempotency-Key`). The first command with a key applies; later ones
 *   with the same key and the same fingerprint get its result; one with
 *   another fingerprint is refused. Keys expire after `keyTtlMs`; past
 *   `keysMax`, the oldest is dropped.
 *
 * @module
 */

import { pushUvarint, readUvarint } from "./envelope.ts";

/** Bounds of the session table. */
export interface SessionLimits {
  /** Sessions kept; registering one more evicts the least recently used. */
  sessionsMax: number;
  /** Unacknowledged results kept per session; a command past it is refused. */
  resultsPerSessionMax: number;
  /** A session unused this long (on the table's clock) expires. */
  sessionTtlMs: number;
  /** Idempotency keys kept; one more drops the oldest. */
  keysMax: number;
  /** An idempotency key is kept this long (on the table's clock). */
  keyTtlMs: number;
}

/** The default bounds. */
export const defaultSessionLimits: Readonly<SessionLimits> = Object.freeze({
  sessionsMax: 10_000,
  resultsPerSessionMax: 1024,
  sessionTtlMs: 3_600_000,
  keysMax: 100_000,
  keyTtlMs: 86_400_000,
});

/** Why the table refused a command; the command was not applied. */
export type SessionRefusal =
  | "session_expired"
  | "session_stale"
  | "session_busy"
  | "key_reused";

/** What to do with a command. */
export type Admission =
  | { readonly kind: "apply" }
  | { readonly kind: "duplicate"; readonly result: Uint8Array }
  /** The same command applies earlier in this batch: its result is recorded once it has. */
  | { readonly kind: "follows" }
  | { readonly kind: "refused"; readonly reason: SessionRefusal; readonly message: string };

interface Session {
  readonly id: number;
  lastActiveMs: number;
  /** Results below this were seen by the client and are dropped. */
  ackBelow: number;
  /**
   * Results of the applied commands from `ackBelow` on, by sequence number;
   * `null` between admission and recording (within one batch).
   */
  readonly results: Map<number, Uint8Array | null>;
}

interface KeyedResult {
  readonly fingerprint: Uint8Array;
  readonly stampMs: number;
  /** `undefined` until the command applied. */
  result: Uint8Array | undefined;
}

const apply: Admission = Object.freeze({ kind: "apply" });
const follows: Admission = Object.freeze({ kind: "follows" });

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The replicated session and idempotency-key table. */
export class SessionTable {
  readonly #limits: SessionLimits;
  /** The highest stamp applied: the table's clock, in ms. */
  #clockMs = 0;
  readonly #sessions = new Map<number, Session>();
  /** By key; in the order the keys were first applied (their stamps ascend with it). */
  readonly #keys = new Map<string, KeyedResult>();

  /**
   * Creates an empty table.
   *
   * @param limits Its bounds.
   */
  constructor(limits: SessionLimits = defaultSessionLimits) {
    this.#limits = limits;
  }

  /** The number of live sessions. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** The number of idempotency keys kept. */
  get keyCount(): number {
    return this.#keys.size;
  }

  /** The table's clock: the highest stamp applied, in ms. */
  get clockMs(): number {
    return this.#clockMs;
  }

  /** Whether session `id` is live. */
  hasSession(id: number): boolean {
    return this.#sessions.has(id);
  }

  /** Moves the clock to `stampMs` if later, and drops what expired by then. */
  #advance(stampMs: number): void {
    if (stampMs <= this.#clockMs) return;
    this.#clockMs = stampMs;
    const keyHorizon = stampMs - this.#limits.keyTtlMs;
    for (const [k, v] of this.#keys) {
      // Keys are in ascending first-stamp order; stop at the first live one.
      if (v.stampMs >= keyHorizon) break;
      this.#keys.delete(k);
    }
  }

  #expired(s: Session): boolean {
    return this.#clockMs - s.lastActiveMs > this.#limits.sessionTtlMs;
  }

  /**
   * Registers session `id` (the index of the entry that registers it).
   * Drops expired sessions, then, when full, the least recently used one
   * (the lowest ID among equals).
   *
   * @param id The session's ID.
   * @param stampMs The entry's stamp.
   */
  register(id: number, stampMs: number): void {
    this.#advance(stampMs);
    for (const s of [...this.#sessions.values()]) if (this.#expired(s)) this.#sessions.delete(s.id);
    while (this.#sessions.size >= this.#limits.sessionsMax) {
      let oldest: Session | undefined;
      for (const s of this.#sessions.values()) {
        if (
          oldest === undefined || s.lastActiveMs < oldest.lastActiveMs ||
          (s.lastActiveMs === oldest.lastActiveMs && s.id < oldest.id)
        ) {
          oldest = s;
        }
      }
      this.#sessions.delete(oldest!.id);
    }
    this.#sessions.set(id, {
      id,
      lastActiveMs: this.#clockMs,
      ackBelow: 1,
      results: new Map(),
    });
  }

  /**
   * Ends session `id` (the client closed it).
   *
   * @param id The session's ID.
   * @param stampMs The entry's stamp.
   */
  unregister(id: number, stampMs: number): void {
    this.#advance(stampMs);
    this.#sessions.delete(id);
  }

  /**
   * Decides what to do with command `seq` of session `id`, and drops the
   * results below `ackBelow`. When it answers `apply`, the caller applies
   * the command and then calls {@linkcode SessionTable.recordSession}.
   *
   * @param id The session.
   * @param seq The command's sequence number (from 1).
   * @param ackBelow The client has seen every result below this number.
   * @param stampMs The entry's stamp.
   * @returns Apply it, return a recorded result, or refuse it.
   */
  admitSession(id: number, seq: number, ackBelow: number, stampMs: number): Admission {
    this.#advance(stampMs);
    const s = this.#sessions.get(id);
    if (s === undefined || this.#expired(s)) {
      if (s !== undefined) this.#sessions.delete(id);
      return {
        kind: "refused",
        reason: "session_expired",
        message:
          `Cannot apply command ${seq} of session ${id}: the session expired or was evicted (the command was not applied now; an earlier attempt may have been)`,
      };
    }
    s.lastActiveMs = this.#clockMs;
    if (ackBelow > s.ackBelow) {
      for (const k of s.results.keys()) if (k < ackBelow) s.results.delete(k);
      s.ackBelow = ackBelow;
    }
    const recorded = s.results.get(seq);
    if (recorded === null) return follows;
    if (recorded !== undefined) return { kind: "duplicate", result: recorded };
    if (seq < s.ackBelow) {
      return {
        kind: "refused",
        reason: "session_stale",
        message:
          `Cannot apply command ${seq} of session ${id}: it applied already and the client acknowledged its result`,
      };
    }
    if (s.results.size >= this.#limits.resultsPerSessionMax) {
      return {
        kind: "refused",
        reason: "session_busy",
        message:
          `Cannot apply command ${seq} of session ${id}: ${s.results.size} results are not acknowledged yet`,
      };
    }
    s.results.set(seq, null);
    return apply;
  }

  /**
   * Records the result of command `seq` of session `id`, after applying it.
   *
   * @param id The session.
   * @param seq The command's sequence number.
   * @param result The encoded result.
   */
  recordSession(id: number, seq: number, result: Uint8Array): void {
    this.#sessions.get(id)?.results.set(seq, result);
  }

  /**
   * Decides what to do with the command named by idempotency key `key`.
   * When it answers `apply`, the caller applies the command and then calls
   * {@linkcode SessionTable.recordKey}.
   *
   * @param key The key.
   * @param fingerprint What identifies the request (same key, other request: refused).
   * @param stampMs The entry's stamp.
   * @returns Apply it, return the recorded result, or refuse it.
   */
  admitKey(key: string, fingerprint: Uint8Array, stampMs: number): Admission {
    this.#advance(stampMs);
    const k = this.#keys.get(key);
    if (k !== undefined) {
      if (!sameBytes(k.fingerprint, fingerprint)) {
        return {
          kind: "refused",
          reason: "key_reused",
          message: `Cannot apply the command: idempotency key ${
            JSON.stringify(key)
          } was used for another request`,
        };
      }
      return k.result === undefined ? follows : { kind: "duplicate", result: k.result };
    }
    while (this.#keys.size >= this.#limits.keysMax) {
      this.#keys.delete(this.#keys.keys().next().value!);
    }
    this.#keys.set(key, {
      fingerprint: fingerprint.slice(),
      stampMs: this.#clockMs,
      result: undefined,
    });
    return apply;
  }

  /**
   * Records the result of the command named by `key`, after applying it.
   *
   * @param key The key.
   * @param result The encoded result.
   */
  recordKey(key: string, result: Uint8Array): void {
    const k = this.#keys.get(key);
    if (k !== undefined) k.result = result;
  }

  /** The recorded result of key `key`, if any. */
  keyResult(key: string): Uint8Array | undefined {
    return this.#keys.get(key)?.result;
  }

  /** The recorded result of command `seq` of session `id`, if any. */
  sessionResult(id: number, seq: number): Uint8Array | undefined {
    return this.#sessions.get(id)?.results.get(seq) ?? undefined;
  }

  /**
   * Appends the table's encoding to `out`.
   *
   * @param out The bytes so far.
   */
  encode(out: number[]): void {
    pushUvarint(out, this.#clockMs);
    pushUvarint(out, this.#sessions.size);
    for (const s of [...this.#sessions.values()].sort((a, b) => a.id - b.id)) {
      pushUvarint(out, s.id);
      pushUvarint(out, s.lastActiveMs);
      pushUvarint(out, s.ackBelow);
      const recorded = [...s.results].filter((e): e is [number, Uint8Array] => e[1] !== null);
      pushUvarint(out, recorded.length);
      for (const [seq, r] of recorded.sort((a, b) => a[0] - b[0])) {
        pushUvarint(out, seq);
        pushBytes(out, r);
      }
    }
    pushUvarint(out, this.#keys.size);
    const enc = new TextEncoder();
    for (const [key, k] of this.#keys) {
      pushBytes(out, enc.encode(key));
      pushBytes(out, k.fingerprint);
      pushUvarint(out, k.stampMs);
      if (k.result === undefined) {
        out.push(0);
      } else {
        out.push(1);
        pushBytes(out, k.result);
      }
    }
  }

  /**
   * Reads a table written by {@linkcode SessionTable.encode}.
   *
   * @param b The bytes.
   * @param pos Where the table starts.
   * @param limits The bounds of the new table.
   * @returns The table and the position after it.
   * @throws {RangeError} The bytes are not a table.
   */
  static decode(b: Uint8Array, pos: number, limits: SessionLimits): [SessionTable, number] {
    const r = new ByteReader(b, pos);
    const t = new SessionTable(limits);
    t.#clockMs = r.uint();
    const n = r.count();
    for (let i = 0; i < n; i++) {
      const s: Session = {
        id: r.uint(),
        lastActiveMs: r.uint(),
        ackBelow: r.uint(),
        results: new Map(),
      };
      const m = r.count();
      for (let j = 0; j < m; j++) s.results.set(r.uint(), r.bytes());
      t.#sessions.set(s.id, s);
    }
    const k = r.count();
    const dec = new TextDecoder("utf-8", { fatal: true });
    for (let i = 0; i < k; i++) {
      const key = dec.decode(r.bytes());
      const fingerprint = r.bytes();
      const stampMs = r.uint();
      const has = r.byte();
      t.#keys.set(key, { fingerprint, stampMs, result: has === 1 ? r.bytes() : undefined });
    }
    return [t, r.pos];
  }
}

function pushBytes(out: number[], b: Uint8Array): void {
  pushUvarint(out, b.length);
  for (let i = 0; i < b.length; i++) out.push(b[i]!);
}

/** Reads varints and length-prefixed bytes; throws a RangeError on bad input. */
class ByteReader {
  readonly #b: Uint8Array;
  pos: number;

  constructor(b: Uint8Array, pos: number) {
    this.#b = b;
    this.pos = pos;
  }

  uint(): number {
    const r = readUvarint(this.#b, this.pos);
    if (r === undefined) throw new RangeError("Cannot read the session table: it is truncated");
    this.pos = r[1];
    return r[0];
  }

  /** A count of items that each take at least one byte. */
  count(): number {
    const n = this.uint();
    if (n > this.#b.length - this.pos) {
      throw new RangeError("Cannot read the session table: a count exceeds its length");
    }
    return n;
  }

  byte(): number {
    if (this.pos >= this.#b.length) {
      throw new RangeError("Cannot read the session table: it is truncated");
    }
    return this.#b[this.pos++]!;
  }

  bytes(): Uint8Array {
    const n = this.count();
    const out = this.#b.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

/**
 * A 64-bit FNV-1a hash of `data`, as 8 bytes: the default fingerprint of a
 * request under an idempotency key.
 *
 * @param data The bytes.
 * @returns The hash.
 */
export function fingerprintOf(data: Uint8Array): Uint8Array {
  // Two 32-bit FNV-1a lanes with different offsets.
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  for (let i = 0; i < data.length; i++) {
    a = Math.imul(a ^ data[i]!, 0x01000193);
    b = Math.imul(b ^ data[i]!, 0x01000193) ^ (a >>> 15);
  }
  const out = new Uint8Array(8);
  new DataView(out.buffer).setUint32(0, a >>> 0);
  new DataView(out.buffer).setUint32(4, b >>> 0);
  return out;
}
