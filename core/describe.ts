/**
 * Text renderers for entries, messages, states, snapshots, `Ready` batches
 * and conf changes, in exactly the format etcd raft's `Describe*` helpers
 * produce, so the data-driven conformance transcripts compare byte for byte.
 * Also the change-list text form of conf changes (`v1 l2 r3`).
 *
 * @module
 */

import { decodeConfChange, decodeConfChangeV2 } from "./codec.ts";
import {
  confChangeAsV2,
  type ConfChangeI,
  type ConfChangeSingle,
  ConfChangeTransition,
  ConfChangeType,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  isEmptyHardState,
  isEmptySnap,
  LocalAppendThread,
  LocalApplyThread,
  type Message,
  messageTypeNames,
  None,
  type ReadState,
  type Ready,
  type Snapshot,
  type SoftState,
  stateTypeNames,
} from "./types.ts";

/**
 * Renders the data of a normal entry. The default renders it as a Go
 * double-quoted string (see {@linkcode goQuote}).
 */
export type EntryFormatter = (data: Uint8Array) => string;

// ---------------------------------------------------------------------------
// Go's %q on bytes.

const hexDigits = "0123456789abcdef";

function hexPadded(n: number, width: number): string {
  return n.toString(16).padStart(width, "0");
}

/** Categories L, M, N, P and S: Go's printable runes, apart from U+0020. */
const graphicCategory = /[\p{L}\p{M}\p{N}\p{P}\p{S}]/u;

/** Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and ASCII space. */
function isPrint(r: number): boolean {
  if (r >= 0x20 && r <= 0x7e) return true;
  if (r < 0xa0) return false;
  return graphicCategory.test(String.fromCodePoint(r));
}

/**
 * Decodes one UTF-8 sequence at `bytes[i]` with Go's rules (no overlong
 * forms, no surrogates, nothing above U+10FFFF). Returns the code point, or
 * -1 when the byte at `i` does not start a valid, complete sequence; an
 * invalid sequence always consumes exactly one byte.
 */
function decodeRune(bytes: Uint8Array, i: number): { rune: number; width: number } {
  const b0 = bytes[i]!;
  if (b0 < 0x80) return { rune: b0, width: 1 };
  let width: number;
  let lo = 0x80;
  let hi = 0xbf;
  let rune: number;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    width = 2;
    rune = b0 & 0x1f;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    width = 3;
    rune = b0 & 0x0f;
    if (b0 === 0xe0) lo = 0xa0; // overlong
    if (b0 === 0xed) hi = 0x9f; // surrogates
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    width = 4;
    rune = b0 & 0x07;
    if (b0 === 0xf0) lo = 0x90; // overlong
    if (b0 === 0xf4) hi = 0x8f; // above U+10FFFF
  } else {
    return { rune: -1, width: 1 };
  }
  if (i + width > bytes.length) return { rune: -1, width: 1 };
  const b1 = bytes[i + 1]!;
  if (b1 < lo || b1 > hi) return { rune: -1, width: 1 };
  rune = (rune << 6) | (b1 & 0x3f);
  for (let k = 2; k < width; k++) {
    const b = bytes[i + k]!;
    if (b < 0x80 || b > 0xbf) return { rune: -1, width: 1 };
    rune = (rune << 6) | (b & 0x3f);
  }
  return { rune, width };
}

function escapeRune(r: number): string {
  switch (r) {
    case 0x22:
      return '\\"';
    case 0x5c:
      return "\\\\";
  }
  if (isPrint(r)) return String.fromCodePoint(r);
  switch (r) {
    case 0x07:
      return "\\a";
    case 0x08:
      return "\\b";
    case 0x0c:
      return "\\f";
    case 0x0a:
      return "\\n";
    case 0x0d:
      return "\\r";
    case 0x09:
      return "\\t";
    case 0x0b:
      return "\\v";
  }
  if (r < 0x20 || r === 0x7f) return "\\x" + hexPadded(r, 2);
  if (r < 0x10000) return "\\u" + hexPadded(r, 4);
  return "\\U" + hexPadded(r, 8);
}

/**
 * Quotes bytes the way Go's `%q` verb does: a double-quoted string in which
 * valid UTF-8 printable runes stay as they are, `"` and `\` are
 * backslash-escaped, `\a \b \f \n \r \t \v` use their short escapes, other
 * control characters and DEL become `\xHH`, bytes that are not part of valid
 * UTF-8 become `\xHH`, and other non-printable runes become `\uHHHH` or
 * `\UHHHHHHHH`. "Printable" is Go's definition: Unicode letters, marks,
 * numbers, punctuation and symbols, plus the ASCII space.
 *
 * @param bytes The bytes to quote.
 * @returns The quoted string, including the surrounding double quotes.
 *
 * @example Quoting entry data
 * ```ts
 * import { goQuote } from "@raft-ts/raft";
 * const q = goQuote(new Uint8Array([0x61, 0x22, 0x0a, 0xff]));
 * if (q !== '"a\\"\\n\\xff"') throw new Error(q);
 * ```
 */
export function goQuote(bytes: Uint8Array): string {
  let out = '"';
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    // Fast path: printable ASCII other than the quote and the backslash.
    if (b >= 0x20 && b <= 0x7e && b !== 0x22 && b !== 0x5c) {
      let j = i + 1;
      while (j < bytes.length) {
        const c = bytes[j]!;
        if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) break;
        j++;
      }
      for (let k = i; k < j; k += 4096) {
        out += String.fromCharCode(...bytes.subarray(k, Math.min(j, k + 4096)));
      }
      i = j;
      continue;
    }
    const { rune, width } = decodeRune(bytes, i);
    if (rune < 0) {
      out += "\\x" + hexDigits[b >> 4]! + hexDigits[b & 0xf]!;
    } else {
      out += escapeRune(rune);
    }
    i += width;
  }
  return out + '"';
}

// ---------------------------------------------------------------------------
// Names and small pieces.

const entryTypeNames: readonly string[] = Object.keys(EntryType);
const confChangeTypeNames: readonly string[] = Object.keys(ConfChangeType);
const confChangeTransitionNames: readonly string[] = Object.keys(ConfChangeTransition);

/** A protobuf enum's name, or its number when the value is unknown (as Go prints it). */
function enumName(names: readonly string[], v: number): string {
  return names[v] ?? String(v);
}

/** `%v` of a Go integer slice: `[1 2 3]`, `[]` when empty. */
function intList(xs: readonly number[]): string {
  return "[" + xs.join(" ") + "]";
}

/**
 * Names a message endpoint: `None` for 0, `AppendThread` and `ApplyThread`
 * for the local storage threads, otherwise the ID in lowercase hex.
 *
 * @param id The node ID.
 * @returns Its description.
 *
 * @example Describing targets
 * ```ts
 * import { describeTarget } from "@raft-ts/raft";
 * if (describeTarget(0) !== "None") throw new Error();
 * if (describeTarget(26) !== "1a") throw new Error();
 * ```
 */
export function describeTarget(id: number): string {
  switch (id) {
    case None:
      return "None";
    case LocalAppendThread:
      return "AppendThread";
    case LocalApplyThread:
      return "ApplyThread";
    default:
      return id.toString(16);
  }
}

// ---------------------------------------------------------------------------
// Change lists.

/** Go's `unicode.IsSpace` set, used by `strings.TrimSpace`. */
const goSpaceAtEnds =
  /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;

const utf8Encoder = new TextEncoder();

/**
 * Parses a decimal node ID as Go's `strconv.ParseUint(s, 10, 64)` does,
 * throwing its error texts. Values above `Number.MAX_SAFE_INTEGER` are
 * reported as out of range, since a JavaScript number cannot hold them.
 */
function parseNodeId(s: string): number {
  const prefix = "strconv.ParseUint: parsing " + goQuote(utf8Encoder.encode(s)) + ": ";
  if (s.length === 0) throw new SyntaxError(prefix + "invalid syntax");
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) throw new SyntaxError(prefix + "invalid syntax");
    n = n * 10 + (c - 0x30);
    if (n > Number.MAX_SAFE_INTEGER) throw new RangeError(prefix + "value out of range");
  }
  return n;
}

/**
 * Parses a change list: tokens separated by single spaces, each a letter and
 * a decimal node ID (`v<n>` add voter, `l<n>` add learner, `r<n>` remove,
 * `u<n>` update). Surrounding white space is ignored; an empty text gives no
 * changes. Inverse of {@linkcode confChangesToString}.
 *
 * @param s The change list, e.g. `"v1 v2 l3"`.
 * @returns The changes, in order.
 * @throws {SyntaxError} `unknown token <tok>` for a token shorter than two
 *   bytes, `unknown input: <tok>` for an unknown letter, and
 *   `strconv.ParseUint: parsing "<n>": invalid syntax` for a bad number.
 * @throws {RangeError} `strconv.ParseUint: parsing "<n>": value out of range`
 *   for a node ID above `Number.MAX_SAFE_INTEGER`.
 *
 * @example Parsing a change list
 * ```ts
 * import { confChangesFromString } from "@raft-ts/raft";
 * const ccs = confChangesFromString(" v1 r2 ");
 * if (ccs.length !== 2 || ccs[1]!.nodeId !== 2) throw new Error();
 * ```
 */
export function confChangesFromString(s: string): ConfChangeSingle[] {
  const ccs: ConfChangeSingle[] = [];
  const trimmed = s.replace(goSpaceAtEnds, "");
  if (trimmed === "") return ccs;
  for (const tok of trimmed.split(" ")) {
    // Go measures the token in UTF-8 bytes.
    if (utf8Encoder.encode(tok).length < 2) throw new SyntaxError(`unknown token ${tok}`);
    let type: ConfChangeType;
    switch (tok[0]) {
      case "v":
        type = ConfChangeType.ConfChangeAddNode;
        break;
      case "l":
        type = ConfChangeType.ConfChangeAddLearnerNode;
        break;
      case "r":
        type = ConfChangeType.ConfChangeRemoveNode;
        break;
      case "u":
        type = ConfChangeType.ConfChangeUpdateNode;
        break;
      default:
        throw new SyntaxError(`unknown input: ${tok}`);
    }
    ccs.push({ type, nodeId: parseNodeId(tok.slice(1)) });
  }
  return ccs;
}

/**
 * Prints changes as a change list: one token per change (`v`, `l`, `r` or
 * `u`, or `unknown` for any other type, followed by the decimal node ID),
 * joined by single spaces. Inverse of {@linkcode confChangesFromString}.
 *
 * @param ccs The changes.
 * @returns The change list; empty for no changes.
 *
 * @example Printing changes
 * ```ts
 * import { confChangesToString, ConfChangeType } from "@raft-ts/raft";
 * const s = confChangesToString([
 *   { type: ConfChangeType.ConfChangeRemoveNode, nodeId: 1 },
 *   { type: ConfChangeType.ConfChangeAddNode, nodeId: 4 },
 * ]);
 * if (s !== "r1 v4") throw new Error(s);
 * ```
 */
export function confChangesToString(ccs: readonly ConfChangeSingle[]): string {
  const toks: string[] = [];
  for (const cc of ccs) {
    let letter: string;
    switch (cc.type) {
      case ConfChangeType.ConfChangeAddNode:
        letter = "v";
        break;
      case ConfChangeType.ConfChangeAddLearnerNode:
        letter = "l";
        break;
      case ConfChangeType.ConfChangeRemoveNode:
        letter = "r";
        break;
      case ConfChangeType.ConfChangeUpdateNode:
        letter = "u";
        break;
      default:
        letter = "unknown";
    }
    toks.push(letter + String(cc.nodeId));
  }
  return toks.join(" ");
}

/**
 * Describes a conf change of either form through its V2 form:
 * `transition:<name>`, then ` changes:{type:<name> node_id:<n>}` per change,
 * then ` context:<quoted>` if the context is non-empty.
 *
 * @param cc The conf change.
 * @returns Its description.
 *
 * @example Describing a conf change
 * ```ts
 * import { describeConfChange, newConfChange } from "@raft-ts/raft";
 * const s = describeConfChange(newConfChange({ nodeId: 3 }));
 * if (s !== "transition:ConfChangeTransitionAuto changes:{type:ConfChangeAddNode node_id:3}") {
 *   throw new Error(s);
 * }
 * ```
 */
export function describeConfChange(cc: ConfChangeI): string {
  const v2 = confChangeAsV2(cc);
  let out = "transition:" + enumName(confChangeTransitionNames, v2.transition);
  for (const c of v2.changes) {
    out += " changes:{type:" + enumName(confChangeTypeNames, c.type) + " node_id:" +
      String(c.nodeId) + "}";
  }
  if (v2.context.length > 0) out += " context:" + goQuote(v2.context);
  return out;
}

// ---------------------------------------------------------------------------
// Entries and messages.

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Describes an entry as `<term>/<index> <EntryType>`, followed by a space and
 * the formatted data when that is non-empty. Normal entries format their data
 * with `f` (Go quoting by default); conf change entries are decoded and print
 * their changes as a change list (the decoder's error text if that fails).
 *
 * @param e The entry.
 * @param f Formats the data of normal entries. Defaults to {@linkcode goQuote}.
 * @returns Its description.
 *
 * @example Describing an entry
 * ```ts
 * import { describeEntry, newEntry } from "@raft-ts/raft";
 * const e = newEntry({ term: 1, index: 2, data: new TextEncoder().encode("foo") });
 * if (describeEntry(e) !== '1/2 EntryNormal "foo"') throw new Error(describeEntry(e));
 * ```
 */
export function describeEntry(e: Entry, f: EntryFormatter = goQuote): string {
  let formatted = "";
  switch (e.type) {
    case EntryType.EntryNormal:
      formatted = f(e.data);
      break;
    case EntryType.EntryConfChange:
    case EntryType.EntryConfChangeV2: {
      let cc: ConfChangeI;
      try {
        cc = e.type === EntryType.EntryConfChange
          ? decodeConfChange(e.data)
          : decodeConfChangeV2(e.data);
      } catch (err) {
        formatted = errorText(err);
        break;
      }
      formatted = confChangesToString(confChangeAsV2(cc).changes);
      break;
    }
  }
  if (formatted !== "") formatted = " " + formatted;
  return String(e.term) + "/" + String(e.index) + " " + enumName(entryTypeNames, e.type) +
    formatted;
}

/**
 * Describes entries, one per line, each line ending in `\n`.
 *
 * @param ents The entries.
 * @param f Formats the data of normal entries. Defaults to {@linkcode goQuote}.
 * @returns The descriptions; empty for no entries.
 *
 * @example Describing entries
 * ```ts
 * import { describeEntries, newEntry } from "@raft-ts/raft";
 * const s = describeEntries([newEntry({ term: 1, index: 1 }), newEntry({ term: 1, index: 2 })]);
 * if (s !== '1/1 EntryNormal ""\n1/2 EntryNormal ""\n') throw new Error(s);
 * ```
 */
export function describeEntries(ents: readonly Entry[], f: EntryFormatter = goQuote): string {
  let out = "";
  for (const e of ents) out += describeEntry(e, f) + "\n";
  return out;
}

function describeMessageWithIndent(indent: string, m: Message, f: EntryFormatter): string {
  let out = indent + describeTarget(m.from) + "->" + describeTarget(m.to) + " " +
    enumName(messageTypeNames, m.type) + " Term:" + String(m.term) + " Log:" +
    String(m.logTerm) + "/" + String(m.index);
  if (m.reject) out += " Rejected (Hint: " + String(m.rejectHint) + ")";
  if (m.commit !== 0) out += " Commit:" + String(m.commit);
  if (m.vote !== 0) out += " Vote:" + String(m.vote);
  if (m.entries.length === 1) {
    out += " Entries:[" + describeEntry(m.entries[0]!, f) + "]";
  } else if (m.entries.length > 1) {
    out += " Entries:[";
    for (const e of m.entries) out += "\n" + indent + "  " + describeEntry(e, f);
    out += "\n" + indent + "]";
  }
  if (m.snapshot !== undefined && !isEmptySnap(m.snapshot)) {
    out += "\n" + indent + "  Snapshot: " + describeSnapshot(m.snapshot);
  }
  if (m.responses.length > 0) {
    out += " Responses:[";
    for (const r of m.responses) out += "\n" + describeMessageWithIndent(indent + "  ", r, f);
    out += "\n" + indent + "]";
  }
  return out;
}

/**
 * Describes a message: the header `<from>-><to> <MsgType> Term:<t> Log:<lt>/<i>`,
 * then rejection, commit, vote, entries, snapshot and nested responses where
 * present (HARNESS.md §5.2). The context and snapshot data never print. The
 * result does not end in a newline.
 *
 * @param m The message.
 * @param f Formats the data of normal entries. Defaults to {@linkcode goQuote}.
 * @returns Its description.
 *
 * @example Describing a message
 * ```ts
 * import { describeMessage, MessageType, newMessage } from "@raft-ts/raft";
 * const m = newMessage({ type: MessageType.MsgAppResp, from: 2, to: 1, term: 1, index: 3, reject: true });
 * if (describeMessage(m) !== "2->1 MsgAppResp Term:1 Log:0/3 Rejected (Hint: 0)") throw new Error();
 * ```
 */
export function describeMessage(m: Message, f: EntryFormatter = goQuote): string {
  return describeMessageWithIndent("", m, f);
}

// ---------------------------------------------------------------------------
// States, snapshots and Ready.

/**
 * Describes a HardState: `Term:<t>`, ` Vote:<v>` when a vote is set, then
 * ` Commit:<c>`.
 *
 * @param hs The HardState.
 * @returns Its description.
 *
 * @example Describing a HardState
 * ```ts
 * import { describeHardState } from "@raft-ts/raft";
 * if (describeHardState({ term: 1, vote: 0, commit: 0 }) !== "Term:1 Commit:0") throw new Error();
 * ```
 */
export function describeHardState(hs: HardState): string {
  let out = "Term:" + String(hs.term);
  if (hs.vote !== 0) out += " Vote:" + String(hs.vote);
  return out + " Commit:" + String(hs.commit);
}

/**
 * Describes a SoftState as `Lead:<lead> State:<RaftState>`.
 *
 * @param ss The SoftState.
 * @returns Its description.
 *
 * @example Describing a SoftState
 * ```ts
 * import { describeSoftState, StateType } from "@raft-ts/raft";
 * const s = describeSoftState({ lead: 1, raftState: StateType.StateLeader });
 * if (s !== "Lead:1 State:StateLeader") throw new Error(s);
 * ```
 */
export function describeSoftState(ss: SoftState): string {
  return "Lead:" + String(ss.lead) + " State:" + enumName(stateTypeNames, ss.raftState);
}

/**
 * Describes a ConfState:
 * `Voters:[..] VotersOutgoing:[..] Learners:[..] LearnersNext:[..] AutoLeave:<bool>`,
 * lists in stored order.
 *
 * @param cs The ConfState.
 * @returns Its description.
 *
 * @example Describing a ConfState
 * ```ts
 * import { describeConfState, newConfState } from "@raft-ts/raft";
 * const s = describeConfState(newConfState({ voters: [1, 2] }));
 * if (s !== "Voters:[1 2] VotersOutgoing:[] Learners:[] LearnersNext:[] AutoLeave:false") {
 *   throw new Error(s);
 * }
 * ```
 */
export function describeConfState(cs: ConfState): string {
  return "Voters:" + intList(cs.voters) + " VotersOutgoing:" + intList(cs.votersOutgoing) +
    " Learners:" + intList(cs.learners) + " LearnersNext:" + intList(cs.learnersNext) +
    " AutoLeave:" + String(cs.autoLeave);
}

/**
 * Describes a snapshot's metadata as `Index:<i> Term:<t> ConfState:<ConfState>`.
 * The data never prints.
 *
 * @param snap The snapshot.
 * @returns Its description.
 *
 * @example Describing a snapshot
 * ```ts
 * import { describeSnapshot, newConfState, newSnapshot } from "@raft-ts/raft";
 * const s = describeSnapshot(newSnapshot({ index: 4, term: 1, confState: newConfState({ voters: [1] }) }));
 * if (!s.startsWith("Index:4 Term:1 ConfState:Voters:[1] ")) throw new Error(s);
 * ```
 */
export function describeSnapshot(snap: Snapshot): string {
  const md = snap.metadata;
  return "Index:" + String(md.index) + " Term:" + String(md.term) + " ConfState:" +
    describeConfState(md.confState);
}

/** `%v` of a Go `[]ReadState`: `[{5 [99 116 120]} {7 []}]`. */
function describeReadStates(rss: readonly ReadState[]): string {
  const parts = rss.map((rs) => "{" + String(rs.index) + " " + intList([...rs.requestCtx]) + "}");
  return "[" + parts.join(" ") + "]";
}

/**
 * Describes a Ready: `Ready MustSync=<bool>:` and a newline, then the
 * sections that are present (SoftState, HardState, ReadStates, Entries,
 * Snapshot, CommittedEntries, Messages), each ending in a newline; or
 * `<empty Ready>` when there is nothing to report (HARNESS.md §5.6).
 *
 * @param rd The Ready.
 * @param f Formats the data of normal entries. Defaults to {@linkcode goQuote}.
 * @returns Its description.
 *
 * @example Describing an empty Ready
 * ```ts
 * import { describeReady, newHardState } from "@raft-ts/raft";
 * const s = describeReady({
 *   softState: undefined, hardState: newHardState(), readStates: [], entries: [],
 *   snapshot: undefined, committedEntries: [], messages: [], mustSync: false,
 * });
 * if (s !== "<empty Ready>") throw new Error(s);
 * ```
 */
export function describeReady(rd: Ready, f: EntryFormatter = goQuote): string {
  let body = "";
  if (rd.softState !== undefined) body += describeSoftState(rd.softState) + "\n";
  if (!isEmptyHardState(rd.hardState)) {
    body += "HardState " + describeHardState(rd.hardState) + "\n";
  }
  if (rd.readStates.length > 0) {
    body += "ReadStates " + describeReadStates(rd.readStates) + "\n";
  }
  if (rd.entries.length > 0) body += "Entries:\n" + describeEntries(rd.entries, f);
  if (rd.snapshot !== undefined && !isEmptySnap(rd.snapshot)) {
    body += "Snapshot " + describeSnapshot(rd.snapshot) + "\n";
  }
  if (rd.committedEntries.length > 0) {
    body += "CommittedEntries:\n" + describeEntries(rd.committedEntries, f);
  }
  if (rd.messages.length > 0) {
    body += "Messages:\n";
    for (const m of rd.messages) body += describeMessage(m, f) + "\n";
  }
  if (body === "") return "<empty Ready>";
  return "Ready MustSync=" + String(rd.mustSync) + ":\n" + body;
}
