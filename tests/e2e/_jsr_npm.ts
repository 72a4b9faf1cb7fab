/**
 * The package as `npx jsr add @raft-ts/raft` (or `bunx jsr add`) installs
 * it, built offline from the published files. JSR's npm compatibility layer
 * serves a JSR package as an npm package named `@jsr/<scope>__<name>`
 * (installed under the JSR name through an `npm:` alias), holding:
 * - the modules reachable from the `exports` of deno.json (static imports
 *   and dynamic imports of string literals), each transpiled to `.js`, its
 *   relative `.ts` import specifiers rewritten to `.js` and its `npm:`
 *   imports to bare names (files reachable in no other way are left out);
 * - a package.json with `"type": "module"`, `exports` derived from those of
 *   deno.json (`.ts` -> `.js`) and the `npm:` imports of deno.json as
 *   `dependencies`.
 *
 * Here the module graph comes from `deno info --json`, the transpiling from
 * Node's `module.stripTypeScriptTypes` (the package holds erasable
 * TypeScript only: deno.json sets `erasableSyntaxOnly`), and the
 * dependencies are copied from the project's node_modules as npm would
 * install them (offline and fast; their own dependencies too). The `.d.ts`
 * files JSR also generates are not built: programs run here, and type
 * checks of a consumer are `consumer_test.ts`'s.
 *
 * Runs under Node only (`stripTypeScriptTypes`).
 *
 * @module
 */

import assert from "node:assert/strict";
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
// A namespace import: Bun's node:module has no stripTypeScriptTypes, and only Node runs this.
import * as nodeModule from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { projectRoot, runCommand } from "./_published.ts";

/** The fields of deno.json this build reads. */
interface DenoConfig {
  name: string;
  version: string;
  exports: Record<string, string>;
  imports?: Record<string, string>;
}

/** The package.json JSR's npm layer writes. */
export interface NpmPackageJson {
  name: string;
  version: string;
  type: "module";
  exports: Record<string, string>;
  dependencies: Record<string, string>;
}

/** `./a/b.ts` -> `./a/b.js`. */
function toJs(path: string): string {
  return path.replace(/\.(ts|mts|tsx)$/, ".js");
}

/**
 * The package's own modules reachable from its exports, as paths relative
 * to `pkgDir`.
 */
function moduleGraph(deno: string, pkgDir: string, exports: string[]): string[] {
  const base = pathToFileURL(pkgDir).href + "/";
  const found = new Set<string>();
  for (const entry of exports) {
    // --no-npm: the package's npm dependencies are not part of its files.
    const r = runCommand(deno, ["info", "--json", "--no-npm", entry], pkgDir, 60_000);
    assert.ok(r.ok, `deno info ${entry} failed:\n${r.out}`);
    const info = JSON.parse(r.stdout) as { modules: { specifier: string }[] };
    for (const m of info.modules) {
      if (m.specifier.startsWith(base)) found.add(m.specifier.slice(base.length));
    }
  }
  return [...found].sort();
}

/**
 * One module as JSR's npm layer emits it: types stripped, relative `.ts`
 * specifiers of imports, re-exports and dynamic imports rewritten to `.js`.
 *
 * @param source The TypeScript source.
 * @param path Its path, for errors.
 * @returns The JavaScript.
 * @throws {Error} The source holds syntax that is not erasable.
 */
export function emitModule(source: string, path: string): string {
  if (typeof nodeModule.stripTypeScriptTypes !== "function") {
    throw new Error(`Cannot transpile ${path}: this runtime has no module.stripTypeScriptTypes`);
  }
  let js: string;
  try {
    js = nodeModule.stripTypeScriptTypes(source, { mode: "strip" });
  } catch (e) {
    throw new Error(`Cannot transpile ${path}: ${(e as Error).message}`);
  }
  return js.replace(
    /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s*)(["'])(\.{1,2}\/[^"'\n]*?)\.(ts|mts|tsx)\2/g,
    (_m, lead: string, q: string, path: string) => `${lead}${q}${path}.js${q}`,
  );
}

/**
 * Writes the npm package JSR would serve for the published files in
 * `pkgDir` into `dest` (created).
 *
 * @param deno The `deno` binary (for the module graph).
 * @param pkgDir The published files.
 * @param dest The package's folder, e.g. `<app>/node_modules/@raft-ts/raft`.
 * @returns Its package.json.
 */
export function writeNpmPackage(deno: string, pkgDir: string, dest: string): NpmPackageJson {
  const config = JSON.parse(readFileSync(join(pkgDir, "deno.json"), "utf8")) as DenoConfig;
  const [scope, name] = config.name.slice(1).split("/");
  const dependencies: Record<string, string> = {};
  for (const spec of Object.values(config.imports ?? {})) {
    const m = /^npm:(@?[^@/]+(?:\/[^@/]+)?)@([^/]+)$/.exec(spec);
    if (m !== null) dependencies[m[1]!] = m[2]!;
  }
  const pkg: NpmPackageJson = {
    name: `@jsr/${scope}__${name}`,
    version: config.version,
    type: "module",
    exports: Object.fromEntries(Object.entries(config.exports).map(([k, v]) => [k, toJs(v)])),
    dependencies,
  };
  const modules = moduleGraph(deno, pkgDir, Object.values(config.exports));
  for (const path of modules) {
    const source = readFileSync(join(pkgDir, path), "utf8");
    const out = join(dest, toJs(path));
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, /\.(ts|mts|tsx)$/.test(path) ? emitModule(source, path) : source);
  }
  writeFileSync(join(dest, "package.json"), JSON.stringify(pkg, null, 2));
  return pkg;
}

/** `^8.23.0` accepts `8.24.1`; other ranges are taken as they are. */
function satisfiesCaret(version: string, range: string): boolean {
  const m = /^\^(\d+)\.(\d+)\.(\d+)$/.exec(range);
  if (m === null) return true;
  const v = version.split(".").map((x) => parseInt(x, 10));
  const r = m.slice(1).map((x) => Number(x));
  if (v[0] !== r[0]) return false;
  if (v[1]! !== r[1]!) return v[1]! > r[1]!;
  return v[2]! >= r[2]!;
}

/**
 * Installs `dependencies` into `nodeModules` as npm would (one flat
 * folder), copying each from the project's node_modules, then their own
 * dependencies and required peers.
 *
 * @param dependencies Package names to version ranges.
 * @param nodeModules The consumer's node_modules folder.
 * @returns The names installed.
 * @throws {Error} The project's node_modules lacks one, or holds a version out of range.
 */
export function installDependencies(
  dependencies: Record<string, string>,
  nodeModules: string,
): string[] {
  const from = join(projectRoot, "node_modules");
  const installed: string[] = [];
  const queue = Object.entries(dependencies);
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    const [name, range] = next;
    if (installed.includes(name)) continue;
    const src = join(from, name);
    if (!existsSync(join(src, "package.json"))) {
      throw new Error(`Cannot install ${name}@${range}: not in ${from} (run npm install)`);
    }
    const meta = JSON.parse(readFileSync(join(src, "package.json"), "utf8")) as {
      version: string;
      dependencies?: Record<string, string>;
      peerDependencies?: Record<string, string>;
      peerDependenciesMeta?: Record<string, { optional?: boolean }>;
    };
    if (!satisfiesCaret(meta.version, range)) {
      throw new Error(`Cannot install ${name}@${range}: ${from} holds ${meta.version}`);
    }
    cpSync(src, join(nodeModules, name), { recursive: true, dereference: true });
    installed.push(name);
    queue.push(...Object.entries(meta.dependencies ?? {}));
    for (const [peer, peerRange] of Object.entries(meta.peerDependencies ?? {})) {
      if (meta.peerDependenciesMeta?.[peer]?.optional !== true) queue.push([peer, peerRange]);
    }
  }
  return installed;
}
