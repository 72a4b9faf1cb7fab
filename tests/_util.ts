/**
 * Small helpers shared by the unit tests beside core/ and by the harnesses
 * under tests/: a recording Logger, entry (index, term) pairs, and a seeded
 * generator with Go's `rand.Intn`/`rand.Perm` shape, the storage
 * checks registered as tests, and a state machine that logs its
 * commands. Not published.
 *
 * @module
 */

import { test } from "node:test";
import type { Logger } from "../core/logger.ts";
import { newRand, randomIntN } from "../core/rand.ts";
import type { Entry } from "../core/types.ts";
import type { NodeStorage, StateMachine } from "../core/node.ts";
import { forwardStorage } from "../core/node/seams.ts";
import {
  checkNodeStorage,
  nodeStorageChecks,
  type NodeStorageFactory,
} from "../testing/storage_check.ts";

/** A Logger that keeps every line it is given, as `"<LEVEL> <message>"`. */
export interface RecordingLogger extends Logger {
  /** The lines logged so far, oldest first. */
  readonly lines: string[];
}

/**
 * Creates a Logger that records every line, prefixed with its level
 * (`DEBUG`, `INFO`, `WARN`, `ERROR`, `FATAL`, `PANIC`).
 *
 * @param lines Where to record the lines; a new array by default.
 * @returns The logger, with the array as its `lines`.
 *
 * @example Usage
 * ```ts
 * import { recordingLogger } from "./_util.ts";
 * const l = recordingLogger();
 * l.warning("careful");
 * if (l.lines[0] !== "WARN careful") throw new Error("unexpected");
 * ```
 */
export function recordingLogger(lines: string[] = []): RecordingLogger {
  const rec = (lvl: string) => (msg: string): void => {
    lines.push(`${lvl} ${msg}`);
  };
  return {
    lines,
    debug: rec("DEBUG"),
    info: rec("INFO"),
    warning: rec("WARN"),
    error: rec("ERROR"),
    fatal: rec("FATAL"),
    panic: rec("PANIC"),
  };
}

/**
 * The `[index, term]` pair of each entry, for compact assertions.
 *
 * @param es The entries.
 * @returns One pair per entry, in order.
 */
export function entryIds(es: readonly Entry[]): Array<[number, number]> {
  return es.map((e) => [e.index, e.term]);
}

/** A seeded generator with the shape of Go's `math/rand` helpers. */
export interface TestRand {
  /** A uniformly distributed integer in `[0, n)`; `n` must be positive. */
  intn(n: number): number;
  /** A random permutation of `0, 1, ..., n-1`. */
  perm(n: number): number[];
}

/**
 * Creates a {@linkcode TestRand} over {@linkcode newRand}, so randomized
 * tests replay exactly from their seed.
 *
 * @param seed The seed.
 * @returns The generator.
 */
export function newTestRand(seed: number): TestRand {
  const next = newRand(seed);
  const intn = (n: number): number => randomIntN(next, n);
  return {
    intn,
    perm(n: number): number[] {
      const p = Array.from({ length: n }, (_, i) => i);
      for (let i = n - 1; i > 0; i--) {
        const j = intn(i + 1);
        [p[i], p[j]] = [p[j]!, p[i]!];
      }
      return p;
    },
  };
}

/**
 * Runs `fn` on a resource (a cluster, a server) and closes the resource
 * afterwards, whatever `fn` does.
 *
 * @param resource What to use and close.
 * @param fn What to do with it.
 * @returns What `fn` returns.
 */
export async function closing<T extends { close(): unknown }, R>(
  resource: T,
  fn: (r: T) => Promise<R>,
): Promise<R> {
  try {
    return await fn(resource);
  } finally {
    await resource.close();
  }
}

/**
 * Registers one test per check of `checkNodeStorage` (a crash check passes
 * as skipped when the instance cannot crash).
 *
 * @param label The storage's name, which starts each test's name.
 * @param factory Creates the storages under test.
 * @param checks The checks to register; all by default.
 */
export function storageChecks(
  label: string,
  factory: NodeStorageFactory,
  checks: readonly string[] = nodeStorageChecks,
): void {
  for (const check of checks) {
    test(`${label} ${check}`, { timeout: 60_000 }, async () => {
      await checkNodeStorage(factory, { checks: [check] });
    });
  }
}

/**
 * A NodeStorage that forwards to `s`, with some methods replaced (to plant
 * a storage bug).
 *
 * @param s The storage to forward to.
 * @param replace The methods to replace.
 * @returns The wrapper.
 */
export function wrapStorage(s: NodeStorage, replace: Partial<NodeStorage>): NodeStorage {
  return forwardStorage(s, replace);
}

/**
 * A state machine that appends each command's data, decoded as UTF-8, to
 * `log`; a command's result is its position in the log (from 1).
 *
 * @param log Where the commands go.
 * @returns The state machine (its snapshot is the log as JSON).
 */
export function logMachine(log: string[]): StateMachine<number> {
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  return {
    apply: (cmds) => cmds.map((c) => log.push(dec.decode(c.data))),
    snapshot: () => enc.encode(JSON.stringify(log)),
    restore: (data) => {
      log.splice(0, log.length, ...JSON.parse(dec.decode(data)));
    },
  };
}
