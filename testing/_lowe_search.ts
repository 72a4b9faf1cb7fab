/**
 * The search of the linearizability checker (`linearizability.ts`): Lowe's
 * just-in-time linearization over one partition of a history, with a cache
 * of explored configurations, resumable in slices of steps.
 *
 * @module
 */

import { assert } from "../core/_assert.ts";
import { Bitset, type BitsetSnapshot } from "./_bitset.ts";
import type { CheckResult, Model, Operation } from "./linearizability.ts";

/** Steps between two reads of the clock. */
const clockCheckSteps = 1024;
/** Approximate bookkeeping cost of one cache entry, in 32-bit words. */
const cacheEntryOverheadWords = 16;

export interface Limits {
  readonly stepsMax: number;
  readonly deadline: number;
  readonly now: () => number;
  readonly cacheWordsMax: number;
}

export interface CacheEntry<State> {
  readonly determinate: BitsetSnapshot;
  readonly indeterminate: BitsetSnapshot;
  readonly state: State;
}

/** The deepest dead end of a search, kept for the explanation. */
export interface DeadEnd<State> {
  /** Linearized operations (ids), in order. */
  readonly prefix: number[];
  readonly state: State;
  /** The operation whose return event stopped the scan. */
  readonly blocking: number;
  /** Pending operations scanned before that return event, in list order. */
  readonly candidates: number[];
}

/** A resumable search of one partition. */
export interface Search<State> {
  /**
   * Searches for at most `budget` more steps.
   * @returns The verdict; `"unknown"` when the budget or the deadline ran
   *   out (then it can be resumed), or the search gave up (`exhausted()`).
   */
  run(budget: number): CheckResult;
  /** @returns Steps taken so far. */
  steps(): number;
  /** @returns The deepest dead end so far. */
  deadEnd(): DeadEnd<State> | undefined;
  /** @returns Whether the search gave up for good (a relaxed search whose cache is full). */
  exhausted(): boolean;
}

/**
 * One partition, prepared for searching. Operation ids: determinate
 * operations first, in call order, then the indeterminate ones, in call
 * order (so the linearized set is mostly a prefix of the ids, which keeps
 * cache snapshots small). Event `2 * id` is the call of operation `id` and
 * `2 * id + 1` its return; `events` lists them in time order, calls before
 * returns at equal times (closed intervals).
 */
export interface Prepared<Input, Output> {
  readonly n: number;
  /** Operations with ids below this are determinate. */
  readonly determinateCount: number;
  readonly ops: readonly Operation<Input, Output>[];
  /** Position of each operation in the checked history. */
  readonly indices: readonly number[];
  /** Return times; `Infinity` for indeterminate operations. */
  readonly returns: Float64Array;
  /** Observed outputs; `undefined` for indeterminate operations. */
  readonly outputs: readonly (Output | undefined)[];
  readonly events: Int32Array;
  /** Whether each operation is determinate and read-only (`Model.isReadOnly`). */
  readonly readOnly: Uint8Array;
}

/**
 * Lowe's search. The events form a doubly linked list behind a head
 * sentinel; linearizing an operation lifts its two events out of the list,
 * backtracking puts them back. A configuration is (determinate operations
 * linearized, indeterminate operations applied, model state); one is pruned
 * when the cache holds one with the same determinate set, an equal state and
 * a subset of its indeterminate set: that one was explored and failed, and
 * had at least the same options (indeterminate operations may never happen).
 * Without indeterminate operations this is Porcupine's exact cache.
 *
 * Two more prunings, both keeping some lightest successful linearization
 * (fewest indeterminate operations) reachable:
 * - a legal read-only operation is taken at once, without alternatives;
 * - an indeterminate operation is not applied right after another one whose
 *   effect it erases (the parent tries it on its own).
 *
 * `relaxed`: indeterminate operations stay in the list after taking effect
 * (they may take effect again) and are not recorded in the configuration;
 * they are tried only after the determinate candidates.
 */
export class LoweSearch<State, Input, Output> implements Search<State> {
  readonly #model: Model<State, Input, Output>;
  readonly #p: Prepared<Input, Output>;
  readonly #limits: Limits;
  readonly #relaxed: boolean;
  /** Operations. */
  readonly #n: number;
  /** Operations `[0, determinateCount)` are determinate. */
  readonly #determinateCount: number;
  /** The head sentinel of the event list. */
  readonly #head: number;
  /** `next[e]`: the event after `e` in the list, -1 at its end. */
  readonly #next: Int32Array;
  /** `prev[e]`: the event before `e` in the list (the head for the first). */
  readonly #prev: Int32Array;
  readonly #determinate: Bitset;
  readonly #indeterminate: Bitset;
  #steps = 0;
  readonly #cache = new Map<number, CacheEntry<State>[]>();
  #cacheWords = 0;
  // The search stack: linearized call events, the states before them, and
  // whether the step was forced (a read-only operation, see below). Exact:
  // at most n deep. Relaxed: every frame is a new configuration, so the
  // cache (or the step budget) bounds it.
  readonly #stackCalls: number[] = [];
  readonly #stackStates: State[] = [];
  readonly #stackForced: boolean[] = [];
  #indeterminateOnStack = 0;
  #state: State;
  #deadEnd: DeadEnd<State> | undefined;
  #deadEndScore = -1;
  #result: CheckResult = "unknown";
  #exhausted = false;
  #entry: number;
  /** Whether the current configuration is new and not yet searched for a legal read-only operation. */
  #fresh = true;
  /** Whether the current configuration failed and the search backs up. */
  #backtracking = false;
  /**
   * The relaxed search is lazy: at each configuration it tries the
   * determinate candidates first (pass 0) and the indeterminate ones only
   * after those (pass 1), so an indeterminate operation takes effect only
   * where the search cannot go on without it.
   */
  readonly #lazy: boolean;
  #pass = 0;

  constructor(
    model: Model<State, Input, Output>,
    p: Prepared<Input, Output>,
    limits: Limits,
    relaxed: boolean,
  ) {
    this.#model = model;
    this.#p = p;
    this.#limits = limits;
    this.#relaxed = relaxed;
    const n = p.n;
    this.#n = n;
    this.#determinateCount = p.determinateCount;
    const head = 2 * n;
    this.#head = head;
    const next = new Int32Array(2 * n + 1);
    const prev = new Int32Array(2 * n + 1);
    let tail = head;
    for (const e of p.events) {
      next[tail] = e;
      prev[e] = tail;
      tail = e;
    }
    next[tail] = -1;
    this.#next = next;
    this.#prev = prev;
    this.#determinate = new Bitset(p.determinateCount);
    this.#indeterminate = new Bitset(n - p.determinateCount);
    this.#state = model.init();
    this.#entry = next[head]!;
    this.#lazy = relaxed && p.determinateCount < n;
  }

  run(budget: number): CheckResult {
    if (this.#result !== "unknown" || this.#exhausted) return this.#result;
    const stepsEnd = this.#steps + budget;
    try {
      this.#result = this.#loop(stepsEnd);
    } catch (e) {
      if (!(e instanceof CacheFull)) throw e;
      this.#exhausted = true;
    }
    return this.#result;
  }

  steps(): number {
    return this.#steps;
  }

  deadEnd(): DeadEnd<State> | undefined {
    return this.#deadEnd;
  }

  exhausted(): boolean {
    return this.#exhausted;
  }

  /** Lifts a call event and its return event out of the list. */
  #lift(call: number): void {
    const next = this.#next;
    const prev = this.#prev;
    const ret = call + 1;
    next[prev[call]!] = next[call]!;
    if (next[call] !== -1) prev[next[call]!] = prev[call]!;
    next[prev[ret]!] = next[ret]!;
    if (next[ret] !== -1) prev[next[ret]!] = prev[ret]!;
  }

  /** Undoes lift(call) exactly, in reverse order. */
  #unlift(call: number): void {
    const next = this.#next;
    const prev = this.#prev;
    const ret = call + 1;
    if (next[ret] !== -1) prev[next[ret]!] = ret;
    next[prev[ret]!] = ret;
    if (next[call] !== -1) prev[next[call]!] = call;
    next[prev[call]!] = call;
  }

  /**
   * True when a configuration dominating the current one (with `state`) was
   * explored; otherwise records the current one.
   */
  #seen(state: State): boolean {
    const model = this.#model;
    const determinate = this.#determinate;
    const h = (determinate.hash ^ Math.imul(model.hash(state) | 0, 0x9e3779b1)) >>> 0;
    const bucket = this.#cache.get(h);
    if (bucket !== undefined) {
      // Comparisons count as steps, so the budget bounds the time.
      this.#steps += bucket.length;
      for (const c of bucket) {
        if (
          model.equal(c.state, state) && determinate.equalsSnapshot(c.determinate) &&
          this.#indeterminate.containsSnapshot(c.indeterminate)
        ) return true;
      }
    }
    if (this.#cacheWords < this.#limits.cacheWordsMax) {
      const entry: CacheEntry<State> = {
        determinate: determinate.snapshot(),
        indeterminate: this.#indeterminate.snapshot(),
        state,
      };
      this.#cacheWords += entry.determinate.middle.length + entry.indeterminate.middle.length +
        cacheEntryOverheadWords;
      if (bucket === undefined) this.#cache.set(h, [entry]);
      else bucket.push(entry);
    } else if (this.#relaxed) {
      // Without a cache the relaxed search could cycle; give up on it.
      throw new CacheFull();
    }
    return false;
  }

  /**
   * Whether indeterminate operation `id`, reaching `after` here, would
   * reach the same state right before the indeterminate operation on top of
   * the stack: then that one made no difference, and applying `id` in its
   * place (tried from the parent) is the same with one fewer operation.
   */
  #absorbsTop(id: number, after: State): boolean {
    const depth = this.#stackCalls.length;
    if (depth === 0 || this.#stackCalls[depth - 1]! >> 1 < this.#determinateCount) return false;
    const r = this.#model.step(this.#stackStates[depth - 1]!, this.#p.ops[id]!.input, undefined);
    return r.ok && this.#model.equal(r.state, after);
  }

  #push(call: number, after: State, forced: boolean): void {
    const id = call >> 1;
    const n = this.#n;
    assert(
      this.#relaxed || this.#stackCalls.length < n,
      `search stack deeper than ${n} operations`,
    );
    this.#stackCalls.push(call);
    this.#stackStates.push(this.#state);
    this.#stackForced.push(forced);
    if (id >= this.#determinateCount) this.#indeterminateOnStack++;
    this.#state = after;
    if (id < this.#determinateCount || !this.#relaxed) this.#lift(call);
    this.#entry = this.#next[this.#head]!;
    this.#fresh = true;
    this.#pass = 0;
  }

  /**
   * Records the linearization of `id` in the configuration; false (and no
   * change) when a dominating configuration was already explored.
   */
  #tryEnter(id: number, after: State): boolean {
    const isDeterminate = id < this.#determinateCount;
    const keep = isDeterminate || !this.#relaxed;
    if (keep) {
      if (isDeterminate) this.#determinate.set(id);
      else this.#indeterminate.set(id - this.#determinateCount);
    }
    if (!this.#seen(after)) return true;
    if (keep) {
      if (isDeterminate) this.#determinate.clear(id);
      else this.#indeterminate.clear(id - this.#determinateCount);
    }
    return false;
  }

  #loop(stepsEnd: number): CheckResult {
    const limits = this.#limits;
    while (true) {
      if (this.#steps >= stepsEnd) return "unknown";
      this.#steps++;
      if (this.#steps % clockCheckSteps === 0 && limits.now() > limits.deadline) return "unknown";

      if (this.#backtracking) {
        if (!this.#backtrack()) return "illegal";
        continue;
      }

      const entry = this.#entry;
      if (entry === -1) {
        // The list is empty: every operation is linearized.
        return "ok";
      }

      if (this.#fresh && this.#forceReadOnly()) continue;

      const id = entry >> 1;
      if ((entry & 1) === 0) {
        this.#tryCall(entry);
        continue;
      }

      // A return event: its operation had to take effect by now.
      if (id >= this.#determinateCount) {
        // Return events are in time order, so every determinate operation
        // is linearized; the indeterminate ones left may never happen.
        return "ok";
      }
      this.#stuckAt(entry);
    }
  }

  /** Undoes the top step of the stack; false when the stack is empty. */
  #backtrack(): boolean {
    const call = this.#stackCalls.pop();
    if (call === undefined) return false;
    this.#state = this.#stackStates.pop()!;
    const forced = this.#stackForced.pop()!;
    const top = call >> 1;
    if (top < this.#determinateCount) {
      this.#determinate.clear(top);
      this.#unlift(call);
    } else {
      this.#indeterminateOnStack--;
      if (!this.#relaxed) {
        this.#indeterminate.clear(top - this.#determinateCount);
        this.#unlift(call);
      }
    }
    // A forced step was the only one worth taking: its parent failed too.
    if (!forced) {
      this.#backtracking = false;
      this.#entry = this.#next[call]!;
      this.#pass = top < this.#determinateCount ? 0 : 1;
    }
    return true;
  }

  /**
   * In a new configuration, takes a legal read-only operation if there is
   * one: it can go first in any completion (it changes nothing, and
   * everything that may precede it already has), so without branching.
   * Returns whether it took one (or found its configuration explored).
   */
  #forceReadOnly(): boolean {
    this.#fresh = false;
    const { ops, outputs, readOnly } = this.#p;
    const next = this.#next;
    const state = this.#state;
    let forced = -1;
    let after = state;
    for (let e = this.#entry; e !== -1 && (e & 1) === 0; e = next[e]!) {
      const id = e >> 1;
      if (!readOnly[id]) continue;
      this.#steps++;
      const r = this.#model.step(state, ops[id]!.input, outputs[id]);
      if (r.ok) {
        forced = e;
        after = r.state;
        break;
      }
    }
    if (forced === -1) return false;
    if (this.#tryEnter(forced >> 1, after)) this.#push(forced, after, true);
    else this.#backtracking = true;
    return true;
  }

  /**
   * A call event: tries to linearize its operation here, else moves on.
   * (Read-only ones are illegal here, or one would have been forced.)
   */
  #tryCall(entry: number): void {
    const id = entry >> 1;
    const determinateCount = this.#determinateCount;
    if (this.#lazy && (id < determinateCount ? 0 : 1) !== this.#pass) {
      this.#entry = this.#next[entry]!;
      return;
    }
    const { ops, outputs, readOnly } = this.#p;
    const r = readOnly[id] ? undefined : this.#model.step(this.#state, ops[id]!.input, outputs[id]);
    if (
      r !== undefined && r.ok && !(id >= determinateCount && this.#absorbsTop(id, r.state)) &&
      this.#tryEnter(id, r.state)
    ) {
      this.#push(entry, r.state, false);
    } else {
      this.#entry = this.#next[entry]!;
    }
  }

  /**
   * The return event of determinate operation `entry >> 1` came with the
   * operation not linearized: in the lazy search's first pass, tries the
   * indeterminate candidates; else records the dead end (the deepest, with
   * the fewest indeterminate operations) and backs up.
   */
  #stuckAt(entry: number): void {
    if (this.#lazy && this.#pass === 0) {
      this.#pass = 1;
      this.#entry = this.#next[this.#head]!;
      return;
    }
    const n = this.#n;
    const depth = this.#stackCalls.length;
    const onStack = this.#indeterminateOnStack;
    const score = (depth - onStack) * (n + 1) - onStack;
    if (score > this.#deadEndScore) {
      const next = this.#next;
      const candidates: number[] = [];
      for (let e = next[this.#head]!; e !== entry; e = next[e]!) candidates.push(e >> 1);
      this.#deadEnd = {
        prefix: this.#stackCalls.map((e) => e >> 1),
        state: this.#state,
        blocking: entry >> 1,
        candidates,
      };
      this.#deadEndScore = score;
    }
    this.#backtracking = true;
  }
}

/** Thrown inside a relaxed search whose cache is full. */
class CacheFull extends Error {}
