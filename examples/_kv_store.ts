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

type Rec = Omit<KvItem, "key">;

/** The value of a counter: a decimal safe integer, or `undefined`. */
function integerOf(value: string): number | undefined {
  if (!/^-?(?:0|[1-9][0-9]{0,15})$/.test(value)) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * A sorted in-memory map, replicated by applying the same commands in the
 * same order on every node. Deterministic: the result of a command depends
 * only on the commands before it.
 */
export class KvStore implements StateMachine<KvResult> {
  readonly #map = new Map<string, Rec>();
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
    let cmd: KvCommand;
    try {
      cmd = JSON.parse(new TextDecoder().decode(c.data)) as KvCommand;
    } catch {
      return { ok: false, revision: c.index, reason: "invalid_command", current: null };
    }
    if (typeof cmd?.key !== "string") {
      return { ok: false, revision: c.index, reason: "invalid_command", current: null };
    }
    const prev = this.get(cmd.key);
    const ifRevision = cmd.op === "incr" ? undefined : cmd.ifRevision;
    const failed = (ifRevision !== undefined && (prev?.modRevision ?? 0) !== ifRevision) ||
      (cmd.op === "put" && cmd.ifValue !== undefined && (prev?.value ?? null) !== cmd.ifValue);
    if (failed) {
      return { ok: false, revision: c.index, reason: "precondition_failed", current: prev };
    }
    if (cmd.op === "delete") {
      if (prev === null) {
        return { ok: false, revision: c.index, reason: "not_found", current: null };
      }
      this.#map.delete(cmd.key);
      this.#keys.splice(this.#lowerBound(cmd.key), 1);
      return { ok: true, revision: c.index, item: null, prev };
    }
    let value: string;
    if (cmd.op === "incr") {
      const n = integerOf(prev?.value ?? "0");
      if (!Number.isSafeInteger(cmd.by)) {
        return { ok: false, revision: c.index, reason: "invalid_command", current: null };
      }
      if (n === undefined || !Number.isSafeInteger(n + cmd.by)) {
        return { ok: false, revision: c.index, reason: "not_an_integer", current: prev };
      }
      value = String(n + cmd.by);
    } else if (cmd.op === "put" && typeof cmd.value === "string") {
      value = cmd.value;
    } else {
      return { ok: false, revision: c.index, reason: "invalid_command", current: null };
    }
    const rec: Rec = {
      value,
      createRevision: prev?.createRevision ?? c.index,
      modRevision: c.index,
      version: (prev?.version ?? 0) + 1,
    };
    if (prev === null) this.#keys.splice(this.#lowerBound(cmd.key), 0, cmd.key);
    this.#map.set(cmd.key, rec);
    return { ok: true, revision: c.index, item: { key: cmd.key, ...rec }, prev };
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
      items: [string, Rec][];
    };
    this.#map.clear();
    for (const [k, r] of s.items) this.#map.set(k, r);
    this.#keys = s.items.map(([k]) => k);
    this.#revision = s.revision;
  }
}
