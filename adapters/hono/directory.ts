/**
 * Where each member of the cluster can be reached: its HTTP API URL (for
 * leader redirects, forwarding and the cluster page) and its peer URL
 * (for the transport).
 *
 * Addresses come from the configuration at start and, for members added at
 * run time, from the context of the membership change, encoded by
 * {@linkcode encodeMemberContext} in the format the WebSocket transport
 * owns and validates (`encodePeerContext`), so the transport reads the same
 * context and connects to the new member.
 *
 * @module
 */

import { ConfChangeType, type NodeId } from "../../core/types.ts";
import { encodePeerContext, readPeerContext } from "../websocket/mod.ts";

/** The addresses of one member. */
export interface MemberAddress {
  /** The member's HTTP API base URL, `http://host:port` (no trailing slash). */
  apiUrl?: string;
  /** The member's peer (transport) URL, `ws://host:port/raft` or `wss://…`. */
  peerUrl?: string;
}

/** What a {@linkcode MemberDirectory} subscribes to: a node's `membership` events. */
export interface MembershipSource {
  /**
   * Subscribes to applied membership changes.
   *
   * @param event `"membership"`.
   * @param fn The listener.
   * @returns A function that unsubscribes.
   */
  on(
    event: "membership",
    fn: (
      e: {
        changes: readonly { type: ConfChangeType; nodeId: NodeId }[];
        context: Uint8Array;
      },
    ) => void,
  ): () => void;
}

/** Removes trailing slashes, so that paths can be appended. */
function trimSlash(url: string): string {
  return url.replace(/\/+$/, "");
}

/**
 * Encodes a member's addresses as the context of a membership change, in
 * the format the WebSocket transport owns (`encodePeerContext`): UTF-8
 * JSON `{"url": peerUrl, "apiUrl": apiUrl}`, absent fields left out; no
 * address at all gives an empty context.
 *
 * @param address The member's addresses.
 * @returns The context bytes.
 * @throws {TypeError} When `apiUrl` is not an http(s) URL or `peerUrl` is not a ws(s) URL.
 *
 * @example Usage
 * ```ts
 * import { decodeMemberContext, encodeMemberContext } from "@raft-ts/raft/hono";
 * const ctx = encodeMemberContext({ apiUrl: "http://10.0.0.4:8080", peerUrl: "ws://10.0.0.4:8080/raft" });
 * if (decodeMemberContext(ctx).apiUrl !== "http://10.0.0.4:8080") throw new Error("unexpected");
 * ```
 */
export function encodeMemberContext(address: MemberAddress): Uint8Array {
  if (address.peerUrl === undefined && address.apiUrl === undefined) return new Uint8Array(0);
  return encodePeerContext({
    ...(address.peerUrl !== undefined ? { url: address.peerUrl } : {}),
    ...(address.apiUrl !== undefined ? { apiUrl: address.apiUrl } : {}),
  });
}

/**
 * Decodes a context written by {@linkcode encodeMemberContext} (or by the
 * WebSocket transport's `encodePeerContext`). Never throws: invalid fields
 * are left out, and unreadable contexts give an empty address.
 *
 * @param bytes The context of a membership change.
 * @returns The addresses found.
 *
 * @example Usage
 * ```ts
 * import { decodeMemberContext } from "@raft-ts/raft/hono";
 * const a = decodeMemberContext(new TextEncoder().encode('{"url":"ws://h:1/raft"}'));
 * if (a.peerUrl !== "ws://h:1/raft" || a.apiUrl !== undefined) throw new Error("unexpected");
 * if (Object.keys(decodeMemberContext(new Uint8Array([1, 2]))).length !== 0) throw new Error("unexpected");
 * ```
 */
export function decodeMemberContext(bytes: Uint8Array): MemberAddress {
  const c = readPeerContext(bytes);
  const out: MemberAddress = {};
  if (c.url !== undefined) out.peerUrl = c.url;
  if (c.apiUrl !== undefined) out.apiUrl = c.apiUrl;
  return out;
}

/**
 * The address book of the cluster: member ID to {@linkcode MemberAddress}.
 * Seed it from the configuration, then `watch(node)` so that members
 * added at run time (with {@linkcode encodeMemberContext} as the change's
 * context) are learnt and removed members forgotten.
 *
 * @example Usage
 * ```ts
 * import { MemberDirectory } from "@raft-ts/raft/hono";
 * const dir = new MemberDirectory([[1, { apiUrl: "http://127.0.0.1:8001/" }]]);
 * dir.set(2, { apiUrl: "http://127.0.0.1:8002" });
 * if (dir.get(1)?.apiUrl !== "http://127.0.0.1:8001") throw new Error("trailing slash kept");
 * if (dir.ids().join() !== "1,2") throw new Error("unexpected");
 * ```
 */
export class MemberDirectory {
  readonly #members = new Map<NodeId, MemberAddress>();

  /**
   * Creates a directory.
   *
   * @param initial Known members and their addresses.
   */
  constructor(initial: Iterable<readonly [NodeId, MemberAddress]> = []) {
    for (const [id, a] of initial) this.set(id, a);
  }

  /**
   * Records (or merges) a member's addresses; fields left out keep their value.
   *
   * @param id The member.
   * @param address Its addresses.
   */
  set(id: NodeId, address: MemberAddress): void {
    const prev = this.#members.get(id) ?? {};
    const next: MemberAddress = { ...prev };
    if (address.apiUrl !== undefined) next.apiUrl = trimSlash(address.apiUrl);
    if (address.peerUrl !== undefined) next.peerUrl = address.peerUrl;
    this.#members.set(id, next);
  }

  /**
   * A member's addresses.
   *
   * @param id The member.
   * @returns A copy of its addresses, or `undefined` when unknown.
   */
  get(id: NodeId): MemberAddress | undefined {
    const a = this.#members.get(id);
    return a === undefined ? undefined : { ...a };
  }

  /**
   * Forgets a member.
   *
   * @param id The member.
   */
  delete(id: NodeId): void {
    this.#members.delete(id);
  }

  /**
   * The known member IDs.
   *
   * @returns The IDs, ascending.
   */
  ids(): NodeId[] {
    return [...this.#members.keys()].sort((a, b) => a - b);
  }

  /**
   * Follows a node's applied membership changes: added members' addresses
   * are read from the change's context, removed members are forgotten.
   *
   * @param node The node (anything with `on("membership", fn)`).
   * @returns A function that stops following.
   */
  watch(node: MembershipSource): () => void {
    return node.on("membership", (e) => {
      for (const c of e.changes) {
        if (c.type === ConfChangeType.ConfChangeRemoveNode) {
          this.delete(c.nodeId);
        } else if (
          c.type === ConfChangeType.ConfChangeAddNode ||
          c.type === ConfChangeType.ConfChangeAddLearnerNode
        ) {
          const a = decodeMemberContext(e.context);
          if (a.apiUrl !== undefined || a.peerUrl !== undefined) this.set(c.nodeId, a);
        }
      }
    });
  }
}
