import { test } from "node:test";
import assert from "node:assert/strict";
import { discardLogger } from "../logger.ts";
import type { SnapshotStreams, TransportHandler } from "../node/seams.ts";
import { globalScheduler } from "../node/scheduler.ts";
import { GroupMux } from "./mux.ts";
import type { HostTransport, HostTransportHandler } from "./seams.ts";

/** A host transport that keeps the handler it is started with. */
function fakeTransport(streams: boolean): HostTransport & { handler?: HostTransportHandler } {
  const t: HostTransport & { handler?: HostTransportHandler } = {
    ...(streams ? { streamsSnapshots: true } : {}),
    start: (h) => void (t.handler = h),
    send: () => {},
    close: () => {},
  };
  return t;
}

const streams: SnapshotStreams = {
  dataBytes: () => undefined,
  read: () => ({
    [Symbol.asyncIterator]: () => ({
      next: () => Promise.resolve({ done: true, value: undefined }),
    }),
  }),
  receive: () => ({
    write: () => {},
    finish: () => Promise.reject(new Error("unused")),
    abort: () => {},
  }),
};

function groupHandler(): TransportHandler {
  return {
    id: 1,
    step: () => {},
    reportUnreachable: () => {},
    reportSnapshot: () => {},
    snapshotStreams: streams,
  };
}

test("GroupMux gives each group's snapshot streams to a host transport that streams snapshots", () => {
  const t = fakeTransport(true);
  const mux = new GroupMux(1, t, globalScheduler, discardLogger);
  const view = mux.view(4);
  assert.equal(view.streamsSnapshots, true);
  view.start(groupHandler());
  assert.equal(t.handler!.snapshotStreams!(4), streams);
  assert.equal(t.handler!.snapshotStreams!(5), undefined);
  view.close();
  assert.equal(t.handler!.snapshotStreams!(4), undefined);
});

test("GroupMux's group views stream no snapshots over a host transport that does not", () => {
  const mux = new GroupMux(1, fakeTransport(false), globalScheduler, discardLogger);
  assert.equal(mux.view(4).streamsSnapshots, undefined);
});
