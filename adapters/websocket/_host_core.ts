/**
 * How `WebSocketHostTransport` reaches into the `WebSocketTransport` it is
 * built on. Private to the package.
 *
 * @module
 */

import type { Message } from "../../core/types.ts";
import type { PeerSink } from "./_peer.ts";
import type { WebSocketTransportOptions } from "./options.ts";

/**
 * What `WebSocketHostTransport` reaches of the `WebSocketTransport` it is
 * built on: the host's sink and a send of group-tagged messages. Handed
 * over through a key the package does not export, so the option is
 * invisible to users.
 */
export interface HostCore {
  /** Starts delivering to the host's sink. */
  start(sink: PeerSink): void;
  /** Sends messages of many groups: `groups[i]` is the group of `messages[i]`. */
  send(messages: readonly Message[], groups: readonly number[]): void;
}

/** The option key under which a host transport asks for the group-tagged dialect. */
export const hostCoreKey: unique symbol = Symbol("raft-ts host transport core");

/** Options as a host transport passes them. */
export type HostCoreOptions = WebSocketTransportOptions & {
  [hostCoreKey]?: (core: HostCore) => void;
};
