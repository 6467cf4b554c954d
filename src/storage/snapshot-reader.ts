/**
 * Serves byte ranges of a published snapshot's files, for a leader sending the
 * snapshot to a follower in chunks. Only files named in the manifest are
 * served, and only within their size: a request is input from the network.
 * The snapshot is kept on disk until `close()`.
 */
import { open } from "node:fs/promises";
import { join } from "node:path";
import { RaftError } from "../errors.js";
import { readExactly } from "./snapshot-files.js";
import type { SnapshotFileEntry, SnapshotManifest } from "./snapshot-manifest.js";
import type { SnapshotRef } from "./snapshot-store.js";

/** A bound on one read, so a request cannot make the leader allocate without limit. */
export const MAX_SNAPSHOT_READ_BYTES = 64 * 1024 * 1024;

export class SnapshotReader {
  private readonly filesByName: ReadonlyMap<string, SnapshotFileEntry>;
  private closed = false;

  constructor(
    private readonly ref: SnapshotRef,
    private readonly release: () => Promise<void>,
  ) {
    this.filesByName = new Map(ref.manifest.files.map((file) => [file.name, file]));
  }

  get manifest(): SnapshotManifest {
    return this.ref.manifest;
  }

  /** `lengthBytes` bytes of `fileName` from `offset`; EINVAL for names not in the manifest or ranges past its end. */
  async read(fileName: string, offset: number, lengthBytes: number): Promise<Uint8Array> {
    if (this.closed) throw new RaftError("EPERM", "this snapshot reader is closed");
    const file = typeof fileName === "string" ? this.filesByName.get(fileName) : undefined;
    if (file === undefined) {
      throw new RaftError("EINVAL", `${JSON.stringify(fileName)} is not a file of the snapshot at index ${this.ref.meta.index}`);
    }
    if (!isCount(offset) || !isCount(lengthBytes) || lengthBytes > MAX_SNAPSHOT_READ_BYTES) {
      throw new RaftError("EINVAL", `bad range of ${fileName}: offset ${offset}, length ${lengthBytes} (at most ${MAX_SNAPSHOT_READ_BYTES} bytes a read)`);
    }
    if (offset + lengthBytes > file.sizeBytes) {
      throw new RaftError("EINVAL", `range [${offset}, ${offset + lengthBytes}) is past the end of ${fileName} (${file.sizeBytes} bytes)`);
    }
    const path = join(this.ref.dir, fileName);
    const handle = await open(path, "r");
    try {
      return await readExactly(handle, offset, lengthBytes, path);
    } finally {
      await handle.close();
    }
  }

  /** Lets the store prune this snapshot again. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.release();
  }
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}
