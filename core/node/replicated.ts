/**
 * The driver's replicated state, beside the state machine's: the IDs
 * removed from the cluster (never admitted again), each member's context
 * (the address its transport dials, as given when it was added), and the
 * session table of exactly-once commands. Every node changes it only from
 * committed entries, in log order; it is rebuilt from the log after a
 * restart and carried in every snapshot, ahead of the state machine's own
 * data.
 *
 * @module
 */

import type { NodeId } from "../types.ts";
import { pushUvarint, readUvarint } from "./envelope.ts";
import type { SnapshotDataDescriptor } from "./seams.ts";
import { defaultSessionLimits, type SessionLimits, SessionTable } from "./sessions.ts";

/** The driver's replicated state. */
export interface ReplicatedState {
  /** IDs removed from the cluster: never admitted again. */
  removed: Set<NodeId>;
  /** Each member's context, as given when it was added (empty ones are not kept). */
  contexts: Map<NodeId, Uint8Array>;
  /** The session table. */
  sessions: SessionTable;
}

/**
 * An empty replicated state.
 *
 * @param limits The session table's bounds.
 * @returns A new state.
 */
export function emptyReplicatedState(
  limits: SessionLimits = defaultSessionLimits,
): ReplicatedState {
  return { removed: new Set(), contexts: new Map(), sessions: new SessionTable(limits) };
}

/** The first bytes of snapshot data written by the driver: "rts", then the format. */
const snapshotMagic = [0x72, 0x74, 0x73] as const;
/** Format 1: the state machine's bytes follow the header. */
const formatInline = 0x01;
/** Format 2: a descriptor of the state machine's bytes, held in storage in chunks, follows the header. */
const formatStored = 0x02;

/**
 * The snapshot data the driver stores: its replicated state, then the
 * state machine's snapshot (format 1), or a descriptor of the state
 * machine's snapshot held in storage in chunks (format 2):
 *
 * ```
 * "rts" format(1 byte) removed-IDs contexts sessions  (uvarint-framed, below)
 *   format 1: the state machine's bytes, to the end
 *   format 2: uvarint length, uvarint CRC-32C, nothing after
 * ```
 *
 * @param state The driver's replicated state.
 * @param data The state machine's snapshot, or the descriptor of one held in storage.
 * @returns The bytes.
 */
export function encodeSnapshotData(
  state: ReplicatedState,
  data: Uint8Array | SnapshotDataDescriptor,
): Uint8Array {
  const inline = data instanceof Uint8Array;
  const header: number[] = [...snapshotMagic, inline ? formatInline : formatStored];
  const ids = [...state.removed].sort((a, b) => a - b);
  pushUvarint(header, ids.length);
  for (const id of ids) pushUvarint(header, id);
  const contexts = [...state.contexts].sort((a, b) => a[0] - b[0]);
  pushUvarint(header, contexts.length);
  for (const [id, ctx] of contexts) {
    pushUvarint(header, id);
    pushUvarint(header, ctx.length);
    for (let i = 0; i < ctx.length; i++) header.push(ctx[i]!);
  }
  state.sessions.encode(header);
  if (!inline) {
    pushUvarint(header, data.length);
    pushUvarint(header, data.checksum);
    return new Uint8Array(header);
  }
  const out = new Uint8Array(header.length + data.length);
  out.set(header, 0);
  out.set(data, header.length);
  return out;
}

/**
 * A copy of the driver's replicated state that later changes to `state`
 * do not touch (through its encoding).
 *
 * @param state The state.
 * @param limits The session table's bounds.
 * @returns The copy.
 */
export function copyReplicatedState(
  state: ReplicatedState,
  limits: SessionLimits = defaultSessionLimits,
): ReplicatedState {
  return decodeSnapshotData(encodeSnapshotData(state, { length: 0, checksum: 0 }), limits).state;
}

/**
 * Splits snapshot data written by {@linkcode encodeSnapshotData}.
 *
 * @param b The snapshot's data.
 * @param limits The bounds of the session table read.
 * @returns The driver's state and the state machine's snapshot (format 1:
 *   `data`, `stored` undefined), or the descriptor of the one held in
 *   storage (format 2: `stored`, `data` empty).
 * @throws {RangeError} The data does not start with the driver's header.
 */
export function decodeSnapshotData(
  b: Uint8Array,
  limits: SessionLimits = defaultSessionLimits,
): { state: ReplicatedState; data: Uint8Array; stored: SnapshotDataDescriptor | undefined } {
  const fail = (why: string): never => {
    throw new RangeError(`Cannot read the snapshot: ${why}`);
  };
  const format = b[snapshotMagic.length];
  if (
    b.length <= snapshotMagic.length || snapshotMagic.some((v, k) => b[k] !== v) ||
    (format !== formatInline && format !== formatStored)
  ) {
    fail("its data does not start with the driver's header (not written by RaftNode)");
  }
  let pos: number = snapshotMagic.length + 1;
  const uint = (): number => {
    const r = readUvarint(b, pos) ?? fail("its header is truncated");
    pos = r[1];
    return r[0];
  };
  const count = (what: string): number => {
    const n = uint();
    if (n > b.length - pos) fail(`its header names more ${what} than it holds`);
    return n;
  };
  const id = (): NodeId => {
    const v = uint();
    if (v <= 0) fail(`its header names an invalid node ID ${v}`);
    return v;
  };
  const removed = new Set<NodeId>();
  for (let k = count("removed IDs"); k > 0; k--) removed.add(id());
  const contexts = new Map<NodeId, Uint8Array>();
  for (let k = count("member contexts"); k > 0; k--) {
    const member = id();
    const n = count("context bytes");
    contexts.set(member, b.slice(pos, pos + n));
    pos += n;
  }
  const [sessions, end] = SessionTable.decode(b, pos, limits);
  const state = { removed, contexts, sessions };
  if (format === formatInline) return { state, data: b.subarray(end), stored: undefined };
  pos = end;
  const length = uint();
  const checksum = uint();
  if (checksum > 0xffffffff) fail(`its data checksum ${checksum} is not 32 bits`);
  if (pos !== b.length) fail(`${b.length - pos} bytes follow its data descriptor`);
  return { state, data: b.subarray(end, end), stored: { length, checksum } };
}
