/**
 * How the driver keeps the results of exactly-once commands in the
 * replicated session table: as bytes, so that they travel in snapshots and
 * a retry on any node gets the first answer.
 *
 * @module
 */

/** Turns a state machine's results into bytes and back. Must be deterministic. */
export interface ResultCodec<R> {
  /**
   * Encodes a result (the same bytes on every node for the same result).
   *
   * @param result The result.
   * @returns Its bytes.
   */
  encode(result: R): Uint8Array;
  /**
   * Decodes bytes written by `encode`.
   *
   * @param bytes The bytes.
   * @returns The result.
   */
  decode(bytes: Uint8Array): R;
}

const tagUndefined = 0;
const tagJson = 1;
const tagBytes = 2;

/**
 * The default codec: `undefined`, a `Uint8Array`, or anything
 * `JSON.stringify` writes (results that are not JSON values, such as
 * Maps, come back as their JSON form).
 */
export const jsonResultCodec: ResultCodec<unknown> = {
  encode(result: unknown): Uint8Array {
    if (result === undefined) return new Uint8Array([tagUndefined]);
    if (result instanceof Uint8Array) {
      const out = new Uint8Array(result.length + 1);
      out[0] = tagBytes;
      out.set(result, 1);
      return out;
    }
    const json = new TextEncoder().encode(JSON.stringify(result));
    const out = new Uint8Array(json.length + 1);
    out[0] = tagJson;
    out.set(json, 1);
    return out;
  },
  decode(bytes: Uint8Array): unknown {
    switch (bytes[0]) {
      case tagUndefined:
        return undefined;
      case tagBytes:
        return bytes.slice(1);
      case tagJson:
        return JSON.parse(new TextDecoder().decode(bytes.subarray(1)));
      default:
        throw new RangeError(`Cannot decode a recorded result: unknown tag ${bytes[0]}`);
    }
  },
};
