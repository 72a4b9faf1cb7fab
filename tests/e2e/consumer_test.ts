/**
 * The package as a user gets it: the files `deno publish --dry-run` lists,
 * copied to an empty folder beside a program that imports every entry point
 * by name (`@raft-ts/raft`, `@raft-ts/raft/sqlite`, ...), through a
 * `deno.json` that links the folder in place of JSR. `deno check` and
 * `deno run` of that program must pass with none of our dev dependencies
 * (no `@types/ws`, no node_modules): only the package's own imports, which
 * Deno fetches from the npm registry into its cache.
 *
 * It runs `deno`, so it runs once per suite, under Deno; under Bun and Node
 * it says so and skips.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { copyPublished, projectRoot, runCommand } from "./_published.ts";

const isDeno = (globalThis as { Deno?: unknown }).Deno !== undefined;
const skip = isDeno ? false : "this check runs deno; it runs under Deno only (once per suite)";

function deno(cwd: string, ...args: string[]): { ok: boolean; stdout: string; out: string } {
  return runCommand(process.execPath, args, cwd);
}

test(
  "a program importing every entry point by name passes deno check and runs, from the published files alone",
  {
    skip,
    timeout: 300_000,
  },
  () => {
    const config = JSON.parse(readFileSync(join(projectRoot, "deno.json"), "utf8")) as {
      name: string;
      version: string;
      exports: Record<string, string>;
    };
    const dir = mkdtempSync(join(tmpdir(), "raft-ts-consumer-"));
    try {
      const pkg = join(dir, "pkg");
      copyPublished(process.execPath, pkg);

      const app = join(dir, "app");
      mkdirSync(app);
      writeFileSync(
        join(app, "deno.json"),
        JSON.stringify({
          links: ["../pkg"],
          imports: { [config.name]: `jsr:${config.name}@^${config.version}` },
        }),
      );
      const names = Object.keys(config.exports).map((sub) => config.name + sub.slice(1));
      const program = names.map((n, i) =>
        `import * as m${i} from ${JSON.stringify(n)};`
      ).join("\n") +
        `\nconst counts = [${names.map((_, i) => `Object.keys(m${i}).length`).join(", ")}];\n` +
        `console.log(JSON.stringify(counts));\n`;
      writeFileSync(join(app, "main.ts"), program);

      const check = deno(app, "check", "main.ts");
      assert.ok(check.ok, `deno check failed:\n${check.out}`);
      const run = deno(app, "run", "-A", "main.ts");
      assert.ok(run.ok, `deno run failed:\n${run.out}`);
      const counts = JSON.parse(run.stdout) as number[];
      assert.equal(counts.length, names.length);
      for (const [i, n] of counts.entries()) assert.ok(n > 0, `${names[i]} exports nothing`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
