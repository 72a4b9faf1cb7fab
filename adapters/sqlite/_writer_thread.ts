/**
 * The main side of a storage's writer thread (`writer: "worker"`): starts
 * `_writer_worker.ts`, sends it write plans once it said `ready`, and
 * settles one pending write per answer, in order. A bounded queue; a thread
 * that fails or stops fails every pending write and all later ones with one
 * typed error.
 *
 * @module
 */

import type { Index } from "../../core/types.ts";
import { earlierWriteFailed, SqliteStorageError, type SqliteStorageErrorCode } from "./_errors.ts";
import type { LogTables } from "./_tables.ts";
import type { TransactionStats, WritePlan } from "./_writer.ts";
import { writerWorkerUrl } from "./_writer_worker.ts";

/** What the storage sends its writer thread. */
export type WriterRequest =
  | { type: "open"; path: string; exclusive: boolean; walPreallocateBytes: number }
  | { type: "write"; plan: WritePlan; tables: LogTables | undefined }
  | { type: "batch"; action: string; sync: boolean; writes: TablesWrite[] }
  | { type: "close" };

/**
 * One log's plan within a batch: all of a batch's plans go in one
 * transaction on the thread, synced when the batch is.
 */
export interface TablesWrite {
  /** The log's tables. */
  tables: LogTables;
  /** Its changes. */
  plan: WritePlan;
}

/**
 * A log whose entries from `from` on a pending write writes: its read
 * side must keep them in memory until that write settles.
 */
export interface Pin {
  /** The log's storage (the key its `watch` listener is under). */
  key: object;
  /** The first log index written. */
  from: Index;
}

/**
 * The writer thread's answer to one request, in the order of the requests;
 * first, `ready` once it listens.
 */
export type WriterReply =
  | { type: "ready" }
  | { type: "done"; warning: string | undefined }
  | {
    type: "failed";
    code: SqliteStorageErrorCode;
    message: string;
    index: number | undefined;
    /** The error under it: a storage error (with its code) or another error's message. */
    cause: ReplyCause | undefined;
  };

/** The cause of a failure, across the thread boundary. */
export interface ReplyCause {
  code: SqliteStorageErrorCode | undefined;
  message: string;
  index: number | undefined;
}

/** Rebuilds a failure's cause on this side. */
function causeOf(path: string, c: ReplyCause): Error {
  if (c.code === undefined) return new Error(c.message);
  return new SqliteStorageError(
    c.code,
    path,
    c.message,
    c.index !== undefined ? { index: c.index } : undefined,
  );
}

interface Waiter {
  resolve: () => void;
  reject: (e: SqliteStorageError) => void;
}

interface PendingRequest {
  kind: "open" | "write" | "close";
  /** For a write: whether its transaction is synced. */
  sync: boolean;
  /** The logs whose entries it writes (entries from `from` on must stay in memory). */
  pins: readonly Pin[];
  /** Who waits for it to settle. */
  waiters: Waiter[];
}

/** The part of a worker both `Worker` kinds offer, as this module uses it. */
interface ThreadHandle {
  post(req: WriterRequest, transfer: ArrayBuffer[]): void;
  terminate(): void;
}

type WebWorkerLike = {
  postMessage(m: unknown, transfer: ArrayBuffer[]): void;
  addEventListener(
    type: string,
    fn: (ev: Event & { data?: unknown; message?: string }) => void,
  ): void;
  terminate(): void;
};

type NodeWorkerLike = {
  postMessage(m: unknown, transfer: ArrayBuffer[]): void;
  on(event: string, fn: (arg: unknown) => void): void;
  terminate(): unknown;
  unref(): void;
  ref(): void;
};

// The worker module's own URL: `.ts` from a clone or JSR, `.js` from JSR's npm package.
const workerUrl = new URL(writerWorkerUrl);

const threads = new WeakMap<object, WriterThread>();

function isDeno(): boolean {
  return (globalThis as { Deno?: unknown }).Deno !== undefined;
}

/**
 * The writer thread a storage uses (for tests that make it fail).
 *
 * @param storage The storage.
 * @returns Its thread, or `undefined` for an inline writer.
 */
export function writerThreadOf(storage: object): WriterThread | undefined {
  return threads.get(storage);
}

/** Whole buffers among plans' records, which can move to the thread without a copy. */
function transferables(plans: readonly WritePlan[]): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const plan of plans) {
    const records = [plan.logStart, plan.snapshot, plan.row?.record, plan.hardState];
    for (const b of [...records, plan.stage?.bytes]) {
      if (
        b !== undefined && b.byteOffset === 0 && b.buffer instanceof ArrayBuffer &&
        b.byteLength === b.buffer.byteLength && !out.includes(b.buffer)
      ) {
        out.push(b.buffer);
      }
    }
  }
  return out;
}

/** A storage's writer thread. */
export class WriterThread {
  readonly #path: string;
  readonly #handle: ThreadHandle;
  /** Requests sent and not answered yet, oldest first; at most `requestsMax + 2` (open, close). */
  #pending: PendingRequest[] = [];
  /** Most writes in flight. */
  readonly requestsMax: number;
  /** The write transactions the thread committed. */
  readonly stats: TransactionStats = { transactions: 0, syncs: 0 };
  /** Set when a write or the thread failed: every later write fails with it. */
  failure: SqliteStorageError | undefined;
  /**
   * Per log (keyed by its storage): called after a request that pinned
   * its entries settled (its pinned range may have shrunk), and when the
   * thread failed.
   */
  readonly #listeners = new Map<object, () => void>();
  /** The key of the pins of writes sent without one: the storage that started the thread. */
  readonly #owner: object;
  /** Called with a warning the thread reported. */
  onWarning: (message: string) => void = () => {};
  #stopped = false;
  /** Requests held until the thread said `ready`; `undefined` after. At most `requestsMax + 2`. */
  #held: { req: WriterRequest; transfer: ArrayBuffer[] }[] | undefined = [];

  /**
   * Starts the thread, which opens its own connection to `path`.
   *
   * @param owner The storage (see {@linkcode writerThreadOf}).
   * @param path The database file.
   * @param options Lock the file against other processes; WAL bytes to grow; most writes in flight.
   */
  constructor(
    owner: object,
    path: string,
    options: { exclusive: boolean; walPreallocateBytes: number; requestsMax: number },
  ) {
    this.#path = path;
    this.#owner = owner;
    this.requestsMax = options.requestsMax;
    this.#handle = this.#spawn();
    threads.set(owner, this);
    this.#send(
      {
        type: "open",
        path,
        exclusive: options.exclusive,
        walPreallocateBytes: options.walPreallocateBytes,
      },
      undefined,
      [],
      [],
    );
  }

  #spawn(): ThreadHandle {
    const WebWorker = (globalThis as { Worker?: new (url: URL, o: object) => WebWorkerLike })
      .Worker;
    if (WebWorker !== undefined) {
      const w = isDeno()
        // Deno type-checks a worker's static module graph each time one
        // starts when the program was started with checks on (`deno test`:
        // seconds per storage); a dynamic import of a name it cannot see
        // ahead is loaded without. The module is checked with the package.
        ? new WebWorker(new URL("data:text/javascript,await import(self.name);"), {
          type: "module",
          name: workerUrl.href,
        })
        // Bun names no Web Worker; it passes `workerData` on as Node does.
        : new WebWorker(workerUrl, { type: "module", workerData: workerUrl.href });
      w.addEventListener("message", (ev) => this.#onReply(ev.data as WriterReply));
      w.addEventListener("error", (ev) => {
        // Handled here: the thread's failure is the storage's, not the process's.
        ev.preventDefault();
        this.#died(ev.message ?? "an uncaught error");
      });
      w.addEventListener("messageerror", (ev) => {
        ev.preventDefault();
        this.#died("a message could not be read");
      });
      return {
        post: (req, transfer) => w.postMessage(req, transfer),
        terminate: () => w.terminate(),
      };
    }
    return this.#spawnNode();
  }

  #spawnNode(): ThreadHandle {
    // Node has no global Worker; node:worker_threads is loaded only there.
    const req = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } })
      .process?.getBuiltinModule?.("node:worker_threads") as
        | { Worker: new (url: URL, options: { workerData: string }) => NodeWorkerLike }
        | undefined;
    if (req === undefined) {
      throw new SqliteStorageError(
        "sqlite",
        this.#path,
        `Cannot open raft storage '${this.#path}': this runtime offers no worker threads for writer "worker"`,
      );
    }
    const w = new req.Worker(workerUrl, { workerData: workerUrl.href });
    w.on("message", (m) => this.#onReply(m as WriterReply));
    w.on("error", (e) => this.#died((e as Error).message));
    w.on("exit", (code) => this.#died(`it exited with code ${String(code)}`));
    return {
      post: (r, transfer) => w.postMessage(r, transfer),
      terminate: () => void w.terminate(),
    };
  }

  /** Requests sent and not answered yet. */
  get pending(): number {
    return this.#pending.length;
  }

  /**
   * The first index of a log that a pending write writes: its entries from
   * there on are not readable through another connection yet.
   *
   * @param key The log's storage (the thread's owner when left out).
   * @returns The index, or `Infinity` when no pending write writes its entries.
   */
  pinFrom(key: object = this.#owner): Index {
    let pin = Infinity;
    for (const p of this.#pending) {
      for (const q of p.pins) if (q.key === key && q.from < pin) pin = q.from;
    }
    return pin;
  }

  /**
   * Calls `fn` after each request that pinned entries of the log keyed
   * `key` settled, and once when the thread fails; replaces an earlier
   * listener of that key.
   *
   * @param key The log's storage.
   * @param fn The listener (it reads `pinFrom(key)`).
   */
  watch(key: object, fn: () => void): void {
    this.#listeners.set(key, fn);
  }

  /**
   * Stops calling a log's listener.
   *
   * @param key The log's storage.
   */
  unwatch(key: object): void {
    this.#listeners.delete(key);
  }

  /**
   * Throws when a write cannot be sent now: the thread failed or stopped,
   * or `requestsMax` writes are in flight.
   *
   * @param action What is being done, after "Cannot ".
   * @throws {SqliteStorageError} `"write_failed"` or `"busy"`.
   */
  checkWritable(action: string): void {
    const f = this.failure;
    if (f !== undefined) {
      throw earlierWriteFailed(this.#path, action, f);
    }
    if (this.#stopped) {
      throw new SqliteStorageError(
        "closed",
        this.#path,
        `Cannot ${action} '${this.#path}': the storage is closed`,
      );
    }
    if (this.#pending.length >= this.requestsMax) {
      throw new SqliteStorageError(
        "busy",
        this.#path,
        `Cannot ${action} '${this.#path}': ${this.#pending.length} writes are in flight (writesInFlightMax)`,
      );
    }
  }

  /**
   * Sends a write plan (after `checkWritable`).
   *
   * @param plan The plan; its whole buffers are transferred, so the caller must not keep them.
   * @param pin The first log index it writes, or `Infinity`.
   * @param wait Whether to return a Promise of its outcome.
   * @param log For one log of a file that holds many: its tables, and its
   *   storage (the key of its pin); by default the owner's log.
   * @returns A Promise that settles once it committed (synced when `plan.sync`), or `undefined`.
   */
  write(
    plan: WritePlan,
    pin: Index,
    wait: boolean,
    log?: { tables: LogTables; key: object },
  ): Promise<void> | undefined {
    const p = wait ? this.#waitFor() : undefined;
    const pins = pin === Infinity ? [] : [{ key: log?.key ?? this.#owner, from: pin }];
    const req: WriterRequest = { type: "write", plan, tables: log?.tables };
    this.#send(req, plan.sync, pins, transferables([plan]), p?.waiter);
    return p?.promise;
  }

  /**
   * Sends the plans of many logs of the file, written in one transaction
   * (after `checkWritable`): all of them or none.
   *
   * @param action What is being done, after "Cannot ".
   * @param sync Whether the transaction is synced.
   * @param writes Each log's tables and plan (whose whole buffers are transferred).
   * @param pins The logs whose entries it writes, and from where.
   * @returns A Promise that settles once it committed (synced when `sync`).
   */
  writeBatch(
    action: string,
    sync: boolean,
    writes: TablesWrite[],
    pins: readonly Pin[],
  ): Promise<void> {
    const p = this.#waitFor();
    const buffers = transferables(writes.map((w) => w.plan));
    this.#send({ type: "batch", action, sync, writes }, sync, pins, buffers, p.waiter);
    return p.promise;
  }

  /**
   * Waits for every request sent so far.
   *
   * @returns A Promise that settles when the last one did: rejected with the
   *   failure when one failed (or had failed before).
   */
  flush(): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const last = this.#pending[this.#pending.length - 1];
    if (last === undefined) return Promise.resolve();
    const p = this.#waitFor();
    last.waiters.push(p.waiter);
    return p.promise;
  }

  /**
   * Lets the pending writes finish, closes the thread's connection and stops it.
   *
   * @returns A Promise that settles once the thread closed; rejected when
   *   it failed to close its connection.
   */
  close(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (this.failure !== undefined) {
      this.#stop();
      return Promise.resolve();
    }
    const p = this.#waitFor();
    this.#send({ type: "close" }, undefined, [], [], p.waiter);
    return p.promise.finally(() => this.#stop());
  }

  /**
   * Sends a request as it is, outside the queue (the thread stops on one
   * it does not know, as if it crashed).
   *
   * @param req The request.
   */
  postRaw(req: unknown): void {
    this.#post(req as WriterRequest, []);
  }

  /** Posts a request, or holds it until the thread is ready. */
  #post(req: WriterRequest, transfer: ArrayBuffer[]): void {
    if (this.#held !== undefined) this.#held.push({ req, transfer });
    else this.#handle.post(req, transfer);
  }

  #stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#handle.terminate();
  }

  #waitFor(): { promise: Promise<void>; waiter: Waiter } {
    let waiter!: Waiter;
    const promise = new Promise<void>((resolve, reject) => {
      waiter = { resolve, reject };
    });
    return { promise, waiter };
  }

  #send(
    req: WriterRequest,
    sync: boolean | undefined,
    pins: readonly Pin[],
    transfer: ArrayBuffer[],
    waiter?: Waiter,
  ): void {
    const kind = sync === undefined ? (req.type === "open" ? "open" : "close") : "write";
    const waiters = waiter !== undefined ? [waiter] : [];
    this.#pending.push({ kind, sync: sync ?? false, pins, waiters });
    this.#post(req, transfer);
  }

  #onReply(r: WriterReply): void {
    if (r.type === "ready") {
      const held = this.#held ?? [];
      this.#held = undefined;
      for (const h of held) this.#handle.post(h.req, h.transfer);
      return;
    }
    const head = this.#pending.shift();
    if (head === undefined) return;
    if (r.type === "done") {
      if (r.warning !== undefined) this.onWarning(r.warning);
      if (head.kind === "write") {
        this.stats.transactions++;
        if (head.sync) this.stats.syncs++;
      }
      for (const w of head.waiters) w.resolve();
      for (const q of head.pins) this.#listeners.get(q.key)?.();
      return;
    }
    const cause = new SqliteStorageError(r.code, this.#path, r.message, {
      ...(r.index !== undefined ? { index: r.index } : {}),
      ...(r.cause !== undefined ? { cause: causeOf(this.#path, r.cause) } : {}),
    });
    // The storage's view already holds what failed to be written, so
    // whatever the cause, only a reopened storage is trustworthy.
    const failure = head.kind === "write" && r.code !== "write_failed"
      ? new SqliteStorageError(
        "write_failed",
        this.#path,
        `${r.message}; the outcome on disk is unknown, reopen the storage`,
        { cause, ...(r.index !== undefined ? { index: r.index } : {}) },
      )
      : cause;
    this.#fail(failure, head);
  }

  #died(why: string): void {
    if (this.#stopped) return;
    this.#fail(
      new SqliteStorageError(
        "write_failed",
        this.#path,
        `Cannot write raft storage '${this.#path}': its writer thread stopped (${why}); the outcome of pending writes is unknown, reopen the storage`,
      ),
      undefined,
    );
    this.#stop();
  }

  /** Fails `head` (already taken off the queue) and everything pending. */
  #fail(failure: SqliteStorageError, head: PendingRequest | undefined): void {
    if (this.failure === undefined) this.failure = failure;
    const all = head !== undefined ? [head, ...this.#pending] : this.#pending;
    this.#pending = [];
    for (const p of all) for (const w of p.waiters) w.reject(failure);
    for (const fn of [...this.#listeners.values()]) fn();
  }
}
