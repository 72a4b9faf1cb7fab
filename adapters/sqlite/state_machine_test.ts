import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { type Command, RaftNode } from "../../core/node.ts";
import { MemoryNetwork } from "../memory/mod.ts";
import {
  openSqliteDatabase,
  openSqliteStorage,
  SqliteStateMachine,
  SqliteStorageError,
} from "./mod.ts";
import {
  onStdoutLines,
  rowsDefinition,
  rowsState,
  spawnScript,
  withTempDir,
} from "./_test_util.ts";

const applier = fileURLToPath(new URL("./_crash_applier.ts", import.meta.url));

function commands(from: number, n: number, bytes = 10): Command[] {
  const out: Command[] = [];
  for (let i = 0; i < n; i++) {
    out.push({ index: from + i, term: 1, data: new Uint8Array(bytes).fill((from + i) % 200) });
  }
  return out;
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const c of chunks) out.push(c);
  return out;
}

function join(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

test("SqliteStateMachine.apply() commits the tables and the applied index together", async () => {
  await withTempDir(async (tmp) => {
    const path = tmp.file("n.db");
    const sm = await SqliteStateMachine.open(path, rowsDefinition());
    try {
      assert.equal(sm.appliedIndex(), 0);
      assert.deepEqual(sm.apply(commands(1, 3)), [1, 2, 3]);
      assert.equal(sm.appliedIndex(), 3);
      // A batch whose apply throws leaves neither its rows nor its index.
      const bad = commands(4, 3);
      bad[2]!.data = new Uint8Array([0xff]);
      assert.throws(() => sm.apply(bad), /command 6 refused/);
      assert.equal(sm.appliedIndex(), 3);
      assert.deepEqual(rowsState(sm.db).indexes, [1, 2, 3]);
      assert.equal(rowsState(sm.db).total, 30);
      assert.deepEqual(sm.apply(commands(4, 2)), [4, 5]);
    } finally {
      await sm.close();
    }
    // What a restart reads is what the tables hold.
    const again = await SqliteStateMachine.open(path, rowsDefinition(), { create: false });
    try {
      assert.equal(again.appliedIndex(), 5);
      assert.deepEqual(rowsState(again.db).indexes, [1, 2, 3, 4, 5]);
      assert.equal(rowsState(again.db).total, 50);
    } finally {
      await again.close();
    }
  });
});

test("SqliteStateMachine.open() locks the file against a second opener and checks its tables", async () => {
  await withTempDir(async (tmp) => {
    const path = tmp.file("n.db");
    const sm = await SqliteStateMachine.open(path, rowsDefinition());
    try {
      await assert.rejects(
        SqliteStateMachine.open(path, rowsDefinition()),
        (e) => e instanceof SqliteStorageError && e.code === "locked",
      );
      // A storage alone, with SQLite's exclusive lock, is refused too.
      await assert.rejects(
        openSqliteStorage(path),
        (e) => e instanceof SqliteStorageError && e.code === "locked",
      );
    } finally {
      await sm.close();
    }
    // And the other way round.
    const alone = await openSqliteStorage(path);
    try {
      await assert.rejects(
        SqliteStateMachine.open(path, rowsDefinition()),
        (e) => e instanceof SqliteStorageError && e.code === "locked",
      );
    } finally {
      alone.close();
    }
    await assert.rejects(
      SqliteStateMachine.open(path, { ...rowsDefinition(), tables: ["cmds", "nope"] }),
      /table 'nope' does not exist after setup\(\)/,
    );
    await assert.rejects(
      SqliteStateMachine.open(path, { ...rowsDefinition(), tables: ["raft_log"] }),
      RangeError,
    );
    await assert.rejects(
      SqliteStateMachine.open(path, rowsDefinition(), { snapshotChunkBytes: 0 }),
      /'snapshotChunkBytes' must be/,
    );
    // The failed opens released the lock.
    const again = await SqliteStateMachine.open(path, rowsDefinition());
    await again.close();
  });
});

for (const writer of ["inline", "worker"] as const) {
  test(`RaftNode on a SqliteStateMachine (writer ${writer}) applies nothing again after a restart`, async () => {
    await withTempDir(async (tmp) => {
      const path = tmp.file("n.db");
      const run = async (
        proposals: number,
      ): Promise<{ applied: number; commands: number; results: number[] }> => {
        const def = rowsDefinition();
        const sm = await SqliteStateMachine.open(path, def, { writer });
        const net = new MemoryNetwork();
        const node = await RaftNode.start({
          id: 1,
          peers: [1],
          storage: sm.storage,
          transport: net.connect(1),
          stateMachine: sm,
          tickMs: 5,
        });
        const results: number[] = [];
        try {
          await node.waitForLeader();
          for (let i = 0; i < proposals; i++) {
            results.push(await node.propose(new Uint8Array([1, 2, 3])));
          }
        } finally {
          await node.close();
          net.close();
        }
        const applied = sm.appliedIndex();
        await sm.close();
        return { applied, commands: def.calls.commands, results };
      };
      const first = await run(20);
      assert.equal(first.commands, 20);
      // The restarted node elects itself and proposes again: only the new
      // commands reach apply().
      const second = await run(5);
      assert.equal(second.commands, 5);
      assert.ok(second.results[0]! > first.applied);
      const third = await run(0);
      assert.equal(third.commands, 0);
      const db = await openSqliteDatabase(path);
      try {
        db.exec("PRAGMA busy_timeout=1000");
        const state = rowsState(db);
        assert.equal(state.indexes.length, 25);
        assert.equal(state.total, 75);
        assert.equal(state.indexes.at(-1), second.applied);
      } finally {
        db.close();
      }
    });
  });
}

test("SqliteStateMachine.snapshot() is the state when it was taken, while commands go on", async () => {
  await withTempDir(async (tmp) => {
    const sm = await SqliteStateMachine.open(tmp.file("a.db"), rowsDefinition(), {
      snapshotChunkBytes: 4096,
    });
    const other = await SqliteStateMachine.open(tmp.file("b.db"), rowsDefinition());
    try {
      sm.apply(commands(1, 500, 100));
      const expected = rowsState(sm.db);
      const chunks: Uint8Array[] = [];
      let next = 501;
      for await (const c of sm.snapshot()) {
        chunks.push(c);
        // Writes go on while the snapshot is read, and are not in it.
        sm.apply(commands(next, 20, 100));
        next += 20;
      }
      assert.ok(chunks.length > 5, `${chunks.length} chunks`);
      for (const c of chunks.slice(0, -2)) assert.ok(c.length >= 4096 && c.length < 8192);
      assert.equal(sm.appliedIndex(), next - 1);

      await other.restoreStream(
        (async function* () {
          yield* chunks;
        })(),
        { index: 500, term: 1 },
      );
      assert.equal(other.appliedIndex(), 500);
      assert.deepEqual(rowsState(other.db), expected);

      // restore() of the joined bytes, split anywhere for restoreStream().
      const whole = join(chunks);
      const third = await SqliteStateMachine.open(tmp.file("c.db"), rowsDefinition());
      try {
        await third.restore(whole, { index: 500, term: 1 });
        assert.deepEqual(rowsState(third.db), expected);
        sm.apply(commands(next, 1));
        const later = rowsState(sm.db);
        const bytes = join(await collect(sm.snapshot()));
        const split = (async function* () {
          for (let at = 0; at < bytes.length; at += 7) yield bytes.subarray(at, at + 7);
        })();
        await third.restoreStream(split, { index: next, term: 2 });
        assert.deepEqual(rowsState(third.db), later);
        assert.equal(third.appliedIndex(), next);
      } finally {
        await third.close();
      }
    } finally {
      await sm.close();
      await other.close();
    }
  });
});

test("SqliteStateMachine.restoreStream() refuses a bad stream and keeps the old state", async () => {
  await withTempDir(async (tmp) => {
    const sm = await SqliteStateMachine.open(tmp.file("a.db"), rowsDefinition());
    const target = await SqliteStateMachine.open(tmp.file("b.db"), rowsDefinition());
    try {
      sm.apply(commands(1, 50));
      const bytes = join(await collect(sm.snapshot()));
      target.apply(commands(1, 3, 1));
      const before = rowsState(target.db);
      // A bit flipped inside a value (command 25's data: ten bytes of 25),
      // which only the checksum can tell.
      const flipped = bytes.slice();
      const at = bytes.findIndex((_, i) => bytes.subarray(i, i + 10).every((b) => b === 25));
      assert.ok(at > 0);
      flipped[at + 3]! ^= 0x01;
      const cases: [string, Uint8Array[], RegExp][] = [
        ["truncated", [bytes.subarray(0, bytes.length - 3)], /ends before its end record/],
        ["cut after a record", [bytes.subarray(0, 200)], /ends before its end record|truncated/],
        ["corrupted", [flipped], /checksum does not match/],
        ["not a snapshot", [new TextEncoder().encode('{"items":[]}')], /header/],
        ["empty", [], /empty/],
        ["duplicated", [bytes, bytes], /follow the end record/],
      ];
      for (const [name, chunks, re] of cases) {
        await assert.rejects(
          target.restoreStream(
            (async function* () {
              yield* chunks;
            })(),
            { index: 50, term: 1 },
          ),
          (e) =>
            e instanceof SqliteStorageError && e.code === "corrupt_record" && re.test(e.message),
          name,
        );
        assert.deepEqual(rowsState(target.db), before, name);
        assert.equal(target.appliedIndex(), 3, name);
      }
      // A source that fails midway leaves the old state too.
      await assert.rejects(
        target.restoreStream(
          (async function* () {
            yield bytes.subarray(0, 100);
            throw new Error("connection lost");
          })(),
          { index: 50, term: 1 },
        ),
        /connection lost/,
      );
      assert.deepEqual(rowsState(target.db), before);
      // And the state machine still works.
      target.apply(commands(4, 1));
      assert.equal(target.appliedIndex(), 4);
    } finally {
      await sm.close();
      await target.close();
    }
  });
});

test("SqliteStateMachine.snapshot() abandoned with return() releases its reader", async () => {
  await withTempDir(async (tmp) => {
    const sm = await SqliteStateMachine.open(tmp.file("a.db"), rowsDefinition(), {
      snapshotChunkBytes: 1024,
    });
    try {
      sm.apply(commands(1, 200, 50));
      for (let i = 0; i < 10; i++) {
        for await (const _ of sm.snapshot()) break;
        // Stopped before its first chunk.
        await sm.snapshot().return?.();
      }
      // Four readers at most: held ones are refused a fifth.
      const held = [sm.snapshot(), sm.snapshot(), sm.snapshot(), sm.snapshot()];
      assert.throws(
        () => sm.snapshot(),
        (e) => e instanceof SqliteStorageError && e.code === "busy",
      );
      for (const h of held) await collect(h);
      await collect(sm.snapshot());
    } finally {
      await sm.close();
    }
  });
});

/** Runs the applier on `path` and kills it with SIGKILL `afterMs` after it opened. */
function runApplier(
  path: string,
  afterMs: number,
): Promise<{ opened: number; lastAck: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawnScript(applier, [path]);
    let stderr = "";
    let opened = -1;
    let lastAck = 0;
    const watchdog = setTimeout(() => child.kill("SIGKILL"), 30_000);
    onStdoutLines(child, (line) => {
      if (line.startsWith("open ")) {
        opened = Number(line.slice(5));
        setTimeout(() => child.kill("SIGKILL"), afterMs);
      } else if (line.startsWith("ack ")) lastAck = Number(line.slice(4));
    });
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (c: string) => (stderr += c));
    child.on("error", reject);
    child.on("close", () => {
      clearTimeout(watchdog);
      resolve({ opened, lastAck, stderr });
    });
  });
}

test("SqliteStateMachine killed while applying reopens with its applied index matching its tables", async () => {
  await withTempDir(async (tmp) => {
    const path = tmp.file("n.db");
    let acked = 0;
    for (let round = 0; round < 5; round++) {
      const r = await runApplier(path, 30 + round * 37);
      assert.ok(r.opened >= 0, `the applier did not open: ${r.stderr}`);
      assert.ok(r.opened >= acked, `round ${round}: opened at ${r.opened}, ${acked} acknowledged`);
      acked = Math.max(acked, r.lastAck);
      const sm = await SqliteStateMachine.open(path, rowsDefinition(), { create: false });
      try {
        const applied = sm.appliedIndex();
        const state = rowsState(sm.db);
        // Every acknowledged batch is there (a killed process loses no
        // committed transaction), and exactly the rows through the applied index.
        assert.ok(applied >= r.lastAck, `round ${round}: applied ${applied} < acked ${r.lastAck}`);
        assert.equal(state.indexes.length, applied);
        assert.equal(state.indexes.at(-1) ?? 0, applied);
        assert.equal(state.total, applied * 2000);
      } finally {
        await sm.close();
      }
    }
    assert.ok(acked > 0);
  });
});
