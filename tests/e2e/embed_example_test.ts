/**
 * The README's "Embed it in your app" example, run as a test. The example
 * lives in `embed_example.ts` (with relative imports); the README shows the
 * same code with the package's import names. This test checks that the two
 * agree, then runs the example (its `Deno.serve` line replaced by an
 * export) and drives its routes.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { projectRoot } from "../../examples/local_cluster.ts";
import type { RaftApp } from "../../adapters/hono/mod.ts";

const examplePath = join(projectRoot, "tests", "e2e", "embed_example.ts");
const imports: [string, string][] = [
  ['"../../mod.ts"', '"@raft-ts/raft"'],
  ['"../../adapters/hono/mod.ts"', '"@raft-ts/raft/hono"'],
];

/** The example as the README shows it (package import names). */
export function readmeForm(source: string): string {
  let s = source;
  for (const [local, pkg] of imports) s = s.replaceAll(local, pkg);
  return s.trim();
}

/** The first ```ts block after the README's "Embed it in your app" heading, if any. */
function readmeBlock(): string | undefined {
  const readme = readFileSync(join(projectRoot, "README.md"), "utf8");
  const heading = /^#+ .*embed it in your app.*$/im.exec(readme);
  if (heading === null) return undefined;
  const m = /```(?:ts|typescript)\n([\s\S]*?)```/.exec(readme.slice(heading.index));
  return m?.[1]?.trim();
}

test("the README's embed example matches tests/e2e/embed_example.ts", () => {
  const block = readmeBlock();
  assert.ok(block !== undefined, "README.md has no 'Embed it in your app' section");
  assert.equal(block, readmeForm(readFileSync(examplePath, "utf8")));
});

test("the embed example serves a replicated counter and the cluster API", async () => {
  const source = readFileSync(examplePath, "utf8");
  const serveLine = /^Deno\.serve\(.*$/m;
  assert.match(source, serveLine);
  let runnable = source.replace(serveLine, "export { app, node };");
  for (const [local] of imports) {
    const target = pathToFileURL(join(projectRoot, "tests", "e2e", JSON.parse(local))).href;
    runnable = runnable.replaceAll(local, JSON.stringify(target));
  }
  const dir = mkdtempSync(join(tmpdir(), "raft-ts-embed-"));
  const file = join(dir, "embed_example.ts");
  writeFileSync(file, runnable);
  const mod = (await import(pathToFileURL(file).href)) as {
    app: RaftApp;
    node: { waitForLeader(): Promise<number>; close(): Promise<void> };
  };
  try {
    await mod.node.waitForLeader();
    const post = () => mod.app.request("/hits/home", { method: "POST" });
    assert.deepEqual(await (await post()).json(), { hits: 1 });
    assert.deepEqual(await (await post()).json(), { hits: 2 });
    assert.deepEqual(await (await mod.app.request("/hits/home")).json(), { hits: 2 });
    assert.deepEqual(await (await mod.app.request("/hits/about")).json(), { hits: 0 });
    const status = await (await mod.app.request("/raft/status")).json();
    assert.equal(status.role, "leader");
    assert.equal((await mod.app.request("/metrics")).status, 200);
  } finally {
    await mod.node.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
