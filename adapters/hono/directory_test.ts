import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeMemberContext, encodeMemberContext, MemberDirectory } from "./directory.ts";
import { ConfChangeType } from "../../core/types.ts";

test("encodeMemberContext() writes a context the WebSocket transport can read", () => {
  const ctx = encodeMemberContext({ apiUrl: "http://h:8080/", peerUrl: "ws://h:8080/raft" });
  const parsed = JSON.parse(new TextDecoder().decode(ctx));
  assert.deepEqual(parsed, { url: "ws://h:8080/raft", apiUrl: "http://h:8080" });
  assert.deepEqual(decodeMemberContext(ctx), {
    peerUrl: "ws://h:8080/raft",
    apiUrl: "http://h:8080",
  });
  assert.throws(() => encodeMemberContext({ apiUrl: "ws://h" }), TypeError);
  assert.throws(() => encodeMemberContext({ peerUrl: "not a url" }), TypeError);
  assert.deepEqual(
    decodeMemberContext(new TextEncoder().encode('{"url":5,"apiUrl":"ftp://x"}')),
    {},
  );
  assert.deepEqual(decodeMemberContext(new TextEncoder().encode("null")), {});
});

test("MemberDirectory.watch() learns added members and forgets removed ones", () => {
  type Listener = (
    e: { changes: { type: ConfChangeType; nodeId: number }[]; context: Uint8Array },
  ) => void;
  let listener: Listener | undefined;
  const source = {
    on(_event: "membership", fn: Listener): () => void {
      listener = fn;
      return () => {
        listener = undefined;
      };
    },
  };
  const dir = new MemberDirectory([[1, { apiUrl: "http://a" }]]);
  const stop = dir.watch(source);
  listener!({
    changes: [{ type: ConfChangeType.ConfChangeAddLearnerNode, nodeId: 4 }],
    context: encodeMemberContext({ apiUrl: "http://d", peerUrl: "ws://d/raft" }),
  });
  assert.deepEqual(dir.get(4), { apiUrl: "http://d", peerUrl: "ws://d/raft" });
  // A promotion carries no context: the address stays.
  listener!({
    changes: [{ type: ConfChangeType.ConfChangeAddNode, nodeId: 4 }],
    context: new Uint8Array(),
  });
  assert.equal(dir.get(4)?.apiUrl, "http://d");
  listener!({
    changes: [{ type: ConfChangeType.ConfChangeRemoveNode, nodeId: 1 }],
    context: new Uint8Array(),
  });
  assert.equal(dir.get(1), undefined);
  assert.deepEqual(dir.ids(), [4]);
  stop();
  assert.equal(listener, undefined);
});
