/**
 * The names of the tables that hold one log: a single-group file's own
 * (`raft_meta`, `raft_log`, ...), or one group's within a host's file
 * (`raft_g<id>_meta`, ...). Every statement of the storage is written
 * against these names, so one code path reads, writes and checks both.
 *
 * @module
 */

/** The tables of one log. */
export interface LogTables {
  /** The HardState, snapshot and log start records. */
  readonly meta: string;
  /** The entries, one row per write. */
  readonly log: string;
  /** The snapshot data sets (length, checksum, chunk count, state). */
  readonly snapshotData: string;
  /** The snapshot data chunks. */
  readonly snapshotChunk: string;
}

/** The tables of a single-group file (schema version 2). */
export const fileTables: LogTables = {
  meta: "raft_meta",
  log: "raft_log",
  snapshotData: "raft_snapshot_data",
  snapshotChunk: "raft_snapshot_chunk",
};

/**
 * The tables of one group in a host's file.
 *
 * @param groupId The group, a positive safe integer (checked by the caller).
 * @returns Its table names.
 */
export function groupTables(groupId: number): LogTables {
  const p = `raft_g${groupId}_`;
  return {
    meta: `${p}meta`,
    log: `${p}log`,
    snapshotData: `${p}snapshot_data`,
    snapshotChunk: `${p}snapshot_chunk`,
  };
}
