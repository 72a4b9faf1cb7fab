/**
 * Helpers shared by the SQLite storage tests: temporary directories and a
 * connection wrapper that counts the statements run through it.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import process from "node:process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SqliteDatabaseLike, SqliteStatementLike, SqliteValue } from "./_database.ts";
import { SqliteStorageError } from "./_errors.ts";
import { openSqliteDatabase } from "./_open.ts";
import type { SqliteStateMachineDefinition } from "./_state_machine.ts";
import type { Command } from "../../core/node.ts";

/** A temporary directory, removed by `remove()`. */
export interface TempDir {
  /** The directory. */
  dir: string;
  /**
   * A path inside it.
   *
   * @param name The file name.
   * @returns The path.
   */
  file(name: string): string;
  /** Removes the directory and everything in it. */
  remove(): void;
}

/**
 * Creates a temporary directory under the OS's temp dir.
 *
 * @returns The directory.
 */
export function tempDir(): TempDir {
  const dir = mkdtempSync(join(tmpdir(), "raft-sqlite-"));
  return {
    dir,
    file: (name: string): string => join(dir, name),
    remove: (): void => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * Runs `body` with a fresh temporary directory, removed afterwards.
 *
 * @param body What to do with it.
 * @returns What `body` returned.
 */
export async function withTempDir<T>(body: (tmp: TempDir) => Promise<T>): Promise<T> {
  const tmp = tempDir();
  try {
    return await body(tmp);
  } finally {
    tmp.remove();
  }
}

/** Counts of what went through a {@linkcode countingDatabase}. */
export interface QueryCounts {
  /** `get()` and `all()` calls: reads. */
  reads: number;
  /** `run()` calls. */
  runs: number;
  /** `exec()` calls. */
  execs: number;
}

/**
 * Wraps a connection so that its statements are counted; optionally makes
 * the n-th `run()` call throw, to simulate a failing disk.
 *
 * @param db The connection.
 * @returns The wrapper, its counters, and a switch that fails a later `run()`.
 */
export function countingDatabase(db: SqliteDatabaseLike): {
  db: SqliteDatabaseLike;
  counts: QueryCounts;
  failRunAfter(n: number): void;
} {
  const counts: QueryCounts = { reads: 0, runs: 0, execs: 0 };
  let failIn = -1;
  const wrap = (st: SqliteStatementLike): SqliteStatementLike => ({
    run(...params: SqliteValue[]): unknown {
      counts.runs++;
      if (failIn >= 0 && failIn-- === 0) throw new Error("disk I/O error (simulated)");
      return st.run(...params);
    },
    get(...params: SqliteValue[]): unknown {
      counts.reads++;
      return st.get(...params);
    },
    all(...params: SqliteValue[]): unknown[] {
      counts.reads++;
      return st.all(...params);
    },
    finalize(): unknown {
      return st.finalize?.();
    },
  });
  return {
    db: {
      exec(sql: string): unknown {
        counts.execs++;
        return db.exec(sql);
      },
      prepare(sql: string): SqliteStatementLike {
        return wrap(db.prepare(sql));
      },
      close(): unknown {
        return db.close();
      },
    },
    counts,
    failRunAfter(n: number): void {
      failIn = n;
    },
  };
}

/**
 * Runs SQL on a database file through a fresh connection, then closes it.
 *
 * @param path The file.
 * @param body What to do with the connection.
 * @returns What `body` returned.
 */
export async function withRawDatabase<T>(
  path: string,
  body: (db: SqliteDatabaseLike, query: (sql: string, ...p: SqliteValue[]) => unknown[]) => T,
): Promise<T> {
  const db = await openSqliteDatabase(path);
  const stmts: SqliteStatementLike[] = [];
  const query = (sql: string, ...p: SqliteValue[]): unknown[] => {
    const st = db.prepare(sql);
    stmts.push(st);
    return st.all(...p);
  };
  try {
    return body(db, query);
  } finally {
    for (const st of stmts) st.finalize?.();
    db.close();
  }
}

/**
 * A state machine definition for tests: each command inserts a row keyed
 * by its index holding its data, and adds its data's length to a total;
 * a command whose first byte is 0xff throws. `calls` counts `apply` calls
 * and the commands they got.
 */
export function rowsDefinition(): SqliteStateMachineDefinition<number> & {
  calls: { batches: number; commands: number };
} {
  const calls = { batches: 0, commands: 0 };
  return {
    calls,
    tables: ["cmds", "total"],
    setup(db: SqliteDatabaseLike): void {
      db.exec(
        "CREATE TABLE IF NOT EXISTS cmds (idx INTEGER PRIMARY KEY, data BLOB NOT NULL, note TEXT)",
      );
      db.exec(
        "CREATE TABLE IF NOT EXISTS total (id INTEGER PRIMARY KEY, bytes INTEGER NOT NULL) ",
      );
      db.exec("INSERT OR IGNORE INTO total VALUES (1, 0)");
    },
    apply(db: SqliteDatabaseLike, commands: readonly Command[]): number[] {
      calls.batches++;
      calls.commands += commands.length;
      const ins = db.prepare("INSERT INTO cmds (idx, data, note) VALUES (?, ?, ?)");
      const add = db.prepare("UPDATE total SET bytes = bytes + ? WHERE id = 1");
      return commands.map((c) => {
        ins.run(c.index, c.data, c.index % 3 === 0 ? null : `n${c.index}`);
        if (c.data[0] === 0xff) throw new Error(`command ${c.index} refused`);
        add.run(c.data.length);
        return c.index;
      });
    },
  };
}

/**
 * What a {@linkcode rowsDefinition} state machine's tables hold.
 *
 * @param db A connection to the file.
 * @returns The rows' indexes, their bytes, and the total.
 */
export function rowsState(
  db: SqliteDatabaseLike,
): { indexes: number[]; bytes: number; total: number; notes: (string | null)[] } {
  const rows = db.prepare("SELECT idx, data, note FROM cmds ORDER BY idx").all() as {
    idx: number;
    data: Uint8Array;
    note: string | null;
  }[];
  const total = Number(
    (db.prepare("SELECT bytes FROM total WHERE id = 1").get() as { bytes: number }).bytes,
  );
  return {
    indexes: rows.map((r) => Number(r.idx)),
    bytes: rows.reduce((n, r) => n + r.data.length, 0),
    total,
    notes: rows.map((r) => r.note),
  };
}

/**
 * Runs a TypeScript file in a child process on the runtime running the
 * tests (Bun and Node run a .ts file as it is; Deno needs `run`), its
 * stdout and stderr piped.
 *
 * @param file The script.
 * @param args Its arguments.
 * @returns The child.
 */
export function spawnScript(file: string, args: string[]): ChildProcess {
  const argv = (globalThis as { Deno?: unknown }).Deno === undefined
    ? [file, ...args]
    : ["run", "-A", "--no-lock", "--quiet", file, ...args];
  return spawn(process.execPath, argv, { stdio: ["ignore", "pipe", "pipe"] });
}

/**
 * Calls `fn` with each line a child writes to its stdout.
 *
 * @param child The child.
 * @param fn What to do with a line (without its newline).
 */
export function onStdoutLines(child: ChildProcess, fn: (line: string) => void): void {
  let out = "";
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (chunk: string) => {
    out += chunk;
    for (let nl = out.indexOf("\n"); nl >= 0; nl = out.indexOf("\n")) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      fn(line);
    }
  });
}

/** When to kill a crash writer: after it acknowledged some writes, or at a time after its start. */
export type KillPlan = { afterAcks: number; delayMs: number } | { afterStartMs: number };

/** How a crash writer ended. */
export interface KilledChild {
  /** The last write the writer acknowledged (0 for none). */
  lastAck: number;
  /** Whether it printed that it had opened the file. */
  opened: boolean;
  code: number | null;
  signal: string | null;
  /** Its stderr, and any line of its stdout other than `open` and `ack <n>`. */
  stderr: string;
}

/**
 * A check for `assert.throws`/`rejects`: a `SqliteStorageError` of a code,
 * its message matching `re` when given.
 *
 * @param c The code.
 * @param re The message's pattern.
 * @returns The check.
 */
export function storageErrorCode(c: string, re?: RegExp): (e: unknown) => boolean {
  return (e: unknown): boolean => {
    assert.ok(e instanceof SqliteStorageError, String(e));
    assert.equal(e.code, c, e.message);
    if (re !== undefined) assert.match(e.message, re);
    return true;
  };
}

/**
 * Asserts that a crash writer ended by the kill, having reported no errors.
 *
 * @param r How it ended.
 * @param label The run, for messages.
 */
export function assertKilled(r: KilledChild, label: string): void {
  assert.equal(
    r.signal,
    "SIGKILL",
    `${label}: the writer was not killed: exit ${r.code}\n${r.stderr}`,
  );
  assert.equal(r.stderr, "", `${label}: the writer reported errors`);
}

/**
 * Runs a crash writer (a script that prints `open`, then `ack <n>` after
 * its n-th durable write) and kills it with SIGKILL as planned; one that
 * stops making progress is killed after 30 s.
 *
 * @param script The script.
 * @param args Its arguments.
 * @param plan When to kill it.
 * @returns How it ended.
 */
export function runUntilKilled(
  script: string,
  args: string[],
  plan: KillPlan,
): Promise<KilledChild> {
  return new Promise((resolve, reject) => {
    const child = spawnScript(script, args);
    let stderr = "";
    let lastAck = 0;
    let opened = false;
    let killTimer: ReturnType<typeof setTimeout> | undefined;
    const kill = (): void => {
      child.kill("SIGKILL");
    };
    const killIn = (ms: number): void => {
      if (killTimer === undefined) killTimer = setTimeout(kill, ms);
    };
    // A writer that stops making progress fails the test instead of hanging it.
    const watchdog = setTimeout(kill, 30_000);
    if ("afterStartMs" in plan) killIn(plan.afterStartMs);
    onStdoutLines(child, (line) => {
      if (line === "open") opened = true;
      else if (line.startsWith("ack ")) lastAck = Number(line.slice(4));
      else stderr += `unexpected output: ${line}\n`;
      if ("afterAcks" in plan && opened && lastAck >= plan.afterAcks) killIn(plan.delayMs);
    });
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (chunk: string) => {
      stderr += chunk;
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(killTimer);
      clearTimeout(watchdog);
      resolve({ lastAck, opened, code, signal, stderr });
    });
  });
}
