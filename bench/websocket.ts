/**
 * Throughput of the WebSocket transport between two transports on
 * loopback: node 1 sends `MsgApp` messages of one entry each to node 2, in
 * `send()` calls of `--batch` messages, with at most `--window` messages in
 * flight (so the bounded queues never drop). Prints messages/s and MB/s of
 * entry payload (and of bytes on the wire) per entry size. Runs on Deno and
 * Bun:
 *
 * ```sh
 * deno run -A bench/websocket.ts
 * bun bench/websocket.ts --sizes 128,65536 --runs 3
 * deno run -A bench/websocket.ts --impl ws --json
 * ```
 *
 * Flags: `--sizes` (comma-separated entry sizes, default `128,65536`),
 * `--n` (messages per run; default 200000 for entries under 4 KiB, else
 * 4000), `--batch` (64), `--window` (messages in flight, default 4096,
 * at most 64 MiB in flight), `--runs` (3), `--impl native|ws` (native),
 * `--json` (one JSON object per run).
 *
 * @module
 */

import process from "node:process";
import { WebSocketTransport } from "../adapters/websocket/mod.ts";
import type { TransportHandler } from "../core/node.ts";
import { type Message, MessageType, newEntry, newMessage } from "../core/types.ts";

/** The figures of one run. */
export interface WebSocketBenchResult {
  /** The runtime: `deno`, `bun` or `node`. */
  runtime: string;
  /** The server/client implementation. */
  impl: string;
  /** Bytes of payload per entry. */
  entryBytes: number;
  /** Messages delivered. */
  messages: number;
  /** Wall time of the run. */
  seconds: number;
  /** Messages delivered per second. */
  messagesPerSecond: number;
  /** Megabytes (10^6) of entry payload delivered per second. */
  payloadMBPerSecond: number;
  /** Megabytes (10^6) on the wire per second, framing included. */
  wireMBPerSecond: number;
  /** WebSocket messages sent. */
  frames: number;
  /** Messages dropped (0 unless the window is above the queue bounds). */
  dropped: number;
}

/** Options of {@linkcode runWebSocketBench}. */
export interface WebSocketBenchOptions {
  /** Bytes of payload per entry. */
  entryBytes: number;
  /** Messages to deliver. */
  messages: number;
  /** Messages per `send()` call. */
  batch: number;
  /** Messages in flight at most. */
  window: number;
  /** `native` (the runtime's server and client) or `ws`. */
  impl: "native" | "ws";
}

function runtimeName(): string {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  return g.Deno !== undefined ? "deno" : g.Bun !== undefined ? "bun" : "node";
}

function handler(id: number, step: (m: Message) => void): TransportHandler {
  return { id, step, reportUnreachable() {}, reportSnapshot() {} };
}

/**
 * Runs one measurement: two fresh transports, `messages` messages from 1 to 2.
 *
 * @param o What to send and how.
 * @returns The figures.
 *
 * @example A tiny run
 * ```ts
 * import { runWebSocketBench } from "./websocket.ts";
 * const r = await runWebSocketBench({
 *   entryBytes: 128,
 *   messages: 100,
 *   batch: 10,
 *   window: 50,
 *   impl: "native",
 * });
 * if (r.messages !== 100) throw new Error("unexpected");
 * ```
 */
export async function runWebSocketBench(o: WebSocketBenchOptions): Promise<WebSocketBenchResult> {
  const secret = "benchmark secret, long enough";
  const impl = o.impl === "ws"
    ? { server: "ws" as const, client: "ws" as const }
    : { server: "auto" as const, client: "auto" as const };
  const maxFrameBytes = Math.max(16 << 20, o.batch * (o.entryBytes + 64));
  const common = {
    clusterId: "bench",
    secret,
    maxFrameBytes,
    maxQueuedBytes: Math.max(64 << 20, maxFrameBytes),
    ...impl,
  };
  const a = new WebSocketTransport({ id: 1, ...common });
  const b = new WebSocketTransport({ id: 2, ...common });
  const addrB = await b.listen();
  a.addPeer(2, WebSocketTransport.peerContext(addrB.url));
  b.addPeer(1, new Uint8Array()); // a member, which b only hears from

  let received = 0;
  let payload = 0;
  let wake: (() => void) | undefined;
  const lowWater = Math.floor(o.window / 2);
  let sent = 0;
  const dropped = (): number => a.metrics().messagesDropped;
  b.start(handler(2, (m) => {
    received++;
    payload += m.entries[0]?.data.length ?? 0;
    if (wake !== undefined && sent - received <= lowWater) {
      const w = wake;
      wake = undefined;
      w();
    }
  }));
  a.start(handler(1, () => {}));

  const data = new Uint8Array(o.entryBytes).fill(7);
  const make = (i: number): Message =>
    newMessage({
      type: MessageType.MsgApp,
      from: 1,
      to: 2,
      term: 1,
      logTerm: 1,
      index: i,
      commit: i,
      entries: [newEntry({ term: 1, index: i + 1, data })],
    });

  const t0 = performance.now();
  while (sent < o.messages) {
    if (sent - received >= o.window) {
      await new Promise<void>((r) => (wake = r));
      continue;
    }
    const k = Math.min(o.batch, o.messages - sent, o.window - (sent - received));
    const batch: Message[] = new Array(k);
    for (let j = 0; j < k; j++) batch[j] = make(sent + j);
    a.send(batch);
    sent += k;
  }
  while (received + dropped() < o.messages) {
    await new Promise<void>((r) => setTimeout(r, 1));
  }
  const seconds = (performance.now() - t0) / 1000;
  const peer = a.metrics().peers.find((p) => p.id === 2)!;
  await Promise.all([a.close(), b.close()]);
  return {
    runtime: runtimeName(),
    impl: o.impl,
    entryBytes: o.entryBytes,
    messages: received,
    seconds,
    messagesPerSecond: received / seconds,
    payloadMBPerSecond: payload / seconds / 1e6,
    wireMBPerSecond: peer.bytesSent / seconds / 1e6,
    frames: peer.framesSent,
    dropped: dropped(),
  };
}

function flag(args: string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!.replace(/^--?/, "");
    if (a === name) return args[i + 1] ?? "";
    if (a.startsWith(`${name}=`)) return a.slice(name.length + 1);
  }
  return undefined;
}

async function main(args: string[]): Promise<void> {
  const sizes = (flag(args, "sizes") ?? "128,65536").split(",").map(Number);
  const runs = Number(flag(args, "runs") ?? 3);
  const batch = Number(flag(args, "batch") ?? 64);
  const impl = (flag(args, "impl") ?? "native") as "native" | "ws";
  const json = args.some((a) => a.replace(/^--?/, "") === "json");
  for (const entryBytes of sizes) {
    const n = Number(flag(args, "n") ?? (entryBytes < 4096 ? 200_000 : 4000));
    const window = Number(
      flag(args, "window") ??
        Math.max(batch, Math.min(4096, Math.floor((64 << 20) / (entryBytes + 64) / 2))),
    );
    const opts: WebSocketBenchOptions = { entryBytes, messages: n, batch, window, impl };
    await runWebSocketBench({ ...opts, messages: Math.min(n, 2000) }); // warm-up
    const results: WebSocketBenchResult[] = [];
    for (let r = 0; r < runs; r++) {
      const res = await runWebSocketBench(opts);
      results.push(res);
      if (json) {
        console.log(JSON.stringify(res));
      } else {
        console.log(
          `${res.runtime} ${impl} entry=${entryBytes}B n=${n} batch=${batch} window=${window}: ` +
            `${Math.round(res.messagesPerSecond).toLocaleString("en-US")} msg/s, ` +
            `${res.payloadMBPerSecond.toFixed(1)} MB/s payload, ` +
            `${res.wireMBPerSecond.toFixed(1)} MB/s wire, ${res.frames} frames, ` +
            `${res.dropped} dropped`,
        );
      }
    }
    if (!json) {
      const med = (xs: number[]): number => xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
      console.log(
        `SUMMARY ${runtimeName()} ${impl} entry=${entryBytes}B median: ${
          Math.round(med(results.map((r) => r.messagesPerSecond))).toLocaleString("en-US")
        } msg/s, ${med(results.map((r) => r.payloadMBPerSecond)).toFixed(1)} MB/s payload`,
      );
    }
  }
}

if (import.meta.main) {
  await main(process.argv.slice(2));
}
