/**
 * What a valid value of the codec is: the bounds the encoders check before
 * they write and the decoders check as they read, and the error a decoder
 * throws when bytes break them.
 *
 * @module
 */

/**
 * The largest term, index or commit index the decoder accepts (2^48 - 1).
 * Far above what any cluster reaches (a new term every millisecond for
 * 8,900 years; as many entries), and far below 2^53, so that `term + 1`
 * and `index + n` stay exact: a peer cannot make a node adopt a term whose
 * successor it cannot represent.
 */
export const positionMax: number = 2 ** 48 - 1;

/** Why a {@linkcode CodecError} was thrown. */
export type CodecErrorReason =
  /** The input ends inside a field, a sub-message or a frame. */
  | "truncated"
  /** A frame's length prefix is above the allowed maximum. */
  | "oversized"
  /** A frame's checksum does not match its contents. */
  | "checksum"
  /** The bytes are not a valid encoding (bad tag, wire type or length). */
  | "malformed"
  /**
   * An integer is above `Number.MAX_SAFE_INTEGER`, or a term or index is
   * above {@linkcode positionMax}.
   */
  | "overflow"
  /** An enum field holds a value etcd raft does not define. */
  | "invalid_enum"
  /** Sub-messages are nested deeper than the decoder allows. */
  | "too_deep";

/**
 * Thrown when bytes cannot be decoded: truncated, corrupt or out of range.
 * An expected outcome for data from the network or disk; check `reason`.
 *
 * @example Telling a codec error apart
 * ```ts
 * import { CodecError, decodeMessage } from "@raft-ts/raft";
 * try {
 *   decodeMessage(new Uint8Array([0x08]));
 * } catch (e) {
 *   if (!(e instanceof CodecError) || e.reason !== "truncated") throw e;
 * }
 * ```
 */
export class CodecError extends Error {
  /** Literal code for programmatic checks. */
  readonly code = "codec" as const;
  /** What exactly is wrong. */
  readonly reason: CodecErrorReason;
  /** Byte offset in the input where the problem was found. */
  readonly offset: number;
  /**
   * Creates a codec error.
   *
   * @param reason What exactly is wrong.
   * @param message The error's message.
   * @param offset Byte offset in the input where the problem was found.
   */
  constructor(reason: CodecErrorReason, message: string, offset: number) {
    super(message);
    this.name = "CodecError";
    this.reason = reason;
    this.offset = offset;
  }
}

/** How deep sub-messages (snapshots, responses) may nest. */
export const depthMax = 64;

/** The largest MessageType etcd raft defines. */
export const messageTypeMax = 23;
/** The largest EntryType. */
export const entryTypeMax = 2;
/** The largest ConfChangeType. */
export const confChangeTypeMax = 3;
/** The largest ConfChangeTransition. */
export const transitionMax = 2;
