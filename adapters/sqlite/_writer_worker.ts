/**
 * The writer thread of a `SqliteStorage` opened with `writer: "worker"`: it
 * holds its own connection to the storage's file and runs the storage's
 * write plans on it, in the order they arrive, answering each with `done`
 * or `failed` once its transaction committed (synced) or failed.
 *
 * Started by `_writer_thread.ts` as a Web Worker (Deno, Bun) or a
 * `node:worker_threads` worker (Node); not an entry point of its own. The
 * thread imports it too, for its URL: so it is part of the package's module
 * graph (JSR's npm packages hold only the modules the exports reach, as
 * `.js`), and the worker starts whatever form of it the package holds. It
 * serves only in the worker that was started for it (named by its URL), and
 * says `ready` once it listens, as a Web Worker may drop messages that
 * arrive before.
 *
 * @module
 */

import { openDatabase, type SqliteDatabaseLike } from "./_database.ts";
import { SqliteStorageError, toStorageError } from "./_errors.ts";
import { holdLockFile } from "./_lock_file.ts";
import { fileTables, type LogTables } from "./_tables.ts";
import { preallocateWal, SqliteWriter, type WritePlan, WriteTransactions } from "./_writer.ts";
import type { WriterReply, WriterRequest } from "./_writer_thread.ts";

/** This module's URL, by which the writer thread is started (and knows itself). */
export const writerWorkerUrl: string = import.meta.url;

interface Port {
  post(reply: WriterReply): void;
  listen(fn: (req: WriterRequest) => void): void;
  close(): void;
}

/**
 * The port to the storage, when this module runs as its writer thread: a
 * worker named by this module's URL (Deno: the Web Worker's `name`; Bun and
 * Node: its `workerData`).
 */
function writerPort(): Port | undefined {
  const self = globalThis as unknown as {
    name?: unknown;
    postMessage?: (m: unknown) => void;
    addEventListener?: (type: string, fn: (ev: { data: unknown }) => void) => void;
    close?: () => void;
    process?: { getBuiltinModule?: (id: string) => unknown };
  };
  const threads = self.name === writerWorkerUrl
    ? undefined
    : self.process?.getBuiltinModule?.("node:worker_threads") as
      | {
        parentPort: {
          postMessage(m: unknown): void;
          on(event: "message", fn: (m: WriterRequest) => void): void;
          close(): void;
        } | null;
        workerData: unknown;
      }
      | undefined;
  if (self.name !== writerWorkerUrl && threads?.workerData !== writerWorkerUrl) return undefined;
  if (typeof self.postMessage === "function" && typeof self.addEventListener === "function") {
    // A Web Worker (Deno, Bun).
    return {
      post: (r) => self.postMessage!(r),
      listen: (fn) => self.addEventListener!("message", (ev) => fn(ev.data as WriterRequest)),
      close: () => self.close?.(),
    };
  }
  const parent = threads?.parentPort;
  if (parent === undefined || parent === null) return undefined;
  return {
    post: (r) => parent.postMessage(r),
    listen: (fn) => parent.on("message", fn),
    close: () => parent.close(),
  };
}

let db: SqliteDatabaseLike | undefined;
let lock: SqliteDatabaseLike | undefined;
/** The connection's transactions, which every log's writer shares. */
let tx: WriteTransactions | undefined;
/**
 * A writer per log of the file, by its log table: one for a node's file,
 * one per group written so far for a host's (bounded by the file's groups).
 */
const writers = new Map<string, SqliteWriter>();
/** Requests that arrived while the connection was opening. */
let waiting: WriterRequest[] | undefined = [];

function failed(e: unknown, path: string, action: string): WriterReply {
  const err = toStorageError(e, path, action);
  const c = err.cause;
  return {
    type: "failed",
    code: err.code,
    message: err.message,
    index: err.index,
    cause: c instanceof SqliteStorageError
      ? { code: c.code, message: c.message, index: c.index }
      : c instanceof Error && c.message !== err.message
      ? { code: undefined, message: c.message, index: undefined }
      : undefined,
  };
}

async function open(path: string, exclusive: boolean, walBytes: number): Promise<WriterReply> {
  try {
    if (exclusive) {
      // The storage's connections share the file, so neither can lock it
      // against other processes; this one holds a lock file instead.
      lock = await holdLockFile(path, "open raft storage");
    }
    db = await openDatabase(path);
    db.exec("PRAGMA busy_timeout=5000");
    db.exec("PRAGMA synchronous=FULL");
    db.exec("PRAGMA cell_size_check=ON");
    db.exec("PRAGMA journal_size_limit=67108864");
    tx = new WriteTransactions(db, path);
    const warning = preallocateWal(db, walBytes);
    return { type: "done", warning };
  } catch (e) {
    return failed(e, path, "open raft storage");
  }
}

/** The writer of a log's tables on the open connection. */
function writerOf(path: string, tables: LogTables = fileTables): SqliteWriter {
  let w = writers.get(tables.log);
  if (w === undefined) {
    w = new SqliteWriter(db!, path, tables, tx);
    writers.set(tables.log, w);
  }
  return w;
}

/** Runs a write or a batch on the open connection. */
function runWrite(req: WriterRequest & { type: "write" | "batch" }, path: string): void {
  if (req.type === "write") {
    writerOf(path, req.tables).write(req.plan as WritePlan);
    return;
  }
  // The writers are prepared before the transaction opens.
  const planned = req.writes.map((w) => ({ writer: writerOf(path, w.tables), plan: w.plan }));
  tx!.run(req.sync, req.action, () => {
    for (const p of planned) p.writer.apply(p.plan as WritePlan);
  });
}

function closeAll(): void {
  for (const w of writers.values()) w.close();
  writers.clear();
  tx = undefined;
  const conns = [db, lock];
  db = undefined;
  lock = undefined;
  for (const c of conns) c?.close();
}

function handle(io: Port, req: WriterRequest, path: string): void {
  switch (req.type) {
    case "write":
    case "batch": {
      const action = req.type === "write" ? req.plan.action : req.action;
      if (tx === undefined) {
        io.post({
          type: "failed",
          code: "closed",
          message: `Cannot ${action} '${path}': the writer's connection is not open`,
          index: undefined,
          cause: undefined,
        });
        return;
      }
      try {
        runWrite(req, path);
        io.post({ type: "done", warning: undefined });
      } catch (e) {
        io.post(failed(e, path, action));
      }
      return;
    }
    case "close": {
      try {
        closeAll();
        io.post({ type: "done", warning: undefined });
      } catch (e) {
        io.post(failed(e, path, "close raft storage"));
      }
      io.close();
      return;
    }
    default:
      // Not a request this thread knows: stop, as a thread that crashed.
      throw new TypeError(`Cannot handle writer request ${JSON.stringify(req)}`);
  }
}

/** Answers the storage's requests on `io`, in order. */
function serve(io: Port): void {
  let path = "(sqlite)";
  io.listen((req) => {
    if (req.type === "open") {
      path = req.path;
      void open(req.path, req.exclusive, req.walPreallocateBytes).then((reply) => {
        io.post(reply);
        const queued = waiting ?? [];
        waiting = undefined;
        for (const r of queued) handle(io, r, path);
      });
      return;
    }
    if (waiting !== undefined) waiting.push(req);
    else handle(io, req, path);
  });
  io.post({ type: "ready" });
}

const port = writerPort();
if (port !== undefined) serve(port);
