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
