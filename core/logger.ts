/**
 * The levelled logger Raft writes through, shaped after etcd raft's
 * `Logger`. Messages arrive fully formatted. The default logger is quiet.
 *
 * @module
 */

/** A levelled logger. `fatal` and `panic` must not return normally. */
export interface Logger {
  /** Logs a debug line. */
  debug(msg: string): void;
  /** Logs an info line. */
  info(msg: string): void;
  /** Logs a warning. */
  warning(msg: string): void;
  /** Logs an error. */
  error(msg: string): void;
  /** Logs a fatal error. Raft throws right after calling it. */
  fatal(msg: string): void;
  /** Logs a broken invariant. Raft throws right after calling it. */
  panic(msg: string): void;
}

/** A logger that prints nothing. The default. */
export const discardLogger: Logger = {
  debug(): void {},
  info(): void {},
  warning(): void {},
  error(): void {},
  fatal(): void {},
  panic(): void {},
};

/**
 * A logger that writes through another, each line starting with a prefix
 * (a host names each group's lines this way).
 *
 * @param logger Where lines go.
 * @param prefix What starts each line, such as `"[group 7] "`.
 * @returns The prefixing logger (`logger` itself when it is `discardLogger`).
 *
 * @example One group's lines
 * ```ts
 * import { type Logger, prefixedLogger } from "@raft-ts/raft";
 * const lines: string[] = [];
 * const sink: Logger = {
 *   debug: (m) => lines.push(m), info: (m) => lines.push(m), warning: (m) => lines.push(m),
 *   error: (m) => lines.push(m), fatal: (m) => lines.push(m), panic: (m) => lines.push(m),
 * };
 * prefixedLogger(sink, "[group 7] ").info("became leader");
 * if (lines[0] !== "[group 7] became leader") throw new Error("unexpected");
 * ```
 */
export function prefixedLogger(logger: Logger, prefix: string): Logger {
  if (logger === discardLogger) return logger;
  return {
    debug: (m) => logger.debug(prefix + m),
    info: (m) => logger.info(prefix + m),
    warning: (m) => logger.warning(prefix + m),
    error: (m) => logger.error(prefix + m),
    fatal: (m) => logger.fatal(prefix + m),
    panic: (m) => logger.panic(prefix + m),
  };
}
