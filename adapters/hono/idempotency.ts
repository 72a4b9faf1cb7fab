/**
 * The `Idempotency-Key` request header (IETF
 * `draft-ietf-httpapi-idempotency-key-header`) for write routes: the key
 * and a fingerprint of the request, ready to pass to
 * `RaftNode.propose(data, options)`. The node's replicated table then
 * makes the command apply once: the same key with the same request, on
 * any node, gets the first command's result; the same key with another
 * request is refused (`SessionError` `key_reused`, answered 422 by the
 * app's error handler).
 *
 * The header's value is a Structured Field String (`"a-key"`, as the
 * draft defines it) or, as many clients send it, the bare key (`a-key`):
 * 1 to 255 printable ASCII characters. Anything else is answered 400
 * `invalid_idempotency_key`.
 *
 * @module
 */

import type { HonoContext } from "./_hono_types.ts";
import { rememberedBody } from "./_body.ts";
import { httpError } from "./http.ts";

/** The request header that names a write for exactly-once application (lower case). */
export const idempotencyKeyHeader = "idempotency-key";

/** The longest key, in characters (the driver's bound). */
const keyCharsMax = 255;

/** The bytes of a request's fingerprint kept with its key (a truncated SHA-256). */
const fingerprintBytes = 16;

/** What {@linkcode idempotencyOptions} returns: the fields of `ProposeOptions` it sets. */
export interface IdempotencyOptions {
  /** The request's idempotency key. */
  idempotencyKey?: string;
  /** A fingerprint of the request's method, path, query and body. */
  fingerprint?: Uint8Array;
}

/**
 * Reads an `Idempotency-Key` header value: a Structured Field String
 * (`"k"`, with `\"` and `\\` escapes) or a bare key of printable ASCII
 * characters other than `"`, `\`, `,` and space.
 *
 * @param value The header's value.
 * @returns The key, or `undefined` when the value is malformed (empty,
 *   longer than 255 characters, not printable ASCII, unbalanced quotes,
 *   several values).
 *
 * @example Both forms
 * ```ts
 * import { parseIdempotencyKey } from "@raft-ts/raft/hono";
 * if (parseIdempotencyKey('"8e03978e-40d5"') !== "8e03978e-40d5") throw new Error("unexpected");
 * if (parseIdempotencyKey("8e03978e-40d5") !== "8e03978e-40d5") throw new Error("unexpected");
 * if (parseIdempotencyKey('"a", "b"') !== undefined) throw new Error("unexpected");
 * ```
 */
export function parseIdempotencyKey(value: string): string | undefined {
  const v = value.trim();
  let key: string;
  if (v.startsWith('"')) {
    const m = /^"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"$/.exec(v);
    if (m === null) return undefined;
    key = m[1]!.replace(/\\(["\\])/g, "$1");
  } else {
    if (!/^[\x21\x23-\x2b\x2d-\x5b\x5d-\x7e]+$/.test(v)) return undefined;
    key = v;
  }
  return key.length === 0 || key.length > keyCharsMax ? undefined : key;
}

/**
 * The proposal options of a write request: its `Idempotency-Key` and a
 * fingerprint of the request (SHA-256 of the method, the path with its
 * query, and the body), or nothing when the request has no such header.
 * Call it after the body was read with `readJsonObject` (whose bytes it
 * fingerprints), or pass the body's bytes.
 *
 * @param c The Hono context.
 * @param body The body's bytes (default: the bytes `readJsonObject` read, else none).
 * @returns `{ idempotencyKey, fingerprint }` to spread into the options of
 *   `RaftNode.propose`, or `{}`.
 * @throws {HTTPException} 400 `invalid_idempotency_key` when the header is
 *   malformed.
 *
 * @example A write route that applies once per key
 * ```ts
 * import { Hono } from "hono";
 * import { idempotencyOptions, readJsonObject } from "@raft-ts/raft/hono";
 * const app = new Hono();
 * app.post("/orders", async (c) => {
 *   await readJsonObject(c, 1024);
 *   const options = await idempotencyOptions(c);
 *   // ... await node.propose(command, options), then answer from its result
 *   return c.json({ key: options.idempotencyKey ?? null });
 * });
 * const res = await app.request("/orders", {
 *   method: "POST",
 *   headers: { "content-type": "application/json", "idempotency-key": '"order-17"' },
 *   body: "{}",
 * });
 * if ((await res.json()).key !== "order-17") throw new Error("unexpected");
 * ```
 */
export async function idempotencyOptions(
  c: HonoContext,
  body?: Uint8Array,
): Promise<IdempotencyOptions> {
  const header = c.req.header(idempotencyKeyHeader);
  if (header === undefined) return {};
  const key = parseIdempotencyKey(header);
  if (key === undefined) {
    throw httpError(
      400,
      "invalid_idempotency_key",
      `Cannot use the Idempotency-Key header: it must be one string of 1 to ${keyCharsMax} printable ASCII characters ("key" or key), not ${
        JSON.stringify(header.slice(0, 300))
      }`,
    );
  }
  return { idempotencyKey: key, fingerprint: await requestFingerprint(c, body) };
}

/** SHA-256 of the method, the path and query (as the URL parser normalizes them) and the body. */
async function requestFingerprint(c: HonoContext, body?: Uint8Array): Promise<Uint8Array> {
  const url = new URL(c.req.url);
  const head = new TextEncoder().encode(`${c.req.method} ${url.pathname}${url.search}\n`);
  const bytes = body ?? rememberedBody(c.req.raw) ?? new Uint8Array(0);
  const all = new Uint8Array(head.length + bytes.length);
  all.set(head);
  all.set(bytes, head.length);
  const digest = await crypto.subtle.digest("SHA-256", all);
  return new Uint8Array(digest, 0, fingerprintBytes).slice();
}
