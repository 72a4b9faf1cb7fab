/**
 * The context of a membership change that adds a member: where the member
 * can be reached. This module owns the format and its validation; the
 * WebSocket transport reads it in `addPeer`, and the Hono adapter's member
 * directory writes and reads it (`encodeMemberContext`).
 *
 * The encoding is UTF-8 JSON: `{"url": "ws://…", "apiUrl": "http://…"}`.
 * `url` is the member's transport URL (`ws:` or `wss:` only: the URL the
 * transport dials); `apiUrl` its HTTP API base URL (`http:` or `https:`,
 * without a trailing slash). Either may be absent.
 *
 * @module
 */

/**
 * The addresses of a member, carried in the context of a membership change.
 *
 * @example Usage
 * ```ts
 * import { encodePeerContext, type PeerContext } from "@raft-ts/raft/websocket";
 * const ctx: PeerContext = { url: "ws://10.0.0.4:7000/raft", apiUrl: "http://10.0.0.4:8080" };
 * const bytes = encodePeerContext(ctx);
 * if (bytes.length === 0) throw new Error("unexpected");
 * ```
 */
export interface PeerContext {
  /** The member's WebSocket URL, `ws://host:port/path` or `wss://…`. */
  url: string;
  /** The member's HTTP API base URL, `http://host:port` (no trailing slash). */
  apiUrl?: string;
}

/** The largest context read, in bytes. */
const contextBytesMax = 8192;

function hasProtocol(url: string, protocols: readonly string[]): boolean {
  try {
    return protocols.includes(new URL(url).protocol);
  } catch {
    return false;
  }
}

/**
 * Whether `url` is a URL the transport can dial: `ws://` or `wss://`.
 *
 * @param url The candidate.
 * @returns Whether it is a WebSocket URL.
 *
 * @example Usage
 * ```ts
 * import { isPeerUrl } from "@raft-ts/raft/websocket";
 * if (!isPeerUrl("wss://node-2.example/raft") || isPeerUrl("http://node-2.example/raft")) {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export function isPeerUrl(url: string): boolean {
  return hasProtocol(url, ["ws:", "wss:"]);
}

function isApiUrl(url: string): boolean {
  return hasProtocol(url, ["http:", "https:"]);
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, "");
}

/**
 * Encodes a member's addresses as the context of a membership change
 * (`RaftNode.addVoter(id, { context })`). Every node's transport reads it
 * back in `addPeer` and dials the new member at `url`. A member with
 * neither address gets an empty context.
 *
 * @param ctx The member's addresses; `url` may be left out for a member
 * reached some other way.
 * @returns The context bytes.
 * @throws {TypeError} When `url` is not a `ws://` or `wss://` URL, or `apiUrl` not an `http://` or `https://` URL.
 *
 * @example Adding a node with its address
 * ```ts
 * import { decodePeerContext, encodePeerContext } from "@raft-ts/raft/websocket";
 * const context = encodePeerContext({ url: "ws://10.0.0.4:7000/raft" });
 * // await leader.addVoter(4, { context });
 * if (decodePeerContext(context).url !== "ws://10.0.0.4:7000/raft") throw new Error("unexpected");
 * ```
 */
export function encodePeerContext(ctx: Partial<PeerContext>): Uint8Array {
  const out: { url?: string; apiUrl?: string } = {};
  const url: unknown = ctx?.url;
  const apiUrl: unknown = ctx?.apiUrl;
  if (url !== undefined || ctx?.apiUrl === undefined) {
    if (typeof url !== "string" || !isPeerUrl(url)) {
      throw new TypeError(
        `Cannot encode peer context as 'url' must be a ws:// or wss:// URL: current value ${
          String(url)
        }`,
      );
    }
    out.url = url;
  }
  if (apiUrl !== undefined) {
    if (typeof apiUrl !== "string" || !isApiUrl(apiUrl)) {
      throw new TypeError(
        `Cannot encode peer context as 'apiUrl' must be an http:// or https:// URL: current value ${
          String(apiUrl)
        }`,
      );
    }
    out.apiUrl = trimSlash(apiUrl);
  }
  return new TextEncoder().encode(JSON.stringify(out));
}

/**
 * Reads whichever valid addresses a context holds; never throws. Fields
 * that are absent or invalid are left out; contexts that are not UTF-8
 * JSON objects (or longer than 8 KiB) give `{}`.
 *
 * @param bytes The context of a membership change.
 * @returns The valid fields.
 *
 * @example Reading a context with only an API URL
 * ```ts
 * import { readPeerContext } from "@raft-ts/raft/websocket";
 * const a = readPeerContext(new TextEncoder().encode('{"apiUrl":"http://h:8080/","url":"http://h"}'));
 * if (a.apiUrl !== "http://h:8080" || a.url !== undefined) throw new Error("unexpected");
 * ```
 */
export function readPeerContext(bytes: Uint8Array): Partial<PeerContext> {
  if (bytes.length === 0 || bytes.length > contextBytesMax) return {};
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return {};
  }
  if (typeof v !== "object" || v === null) return {};
  const o = v as { url?: unknown; apiUrl?: unknown };
  const out: Partial<PeerContext> = {};
  if (typeof o.url === "string" && isPeerUrl(o.url)) out.url = o.url;
  if (typeof o.apiUrl === "string" && isApiUrl(o.apiUrl)) out.apiUrl = trimSlash(o.apiUrl);
  return out;
}

/**
 * Decodes a context written by {@linkcode encodePeerContext} that carries
 * a transport URL.
 *
 * @param bytes The context of a membership change.
 * @returns The member's addresses.
 * @throws {TypeError} When the bytes are not a context with a `ws://` or `wss://` URL.
 *
 * @example Reading an address back
 * ```ts
 * import { decodePeerContext, encodePeerContext } from "@raft-ts/raft/websocket";
 * const { url } = decodePeerContext(encodePeerContext({ url: "wss://node-2.example:443/raft" }));
 * if (url !== "wss://node-2.example:443/raft") throw new Error("unexpected");
 * try {
 *   decodePeerContext(new TextEncoder().encode("not json"));
 *   throw new Error("expected a TypeError");
 * } catch (e) {
 *   if (!(e instanceof TypeError)) throw e;
 * }
 * ```
 */
export function decodePeerContext(bytes: Uint8Array): PeerContext {
  const c = readPeerContext(bytes);
  if (c.url === undefined) {
    throw new TypeError("Cannot decode peer context: no 'url' that is a ws:// or wss:// URL");
  }
  return c.apiUrl === undefined ? { url: c.url } : { url: c.url, apiUrl: c.apiUrl };
}
