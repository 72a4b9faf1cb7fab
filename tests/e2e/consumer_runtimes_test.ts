/**
 * A user's first program, on each runtime, from an empty folder holding
 * only the package's published files (`deno publish --dry-run`): the program
 * `_consumer_cluster.ts` imports `@raft-ts/raft`, `@raft-ts/raft/sqlite`
 * and `@raft-ts/raft/websocket` by name, runs a 3-node cluster on SQLite
 * files and WebSocket on loopback, writes a key on the leader and reads it
 * on a follower. The package reaches each runtime the way JSR delivers it:
 * - Deno: a deno.json importing `jsr:@raft-ts/raft`, with the published
 *   folder linked in place of JSR; Deno fetches the npm dependencies.
 * - Node 24 and Bun: the node_modules `npx jsr add` / `bunx jsr add`
 *   installs, JSR's npm package (`_jsr_npm.ts`).
 *
 * It runs once per suite, under Node: the npm package is transpiled with
 * Node's own `stripTypeScriptTypes`, and the suite's Node run takes test
 * files one at a time, so the three clusters do not compete with other
 * tests for the cores. Under Deno and Bun it says so and skips.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { installDependencies, writeNpmPackage } from "./_jsr_npm.ts";
import { copyPublished, projectRoot, runCommand, toolBin } from "./_published.ts";

const g = globalThis as { Deno?: unknown; Bun?: unknown };
const skip = g.Deno === undefined && g.Bun === undefined
  ? false
  : "this check runs deno, bun and node; it runs under Node only (once per suite)";

test(
  "a program importing the package by name runs a 3-node SQLite and WebSocket cluster on Deno, Bun and Node, from the published files alone",
  { skip, timeout: 600_000 },
  async (t) => {
    const config = JSON.parse(readFileSync(join(projectRoot, "deno.json"), "utf8")) as {
      name: string;
      version: string;
    };
    const deno = toolBin("deno");
    const program = readFileSync(join(import.meta.dirname!, "_consumer_cluster.ts"), "utf8");
    const dir = mkdtempSync(join(tmpdir(), "raft-ts-runtimes-"));
    try {
      const pkg = join(dir, "pkg");
      copyPublished(deno, pkg);

      // What `deno add jsr:@raft-ts/raft` writes, with the published folder linked in.
      const denoApp = join(dir, "deno-app");
      mkdirSync(denoApp);
      writeFileSync(
        join(denoApp, "deno.json"),
        JSON.stringify({
          links: ["../pkg"],
          imports: { [config.name]: `jsr:${config.name}@^${config.version}` },
        }),
      );
      writeFileSync(join(denoApp, "main.ts"), program);

      // What `npx jsr add @raft-ts/raft` writes and installs.
      const npmApp = join(dir, "npm-app");
      const nodeModules = join(npmApp, "node_modules");
      const npmPkg = writeNpmPackage(deno, pkg, join(nodeModules, ...config.name.split("/")));
      installDependencies(npmPkg.dependencies, nodeModules);
      writeFileSync(
        join(npmApp, "package.json"),
        JSON.stringify({
          type: "module",
          dependencies: { [config.name]: `npm:${npmPkg.name}@^${config.version}` },
        }),
      );
      writeFileSync(join(npmApp, "main.ts"), program);

      const runs = [
        { runtime: "deno", cmd: deno, args: ["run", "-A", "main.ts"], cwd: denoApp },
        { runtime: "bun", cmd: toolBin("bun"), args: ["main.ts"], cwd: npmApp },
        { runtime: "node", cmd: toolBin("node"), args: ["main.ts"], cwd: npmApp },
      ];
      for (const { runtime, cmd, args, cwd } of runs) {
        await t.test(`on ${runtime}`, () => {
          const data = join(dir, `data-${runtime}`);
          mkdirSync(data);
          const r = runCommand(cmd, [...args, data], cwd, 150_000);
          assert.ok(r.ok, `${runtime} exited with ${r.status}:\n${r.out}`);
          const greeting = JSON.stringify(`hello from ${runtime}`);
          const expected = new RegExp(
            `^${runtime} [\\w.-]+: 3 nodes on SQLite and WebSocket \\(ws:ws:ws:\\); ` +
              `node [123] wrote greeting=${greeting}, node [123] read greeting=${greeting}$`,
            "m",
          );
          assert.match(r.stdout, expected, r.out);
          for (const id of [1, 2, 3]) {
            assert.ok(existsSync(join(data, `node-${id}.db`)), `no SQLite file for node ${id}`);
          }
        });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
