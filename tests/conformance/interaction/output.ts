/**
 * The interaction environment's output buffer, which is also the logger of
 * every Raft node in the environment (HARNESS.md §3.1), and the indent
 * helper (§3.2).
 *
 * @module
 */

import type { Logger } from "../../../core/logger.ts";

/** Level names by number; `NONE` (5) silences everything, harness text included. */
export const levelNames: readonly string[] = ["DEBUG", "INFO", "WARN", "ERROR", "FATAL", "NONE"];

/** The numeric level of `NONE`. */
export const levelNone = 5;

/**
 * Finds a level by name, ignoring case.
 *
 * @param name A level name such as `info` or `NONE`.
 * @returns The level's number, or `undefined` for an unknown name.
 */
export function parseLevel(name: string): number | undefined {
  const upper = name.toUpperCase();
  const i = levelNames.indexOf(upper);
  return i < 0 ? undefined : i;
}

/**
 * A text buffer with a level filter that serves as the Raft logger.
 *
 * Log lines at a level below the current one are dropped. At level `NONE`
 * every write is dropped, so that a quiet command prints `ok`.
 */
export class OutputBuffer implements Logger {
  /** The current level: 0 DEBUG .. 5 NONE. Starts at DEBUG. */
  level = 0;
  #buf = "";

  /**
   * Tells whether every write is dropped (level NONE).
   *
   * @returns `true` at level NONE.
   */
  quiet(): boolean {
    return this.level === levelNone;
  }

  /**
   * Appends text, unless quiet.
   *
   * @param s The text.
   */
  write(s: string): void {
    if (this.quiet()) return;
    this.#buf += s;
  }

  /**
   * The text written since the last reset.
   *
   * @returns The buffer's contents.
   */
  toString(): string {
    return this.#buf;
  }

  /**
   * The length of the buffered text.
   *
   * @returns The number of UTF-16 code units buffered.
   */
  get length(): number {
    return this.#buf.length;
  }

  /** Empties the buffer. The level is kept. */
  reset(): void {
    this.#buf = "";
  }

  /**
   * Runs `f` with a fresh buffer, then appends what it wrote to the original
   * buffer, each line indented by two spaces. The captured text is flushed
   * even when `f` throws, and the error is then rethrown.
   *
   * @param f The sub-step. Log lines written by Raft during it are captured too.
   */
  withIndent(f: () => void): void {
    const orig = this.#buf;
    this.#buf = "";
    try {
      f();
    } finally {
      // The original builder is written directly (not through the level
      // filter); under NONE the captured text is empty anyway.
      this.#buf = orig + indentLines(this.#buf);
    }
  }

  #log(level: number, msg: string): void {
    if (this.level > level) return;
    let line = `${levelNames[level]} ${msg}`;
    // etcd appends a newline when the format string does not end in one;
    // only the formatted message is known here, so test that instead.
    if (msg !== "" && !msg.endsWith("\n")) line += "\n";
    this.write(line);
  }

  /**
   * Logs a debug line.
   *
   * @param msg The formatted message.
   */
  debug(msg: string): void {
    this.#log(0, msg);
  }

  /**
   * Logs an info line.
   *
   * @param msg The formatted message.
   */
  info(msg: string): void {
    this.#log(1, msg);
  }

  /**
   * Logs a warning, printed as `WARN`.
   *
   * @param msg The formatted message.
   */
  warning(msg: string): void {
    this.#log(2, msg);
  }

  /**
   * Logs an error.
   *
   * @param msg The formatted message.
   */
  error(msg: string): void {
    this.#log(3, msg);
  }

  /**
   * Logs a fatal error, printed as `FATAL`. The caller throws afterwards.
   *
   * @param msg The formatted message.
   */
  fatal(msg: string): void {
    this.#log(4, msg);
  }

  /**
   * Logs a broken invariant, printed as `FATAL`. The caller throws afterwards.
   *
   * @param msg The formatted message.
   */
  panic(msg: string): void {
    this.#log(4, msg);
  }
}

/**
 * Indents every line of `text` by two spaces, splitting lines the way Go's
 * `bufio.ScanLines` does: a `\r` before `\n` is dropped, a final `\n` adds no
 * empty line, and a last line without `\n` still gets one.
 *
 * @param text The captured text.
 * @returns The indented text; empty for empty input.
 */
export function indentLines(text: string): string {
  if (text === "") return "";
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  let out = "";
  for (const l of lines) {
    out += "  " + (l.endsWith("\r") ? l.slice(0, -1) : l) + "\n";
  }
  return out;
}
