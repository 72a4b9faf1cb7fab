/**
 * The package as `deno publish` would upload it, for the tests that use it
 * the way a user does (`consumer_test.ts`, `consumer_runtimes_test.ts`).
 *
 * @module
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";

/** The project's folder. */
export const projectRoot: string = join(import.meta.dirname!, "..", "..");

/**
 * A binary of the project's toolchain: `node_modules/.bin/<name>` (the npm
 * packages `deno`, `bun` and `node`), or the one on PATH without it.
 *
 * @param name `deno`, `bun` or `node`.
 * @returns Its path, or the bare name.
 */
export function toolBin(name: string): string {
  const local = join(projectRoot, "node_modules", ".bin", name);
  return existsSync(local) ? local : name;
}

/** What a finished command printed. */
export interface CommandResult {
  ok: boolean;
  status: number | null;
  stdout: string;
  /** stdout then stderr, for failure messages. */
  out: string;
}

/**
 * Runs a command to its end (at most `timeoutMs`), without colours.
 *
 * @param cmd The binary.
 * @param args Its arguments.
 * @param cwd Its folder.
 * @param timeoutMs When to kill it.
 * @returns Its exit status and output.
 */
export function runCommand(
  cmd: string,
  args: string[],
  cwd: string,
  timeoutMs = 240_000,
): CommandResult {
  const r = spawnSync(cmd, args, {
    cwd,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
    timeout: timeoutMs,
  });
  const killed = r.signal !== null ? `\n(killed by ${r.signal} after at most ${timeoutMs} ms)` : "";
  const error = r.error !== undefined ? `\n(${r.error.message})` : "";
  return {
    ok: r.status === 0,
    status: r.status,
    stdout: r.stdout ?? "",
    out: `${r.stdout ?? ""}${r.stderr ?? ""}${killed}${error}`,
  };
}

/**
 * The files `deno publish` would upload, relative to the project.
 *
 * @param deno The `deno` binary.
 * @returns Their paths; among them `mod.ts` and `deno.json`.
 */
export function publishedFiles(deno: string): string[] {
  const r = runCommand(deno, ["publish", "--dry-run", "--allow-dirty", "--no-check"], projectRoot);
  assert.ok(r.ok, `deno publish --dry-run failed:\n${r.out}`);
  const prefix = `file://${projectRoot}/`;
  const files = [...r.out.matchAll(/^\s*(file:\/\/\S+) \(/gm)]
    .map((m) => decodeURIComponent(m[1]!))
    .filter((u) => u.startsWith(prefix))
    .map((u) => u.slice(prefix.length))
    // A git worktree has a .git file, which publishing from a clone never sees.
    .filter((f) => f !== ".git");
  assert.ok(files.includes("mod.ts") && files.includes("deno.json"), r.out);
  return files;
}

/**
 * Copies the published files into `dest` (created), and nothing else: no
 * node_modules, no package.json.
 *
 * @param deno The `deno` binary.
 * @param dest The folder to copy to.
 * @returns The copied files, relative to `dest`.
 */
export function copyPublished(deno: string, dest: string): string[] {
  const files = publishedFiles(deno);
  for (const f of files) {
    mkdirSync(dirname(join(dest, f)), { recursive: true });
    cpSync(join(projectRoot, f), join(dest, f));
  }
  assert.ok(!existsSync(join(dest, "node_modules")));
  assert.ok(!existsSync(join(dest, "package.json")));
  return files;
}
