/**
 * Builds a local snapshot: the state machine writes its files into `dir` (a
 * temp folder), then `publish()` checksums and fsyncs them, writes the
 * manifest and publishes the folder atomically. Until then a crash leaves only
 * a temp folder, removed when the store opens.
 */
import { readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { SnapshotMeta } from "../core/types.js";
import { RaftError } from "../errors.js";
import { DATA_FILE_MODE, fsyncFile, writeFileAtomic } from "./atomic-file.js";
import { digestFile } from "./snapshot-files.js";
import { MANIFEST_FILE_NAME, encodeManifest, fileNameProblem, type SnapshotFileEntry, type SnapshotManifest } from "./snapshot-manifest.js";
import type { SnapshotRef, SnapshotStore } from "./snapshot-store.js";

export class SnapshotWriter {
  private state: "open" | "publishing" | "published" | "aborted" = "open";

  constructor(
    private readonly store: SnapshotStore,
    /** The folder to write the state machine's files into (flat: no subfolders). */
    readonly dir: string,
    readonly meta: SnapshotMeta,
  ) {}

  /** Writes one file into the snapshot (made durable at publish). */
  async addFile(name: string, data: Uint8Array): Promise<void> {
    this.checkOpen("add a file to");
    const problem = fileNameProblem(name);
    if (problem !== null) throw new RaftError("EINVAL", `cannot add a snapshot file: ${problem}`);
    await writeFile(join(this.dir, name), data, { mode: DATA_FILE_MODE, flag: "wx" });
  }

  /** Checksums and fsyncs the files, writes the manifest, publishes by rename. */
  async publish(): Promise<SnapshotRef> {
    this.checkOpen("publish");
    this.state = "publishing";
    try {
      const files: SnapshotFileEntry[] = [];
      for (const name of await this.fileNames()) {
        const path = join(this.dir, name);
        await fsyncFile(path);
        const { sizeBytes, crc32c } = await digestFile(path);
        files.push({ name, sizeBytes, crc32c });
      }
      const manifest: SnapshotManifest = { meta: this.meta, files };
      // Also fsyncs the folder, making the files' entries durable with it.
      await writeFileAtomic(join(this.dir, MANIFEST_FILE_NAME), encodeManifest(manifest));
      const ref = await this.store.publishFolder(this.dir, manifest);
      this.state = "published";
      return ref;
    } catch (error) {
      this.state = "open";
      throw error;
    }
  }

  /** Discards the unpublished snapshot. */
  async abort(): Promise<void> {
    if (this.state === "aborted") return;
    this.checkOpen("abort");
    this.state = "aborted";
    await rm(this.dir, { recursive: true, force: true });
  }

  private async fileNames(): Promise<string[]> {
    const names: string[] = [];
    for (const entry of await readdir(this.dir, { withFileTypes: true })) {
      if (entry.name === MANIFEST_FILE_NAME) continue; // from a publish that failed after writing it; rewritten
      const problem = entry.isFile() ? fileNameProblem(entry.name) : `${JSON.stringify(entry.name)} is not a regular file`;
      if (problem !== null) throw new RaftError("EINVAL", `cannot publish the snapshot in ${this.dir}: ${problem}`);
      names.push(entry.name);
    }
    return names.sort();
  }

  private checkOpen(action: string): void {
    if (this.state !== "open") throw new RaftError("EPERM", `cannot ${action} a snapshot that is ${this.state}`);
  }
}
