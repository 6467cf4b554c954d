/** Fuzzing the transport's decoders: Raft messages of every type, and frame streams of every frame kind; and what the fuzzing found. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { protocolStreamTarget, raftMessageTarget } from "../src/fuzz/transport-targets.js";
import { FrameDecoder, FrameKind } from "../src/transport/frame.js";
import { fuzzTests } from "./support/fuzz.js";

fuzzTests(raftMessageTarget(), 1500);
fuzzTests(protocolStreamTarget(), 700);

/** The heap's live bytes after a full collection. */
function liveHeapBytes(): number {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
  return process.memoryUsage().heapUsed;
}

test("a frame trickled in one byte at a time costs its bytes, not a Buffer object per byte", () => {
  const bodyBytes = 256 * 1024;
  const decoder = new FrameDecoder();
  const header = Buffer.alloc(5);
  header.writeUInt32BE(bodyBytes, 0);
  header[4] = FrameKind.Request;
  assert.equal([...decoder.push(header)].length, 0);
  const before = liveHeapBytes();
  const socketPool = Buffer.alloc(64 * 1024); // a socket's reads are views of a shared pool
  for (let i = 0; i < bodyBytes - 1; i++) assert.equal([...decoder.push(socketPool.subarray(i % socketPool.length, (i % socketPool.length) + 1))].length, 0);
  const heldBytes = liveHeapBytes() - before;
  // Held one Buffer per byte, this was about 100 bytes per byte (26 MB here); a peer trickling a 16 MiB frame took GBs.
  assert.ok(heldBytes < 4 * bodyBytes, `${heldBytes} bytes of heap hold ${bodyBytes} bytes of a frame`);
  const frames = [...decoder.push(Buffer.of(7))];
  assert.equal(frames.length, 1);
  assert.equal(frames[0]!.body.length, bodyBytes);
  assert.equal(frames[0]!.body[bodyBytes - 1], 7);
});
