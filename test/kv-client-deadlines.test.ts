/**
 * The KV client's call deadlines against a transport that never answers: each
 * call fails with ETIMEDOUT at its own deadline, whatever order the calls were
 * made in (one timer serves them all), and nothing of the client keeps the
 * process alive once its calls are settled.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { RaftError } from "../src/errors.js";
import { KvClient } from "../src/kv/kv-client.js";
import { requestOnlyTransport, type Transport } from "../src/transport/transport.js";

/** Takes every request and answers none (a peer that hangs). */
function silentTransport(): Transport {
  return requestOnlyTransport(() => new Promise<Buffer>(() => {}));
}

function activeTimers(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === "Timeout").length;
}

test("each call times out at its own deadline, the later-made shorter ones first", async () => {
  const client = new KvClient({ endpoints: "127.0.0.1:1", transport: silentTransport(), timeoutMs: 60_000 });
  const startMs = Date.now();
  const failedAtMs = new Map<number, number>();
  const call = (timeoutMs: number): Promise<void> =>
    client.put(`k${timeoutMs}`, "v", { timeoutMs }).then(
      () => assert.fail(`the ${timeoutMs} ms call succeeded against a silent transport`),
      (error: RaftError) => {
        assert.equal(error.code, "ETIMEDOUT");
        assert.match(error.message, new RegExp(`did not complete within ${timeoutMs} ms`));
        failedAtMs.set(timeoutMs, Date.now() - startMs);
      },
    );
  await Promise.all([call(450), call(150), call(300)]);
  await client.close();
  assert.deepEqual([...failedAtMs.keys()], [150, 300, 450], "the calls failed in deadline order");
  for (const [timeoutMs, elapsedMs] of failedAtMs) {
    assert.ok(elapsedMs >= timeoutMs - 1, `the ${timeoutMs} ms call failed after ${elapsedMs} ms, before its deadline`);
    assert.ok(elapsedMs < timeoutMs + 1000, `the ${timeoutMs} ms call failed only after ${elapsedMs} ms`);
  }
});

test("a call settled before its deadline leaves no timer behind", async () => {
  const before = activeTimers();
  const client = new KvClient({ endpoints: "127.0.0.1:1", transport: silentTransport(), timeoutMs: 60_000 });
  const pending = client.get("k").catch((error: RaftError) => error);
  assert.ok(activeTimers() > before, "a call in flight holds the deadline timer");
  await client.close();
  const error = await pending;
  assert.ok(error instanceof RaftError && error.code === "ESHUTDOWN", `the call ended with ${String(error)}`);
  assert.equal(activeTimers(), before, "the client still holds a timer once no call is in flight");
});
