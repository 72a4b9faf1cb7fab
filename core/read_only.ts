/**
 * Bookkeeping for linearizable reads (ReadIndex) served by the leader.
 *
 * With `ReadOnlySafe`, each read request is queued with the commit index at
 * the time it arrived, and the leader sends a heartbeat round whose context
 * names the position of the newest queued read. When a quorum of voters has
 * acknowledged a position, every read up to that position is confirmed.
 *
 * @module
 */

import type { JointConfig } from "./quorum/joint.ts";
import type { AckedIndexer } from "./quorum/quorum.ts";
import { emptyBytes, type Index, type Message, type NodeId, type ReadOnlyOption } from "./types.ts";

/** A read request waiting for leadership confirmation. */
export interface ReadIndexRequest {
  /** The original MsgReadIndex, from this node or a follower. */
  req: Message;
  /** The leader's commit index when the request arrived. */
  index: Index;
}

/**
 * The queue of pending ReadIndex requests and the heartbeat acknowledgements
 * that confirm them (etcd's `readOnly`).
 */
export class ReadOnly implements AckedIndexer {
  /** How reads are served. */
  readonly option: ReadOnlyOption;
  /** For each voter, the highest read position it has acknowledged. */
  acks: Map<NodeId, number>;
  /** Requests not yet confirmed; position `confirmedReads + i + 1` is `unconfirmedReads[i]`. */
  unconfirmedReads: ReadIndexRequest[];
  /** The number of requests confirmed so far (and removed from the queue's front). */
  confirmedReads: number;

  /**
   * Creates an empty read queue.
   *
   * @param option How reads are served.
   */
  constructor(option: ReadOnlyOption) {
    this.option = option;
    this.acks = new Map();
    this.unconfirmedReads = [];
    this.confirmedReads = 0;
  }

  /**
   * Queues a read request.
   *
   * @param commitIndex The leader's commit index when the request arrived.
   * @param req The MsgReadIndex message.
   */
  addRequest(commitIndex: Index, req: Message): void {
    this.unconfirmedReads.push({ req, index: commitIndex });
  }

  /**
   * Records a heartbeat acknowledgement.
   *
   * @param from The acknowledging node.
   * @param ctx The heartbeat context it echoed (an encoded read position);
   *   empty contexts are ignored.
   */
  recvAck(from: NodeId, ctx: Uint8Array): void {
    if (ctx.length === 0) return;
    const pos = decodeReadPosition(ctx);
    const prev = this.acks.get(from);
    if (prev === undefined || pos > prev) this.acks.set(from, pos);
  }

  /**
   * The highest read position a voter has acknowledged, for quorum maths.
   *
   * @param voterId The voter.
   * @returns The position, or `undefined` if it acknowledged none.
   */
  ackedIndex(voterId: NodeId): number | undefined {
    return this.acks.get(voterId);
  }

  /**
   * Confirms as many queued reads as the acknowledgements of a quorum allow.
   *
   * @param c The voter configuration.
   * @returns The newly confirmed requests, oldest first (possibly none).
   */
  maybeAdvance(c: JointConfig): ReadIndexRequest[] {
    const newConfirmedReads = c.committedIndex(this);
    if (newConfirmedReads <= this.confirmedReads) return [];
    const n = Math.min(newConfirmedReads - this.confirmedReads, this.unconfirmedReads.length);
    const confirmed = this.unconfirmedReads.splice(0, n);
    this.confirmedReads = newConfirmedReads;
    return confirmed;
  }

  /**
   * The heartbeat context that confirms every currently queued read.
   *
   * @returns The encoded position of the newest queued read, or an empty
   *   array when nothing is queued.
   */
  heartbeatCtx(): Uint8Array {
    if (this.unconfirmedReads.length === 0) return emptyBytes;
    return encodeReadPosition(this.confirmedReads + this.unconfirmedReads.length);
  }
}

/**
 * Creates an empty read queue (etcd's `newReadOnly`).
 *
 * @param option How reads are served.
 * @returns A new ReadOnly.
 */
export function newReadOnly(option: ReadOnlyOption): ReadOnly {
  return new ReadOnly(option);
}

/** Encodes a read position as 8 little-endian bytes (a uint64, as etcd does). */
function encodeReadPosition(pos: number): Uint8Array {
  const b = new Uint8Array(8);
  const lo = pos % 4294967296;
  const hi = Math.floor(pos / 4294967296);
  b[0] = lo & 0xff;
  b[1] = (lo >>> 8) & 0xff;
  b[2] = (lo >>> 16) & 0xff;
  b[3] = (lo >>> 24) & 0xff;
  b[4] = hi & 0xff;
  b[5] = (hi >>> 8) & 0xff;
  b[6] = (hi >>> 16) & 0xff;
  b[7] = (hi >>> 24) & 0xff;
  return b;
}

/** Decodes 8 little-endian bytes (fewer are zero-extended, extra ignored). */
function decodeReadPosition(b: Uint8Array): number {
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < 4 && i < b.length; i++) lo += b[i]! * 2 ** (8 * i);
  for (let i = 4; i < 8 && i < b.length; i++) hi += b[i]! * 2 ** (8 * (i - 4));
  return hi * 4294967296 + lo;
}
