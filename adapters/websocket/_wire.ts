/**
 * The WebSocket wire format of the transport. Each binary WebSocket message
 * starts with one kind byte:
 *
 * - `Messages` (1): one or more Raft messages, each a checksummed codec
 *   frame (`encodeMessageFrame`), back to back. All messages one `send()`
 *   call has for a peer travel in one WebSocket message.
 * - `SnapshotBegin` (2): uvarint stream id, uvarint size of the snapshot
 *   data, then the `MsgSnap` message frame with the snapshot data left out.
 * - `SnapshotChunk` (3): uvarint stream id, uvarint offset of the chunk in
 *   the snapshot data, then the chunk as a checksummed frame (`encodeFrame`).
 * - `SnapshotAck` (4): uvarint stream id, one status byte (1 received and
 *   stepped, 2 refused). The only traffic from the server back to a client.
 *
 * Between hosts (`WebSocketHostTransport`, subprotocol `raft-ts.host.v1`)
 * every message belongs to a group, so two kinds replace 1 and 2:
 *
 * - `GroupMessages` (5): one or more (group, message) pairs, each a uvarint
 *   group ID followed by a checksummed codec frame. All pairs one `send()`
 *   call has for a peer host travel in one WebSocket message.
 * - `GroupSnapshotBegin` (6): uvarint stream id, uvarint group ID, uvarint
 *   size of the snapshot data, then the `MsgSnap` frame without the data.
 *
 * Chunks and acknowledgements (3, 4) are the same in both: a stream id
 * names one snapshot of one group on one connection.
 *
 * Decoders throw {@linkcode WireError} with the WebSocket close code to use.
 *
 * @module
 */

import {
  CodecError,
  decodeFrame,
  decodeMessageFrame,
  encodeFrame,
  encodeMessageFrame,
  frameHeaderBytes,
} from "../../core/codec.ts";
import type { Message } from "../../core/types.ts";
import {
  readSafeVarint,
  type VarintCursor,
  varintSize,
  varintTruncated,
  writeVarint,
} from "../../core/varint.ts";

/** The kind byte at the start of each WebSocket message. */
export const FrameKind = {
  Messages: 1,
  SnapshotBegin: 2,
  SnapshotChunk: 3,
  SnapshotAck: 4,
  GroupMessages: 5,
  GroupSnapshotBegin: 6,
} as const;
/** The kind byte at the start of each WebSocket message. */
export type FrameKind = typeof FrameKind[keyof typeof FrameKind];

/** WebSocket close codes (RFC 6455 section 7.4.1). */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  UnsupportedData: 1003,
  InvalidPayload: 1007,
  PolicyViolation: 1008,
  TooBig: 1009,
} as const;

/** The most bytes a WebSocket message header (kind and varints) of ours takes. */
export const maxHeaderBytes = 1 + 10 + 10 + 10;

/** Bad bytes from a peer: the connection must be closed with `closeCode`. */
export class WireError extends Error {
  /** The WebSocket close code to close the connection with. */
  readonly closeCode: number;
  /**
   * @param closeCode The WebSocket close code.
   * @param message What is wrong.
   * @param options The cause.
   */
  constructor(closeCode: number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WireError";
    this.closeCode = closeCode;
  }
}

/** Reads an unsigned varint; throws a WireError on truncation or overflow. */
export function getUvarint(buf: Uint8Array, pos: number, what: string): [number, number] {
  const cursor: VarintCursor = { pos };
  const v = readSafeVarint(buf, buf.length, cursor);
  if (v === varintTruncated) throw new WireError(CloseCode.InvalidPayload, `truncated ${what}`);
  if (v < 0) throw new WireError(CloseCode.InvalidPayload, `${what} out of range`);
  return [v, cursor.pos];
}

/**
 * Packs encoded message frames (or group-tagged ones, with
 * `kind` `GroupMessages`) into WebSocket messages of at most `maxBytes`
 * each (one message unless they do not fit).
 *
 * @returns The WebSocket messages with the number of Raft messages in each.
 */
export function packMessages(
  frames: readonly Uint8Array[],
  maxBytes: number,
  kind: typeof FrameKind.Messages | typeof FrameKind.GroupMessages = FrameKind.Messages,
): { data: Uint8Array; count: number }[] {
  const out: { data: Uint8Array; count: number }[] = [];
  let start = 0;
  while (start < frames.length) {
    let size = 1;
    let end = start;
    while (end < frames.length && (end === start || size + frames[end]!.length <= maxBytes)) {
      size += frames[end]!.length;
      end++;
    }
    const data = new Uint8Array(size);
    data[0] = kind;
    let pos = 1;
    for (let i = start; i < end; i++) {
      data.set(frames[i]!, pos);
      pos += frames[i]!.length;
    }
    out.push({ data, count: end - start });
    start = end;
  }
  return out;
}

/** A message frame tagged with its group: the group ID as a uvarint, then the frame. */
export function encodeGroupMessageFrame(groupId: number, m: Message): Uint8Array {
  const frame = encodeMessageFrame(m);
  const buf = new Uint8Array(varintSize(groupId) + frame.length);
  buf.set(frame, writeVarint(buf, 0, groupId));
  return buf;
}

/**
 * Encodes the start of a snapshot stream: its id, the group (between
 * hosts), the data size and the MsgSnap without data.
 */
export function encodeSnapshotBegin(
  streamId: number,
  dataBytes: number,
  m: Message,
  groupId?: number,
): Uint8Array {
  const frame = encodeMessageFrame(m);
  const group = groupId === undefined ? 0 : varintSize(groupId);
  const head = 1 + varintSize(streamId) + group + varintSize(dataBytes);
  const buf = new Uint8Array(head + frame.length);
  buf[0] = groupId === undefined ? FrameKind.SnapshotBegin : FrameKind.GroupSnapshotBegin;
  let pos = writeVarint(buf, 1, streamId);
  if (groupId !== undefined) pos = writeVarint(buf, pos, groupId);
  pos = writeVarint(buf, pos, dataBytes);
  buf.set(frame, pos);
  return buf;
}

/** Encodes one chunk of a snapshot stream. */
export function encodeSnapshotChunk(
  streamId: number,
  offset: number,
  chunk: Uint8Array,
): Uint8Array {
  const frame = encodeFrame(chunk);
  const head = 1 + varintSize(streamId) + varintSize(offset);
  const buf = new Uint8Array(head + frame.length);
  buf[0] = FrameKind.SnapshotChunk;
  let pos = writeVarint(buf, 1, streamId);
  pos = writeVarint(buf, pos, offset);
  buf.set(frame, pos);
  return buf;
}

/** The status byte of a snapshot acknowledgement. */
export const AckStatus = { Received: 1, Refused: 2 } as const;
/** The status byte of a snapshot acknowledgement. */
export type AckStatus = typeof AckStatus[keyof typeof AckStatus];

/** Encodes a snapshot acknowledgement. */
export function encodeSnapshotAck(streamId: number, status: AckStatus): Uint8Array {
  const buf = new Uint8Array(2 + varintSize(streamId));
  buf[0] = FrameKind.SnapshotAck;
  const pos = writeVarint(buf, 1, streamId);
  buf[pos] = status;
  return buf;
}

/** A decoded WebSocket message. */
export type WireFrame =
  | { kind: typeof FrameKind.Messages; messages: Message[] }
  | { kind: typeof FrameKind.GroupMessages; messages: Message[]; groups: number[] }
  | {
    kind: typeof FrameKind.SnapshotBegin | typeof FrameKind.GroupSnapshotBegin;
    streamId: number;
    /** `GroupSnapshotBegin` only. */
    groupId: number | undefined;
    dataBytes: number;
    message: Message;
  }
  | { kind: typeof FrameKind.SnapshotChunk; streamId: number; offset: number; chunk: Uint8Array }
  | { kind: typeof FrameKind.SnapshotAck; streamId: number; status: AckStatus };

function codecFailure(e: unknown, what: string): never {
  if (e instanceof CodecError) {
    const code = e.reason === "oversized" ? CloseCode.TooBig : CloseCode.InvalidPayload;
    const detail = e.reason === "invalid_enum" ? "unknown message type or enum value" : e.reason;
    throw new WireError(code, `bad ${what} (${detail})`, { cause: e });
  }
  throw e;
}

/**
 * Decodes one WebSocket message.
 *
 * @param buf The message.
 * @param maxPayloadBytes The largest codec frame payload to accept.
 * @throws {WireError} When the message is malformed.
 */
export function decodeWire(buf: Uint8Array, maxPayloadBytes: number): WireFrame {
  if (buf.length === 0) throw new WireError(CloseCode.InvalidPayload, "empty message");
  const kind = buf[0]!;
  const opts = { maxPayloadBytes, complete: true };
  switch (kind) {
    case FrameKind.Messages:
    case FrameKind.GroupMessages: {
      const messages: Message[] = [];
      const groups: number[] = [];
      let pos = 1;
      while (pos < buf.length) {
        if (kind === FrameKind.GroupMessages) {
          const [g, p] = getUvarint(buf, pos, "group id");
          groups.push(g);
          pos = p;
        }
        try {
          const r = decodeMessageFrame(buf, pos, opts)!;
          messages.push(r.message);
          pos = r.next;
        } catch (e) {
          codecFailure(e, "message frame");
        }
      }
      if (messages.length === 0) throw new WireError(CloseCode.InvalidPayload, "empty batch");
      return kind === FrameKind.Messages ? { kind, messages } : { kind, messages, groups };
    }
    case FrameKind.SnapshotBegin:
    case FrameKind.GroupSnapshotBegin: {
      const [streamId, p0] = getUvarint(buf, 1, "stream id");
      let [groupId, p1]: [number | undefined, number] = [undefined, p0];
      if (kind === FrameKind.GroupSnapshotBegin) [groupId, p1] = getUvarint(buf, p0, "group id");
      const [dataBytes, p2] = getUvarint(buf, p1, "snapshot size");
      let r: { message: Message; next: number } | undefined;
      try {
        r = decodeMessageFrame(buf, p2, opts);
      } catch (e) {
        codecFailure(e, "snapshot header");
      }
      if (r === undefined || r.next !== buf.length) {
        throw new WireError(CloseCode.InvalidPayload, "bad snapshot header (trailing bytes)");
      }
      return { kind, streamId, groupId, dataBytes, message: r.message };
    }
    case FrameKind.SnapshotChunk: {
      const [streamId, p1] = getUvarint(buf, 1, "stream id");
      const [offset, p2] = getUvarint(buf, p1, "chunk offset");
      let f: { payload: Uint8Array; next: number } | undefined;
      try {
        f = decodeFrame(buf, p2, opts);
      } catch (e) {
        codecFailure(e, "snapshot chunk");
      }
      if (f === undefined || f.next !== buf.length) {
        throw new WireError(CloseCode.InvalidPayload, "bad snapshot chunk (trailing bytes)");
      }
      return { kind, streamId, offset, chunk: f.payload };
    }
    case FrameKind.SnapshotAck: {
      const [streamId, p1] = getUvarint(buf, 1, "stream id");
      const status = buf[p1];
      if (
        p1 + 1 !== buf.length || (status !== AckStatus.Received && status !== AckStatus.Refused)
      ) {
        throw new WireError(CloseCode.InvalidPayload, "bad snapshot acknowledgement");
      }
      return { kind, streamId, status };
    }
    default:
      throw new WireError(CloseCode.InvalidPayload, `unknown frame kind ${kind}`);
  }
}

/** The bytes a codec frame adds to its payload. */
export const frameOverheadBytes: number = frameHeaderBytes;
