/**
 * End to end, three `kv_server` processes on loopback (run by the runtime
 * running the test), `--tick-ms 50`:
 *
 * - exactly once across a leader's death: an increment sent with an
 *   `Idempotency-Key` to the leader, the leader killed (SIGKILL) once the
 *   increment is committed but before the client reads the answer, the
 *   same request retried on another node: the counter moved once and the
 *   retry got the first answer (status and body), also from the killed
 *   node once it is restarted;
 * - failover rounds: after kill -9 of the leader, a GET and a PUT sent at
 *   once to each surviving node (one attempt each, redirects followed)
 *   succeed; the killed node, restarted, serves a linearizable read. The
 *   latencies are printed, not asserted (the machine may be loaded).
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { currentRuntime, type LocalCluster } from "../../examples/local_cluster.ts";
import { withLocalCluster } from "./_kv_apps.ts";

/** Failover rounds (each kills and restarts the leader). */
const rounds = 5;
/** The client's timeout of one request. */
const requestTimeoutMs = 10_000;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

interface Answer {
  status: number;
  body: unknown;
}

/** One request (redirects followed by `fetch`), with the client's timeout; throws when no answer. */
async function send(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(requestTimeoutMs) });
  return { status: res.status, body: await res.json().catch(() => null) };
}

/**
 * Sends a request until it gets an answer other than "try again" (503,
 * 502, 504, no connection), following redirects by hand; at most `tries`.
 */
async function sendUntilAnswered(url: string, init: RequestInit, tries = 60): Promise<Answer> {
  let target = url;
  let last = "no attempt";
  for (let i = 0; i < tries; i++) {
    try {
      const res = await fetch(target, {
        ...init,
        redirect: "manual",
        signal: AbortSignal.timeout(requestTimeoutMs),
      });
      const body = await res.json().catch(() => null);
      last = `HTTP ${res.status} ${JSON.stringify(body)}`;
      if (res.status === 307 && res.headers.get("location") !== null) {
        target = res.headers.get("location")!;
        continue;
      }
      if (![502, 503, 504].includes(res.status)) return { status: res.status, body };
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    target = url;
    await sleep(200);
  }
  throw new Error(`Cannot get an answer from ${url}: ${last}`);
}

function json(method: string, body: unknown, headers: Record<string, string> = {}): RequestInit {
  return {
    method,
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  };
}

interface Item {
  value: string;
  modRevision: number;
}

test(
  `kv_server cluster (${currentRuntime()}): an increment retried with its Idempotency-Key after the leader died applies once and gets the first answer`,
  { timeout: 90_000 },
  async () => {
    await withLocalCluster(async (cluster) => {
      const leader = (await cluster.waitForLeader()).id;
      const others = cluster.ids().filter((id) => id !== leader);
      const path = "/kv/counter/incr";
      const base = await send(`${cluster.url(leader)}${path}`, json("POST", { by: 10 }));
      assert.equal(base.status, 200);
      assert.equal((base.body as Item).value, "10");

      // The increment, its answer not read yet.
      const request = json("POST", { by: 1 }, { "idempotency-key": '"incr-once-1"' });
      const first = send(`${cluster.url(leader)}${path}`, request).catch((e: Error) => e);
      // Committed (applied on a follower, so on a majority's logs): kill the leader now.
      let applied: Item | undefined;
      for (let i = 0; i < 200 && applied === undefined; i++) {
        const r = await send(`${cluster.url(others[0]!)}/kv/counter?consistency=stale`);
        if ((r.body as Item | null)?.value === "11") applied = r.body as Item;
        else await sleep(10);
      }
      assert.ok(applied !== undefined, "the increment is applied on a follower");
      await cluster.kill(leader);
      const firstAnswer = await first;

      // The same request, to a surviving node: it waits for the new leader.
      const retry = await sendUntilAnswered(`${cluster.url(others[1]!)}${path}`, request);
      assert.equal(retry.status, 200, JSON.stringify(retry.body));
      assert.equal((retry.body as Item).value, "11");
      assert.equal(
        (retry.body as { revision: number }).revision,
        applied.modRevision,
        "the retry's answer is the first one's (the revision it applied at)",
      );
      if (!(firstAnswer instanceof Error)) assert.deepEqual(retry, firstAnswer);

      // The killed node, restarted, gives the same answer; the counter moved once.
      await cluster.startNode(leader);
      const again = await sendUntilAnswered(`${cluster.url(leader)}${path}`, request);
      assert.deepEqual(again, retry);
      const now = await sendUntilAnswered(`${cluster.url(leader)}/kv/counter`, { method: "GET" });
      assert.equal((now.body as Item).value, "11", "the counter moved once");
      console.log(
        `  leader ${leader} killed after the commit; the first answer was ${
          firstAnswer instanceof Error ? "lost" : `read (HTTP ${firstAnswer.status})`
        }; the retry on node ${
          others[1]
        } got HTTP ${retry.status} at revision ${applied.modRevision}`,
      );
    });
  },
);

test(
  `kv_server cluster (${currentRuntime()}): after kill -9 of the leader, reads and writes on the surviving nodes succeed at once; the restarted node serves a read`,
  { timeout: 180_000 },
  async () => {
    await withLocalCluster(async (cluster) => {
      const lines: string[] = [];
      try {
        await failoverRounds(cluster, lines);
      } finally {
        console.log(`  failover on ${cluster.runtime} servers:\n${lines.join("\n")}`);
      }
    });
  },
);

async function failoverRounds(cluster: LocalCluster, lines: string[]): Promise<void> {
  for (let round = 1; round <= rounds; round++) {
    const leader = (await cluster.waitForLeader(20_000)).id;
    const value = `round-${round}`;
    const put = await send(`${cluster.url(leader)}/kv/base`, json("PUT", { value }));
    assert.equal(put.status, 200, `round ${round}: the write before the kill`);
    // Every node has it (so that a stale answer cannot pass for a fresh one).
    for (const id of cluster.ids()) await cluster.waitForCatchUp(id, 20_000);

    await cluster.kill(leader);
    const survivors = cluster.ids().filter((id) => id !== leader);
    const t0 = performance.now();
    const timed = async (what: string, url: string, init?: RequestInit) => {
      try {
        const a = await send(url, init);
        return { what, ...a, ms: performance.now() - t0 };
      } catch (e) {
        return { what, status: 0, body: String(e), ms: performance.now() - t0 };
      }
    };
    const answers = await Promise.all(survivors.flatMap((id) => [
      timed(`node ${id} GET`, `${cluster.url(id)}/kv/base`),
      timed(
        `node ${id} PUT`,
        `${cluster.url(id)}/kv/r${round}-n${id}`,
        json("PUT", { value: "x" }),
      ),
    ]));
    const t1 = performance.now();
    await cluster.startNode(leader);
    const up = performance.now();
    const read = await timed(`node ${leader} GET`, `${cluster.url(leader)}/kv/base`);
    const readMs = performance.now() - up;
    lines.push(
      `  round ${round}: leader ${leader} killed; ` +
        answers.map((a) => `${a.what} ${a.status} ${a.ms.toFixed(0)} ms`).join(", ") +
        `; restarted node ${leader} up in ${(up - t1).toFixed(0)} ms, read ${read.status} ${
          readMs.toFixed(0)
        } ms later`,
    );
    for (const a of answers) {
      assert.equal(a.status, 200, `round ${round}: ${a.what}: ${JSON.stringify(a.body)}`);
      if (a.what.endsWith("GET")) assert.equal((a.body as Item).value, value, a.what);
    }
    assert.equal(read.status, 200, `round ${round}: ${read.what}: ${JSON.stringify(read.body)}`);
    assert.equal((read.body as Item).value, value);
  }
}
