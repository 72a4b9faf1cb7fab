/**
 * The replicated state machine of `kv_server.ts`: a sorted key-value map
 * that every node builds by applying the same commands in log order.
 *
 * @module
 */

import type { Command, StateMachine } from "../mod.ts";

/** One key's record. */
export interface KvItem {
  /** The key. */
  key: string;
  /** The value. */
  value: string;
  /** The log index of the write that created the key. */
  createRevision: number;
  /** The log index of the last write to the key. */
  modRevision: number;
  /** Writes to the key since it was created (1 for the first). */
  version: number;
}

/** A command, as proposed through Raft. */
export type KvCommand =
  | { op: "put"; key: string; value: string; ifRevision?: number; ifValue?: string | null }
  | { op: "delete"; key: string; ifRevision?: number }
  | { op: "incr"; key: string; by: number };

/** What applying a command produced. */
export type KvResult =
  | { ok: true; revision: number; item: KvItem | null; prev: KvItem | null }
  | { ok: false; revision: number; reason: "precondition_failed"; current: KvItem | null }
  | { ok: false; revision: number; reason: "not_an_integer"; current: KvItem | null }
  | { ok: false; revision: number; reason: "not_found" | "invalid_command"; current: null };

/** Options of a range listing. */
export interface KvRange {
  /** Keys starting with this. */
  prefix?: string;
  /** Keys at or after this. */
  start?: string;
  /** Keys before this. */
  end?: string;
  /** Items at most. */
  limit: number;
}

/** A key's record, without the key. */
export type KvRecord = Omit<KvItem, "key">;

/** The value of a counter: a decimal safe integer, or `undefined`. */
function integerOf(value: string): number | undefined {
  if (!/^-?(?:0|[1-9][0-9]{0,15})$/.test(value)) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** What a command does: its result, and what it writes to its key. */
export interface KvDecision {
  /** The command's result. */
  result: KvResult;
  /** The key written ("" when nothing is). */
  key: string;
  /** The key's new record, `null` to delete it, `undefined` to leave it. */
  write: KvRecord | null | undefined;
}

/**
 * Decides what a command does, from the key's current item; the same on
 * every node and for every store (deterministic).
 *
 * @param c The command.
 * @param read The current item of a key, or `null`.
 * @returns The result and the write.
 */
export function decideKv(c: Command, read: (key: string) => KvItem | null): KvDecision {
  const refuse = (result: KvResult): KvDecision => ({ result, key: "", write: undefined });
  let cmd: KvCommand;
  try {
    cmd = JSON.parse(new TextDecoder().decode(c.data)) as KvCommand;
  } catch {
    return refuse({ ok: false, revision: c.index, reason: "invalid_command", current: null });
  }
  if (typeof cmd?.key !== "string") {
    return refuse({ ok: false, revision: c.index, reason: "invalid_command", current: null });
  }
  const prev = read(cmd.key);
  const ifRevision = cmd.op === "incr" ? undefined : cmd.ifRevision;
  const failed = (ifRevision !== undefined && (prev?.modRevision ?? 0) !== ifRevision) ||
    (cmd.op === "put" && cmd.ifValue !== undefined && (prev?.value ?? null) !== cmd.ifValue);
  if (failed) {
    return refuse({ ok: false, revision: c.index, reason: "precondition_failed", current: prev });
  }
  if (cmd.op === "delete") {
    if (prev === null) {
      return refuse({ ok: false, revision: c.index, reason: "not_found", current: null });
    }
    return { result: { ok: true, revision: c.index, item: null, prev }, key: cmd.key, write: null };
  }
  let value: string;
  if (cmd.op === "incr") {
    const n = integerOf(prev?.value ?? "0");
    if (!Number.isSafeInteger(cmd.by)) {
      return refuse({ ok: false, revision: c.index, reason: "invalid_command", current: null });
    }
    if (n === undefined || !Number.isSafeInteger(n + cmd.by)) {
      return refuse({ ok: false, revision: c.index, reason: "not_an_integer", current: prev });
    }
    value = String(n + cmd.by);
  } else if (cmd.op === "put" && typeof cmd.value === "string") {
    value = cmd.value;
  } else {
    return refuse({ ok: false, revision: c.index, reason: "invalid_command", current: null });
  }
  const rec: KvRecord = {
    value,
    createRevision: prev?.createRevision ?? c.index,
    modRevision: c.index,
    version: (prev?.version ?? 0) + 1,
  };
  return {
    result: { ok: true, revision: c.index, item: { key: cmd.key, ...rec }, prev },
    key: cmd.key,
    write: rec,
  };
}

/**
 * What the HTTP routes read of a key-value store: whichever holds the
 * state (in memory, or in SQLite tables).
 */
export interface KvState {
  /** The index of the last applied command. */
  readonly revision: number;
  /**
   * Reads a key.
   *
   * @param key The key.
   * @returns The item, or `null`.
   */
  get(key: string): KvItem | null;
  /**
   * Lists keys in order (of UTF-16 code units, as `<` compares strings).
   *
   * @param range The keys to list.
   * @returns The items and whether more follow.
   */
  range(range: KvRange): { items: KvItem[]; more: boolean };
}

/**
 * A sorted in-memory map, replicated by applying the same commands in the
 * same order on every node. Deterministic: the result of a command depends
 * only on the commands before it.
 */
export class KvStore implements StateMachine<KvResult>, KvState {
  readonly #map = new Map<string, KvRecord>();
  /** The keys, sorted (by UTF-16 code units, as `<` compares). */
  #keys: string[] = [];
  #revision = 0;

  /** The index of the last applied command. */
  get revision(): number {
    return this.#revision;
  }

  /** The number of keys. */
  get size(): number {
    return this.#keys.length;
  }

  /**
   * Reads a key.
   *
   * @param key The key.
   * @returns The item, or `null`.
   */
  get(key: string): KvItem | null {
    const r = this.#map.get(key);
    return r === undefined ? null : { key, ...r };
  }

  /**
   * Lists keys in order.
   *
   * @param range The keys to list.
   * @returns The items and whether more follow.
   */
  range(range: KvRange): { items: KvItem[]; more: boolean } {
    const from = range.prefix ?? range.start ?? "";
    const items: KvItem[] = [];
    for (let i = this.#lowerBound(from); i < this.#keys.length; i++) {
      const k = this.#keys[i]!;
      if (range.prefix !== undefined && !k.startsWith(range.prefix)) break;
      if (range.end !== undefined && k >= range.end) break;
      if (items.length === range.limit) return { items, more: true };
      items.push({ key: k, ...this.#map.get(k)! });
    }
    return { items, more: false };
  }

  #lowerBound(key: string): number {
    let lo = 0;
    let hi = this.#keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#keys[mid]! < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Applies committed commands.
   *
   * @param commands The commands, in log order.
   * @returns One result per command.
   */
  apply(commands: readonly Command[]): KvResult[] {
    return commands.map((c) => this.#applyOne(c));
  }

  #applyOne(c: Command): KvResult {
    this.#revision = c.index;
    const { result, key, write } = decideKv(c, (k) => this.get(k));
    if (write === null) {
      this.#map.delete(key);
      this.#keys.splice(this.#lowerBound(key), 1);
    } else if (write !== undefined) {
      if (result.ok && result.prev === null) {
        this.#keys.splice(this.#lowerBound(key), 0, key);
      }
      this.#map.set(key, write);
    }
    return result;
  }

  /**
   * Serializes the whole map.
   *
   * @returns JSON bytes.
   */
  snapshot(): Uint8Array {
    const items = this.#keys.map((k) => [k, this.#map.get(k)!] as const);
    return new TextEncoder().encode(JSON.stringify({ revision: this.#revision, items }));
  }

  /**
   * Replaces the map with a snapshot's.
   *
   * @param data What `snapshot()` returned.
   */
  restore(data: Uint8Array): void {
    const s = JSON.parse(new TextDecoder().decode(data)) as {
      revision: number;
      items: [string, KvRecord][];
    };
    this.#map.clear();
    for (const [k, r] of s.items) this.#map.set(k, r);
    this.#keys = s.items.map(([k]) => k);
    this.#revision = s.revision;
  }
}
