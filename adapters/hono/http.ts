/**
 * JSON errors and request-body helpers shared by the Raft routes and by
 * the application routes mounted next to them.
 *
 * Every error answer has the same shape:
 * `{"error":{"code":"malformed_json","message":"Cannot parse the body: ..."}}`,
 * with extra fields beside `code` and `message` where they help (the
 * leader's ID and URL on `not_leader`, for example).
 *
 * @module
 */

import { HTTPException } from "hono/http-exception";
import type { HonoContext, HttpErrorStatus, HttpException } from "./_hono_types.ts";
import { rememberBody } from "./_body.ts";
import { joinBytes } from "../../core/util.ts";

/** The body of every error answer. */
export interface ErrorBody {
  /** What went wrong. */
  error: {
    /** A stable, machine-readable code such as `"malformed_json"` or `"not_leader"`. */
    code: string;
    /** A sentence for humans. */
    message: string;
    /** Extra details (for example `leaderId`). */
    [detail: string]: unknown;
  };
}

/**
 * Builds a JSON error response.
 *
 * @param status The HTTP status (4xx or 5xx).
 * @param code A stable, machine-readable code.
 * @param message A sentence for humans.
 * @param details Extra fields placed beside `code` and `message`.
 * @param headers Extra response headers.
 * @returns The response.
 *
 * @example Usage
 * ```ts
 * import { errorResponse } from "@raft-ts/raft/hono";
 * const res = errorResponse(404, "key_not_found", "Cannot find key 'a'");
 * const body = await res.json();
 * if (res.status !== 404 || body.error.code !== "key_not_found") throw new Error("unexpected");
 * ```
 */
export function errorResponse(
  status: HttpErrorStatus,
  code: string,
  message: string,
  details: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Response {
  const body: ErrorBody = { error: { ...details, code, message } };
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=UTF-8", ...headers },
  });
}

/**
 * Builds an `HTTPException` that answers with a JSON error body. Throw it
 * from a handler; the app's error handler returns its response.
 *
 * @param status The HTTP status (4xx or 5xx).
 * @param code A stable, machine-readable code.
 * @param message A sentence for humans.
 * @param details Extra fields placed beside `code` and `message`.
 * @param headers Extra response headers.
 * @returns The exception, to throw.
 *
 * @example Refusing a request
 * ```ts
 * import { httpError } from "@raft-ts/raft/hono";
 * const e = httpError(400, "invalid_key", "Cannot use the key: it is empty");
 * if (e.status !== 400 || e.getResponse().status !== 400) throw new Error("unexpected");
 * ```
 */
export function httpError(
  status: HttpErrorStatus,
  code: string,
  message: string,
  details: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): HttpException {
  return new HTTPException(status, {
    message,
    res: errorResponse(status, code, message, details, headers),
  });
}

/** Options of {@linkcode readJsonObject}. */
export interface ReadJsonOptions {
  /**
   * How long the whole body may take to arrive, from the first read; a
   * slower body is answered 408 and its connection's reading is cancelled.
   * @default {10000}
   */
  timeoutMs?: number;
}

/**
 * The error a request body's read fails with when the client went away
 * mid-body: answered 400 `body_aborted` (nobody reads it), and the app
 * logs it as one short line at a bounded rate. Internal to the adapter
 * (`mod.ts` does not export it).
 */
export class BodyAbortedError extends HTTPException {
  /**
   * Creates the error.
   *
   * @param reason What the runtime said (no stack trace).
   */
  constructor(reason: string) {
    const message = `Cannot read the body: the client closed the connection (${reason})`;
    super(400, { message, res: errorResponse(400, "body_aborted", message) });
  }
}

/**
 * Reads a request body that must be a JSON object. The body size is
 * checked against `maxBytes` before and while it is read, and the whole
 * body must arrive within `options.timeoutMs`.
 *
 * @param c The Hono context.
 * @param maxBytes The largest accepted body, in bytes.
 * @param options The read deadline.
 * @returns The parsed object.
 * @throws {HTTPException} 415 `unsupported_media_type` when the content type
 *   is not JSON; 413 `body_too_large`; 408 `body_timeout` when the body
 *   arrives too slowly; 400 `body_aborted`
 *   when the client closes the connection mid-body; 400 `malformed_json`
 *   when the body is not JSON; 400 `invalid_body` when it is not an object.
 *
 * @example In a route
 * ```ts
 * import { Hono } from "hono";
 * import { readJsonObject } from "@raft-ts/raft/hono";
 * const app = new Hono();
 * app.post("/echo", async (c) => c.json(await readJsonObject(c, 1024)));
 * const res = await app.request("/echo", {
 *   method: "POST",
 *   headers: { "content-type": "application/json" },
 *   body: '{"a":1}',
 * });
 * if ((await res.json()).a !== 1) throw new Error("unexpected");
 * ```
 */
export async function readJsonObject(
  c: HonoContext,
  maxBytes: number,
  options: ReadJsonOptions = {},
): Promise<Record<string, unknown>> {
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(type)) {
    throw httpError(
      415,
      "unsupported_media_type",
      `Cannot read the body: its content type must be application/json, not '${type || "none"}'`,
    );
  }
  const declared = Number(c.req.header("content-length") ?? "0");
  if (declared > maxBytes) throw tooLarge(maxBytes);
  const bytes = await readLimited(c.req.raw, maxBytes, options.timeoutMs ?? 10_000);
  rememberBody(c.req.raw, bytes);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    throw httpError(
      400,
      "malformed_json",
      `Cannot parse the body as JSON: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw httpError(400, "invalid_body", "Cannot use the body: it must be a JSON object");
  }
  return value as Record<string, unknown>;
}

function tooLarge(maxBytes: number): HttpException {
  return httpError(
    413,
    "body_too_large",
    `Cannot accept the body: it is larger than ${maxBytes} bytes`,
    { maxBytes },
  );
}

/**
 * Reads a request's body, failing as soon as it exceeds `maxBytes` or
 * takes longer than `timeoutMs`.
 */
async function readLimited(req: Request, maxBytes: number, timeoutMs: number): Promise<Uint8Array> {
  if (req.body === null) return new Uint8Array(0);
  const reader = req.body.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(
        httpError(
          408,
          "body_timeout",
          `Cannot read the body: it did not arrive within ${timeoutMs} ms`,
          {},
          { connection: "close" },
        ),
      );
    }, timeoutMs);
  });
  const parts: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), late]).catch((e) => {
        if (e instanceof HTTPException) throw e;
        throw new BodyAbortedError(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
      });
      if (done) break;
      size += value.length;
      if (size > maxBytes) throw tooLarge(maxBytes);
      parts.push(value);
    }
  } catch (e) {
    await reader.cancel().catch(() => {});
    throw e;
  } finally {
    clearTimeout(timer);
  }
  return joinBytes(parts, size);
}

/**
 * Checks that a parsed body has no fields besides `allowed`, so that a
 * misspelt field is refused instead of silently ignored.
 *
 * @param body The parsed body.
 * @param allowed The accepted field names.
 * @throws {HTTPException} 400 `unknown_field`.
 *
 * @example Usage
 * ```ts
 * import { rejectUnknownFields } from "@raft-ts/raft/hono";
 * rejectUnknownFields({ id: 4 }, ["id", "role"]);
 * try {
 *   rejectUnknownFields({ idd: 4 }, ["id", "role"]);
 *   throw new Error("expected a refusal");
 * } catch (e) {
 *   if ((e as { status?: number }).status !== 400) throw e;
 * }
 * ```
 */
export function rejectUnknownFields(
  body: Record<string, unknown>,
  allowed: readonly string[],
): void {
  for (const k of Object.keys(body)) {
    if (!allowed.includes(k)) {
      throw httpError(
        400,
        "unknown_field",
        `Cannot use the body: unknown field '${k}' (accepted: ${allowed.join(", ")})`,
        { field: k },
      );
    }
  }
}

/**
 * Parses a node ID (a positive safe integer) from a path parameter, query
 * parameter or body field.
 *
 * @param value The raw value (a string or a number).
 * @param name The parameter's name, for the error message.
 * @returns The ID.
 * @throws {HTTPException} 400 `invalid_node_id`.
 *
 * @example Usage
 * ```ts
 * import { parseNodeId } from "@raft-ts/raft/hono";
 * if (parseNodeId("7", "id") !== 7 || parseNodeId(7, "id") !== 7) throw new Error("unexpected");
 * ```
 */
export function parseNodeId(value: unknown, name: string): number {
  const n = typeof value === "string" && /^[0-9]{1,16}$/.test(value)
    ? Number(value)
    : typeof value === "number"
    ? value
    : NaN;
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw httpError(
      400,
      "invalid_node_id",
      `Cannot use '${name}': it must be a positive integer node ID, not ${JSON.stringify(value)}`,
      { field: name },
    );
  }
  return n;
}

/** Options of {@linkcode pathKey}. */
export interface PathKeyOptions {
  /**
   * The path after the key (raw, as in the URL), such as `"/incr"`.
   * @default {""}
   */
  suffix?: string;
}

/**
 * Reads the key a request names in its path after `prefix`, under one
 * encoding, the same on every runtime:
 *
 * - the key is read from the raw request URL (`c.req.url` as the server
 *   received it, not a parsed or normalized path), up to `?`;
 * - it is percent-decoded exactly once (`/kv/%2541` is the key `%41`);
 *   a malformed escape (`%zz`) is refused;
 * - a key with a `.` or `..` segment (between slashes, decoded or not, such
 *   as `a/../b` or `a/%2e%2e/b`) is refused, so that no URL normalization
 *   can make two runtimes read different keys;
 * - a key with a control character (U+0000–U+001F, U+007F–U+009F) is refused;
 * - the key is 1 to `maxBytes` UTF-8 bytes.
 *
 * Route such keys with a pattern that also matches line breaks
 * (`/kv/:key{[\s\S]+}`; Hono's `.+` does not), so that they are refused
 * here rather than answered 404.
 *
 * Servers differ in the URL they hand the app: `Bun.serve` and `node:http`
 * through `@hono/node-server` (on Node, and on Deno as `kv_server` serves)
 * resolve dot segments (`%2e` forms too) as the URL standard does, so a
 * request for `/kv/a/../b` reaches the app as `/kv/b`; `Deno.serve` passes
 * the raw target, and the key is refused. Either way one URL never names
 * two different keys.
 *
 * With `options.suffix` (such as `"/incr"` for `/kv/:key{[\s\S]+}/incr`),
 * the key ends where the raw path's last `suffix` begins.
 *
 * @param c The Hono context.
 * @param prefix The path before the key, such as `"/kv/"`.
 * @param maxBytes The longest key, in UTF-8 bytes.
 * @param options The path after the key.
 * @returns The key.
 * @throws {HTTPException} 400 `invalid_key`.
 *
 * @example In a route
 * ```ts
 * import { Hono } from "hono";
 * import { pathKey } from "@raft-ts/raft/hono";
 * const app = new Hono();
 * app.get("/kv/:key{[\\s\\S]+}", (c) => c.text(pathKey(c, "/kv/", 1024)));
 * if (await (await app.request("/kv/a%2Fb")).text() !== "a/b") throw new Error("unexpected");
 * if ((await app.request("/kv/a%0Ab")).status !== 400) throw new Error("unexpected");
 * ```
 *
 * @example A key before a suffix
 * ```ts
 * import { Hono } from "hono";
 * import { pathKey } from "@raft-ts/raft/hono";
 * const app = new Hono();
 * app.post("/kv/:key{[\\s\\S]+}/incr", (c) => c.text(pathKey(c, "/kv/", 1024, { suffix: "/incr" })));
 * const res = await app.request("/kv/a/incr/incr", { method: "POST" });
 * if (await res.text() !== "a/incr") throw new Error("unexpected");
 * ```
 */
export function pathKey(
  c: HonoContext,
  prefix: string,
  maxBytes: number,
  options: PathKeyOptions = {},
): string {
  const url = c.req.url;
  const start = url.indexOf("/", url.indexOf("//") + 2);
  const end = url.indexOf("?", start);
  const path = start < 0 ? "/" : url.slice(start, end < 0 ? undefined : end);
  const invalid = (why: string): HttpException =>
    httpError(400, "invalid_key", `Cannot use the key: ${why}`);
  if (!path.startsWith(prefix)) throw invalid(`the path must start with ${prefix}`);
  const suffix = options.suffix ?? "";
  if (!path.endsWith(suffix) || path.length < prefix.length + suffix.length) {
    throw invalid(`the path must end with ${suffix}`);
  }
  let key: string;
  try {
    key = decodeURIComponent(path.slice(prefix.length, path.length - suffix.length));
  } catch {
    throw invalid("it holds a malformed percent-escape");
  }
  const n = utf8.encode(key).length;
  if (n === 0 || n > maxBytes) throw invalid(`it must be 1 to ${maxBytes} bytes, not ${n}`);
  // deno-lint-ignore no-control-regex -- control characters are what it looks for
  if (/[\u0000-\u001f\u007f-\u009f]/.test(key)) throw invalid("it holds a control character");
  if (key.split("/").some((s) => s === "." || s === "..")) {
    throw invalid("it holds a '.' or '..' segment");
  }
  return key;
}

const utf8 = new TextEncoder();
