import { test } from "node:test";
import assert from "node:assert/strict";
import {
  constantTimeEqual,
  type HandshakeClaims,
  importSecret,
  isRefusal,
  ReplayCache,
  signToken,
  verifyToken,
} from "./_auth.ts";
import { backoffDelayMs } from "./_peer.ts";

const enc = new TextEncoder();
const now = 1_700_000_000_000;
const skew = 60_000;
const claims = {
  clusterId: "c1",
  from: 3,
  to: 1,
  timestampMs: now,
  advertiseUrl: "ws://10.0.0.3:7000/raft",
};

async function key(s = "the cluster secret, 32 bytes long"): Promise<CryptoKey> {
  return await importSecret(enc.encode(s));
}

test("verifyToken() accepts a token signed with the cluster secret and returns its claims", async () => {
  const k = await key();
  const token = await signToken(k, claims);
  assert.match(token, /^rt1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, "a valid subprotocol token");
  const got = await verifyToken(k, token, now + 1000, skew);
  assert.ok(!isRefusal(got));
  const { nonce, ...rest } = got as HandshakeClaims;
  assert.deepEqual(rest, claims);
  assert.equal(nonce.length, 16);
});

test("verifyToken() refuses wrong secrets, tampering and stale tokens", async () => {
  const k = await key();
  const token = await signToken(k, claims);
  const check = async (t: string, at: number): Promise<string> => {
    const r = await verifyToken(k, t, at, skew);
    return isRefusal(r) ? r.reason : "accepted";
  };
  const other = await signToken(await key("another secret, just as long"), claims);
  assert.match(await check(other, now), /bad handshake signature/);
  const [p, body, mac] = token.split(".");
  const tampered = `${p}.${body!.slice(0, -2)}${body!.slice(-2) === "AA" ? "AB" : "AA"}.${mac}`;
  assert.match(await check(tampered, now), /bad handshake signature|malformed/);
  assert.match(await check("rt1.nope", now), /malformed/);
  assert.match(await check("bearer xyz", now), /malformed/);
  assert.match(await check(`rt1.${"A".repeat(3000)}.x`, now), /malformed/);
  assert.match(await check(token, now + skew + 1), /expired/);
  assert.match(await check(token, now - skew - 1), /expired/);
  assert.equal(await check(token, now), "accepted");
});

test("ReplayCache refuses replays and bounds each peer's share, never another's", () => {
  const c = new ReplayCache(2);
  const n = (i: number): Uint8Array => new Uint8Array(16).fill(i);
  assert.equal(c.add(7, n(1), 100, 0), "ok");
  assert.equal(c.add(7, n(2), 100, 0), "ok");
  assert.equal(c.add(7, n(3), 100, 50), "full");
  assert.equal(c.add(7, n(1), 100, 50), "replayed");
  // Peer 7 filled its share; peer 2 keeps its own.
  assert.equal(c.add(2, n(3), 100, 50), "ok");
  assert.equal(c.add(2, n(1), 100, 50), "ok", "the same nonce from another peer is another key");
  assert.equal(c.add(7, n(3), 300, 150), "ok", "expired nonces make room");
  assert.equal(c.size(7), 1);
});

test("constantTimeEqual() compares bytes", () => {
  assert.equal(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])), true);
  assert.equal(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3])), false);
  assert.equal(constantTimeEqual(new Uint8Array([1]), new Uint8Array([1, 2])), false);
});

test("backoffDelayMs() doubles the cap up to the maximum and jitters within its upper half", () => {
  const at = (attempt: number, r: number): number => backoffDelayMs(attempt, 100, 1000, () => r);
  assert.deepEqual([0, 1, 2, 3, 4, 10].map((a) => at(a, 0)), [50, 100, 200, 400, 500, 500]);
  assert.deepEqual([0, 1, 2, 3, 4, 10].map((a) => at(a, 0.999999)).map(Math.round), [
    100,
    200,
    400,
    800,
    1000,
    1000,
  ]);
  assert.equal(at(100, 0.5), 750, "no overflow for large attempts");
});
