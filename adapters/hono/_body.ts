/**
 * Request bodies already read by {@linkcode readJsonObject}, kept so that a
 * request can still be forwarded to the leader after it was validated.
 *
 * @module
 */

const bodies = new WeakMap<Request, Uint8Array>();

/** Remembers the bytes read from a request's body. */
export function rememberBody(req: Request, bytes: Uint8Array): void {
  bodies.set(req, bytes);
}

/** The bytes read from a request's body, if it was read by `readJsonObject`. */
export function rememberedBody(req: Request): Uint8Array | undefined {
  return bodies.get(req);
}
