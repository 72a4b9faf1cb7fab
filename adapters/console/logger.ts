/**
 * A {@linkcode Logger} that writes one line per event to the console, for
 * servers. It lives outside core/ (which never touches the console) and is
 * exported from the package root, beside `discardLogger`: `console` is a
 * standard global on every runtime, so it needs no runtime adapter.
 *
 * @module
 */

import type { Logger } from "../../core/logger.ts";

/** The levels of {@linkcode consoleLogger}, quietest last, as etcd's. */
export type LogLevel = "debug" | "info" | "warning" | "error";

const levelRanks: Record<LogLevel, number> = { debug: 0, info: 1, warning: 2, error: 3 };

/** Options of {@linkcode consoleLogger}. */
export interface ConsoleLoggerOptions {
  /**
   * Text written between the level and the message, such as `[node 1]`.
   * @default {""}
   */
  prefix?: string;
  /**
   * Whether to colour the level. By default only when the lines go to the
   * console, standard error is a terminal and `NO_COLOR` is not set.
   */
  color?: boolean;
  /**
   * Where each line goes.
   * @default {console.error}
   */
  write?: (line: string) => void;
  /**
   * The clock the timestamps come from.
   * @default {() => new Date()}
   */
  now?: () => Date;
}

interface DenoLike {
  stderr?: { isTerminal?(): boolean };
  env?: { get(name: string): string | undefined };
}

interface ProcessLike {
  stderr?: { isTTY?: boolean };
  env?: Record<string, string | undefined>;
}

/** Whether standard error is a terminal that takes colours, on Deno, Bun or Node. */
function stderrTakesColor(): boolean {
  try {
    const deno = (globalThis as { Deno?: DenoLike }).Deno;
    if (deno !== undefined) {
      return deno.stderr?.isTerminal?.() === true && deno.env?.get("NO_COLOR") === undefined;
    }
    const proc = (globalThis as { process?: ProcessLike }).process;
    return proc?.stderr?.isTTY === true && proc.env?.NO_COLOR === undefined;
  } catch {
    // Without permission to read the environment, no colours.
    return false;
  }
}

const colors: Record<string, string> = {
  DEBUG: "\x1b[90m",
  INFO: "\x1b[36m",
  WARN: "\x1b[33m",
  ERROR: "\x1b[31m",
  FATAL: "\x1b[1;31m",
  PANIC: "\x1b[1;31m",
};

/**
 * Creates a logger that writes each event as one line,
 * `<ISO timestamp> <LEVEL> [prefix] <message>`, to standard error. Lines
 * below `level` are dropped; `fatal` and `panic` are always written. A
 * message's line breaks are written as `\n`, so an event never spans lines.
 * Colours appear only on a terminal (see {@linkcode ConsoleLoggerOptions}).
 *
 * @param level The quietest level written: `"debug"`, `"info"`,
 *   `"warning"` or `"error"`.
 * @param options A prefix, colours, where lines go, the clock.
 * @returns The logger.
 * @throws {RangeError} When `level` is not one of the four levels.
 *
 * @example A server's logger
 * ```ts
 * import { consoleLogger } from "@raft-ts/raft";
 *
 * const lines: string[] = [];
 * const logger = consoleLogger("info", { prefix: "[node 1]", write: (l) => lines.push(l) });
 * logger.debug("not written");
 * logger.warning("peer 2 is unreachable");
 * if (lines.length !== 1) throw new Error("unexpected");
 * if (!/^\d{4}-\d\d-\d\dT[\d:.]+Z WARN \[node 1\] peer 2 is unreachable$/.test(lines[0]!)) {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export function consoleLogger(
  level: LogLevel = "info",
  options: ConsoleLoggerOptions = {},
): Logger {
  if (!Object.hasOwn(levelRanks, level)) {
    throw new RangeError(
      `Cannot create consoleLogger as 'level' must be one of debug, info, warning, error: current value '${
        String(level)
      }'`,
    );
  }
  const rank = levelRanks[level];
  const write = options.write ?? ((line: string): void => console.error(line));
  const color = options.color ?? (options.write === undefined && stderrTakesColor());
  const now = options.now ?? ((): Date => new Date());
  const prefix = options.prefix === undefined || options.prefix === "" ? "" : `${options.prefix} `;
  const line = (minRank: number, tag: string) => (msg: string): void => {
    if (minRank < rank) return;
    const shown = color ? `${colors[tag]}${tag}\x1b[0m` : tag;
    write(`${now().toISOString()} ${shown} ${prefix}${msg.replaceAll("\n", "\\n")}`);
  };
  return {
    debug: line(0, "DEBUG"),
    info: line(1, "INFO"),
    warning: line(2, "WARN"),
    error: line(3, "ERROR"),
    fatal: line(Infinity, "FATAL"),
    panic: line(Infinity, "PANIC"),
  };
}
