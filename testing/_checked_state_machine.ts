/**
 * The wrapper the simulator puts around each node's copy of the user's
 * state machine. It hands the driver commands one at a time, and after each
 * one tells the invariant checker the digest of the state machine's own
 * `snapshot()` and of the command's result: every replica must reach the
 * same bytes and the same results at the same index (replica agreement).
 * Each snapshot the driver takes is restored into a fresh state machine,
 * whose `snapshot()` must give the same bytes, and so must the receiver's
 * after it restores one (snapshot fidelity).
 *
 * The snapshot bytes the driver stores are the state machine's, behind an
 * 8-byte header: the index of the last command they reflect, which the
 * checker needs to find the state to compare a restored one with.
 *
 * @module
 */

import type { Command, StateMachine } from "../core/node.ts";
import type { Index, Term } from "../core/types.ts";
import { collectSnapshotData, restoreStateMachine } from "../core/node/snapshots.ts";
import { hashBytes, Hasher } from "./_prng.ts";

/** What the wrapper reports; each call may throw an `InvariantViolation`. */
export interface StateMachineObserver {
  /**
   * A command was applied.
   *
   * @param index Its log index.
   * @param term Its term.
   * @param digest The digest of the state machine's snapshot after it.
   * @param resultDigest The digest of its result.
   */
  applied(index: Index, term: Term, digest: number, resultDigest: number): void;
  /**
   * A snapshot was restored.
   *
   * @param index The snapshot's index.
   * @param lastCommand The last command it reflects.
   * @param digest The digest of the state machine's snapshot after it.
   */
  restored(index: Index, lastCommand: Index, digest: number): void;
  /**
   * A snapshot's bytes changed across restore and snapshot.
   *
   * @param where Where it was seen.
   * @param lastCommand The last command the snapshot reflects.
   * @param before The bytes restored.
   * @param after The bytes snapshotted after the restore.
   */
  unfaithful(where: string, lastCommand: Index, before: Uint8Array, after: Uint8Array): void;
}

const headerBytes = 8;

/** Calls `then` on a value or, once it settles, on a promise's value. */
function chain<T, U>(v: T | Promise<T>, then: (v: T) => U | Promise<U>): U | Promise<U> {
  return v instanceof Promise ? v.then(then) : then(v);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * A 32-bit digest of a command's result: primitives, arrays, byte arrays,
 * maps, sets and plain objects (keys sorted), structurally.
 *
 * @param v The result.
 * @returns The digest.
 */
export function digestValue(v: unknown): number {
  const h = new Hasher();
  const seen = new Set<object>();
  const walk = (x: unknown, depth: number): void => {
    if (depth > 64) throw new RangeError("Cannot digest a result nested deeper than 64 levels");
    if (x === null || x === undefined) {
      h.str(String(x));
      return;
    }
    switch (typeof x) {
      case "number":
        h.str("n").num(x);
        return;
      case "string":
        h.str("s").str(x);
        return;
      case "boolean":
        h.str(x ? "t" : "f");
        return;
      case "bigint":
        h.str("b").str(x.toString());
        return;
      case "object":
        break;
      default:
        h.str(typeof x);
        return;
    }
    if (seen.has(x)) throw new TypeError("Cannot digest a result with a cycle");
    seen.add(x);
    if (x instanceof Uint8Array) h.str("u8").bytes(x);
    else if (Array.isArray(x)) {
      h.str("a").int(x.length);
      for (const e of x) walk(e, depth + 1);
    } else if (x instanceof Map) {
      h.str("m").int(x.size);
      for (const [k, e] of x) {
        walk(k, depth + 1);
        walk(e, depth + 1);
      }
    } else if (x instanceof Set) {
      h.str("set").int(x.size);
      for (const e of x) walk(e, depth + 1);
    } else {
      const o = x as Record<string, unknown>;
      const keys = Object.keys(o).sort();
      h.str("o").int(keys.length);
      for (const k of keys) {
        h.str(k);
        walk(o[k], depth + 1);
      }
    }
    seen.delete(x);
  };
  walk(v, 0);
  return h.value;
}

/** A node's state machine, checked. */
export class CheckedStateMachine<R> implements StateMachine<R> {
  /** The user's state machine. */
  readonly inner: StateMachine<R>;
  readonly #fresh: () => StateMachine<R>;
  readonly #observer: StateMachineObserver;
  #lastCommand: Index = 0;

  /**
   * Wraps a state machine.
   *
   * @param inner The state machine the node runs.
   * @param fresh Creates an empty one, for the fidelity check.
   * @param observer Told what happens.
   */
  constructor(
    inner: StateMachine<R>,
    fresh: () => StateMachine<R>,
    observer: StateMachineObserver,
  ) {
    this.inner = inner;
    this.#fresh = fresh;
    this.#observer = observer;
  }

  /**
   * Applies commands one at a time, reporting the state after each.
   *
   * @param commands The commands.
   * @returns Their results.
   */
  apply(commands: readonly Command[]): readonly R[] | Promise<readonly R[]> {
    const out: R[] = [];
    const from = (i: number): readonly R[] | Promise<readonly R[]> => {
      for (; i < commands.length; i++) {
        const c = commands[i]!;
        const step = chain(this.inner.apply([c]), (rs) => {
          const r = rs[0] as R;
          out.push(r);
          this.#lastCommand = c.index;
          return chain(chain(this.inner.snapshot(), collectSnapshotData), (bytes) => {
            this.#observer.applied(c.index, c.term, hashBytes(bytes), digestValue(r));
          });
        });
        if (step instanceof Promise) {
          const next = i + 1;
          return step.then(() => from(next));
        }
      }
      return out;
    };
    return from(0);
  }

  /**
   * The state machine's snapshot behind the header, checked for fidelity.
   *
   * @returns The bytes.
   */
  snapshot(): Uint8Array | Promise<Uint8Array> {
    const last = this.#lastCommand;
    return chain(chain(this.inner.snapshot(), collectSnapshotData), (bytes) => {
      const copy = this.#fresh();
      const restored = chain(
        chain(restoreStateMachine(copy, bytes, { index: last, term: 0 }), () => copy.snapshot()),
        collectSnapshotData,
      );
      return chain(restored, (again) => {
        if (!sameBytes(bytes, again)) this.#observer.unfaithful("a fresh copy", last, bytes, again);
        const data = new Uint8Array(headerBytes + bytes.length);
        new DataView(data.buffer).setFloat64(0, last);
        data.set(bytes, headerBytes);
        return data;
      });
    });
  }

  /**
   * Restores a snapshot made by {@linkcode CheckedStateMachine.snapshot}.
   *
   * @param data The bytes.
   * @param meta The snapshot's position.
   * @returns Nothing, or a Promise.
   */
  restore(data: Uint8Array, meta: { index: Index; term: Term }): void | Promise<void> {
    if (data.length < headerBytes) {
      throw new RangeError(`Cannot restore a simulated snapshot of ${data.length} bytes`);
    }
    const last = new DataView(data.buffer, data.byteOffset, headerBytes).getFloat64(0);
    const bytes = data.subarray(headerBytes);
    return chain(restoreStateMachine(this.inner, bytes.slice(), meta), () => {
      this.#lastCommand = last;
      return chain(chain(this.inner.snapshot(), collectSnapshotData), (again) => {
        if (!sameBytes(bytes, again)) this.#observer.unfaithful("the receiver", last, bytes, again);
        this.#observer.restored(meta.index, last, hashBytes(again));
      });
    });
  }
}
