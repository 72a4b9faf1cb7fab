/**
 * Helpers shared by the WebSocket transport's tests: handlers that record
 * what they get, a polling wait on real time, a capturing logger, and a
 * raw authenticated client for feeding a server bad input.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { createInterface } from "node:readline";
import type { Logger } from "../../core/logger.ts";
import type {
  Command,
  Scheduler,
  StateMachine,
  TimerHandle,
  TransportHandler,
} from "../../core/node.ts";
import type { Message, NodeId, SnapshotStatus } from "../../core/types.ts";
import { importSecret, protocolName, signToken } from "./_auth.ts";
import { type ClientKind, type ClientSocket, connectClient } from "./_runtime.ts";
import type {
  ClientKind as PublicClientKind,
  ServerKind,
  WebSocketTransportOptions,
} from "./mod.ts";
import { encodePeerContext } from "./peer_context.ts";

/** The secret of the test clusters. */
export const secret = "test secret: correct horse battery staple";
/** The id of the test clusters. */
export const clusterId = "test-cluster";

/** Server/client combinations every transport-level test runs with. */
export const impls: {
  name: string;
  server: "auto" | ServerKind;
  client: "auto" | PublicClientKind;
}[] = [
  { name: "native", server: "auto", client: "auto" },
  { name: "ws", server: "ws", client: "ws" },
  { name: "native client, ws server", server: "ws", client: "auto" },
  { name: "ws client, native server", server: "auto", client: "ws" },
];

/** A handler that records what the transport hands it. */
export class Recorder implements TransportHandler {
  readonly id: NodeId;
  readonly messages: Message[] = [];
  readonly unreachable: NodeId[] = [];
  readonly snapshots: { id: NodeId; status: SnapshotStatus }[] = [];

  constructor(id: NodeId) {
    this.id = id;
  }

  step(m: Message): void {
    this.messages.push(m);
  }

  reportUnreachable(id: NodeId): void {
    this.unreachable.push(id);
  }

  reportSnapshot(id: NodeId, status: SnapshotStatus): void {
    this.snapshots.push({ id, status });
  }
}

/** Waits on real time until `pred()` holds; throws after `timeoutMs`. */
export async function waitFor(
  pred: () => boolean,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Rejects when `p` does not settle within `timeoutMs` of real time. */
export async function within<T>(p: Promise<T>, what: string, timeoutMs = 5000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Sleeps on real time. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A logger that keeps its lines (and can echo them when DEBUG_WS is set). */
export class CaptureLogger implements Logger {
  readonly lines: string[] = [];
  readonly #prefix: string;

  constructor(prefix = "") {
    this.#prefix = prefix;
  }

  #log(level: string, msg: string): void {
    this.lines.push(`${level} ${msg}`);
    if (process.env.DEBUG_WS) {
      console.error(`${this.#prefix}${level} ${msg}`);
    }
  }

  debug(msg: string): void {
    this.#log("DEBUG", msg);
  }
  info(msg: string): void {
    this.#log("INFO", msg);
  }
  warning(msg: string): void {
    this.#log("WARN", msg);
  }
  error(msg: string): void {
    this.#log("ERROR", msg);
  }
  fatal(msg: string): void {
    this.#log("FATAL", msg);
  }
  panic(msg: string): void {
    this.#log("PANIC", msg);
  }

  /** Whether some line contains `s`. */
  has(s: string): boolean {
    return this.lines.some((l) => l.includes(s));
  }
}

/** A scheduler on the global timers that records every requested delay. */
export class RecordingScheduler implements Scheduler {
  readonly delays: number[] = [];

  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    this.delays.push(delayMs);
    return setTimeout(fn, delayMs);
  }

  clearTimeout(handle: TimerHandle): void {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  }
}

/** Options for a test transport, with fast reconnection. */
export function testOptions(
  id: NodeId,
  impl: { server: "auto" | ServerKind; client: "auto" | PublicClientKind },
  extra: Partial<WebSocketTransportOptions> = {},
): WebSocketTransportOptions {
  return {
    id,
    clusterId,
    secret,
    server: impl.server,
    client: impl.client,
    reconnectBaseMs: 20,
    reconnectMaxMs: 100,
    ...extra,
  };
}

/** A raw client connection, for sending hand-made frames. */
export interface RawClient {
  socket: ClientSocket;
  opened: Promise<void>;
  closed: Promise<{ code: number; reason: string }>;
  received: (Uint8Array | string)[];
}

/**
 * Opens a raw connection authenticated as `from` (with the test secret,
 * unless another one is given) to the node `to` at `url`.
 */
export async function rawClient(
  url: string,
  from: NodeId,
  to: NodeId,
  kind: ClientKind = "native",
  options: { secret?: string; clusterId?: string; protocols?: string[]; protocol?: string } = {},
): Promise<RawClient> {
  const key = await importSecret(new TextEncoder().encode(options.secret ?? secret));
  const token = await signToken(key, {
    clusterId: options.clusterId ?? clusterId,
    from,
    to,
    timestampMs: Date.now(),
    advertiseUrl: "",
  });
  let onOpen!: () => void;
  let onClose!: (v: { code: number; reason: string }) => void;
  const opened = new Promise<void>((r) => (onOpen = r));
  const closed = new Promise<{ code: number; reason: string }>((r) => (onClose = r));
  const received: (Uint8Array | string)[] = [];
  const socket = await connectClient(
    kind,
    url,
    options.protocols ?? [options.protocol ?? protocolName, token],
    { ca: undefined, maxMessageBytes: 1 << 20 },
    {
      open: () => onOpen(),
      message: (d) => received.push(d),
      error: () => {},
      close: (code, reason) => onClose({ code, reason }),
    },
  );
  return { socket, opened, closed, received };
}

/**
 * A state machine that keeps the list of commands it applied (as strings),
 * in its snapshots too; the result of a command is its index.
 */
export class ListMachine implements StateMachine<number> {
  values: string[] = [];
  restores = 0;

  apply(cmds: readonly Command[]): number[] {
    return cmds.map((c) => {
      this.values.push(new TextDecoder().decode(c.data));
      return c.index;
    });
  }

  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify(this.values));
  }

  restore(data: Uint8Array): void {
    this.restores++;
    this.values = JSON.parse(new TextDecoder().decode(data));
  }
}

/** A JSON line from a child node process. */
// deno-lint-ignore no-explicit-any
export type ChildLine = Record<string, any>;

/** A node in a child process, driven through JSON lines on stdin and stdout. */
export class ChildNode {
  readonly id: number;
  readonly proc: ChildProcess;
  readonly lines: ChildLine[] = [];
  stderr = "";
  /** Settles with the exit code (or signal) once the process ended. */
  readonly exited: Promise<number | string>;

  /**
   * @param id The node's ID (for messages).
   * @param cmd The runtime binary.
   * @param args Its arguments.
   * @param cwd The working directory.
   * @param secret The cluster secret, passed as `RAFT_TS_SECRET`.
   */
  constructor(id: number, cmd: string, args: string[], cwd: string, secret: string) {
    this.id = id;
    this.proc = spawn(cmd, args, {
      cwd,
      env: { ...process.env, RAFT_TS_SECRET: secret, NO_COLOR: "1" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.exited = new Promise((resolve) => {
      this.proc.on("exit", (code, signal) => resolve(code ?? signal ?? -1));
    });
    createInterface({ input: this.proc.stdout! }).on("line", (l: string) => {
      try {
        this.lines.push(JSON.parse(l));
      } catch {
        this.stderr += `stdout: ${l}\n`;
      }
    });
    this.proc.stderr!.on("data", (d: Uint8Array) => (this.stderr += new TextDecoder().decode(d)));
  }

  send(cmd: ChildLine): void {
    this.proc.stdin!.write(`${JSON.stringify(cmd)}\n`);
  }

  /** The next line of `type` (matching `pred`), removed from the lines seen. */
  async next(
    type: string,
    pred: (l: ChildLine) => boolean = () => true,
    timeoutMs = 15_000,
  ): Promise<ChildLine> {
    let found: ChildLine | undefined;
    try {
      await waitFor(
        () => {
          const i = this.lines.findIndex((l) => l.type === type && pred(l));
          if (i < 0) return false;
          found = this.lines.splice(i, 1)[0];
          return true;
        },
        `node ${this.id} to report '${type}'`,
        timeoutMs,
      );
    } catch (e) {
      throw new Error(`${(e as Error).message}; stderr:\n${this.stderr}`);
    }
    return found!;
  }

  async state(): Promise<ChildLine> {
    this.send({ type: "state" });
    return await this.next("state");
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill("SIGKILL");
  }
}

/**
 * Writes one JSON line to stdout (a child node's output).
 *
 * @param v The value.
 */
export function printLine(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v)}\n`);
}

/**
 * Hands each JSON line read from stdin to `handle` (a child node's input);
 * a bad line or a failed command prints an `error` line.
 *
 * @param id The node's ID, in error lines.
 * @param handle Runs one command.
 * @param sequential Run commands one after another (else as they come).
 */
export function serveLines(
  id: number,
  // deno-lint-ignore no-explicit-any
  handle: (cmd: any) => Promise<void>,
  sequential = false,
): void {
  let chain = Promise.resolve();
  createInterface({ input: process.stdin }).on("line", (line: string) => {
    let cmd: { type: string };
    try {
      cmd = JSON.parse(line);
    } catch {
      printLine({ type: "error", id, message: `bad line: ${line}` });
      return;
    }
    const run = (): Promise<void> =>
      handle(cmd).catch((e) => printLine({ type: "error", id, message: String(e) }));
    if (sequential) chain = chain.then(run);
    else void run();
  });
}

/**
 * Tells a transport every peer's address, as a child node's `start` command gives them.
 *
 * @param transport The transport.
 * @param peers Each peer's URL by its ID.
 * @returns The peers' IDs.
 */
export function addPeerUrls(
  transport: { addPeer(id: NodeId, context: Uint8Array): void },
  peers: Record<string, string> | undefined,
): NodeId[] {
  const ids: NodeId[] = [];
  for (const [k, url] of Object.entries(peers ?? {})) {
    transport.addPeer(Number(k), encodePeerContext({ url }));
    ids.push(Number(k));
  }
  return ids;
}
