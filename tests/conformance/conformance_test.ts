/**
 * Runs etcd raft's data-driven test files, unchanged, against raft-ts.
 *
 * The files are read in place from `RAFT_CONFORMANCE_DIR` (default: the
 * `shared/etcd-raft-conformance` folder beside the project). When the folder
 * is missing the suite is skipped with a message, except under `CI=true`,
 * where that is a failure.
 */

import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { type FileResult, type Handler, runFile } from "./datadriven.ts";
import { newQuorumHandler } from "./quorum.ts";
import { newConfChangeHandler } from "./confchange.ts";
import { newInteractionHandler } from "./interaction.ts";

const projectRoot = resolve(fileURLToPath(new URL("../..", import.meta.url)));

function conformanceDir(): string {
  const env = process.env.RAFT_CONFORMANCE_DIR;
  if (env !== undefined && env !== "") return isAbsolute(env) ? env : resolve(env);
  return join(projectRoot, "..", "shared", "etcd-raft-conformance");
}

interface Suite {
  /** Folder of `.txt` files, relative to the conformance folder. */
  dir: string;
  /** A fresh handler (and state) for each file. */
  newHandler: () => Handler;
}

const suites: Suite[] = [
  { dir: "quorum/testdata", newHandler: newQuorumHandler },
  { dir: "confchange/testdata", newHandler: newConfChangeHandler },
  { dir: "testdata", newHandler: newInteractionHandler },
];

const root = conformanceDir();
const present = existsSync(root);
const results: FileResult[] = [];

describe("etcd conformance", () => {
  if (!present) {
    test("conformance folder is present", () => {
      const msg = `etcd conformance folder not found at ${root} (set RAFT_CONFORMANCE_DIR)`;
      if (process.env.CI === "true") assert.fail(msg);
      console.log(`etcd conformance: skipped: ${msg}`);
    });
    return;
  }
  for (const suite of suites) {
    const dir = join(root, suite.dir);
    const files = readdirSync(dir).filter((f) => f.endsWith(".txt")).sort();
    for (const f of files) {
      const name = `${suite.dir}/${f}`;
      test(name, () => {
        const text = readFileSync(join(dir, f), "utf8");
        const r = runFile(text, name, suite.newHandler());
        results.push(r);
        if (!r.passed) assert.fail(`${name} failed\n${r.failure}`);
      });
    }
  }
});

after(() => {
  if (results.length === 0) return;
  const passed = results.filter((r) => r.passed).length;
  for (const r of results) console.log(`${r.passed ? "PASS" : "FAIL"} ${r.file}`);
  console.log(`etcd conformance: ${passed}/${results.length} files passed`);
});
