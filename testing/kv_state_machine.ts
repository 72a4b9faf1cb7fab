/**
 * A replicated key-value store to simulate, and a worked example of what
 * the simulator needs from a state machine: a deterministic
 * `StateMachine` for `RaftNode` with `put`, `delete` and `cas` commands
 * (reads go through `RaftNode.read()` and {@linkcode KvStateMachine.get}),
 * snapshots and restore. Its `append` command is not idempotent (applied
 * twice, it appends twice): the simulator's exactly-once workload uses it.
 *
 * Besides the values, the state keeps a version per key and a revision (the
 * number of writes applied), like etcd's revisions: applying a command twice
 * changes the state even when it rewrites the same value, so a replica that
 * applies differently from the others is seen in its snapshot.
 *
 * @example Apply a command and read it back
 * ```ts
 * import { encodeKvCommand, KvStateMachine } from "@raft-ts/raft/testing";
 *
 * const sm = new KvStateMachine();
 * const data = encodeKvCommand({ op: "put", key: "x", value: "1" });
 * sm.apply([{ index: 1, term: 1, data }]);
 * if (sm.get("x") !== "1") throw new Error("unreachable");
 * ```
 *
 * @module
 */

import type { Command, StateMachine } from "../core/node.ts";
import type { Index, Term } from "../core/types.ts";

/** A write command. */
export type KvCommand =
  | { readonly op: "put"; readonly key: string; readonly value: string }
  | { readonly op: "delete"; readonly key: string }
  /** Appends `value` to the key's value, after a space (a list of space-free tokens). */
  | { readonly op: "append"; readonly key: string; readonly value: string }
  | {
    readonly op: "cas";
    readonly key: string;
    /** Swap only if the current value is this (`null`: only if absent). */
    readonly expected: string | null;
    readonly value: string;
  };

/** The result of a write: `ok` is whether a `cas` swapped (always true otherwise). */
export interface KvResult {
  /** Whether the write took effect. */
  readonly ok: boolean;
  /** After an `append`: how many tokens the value holds, the appended one last. */
  readonly length?: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * Encodes a command.
 *
 * @param c The command.
 * @returns Its bytes.
 */
export function encodeKvCommand(c: KvCommand): Uint8Array {
  return enc.encode(JSON.stringify(c));
}

/**
 * Decodes a command.
 *
 * @param b Bytes from {@linkcode encodeKvCommand}.
 * @returns The command.
 * @throws {TypeError} When the bytes are not a command.
 */
export function decodeKvCommand(b: Uint8Array): KvCommand {
  const c = JSON.parse(dec.decode(b)) as Partial<Record<string, unknown>>;
  if (typeof c !== "object" || c === null || typeof c.key !== "string") {
    throw new TypeError("Cannot decode KV command: no key");
  }
  switch (c.op) {
    case "put":
      if (typeof c.value === "string") return { op: "put", key: c.key, value: c.value };
      break;
    case "delete":
      return { op: "delete", key: c.key };
    case "append":
      if (typeof c.value === "string") return { op: "append", key: c.key, value: c.value };
      break;
    case "cas":
      if (typeof c.value === "string" && (typeof c.expected === "string" || c.expected === null)) {
        return { op: "cas", key: c.key, expected: c.expected, value: c.value };
      }
      break;
  }
  throw new TypeError(`Cannot decode KV command: bad op ${JSON.stringify(c.op)}`);
}

interface Cell {
  value: string;
  version: number;
}

/** The serialized form of a snapshot. */
interface KvSnapshot {
  revision: number;
  lastCommand: Index;
  cells: [string, string, number][];
}

/** A deterministic in-memory key-value state machine. */
export class KvStateMachine implements StateMachine<KvResult> {
  readonly #cells = new Map<string, Cell>();
  #revision = 0;
  #lastCommand: Index = 0;

  /** Writes applied so far (snapshots included). */
  get revision(): number {
    return this.#revision;
  }

  /** The index of the last command applied (or reflected by a restored snapshot). */
  get lastCommand(): Index {
    return this.#lastCommand;
  }

  /**
   * Reads a key.
   *
   * @param key The key.
   * @returns Its value, or `null` when absent.
   */
  get(key: string): string | null {
    return this.#cells.get(key)?.value ?? null;
  }

  /**
   * Applies commands in order.
   *
   * @param commands The commands.
   * @returns One result per command.
   */
  apply(commands: readonly Command[]): KvResult[] {
    const out: KvResult[] = [];
    for (const c of commands) {
      out.push(this.applyOne(c));
      this.#lastCommand = c.index;
    }
    return out;
  }

  /**
   * Applies one command to the state (the unit a subclass may override).
   *
   * @param c The command.
   * @returns Its result.
   */
  applyOne(c: Command): KvResult {
    const cmd = decodeKvCommand(c.data);
    switch (cmd.op) {
      case "put":
        this.#write(cmd.key, cmd.value);
        return { ok: true };
      case "delete":
        this.#write(cmd.key, null);
        return { ok: true };
      case "append": {
        const old = this.get(cmd.key);
        const value = old === null ? cmd.value : `${old} ${cmd.value}`;
        this.#write(cmd.key, value);
        return { ok: true, length: old === null ? 1 : old.split(" ").length + 1 };
      }
      case "cas": {
        if (this.get(cmd.key) !== cmd.expected) return { ok: false };
        this.#write(cmd.key, cmd.value);
        return { ok: true };
      }
    }
  }

  #write(key: string, value: string | null): void {
    this.#revision++;
    const version = (this.#cells.get(key)?.version ?? 0) + 1;
    if (value === null) this.#cells.delete(key);
    else this.#cells.set(key, { value, version });
  }

  /**
   * Serializes the state.
   *
   * @returns The snapshot's bytes.
   */
  snapshot(): Uint8Array {
    const snap: KvSnapshot = {
      revision: this.#revision,
      lastCommand: this.#lastCommand,
      cells: [...this.#cells.keys()].sort().map((k) => {
        const c = this.#cells.get(k)!;
        return [k, c.value, c.version];
      }),
    };
    return enc.encode(JSON.stringify(snap));
  }

  /**
   * Replaces the state with a snapshot's.
   *
   * @param data From {@linkcode KvStateMachine.snapshot}.
   * @param _meta The snapshot's position.
   */
  restore(data: Uint8Array, _meta: { index: Index; term: Term }): void {
    const snap = JSON.parse(dec.decode(data)) as KvSnapshot;
    this.#cells.clear();
    for (const [k, value, version] of snap.cells) this.#cells.set(k, { value, version });
    this.#revision = snap.revision;
    this.#lastCommand = snap.lastCommand;
  }
}
