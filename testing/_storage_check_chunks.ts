/**
 * The storage suite's checks of snapshot data in chunks (storages with a
 * `snapshotChunks` store).
 *
 * @module
 */

import assert from "node:assert/strict";
import type { NodeStorage, SnapshotChunkStore, SnapshotDataDescriptor } from "../core/node.ts";
import { crc32c } from "../core/crc32c.ts";
import { newSnapshot } from "../core/types.ts";
import { cs, enc, save, test, withLog } from "./_storage_check_base.ts";
import type { NodeStorageFactory } from "./storage_check.ts";

/** `b` in pieces of the given sizes, cycling. */
async function* pieces(b: Uint8Array, sizes: readonly number[]): AsyncGenerator<Uint8Array> {
  let at = 0;
  for (let k = 0; at < b.length; k++) {
    const n = sizes[k % sizes.length]!;
    yield b.slice(at, at + n);
    at += n;
  }
}

/** `n` bytes of a seeded pattern. */
function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed * 2654435761 >>> 0;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** The storage's chunk store (an assertion that it has one). */
function store(s: NodeStorage): SnapshotChunkStore {
  assert.ok(s.snapshotChunks !== undefined, "the storage has no snapshotChunks store");
  return s.snapshotChunks;
}

/** Stages `data` written in pieces of the given sizes. */
async function stageAll(
  s: NodeStorage,
  data: Uint8Array,
  sizes: readonly number[],
): Promise<SnapshotDataDescriptor> {
  const st = store(s).stage();
  for await (const p of pieces(data, sizes)) await st.write(p);
  return await st.finish();
}

/** The data `d` names, read back whole. */
async function readAll(s: NodeStorage, d: SnapshotDataDescriptor): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of store(s).read(d)) parts.push(c.slice());
  const out = new Uint8Array(parts.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of parts) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** More than 3 MiB: several chunks. */
const big = 3 * (1 << 20) + 12345;

/** Chunked data reads back, also after a reopen. */
async function readsChunksBack(factory: NodeStorageFactory): Promise<void> {
  await withLog(factory, [4, 4, 5], async (s, inst) => {
    const data = pattern(big, 1);
    const d = await stageAll(s, data, [1000, 700_000, 1, 2_500_000]);
    assert.deepEqual(d, { length: data.length, checksum: crc32c(data) });
    await s.createSnapshot(5, cs(1, 2, 3), enc.encode("header"), d);
    assert.deepEqual(s.snapshot().data, enc.encode("header"));
    assert.deepEqual(await readAll(s, d), data);
    let chunks = 0;
    for await (const c of store(s).read(d)) {
      chunks++;
      assert.ok(c.length <= 1 << 20, `a chunk of ${c.length} bytes, above 1 MiB`);
    }
    assert.ok(chunks >= 4, `${chunks} chunks for ${big} bytes`);
    s = await inst.reopen();
    assert.equal(s.snapshot().metadata.index, 5);
    assert.deepEqual(s.snapshot().data, enc.encode("header"));
    assert.deepEqual(await readAll(s, d), data);
    // Empty data is data too.
    const e = await stageAll(s, new Uint8Array(0), [1]);
    assert.deepEqual(e, { length: 0, checksum: 0 });
    await s.createSnapshot(6, cs(1, 2, 3), enc.encode("empty"), e);
    assert.deepEqual(await readAll(s, e), new Uint8Array(0));
  });
}

/** A snapshot's chunked data is replaced with the next snapshot's data. */
async function replacesChunkedData(factory: NodeStorageFactory): Promise<void> {
  await withLog(factory, [4, 4, 5], async (s, inst) => {
    const a = pattern(5000, 2);
    const da = await stageAll(s, a, [999]);
    await s.createSnapshot(4, cs(1, 2, 3), enc.encode("a"), da);
    // A snapshot received from a leader, saved with its staged data.
    const b = pattern(7000, 3);
    const db = await stageAll(s, b, [4096]);
    assert.deepEqual(await readAll(s, db), b, "staged data reads before it is saved");
    const snap = newSnapshot({ index: 9, term: 6, confState: cs(1, 2, 3) });
    snap.data = enc.encode("b");
    await s.save({
      hardState: undefined,
      entries: [],
      snapshot: snap,
      snapshotData: db,
      mustSync: true,
    });
    assert.throws(() => store(s).read(da), RangeError, "the replaced data is gone");
    assert.deepEqual(await readAll(s, db), b);
    s = await inst.reopen();
    assert.throws(
      () => store(s).read(da),
      RangeError,
      "the replaced data is gone after a reopen",
    );
    assert.deepEqual(await readAll(s, db), b);
    // A snapshot whose data is inline drops the chunked data too.
    const c = newSnapshot({ index: 12, term: 7, confState: cs(1, 2, 3) });
    c.data = enc.encode("inline");
    await save(s, { snapshot: c });
    assert.throws(() => store(s).read(db), RangeError);
    s = await inst.reopen();
    assert.throws(() => store(s).read(db), RangeError);
    assert.deepEqual(s.snapshot().data, enc.encode("inline"));
  });
}

/** Staged data that no snapshot names is discarded. */
async function discardsUnnamedData(factory: NodeStorageFactory): Promise<void> {
  await withLog(factory, [4, 4, 5], async (s, inst) => {
    const a = pattern(3000, 4);
    // Aborted: gone at once, and cannot be named by a snapshot.
    const st = store(s).stage();
    await st.write(a);
    await st.abort();
    const da = { length: a.length, checksum: crc32c(a) };
    assert.throws(() => store(s).read(da), RangeError);
    await assert.rejects(
      async () => await s.createSnapshot(5, cs(1, 2, 3), enc.encode("a"), da),
      "a snapshot naming discarded data is refused",
    );
    assert.equal(s.snapshot().metadata.index, 3, "and not written");
    // Finished but never named: gone after a reopen.
    const db = await stageAll(s, pattern(3000, 5), [1000]);
    assert.ok((await readAll(s, db)).length === 3000);
    // Half written (a staging the process dropped): gone after a reopen.
    const half = store(s).stage();
    await half.write(pattern(2000, 6));
    s = await inst.reopen();
    assert.throws(() => store(s).read(db), RangeError);
    await assert.rejects(async () => await s.createSnapshot(5, cs(1, 2, 3), enc.encode("b"), db));
    // A write after the staging ended is refused.
    const done = store(s).stage();
    await done.finish();
    assert.throws(() => done.write(new Uint8Array(1)));
  });
}

/** Registers the chunk checks (run only on a storage with a `snapshotChunks` store). */
export function registerChunkChecks(): void {
  test(
    `stores snapshot data in chunks and reads it back, also after a reopen`,
    { chunks: true },
    readsChunksBack,
  );
  test(`replaces a snapshot's chunked data with the next snapshot's, in one write`, {
    chunks: true,
  }, replacesChunkedData);
  test(
    `discards staged snapshot data that no snapshot names`,
    { chunks: true },
    discardsUnnamedData,
  );
}
