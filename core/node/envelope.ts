/**
 * The envelope: who proposed an entry, and what a membership change means.
 *
 * The driver prefixes the data of each proposal (and the context of each
 * membership change and read request) with a small header naming the node,
 * the node's incarnation (a random number drawn at start) and a sequence
 * number. When an entry is applied, the header tells the proposing node
 * which promise to settle, wherever the entry was appended. The state
 * machine sees only the data after the header.
 *
 * The header of a membership change also carries the intent of each of its
 * changes (add a voter, promote a learner, ...), so that every node checks
 * the change against the configuration it applies to, from the log alone.
 *
 * @module
 */

import type { NodeId } from "../types.ts";
import { pushVarint as pushUvarint, readSafeVarint, type VarintCursor } from "../varint.ts";

/** Header of a proposal or read request. */
const envelopeTag = 0xa7;
/** Header of a membership change: the same fields, then one intent per change. */
const intentEnvelopeTag = 0xa8;
/**
 * Header of a command with exactly-once semantics: the same fields, the
 * proposer's time stamp, then what names the command (see
 * {@linkcode SessionTag}).
 */
const sessionEnvelopeTag = 0xa9;

/** How a command names itself for exactly-once application, or a session's start and end. */
export type SessionTag =
  /** Registers a session; its ID is the entry's index. The entry holds no command. */
  | { readonly kind: "register"; readonly stampMs: number }
  /** Ends session `id`. The entry holds no command. */
  | { readonly kind: "unregister"; readonly stampMs: number; readonly id: number }
  /** Command `seq` of session `id`; the client saw every result below `ackBelow`. */
  | {
    readonly kind: "session";
    readonly stampMs: number;
    readonly id: number;
    readonly seq: number;
    readonly ackBelow: number;
  }
  /** The command named by an idempotency key, with the request's fingerprint. */
  | {
    readonly kind: "key";
    readonly stampMs: number;
    readonly key: string;
    readonly fingerprint: Uint8Array;
  };

const sessionKinds = ["register", "unregister", "session", "key"] as const;

/** What a single membership change is meant to do. */
export type MembershipIntent = "addVoter" | "addLearner" | "promote" | "demote" | "remove";

/** Intents by their code in the envelope (index 0 is unused). */
const intentCodes: readonly (MembershipIntent | undefined)[] = [
  undefined,
  "addVoter",
  "addLearner",
  "promote",
  "demote",
  "remove",
];

/** A decoded envelope header. */
export interface Envelope {
  origin: NodeId;
  incarnation: number;
  seq: number;
  /** The intent of each change, for a membership change that carries them. */
  intents: MembershipIntent[] | undefined;
  /** What names the command for exactly-once application, when it has a name. */
  session: SessionTag | undefined;
  /** Where the payload starts. */
  offset: number;
}

/** Appends `v` (a non-negative safe integer) as an unsigned LEB128 varint. */
export { pushUvarint };

/**
 * Reads an unsigned varint at `pos`.
 *
 * @returns The value and the position after it; `undefined` when the input
 *   ends inside the varint, it is longer than 8 bytes or the value is not a
 *   safe integer.
 */
export function readUvarint(b: Uint8Array, pos: number): [number, number] | undefined {
  const cursor: VarintCursor = { pos };
  const v = readSafeVarint(b, b.length, cursor);
  return v < 0 ? undefined : [v, cursor.pos];
}

/** The header of a proposal or read request. */
export function envelopeHeader(origin: NodeId, incarnation: number, seq: number): number[] {
  const out = [envelopeTag];
  pushUvarint(out, origin);
  pushUvarint(out, incarnation);
  pushUvarint(out, seq);
  return out;
}

/** The header of a membership change with one intent per change. */
export function intentEnvelopeHeader(
  origin: NodeId,
  incarnation: number,
  seq: number,
  intents: readonly MembershipIntent[],
): number[] {
  const out = [intentEnvelopeTag];
  pushUvarint(out, origin);
  pushUvarint(out, incarnation);
  pushUvarint(out, seq);
  pushUvarint(out, intents.length);
  for (const i of intents) out.push(intentCodes.indexOf(i));
  return out;
}

/** The header of a command (or session entry) with exactly-once semantics. */
export function sessionEnvelopeHeader(
  origin: NodeId,
  incarnation: number,
  seq: number,
  tag: SessionTag,
): number[] {
  const out = [sessionEnvelopeTag];
  pushUvarint(out, origin);
  pushUvarint(out, incarnation);
  pushUvarint(out, seq);
  out.push(sessionKinds.indexOf(tag.kind));
  pushUvarint(out, tag.stampMs);
  switch (tag.kind) {
    case "register":
      break;
    case "unregister":
      pushUvarint(out, tag.id);
      break;
    case "session":
      pushUvarint(out, tag.id);
      pushUvarint(out, tag.seq);
      pushUvarint(out, tag.ackBelow);
      break;
    case "key": {
      const key = new TextEncoder().encode(tag.key);
      pushUvarint(out, key.length);
      for (const b of key) out.push(b);
      pushUvarint(out, tag.fingerprint.length);
      for (const b of tag.fingerprint) out.push(b);
      break;
    }
  }
  return out;
}

/** `header` followed by `payload`, in a new array. */
export function wrap(header: readonly number[], payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(header.length + payload.length);
  b.set(header, 0);
  b.set(payload, header.length);
  return b;
}

/** Reads an envelope header; `undefined` when `b` does not start with a valid one. */
export function readEnvelope(b: Uint8Array): Envelope | undefined {
  if (
    b.length === 0 ||
    (b[0] !== envelopeTag && b[0] !== intentEnvelopeTag && b[0] !== sessionEnvelopeTag)
  ) {
    return undefined;
  }
  let pos = 1;
  const vals: number[] = [];
  for (let k = 0; k < 3; k++) {
    const r = readUvarint(b, pos);
    if (r === undefined) return undefined;
    vals.push(r[0]);
    pos = r[1];
  }
  let intents: MembershipIntent[] | undefined;
  if (b[0] === intentEnvelopeTag) {
    const n = readUvarint(b, pos);
    if (n === undefined || n[0] > b.length - n[1]) return undefined;
    pos = n[1];
    intents = [];
    for (let k = 0; k < n[0]; k++) {
      const intent = intentCodes[b[pos++]!];
      if (intent === undefined) return undefined;
      intents.push(intent);
    }
  }
  let session: SessionTag | undefined;
  if (b[0] === sessionEnvelopeTag) {
    const read = readSessionTag(b, pos);
    if (read === undefined) return undefined;
    [session, pos] = read;
  }
  return { origin: vals[0]!, incarnation: vals[1]!, seq: vals[2]!, intents, session, offset: pos };
}

function readSessionTag(b: Uint8Array, pos: number): [SessionTag, number] | undefined {
  const kind = sessionKinds[b[pos++]!];
  const uint = (): number | undefined => {
    const r = readUvarint(b, pos);
    if (r === undefined) return undefined;
    pos = r[1];
    return r[0];
  };
  const bytes = (): Uint8Array | undefined => {
    const n = uint();
    if (n === undefined || n > b.length - pos) return undefined;
    pos += n;
    return b.subarray(pos - n, pos);
  };
  const stampMs = uint();
  if (kind === undefined || stampMs === undefined) return undefined;
  switch (kind) {
    case "register":
      return [{ kind, stampMs }, pos];
    case "unregister": {
      const id = uint();
      return id === undefined ? undefined : [{ kind, stampMs, id }, pos];
    }
    case "session": {
      const id = uint();
      const seq = uint();
      const ackBelow = uint();
      if (id === undefined || seq === undefined || ackBelow === undefined) return undefined;
      return [{ kind, stampMs, id, seq, ackBelow }, pos];
    }
    case "key": {
      const key = bytes();
      const fingerprint = bytes();
      if (key === undefined || fingerprint === undefined) return undefined;
      let text: string;
      try {
        text = new TextDecoder("utf-8", { fatal: true }).decode(key);
      } catch {
        return undefined;
      }
      return [{ kind, stampMs, key: text, fingerprint: fingerprint.slice() }, pos];
    }
  }
}
