/**
 * Every ```ts block of README.md, run as it is written, under the runtime
 * running the tests. Blocks are read from the README at test time (never
 * copied), their `@raft-ts/raft` imports pointed at the working tree
 * (the `exports` of deno.json), and imported as modules, so an example that
 * throws fails the suite.
 *
 * A block that serves its app (a line starting `Deno.serve(` or
 * `Bun.serve(`) gets that line replaced by `export { app, node };`: the test
 * drives `app` through `app.request()` instead of binding a port, and
 * closes `node`. The "Embed it in your app" example is then checked route
 * by route.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { RaftApp } from "../../adapters/hono/mod.ts";

const projectRoot = join(import.meta.dirname!, "..", "..");

/** A ```ts block of the README, with the heading it is under. */
interface ReadmeBlock {
  heading: string;
  /** The line of the opening fence, 1-based. */
  line: number;
  code: string;
}

function readmeBlocks(): ReadmeBlock[] {
  const lines = readFileSync(join(projectRoot, "README.md"), "utf8").split("\n");
  const blocks: ReadmeBlock[] = [];
  let heading = "(top)";
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (/^#+ /.test(l)) heading = l.replace(/^#+ /, "");
    const fence = /^(`{3,})(\w*)/.exec(l);
    if (fence === null) continue;
    const end = lines.findIndex((e, j) => j > i && e.startsWith(fence[1]!));
    assert.ok(end > i, `README.md:${i + 1}: a code block is never closed`);
    if (fence[2] === "ts" || fence[2] === "typescript") {
      blocks.push({ heading, line: i + 1, code: lines.slice(i + 1, end).join("\n") });
    }
    i = end;
  }
  return blocks;
}

/** `@raft-ts/raft` and its subpaths, as file URLs into the working tree. */
function packageImports(): Map<string, string> {
  const config = JSON.parse(readFileSync(join(projectRoot, "deno.json"), "utf8")) as {
    name: string;
    exports: Record<string, string>;
  };
  const map = new Map<string, string>();
  for (const [sub, file] of Object.entries(config.exports)) {
    map.set(config.name + sub.slice(1), pathToFileURL(join(projectRoot, file)).href);
  }
  return map;
}

const serveLine = /^(?:Deno|Bun)\.serve\(.*$/m;

/** The block as a module of this working tree. */
function runnable(code: string, imports: Map<string, string>): string {
  const s = code.replace(
    /(from\s+|import\s*\(\s*)(["'])(@raft-ts\/raft(?:\/[\w-]+)?)\2/g,
    (_all, lead: string, _q: string, name: string) => {
      const url = imports.get(name);
      assert.ok(url !== undefined, `the README imports '${name}', which deno.json does not export`);
      return `${lead}${JSON.stringify(url)}`;
    },
  );
  return s.replace(serveLine, "export { app, node };");
}

interface Closable {
  close(): Promise<void>;
}

async function withBlock<T>(
  block: ReadmeBlock,
  body: (mod: Record<string, unknown>) => Promise<T>,
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "raft-ts-readme-"));
  const file = join(dir, `readme_${block.line}.ts`);
  writeFileSync(file, runnable(block.code, packageImports()));
  let mod: Record<string, unknown> | undefined;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    return await body(mod);
  } finally {
    await (mod?.node as Closable | undefined)?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const blocks = readmeBlocks();

test("README.md has ts examples, and each imports the package by name", () => {
  assert.ok(blocks.length >= 2, `only ${blocks.length} ts blocks in README.md`);
  for (const b of blocks) {
    assert.doesNotMatch(b.code, /from\s+["']\.{1,2}\//, `README.md:${b.line}: a relative import`);
  }
});

for (const block of blocks) {
  test(`README.md:${block.line} (${block.heading}) runs`, { timeout: 60_000 }, async () => {
    await withBlock(block, (mod) => {
      if (serveLine.test(block.code)) {
        assert.ok(mod.app !== undefined, `README.md:${block.line}: serves no 'app'`);
        assert.ok(mod.node !== undefined, `README.md:${block.line}: has no 'node' to close`);
      }
      return Promise.resolve();
    });
  });
}

test("README.md's embed example serves a replicated counter and the cluster API", async () => {
  const block = blocks.find((b) => /embed it in your app/i.test(b.heading));
  assert.ok(block !== undefined, "README.md has no ts block under 'Embed it in your app'");
  await withBlock(block, async (mod) => {
    const app = mod.app as RaftApp;
    const node = mod.node as { waitForLeader(): Promise<number> };
    await node.waitForLeader();
    const post = () => app.request("/hits/home", { method: "POST" });
    assert.deepEqual(await (await post()).json(), { hits: 1 });
    assert.deepEqual(await (await post()).json(), { hits: 2 });
    assert.deepEqual(await (await app.request("/hits/home")).json(), { hits: 2 });
    assert.deepEqual(await (await app.request("/hits/about")).json(), { hits: 0 });
    const status = await (await app.request("/raft/status")).json();
    assert.equal(status.role, "leader");
    assert.equal((await app.request("/metrics")).status, 200);
  });
});
