/**
 * The KV server's batching against a stand-in node: the writes of one turn go
 * into one log entry with the results mapped back in order, the reads of one
 * turn share one ReadIndex, both are bounded (EBUSY), a follower answers
 * ENOTLEADER with its leader, and a response frame keeps within its budget.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { RaftError } from "../src/errors.js";
import type { KvCallResult, ReadOp, WriteBatch, WriteCall, WriteResult } from "../src/kv/commands.js";
import { decodeWriteBatch } from "../src/kv/kv-codec.js";
import { ReadBatcher } from "../src/kv/read-batcher.js";
import { fitResponse } from "../src/kv/response-budget.js";
import { WriteBatcher } from "../src/kv/write-batcher.js";
import type { RaftNode } from "../src/node/raft-node.js";

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

/** What the batchers use of a RaftNode, recording what they ask of it. */
class StandInNode {
  leader = true;
  readonly proposed: WriteBatch[] = [];
  readIndexCalls = 0;
  readIndexModes: string[] = [];
  /** How apply() and readIndex() answer; default: never (in flight). */
  applyAnswer: (batch: WriteBatch) => Promise<unknown> = () => new Promise(() => {});
  readIndexAnswer: () => Promise<number> = () => Promise.resolve(1);
  readonly serverId = "127.0.0.1:1";
  readonly groupId = "kv";
  get leaderId(): string {
    return this.leader ? this.serverId : "127.0.0.1:2";
  }
  isLeader(): boolean {
    return this.leader;
  }
  apply(task: { data: Uint8Array }): Promise<unknown> {
    const batch = decodeWriteBatch(task.data);
    this.proposed.push(batch);
    return this.applyAnswer(batch);
  }
  readIndex(mode: string): Promise<number> {
    this.readIndexCalls++;
    this.readIndexModes.push(mode);
    return this.readIndexAnswer();
  }
  asNode(): RaftNode {
    return this as unknown as RaftNode;
  }
}

function put(seq: number, key: string): WriteCall {
  return { kind: "write", clientId: "c", seq, firstUnackedSeq: 1, op: { type: "put", key: bytes(key), value: bytes("v") } };
}

test("WriteBatcher: one log entry per turn, stamped with the time, results mapped back in order", async () => {
  const node = new StandInNode();
  node.applyAnswer = async (batch) => batch.calls.map((call): WriteResult => ({ type: "sequence", start: call.seq, end: call.seq + 1 }));
  const writes = new WriteBatcher(node.asNode(), 100);
  const before = Date.now();
  const results = await Promise.all([1, 2, 3].map((seq) => writes.submit(put(seq, `k${seq}`))));
  assert.equal(node.proposed.length, 1, "one entry for the three writes");
  assert.deepEqual(node.proposed[0]!.calls.map((call) => call.seq), [1, 2, 3]);
  assert.ok(node.proposed[0]!.timeMs >= before && node.proposed[0]!.timeMs <= Date.now());
  assert.deepEqual(results.map((r) => r.type === "sequence" && r.start), [1, 2, 3]);
  assert.equal(writes.pending, 0);
  await writes.submit(put(4, "k4"));
  assert.equal(node.proposed.length, 2, "a later turn: another entry");
});

test("WriteBatcher: bounded pending writes (EBUSY), ENOTLEADER on a follower, a failed apply fails each call", async () => {
  const node = new StandInNode();
  const writes = new WriteBatcher(node.asNode(), 2);
  void writes.submit(put(1, "a"));
  void writes.submit(put(2, "b"));
  const refused = await writes.submit(put(3, "c"));
  assert.equal(refused.type === "error" && refused.code, "EBUSY");
  assert.match(refused.type === "error" ? refused.message : "", /2 writes wait to be committed on 127\.0\.0\.1:1 \(the limit is 2\)/);

  const failing = new StandInNode();
  failing.applyAnswer = () => Promise.reject(new RaftError("ESTEPPEDDOWN", "leadership changed"));
  const failed = await Promise.all([1, 2].map((seq) => new WriteBatcher(failing.asNode(), 10).submit(put(seq, "k"))));
  for (const result of failed) assert.deepEqual(result, { type: "error", code: "ESTEPPEDDOWN", message: "leadership changed", leaderHint: null });

  const follower = new StandInNode();
  follower.leader = false;
  const redirected = await new WriteBatcher(follower.asNode(), 10).submit(put(1, "k"));
  assert.deepEqual(redirected, { type: "error", code: "ENOTLEADER", message: '127.0.0.1:1 is not the leader of group "kv"; the leader is 127.0.0.1:2', leaderHint: "127.0.0.1:2" });
  assert.equal(follower.proposed.length, 0);
});

test("ReadBatcher: the reads of one turn share one ReadIndex per mode; bounded; a failed ReadIndex fails each read", async () => {
  const node = new StandInNode();
  const served: ReadOp[] = [];
  const reads = new ReadBatcher(node.asNode(), (op) => (served.push(op), { type: "bool", value: true }), 3);
  const get = (key: string): ReadOp => ({ type: "get", key: bytes(key) });
  const results = await Promise.all([reads.submit(get("a"), "safe"), reads.submit(get("b"), "safe"), reads.submit(get("c"), "lease"), reads.submit(get("d"), "safe")]);
  assert.equal(node.readIndexCalls, 2);
  assert.deepEqual(node.readIndexModes, ["safe", "lease"], "one round for the safe reads, one lease check for the lease read");
  assert.equal(served.length, 3);
  assert.equal(results[3]!.type === "error" && results[3]!.code, "EBUSY");

  node.readIndexAnswer = () => Promise.reject(new RaftError("EAGAIN", "the new leader has not yet committed an entry of its term; retry shortly"));
  const refused = await reads.submit(get("a"), "safe");
  assert.equal(refused.type === "error" && refused.code, "EAGAIN");
  assert.equal(served.length, 3, "nothing read without a read index");
});

test("fitResponse: a result too large alone gets EINVAL, others that do not fit get EAGAIN", () => {
  const value = (n: number): KvCallResult => ({ type: "value", value: new Uint8Array(n) });
  const ok: KvCallResult = { type: "ok" };
  assert.deepEqual(fitResponse([ok, value(10)], 100).map((r) => r.type), ["ok", "value"]);
  // Largest first, until the rest fits: the fewest calls are turned away.
  const fitted = fitResponse([ok, value(200), value(50), value(20)], 150);
  assert.deepEqual(fitted.map((r) => (r.type === "error" ? r.code : r.type)), ["ok", "EINVAL", "EAGAIN", "value"]);
  assert.match(fitted[1]!.type === "error" ? fitted[1]!.message : "", /ask for fewer keys, a smaller scan limit or fewer watch events/);
});
