import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { consoleLogger, type LogLevel } from "./logger.ts";

const at = new Date("2026-01-02T03:04:05.678Z");

function capture(
  level: LogLevel,
  color = false,
): { lines: string[]; log: ReturnType<typeof consoleLogger> } {
  const lines: string[] = [];
  const log = consoleLogger(level, { write: (l) => lines.push(l), now: () => at, color });
  return { lines, log };
}

function writeAll(log: ReturnType<typeof consoleLogger>): void {
  log.debug("d");
  log.info("i");
  log.warning("w");
  log.error("e");
  log.fatal("f");
  log.panic("p");
}

test("consoleLogger() writes the events at or above its level, fatal and panic always", () => {
  const cases: [LogLevel, string[]][] = [
    ["debug", ["DEBUG", "INFO", "WARN", "ERROR", "FATAL", "PANIC"]],
    ["info", ["INFO", "WARN", "ERROR", "FATAL", "PANIC"]],
    ["warning", ["WARN", "ERROR", "FATAL", "PANIC"]],
    ["error", ["ERROR", "FATAL", "PANIC"]],
  ];
  for (const [level, tags] of cases) {
    const { lines, log } = capture(level);
    writeAll(log);
    assert.deepEqual(lines.map((l) => l.split(" ")[1]), tags, level);
  }
});

test("consoleLogger() writes one line per event: ISO timestamp, level, prefix, message", () => {
  const lines: string[] = [];
  const log = consoleLogger("info", {
    prefix: "[node 3]",
    write: (l) => lines.push(l),
    now: () => at,
  });
  log.info("became leader at term 2");
  log.error("first line\nsecond line");
  assert.deepEqual(lines, [
    "2026-01-02T03:04:05.678Z INFO [node 3] became leader at term 2",
    "2026-01-02T03:04:05.678Z ERROR [node 3] first line\\nsecond line",
  ]);
});

test("consoleLogger() colours the level only when asked or on a terminal", () => {
  const plain = capture("info", false);
  plain.log.warning("w");
  assert.ok(!plain.lines[0]!.includes("\x1b"), plain.lines[0]);
  const colored = capture("info", true);
  colored.log.warning("w");
  assert.equal(colored.lines[0], "2026-01-02T03:04:05.678Z \x1b[33mWARN\x1b[0m w");
});

test("consoleLogger() writes plain lines to a standard error that is not a terminal", () => {
  const dir = mkdtempSync(join(tmpdir(), "raft-ts-logger-"));
  try {
    const script = join(dir, "log.ts");
    const logger = pathToFileURL(join(import.meta.dirname!, "logger.ts")).href;
    writeFileSync(
      script,
      `import { consoleLogger } from ${JSON.stringify(logger)};\n` +
        `consoleLogger("debug").warning("to a pipe");\n`,
    );
    const isDeno = (globalThis as { Deno?: unknown }).Deno !== undefined;
    const args = isDeno ? ["run", "-A", "--quiet", script] : [script];
    // NO_COLOR unset: the pipe alone must turn colours off.
    const { NO_COLOR: _, ...env } = process.env;
    const r = spawnSync(process.execPath, args, { encoding: "utf8", env });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARN to a pipe\n$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("consoleLogger() refuses an unknown level with a RangeError", () => {
  for (const bad of ["warn", "trace", "toString", ""]) {
    assert.throws(
      () => consoleLogger(bad as LogLevel),
      (e: unknown) =>
        e instanceof RangeError &&
        e.message ===
          `Cannot create consoleLogger as 'level' must be one of debug, info, warning, error: current value '${bad}'`,
      bad,
    );
  }
});
