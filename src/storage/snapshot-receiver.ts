/**
 * A follower's side of a chunked snapshot install. Files arrive in manifest
 * order, each in order of offset, into `receiving_<index>`. After each chunk
 * the data is fdatasync'd and only then is the position recorded (atomically,
 * in `_progress`), so the recorded position never runs ahead of durable bytes:
 * a transfer resumed after a crash or a broken connection never skips any.
 * On reopen the partial files are cut back to the recorded position, or the
 * transfer restarts from the first file whose size disagrees with it.
 * Nothing is published before every file matches its size and CRC32C.
 */
import { constants } from "node:fs";
import { mkdir, open, readFile, readdir, rm, stat, type FileHandle } from "node:fs/promises";
import { dirname, join } from "node:path";
import { RaftError } from "../errors.js";
import { DATA_DIR_MODE, DATA_FILE_MODE, fsyncDir, removeTempFiles, writeFileAtomic, writeFully } from "./atomic-file.js";
import { decodeEnvelope, encodeEnvelope, type EnvelopeKind } from "./checksummed-file.js";
import { verifyFile } from "./snapshot-files.js";
import {
  MANIFEST_FILE_NAME,
  decodeManifest,
  encodeManifest,
  manifestTotalBytes,
  manifestsEqual,
  type SnapshotManifest,
} from "./snapshot-manifest.js";
import type { SnapshotRef, SnapshotStore } from "./snapshot-store.js";
import { SerialQueue } from "./serial-queue.js";

/** The next byte the receiver needs. */
export interface ResumePoint {
  readonly fileName: string;
  readonly offset: number;
}

export interface TransferProgress {
  readonly bytesDone: number;
  readonly bytesTotal: number;
}

const PROGRESS_FILE_NAME = "_progress";
const PROGRESS_KIND: EnvelopeKind = {
  magic: "TRRP",
  version: 1,
  what: "tsraft snapshot receive progress",
  remedy: "the transfer restarts from the beginning",
};
const DISCARDED_REMEDY = "The received snapshot was discarded: the leader must send it again";

export class SnapshotReceiver {
  private readonly ops = new SerialQueue();
  private state: "open" | "published" | "aborted" | "closed" = "open";
  /** Position of the next byte: files[fileIndex] at offset (fileIndex === files.length when all arrived). */
  private fileIndex = 0;
  private offset = 0;
  /** Open on files[fileIndex] while it is being written. */
  private handle: FileHandle | null = null;

  private constructor(
    private readonly store: SnapshotStore,
    /** The receiving folder. */
    readonly dir: string,
    readonly manifest: SnapshotManifest,
  ) {}

  /** Resumes the receive in `dir` if it is for the same manifest; otherwise starts it afresh. */
  static async openOrCreate(store: SnapshotStore, dir: string, manifest: SnapshotManifest): Promise<SnapshotReceiver> {
    const receiver = new SnapshotReceiver(store, dir, manifest);
    if (await receiver.holdsSameManifest()) {
      await receiver.recover();
    } else {
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { mode: DATA_DIR_MODE });
      await fsyncDir(dirname(dir));
      await writeFileAtomic(join(dir, MANIFEST_FILE_NAME), encodeManifest(manifest));
    }
    await receiver.skipCompleteFiles();
    await receiver.saveProgress();
    return receiver;
  }

  /** Which file and offset the leader should send next; null when every byte has arrived. */
  resumePoint(): ResumePoint | null {
    const file = this.manifest.files[this.fileIndex];
    return file === undefined ? null : { fileName: file.name, offset: this.offset };
  }

  progress(): TransferProgress {
    const before = this.manifest.files.slice(0, this.fileIndex).reduce((sum, file) => sum + file.sizeBytes, 0);
    return { bytesDone: before + this.offset, bytesTotal: manifestTotalBytes(this.manifest) };
  }

  /** Appends a chunk at the resume point; durable when it resolves. Calls run in call order. */
  write(fileName: string, offset: number, bytes: Uint8Array): Promise<void> {
    return this.ops.run(async () => {
      this.checkOpen("write to");
      const file = this.manifest.files[this.fileIndex];
      if (file === undefined) throw new RaftError("EINVAL", `every file of the snapshot at index ${this.manifest.meta.index} has arrived; publish it`);
      if (!this.manifest.files.some((f) => f.name === fileName)) {
        throw new RaftError("EINVAL", `${JSON.stringify(fileName)} is not a file of the snapshot at index ${this.manifest.meta.index}`);
      }
      if (fileName !== file.name || offset !== this.offset) {
        throw new RaftError("EINVAL", `out of order: expected ${file.name} at offset ${this.offset}, got ${fileName} at offset ${offset}`);
      }
      if (!(bytes instanceof Uint8Array) || offset + bytes.byteLength > file.sizeBytes) {
        throw new RaftError("EINVAL", `chunk of ${fileName} at offset ${offset} runs past its size of ${file.sizeBytes} bytes`);
      }
      if (bytes.byteLength === 0) return;
      this.handle ??= await open(join(this.dir, file.name), constants.O_WRONLY | constants.O_CREAT, DATA_FILE_MODE);
      await writeFully(this.handle, bytes, offset);
      await this.handle.datasync();
      this.offset += bytes.byteLength;
      await this.skipCompleteFiles();
      await this.saveProgress();
    });
  }

  /**
   * Checks every file's size and CRC32C against the manifest, then publishes.
   * On a mismatch the received data is discarded and ECORRUPT names the file.
   */
  publish(): Promise<SnapshotRef> {
    return this.ops.run(async () => {
      this.checkOpen("publish");
      const next = this.resumePoint();
      if (next !== null) {
        const { bytesDone, bytesTotal } = this.progress();
        throw new RaftError("EPERM", `the snapshot is incomplete (${bytesDone} of ${bytesTotal} bytes): next is ${next.fileName} at offset ${next.offset}`);
      }
      try {
        for (const file of this.manifest.files) await verifyFile(this.dir, file, DISCARDED_REMEDY);
      } catch (error) {
        await this.discard();
        throw error;
      }
      await rm(join(this.dir, PROGRESS_FILE_NAME));
      await fsyncDir(this.dir);
      const ref = await this.store.publishFolder(this.dir, this.manifest);
      this.finish("published");
      return ref;
    });
  }

  /** Stops for now (a broken connection); beginReceive with the same manifest resumes. */
  close(): Promise<void> {
    return this.ops.run(async () => {
      if (this.state !== "open") return;
      await this.closeHandle();
      this.finish("closed");
    });
  }

  /** Gives the transfer up and removes what arrived. */
  abort(): Promise<void> {
    return this.ops.run(async () => {
      if (this.state !== "open") return;
      await this.discard();
    });
  }

  private async discard(): Promise<void> {
    await this.closeHandle();
    await rm(this.dir, { recursive: true, force: true });
    await fsyncDir(dirname(this.dir));
    this.finish("aborted");
  }

  private finish(state: "published" | "aborted" | "closed"): void {
    this.state = state;
    this.store.releaseReceiver(this);
  }

  private checkOpen(action: string): void {
    if (this.state !== "open") throw new RaftError("EPERM", `cannot ${action} a snapshot receive that is ${this.state}`);
  }

  private async holdsSameManifest(): Promise<boolean> {
    const path = join(this.dir, MANIFEST_FILE_NAME);
    try {
      return manifestsEqual(decodeManifest(await readFile(path), path), this.manifest);
    } catch (error) {
      if (isMissingOrDamaged(error)) return false; // nothing to resume
      throw error;
    }
  }

  /** Restores the position from `_progress`, trusting no byte beyond it, nor a position the files disagree with. */
  private async recover(): Promise<void> {
    await removeTempFiles(join(this.dir, PROGRESS_FILE_NAME));
    const saved = await this.readProgress();
    const files = this.manifest.files;
    this.fileIndex = 0;
    this.offset = 0;
    for (let i = 0; i <= saved.fileIndex && i < files.length; i++) {
      const complete = i < saved.fileIndex;
      const sizeBytes = await sizeOrMinusOne(join(this.dir, files[i]!.name));
      // Bytes recorded as durable are gone (or a complete file grew): redo this file.
      if (complete ? sizeBytes !== files[i]!.sizeBytes : sizeBytes < saved.offset) {
        this.fileIndex = i;
        this.offset = 0;
        break;
      }
      this.fileIndex = complete ? i + 1 : i;
      this.offset = complete ? 0 : saved.offset;
    }
    // Cut the current file back to the position; files after it and strays go.
    const keep = new Set([MANIFEST_FILE_NAME, PROGRESS_FILE_NAME, ...files.slice(0, this.fileIndex + 1).map((f) => f.name)]);
    for (const name of await readdir(this.dir)) {
      if (!keep.has(name)) await rm(join(this.dir, name), { recursive: true, force: true });
    }
    const current = files[this.fileIndex];
    if (current !== undefined) {
      const handle = await open(join(this.dir, current.name), constants.O_WRONLY | constants.O_CREAT, DATA_FILE_MODE);
      try {
        await handle.truncate(this.offset);
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
    await fsyncDir(this.dir);
  }

  private async readProgress(): Promise<{ fileIndex: number; offset: number }> {
    const path = join(this.dir, PROGRESS_FILE_NAME);
    const files = this.manifest.files;
    try {
      const { fileIndex, offset } = (decodeEnvelope(PROGRESS_KIND, await readFile(path), path) ?? {}) as Record<string, unknown>;
      if (typeof fileIndex !== "number" || typeof offset !== "number") return { fileIndex: 0, offset: 0 };
      const size = fileIndex === files.length ? 0 : files[fileIndex]?.sizeBytes;
      const valid = Number.isSafeInteger(fileIndex) && Number.isSafeInteger(offset) && offset >= 0 && size !== undefined && offset <= size;
      return valid ? { fileIndex, offset } : { fileIndex: 0, offset: 0 };
    } catch (error) {
      if (isMissingOrDamaged(error)) return { fileIndex: 0, offset: 0 }; // restarting never skips a byte
      throw error;
    }
  }

  private async saveProgress(): Promise<void> {
    await writeFileAtomic(join(this.dir, PROGRESS_FILE_NAME), encodeEnvelope(PROGRESS_KIND, { fileIndex: this.fileIndex, offset: this.offset }));
  }

  /** Moves past complete files; empty files have no chunk, so they are created here. */
  private async skipCompleteFiles(): Promise<void> {
    for (let file = this.manifest.files[this.fileIndex]; file !== undefined && this.offset === file.sizeBytes; file = this.manifest.files[this.fileIndex]) {
      await this.closeHandle();
      if (file.sizeBytes === 0) await (await open(join(this.dir, file.name), "w", DATA_FILE_MODE)).close();
      this.fileIndex++;
      this.offset = 0;
    }
  }

  private async closeHandle(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    await handle?.close();
  }
}

function isMissingOrDamaged(error: unknown): boolean {
  return (error instanceof RaftError && error.code === "ECORRUPT") || (error as NodeJS.ErrnoException).code === "ENOENT";
}

async function sizeOrMinusOne(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return -1;
    throw error;
  }
}
