import { test } from "node:test";
import assert from "node:assert/strict";
import {
  type Admission,
  defaultSessionLimits,
  type SessionLimits,
  SessionTable,
} from "./sessions.ts";

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const limits = (o: Partial<SessionLimits>): SessionLimits => ({ ...defaultSessionLimits, ...o });

function kindOf(a: Admission): string {
  return a.kind === "refused" ? `refused:${a.reason}` : a.kind;
}

/** Admits, and on `apply` records `result` as a real applier would. */
function run(
  t: SessionTable,
  id: number,
  seq: number,
  ack: number,
  at: number,
  result: string,
): Admission {
  const a = t.admitSession(id, seq, ack, at);
  if (a.kind === "apply") t.recordSession(id, seq, bytes(result));
  return a;
}

test("SessionTable applies a session's command once and returns its result to retries", () => {
  const t = new SessionTable();
  t.register(7, 1000);
  assert.ok(t.hasSession(7));
  assert.equal(kindOf(run(t, 7, 1, 1, 1001, "r1")), "apply");
  const again = t.admitSession(7, 1, 1, 1002);
  assert.equal(again.kind, "duplicate");
  assert.deepEqual(again.kind === "duplicate" ? again.result : undefined, bytes("r1"));
  assert.equal(t.sessionResult(7, 1)?.length, 2);
});

test("SessionTable takes commands out of order and drops acknowledged results", () => {
  const t = new SessionTable();
  t.register(1, 0);
  assert.equal(kindOf(run(t, 1, 3, 1, 1, "c")), "apply");
  assert.equal(kindOf(run(t, 1, 1, 1, 2, "a")), "apply");
  assert.equal(kindOf(run(t, 1, 2, 1, 3, "b")), "apply");
  assert.equal(kindOf(t.admitSession(1, 2, 1, 4)), "duplicate");
  // The client saw results 1 and 2: they are dropped, 3 stays.
  assert.equal(kindOf(run(t, 1, 4, 3, 5, "d")), "apply");
  assert.equal(t.sessionResult(1, 1), undefined);
  assert.equal(t.sessionResult(1, 2), undefined);
  assert.deepEqual(t.sessionResult(1, 3), bytes("c"));
  // A retry of an acknowledged command is refused, never applied again.
  const stale = t.admitSession(1, 2, 3, 6);
  assert.equal(kindOf(stale), "refused:session_stale");
});

test("SessionTable answers a duplicate inside one batch once the first is recorded", () => {
  const t = new SessionTable();
  t.register(1, 0);
  assert.equal(kindOf(t.admitSession(1, 1, 1, 1)), "apply");
  assert.equal(kindOf(t.admitSession(1, 1, 1, 1)), "follows");
  t.recordSession(1, 1, bytes("x"));
  assert.deepEqual(t.sessionResult(1, 1), bytes("x"));
  assert.equal(kindOf(t.admitKey("k", bytes("f"), 2)), "apply");
  assert.equal(kindOf(t.admitKey("k", bytes("f"), 2)), "follows");
});

test("SessionTable bounds a session's unacknowledged results", () => {
  const t = new SessionTable(limits({ resultsPerSessionMax: 2 }));
  t.register(1, 0);
  run(t, 1, 1, 1, 1, "a");
  run(t, 1, 2, 1, 1, "b");
  assert.equal(kindOf(t.admitSession(1, 3, 1, 1)), "refused:session_busy");
  assert.equal(kindOf(run(t, 1, 3, 2, 1, "c")), "apply");
});

test("SessionTable expires idle sessions on the clock the entries carry", () => {
  const t = new SessionTable(limits({ sessionTtlMs: 100 }));
  t.register(1, 1000);
  t.register(2, 1050);
  run(t, 2, 1, 1, 1140, "x"); // keeps 2 alive
  // 1 was last active at 1000; at 1101 it expired.
  assert.equal(kindOf(t.admitSession(1, 1, 1, 1101)), "refused:session_expired");
  assert.equal(t.hasSession(1), false);
  assert.equal(kindOf(t.admitSession(2, 1, 1, 1200)), "duplicate");
  // An older stamp does not move the clock back.
  t.register(3, 10);
  assert.equal(t.clockMs, 1200);
});

test("SessionTable evicts the least recently used session when full, deterministically", () => {
  const t = new SessionTable(limits({ sessionsMax: 2 }));
  t.register(10, 0);
  t.register(20, 0);
  run(t, 10, 1, 1, 5, "a"); // 10 is used after 20
  t.register(30, 6);
  assert.equal(t.hasSession(20), false);
  assert.ok(t.hasSession(10) && t.hasSession(30));
  assert.equal(kindOf(t.admitSession(20, 1, 1, 7)), "refused:session_expired");
  // Equal last use: the lower ID goes first.
  const u = new SessionTable(limits({ sessionsMax: 2 }));
  u.register(5, 0);
  u.register(4, 0);
  u.register(6, 0);
  assert.deepEqual([u.hasSession(4), u.hasSession(5), u.hasSession(6)], [false, true, true]);
});

test("SessionTable keeps an idempotency key's result, refuses the key for another request, and expires it", () => {
  const t = new SessionTable(limits({ keyTtlMs: 100, keysMax: 2 }));
  assert.equal(kindOf(t.admitKey("a", bytes("PUT x=1"), 0)), "apply");
  t.recordKey("a", bytes("ok-a"));
  const dup = t.admitKey("a", bytes("PUT x=1"), 10);
  assert.deepEqual(dup.kind === "duplicate" ? dup.result : undefined, bytes("ok-a"));
  assert.equal(kindOf(t.admitKey("a", bytes("PUT x=2"), 11)), "refused:key_reused");
  // Bounded: a third key drops the oldest.
  t.admitKey("b", bytes("b"), 20);
  t.recordKey("b", bytes("ok-b"));
  t.admitKey("c", bytes("c"), 30);
  t.recordKey("c", bytes("ok-c"));
  assert.equal(t.keyResult("a"), undefined);
  assert.equal(t.keyCount, 2);
  // Expired after keyTtlMs of the table's clock: the key applies anew.
  assert.equal(kindOf(t.admitKey("b", bytes("b"), 121)), "apply");
  assert.deepEqual(t.keyResult("c"), bytes("ok-c"));
  t.register(1, 131);
  assert.equal(t.keyResult("c"), undefined);
});

test("SessionTable round-trips through encode() and decode() and refuses bad bytes", () => {
  const t = new SessionTable();
  t.register(3, 100);
  run(t, 3, 1, 1, 101, "one");
  run(t, 3, 2, 1, 102, "two");
  t.register(9, 103);
  t.admitKey("k€y", bytes("fp"), 104);
  t.recordKey("k€y", bytes("res"));
  t.admitKey("pending", bytes("fp2"), 105);
  const out: number[] = [0xff];
  t.encode(out);
  const [u, end] = SessionTable.decode(new Uint8Array(out), 1, defaultSessionLimits);
  assert.equal(end, out.length);
  assert.equal(u.clockMs, 105);
  assert.equal(u.sessionCount, 2);
  assert.deepEqual(u.sessionResult(3, 2), bytes("two"));
  assert.deepEqual(u.keyResult("k€y"), bytes("res"));
  assert.equal(kindOf(u.admitSession(3, 1, 1, 106)), "duplicate");
  assert.equal(kindOf(u.admitKey("k€y", bytes("other"), 106)), "refused:key_reused");
  // The copy encodes to the same bytes as the original did.
  const again: number[] = [0xff];
  const [v] = SessionTable.decode(new Uint8Array(out), 1, defaultSessionLimits);
  v.encode(again);
  assert.deepEqual(again, out);
  for (const cut of [2, 5, out.length - 1]) {
    assert.throws(
      () => SessionTable.decode(new Uint8Array(out.slice(0, cut)), 1, defaultSessionLimits),
      RangeError,
    );
  }
});
