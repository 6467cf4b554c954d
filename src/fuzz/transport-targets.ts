/**
 * The transport's decoders: the Raft message codec alone, and whole byte
 * streams of protocol frames (handshake, cluster-secret challenge and proof,
 * errors, Raft, requests, responses)
 * through the FrameDecoder, fed in chunks that split headers and bodies.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { FrameDecoder, FrameKind, type Frame } from "../transport/frame.js";
import { decodeMessage, encodeMessage } from "../transport/message-codec.js";
import { decodeError, decodeHello, decodeRaft, decodeRequest, decodeResponse, encodeError, encodeHello, encodeHelloOk, encodeRaft, encodeRequest, encodeResponse } from "../transport/protocol.js";
import { asBuffer, byteCodecTarget, type FuzzTarget } from "./fuzz-target.js";
import { decodeAuthChallenge, decodeAuthProof, encodeAuthChallenge, encodeAuthProof } from "../transport/cluster-auth.js";
import { protocolFrame, raftMessage, type ProtocolFrame } from "./wire-arbitraries.js";

/** Small, so that damaged lengths hit the limit often; still above every well-formed frame here. */
const FUZZ_MAX_FRAME_BYTES = 64 * 1024;
/** Chunk sizes the stream is cut into, in turn: headers and bodies land split across chunks, some across a hundred. */
const CHUNK_PATTERN = [...Array<number>(100).fill(1), 4, 2, 7, 64, 3, 1000];

export function raftMessageTarget(): FuzzTarget {
  return byteCodecTarget({
    name: "raft message",
    valid: raftMessage,
    encode: (message) => encodeMessage(message),
    decode: decodeMessage,
    codes: ["ECORRUPT"],
  });
}

export function protocolStreamTarget(): FuzzTarget {
  return byteCodecTarget({
    name: "protocol frame stream",
    valid: fc.array(protocolFrame, { minLength: 1, maxLength: 4 }),
    encode: (frames) => Buffer.concat(frames.map(encodeProtocolFrame)),
    decode: decodeProtocolStream,
    codes: ["ECORRUPT"],
  });
}

export function encodeProtocolFrame(frame: ProtocolFrame): Buffer {
  switch (frame.kind) {
    case "hello":
      return encodeHello(frame.hello);
    case "helloOk":
      return encodeHelloOk();
    case "error":
      return encodeError(frame.error);
    case "raft":
      return encodeRaft(frame.groupId, frame.message);
    case "request":
      return encodeRequest(frame.requestId, frame.service, frame.payload);
    case "response":
      return encodeResponse(frame.response.requestId, frame.response.ok ? { ok: true, payload: frame.response.payload } : { ok: false, error: frame.response.error });
    case "authChallenge":
      return encodeAuthChallenge(frame.acceptorNonce);
    case "authProof":
      return encodeAuthProof(frame.dialerNonce, frame.proof);
  }
}

/** Every frame of the stream, its body decoded by kind; the decoder never holds a frame's worth of bytes more than it must. */
function decodeProtocolStream(stream: Buffer): ProtocolFrame[] {
  const decoder = new FrameDecoder(FUZZ_MAX_FRAME_BYTES);
  const frames: ProtocolFrame[] = [];
  for (let offset = 0, turn = 0; offset < stream.length; turn++) {
    const chunk = stream.subarray(offset, offset + CHUNK_PATTERN[turn % CHUNK_PATTERN.length]!);
    offset += chunk.length;
    for (const frame of decoder.push(asBuffer(chunk))) frames.push(decodeProtocolFrame(frame));
    assert.ok(decoder.bufferedByteCount < FUZZ_MAX_FRAME_BYTES, `the frame decoder holds ${decoder.bufferedByteCount} bytes, past maxFrameBytes`);
  }
  return frames;
}

const BODY_DECODERS: Record<FrameKind, (body: Buffer) => ProtocolFrame> = {
  [FrameKind.Hello]: (body) => ({ kind: "hello", hello: decodeHello(body) }),
  [FrameKind.HelloOk]: () => ({ kind: "helloOk" }),
  [FrameKind.Error]: (body) => ({ kind: "error", error: decodeError(body) }),
  [FrameKind.Raft]: (body) => ({ kind: "raft", ...decodeRaft(body) }),
  [FrameKind.Request]: (body) => ({ kind: "request", ...decodeRequest(body) }),
  [FrameKind.Response]: (body) => ({ kind: "response", response: decodeResponse(body) }),
  [FrameKind.AuthChallenge]: (body) => ({ kind: "authChallenge", acceptorNonce: decodeAuthChallenge(body) }),
  [FrameKind.AuthProof]: (body) => ({ kind: "authProof", ...decodeAuthProof(body) }),
};

function decodeProtocolFrame(frame: Frame): ProtocolFrame {
  return BODY_DECODERS[frame.kind](frame.body);
}
