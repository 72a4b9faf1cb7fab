import assert from "node:assert/strict";
import { test } from "node:test";
import { setImmediate } from "node:timers";
import { type Command, RaftNode, type StateMachine, type Transport } from "../../core/node.ts";
import { decodeSnapshotData } from "../../core/node/replicated.ts";
import { MemoryNetwork } from "../memory/mod.ts";
import { openSqliteDatabase, openSqliteStorage, SqliteStateMachine } from "./mod.ts";
import { queryOnce } from "./_database.ts";
import { asRow } from "./_rows.ts";
import { rowsDefinition, rowsState, withTempDir } from "./_test_util.ts";

/** Rows of 1 KiB written straight into the state machine's table (not through Raft). */
function fill(sm: SqliteStateMachine<number>, rows: number): void {
  const ins = sm.db.prepare("INSERT INTO cmds (idx, data, note) VALUES (?, ?, NULL)");
  sm.db.exec("BEGIN");
  for (let i = 1; i <= rows; i++) ins.run(-i, new Uint8Array(1024).fill(i % 251));
  sm.db.exec("COMMIT");
}

function command(index: number): Command {
  return { index, term: 1, data: new Uint8Array(16).fill(index % 200) };
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const c of chunks) out.push(c);
  return out;
}

async function* replay(chunks: readonly Uint8Array[]): AsyncGenerator<Uint8Array> {
  yield* chunks;
}

test("SqliteStateMachine.snapshot() reads a large state in slices, with commands applied between them", async () => {
  await withTempDir(async (tmp) => {
    const sm = await SqliteStateMachine.open(tmp.file("a.db"), rowsDefinition());
    const other = await SqliteStateMachine.open(tmp.file("b.db"), rowsDefinition());
    try {
      fill(sm, 16 * 1024); // 16 MiB
      sm.apply([command(1)]);
      const expected = rowsState(sm.db);
      // One command per turn of the event loop while the snapshot is read.
      let next = 2;
      let reading = true;
      const during: number[] = [];
      const applyEachTurn = (): void => {
        if (!reading) return;
        sm.apply([command(next)]);
        during.push(next++);
        setImmediate(applyEachTurn);
      };
      setImmediate(applyEachTurn);
      const chunks = await collect(sm.snapshot());
      reading = false;
      assert.ok(during.length > 0, "no command was applied while the snapshot was read");
      assert.equal(sm.appliedIndex(), next - 1);
      // The snapshot is the state at index 1, without the commands applied while it was read.
      await other.restoreStream(replay(chunks), { index: 1, term: 1 });
      assert.deepEqual(rowsState(other.db), expected);
    } finally {
      await sm.close();
      await other.close();
    }
  });
});

test("RaftNode applies commands while a streamed snapshot of a SqliteStateMachine is staged", async () => {
  await withTempDir(async (tmp) => {
    const sm = await SqliteStateMachine.open(tmp.file("n.db"), rowsDefinition(), {
      snapshotChunkBytes: 64 * 1024,
    });
    const net = new MemoryNetwork();
    let node: RaftNode<number> | undefined;
    try {
      fill(sm, 4 * 1024); // 4 MiB
      // The order of what happens: applied commands, and the snapshot's chunks.
      const order: string[] = [];
      let applied = 0;
      let wake: (() => void) | undefined;
      let snapshotAt = -1;
      const wrapped: StateMachine<number> = {
        apply(commands: readonly Command[]): readonly number[] {
          const out = sm.apply(commands);
          for (const c of commands) order.push(`apply ${c.index}`);
          applied += commands.length;
          wake?.();
          return out;
        },
        async *snapshot(): AsyncGenerator<Uint8Array> {
          snapshotAt = sm.appliedIndex();
          const target = applied + 3;
          let first = true;
          for await (const c of sm.snapshot()) {
            order.push("chunk");
            yield c;
            if (!first) continue;
            first = false;
            // Three commands must apply before the rest of the snapshot is read:
            // they cannot unless the node goes on while it is staged.
            for (let i = 0; i < 500 && applied < target; i++) {
              await new Promise<void>((resolve) => {
                wake = resolve;
                setTimeout(resolve, 20);
              });
            }
            wake = undefined;
            assert.ok(applied >= target, "no command was applied while the snapshot was staged");
          }
        },
        restore: (data, meta) => sm.restore(data, meta),
        restoreStream: (chunks, meta) => sm.restoreStream(chunks, meta),
        appliedIndex: () => sm.appliedIndex(),
      };
      const inner = net.connect(1);
      const transport: Transport = {
        streamsSnapshots: true,
        start: (h) => inner.start(h),
        send: (m) => inner.send(m),
        close: () => inner.close(),
      };
      node = await RaftNode.start<number>({
        id: 1,
        peers: [1],
        storage: sm.storage,
        transport,
        stateMachine: wrapped,
        tickMs: 5,
        snapshotEntries: 3,
      });
      const taken = new Promise<number>((resolve) => node!.on("snapshot", (e) => resolve(e.index)));
      await node.waitForLeader();
      // Proposals go on until the snapshot is created (bounded).
      let created: number | undefined;
      void taken.then((i) => (created = i));
      for (let i = 0; i < 2000 && created === undefined; i++) await node.propose(new Uint8Array(8));
      const index = await taken;
      assert.equal(index, snapshotAt);
      const firstChunk = order.indexOf("chunk");
      const lastChunk = order.lastIndexOf("chunk");
      const between = order.slice(firstChunk, lastChunk).filter((e) => e.startsWith("apply"));
      assert.ok(between.length >= 3, `applied between chunks: ${between.length}`);
      assert.ok(sm.appliedIndex() > index);

      // The stored snapshot is the state at its index, not later.
      const snap = sm.storage.snapshot();
      assert.equal(snap.metadata.index, index);
      const stored = decodeSnapshotData(snap.data).stored!;
      const other = await SqliteStateMachine.open(tmp.file("o.db"), rowsDefinition());
      try {
        await other.restoreStream(sm.storage.snapshotChunks!.read(stored), {
          index,
          term: snap.metadata.term,
        });
        const got = rowsState(other.db);
        const now = rowsState(sm.db);
        assert.deepEqual(got.indexes, now.indexes.filter((i) => i <= index));
        assert.ok(now.indexes.some((i) => i > index));
      } finally {
        await other.close();
      }
    } finally {
      await node?.close();
      net.close();
      await sm.close();
    }
  });
});

test("SqliteStateMachine.restoreStream() that fails or is given up keeps the old state and lets go of the file", async () => {
  await withTempDir(async (tmp) => {
    const sm = await SqliteStateMachine.open(tmp.file("a.db"), rowsDefinition());
    const source = await SqliteStateMachine.open(tmp.file("b.db"), rowsDefinition(), {
      snapshotChunkBytes: 4096,
    });
    try {
      sm.apply([command(1), command(2)]);
      const before = rowsState(sm.db);
      fill(source, 64);
      source.apply([command(1)]);
      const chunks = await collect(source.snapshot());
      assert.ok(chunks.length > 4);
      const cases: { name: string; stream: () => AsyncGenerator<Uint8Array>; error: RegExp }[] = [
        {
          name: "the source fails midway",
          stream: async function* () {
            yield* chunks.slice(0, 3);
            throw new Error("connection lost");
          },
          error: /connection lost/,
        },
        {
          name: "the stream is cut short",
          stream: () => replay(chunks.slice(0, -1)),
          error: /ends before its end record/,
        },
        {
          name: "a chunk is corrupted",
          stream: () =>
            replay(chunks.map((c, i) => (i === 2 ? c.map((b, k) => k === 2000 ? b ^ 1 : b) : c))),
          error: /checksum does not match/,
        },
      ];
      for (const c of cases) {
        let released = false;
        const stream = async function* (): AsyncGenerator<Uint8Array> {
          try {
            yield* c.stream();
          } finally {
            released = true;
          }
        };
        await assert.rejects(sm.restoreStream(stream(), { index: 50, term: 2 }), c.error, c.name);
        assert.ok(released, `${c.name}: the source was not ended`);
        assert.deepEqual(rowsState(sm.db), before, c.name);
        assert.equal(sm.appliedIndex(), before.indexes.at(-1), c.name);
        // The write lock is released: the storage's connection and the state machine write at once.
        await sm.storage.save({
          hardState: { term: 1, vote: 0, commit: 0 },
          entries: [],
          snapshot: undefined,
          mustSync: true,
        });
        const n = sm.appliedIndex() + 1;
        sm.apply([command(n)]);
        before.indexes.push(n);
        before.bytes += 16;
        before.total += 16;
        before.notes.push(n % 3 === 0 ? null : `n${n}`);
        assert.deepEqual(rowsState(sm.db), before, c.name);
      }
      // A good stream is then restored.
      await sm.restoreStream(replay(chunks), { index: 50, term: 2 });
      assert.equal(sm.appliedIndex(), 50);
      assert.deepEqual(rowsState(sm.db), rowsState(source.db));
    } finally {
      await sm.close();
      await source.close();
    }
  });
});

test("SqliteStorage deletes a replaced snapshot's chunks after the snapshot, a few per write", async () => {
  await withTempDir(async (tmp) => {
    const path = tmp.file("s.db");
    const cs = {
      voters: [1],
      learners: [],
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: false,
    };
    const chunkRows = async (): Promise<number> => {
      const db = await openSqliteDatabase(path);
      try {
        return Number(asRow(queryOnce(db, "SELECT count(*) AS n FROM raft_snapshot_chunk"))!["n"]);
      } finally {
        db.close();
      }
    };
    const s = await openSqliteStorage(path, { exclusive: false, snapshotChunkBytes: 256 * 1024 });
    try {
      await s.save({
        hardState: { term: 1, vote: 1, commit: 3 },
        entries: [1, 2, 3].map((index) => ({ index, term: 1, type: 0, data: new Uint8Array(0) })),
        snapshot: undefined,
        mustSync: true,
      } as never);
      let last = { length: 0, checksum: 0 };
      const snapshotAt = async (index: number, fill: number): Promise<void> => {
        const st = s.snapshotChunks.stage();
        await st.write(new Uint8Array(16 << 20).fill(fill)); // 64 chunks
        last = await st.finish();
        s.createSnapshot(index, cs, new Uint8Array([index]), last);
      };
      await snapshotAt(1, 1);
      assert.equal(await chunkRows(), 64);
      await snapshotAt(2, 2);
      // The snapshot's own write left the replaced chunks: none is deleted yet.
      assert.equal(await chunkRows(), 128);
      const seen = new Set<number>();
      for (let i = 0; i < 1000 && (await chunkRows()) > 64; i++) {
        seen.add(await chunkRows());
        await new Promise((resolve) => setImmediate(resolve));
      }
      assert.equal(await chunkRows(), 64);
      // Deleted over several writes (8 chunks of 256 KiB each), not at once.
      assert.ok(seen.size > 2, `counts seen: ${[...seen]}`);
      const data = await collect(s.snapshotChunks.read(last));
      assert.ok(data.every((c) => c.every((b) => b === 2)));
      // A reopen deletes chunks a closed (or crashed) storage did not sweep.
      await snapshotAt(3, 3);
      s.close();
      assert.equal(await chunkRows(), 128);
      const again = await openSqliteStorage(path, { create: false });
      again.close();
      assert.equal(await chunkRows(), 64);
    } finally {
      s.close();
    }
  });
});
