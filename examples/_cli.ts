/**
 * The command line of the examples: a flag table that both `parseArgs` of
 * `node:util` and `--help` read, and one-line failures with an exit status
 * (2: bad configuration, 1: a problem of the environment).
 *
 * @module
 */

import process from "node:process";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

/** One flag of a program. */
export interface FlagSpec {
  /** A string value or a switch. */
  type: "string" | "boolean";
  /** What the value looks like in `--help` (`N`, `host:port`, ...). */
  value?: string;
  /** The environment variable read when the flag is not given. */
  env?: string;
  /** One line of help. */
  help: string;
}

/** A program's flags, by name without the dashes. */
export type FlagTable = Record<string, FlagSpec>;

/** What the command line gave, by flag name. */
export type FlagValues<T extends FlagTable> = {
  [K in keyof T]?: T[K]["type"] extends "boolean" ? boolean : string;
};

/**
 * A failure that ends a program with one line and an exit status: 2 for
 * bad configuration (a flag, a variable, a file a flag names), 1 for a
 * problem of the environment (a port in use, a locked database, a disk).
 */
export class CliError extends Error {
  /** The process's exit status. */
  readonly exitCode: 1 | 2;

  /**
   * Creates the error.
   *
   * @param exitCode 2 for bad configuration, 1 for the environment.
   * @param message One line.
   * @param options The underlying error.
   */
  constructor(exitCode: 1 | 2, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}

/** The first line of what `parseArgs` threw, with the flag it names. */
function argsError(e: unknown): CliError {
  const text = (e instanceof Error ? e.message : String(e)).split("\n")[0]!;
  const code = (e as { code?: unknown }).code;
  const flag = /'(-[^' ]+)/.exec(text)?.[1];
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && flag !== undefined) {
    return new CliError(2, `Cannot start: unknown flag '${flag}' (--help lists the flags)`);
  }
  if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
    return new CliError(2, `Cannot start: ${text.replace(/\. .*$/, "")} (flags only; see --help)`);
  }
  if (flag !== undefined && /argument missing/.test(text)) {
    return new CliError(2, `Cannot use ${flag}: it needs a value (see --help)`);
  }
  if (flag !== undefined && /does not take an argument/.test(text)) {
    return new CliError(2, `Cannot use ${flag}: it takes no value (see --help)`);
  }
  if (flag !== undefined && /ambiguous/.test(text)) {
    return new CliError(
      2,
      `Cannot use ${flag}: a value starting with '-' is written ${flag}=VALUE`,
    );
  }
  return new CliError(2, `Cannot start: ${text.replace(/\.$/, "")} (see --help)`);
}

/**
 * Parses the command line against a flag table (strict: unknown flags and
 * positional arguments are refused).
 *
 * @param args The arguments, without the program.
 * @param table The flags.
 * @returns The flags given.
 * @throws {CliError} With exit status 2, naming the flag.
 */
export function parseFlags<T extends FlagTable>(
  args: readonly string[],
  table: T,
): FlagValues<T> {
  const options: Record<string, { type: "string" | "boolean" }> = {};
  for (const [name, spec] of Object.entries(table)) options[name] = { type: spec.type };
  try {
    return parseArgs({ args: [...args], strict: true, allowPositionals: false, options })
      .values as FlagValues<T>;
  } catch (e) {
    throw argsError(e);
  }
}

/**
 * A reader of string flags: the command line's value, else the flag's
 * environment variable.
 *
 * @param values What the command line gave.
 * @param table The flags.
 * @param env The environment.
 * @returns The reader.
 */
export function flagReader<T extends FlagTable>(
  values: FlagValues<T>,
  table: T,
  env: Record<string, string | undefined>,
): (flag: keyof T & string) => string | undefined {
  return (flag) => {
    const v = values[flag];
    const name = table[flag]!.env;
    return typeof v === "string" ? v : name === undefined ? undefined : env[name];
  };
}

/**
 * The `--help` text: a usage line, the flag table, then notes.
 *
 * @param usage The usage line.
 * @param table The flags.
 * @param notes Lines after the table.
 * @returns The text, ending with a newline.
 */
export function helpText(usage: string, table: FlagTable, notes: readonly string[] = []): string {
  const rows = Object.entries(table).map(([name, s]) => [
    `--${name}${s.value === undefined ? "" : ` ${s.value}`}`,
    s.env ?? "",
    s.help,
  ]);
  const w0 = Math.max(...rows.map((r) => r[0]!.length));
  const w1 = Math.max(...rows.map((r) => r[1]!.length));
  const lines = rows.map(([a, b, c]) => `  ${a!.padEnd(w0)}  ${b!.padEnd(w1)}  ${c}`.trimEnd());
  const title = rows.some((r) => r[1] !== "") ? "Flags (or environment variables):" : "Flags:";
  return [`Usage: ${usage}`, "", title, ...lines, "", ...notes]
    .join("\n").trimEnd() + "\n";
}

/**
 * Ends the process after a startup failure: one line on stderr, no stack
 * trace, exit status 2 for a {@linkcode CliError} of configuration, 1 for
 * anything else.
 *
 * @param e What was thrown.
 * @param prefix What starts the line (the program's name).
 */
export function exitOnStartupError(e: unknown, prefix: string): never {
  const line = e instanceof Error ? e.message.split("\n")[0]! : String(e);
  console.error(`${prefix}${line}`);
  process.exit(e instanceof CliError ? e.exitCode : 1);
}

/** Whether this module is the program being run (`import.meta.main`, or Node's argv). */
export function isMainModule(meta: ImportMeta): boolean {
  const main = (meta as { main?: boolean }).main;
  if (main !== undefined) return main;
  const argv1 = process.argv[1];
  return argv1 !== undefined && pathToFileURL(argv1).href === meta.url;
}
