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
 * import { errorResponse } from "./http.ts";
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
 * import { httpError } from "./http.ts";
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

/**
 * Reads a request body that must be a JSON object. The body size is
 * checked against `maxBytes` before and while it is read.
 *
 * @param c The Hono context.
 * @param maxBytes The largest accepted body, in bytes.
 * @returns The parsed object.
 * @throws {HTTPException} 415 `unsupported_media_type` when the content type
 *   is not JSON; 413 `body_too_large`; 400 `malformed_json` when the body
 *   is not JSON; 400 `invalid_body` when it is not an object.
 *
 * @example In a route
 * ```ts
 * import { Hono } from "hono";
 * import { readJsonObject } from "./http.ts";
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
  const bytes = await readLimited(c.req.raw, maxBytes);
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

/** Reads a request's body, failing as soon as it exceeds `maxBytes`. */
async function readLimited(req: Request, maxBytes: number): Promise<Uint8Array> {
  if (req.body === null) return new Uint8Array(0);
  const reader = req.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      throw tooLarge(maxBytes);
    }
    parts.push(value);
  }
  const out = new Uint8Array(size);
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
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
 * import { rejectUnknownFields } from "./http.ts";
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
 * import { parseNodeId } from "./http.ts";
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
