/**
 * A linearizability checker for recorded client histories, after Wing & Gong
 * as improved by Lowe ("Testing for linearizability", 2017) and used by
 * Porcupine: a depth-first search over linearization points, with the set of
 * linearized operations kept as a bitset and a cache of (bitset, model state)
 * pairs already explored, run separately on each partition of the history
 * (P-compositionality: for a key-value store, one partition per key).
 *
 * Semantics:
 * - Each operation occupies the closed interval `[call, return]`. Operation A
 *   precedes B in real time only when `A.return < B.call`; equal times count
 *   as overlapping.
 * - An operation whose `return` is `undefined` or `Infinity` is
 *   indeterminate (a timeout, a crashed client): it may have taken effect at
 *   any moment after its call, or never. Its output is unknown: the model's
 *   `step` receives `undefined` whatever was recorded.
 *
 * Refinements over Porcupine's search:
 * - Read-only operations (see `Model.isReadOnly`) are linearized as soon as
 *   they are legal, without branching: a read that can go now can go first
 *   in any completion.
 * - The cache prunes by dominance: a configuration is skipped when one with
 *   the same determinate operations linearized, an equal state, and a subset
 *   of its indeterminate operations applied was explored (sound because
 *   indeterminate operations may never happen).
 * - With indeterminate operations, the exact search alternates with a
 *   relaxed one in which they may take effect any number of times. Relaxed
 *   failure proves the history illegal, and the relaxed search avoids the
 *   exact one's blow-up over subsets of indeterminate operations.
 *
 * Every loop is bounded: a partition gets at most `stepsMax` search steps and
 * the whole check `timeoutMs`; when a budget runs out the answer is
 * `"unknown"`, never a hang. Caches are bounded by `cacheBytesMax`; past it
 * the exact search goes on without caching (still correct, only slower).
 * Many indeterminate operations on one key, in long histories, can still
 * exhaust the budget, mostly when refuting.
 *
 * @example Check a two-client register history
 * ```ts
 * import {
 *   checkOperations,
 *   formatExplanation,
 *   kvModel,
 *   type KvOperation,
 * } from "@raft-ts/raft/testing";
 *
 * const history: KvOperation[] = [
 *   { clientId: 1, call: 0, return: 10, input: { op: "put", key: "x", value: "a" }, output: { ok: true } },
 *   { clientId: 2, call: 20, return: 30, input: { op: "get", key: "x" }, output: { value: null } },
 * ];
 * const report = checkOperations(kvModel, history);
 * if (report.result !== "illegal") throw new Error("expected a stale read");
 * const text = formatExplanation(report.explanation!);
 * if (!text.includes("get(\"x\") -> absent")) throw new Error("unreachable");
 * ```
 *
 * @module
 */

import { assert } from "../core/_assert.ts";
import {
  type DeadEnd,
  type Limits,
  LoweSearch,
  type Prepared,
  type Search,
} from "./_lowe_search.ts";

/** One recorded client operation. */
export interface Operation<Input, Output> {
  /** The client that issued it; shown in explanations only. */
  readonly clientId: number;
  /** Invocation time, a finite number on any monotonic clock. */
  readonly call: number;
  /**
   * Response time, `>= call`. `undefined` or `Infinity`: indeterminate, the
   * operation may have taken effect at any moment after `call`, or never.
   */
  readonly return?: number | undefined;
  /** What the client asked for. */
  readonly input: Input;
  /** What the client observed; ignored (treated as unknown) when indeterminate. */
  readonly output?: Output | undefined;
}

/** The outcome of applying one operation to a model state. */
export interface StepResult<State> {
  /** Whether the operation, with its observed output, is legal in the state. */
  readonly ok: boolean;
  /** The state after the operation (meaningful when `ok`). */
  readonly state: State;
}

/** A sub-history that is checked on its own. */
export interface Partition<Input, Output> {
  /** A name for explanations, such as the key. */
  readonly key: string;
  /** Operations of the original history (the same objects, not copies). */
  readonly operations: readonly Operation<Input, Output>[];
}

/**
 * A sequential specification. States must be immutable values: `step`
 * returns a new state and never changes the one it is given.
 */
export interface Model<State, Input, Output> {
  /**
   * The state before any operation.
   *
   * @returns The initial state.
   */
  init(): State;
  /**
   * Applies one operation.
   *
   * @param state The state before.
   * @param input The operation's input.
   * @param output The observed output, `undefined` when unknown.
   * @returns Whether that output is possible, and the state after.
   */
  step(state: State, input: Input, output: Output | undefined): StepResult<State>;
  /**
   * Compares two states, for the cache.
   *
   * @param a A state.
   * @param b A state.
   * @returns Whether the states are equal.
   */
  equal(a: State, b: State): boolean;
  /**
   * Hashes a state, for the cache.
   *
   * @param state A state.
   * @returns A 32-bit hash, equal for equal states.
   */
  hash(state: State): number;
  /**
   * Whether an operation, with this observed output, never changes the
   * state, whatever the state (a read; a compare-and-set that failed). The
   * search then takes such an operation as soon as it is legal, without
   * trying alternatives, which is much faster. Must be exact: claiming a
   * writing operation read-only makes the checker unsound. Omitted: none is.
   *
   * @param input An operation's input.
   * @param output Its observed output (`undefined` if none was recorded).
   * @returns True when the operation cannot change any state.
   */
  isReadOnly?(input: Input, output: Output | undefined): boolean;
  /**
   * Splits a history into independent sub-histories; may drop operations that
   * constrain nothing. Omitted: the history is one partition.
   *
   * @param history The whole history.
   * @returns The partitions.
   */
  partition?(history: readonly Operation<Input, Output>[]): Partition<Input, Output>[];
  /**
   * Describes an operation, for explanations.
   *
   * @param input An operation's input.
   * @param output Its output, `undefined` when unknown.
   * @returns A one-line description, such as `get("x") -> "v1"`.
   */
  describeOperation(input: Input, output: Output | undefined): string;
  /**
   * Describes a state, for explanations. Omitted: `JSON.stringify`.
   *
   * @param state A state.
   * @returns A one-line description.
   */
  describeState?(state: State): string;
}

/** `"ok"`: linearizable; `"illegal"`: not; `"unknown"`: a budget ran out. */
export type CheckResult = "ok" | "illegal" | "unknown";

/** An operation named in an explanation. */
export interface ExplainedOperation {
  /** Position in the history given to {@linkcode checkOperations}. */
  readonly index: number;
  /** The issuing client. */
  readonly clientId: number;
  /** Invocation time. */
  readonly call: number;
  /** Response time; `Infinity` when indeterminate. */
  readonly return: number;
  /** The model's description of the operation. */
  readonly description: string;
}

/** A pending operation that could not take effect after the longest prefix. */
export interface StuckOperation extends ExplainedOperation {
  /**
   * True for the operation whose response ended the search: it returned, so
   * it must have taken effect by then, and no order allowed it.
   */
  readonly blocking: boolean;
  /**
   * Whether the model accepts it right after the prefix. When true, it was
   * tried there and every continuation failed.
   */
  readonly legalAfterPrefix: boolean;
}

/** Why a partition is not linearizable. */
export interface Explanation {
  /** The partition's key. */
  readonly key: string;
  /** Number of operations in the partition. */
  readonly operations: number;
  /** The longest linearizable prefix found, in linearization order. */
  readonly prefix: readonly ExplainedOperation[];
  /** The model state after `prefix`, described. */
  readonly state: string;
  /**
   * The operations pending after `prefix` (called before the blocking one
   * returned), the blocking one first, then by call time.
   */
  readonly stuck: readonly StuckOperation[];
}

/** The result for one partition. */
export interface PartitionReport {
  /** The partition's key. */
  readonly key: string;
  /** Its verdict. */
  readonly result: CheckResult;
  /** Number of operations in the partition. */
  readonly operations: number;
  /** Search steps spent on it. */
  readonly steps: number;
  /** Present when `result` is `"illegal"`. */
  readonly explanation?: Explanation;
}

/** The result of {@linkcode checkOperations}. */
export interface CheckReport {
  /** `"illegal"` if any partition is; else `"unknown"` if any is; else `"ok"`. */
  readonly result: CheckResult;
  /** One report per partition, in the model's partition order. */
  readonly partitions: readonly PartitionReport[];
  /** Search steps over all partitions. */
  readonly steps: number;
  /** The first illegal partition's explanation, when there is one. */
  readonly explanation?: Explanation;
}

/** Options of {@linkcode checkOperations}. */
export interface CheckOptions {
  /**
   * Search steps allowed per partition (one step tries one operation,
   * backtracks once, or compares with one cache entry); past it the
   * partition is `"unknown"`. The last step may overshoot by a few.
   * @default 10_000_000
   */
  readonly stepsMax?: number;
  /**
   * Wall-clock time allowed for the whole check, in milliseconds; past it the
   * current and remaining partitions are `"unknown"`.
   * @default Infinity
   */
  readonly timeoutMs?: number;
  /**
   * Memory allowed for each search's cache, in (approximate) bytes (a
   * partition with indeterminate operations runs two searches); past it the
   * exact search stops caching new states and the relaxed one stops.
   * @default 268_435_456 (256 MiB)
   */
  readonly cacheBytesMax?: number;
  /**
   * The clock for `timeoutMs`, in milliseconds.
   * @default performance.now
   */
  readonly now?: () => number;
}

/** Thrown by {@linkcode assertLinearizable}; `code` is the verdict. */
export class LinearizabilityError extends Error {
  /** `"illegal"` or `"unknown"`. */
  readonly code: "illegal" | "unknown";
  /** The full report. */
  readonly report: CheckReport;

  /**
   * Builds the error for a failed check.
   *
   * @param report A report whose result is not `"ok"`.
   */
  constructor(report: CheckReport) {
    const code = report.result === "illegal" ? "illegal" : "unknown";
    super(
      code === "illegal" && report.explanation !== undefined
        ? `History is not linearizable\n${formatExplanation(report.explanation)}`
        : `Cannot decide linearizability: budget exhausted (${report.steps} steps)`,
    );
    this.name = "LinearizabilityError";
    this.code = code;
    this.report = report;
  }
}

const stepsMaxDefault = 10_000_000;
const cacheBytesMaxDefault = 256 * 1024 * 1024;
/** The first slice of steps when two searches alternate. */
const sliceStepsMin = 10_000;

/**
 * Checks whether a history is linearizable with respect to a model.
 *
 * @param model The sequential specification.
 * @param history The recorded operations, in any order.
 * @param options Budgets; see {@linkcode CheckOptions}.
 * @returns The verdict, per partition and overall, with an explanation for
 *   an illegal partition.
 * @throws {RangeError} When an operation's times are not numbers with
 *   `call <= return`, or an option is out of range.
 * @throws {TypeError} When the model's `partition` returns an operation that
 *   is not in `history`.
 *
 * @example A concurrent read may see either value
 * ```ts
 * import { checkOperations, kvModel, type KvOperation } from "@raft-ts/raft/testing";
 *
 * const history: KvOperation[] = [
 *   { clientId: 1, call: 0, return: 10, input: { op: "put", key: "x", value: "a" }, output: { ok: true } },
 *   { clientId: 2, call: 5, return: 8, input: { op: "get", key: "x" }, output: { value: null } },
 * ];
 * if (checkOperations(kvModel, history).result !== "ok") throw new Error("unreachable");
 * ```
 */
export function checkOperations<State, Input, Output>(
  model: Model<State, Input, Output>,
  history: readonly Operation<Input, Output>[],
  options: CheckOptions = {},
): CheckReport {
  const stepsMax = options.stepsMax ?? stepsMaxDefault;
  if (!(stepsMax >= 0) || (!Number.isSafeInteger(stepsMax) && stepsMax !== Infinity)) {
    throw new RangeError(
      `Cannot check history as 'stepsMax' must be a natural number or Infinity: ${stepsMax}`,
    );
  }
  const timeoutMs = options.timeoutMs ?? Infinity;
  if (!(timeoutMs >= 0)) {
    throw new RangeError(`Cannot check history as 'timeoutMs' must not be negative: ${timeoutMs}`);
  }
  const cacheBytesMax = options.cacheBytesMax ?? cacheBytesMaxDefault;
  if (!(cacheBytesMax >= 0)) {
    throw new RangeError(
      `Cannot check history as 'cacheBytesMax' must not be negative: ${cacheBytesMax}`,
    );
  }
  const now = options.now ?? (() => performance.now());

  const indexOf = new Map<Operation<Input, Output>, number>();
  for (let i = 0; i < history.length; i++) {
    const op = history[i]!;
    validateTimes(op, i);
    if (!indexOf.has(op)) indexOf.set(op, i);
  }

  const partitions = model.partition !== undefined
    ? model.partition(history)
    : [{ key: "", operations: history }];
  const deadline = timeoutMs === Infinity ? Infinity : now() + timeoutMs;
  const limits: Limits = { stepsMax, deadline, now, cacheWordsMax: cacheBytesMax / 4 };

  const reports: PartitionReport[] = [];
  let steps = 0;
  let explanation: Explanation | undefined;
  let anyIllegal = false;
  let anyUnknown = false;
  for (const part of partitions) {
    const report = now() > deadline
      ? { key: part.key, result: "unknown" as const, operations: part.operations.length, steps: 0 }
      : checkPartition(model, part, indexOf, limits);
    reports.push(report);
    steps += report.steps;
    if (report.result === "illegal") {
      anyIllegal = true;
      explanation ??= report.explanation;
    } else if (report.result === "unknown") {
      anyUnknown = true;
    }
  }
  const result: CheckResult = anyIllegal ? "illegal" : anyUnknown ? "unknown" : "ok";
  return explanation === undefined
    ? { result, partitions: reports, steps }
    : { result, partitions: reports, steps, explanation };
}

/**
 * Like {@linkcode checkOperations}, but throws unless the history is
 * linearizable.
 *
 * @param model The sequential specification.
 * @param history The recorded operations.
 * @param options Budgets; see {@linkcode CheckOptions}.
 * @returns The (ok) report.
 * @throws {LinearizabilityError} With code `"illegal"` (and the formatted
 *   explanation as message) or `"unknown"`.
 *
 * @example Fail a simulation run on a stale read
 * ```ts
 * import { assertLinearizable, kvModel } from "@raft-ts/raft/testing";
 *
 * assertLinearizable(kvModel, [
 *   { clientId: 1, call: 0, return: 1, input: { op: "put", key: "k", value: "v" }, output: { ok: true } },
 * ]);
 * ```
 */
export function assertLinearizable<State, Input, Output>(
  model: Model<State, Input, Output>,
  history: readonly Operation<Input, Output>[],
  options: CheckOptions = {},
): CheckReport {
  const report = checkOperations(model, history, options);
  if (report.result !== "ok") throw new LinearizabilityError(report);
  return report;
}

/** Options of {@linkcode formatExplanation}. */
export interface FormatOptions {
  /**
   * How many operations at the end of the prefix to print; earlier ones are
   * summarized in one line.
   * @default 10
   */
  readonly prefixOperationsMax?: number;
}

/**
 * Renders an explanation as indented text, one operation per line.
 *
 * @param explanation From an illegal {@linkcode CheckReport}.
 * @param options What to print; see {@linkcode FormatOptions}.
 * @returns Multi-line text without a trailing newline.
 *
 * @example Print why a history is illegal
 * ```ts
 * import { checkOperations, formatExplanation, kvModel } from "@raft-ts/raft/testing";
 *
 * const report = checkOperations(kvModel, [
 *   { clientId: 1, call: 0, return: 1, input: { op: "get", key: "k" }, output: { value: "never" } },
 * ]);
 * const text = formatExplanation(report.explanation!);
 * if (!text.includes("#0")) throw new Error("unreachable");
 * ```
 */
export function formatExplanation(explanation: Explanation, options: FormatOptions = {}): string {
  const shownMax = options.prefixOperationsMax ?? 10;
  const e = explanation;
  const lines: string[] = [];
  const key = e.key === "" ? "history" : `partition ${JSON.stringify(e.key)}`;
  lines.push(`${key} (${e.operations} operations) is not linearizable`);
  lines.push(
    `longest linearizable prefix: ${e.prefix.length} of ${e.operations} operations, ` +
      `leaving state ${e.state}`,
  );
  const hidden = Math.max(0, e.prefix.length - shownMax);
  if (hidden > 0) lines.push(`  ... ${hidden} earlier operations`);
  for (let i = hidden; i < e.prefix.length; i++) {
    lines.push(`  ${formatOperation(e.prefix[i]!)}`);
  }
  lines.push("then no pending operation can take effect:");
  for (const s of e.stuck) {
    const why = s.legalAfterPrefix
      ? "legal here, but every continuation fails"
      : "illegal in this state";
    const must = s.blocking ? `returned at ${s.return} without taking effect; ` : "";
    lines.push(`  ${formatOperation(s)}  <- ${must}${why}`);
  }
  return lines.join("\n");
}

function formatOperation(o: ExplainedOperation): string {
  const ret = o.return === Infinity ? "∞" : String(o.return);
  return `#${o.index} client ${o.clientId} [${o.call}, ${ret}] ${o.description}`;
}

function validateTimes(op: Operation<unknown, unknown>, i: number): void {
  if (typeof op.call !== "number" || !Number.isFinite(op.call)) {
    throw new RangeError(
      `Cannot check history as operation ${i} must have a finite 'call' time: ${op.call}`,
    );
  }
  const ret = op.return;
  if (ret === undefined) return;
  if (typeof ret !== "number" || Number.isNaN(ret) || ret < op.call) {
    throw new RangeError(
      `Cannot check history as operation ${i} must return at or after its call: ` +
        `call ${op.call}, return ${ret}`,
    );
  }
}

function prepare<State, Input, Output>(
  model: Model<State, Input, Output>,
  part: Partition<Input, Output>,
  indexOf: ReadonlyMap<Operation<Input, Output>, number>,
): Prepared<Input, Output> {
  const source = part.operations;
  const n = source.length;
  const originalIndex = new Array<number>(n);
  for (let k = 0; k < n; k++) {
    const index = indexOf.get(source[k]!);
    if (index === undefined) {
      throw new TypeError(
        `Cannot check partition ${JSON.stringify(part.key)}: ` +
          `its operation ${k} is not in the history`,
      );
    }
    originalIndex[k] = index;
  }
  const isIndeterminate = (k: number): boolean => (source[k]!.return ?? Infinity) === Infinity;
  const byId = Array.from({ length: n }, (_, k) => k).sort((a, b) =>
    Number(isIndeterminate(a)) - Number(isIndeterminate(b)) ||
    source[a]!.call - source[b]!.call || originalIndex[a]! - originalIndex[b]!
  );
  const ops = byId.map((k) => source[k]!);
  const determinateCount = byId.filter((k) => !isIndeterminate(k)).length;
  const returns = new Float64Array(n);
  const outputs: (Output | undefined)[] = new Array(n);
  for (let id = 0; id < n; id++) {
    const op = ops[id]!;
    returns[id] = id < determinateCount ? op.return! : Infinity;
    outputs[id] = id < determinateCount ? op.output : undefined;
  }
  const timeOf = (e: number): number => (e & 1) === 0 ? ops[e >> 1]!.call : returns[e >> 1]!;
  const events = Int32Array.from({ length: 2 * n }, (_, e) => e).sort((a, b) => {
    const ta = timeOf(a);
    const tb = timeOf(b);
    if (ta !== tb) return ta < tb ? -1 : 1;
    if ((a & 1) !== (b & 1)) return (a & 1) - (b & 1);
    return a - b;
  });
  const readOnly = new Uint8Array(n);
  if (model.isReadOnly !== undefined) {
    for (let id = 0; id < determinateCount; id++) {
      readOnly[id] = model.isReadOnly(ops[id]!.input, outputs[id]) ? 1 : 0;
    }
  }
  return {
    n,
    determinateCount,
    readOnly,
    ops,
    indices: byId.map((k) => originalIndex[k]!),
    returns,
    outputs,
    events,
  };
}

/**
 * Checks one partition. Without indeterminate operations this is one exact
 * search. With them, the exact search alternates with a relaxed one, in
 * which indeterminate operations may take effect any number of times. The
 * relaxed search over-approximates the possible behaviours, so when even it
 * fails the partition is illegal; it does not have to try every subset of
 * the indeterminate operations, which the exact search may need to do to
 * refute, say, a read of a value never written. Only the exact search can
 * accept.
 */
function checkPartition<State, Input, Output>(
  model: Model<State, Input, Output>,
  part: Partition<Input, Output>,
  indexOf: ReadonlyMap<Operation<Input, Output>, number>,
  limits: Limits,
): PartitionReport {
  const key = part.key;
  const p = prepare(model, part, indexOf);
  if (p.n === 0) return { key, result: "ok", operations: 0, steps: 0 };

  const exact: Search<State> = new LoweSearch(model, p, limits, false);
  let relaxed: Search<State> | undefined = p.determinateCount < p.n
    ? new LoweSearch(model, p, limits, true)
    : undefined;
  let spent = 0;
  let verdict: CheckResult = "unknown";
  let deadEnd: DeadEnd<State> | undefined;
  // Alternate, with doubling slices, so the total is at most about twice
  // what the better search alone needs.
  for (let slice = sliceStepsMin; spent < limits.stepsMax && verdict === "unknown"; slice *= 2) {
    const before = exact.steps();
    verdict = exact.run(Math.min(slice, limits.stepsMax - spent));
    spent += exact.steps() - before;
    deadEnd = exact.deadEnd();
    if (limits.now() > limits.deadline) break;
    if (verdict !== "unknown" || relaxed === undefined || spent >= limits.stepsMax) continue;
    const relaxedBefore = relaxed.steps();
    const r = relaxed.run(Math.min(slice, limits.stepsMax - spent));
    spent += relaxed.steps() - relaxedBefore;
    if (r === "illegal") {
      verdict = "illegal";
      deadEnd = relaxed.deadEnd();
    } else if (r === "ok" || relaxed.exhausted()) {
      // It cannot refute anything any more.
      relaxed = undefined;
    }
  }
  if (verdict !== "illegal") return { key, result: verdict, operations: p.n, steps: spent };
  assert(deadEnd !== undefined, "an illegal verdict without a recorded dead end");
  return {
    key,
    result: "illegal",
    operations: p.n,
    steps: spent,
    explanation: explain(model, p, key, deadEnd),
  };
}

function explain<State, Input, Output>(
  model: Model<State, Input, Output>,
  p: Prepared<Input, Output>,
  key: string,
  end: DeadEnd<State>,
): Explanation {
  const describe = (id: number): ExplainedOperation => {
    const op = p.ops[id]!;
    return {
      index: p.indices[id]!,
      clientId: op.clientId,
      call: op.call,
      return: p.returns[id]!,
      description: model.describeOperation(op.input, p.outputs[id]),
    };
  };
  const stuckIds = [end.blocking, ...end.candidates.filter((c) => c !== end.blocking)];
  return {
    key,
    operations: p.n,
    prefix: end.prefix.map(describe),
    state: model.describeState !== undefined
      ? model.describeState(end.state)
      : String(JSON.stringify(end.state)),
    stuck: stuckIds.map((id) => ({
      ...describe(id),
      blocking: id === end.blocking,
      legalAfterPrefix: model.step(end.state, p.ops[id]!.input, p.outputs[id]).ok,
    })),
  };
}
