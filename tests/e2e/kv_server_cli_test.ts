/**
 * `examples/kv_server.ts` and the demo as a user meets them on the command
 * line, each run as a process on the runtime running the test: `--help`,
 * bad flags and bad configuration (one line, exit status 2, nothing
 * started), failures of the environment (one line, exit status 1: a port
 * in use, a database locked by another process, a data directory that
 * cannot be used), a single node without a secret, the secret from a file
 * or the environment (a warning for `--secret`), the modes of the data
 * directory and database files, and one line on SIGTERM.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import {
  currentRuntime,
  freePorts,
  projectRoot,
  scriptCommand,
} from "../../examples/local_cluster.ts";
import { kvServerFlags } from "../../examples/kv_server.ts";

const kvServer = join(projectRoot, "examples", "kv_server.ts");
const demo = join(projectRoot, "examples", "local_cluster.ts");
const secret = "0123456789abcdef0123456789abcdef";

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The non-empty lines of a text. */
function lines(s: string): string[] {
  return s.split("\n").filter((l) => l.trim() !== "");
}

/** Runs a script to its end (at most 30 s). */
function run(
  script: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<Outcome> {
  const [command, pre] = scriptCommand(currentRuntime(), script);
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...pre, ...args], {
      cwd: projectRoot,
      env: { ...cleanEnv(), ...env, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** This process's environment without the server's variables. */
function cleanEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith("RAFT_") && v !== undefined) out[k] = v;
  }
  return out;
}

/** A server process that runs until stopped. */
interface Running {
  child: ChildProcess;
  url: string;
  stderr(): string;
  /** Resolves with the exit status. */
  exited: Promise<number | null>;
}

/** Starts a server and waits until it answers `/healthz`. */
async function startServer(
  args: string[],
  env: Record<string, string> = {},
): Promise<Running> {
  const [port] = await freePorts(1);
  const [command, pre] = scriptCommand(currentRuntime(), kvServer);
  const child = spawn(
    command,
    [...pre, "--listen", `127.0.0.1:${port}`, "--tick-ms", "20", ...args],
    {
      cwd: projectRoot,
      env: { ...cleanEnv(), ...env, NO_COLOR: "1" },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  let done = false;
  void exited.then(() => (done = true));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 400 && !done; i++) {
    try {
      const res = await fetch(`${url}/healthz`);
      await res.body?.cancel();
      if (res.status === 200) return { child, url, stderr: () => stderr, exited };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill("SIGKILL");
  throw new Error(`the server did not start: ${stderr}`);
}

/** Stops a server with SIGTERM and returns its exit status. */
async function stopServer(s: Running): Promise<number | null> {
  // process.kill, not child.kill: Deno's ChildProcess then reports the signal, not the status.
  process.kill(s.child.pid!, "SIGTERM");
  const t = setTimeout(() => s.child.kill("SIGKILL"), 10_000);
  const code = await s.exited;
  clearTimeout(t);
  return code;
}

function withTempDir(f: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), "raft-ts-cli-"));
    try {
      await f(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

async function putValue(url: string, key: string, value: string): Promise<Response> {
  return await fetch(`${url}/kv/${key}`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ value }),
  });
}

/** `putValue`, retried while the node answers 503 (it has no leader yet). */
async function putWhenLed(url: string, key: string, value: string): Promise<Response> {
  let res = await putValue(url, key, value);
  for (let i = 0; i < 100 && res.status === 503; i++) {
    await res.body?.cancel();
    await new Promise((r) => setTimeout(r, 50));
    res = await putValue(url, key, value);
  }
  return res;
}

const runtime = currentRuntime();

test(
  `kv_server --help (${runtime}) prints every flag and exits 0`,
  { timeout: 30_000 },
  async () => {
    const r = await run(kvServer, ["--help"]);
    assert.equal(r.code, 0);
    assert.equal(r.stderr, "");
    for (const [name, spec] of Object.entries(kvServerFlags)) {
      assert.match(r.stdout, new RegExp(`--${name}\\b`), `--${name} in --help`);
      if ("env" in spec) assert.ok(r.stdout.includes(spec.env), `${spec.env} in --help`);
    }
  },
);

test(
  `kv_server (${runtime}): bad flags and configuration end in one line naming the flag, status 2, nothing started`,
  { timeout: 120_000 },
  withTempDir(async (dir) => {
    const secretFile = join(dir, "secret");
    writeFileSync(secretFile, `${secret}\n`);
    const cases: { name: string; args: string[]; env?: Record<string, string>; want: RegExp }[] = [
      { name: "unknown flag", args: ["--id", "1", "--bogus"], want: /unknown flag '--bogus'/ },
      { name: "missing value", args: ["--id"], want: /--id: it needs a value/ },
      { name: "positional", args: ["--id", "1", "extra"], want: /'extra'/ },
      { name: "no id", args: [], want: /--id \(or RAFT_ID\) is required/ },
      { name: "bad id", args: ["--id", "x"], want: /--id: expected a positive integer/ },
      {
        name: "bad idempotency TTL",
        args: ["--id", "1", "--idempotency-ttl-ms", "0"],
        want: /--idempotency-ttl-ms: expected a positive integer/,
      },
      { name: "bad listen", args: ["--id", "1", "--listen", "nope"], want: /--listen/ },
      {
        name: "bad peer URL",
        args: [
          "--id",
          "1",
          "--peers",
          "1=http://127.0.0.1:1,2=htp://x:2",
          "--secret-file",
          secretFile,
        ],
        want: /--peers \(node 2\): 'htp:\/\/x:2'/,
      },
      {
        name: "unparsable peer URL",
        args: [
          "--id",
          "1",
          "--peers",
          "1=http://127.0.0.1:1,2=http://",
          "--secret-file",
          secretFile,
        ],
        want: /--peers \(node 2\)/,
      },
      {
        name: "bad --peer-urls",
        args: [
          "--id",
          "1",
          "--peer-listen",
          "127.0.0.1:0",
          "--peer-urls",
          "1=http://127.0.0.1:7001",
        ],
        want: /--peer-urls \(node 1\): 'http:\/\/127.0.0.1:7001' is not a ws:\/\/ or wss:\/\/ URL/,
      },
      {
        name: "missing secret",
        args: ["--id", "1", "--peers", "1=http://127.0.0.1:1,2=http://127.0.0.1:2"],
        want:
          /cluster of 2 nodes needs the cluster secret: pass --secret-file FILE .* or set RAFT_SECRET/,
      },
      {
        name: "missing secret to join",
        args: ["--id", "4", "--join"],
        want: /joining a cluster needs the cluster secret/,
      },
      {
        name: "short secret",
        args: ["--id", "1"],
        env: { RAFT_SECRET: "short" },
        want: /at least 16 bytes/,
      },
      {
        name: "missing secret file",
        args: ["--id", "1", "--secret-file", join(dir, "nope")],
        want: /--secret-file '.*nope': no such file or directory/,
      },
      {
        name: "two secrets",
        args: ["--id", "1", "--secret-file", secretFile, "--secret", secret],
        want: /either --secret-file or --secret/,
      },
      { name: "bad routing", args: ["--id", "1", "--routing", "x"], want: /--routing/ },
      {
        name: "bad state",
        args: ["--id", "1", "--state", "disk"],
        want: /--state: expected sqlite or memory, got 'disk'/,
      },
      { name: "bad tick", args: ["--id", "1", "--tick-ms", "0"], want: /--tick-ms/ },
      {
        name: "bad catch-up entries",
        args: ["--id", "1", "--snapshot-catch-up-entries", "0"],
        want: /--snapshot-catch-up-entries: expected a positive integer/,
      },
      {
        name: "bad max snapshot bytes",
        args: ["--id", "1", "--max-snapshot-bytes", "1TB"],
        want: /--max-snapshot-bytes: expected a positive integer/,
      },
      { name: "bad env value", args: ["--id", "1"], env: { RAFT_LOG: "loud" }, want: /--log/ },
    ];
    for (const c of cases) {
      const dataDir = join(dir, c.name.replaceAll(" ", "-"));
      const r = await run(kvServer, ["--data-dir", dataDir, ...c.args], c.env);
      assert.equal(r.code, 2, `${c.name}: exit status (${r.stderr})`);
      assert.equal(lines(r.stderr).length, 1, `${c.name}: one line, got ${r.stderr}`);
      assert.match(r.stderr, c.want, c.name);
      assert.doesNotMatch(r.stderr, /\bat .*:\d+:\d+/, `${c.name}: no stack trace`);
      assert.ok(!existsSync(dataDir), `${c.name}: nothing started`);
    }
  }),
);

/** A directory this process cannot write: read-only tmpfs as root, else mode 0500. */
function readOnlyDir(parent: string): { path: string; release(): void } | undefined {
  const path = join(parent, "ro");
  mkdirSync(path);
  if (process.getuid?.() !== 0) {
    chmodSync(path, 0o500);
    return { path, release: () => chmodSync(path, 0o700) };
  }
  // Root writes through modes; a read-only mount stops it.
  const m = spawnSync("mount", ["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", path]);
  if (m.status !== 0) return undefined;
  return { path, release: () => void spawnSync("umount", [path]) };
}

test(
  `kv_server (${runtime}): a node restarts on its --state, and refuses the other one in one line`,
  { timeout: 60_000 },
  withTempDir(async (dir) => {
    const base = ["--id", "1", "--data-dir", dir, "--log", "warn", "--snapshot-entries", "5"];
    const args = [...base, "--state", "sqlite"];
    let s = await startServer(args);
    try {
      for (let i = 0; i < 8; i++) {
        let res = await putValue(s.url, `k${i}`, `v${i}`);
        for (let k = 0; k < 100 && res.status === 503; k++) {
          await res.body?.cancel();
          await new Promise((r) => setTimeout(r, 50));
          res = await putValue(s.url, `k${i}`, `v${i}`);
        }
        assert.equal(res.status, 200, await res.clone().text());
        await res.body?.cancel();
      }
    } finally {
      assert.equal(await stopServer(s), 0);
    }
    // A snapshot of the SQLite tables was taken: the in-memory store cannot restore it.
    const r = await run(kvServer, ["--listen", "127.0.0.1:0", ...base, "--state", "memory"]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(lines(r.stderr).length, 1, r.stderr);
    assert.match(
      r.stderr,
      /Cannot start with --state memory: the snapshot in '.*node-1\.db' was taken with --state sqlite; start the node with --state sqlite/,
    );
    // On its own state it restarts with every key.
    s = await startServer(args);
    try {
      const list = await (await fetch(`${s.url}/kv?prefix=k`)).json();
      assert.deepEqual(
        list.items.map((i: { value: string }) => i.value),
        ["v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7"],
      );
    } finally {
      assert.equal(await stopServer(s), 0);
    }
  }),
);

test(
  `kv_server (${runtime}): failures of the environment end in one line naming the port, file or flag, status 1`,
  { timeout: 120_000 },
  withTempDir(async (dir) => {
    const runOn = (dataDir: string): Promise<Outcome> =>
      run(kvServer, ["--id", "1", "--listen", "127.0.0.1:0", "--data-dir", dataDir]);
    const check = (name: string, r: Outcome, want: RegExp): void => {
      assert.equal(r.code, 1, `${name}: exit status (${r.stderr})`);
      assert.equal(lines(r.stderr).length, 1, `${name}: one line, got ${r.stderr}`);
      assert.match(r.stderr, want, name);
      assert.doesNotMatch(r.stderr, /\bat .*:\d+:\d+/, `${name}: no stack trace`);
    };

    // A port in use.
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const r = await run(kvServer, [
        "--id",
        "1",
        "--listen",
        `127.0.0.1:${port}`,
        "--data-dir",
        join(dir, "a"),
      ]);
      check(
        "port in use",
        r,
        new RegExp(`Cannot listen on 127\\.0\\.0\\.1:${port} \\(--listen\\): the port is in use`),
      );
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()));
    }

    // The database locked by another kv_server on the same data directory.
    const shared = join(dir, "shared");
    const first = await startServer(["--id", "1", "--data-dir", shared]);
    try {
      const r = await runOn(shared);
      check(
        "database locked",
        r,
        /Cannot open '.*shared\/node-1\.db': the database is locked by another process .*--data-dir/,
      );
    } finally {
      assert.equal(await stopServer(first), 0);
    }

    // A data directory that cannot be created: its parent is a file.
    writeFileSync(join(dir, "file"), "x");
    check(
      "data dir under a file",
      await runOn(join(dir, "file", "d")),
      /Cannot use --data-dir '.*file\/d': /,
    );

    // A database file that is not a database.
    mkdirSync(join(dir, "garbage"));
    writeFileSync(join(dir, "garbage", "node-1.db"), "x".repeat(4096));
    check(
      "not a database",
      await runOn(join(dir, "garbage")),
      /garbage\/node-1\.db.*--data-dir/,
    );

    // A data directory that cannot be written.
    const ro = readOnlyDir(dir);
    if (ro === undefined) {
      console.log("skipped the read-only data directory: cannot mount a read-only tmpfs as root");
      return;
    }
    try {
      check(
        "read-only data dir",
        await runOn(ro.path),
        /Cannot use --data-dir '.*ro': (cannot create '.*ro\/node-1\.db': )?(the file system is read-only|permission denied)/,
      );
    } finally {
      ro.release();
    }
  }),
);

test(
  `kv_server (${runtime}): a single node without a secret serves, refuses admin requests, keeps its files private and stops on SIGTERM with one line`,
  { timeout: 60_000 },
  withTempDir(async (dir) => {
    const dataDir = join(dir, "data", "node");
    // With the keys in SQLite, so that the state machine's lock file is there too.
    const args = ["--id", "1", "--data-dir", dataDir, "--log", "warn", "--state", "sqlite"];
    const s = await startServer(args);
    try {
      const res = await putWhenLed(s.url, "greeting", "hello");
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal((await res.json()).value, "hello");
      const read = await fetch(`${s.url}/kv/greeting`);
      assert.equal((await read.json()).value, "hello");
      const admin = await fetch(`${s.url}/raft/members`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${secret}` },
        body: '{"id":2,"role":"voter"}',
      });
      assert.equal(admin.status, 403);
      assert.equal((await admin.json()).error.code, "admin_disabled");
      // At rest: the directory 0700, the database, its WAL and its lock file 0600.
      assert.equal(statSync(dataDir).mode & 0o777, 0o700);
      assert.equal(statSync(join(dir, "data")).mode & 0o777, 0o700);
      for (const f of ["node-1.db", "node-1.db-wal", "node-1.db-lock"]) {
        assert.equal(statSync(join(dataDir, f)).mode & 0o777, 0o600, f);
      }
    } finally {
      assert.equal(await stopServer(s), 0);
    }
    const out = lines(s.stderr());
    assert.equal(out.filter((l) => /stopped on SIGTERM/.test(l)).length, 1, s.stderr());
    assert.match(out.at(-1)!, /\[node 1\] stopped on SIGTERM; data .*node-1\.db/);
  }),
);

test(
  `kv_server (${runtime}): the secret comes from a file or the environment; on the command line it works with a warning`,
  { timeout: 60_000 },
  withTempDir(async (dir) => {
    const secretFile = join(dir, "secret");
    writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
    const variants: {
      name: string;
      args: string[];
      env: Record<string, string>;
      warns: boolean;
    }[] = [
      { name: "--secret-file", args: ["--secret-file", secretFile], env: {}, warns: false },
      { name: "RAFT_SECRET_FILE", args: [], env: { RAFT_SECRET_FILE: secretFile }, warns: false },
      { name: "RAFT_SECRET", args: [], env: { RAFT_SECRET: secret }, warns: false },
      { name: "--secret", args: ["--secret", secret], env: {}, warns: true },
    ];
    for (const v of variants) {
      const s = await startServer(
        ["--id", "1", "--data-dir", join(dir, v.name), ...v.args],
        v.env,
      );
      try {
        // Authenticated: the request reaches validation (400), not the 401/403 of the check.
        const res = await fetch(`${s.url}/raft/members`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${secret}` },
          body: "{}",
        });
        assert.equal(res.status, 400, `${v.name}: ${await res.clone().text()}`);
        await res.body?.cancel();
      } finally {
        assert.equal(await stopServer(s), 0);
      }
      const warnings = lines(s.stderr()).filter((l) => /visible .* in `ps`/.test(l));
      assert.equal(warnings.length, v.warns ? 1 : 0, `${v.name}: ${s.stderr()}`);
      if (v.warns) assert.match(warnings[0]!, /--secret-file FILE or set RAFT_SECRET/);
    }
  }),
);

test(
  `the demo's --help (${runtime}) lists its flags; a bad flag is one line, status 2`,
  { timeout: 30_000 },
  async () => {
    const help = await run(demo, ["--help"]);
    assert.equal(help.code, 0, help.stderr);
    for (const f of ["--runtime bun|deno|node", "--data-dir", "--keep", "--help"]) {
      assert.ok(help.stdout.includes(f), `${f} in ${help.stdout}`);
    }
    const bad = await run(demo, ["--runtime", "java"]);
    assert.equal(bad.code, 2);
    assert.equal(lines(bad.stderr).length, 1, bad.stderr);
    assert.match(bad.stderr, /--runtime: expected bun, deno or node, got 'java'/);
    const unknown = await run(demo, ["--bogus"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown flag '--bogus'/);
  },
);

test(
  `kv_server (${runtime}): with --peer-listen, its peer port answers a plain request 426 and the node keeps serving`,
  { timeout: 60_000 },
  async () => {
    const [peerPort] = await freePorts(1);
    const s = await startServer(
      [
        "--id",
        "1",
        "--data-dir",
        ":memory:",
        "--log",
        "warn",
        "--peer-listen",
        `127.0.0.1:${peerPort}`,
        "--peer-urls",
        `1=ws://127.0.0.1:${peerPort}`,
      ],
      { RAFT_SECRET: secret },
    );
    try {
      const plain = await fetch(`http://127.0.0.1:${peerPort}/`);
      assert.equal(plain.status, 426);
      await plain.body?.cancel();
      const res = await putWhenLed(s.url, "k", "v");
      assert.equal(res.status, 200, await res.clone().text());
      await res.body?.cancel();
    } finally {
      assert.equal(await stopServer(s), 0, s.stderr());
    }
  },
);
