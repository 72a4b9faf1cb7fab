/**
 * `wss://` with a self-signed certificate made by `openssl` at test time
 * (skipped when `openssl` is missing). The client trusts it through the
 * `ca` option, which `ws` and Bun's client take (Deno's client reads extra
 * CAs from `DENO_CERT` at start-up, so it is not used here).
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MessageType, newMessage } from "../../core/types.ts";
import { encodePeerContext, type ServerKind, WebSocketTransport } from "./mod.ts";
import { CaptureLogger, Recorder, testOptions, waitFor } from "./_test_util.ts";

function selfSigned(): { cert: string; key: string } | undefined {
  const dir = mkdtempSync(join(tmpdir(), "raft-ts-tls-"));
  try {
    const r = spawnSync("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-days",
      "2",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem"),
    ], { stdio: "ignore" });
    if (r.status !== 0) return undefined;
    return {
      cert: readFileSync(join(dir, "cert.pem"), "utf8"),
      key: readFileSync(join(dir, "key.pem"), "utf8"),
    };
  } catch {
    return undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const tls = selfSigned();

for (const server of ["auto", "ws"] as ("auto" | ServerKind)[]) {
  test(
    `WebSocketTransport serves wss:// (${server} server) to a client that trusts the certificate`,
    { skip: tls === undefined ? "openssl is not available" : false },
    async () => {
      const impl = { server, client: "ws" as const };
      const a = new WebSocketTransport(testOptions(1, impl, {
        tls: tls!,
        ca: tls!.cert,
        logger: new CaptureLogger("a: "),
      }));
      const b = new WebSocketTransport(testOptions(2, impl, {
        tls: tls!,
        ca: tls!.cert,
        logger: new CaptureLogger("b: "),
      }));
      try {
        const [, addrB] = await Promise.all([a.listen(), b.listen()]);
        assert.match(addrB.url, /^wss:\/\/127\.0\.0\.1:\d+\/raft$/);
        a.addPeer(2, encodePeerContext({ url: addrB.url }));
        b.addPeer(1, new Uint8Array()); // a member; b never dials it here
        const rb = new Recorder(2);
        a.start(new Recorder(1));
        b.start(rb);
        a.send([newMessage({ type: MessageType.MsgHeartbeat, from: 1, to: 2, term: 4 })]);
        await waitFor(() => rb.messages.length === 1, "delivery over TLS");
        assert.equal(rb.messages[0]!.term, 4);

        // A client that does not trust the certificate cannot connect.
        const c = new WebSocketTransport(testOptions(3, impl, {
          peers: new Map([[2, addrB.url]]),
          reconnectBaseMs: 1000,
        }));
        try {
          c.start(new Recorder(3));
          await waitFor(
            () => (c.metrics().peers[0]?.connectFailures ?? 0) >= 1,
            "the untrusted connection to fail",
          );
          assert.equal(rb.messages.length, 1);
        } finally {
          await c.close();
        }
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    },
  );
}
