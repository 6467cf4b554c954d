/**
 * Framing: every frame is `u32 body length | u8 kind | body`, big-endian.
 * The decoder takes socket chunks as they come (half a frame, or many frames
 * in one chunk) and yields whole frames. The length is checked against
 * maxFrameBytes before any of the body is buffered, so a lying peer cannot
 * make us allocate more than that.
 */
import { RaftError } from "../errors.js";
import { BinaryWriter } from "./binary.js";

export const FRAME_HEADER_BYTES = 5;
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

export const FrameKind = {
  /** Client -> server, first frame: magic, protocol version, cluster name, sender address. */
  Hello: 1,
  /** Server -> client: the handshake was accepted (with a cluster secret: the server's proof). */
  HelloOk: 2,
  /** Either way, last frame: why the connection is being closed. */
  Error: 3,
  /** Client -> server: a one-way Raft message for one group. */
  Raft: 4,
  /** Client -> server: a service request with a correlation id. */
  Request: 5,
  /** Server -> client: the answer to one request. */
  Response: 6,
  /** Server -> client, after Hello when a cluster secret is set: a nonce to prove the secret on (cluster-auth.ts). */
  AuthChallenge: 7,
  /** Client -> server: the client's nonce and its proof; HelloOk then carries the server's. */
  AuthProof: 8,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

const FRAME_KINDS: ReadonlySet<number> = new Set(Object.values(FrameKind));
const KIND_NAMES = new Map<number, string>(Object.entries(FrameKind).map(([name, kind]) => [kind, name]));

export function frameKindName(kind: number): string {
  return KIND_NAMES.get(kind) ?? `unknown(${kind})`;
}

export interface Frame {
  readonly kind: FrameKind;
  /** A view into the received bytes, not a copy. */
  readonly body: Buffer;
}

/**
 * Starts a frame in a writer: the length is patched in by finishFrame, so a
 * body (Raft entries included) is written once, straight into the frame.
 */
export function beginFrame(kind: FrameKind, initialBytes = 128): BinaryWriter {
  const writer = new BinaryWriter(initialBytes);
  writer.u32(0);
  writer.u8(kind);
  return writer;
}

export function finishFrame(writer: BinaryWriter): Buffer {
  const frame = writer.finish();
  frame.writeUInt32BE(frame.length - FRAME_HEADER_BYTES, 0);
  return frame;
}

export function encodeFrame(kind: FrameKind, body: Uint8Array = Buffer.alloc(0)): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.byteLength);
  frame.writeUInt32BE(body.byteLength, 0);
  frame[4] = kind;
  frame.set(body, FRAME_HEADER_BYTES);
  return frame;
}

export function validateMaxFrameBytes(maxFrameBytes: number): void {
  if (!Number.isSafeInteger(maxFrameBytes) || maxFrameBytes < 1024 || maxFrameBytes > 0xffff_ffff) {
    throw new RaftError("EINVAL", `maxFrameBytes must be an integer in [1024, 2^32-1], got ${maxFrameBytes}`);
  }
}

/** Held chunks past which small ones are copied together (a frame in a few socket reads stays uncopied until whole). */
const MAX_HELD_CHUNKS = 64;
const SMALL_CHUNK_BYTES = 1024;
const SPARE_BYTES = 4 * SMALL_CHUNK_BYTES;

/** Reassembles frames from a byte stream. After it throws once, the stream is unusable. */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private bufferedBytes = 0;
  /** Where small chunks are copied together once many are held; the last held chunk is its filled part. */
  private spare: { readonly buffer: Buffer; filled: number } | null = null;
  /** The header of the frame being assembled, once its 5 bytes are in. */
  private pending: { kind: FrameKind; bodyBytes: number } | null = null;
  private failed = false;

  constructor(private readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {
    validateMaxFrameBytes(maxFrameBytes);
  }

  /** Bytes held while waiting for the rest of a frame (at most maxFrameBytes plus one chunk). */
  get bufferedByteCount(): number {
    return this.bufferedBytes;
  }

  /**
   * Yields each complete frame as soon as it is there, so the frames before a
   * bad header are still delivered; then throws ECORRUPT for the bad one.
   */
  *push(chunk: Buffer): Generator<Frame> {
    if (this.failed) throw new RaftError("ECORRUPT", "frame stream already failed; the connection must be closed");
    if (chunk.length > 0) {
      this.hold(chunk);
      this.bufferedBytes += chunk.length;
    }
    for (;;) {
      if (this.pending === null) {
        if (this.bufferedBytes < FRAME_HEADER_BYTES) return;
        this.pending = this.readHeader();
      }
      const frameBytes = FRAME_HEADER_BYTES + this.pending.bodyBytes;
      if (this.bufferedBytes < frameBytes) return;
      const frame = this.take(frameBytes);
      const kind = this.pending.kind;
      this.pending = null;
      yield { kind, body: frame.subarray(FRAME_HEADER_BYTES) };
    }
  }

  private readHeader(): { kind: FrameKind; bodyBytes: number } {
    const header = this.peek(FRAME_HEADER_BYTES);
    const bodyBytes = header.readUInt32BE(0);
    const kind = header[4]!;
    if (FRAME_HEADER_BYTES + bodyBytes > this.maxFrameBytes) {
      this.failed = true;
      throw new RaftError(
        "ECORRUPT",
        `frame of ${FRAME_HEADER_BYTES + bodyBytes} bytes exceeds maxFrameBytes ${this.maxFrameBytes} (kind ${frameKindName(kind)}); ` +
          "the peer is not speaking tsraft or its maxFrameBytes is larger than ours",
      );
    }
    if (!FRAME_KINDS.has(kind)) {
      this.failed = true;
      throw new RaftError("ECORRUPT", `unknown frame kind ${kind}; the peer is not speaking tsraft or runs a newer protocol`);
    }
    return { kind: kind as FrameKind, bodyBytes };
  }

  /**
   * Keeps a chunk as it is, unless many are held already and it is small: a
   * peer trickling a frame byte by byte would otherwise cost a Buffer object
   * (about 100 bytes) per byte held.
   */
  private hold(chunk: Buffer): void {
    if (this.chunks.length < MAX_HELD_CHUNKS || chunk.length >= SMALL_CHUNK_BYTES) {
      this.chunks.push(chunk);
      this.spare = null;
      return;
    }
    if (this.spare === null || this.spare.filled + chunk.length > SPARE_BYTES) {
      this.spare = { buffer: Buffer.allocUnsafe(SPARE_BYTES), filled: 0 };
      this.chunks.push(this.spare.buffer.subarray(0, 0));
    }
    chunk.copy(this.spare.buffer, this.spare.filled);
    this.spare.filled += chunk.length;
    this.chunks[this.chunks.length - 1] = this.spare.buffer.subarray(0, this.spare.filled);
  }

  /** The first `bytes` bytes, merging chunks only when they straddle a chunk boundary. */
  private peek(bytes: number): Buffer {
    if (this.chunks[0]!.length < bytes) {
      this.chunks = [Buffer.concat(this.chunks)];
      this.spare = null;
    }
    return this.chunks[0]!;
  }

  private take(bytes: number): Buffer {
    this.spare = null; // the held chunks change: small ones go to a new spare
    const first = this.chunks[0]!;
    let taken: Buffer;
    if (first.length >= bytes) {
      // The common case: the frame sits in one chunk; hand out a view.
      taken = first.subarray(0, bytes);
      if (first.length === bytes) this.chunks.shift();
      else this.chunks[0] = first.subarray(bytes);
    } else {
      // Copy once, when the whole frame is there: no quadratic re-concatenation.
      taken = Buffer.allocUnsafe(bytes);
      let filled = 0;
      while (filled < bytes) {
        const chunk = this.chunks[0]!;
        const used = Math.min(chunk.length, bytes - filled);
        chunk.copy(taken, filled, 0, used);
        filled += used;
        if (used === chunk.length) this.chunks.shift();
        else this.chunks[0] = chunk.subarray(used);
      }
    }
    this.bufferedBytes -= bytes;
    return taken;
  }
}
