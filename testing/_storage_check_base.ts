/**
 * The registry of the storage suite's checks and what they share: the
 * fixtures (entries, ConfStates, a one-Ready save, a storage holding a
 * given log) and the read side of a storage as a comparable view.
 *
 * @module
 */

import {
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  newConfState,
  newEntry,
  newSnapshot,
  type Snapshot,
} from "../core/types.ts";
import type { NodeStorage } from "../core/node.ts";
import type { Storage } from "../core/storage.ts";
import type { NodeStorageFactory, NodeStorageInstance } from "./storage_check.ts";

export const enc = new TextEncoder();

/** An entry {index, term} with a payload that depends on both. */
export function ent(index: number, term: number, type: EntryType = EntryType.EntryNormal): Entry {
  return newEntry({ index, term, type, data: enc.encode(`e${index}t${term}`) });
}

export function cs(...voters: number[]): ConfState {
  return newConfState({ voters });
}

export function save(
  s: NodeStorage,
  u: { hardState?: HardState; entries?: Entry[]; snapshot?: Snapshot },
): void | Promise<void> {
  return s.save({
    hardState: u.hardState,
    entries: u.entries ?? [],
    snapshot: u.snapshot,
    mustSync: true,
  });
}

/** The visible state of a storage, in a form `deepEqual` compares. */
export interface StorageView {
  /** `initialState().hardState`. */
  hardState: HardState;
  /** `initialState().confState`. */
  confState: ConfState;
  /** `firstIndex()`. */
  firstIndex: number;
  /** `lastIndex()`. */
  lastIndex: number;
  /** `term(firstIndex() - 1)`. */
  compactedTerm: number;
  /** `snapshot()` with its data as an array. */
  snapshot: { index: number; term: number; confState: ConfState; data: number[] };
  /** All entries, with their data as arrays. */
  entries: { index: number; term: number; type: number; data: number[] }[];
}

/**
 * Reads everything a storage shows through its read side.
 *
 * @param s The storage.
 * @returns Its state.
 */
export function viewOf(s: Storage): StorageView {
  const { hardState, confState } = s.initialState();
  const first = s.firstIndex();
  const last = s.lastIndex();
  const snap = s.snapshot();
  return {
    hardState: { term: hardState.term, vote: hardState.vote, commit: hardState.commit },
    confState: { ...confState },
    firstIndex: first,
    lastIndex: last,
    compactedTerm: s.term(first - 1),
    snapshot: {
      index: snap.metadata.index,
      term: snap.metadata.term,
      confState: { ...snap.metadata.confState },
      data: [...snap.data],
    },
    entries: last >= first
      ? s.entries(first, last + 1, Infinity).map((e) => ({
        index: e.index,
        term: e.term,
        type: e.type,
        data: [...e.data],
      }))
      : [],
  };
}

/** Runs `f` and returns its result, or what it threw as class name and message. */
export function outcome(f: () => unknown): string {
  try {
    return `ok: ${String(f())}; `;
  } catch (e) {
    return `${(e as Error).name}: ${(e as Error).message}`;
  }
}

export type Check = (
  factory: NodeStorageFactory,
  seed: number,
) => Promise<void>;

export const checks = new Map<string, { crash: boolean; chunks: boolean; run: Check }>();

/** Registers a check (the suite's body reads as a list of tests). */
export function test(
  name: string,
  optionsOrRun: { timeout?: number; crash?: boolean; chunks?: boolean } | Check,
  maybeRun?: Check,
): void {
  const run = typeof optionsOrRun === "function" ? optionsOrRun : maybeRun!;
  const crash = typeof optionsOrRun === "function" ? false : optionsOrRun.crash ?? false;
  const chunks = typeof optionsOrRun === "function" ? false : optionsOrRun.chunks ?? false;
  checks.set(name, { crash, chunks, run });
}

/** Runs a check body on a fresh instance and disposes it afterwards. */
export async function withStorage(
  factory: NodeStorageFactory,
  body: (s: NodeStorage, inst: NodeStorageInstance) => void | Promise<void>,
): Promise<void> {
  const inst = await factory.create();
  try {
    await body(inst.storage, inst);
  } finally {
    await inst.dispose();
  }
}

/** A storage whose log holds the dummy {3,3} and then the given terms for 4, 5, .... */
export async function withLog(
  factory: NodeStorageFactory,
  terms: number[],
  body: (s: NodeStorage, inst: NodeStorageInstance) => void | Promise<void>,
): Promise<void> {
  await withStorage(factory, async (s, inst) => {
    await save(s, {
      snapshot: newSnapshot({ index: 3, term: 3, confState: cs(1, 2, 3) }),
      entries: terms.map((t, k) => ent(4 + k, t)),
    });
    await body(s, inst);
  });
}
