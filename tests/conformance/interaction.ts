/**
 * The handler for etcd raft's interaction test files (`testdata/*.txt`):
 * parses each directive's arguments and runs the command on an
 * {@linkcode InteractionEnv} (HARNESS.md §3 and §4).
 *
 * @module
 */

import {
  type CmdArg,
  DataDrivenError,
  type Handler,
  parseBoolValue,
  parseIntValue,
  scanInt,
  type TestData,
} from "./datadriven.ts";
import {
  type AddNodesOptions,
  CommandError,
  InteractionEnv,
  isReportedError,
} from "./interaction/env.ts";
import { parseDeliverMsgs, parseUintValue } from "./interaction/recipients.ts";
import { rawNodeRaft } from "../../core/raw_node.ts";
import { confChangesFromString, goQuote } from "../../core/describe.ts";
import {
  type ConfChangeI,
  ConfChangeTransition,
  newConfChange,
  newConfChangeV2,
  ReadOnlyOption,
} from "../../core/types.ts";

/**
 * Creates a handler with a fresh environment, for one interaction file.
 *
 * @returns A handler that runs each test case on the same environment.
 *
 * @example Running one file
 * ```ts
 * import { runFile } from "./datadriven.ts";
 * import { newInteractionHandler } from "./interaction.ts";
 * const text = "log-level none\n----\nok\n\nraft-state\n----\nok\n";
 * const r = runFile(text, "example.txt", newInteractionHandler());
 * if (!r.passed) throw new Error(r.failure);
 * ```
 */
export function newInteractionHandler(): Handler {
  const env = new InteractionEnv();
  return (d: TestData): string => handle(env, d);
}

/**
 * Runs one command: clears the output, runs it, and appends the error it
 * reports, if any (HARNESS.md §3.1).
 *
 * @param env The environment.
 * @param d The test case.
 * @returns The command's output, or `ok` when it wrote nothing.
 */
export function handle(env: InteractionEnv, d: TestData): string {
  const out = env.output;
  out.reset();
  try {
    runCommand(env, d);
  } catch (e) {
    if (!isReportedError(e)) throw e;
    if (out.quiet()) return e.message;
    out.write(e.message);
  }
  const s = out.toString();
  return s === "" ? "ok" : s;
}

function runCommand(env: InteractionEnv, d: TestData): void {
  switch (d.cmd) {
    case "_breakpoint":
      return;
    case "add-nodes":
      return handleAddNodes(env, d);
    case "campaign":
      env.node(firstAsNodeIdx(d)).rawNode.campaign();
      return;
    case "compact":
      return handleCompact(env, d);
    case "deliver-msgs":
      return handleDeliverMsgs(env, d);
    case "process-ready":
      env.forEachNode(nodeIdxs(d), "handling Ready", (i) => env.processReady(i));
      return;
    case "process-append-thread":
      env.forEachNode(nodeIdxs(d), "processing append thread", (i) => env.processAppendThread(i));
      return;
    case "process-apply-thread":
      env.forEachNode(nodeIdxs(d), "processing apply thread", (i) => env.processApplyThread(i));
      return;
    case "log-level":
      env.logLevel(firstArg(d).key);
      return;
    case "raft-log":
      env.raftLog(firstAsNodeIdx(d));
      return;
    case "raft-state":
      env.raftState();
      return;
    case "set-randomized-election-timeout":
      return handleSetRandomizedElectionTimeout(env, d);
    case "stabilize":
      return handleStabilize(env, d);
    case "status":
      env.status(firstAsNodeIdx(d));
      return;
    case "tick-election": {
      const idx = firstAsNodeIdx(d);
      env.tick(idx, env.node(idx).config.electionTick);
      return;
    }
    case "tick-heartbeat": {
      const idx = firstAsNodeIdx(d);
      env.tick(idx, env.node(idx).config.heartbeatTick);
      return;
    }
    case "transfer-leadership":
      return handleTransferLeadership(env, d);
    case "forget-leader":
      try {
        env.node(firstAsNodeIdx(d)).rawNode.forgetLeader();
      } catch (e) {
        // etcd's harness ignores the error ForgetLeader returns.
        if (!isReportedError(e)) throw e;
      }
      return;
    case "send-snapshot":
      return handleSendSnapshot(env, d);
    case "propose":
      return handlePropose(env, d);
    case "propose-conf-change":
      return handleProposeConfChange(env, d);
    case "report-unreachable":
      return handleReportUnreachable(env, d);
    default:
      throw new CommandError("unknown command");
  }
}

function setupError(d: TestData, msg: string): DataDrivenError {
  return new DataDrivenError(`${d.pos}: ${d.cmd}: ${msg}`);
}

function firstArg(d: TestData): CmdArg {
  const a = d.cmdArgs[0];
  if (a === undefined) throw setupError(d, "missing first argument");
  return a;
}

function firstAsInt(d: TestData): number {
  return parseIntValue(d, firstArg(d).key);
}

function firstAsNodeIdx(d: TestData): number {
  return firstAsInt(d) - 1;
}

/** The bare (value-less) arguments as node indexes; `key=value` arguments are skipped. */
function nodeIdxs(d: TestData): number[] {
  return d.cmdArgs.filter((a) => a.vals.length === 0).map((a) => parseIntValue(d, a.key) - 1);
}

function handleAddNodes(env: InteractionEnv, d: TestData): void {
  const n = firstAsInt(d);
  const opts: AddNodesOptions = {
    voters: [],
    learners: [],
    index: undefined,
    content: undefined,
    config: {},
  };
  const cfg = opts.config;
  for (const arg of d.cmdArgs.slice(1)) {
    for (const val of arg.vals) {
      switch (arg.key) {
        case "voters":
          opts.voters.push(parseUintValue(d, val));
          break;
        case "learners":
          opts.learners.push(parseUintValue(d, val));
          break;
        case "inflight":
          cfg.maxInflightMsgs = parseIntValue(d, val);
          break;
        case "index":
          opts.index = parseUintValue(d, val);
          break;
        case "content":
          opts.content = new TextEncoder().encode(val);
          break;
        case "async-storage-writes":
          cfg.asyncStorageWrites = parseBoolValue(d, val);
          break;
        case "prevote":
          cfg.preVote = parseBoolValue(d, val);
          break;
        case "checkquorum":
          cfg.checkQuorum = parseBoolValue(d, val);
          break;
        case "max-committed-size-per-ready":
          cfg.maxCommittedSizePerReady = parseUintValue(d, val);
          break;
        case "disable-conf-change-validation":
          cfg.disableConfChangeValidation = parseBoolValue(d, val);
          break;
        case "read-only":
          if (val === "safe") cfg.readOnlyOption = ReadOnlyOption.ReadOnlySafe;
          else if (val === "lease-based") cfg.readOnlyOption = ReadOnlyOption.ReadOnlyLeaseBased;
          else {
            throw new CommandError(
              `invalid read-only option ${goQuote(new TextEncoder().encode(val))}`,
            );
          }
          break;
        case "step-down-on-removal":
          cfg.stepDownOnRemoval = parseBoolValue(d, val);
          break;
        default:
          // Unknown keys are ignored, as in etcd's harness.
      }
    }
  }
  env.addNodes(n, opts);
}

function handleCompact(env: InteractionEnv, d: TestData): void {
  const idx = firstAsNodeIdx(d);
  const a = d.cmdArgs[1];
  if (a === undefined) throw setupError(d, "missing index");
  if (!/^\d+$/.test(a.key)) {
    // etcd's harness returns the strconv error as the command's output.
    throw new CommandError(`strconv.ParseUint: parsing ${JSON.stringify(a.key)}: invalid syntax`);
  }
  env.compact(idx, Number(a.key));
}

function handleDeliverMsgs(env: InteractionEnv, d: TestData): void {
  const { recipients, type } = parseDeliverMsgs(d);
  if (env.deliverMsgs(type, recipients) === 0) env.output.write("no messages\n");
}

function handleSetRandomizedElectionTimeout(env: InteractionEnv, d: TestData): void {
  const idx = firstAsNodeIdx(d);
  const timeout = scanInt(d, "timeout");
  if (timeout === 0) throw setupError(d, "timeout must be non-zero");
  rawNodeRaft(env.node(idx).rawNode).randomizedElectionTimeout = timeout;
}

function handleStabilize(env: InteractionEnv, d: TestData): void {
  const idxs = nodeIdxs(d);
  const old = env.output.level;
  try {
    for (const arg of d.cmdArgs) {
      for (const val of arg.vals) {
        if (arg.key === "log-level") env.logLevel(val);
      }
    }
    env.stabilize(idxs);
  } finally {
    env.output.level = old;
  }
}

function handleTransferLeadership(env: InteractionEnv, d: TestData): void {
  const from = scanInt(d, "from");
  const to = scanInt(d, "to");
  if (from <= 0 || from > env.nodes.length) throw setupError(d, `expected valid "from" argument`);
  if (to <= 0 || to > env.nodes.length) throw setupError(d, `expected valid "to" argument`);
  env.node(from - 1).rawNode.transferLeader(to);
}

function handleSendSnapshot(env: InteractionEnv, d: TestData): void {
  const idxs = nodeIdxs(d);
  if (idxs.length !== 2) throw setupError(d, "expected exactly two node IDs");
  try {
    env.sendSnapshot(idxs[0]!, idxs[1]!);
  } catch (e) {
    // etcd's harness ignores the error of send-snapshot.
    if (!isReportedError(e)) throw e;
  }
}

function handlePropose(env: InteractionEnv, d: TestData): void {
  const idx = firstAsNodeIdx(d);
  const a = d.cmdArgs[1];
  if (d.cmdArgs.length !== 2 || a === undefined || a.vals.length > 0) {
    throw setupError(d, "expected exactly one key with no vals");
  }
  env.node(idx).rawNode.propose(new TextEncoder().encode(a.key));
}

function handleProposeConfChange(env: InteractionEnv, d: TestData): void {
  const idx = firstAsNodeIdx(d);
  let v1 = false;
  let transition: ConfChangeTransition = ConfChangeTransition.ConfChangeTransitionAuto;
  for (const arg of d.cmdArgs.slice(1)) {
    for (const val of arg.vals) {
      switch (arg.key) {
        case "v1":
          try {
            v1 = parseBoolValue(d, val);
          } catch {
            throw new CommandError(
              `strconv.ParseBool: parsing ${JSON.stringify(val)}: invalid syntax`,
            );
          }
          break;
        case "transition":
          switch (val) {
            case "auto":
              transition = ConfChangeTransition.ConfChangeTransitionAuto;
              break;
            case "implicit":
              transition = ConfChangeTransition.ConfChangeTransitionJointImplicit;
              break;
            case "explicit":
              transition = ConfChangeTransition.ConfChangeTransitionJointExplicit;
              break;
            default:
              throw new CommandError(`unknown transition ${val}`);
          }
          break;
        default:
          throw new CommandError(`unknown command ${arg.key}`);
      }
    }
  }
  let ccs;
  try {
    ccs = confChangesFromString(d.input);
  } catch (e) {
    if (e instanceof Error) throw new CommandError(e.message);
    throw e;
  }
  let c: ConfChangeI;
  if (v1) {
    if (ccs.length > 1 || transition !== ConfChangeTransition.ConfChangeTransitionAuto) {
      throw new CommandError("v1 conf change can only have one operation and no transition");
    }
    const only = ccs[0];
    if (only === undefined) throw setupError(d, "v1 conf change needs exactly one operation");
    c = newConfChange({ type: only.type, nodeId: only.nodeId });
  } else {
    c = newConfChangeV2({ transition, changes: ccs });
  }
  env.proposeConfChange(idx, c);
}

function handleReportUnreachable(env: InteractionEnv, d: TestData): void {
  const sl = nodeIdxs(d);
  if (sl.length !== 2) {
    throw new CommandError(
      "must specify exactly two node indexes: node on which to report, and reported node",
    );
  }
  const peer = env.node(sl[1]!).config.id;
  env.node(sl[0]!).rawNode.reportUnreachable(peer);
}
