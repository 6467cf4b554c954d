/**
 * A snapshot file as a stream of checksummed frames, so a store of any size
 * is written and read a bounded piece at a time:
 *
 *   frame = u32 bodyBytes, u32 crc32c(body), body
 *   body  = u32 recordCount, records
 *
 * The caller writes whole records (a record never spans two frames), ends
 * each with endRecord(), and flushes when that says the frame is full.
 */
import { crc32c } from "@node-rs/crc32";
import { open, type FileHandle } from "node:fs/promises";
import { RaftError } from "../errors.js";
import { DATA_FILE_MODE, writeFully } from "../storage/atomic-file.js";
import type { SnapshotReader } from "../storage/snapshot-reader.js";
import { BinaryWriter } from "../transport/binary.js";

/** A frame is flushed once its body passes this. */
const FRAME_TARGET_BYTES = 1024 * 1024;
/** The largest body a reader accepts: the target plus one record (a 1 MiB value and its key), with room. */
const MAX_FRAME_BODY_BYTES = 8 * 1024 * 1024;
const FRAME_HEADER_BYTES = 8;
/** Bytes read from the snapshot at a time. */
const READ_BLOCK_BYTES = 4 * 1024 * 1024;

const RECORD_COUNT_BYTES = 4;

export interface Frame {
  readonly recordCount: number;
  /** The records: a view into the bytes read, so copy what is kept. */
  readonly records: Buffer;
}

export class FrameFileWriter {
  private body = newBody();
  private recordCount = 0;
  private offset = 0;

  private constructor(
    private readonly handle: FileHandle,
    private readonly path: string,
  ) {}

  /** Creates the file (it must not exist). */
  static async create(path: string): Promise<FrameFileWriter> {
    return new FrameFileWriter(await open(path, "wx", DATA_FILE_MODE), path);
  }

  /** Where the records of the current frame go. */
  get records(): BinaryWriter {
    return this.body;
  }

  /** Ends a record; true when the frame is full and should be flushed now. */
  endRecord(): boolean {
    this.recordCount++;
    return this.body.finish().length >= FRAME_TARGET_BYTES;
  }

  async flush(): Promise<void> {
    if (this.recordCount === 0) return;
    const body = this.body.finish();
    body.writeUInt32BE(this.recordCount, 0); // a view of the writer's buffer: patched in place
    if (body.length > MAX_FRAME_BODY_BYTES) throw new RaftError("EINVAL", `${this.path}: a snapshot frame of ${body.length} bytes is above ${MAX_FRAME_BODY_BYTES}`);
    const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
    header.writeUInt32BE(body.length, 0);
    header.writeUInt32BE(crc32c(body), 4);
    await writeFully(this.handle, header, this.offset);
    await writeFully(this.handle, body, this.offset + FRAME_HEADER_BYTES);
    this.offset += FRAME_HEADER_BYTES + body.length;
    this.body = newBody();
    this.recordCount = 0;
  }

  /** Closes the file without flushing, after a failure. */
  async abandon(): Promise<void> {
    await this.handle.close();
  }

  /** Flushes the last frame and closes the file (the snapshot writer fsyncs it at publish). */
  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      await this.handle.close();
    }
  }
}

/** The frames of `fileName` in order, each checked against its checksum. */
export async function* readFrames(reader: SnapshotReader, fileName: string): AsyncGenerator<Frame> {
  const file = reader.manifest.files.find((entry) => entry.name === fileName);
  if (file === undefined) throw new RaftError("ECORRUPT", `the snapshot at index ${reader.manifest.meta.index} has no file ${JSON.stringify(fileName)}`);
  let buffered = Buffer.alloc(0);
  let position = 0;
  let fileOffset = 0;
  const where = (): string => `${fileName} of the snapshot at index ${reader.manifest.meta.index}, byte ${fileOffset - (buffered.length - position)}`;
  const fill = async (bytes: number): Promise<void> => {
    while (buffered.length - position < bytes) {
      if (fileOffset >= file.sizeBytes) throw new RaftError("ECORRUPT", `${where()}: the file ends inside a frame`);
      const lengthBytes = Math.min(READ_BLOCK_BYTES, file.sizeBytes - fileOffset);
      const block = await reader.read(fileName, fileOffset, lengthBytes);
      fileOffset += lengthBytes;
      buffered = Buffer.concat([buffered.subarray(position), block]);
      position = 0;
    }
  };
  while (position < buffered.length || fileOffset < file.sizeBytes) {
    await fill(FRAME_HEADER_BYTES);
    const bodyBytes = buffered.readUInt32BE(position);
    const checksum = buffered.readUInt32BE(position + 4);
    if (bodyBytes < RECORD_COUNT_BYTES || bodyBytes > MAX_FRAME_BODY_BYTES) throw new RaftError("ECORRUPT", `${where()}: a frame of ${bodyBytes} bytes (must be ${RECORD_COUNT_BYTES} to ${MAX_FRAME_BODY_BYTES})`);
    await fill(FRAME_HEADER_BYTES + bodyBytes);
    const body = buffered.subarray(position + FRAME_HEADER_BYTES, position + FRAME_HEADER_BYTES + bodyBytes);
    if (crc32c(body) !== checksum) throw new RaftError("ECORRUPT", `${where()}: a frame's checksum does not match its ${bodyBytes} bytes`);
    position += FRAME_HEADER_BYTES + bodyBytes;
    yield { recordCount: body.readUInt32BE(0), records: body.subarray(RECORD_COUNT_BYTES) };
  }
}

function newBody(): BinaryWriter {
  const body = new BinaryWriter(FRAME_TARGET_BYTES);
  body.u32(0); // the record count, set at flush
  return body;
}
