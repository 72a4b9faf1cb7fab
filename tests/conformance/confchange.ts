/**
 * Handler for etcd raft's `confchange/testdata` files: `simple`,
 * `enter-joint [autoleave=<bool>]` and `leave-joint` on one changer per
 * file. See HARNESS.md §9.
 *
 * @module
 */

import { Changer, type ChangeResult } from "../../core/confchange/confchange.ts";
import { ConfChangeError } from "../../core/errors.ts";
import { confChangesFromString } from "../../core/describe.ts";
import { newProgressTracker } from "../../core/tracker/tracker.ts";
import type { ConfChangeSingle } from "../../core/types.ts";
import {
  DataDrivenError,
  findArg,
  type Handler,
  parseBoolValue,
  type TestData,
} from "./datadriven.ts";

/**
 * Creates a handler for one file of the confchange suite: a tracker with
 * MaxInflight 10 and no byte limit, an empty configuration, and a last
 * index that goes up by one after every directive.
 *
 * @returns The handler.
 */
export function newConfChangeHandler(): Handler {
  const c = new Changer(newProgressTracker(10, 0), 0);
  const run = (d: TestData): string => {
    let ccs: ConfChangeSingle[];
    try {
      ccs = confChangesFromString(d.input);
    } catch (e) {
      // A malformed change list prints its error, as the Go harness does.
      if (e instanceof SyntaxError || e instanceof RangeError) return e.message;
      throw e;
    }
    let r: ChangeResult;
    try {
      switch (d.cmd) {
        case "simple":
          r = c.simple(ccs);
          break;
        case "enter-joint": {
          let autoLeave = false;
          if (d.cmdArgs.length > 0) {
            const a = findArg(d, "autoleave");
            if (a === undefined || a.vals.length !== 1) {
              throw new DataDrivenError(`${d.pos}: ${d.cmd}: missing argument autoleave`);
            }
            autoLeave = parseBoolValue(d, a.vals[0]!);
          }
          r = c.enterJoint(autoLeave, ccs);
          break;
        }
        case "leave-joint":
          if (ccs.length > 0) return "this command takes no input\n";
          r = c.leaveJoint();
          break;
        default:
          return "unknown command";
      }
    } catch (e) {
      if (e instanceof ConfChangeError) return e.message + "\n";
      throw e;
    }
    c.tracker.config = r.config;
    c.tracker.progress = r.progress;
    return `${r.config}\n${r.progress}`;
  };
  return (d: TestData): string => {
    try {
      return run(d);
    } finally {
      c.lastIndex++;
    }
  };
}
