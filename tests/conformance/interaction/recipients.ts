/**
 * Message selection for `deliver-msgs` and `stabilize` (HARNESS.md §4):
 * which queued messages go to (or are dropped for) which recipient.
 *
 * @module
 */

import { DataDrivenError, parseIntValue, type TestData } from "../datadriven.ts";
import { type Message, type MessageType, messageTypeNames } from "../../../core/types.ts";
import { isLocalMsgTarget } from "../../../core/util.ts";

/** Where `deliver-msgs` sends (or drops) the messages addressed to one node. */
export interface Recipient {
  id: number;
  drop: boolean;
}

/**
 * Tells whether a message must never be dropped: it is addressed to its
 * sender, or it comes from or goes to a local storage thread.
 *
 * @param m The message.
 * @returns `true` for local messages.
 */
export function isLocalMessage(m: Message): boolean {
  return m.from === m.to || isLocalMsgTarget(m.from) || isLocalMsgTarget(m.to);
}

/**
 * Splits a message list into the messages for one recipient (of one type,
 * if given) and the rest, keeping the order of both. When dropping, local
 * messages stay in the rest.
 *
 * @param msgs The in-flight messages.
 * @param to The recipient.
 * @param type Only this type, or `undefined` for all.
 * @param drop Whether the messages are going to be dropped.
 * @returns The selected messages and the remainder.
 */
export function splitMsgs(
  msgs: readonly Message[],
  to: number,
  type: MessageType | undefined,
  drop: boolean,
): { selected: Message[]; rest: Message[] } {
  const selected: Message[] = [];
  const rest: Message[] = [];
  for (const m of msgs) {
    if (m.to === to && !(drop && isLocalMessage(m)) && (type === undefined || m.type === type)) {
      selected.push(m);
    } else {
      rest.push(m);
    }
  }
  return { selected, rest };
}

/**
 * Parses an unsigned base-10 integer argument value, as Go's
 * `strconv.ParseUint(s, 10, 64)` would (no sign allowed).
 *
 * @param d The test case (for error positions).
 * @param s The value.
 * @returns The number.
 * @throws {DataDrivenError} When `s` is not an unsigned decimal integer.
 */
export function parseUintValue(d: TestData, s: string): number {
  const v = parseIntValue(d, s);
  if (v < 0 || s.startsWith("+") || s.startsWith("-")) {
    throw new DataDrivenError(`${d.pos}: ${d.cmd}: cannot parse ${JSON.stringify(s)} as uint`);
  }
  return v;
}

/**
 * Reads the recipients and the type filter of `deliver-msgs`: bare IDs
 * deliver, `drop=` values drop, in the order written. Other `key=value`
 * arguments are ignored.
 *
 * @param d The test case.
 * @returns The recipients and the message type (`undefined` for all types).
 * @throws {DataDrivenError} On a drop of an ID listed earlier, an unknown
 *   type, or a malformed ID.
 */
export function parseDeliverMsgs(
  d: TestData,
): { recipients: Recipient[]; type: MessageType | undefined } {
  let type: MessageType | undefined;
  const rs: Recipient[] = [];
  for (const arg of d.cmdArgs) {
    if (arg.vals.length === 0) rs.push({ id: parseUintValue(d, arg.key), drop: false });
    for (const val of arg.vals) {
      switch (arg.key) {
        case "drop": {
          const id = parseUintValue(d, val);
          if (rs.some((r) => r.id === id)) {
            throw new DataDrivenError(
              `${d.pos}: ${d.cmd}: can't both deliver and drop msgs to ${id}`,
            );
          }
          rs.push({ id, drop: true });
          break;
        }
        case "type": {
          const t = messageTypeNames.indexOf(val);
          if (t < 0) throw new DataDrivenError(`${d.pos}: ${d.cmd}: unknown message type ${val}`);
          type = t as MessageType;
          break;
        }
      }
    }
  }
  return { recipients: rs, type };
}
