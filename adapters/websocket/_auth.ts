/**
 * The handshake token a client offers as a WebSocket subprotocol, next to
 * {@linkcode protocolName}. Subprotocols are the one request field every
 * client (Deno's, Bun's, `ws`, browsers) can set.
 *
 * Token: `rt1.<claims>.<mac>`, both parts base64url without padding.
 * Claims (binary): uvarint from, uvarint to, uvarint timestamp (ms since
 * the epoch), 16 random nonce bytes, then the cluster id and the advertised
 * URL, each as uvarint length + UTF-8. MAC: HMAC-SHA-256 over a domain
 * string and the claims bytes, keyed by the cluster secret; compared in
 * constant time. The server refuses tokens older or newer than the allowed
 * clock skew and tokens it has seen before (a nonce cache bounded per peer).
 *
 * @module
 */

import { varintSize, writeVarint } from "../../core/varint.ts";
import { getUvarint } from "./_wire.ts";

/** The subprotocol the server selects; it names the wire format version. */
export const protocolName = "raft-ts.v1";
/** The subprotocol of connections between hosts of many groups (group-tagged frames). */
export const hostProtocolName = "raft-ts.host.v1";

const tokenPrefix = "rt1.";
const domain = new TextEncoder().encode("raft-ts websocket handshake v1\n");
const maxTokenChars = 2048;
const nonceBytes = 16;
const macBytes = 32;

/** What a client claims in its handshake token. */
export interface HandshakeClaims {
  clusterId: string;
  from: number;
  to: number;
  timestampMs: number;
  nonce: Uint8Array;
  advertiseUrl: string;
}

/** Imports the cluster secret as an HMAC key. */
export function importSecret(secret: Uint8Array): Promise<CryptoKey> {
  return crypto.subtle.importKey(
    "raw",
    secret as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
}

function toBase64Url(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]!);
  return btoa(s).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromBase64Url(s: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(s)) return undefined;
  try {
    const bin = atob(s.replaceAll("-", "+").replaceAll("_", "/"));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch {
    return undefined;
  }
}

function encodeClaims(c: HandshakeClaims): Uint8Array {
  const cluster = new TextEncoder().encode(c.clusterId);
  const url = new TextEncoder().encode(c.advertiseUrl);
  const size = varintSize(c.from) + varintSize(c.to) + varintSize(c.timestampMs) + nonceBytes +
    varintSize(cluster.length) + cluster.length + varintSize(url.length) + url.length;
  const buf = new Uint8Array(size);
  let pos = writeVarint(buf, 0, c.from);
  pos = writeVarint(buf, pos, c.to);
  pos = writeVarint(buf, pos, c.timestampMs);
  buf.set(c.nonce, pos);
  pos += nonceBytes;
  pos = writeVarint(buf, pos, cluster.length);
  buf.set(cluster, pos);
  pos += cluster.length;
  pos = writeVarint(buf, pos, url.length);
  buf.set(url, pos);
  return buf;
}

function decodeClaims(b: Uint8Array): HandshakeClaims | undefined {
  try {
    const [from, p1] = getUvarint(b, 0, "from");
    const [to, p2] = getUvarint(b, p1, "to");
    const [timestampMs, p3] = getUvarint(b, p2, "timestamp");
    if (p3 + nonceBytes > b.length) return undefined;
    const nonce = b.slice(p3, p3 + nonceBytes);
    const [clusterLen, p4] = getUvarint(b, p3 + nonceBytes, "cluster id length");
    if (p4 + clusterLen > b.length) return undefined;
    const dec = new TextDecoder("utf-8", { fatal: true });
    const clusterId = dec.decode(b.subarray(p4, p4 + clusterLen));
    const [urlLen, p5] = getUvarint(b, p4 + clusterLen, "url length");
    if (p5 + urlLen !== b.length) return undefined;
    const advertiseUrl = dec.decode(b.subarray(p5, p5 + urlLen));
    return { clusterId, from, to, timestampMs, nonce, advertiseUrl };
  } catch {
    return undefined;
  }
}

async function mac(key: CryptoKey, claims: Uint8Array): Promise<Uint8Array> {
  const msg = new Uint8Array(domain.length + claims.length);
  msg.set(domain);
  msg.set(claims, domain.length);
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, msg));
}

/** Compares two byte strings in time that depends only on their lengths. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Creates a signed handshake token (with a fresh nonce) for the given claims. */
export async function signToken(
  key: CryptoKey,
  claims: Omit<HandshakeClaims, "nonce">,
): Promise<string> {
  const nonce = crypto.getRandomValues(new Uint8Array(nonceBytes));
  const body = encodeClaims({ ...claims, nonce });
  return `${tokenPrefix}${toBase64Url(body)}.${toBase64Url(await mac(key, body))}`;
}

/** Why a token was refused. */
export type TokenRefusal = { reason: string };

/**
 * Remembers the nonces of accepted handshakes until their tokens expire, to
 * refuse replays. Kept per peer ID and bounded per peer: a peer that
 * connects too often (or someone signing handshakes in its name) fills
 * only its own share, never another peer's. Only members reach it (the
 * transport checks membership first), so the whole cache holds at most
 * `perPeerMax` nonces for each member ID seen within the skew window.
 */
export class ReplayCache {
  readonly #byPeer = new Map<number, Map<string, number>>();
  readonly #perPeerMax: number;

  /** @param perPeerMax Nonces remembered per peer at most. */
  constructor(perPeerMax: number) {
    this.#perPeerMax = perPeerMax;
  }

  /** Records `from`'s nonce valid until `expiresMs`, unless seen before or its share is full. */
  add(
    from: number,
    nonce: Uint8Array,
    expiresMs: number,
    nowMs: number,
  ): "ok" | "replayed" | "full" {
    let seen = this.#byPeer.get(from);
    if (seen === undefined) {
      seen = new Map();
      this.#byPeer.set(from, seen);
    }
    const k = toBase64Url(nonce);
    const exp = seen.get(k);
    if (exp !== undefined && exp > nowMs) return "replayed";
    if (seen.size >= this.#perPeerMax) {
      for (const [n, e] of seen) if (e <= nowMs) seen.delete(n);
      if (seen.size >= this.#perPeerMax) return "full";
    }
    seen.set(k, expiresMs);
    return "ok";
  }

  /** Nonces remembered for `from`. */
  size(from: number): number {
    return this.#byPeer.get(from)?.size ?? 0;
  }
}

/**
 * Verifies a handshake token: format, MAC, timestamp. Replays are checked
 * by the caller once it knows the peer may connect ({@linkcode ReplayCache}),
 * so that refused handshakes take no room.
 *
 * @returns The claims, or why the token is refused.
 */
export async function verifyToken(
  key: CryptoKey,
  token: string,
  nowMs: number,
  maxSkewMs: number,
): Promise<HandshakeClaims | TokenRefusal> {
  if (token.length > maxTokenChars || !token.startsWith(tokenPrefix)) {
    return { reason: "malformed handshake token" };
  }
  const parts = token.slice(tokenPrefix.length).split(".");
  if (parts.length !== 2) return { reason: "malformed handshake token" };
  const body = fromBase64Url(parts[0]!);
  const got = fromBase64Url(parts[1]!);
  if (body === undefined || got === undefined || got.length !== macBytes) {
    return { reason: "malformed handshake token" };
  }
  const want = await mac(key, body);
  if (!constantTimeEqual(got, want)) return { reason: "bad handshake signature (wrong secret?)" };
  const claims = decodeClaims(body);
  if (claims === undefined) return { reason: "malformed handshake claims" };
  if (Math.abs(nowMs - claims.timestampMs) > maxSkewMs) {
    return { reason: "handshake token expired (or clocks differ too much)" };
  }
  return claims;
}

/** Whether a value is a refusal rather than claims. */
export function isRefusal(v: HandshakeClaims | TokenRefusal): v is TokenRefusal {
  return "reason" in v;
}
