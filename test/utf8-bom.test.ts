/**
 * A string that starts with U+FEFF (a byte-order mark) keeps it through every
 * UTF-8 decoder: TextDecoder drops a leading one unless told not to. Found by
 * `npm run fuzz` (the snapshot chunk and manifest requests' round trips, with
 * such a group id).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { WriteBatch } from "../src/kv/commands.js";
import { toBytes, toText } from "../src/kv/bytes.js";
import { decodeWriteBatch, encodeWriteBatch } from "../src/kv/kv-codec.js";
import { BinaryReader, BinaryWriter } from "../src/transport/binary.js";

const WITH_BOM = "\uFEFFkv";

test("the wire's strings keep a leading U+FEFF", () => {
  const writer = new BinaryWriter();
  writer.string(WITH_BOM);
  assert.equal(new BinaryReader(writer.finish(), "a test frame").string(), WITH_BOM);
});

test("a write call's client id and its lock owner keep a leading U+FEFF through the write batch codec", () => {
  const batch: WriteBatch = {
    timeMs: 1,
    calls: [{ kind: "write", clientId: WITH_BOM, seq: 1, firstUnackedSeq: 1, op: { type: "lockAcquire", key: Buffer.from("lock"), owner: WITH_BOM, leaseMs: 1000 } }],
  };
  const call = decodeWriteBatch(encodeWriteBatch(batch)).calls[0]!;
  assert.equal(call.clientId, WITH_BOM);
  assert.equal(call.op.type === "lockAcquire" ? call.op.owner : null, WITH_BOM);
});

test("text stored with a leading U+FEFF reads back with it", () => {
  assert.equal(toText(toBytes(WITH_BOM, "value")), WITH_BOM);
});
